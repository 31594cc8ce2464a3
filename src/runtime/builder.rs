//! `RuntimeBuilder`: reactors, default mailbox capacity, default request timeout.

use std::time::Duration;

use crate::Runtime;
use crate::runtime::BuildError;

/// The default capacity of a component's mailbox.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// The default timeout of a bus request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`Runtime`]; [`build`](RuntimeBuilder::build) validates them and starts
/// the reactor threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree::{BuildError, Runtime};
///
/// let runtime = Runtime::builder()
///     .reactors(2)
///     .mailbox_capacity(256)
///     .request_timeout(Duration::from_secs(1))
///     .build()?;
/// assert_eq!(runtime.handle().reactors(), 2);
///
/// assert!(matches!(Runtime::builder().reactors(0).build(), Err(BuildError::ZeroReactors)));
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    pub(crate) reactors: Option<usize>,
    pub(crate) mailbox_capacity: usize,
    pub(crate) request_timeout: Duration,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeBuilder {
    /// The defaults: one reactor per available CPU, mailboxes of 1024, requests time out
    /// after 5 s.
    pub const fn new() -> Self {
        Self {
            reactors: None,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The number of reactor threads.
    #[must_use]
    pub const fn reactors(mut self, reactors: usize) -> Self {
        self.reactors = Some(reactors);
        self
    }

    /// The mailbox capacity of components whose spec sets none.
    #[must_use]
    pub const fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity;
        self
    }

    /// The timeout of requests that set none.
    #[must_use]
    pub const fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub(crate) fn validate(&self) -> Result<usize, BuildError> {
        let reactors = self.reactors.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if reactors == 0 {
            return Err(BuildError::ZeroReactors);
        }
        if self.mailbox_capacity == 0 {
            return Err(BuildError::ZeroMailboxCapacity);
        }
        if self.request_timeout.is_zero() {
            return Err(BuildError::ZeroRequestTimeout);
        }
        Ok(reactors)
    }

    /// Starts the runtime's reactor threads.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] for a zero setting, or when the OS refuses a thread (then the
    /// threads already started are stopped and joined).
    pub fn build(self) -> Result<Runtime, BuildError> {
        Runtime::start(self)
    }
}
