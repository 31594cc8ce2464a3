//! The one seam to the smol crates: executor, timers, blocking on a future.
//!
//! Everything else in the crate reaches `async-executor`, `async-task` and `async-io`
//! through here, so a change of the underlying stack (or a virtual clock for tests)
//! touches one file; the one exception is the reactor's own executor
//! (`reactor::executor`), which is built on `async-task`'s runnables.
//! `deadlines` keeps each reactor's request deadlines behind one timer.

use std::future::Future;
use std::task::Waker;
use std::time::{Duration, Instant};

/// For the inspector's HTTP server thread and tests; reactors run `reactor::executor`.
#[cfg(any(test, feature = "http"))]
pub(crate) use async_executor::LocalExecutor;
#[cfg(feature = "http")]
pub(crate) use async_io::Async;
pub(crate) use async_io::Timer;
pub(crate) use async_task::Task;

/// Runs a future to completion on the current thread, driving timers and I/O meanwhile.
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_io::block_on(future)
}

/// Keeps `waker` in `slot`, unless what is there already wakes the same task (a clone
/// is two atomic operations).
pub(crate) fn remember_waker(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|kept| kept.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

/// The instant `duration` after `from`, saturating: a duration too long for the clock
/// (a timeout of `Duration::MAX`, meaning "never") gives an instant a century away
/// instead of the panic `Instant + Duration` raises on overflow.
#[inline]
pub(crate) fn after(from: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    from.checked_add(duration)
        .or_else(|| from.checked_add(CENTURY))
        .unwrap_or(from)
}

/// The instant `duration` from now, saturating (see [`after`]).
#[inline]
pub(crate) fn from_now(duration: Duration) -> Instant {
    after(Instant::now(), duration)
}

mod deadlines;

pub(crate) use deadlines::{
    deadline, install as install_deadlines, uninstall as uninstall_deadlines,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_after_a_duration_too_long_saturates() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        let far = after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(50 * 365 * 24 * 60 * 60));
    }
}
