//! How a supervisor steers an instance: stop requests, and the directive an instance
//! waits for once it is down.
//!
//! The control lives beside the instance's counters, in the one `Arc` its supervisor
//! keeps for the child, so a supervisor on any thread steers the instance directly: no
//! command through the instance's reactor, and no per-reactor table of instances.
//!
//! Protocol:
//! - `request_stop(mode, done)`: the instance stops between handlers (a running handler
//!   gets its grace period). With [`StopMode::Restart`] it keeps its mailbox and
//!   registrations and waits, down, for a directive; `done` is told once it is down.
//!   With [`StopMode::Terminate`] it also removes its consumers, drains its mailbox and
//!   ends; `done` is told at the very end. Terminate wins over Restart.
//! - An instance that exits by itself (failure, `ctx.stop()`) reports to its supervisor
//!   and waits, down, for a directive.
//! - `resume(directive)`: [`Directive::Restart`] builds a fresh component from the
//!   factory on the same mailbox; [`Directive::Terminate`] ends it.
//! - Once the instance's task is gone (ended, or dropped with its reactor), a stop
//!   request is answered at once and a restart fails: the control is `closed`. A new
//!   task for the same child `open`s it again.
//!
//! Wake-ups: the instance leaves its task's waker here the first time it waits (a task's
//! waker never changes), under the lock; a request changes the state under the same
//! lock, then wakes that waker. So a request either comes before the waker is left, and
//! the instance sees it when it looks again after leaving it, or finds the waker.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crate::failure::Failure;
use crate::oneshot;

/// Why a supervisor stops an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// Stop it, keeping its mailbox, to start it again (a sibling's restart).
    Restart,
    /// Stop it for good (undeploy, escalation, shutdown).
    Terminate,
}

/// What a down instance is told to do next.
pub(crate) enum Directive {
    /// Start a fresh component on the same mailbox; report the start on `started`.
    Restart {
        started: oneshot::Sender<Result<(), Failure>>,
        epoch: u64,
    },
    /// End.
    Terminate,
}

/// `Control::stop` values.
const RUN: u8 = 0;
const RESTART: u8 = 1;
const TERMINATE: u8 = 2;

/// A supervisor's handle on one instance.
#[derive(Default)]
pub(crate) struct Control {
    /// The stop asked of the instance: `RUN`, `RESTART` or `TERMINATE`. Read without
    /// the lock on every idle and pending-handler poll; written under it.
    stop: AtomicU8,
    /// Whether `inner.waker` holds the running task's waker.
    armed: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    directive: Option<Directive>,
    waiters: Waiters,
    waker: Option<Waker>,
    /// No task runs the instance.
    closed: bool,
}

/// Who waits for the instance to stop: its supervisor, almost always alone, kept
/// without allocating; anyone after it in a boxed list (a pointer in every instance's
/// control, not a `Vec`'s three words).
#[derive(Default)]
struct Waiters {
    first: Option<oneshot::Sender<()>>,
    #[allow(
        clippy::box_collection,
        reason = "one pointer per instance; a Vec is three words, and extra waiters are rare"
    )]
    more: Option<Box<Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    fn push(&mut self, done: oneshot::Sender<()>) {
        match self.first {
            None => self.first = Some(done),
            Some(_) => self.more.get_or_insert_default().push(done),
        }
    }

    /// Tells every waiter, once each.
    fn tell(self) {
        let more = self.more.map(|more| *more).unwrap_or_default();
        for done in self.first.into_iter().chain(more) {
            let _ = done.send(());
        }
    }
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new task runs the instance: no stop asked, no directive, no waker yet.
    pub(crate) fn open(&self) {
        let mut inner = self.lock();
        *inner = Inner::default();
        self.stop.store(RUN, Ordering::Relaxed);
        self.armed.store(false, Ordering::Relaxed);
    }

    /// Asks the instance to stop; `done` is told when it has (see the module docs), or
    /// at once if no task runs it.
    pub(crate) fn request_stop(&self, mode: StopMode, done: oneshot::Sender<()>) {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            let _ = done.send(());
            return;
        }
        inner.waiters.push(done);
        let mode = match mode {
            StopMode::Restart => RESTART,
            StopMode::Terminate => TERMINATE,
        };
        // Terminate wins over Restart.
        self.stop.fetch_max(mode, Ordering::Relaxed);
        let waker = inner.waker.clone();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Runs the instance's task at once if a request has just queued it on this thread's
    /// reactor, so it acts on the request before its supervisor awaits the outcome.
    pub(crate) fn run_now(&self) {
        let waker = self.lock().waker.clone();
        if let Some(waker) = waker {
            crate::reactor::run_woken(&waker);
        }
    }

    /// Tells a down instance what to do next; a restart of an instance no task runs
    /// reports a failure.
    pub(crate) fn resume(&self, directive: Directive) {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            if let Directive::Restart { started, .. } = directive {
                let _ = started.send(Err(Failure::new(
                    crate::Hook::Start,
                    crate::FailureKind::Error,
                    "the instance is gone",
                )));
            }
            return;
        }
        inner.directive = Some(directive);
        let waker = inner.waker.clone();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The stop asked of the instance, if any.
    pub(crate) fn stop_mode(&self) -> Option<StopMode> {
        match self.stop.load(Ordering::Relaxed) {
            RUN => None,
            RESTART => Some(StopMode::Restart),
            _ => Some(StopMode::Terminate),
        }
    }

    /// Leaves the task's waker, once per task; then whether a stop was asked meanwhile.
    fn arm(&self, cx: &std::task::Context<'_>) {
        if !self.armed.load(Ordering::Relaxed) {
            self.lock().waker = Some(cx.waker().clone());
            self.armed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a stop was asked; if not, wakes `cx` when one is.
    pub(crate) fn poll_stop(&self, cx: &mut std::task::Context<'_>) -> bool {
        if self.stop_mode().is_some() {
            return true;
        }
        // Polled on every idle and every pending handler poll: without the lock once the
        // waker is left. The lock taken to leave it orders this look after any request
        // that found no waker.
        self.arm(cx);
        self.stop_mode().is_some()
    }

    /// While down: the next directive, if one came. A terminate request counts as one;
    /// a restart-mode stop request is already satisfied and is answered at once.
    pub(crate) fn poll_directive(&self, cx: &mut std::task::Context<'_>) -> Option<Directive> {
        self.arm(cx);
        if self
            .stop
            .compare_exchange(RESTART, RUN, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.finish();
        }
        let mut inner = self.lock();
        if self.stop.load(Ordering::Relaxed) == TERMINATE {
            return Some(Directive::Terminate);
        }
        inner.directive.take()
    }

    /// Tells everyone waiting for the instance to stop that it has.
    pub(crate) fn finish(&self) {
        let waiters = std::mem::take(&mut self.lock().waiters);
        waiters.tell();
    }

    /// No task runs the instance any more: its waiters are told, and later requests
    /// are answered at once.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.waker = None;
        inner.directive = None;
        let waiters = std::mem::take(&mut inner.waiters);
        drop(inner);
        self.armed.store(false, Ordering::Relaxed);
        waiters.tell();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    #[test]
    fn a_stop_asked_before_the_waker_is_left_is_seen() {
        let control = Control::default();
        let (done, stopped) = oneshot::channel();
        control.request_stop(StopMode::Terminate, done);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(control.poll_stop(&mut cx));
        control.finish();
        assert!(block_on(stopped).is_ok());
    }

    #[test]
    fn a_stop_from_another_thread_wakes_the_waiting_instance() {
        let control = Arc::new(Control::default());
        let asker = control.clone();
        let waited = std::thread::spawn(move || {
            block_on(std::future::poll_fn(|cx| {
                if control.poll_stop(cx) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }));
            control.finish();
        });
        let (done, stopped) = oneshot::channel();
        asker.request_stop(StopMode::Restart, done);
        assert!(block_on(stopped).is_ok());
        waited.join().unwrap();
    }

    #[test]
    fn a_closed_control_answers_stops_at_once_and_fails_restarts() {
        let control = Control::default();
        control.close();
        let (done, stopped) = oneshot::channel();
        control.request_stop(StopMode::Terminate, done);
        assert!(block_on(stopped).is_ok());
        let (started, outcome) = oneshot::channel();
        control.resume(Directive::Restart { started, epoch: 1 });
        assert!(block_on(outcome).unwrap().is_err());
        control.open();
        let (done, mut stopped) = oneshot::channel();
        control.request_stop(StopMode::Terminate, done);
        assert!(
            stopped.try_take().is_none(),
            "an open control waits for the instance"
        );
    }

    #[test]
    fn closing_tells_the_waiters_of_a_task_that_went_away() {
        let control = Control::default();
        let stopped: Vec<_> = (0..3)
            .map(|_| {
                let (done, stopped) = oneshot::channel();
                control.request_stop(StopMode::Terminate, done);
                stopped
            })
            .collect();
        control.close();
        for stopped in stopped {
            assert!(block_on(stopped).is_ok());
        }
    }
}
