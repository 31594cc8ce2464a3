//! Restart strategies: which siblings go down and come back with a failed child.

use std::ops::Range;

/// Which children are restarted when one child fails (OTP's `strategy` flag).
///
/// Under every strategy, children are stopped in reverse start order and started
/// again in start order. Temporary children among them are stopped and removed,
/// never restarted.
///
/// # Examples
///
/// ```
/// use reactree_supervisors::Strategy;
///
/// assert_eq!(Strategy::default(), Strategy::OneForOne);
/// assert_eq!(Strategy::RestForOne.to_string(), "rest for one");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the failed child is restarted.
    ///
    /// Use when children are independent of each other: a pool of workers, unrelated
    /// services sharing a supervisor.
    #[default]
    OneForOne,
    /// Every child is stopped and all are restarted.
    ///
    /// Use when children depend on each other so tightly that none can work once one
    /// of them has lost its state: a protocol and its session cache, a producer and
    /// the consumer holding its offsets.
    OneForAll,
    /// The failed child and every child started after it are stopped and restarted.
    ///
    /// Use for a pipeline built in start order, where later children depend on
    /// earlier ones (a connection, then the components that use it) but not the
    /// other way round.
    RestForOne,
}

impl Strategy {
    /// The positions, in start order, of the children a failure of the child at
    /// `failed` affects, among `len` children.
    pub(crate) fn affected(self, failed: usize, len: usize) -> Range<usize> {
        match self {
            Self::OneForOne => failed..failed + 1,
            Self::OneForAll => 0..len,
            Self::RestForOne => failed..len,
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OneForOne => "one for one",
            Self::OneForAll => "one for all",
            Self::RestForOne => "rest for one",
        })
    }
}
