//! The one seam to the smol crates: executor, timers, blocking on a future.
//!
//! Everything else in the crate reaches `async-executor`, `async-task` and `async-io`
//! through here, so a change of the underlying stack (or a virtual clock for tests)
//! touches one file; the one exception is the reactor's own executor
//! (`reactor::executor`), which is built on `async-task`'s runnables.
//! `deadlines` keeps each reactor's request deadlines behind one timer.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
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

/// Runs a future to completion on the current thread, parking the thread on a parker
/// of its own (a futex on Linux) between polls, never in async-io's poller: for
/// reactors under `IdlePolicy::ParkOutsidePoller`. A wake-up from another thread is then
/// one futex wake, where under [`block_on`] the idle thread may be the one waiting in
/// the poller and must be woken through it. Timers and I/O still fire: async-io's own
/// thread drives the poller whenever no thread in [`block_on`] does.
///
/// The thread parks with `std::thread::park`. Its token is the thread's own, so code
/// that parks the thread inside a poll (a handler blocking on a channel, against the
/// rules) may use up a wake-up's token; that is harmless: a wake-up is only a hint, the
/// work it announces is queued before it, and the future is always polled again after
/// such code returns, before the thread parks here.
pub(crate) fn park_on<T>(future: impl Future<Output = T>) -> T {
    /// Wakes the parked thread.
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A wake-up since the poll left the thread's token set: the park returns at
        // once and the future is polled again.
        std::thread::park();
    }
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
    fn park_on_finishes_work_woken_from_other_threads_and_by_timers() {
        // Every value is a wake from another thread; some land before the park.
        let (tx, rx) = flume::bounded::<u32>(1);
        let sender = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let sum = park_on(async {
            let mut sum = 0;
            while let Ok(i) = rx.recv_async().await {
                sum += i;
            }
            sum
        });
        assert_eq!(sum, (0..1000).sum::<u32>());
        sender.join().unwrap();
        // This thread never waits in the poller: async-io's own thread (or another in
        // `block_on`) fires the timer and wakes it.
        let start = Instant::now();
        park_on(Timer::after(Duration::from_millis(10)));
        assert!(start.elapsed() >= Duration::from_millis(10));
    }

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
