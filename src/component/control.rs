//! How a supervisor steers an instance: stop requests, the directive an instance waits
//! for once it is down, and the outcomes the supervisor waits for in turn (a start's,
//! a stop's).
//!
//! The control lives beside the instance's counters, in the one `Arc` its supervisor
//! keeps for the child, so a supervisor on any thread steers the instance directly: no
//! command through the instance's reactor, no per-reactor table of instances, and no
//! channel allocated per start or stop to hear back.
//!
//! Protocol:
//! - `request_stop(mode)`, then `poll_stopped`: the instance stops between handlers (a
//!   running handler gets its grace period). With [`StopMode::Restart`] it keeps its
//!   mailbox and registrations and waits, down, for a directive; the stop is answered
//!   once it is down. With [`StopMode::Terminate`] it also removes its consumers, drains
//!   its mailbox and ends; the stop is answered at the very end. Terminate wins over
//!   Restart.
//! - An instance that exits by itself (failure, `ctx.stop()`) reports to its supervisor
//!   and waits, down, for a directive.
//! - A start: `StartReport::expect` and a start command that carries the report, or
//!   `expect_start` and `resume(Directive::Restart)`; then `poll_started`. A new
//!   control expects its first start already: that start's command carries
//!   `StartReport::first`. The instance reports its start through the control
//!   (`report_start`, once; `report_started` also leaves the task's waker, under the
//!   same lock). A report dropped on
//!   its way (its command dropped with its reactor) reports a failure, and so does the
//!   control's close for a task that goes before its start has reported. A failed
//!   start's failure is the control's latest failure, which the inspector shows.
//! - `resume(directive)`: [`Directive::Restart`] builds a fresh component from the
//!   factory on the same mailbox; [`Directive::Terminate`] ends it.
//! - Once the instance's task is gone (ended, or dropped with its reactor), a stop
//!   request is answered at once and a restart fails: the control is `closed`. A new
//!   task for the same child `open`s it again.
//!
//! Wake-ups: the instance leaves its task's waker here the first time it waits (a task's
//! waker never changes), under the lock; a request changes the state under the same
//! lock, then wakes that waker. So a request either comes before the waker is left, and
//! the instance sees it when it looks again after leaving it, or finds the waker. The
//! supervisor's waker is left and taken the same way. One supervisor steers a child,
//! one request at a time, so one slot holds its waker.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::component::InstanceStats;
use crate::component::mailbox::Gauge;
use crate::failure::{Failure, FailureKind, Hook};
use crate::rt::remember_waker;

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
    /// Start a fresh component on the same mailbox (the supervisor expects its start:
    /// `Control::expect_start`), as start `epoch`.
    Restart { epoch: u64 },
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

/// A start the supervisor waits for.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// None expected, or its outcome taken.
    Idle,
    /// Not reported yet: if the task goes first, its close reports that the runtime is
    /// shutting down. A new control expects its child's first start: the child's
    /// first start command needs no lock to say so ([`StartReport::first`]).
    #[default]
    Expected,
    /// Reported, and it went well,
    Succeeded,
    /// or it failed: the control's `last_failure` is how.
    Failed,
}

#[derive(Default)]
struct Inner {
    directive: Option<Directive>,
    /// The instance's task's waker.
    waker: Option<Waker>,
    /// The supervisor's waker, while it waits for a start or a stop.
    supervisor: Option<Waker>,
    /// Where the start the supervisor waits for is (one byte, in the lock's padding).
    start: Start,
    /// A stop was asked and is not answered yet.
    stopping: bool,
    /// No task runs the instance.
    closed: bool,
    /// The instance's shutdown timeout in milliseconds, `u32::MAX` for never (see
    /// `grace_millis`): read once per stop, and kept here, in the lock's padding,
    /// rather than in every idle instance's task.
    grace_ms: u32,
    /// The latest failure, for the inspector and for a supervisor waiting on a failed
    /// start, under the same lock (one lock less per instance; boxed: it is rare, and
    /// this sits in every control),
    last_failure: Option<Box<Failure>>,
    /// and a gauge of the mailbox that does not keep it alive, replaced by each new
    /// task (a supervisor's restart builds the instance afresh, with a new mailbox).
    gauge: Option<Weak<dyn Gauge>>,
}

impl Inner {
    /// The expected start's outcome, taken, once reported.
    fn take_start(&mut self) -> Option<Result<(), Failure>> {
        match self.start {
            Start::Succeeded => {
                self.start = Start::Idle;
                Some(Ok(()))
            }
            Start::Failed => {
                self.start = Start::Idle;
                let failure = self.last_failure.as_deref().cloned();
                Some(Err(failure.unwrap_or_else(shutting_down)))
            }
            Start::Idle | Start::Expected => None,
        }
    }

    const fn stop_answered(&self) -> bool {
        !self.stopping || self.closed
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl Control {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new task runs the instance, with a shutdown timeout of `grace_ms` (see
    /// `grace_millis`) and its mailbox read through `gauge` from now on: no stop asked,
    /// no directive, no waker yet. What the supervisor waits for (the task's start) is
    /// kept.
    pub(crate) fn open(&self, grace_ms: u32, gauge: Weak<dyn Gauge>) {
        let mut inner = self.lock();
        inner.grace_ms = grace_ms;
        inner.gauge = Some(gauge);
        inner.directive = None;
        inner.waker = None;
        inner.stopping = false;
        inner.closed = false;
        self.stop.store(RUN, Ordering::Relaxed);
        self.armed.store(false, Ordering::Relaxed);
    }

    /// The time a handler still running at a stop request, and `stop` itself, may take.
    pub(crate) fn grace(&self) -> Duration {
        match self.lock().grace_ms {
            u32::MAX => Duration::MAX,
            ms => Duration::from_millis(u64::from(ms)),
        }
    }

    /// Keeps the latest failure, for the inspector.
    pub(crate) fn set_last_failure(&self, failure: Failure) {
        self.lock().last_failure = Some(Box::new(failure));
    }

    /// The latest failure's text.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.lock().last_failure.as_deref().map(ToString::to_string)
    }

    /// The mailbox's gauge, while the mailbox lives.
    pub(crate) fn gauge(&self) -> Option<Arc<dyn Gauge>> {
        self.lock().gauge.as_ref().and_then(Weak::upgrade)
    }

    /// The supervisor is about to start the instance (a new task, or a restart of the
    /// down one): any earlier outcome is forgotten, and the start will report here.
    pub(crate) fn expect_start(&self) {
        let mut inner = self.lock();
        inner.start = Start::Expected;
    }

    /// Reports how the start the supervisor expects went (once: a later report, or one
    /// nobody expects, is ignored).
    pub(crate) fn report_start(&self, outcome: Result<(), Failure>) {
        let inner = self.lock();
        self.report_locked(inner, outcome);
    }

    /// Reports that the start the supervisor expects went well (as `report_start`), and
    /// leaves the task's waker (as the instance's first wait for work would, see
    /// `poll_stop`) under the same lock: one lock less per start.
    pub(crate) fn report_started(&self, cx: &std::task::Context<'_>) {
        let mut inner = self.lock();
        if !self.armed.load(Ordering::Relaxed) {
            inner.waker = Some(cx.waker().clone());
            self.armed.store(true, Ordering::Relaxed);
        }
        self.report_locked(inner, Ok(()));
    }

    fn report_locked(&self, mut inner: MutexGuard<'_, Inner>, outcome: Result<(), Failure>) {
        if inner.start != Start::Expected {
            return;
        }
        inner.start = match outcome {
            Ok(()) => Start::Succeeded,
            Err(failure) => {
                inner.last_failure = Some(Box::new(failure));
                Start::Failed
            }
        };
        let supervisor = inner.supervisor.take();
        drop(inner);
        wake(supervisor);
    }

    /// The expected start's outcome, once reported.
    pub(crate) fn poll_started(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), Failure>> {
        let mut inner = self.lock();
        if let Some(outcome) = inner.take_start() {
            return Poll::Ready(outcome);
        }
        remember_waker(&mut inner.supervisor, cx.waker());
        Poll::Pending
    }

    /// The expected start's outcome if it is reported (taken, as by `poll_started`),
    /// leaving no waker: for a supervisor that ran the start in place and does not
    /// wait for it.
    pub(crate) fn try_started(&self) -> Option<Result<(), Failure>> {
        self.lock().take_start()
    }

    /// Asks the instance to stop (see the module docs); answered at once if no task
    /// runs it. Returns the waker of the instance's task, woken, so the caller can run
    /// the task at once if it is queued on its own reactor (`reactor::run_woken`).
    pub(crate) fn request_stop(&self, mode: StopMode) -> Option<Waker> {
        let mut inner = self.lock();
        if inner.closed {
            return None;
        }
        inner.stopping = true;
        let mode = match mode {
            StopMode::Restart => RESTART,
            StopMode::Terminate => TERMINATE,
        };
        // Terminate wins over Restart.
        self.stop.fetch_max(mode, Ordering::Relaxed);
        let waker = inner.waker.clone();
        drop(inner);
        if let Some(waker) = &waker {
            waker.wake_by_ref();
        }
        waker
    }

    /// Whether the stop asked last is answered; if not, wakes `cx` when it is.
    pub(crate) fn poll_stopped(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.stop_answered() {
            return Poll::Ready(());
        }
        remember_waker(&mut inner.supervisor, cx.waker());
        Poll::Pending
    }

    /// Whether the stop asked last is answered, leaving no waker (see `try_started`).
    pub(crate) fn stopped(&self) -> bool {
        self.lock().stop_answered()
    }

    /// Tells a down instance what to do next; a restart of an instance no task runs
    /// reports a failure.
    pub(crate) fn resume(&self, directive: Directive) {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            if let Directive::Restart { .. } = directive {
                self.report_start(Err(Failure::new(
                    Hook::Start,
                    FailureKind::Error,
                    "the instance is gone",
                )));
            }
            return;
        }
        // A directive not taken yet is replaced.
        inner.directive = Some(directive);
        let waker = inner.waker.clone();
        drop(inner);
        wake(waker);
    }

    /// The stop asked of the instance, if any.
    #[inline]
    pub(crate) fn stop_mode(&self) -> Option<StopMode> {
        match self.stop.load(Ordering::Relaxed) {
            RUN => None,
            RESTART => Some(StopMode::Restart),
            _ => Some(StopMode::Terminate),
        }
    }

    /// Leaves the task's waker, once per task.
    #[inline]
    fn arm(&self, cx: &std::task::Context<'_>) {
        if !self.armed.load(Ordering::Relaxed) {
            self.lock().waker = Some(cx.waker().clone());
            self.armed.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a stop was asked; if not, wakes `cx` when one is.
    #[inline]
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

    /// Answers the stop asked: the instance has stopped.
    pub(crate) fn finish(&self) {
        let mut inner = self.lock();
        inner.stopping = false;
        let supervisor = inner.supervisor.take();
        drop(inner);
        wake(supervisor);
    }

    /// No task runs the instance any more: a stop asked is answered, and later ones are
    /// answered at once.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.stopping = false;
        inner.waker = None;
        if inner.start == Start::Expected {
            inner.start = Start::Failed;
            inner.last_failure = Some(Box::new(shutting_down()));
        }
        inner.directive = None;
        let supervisor = inner.supervisor.take();
        drop(inner);
        self.armed.store(false, Ordering::Relaxed);
        wake(supervisor);
    }
}

/// How a start the runtime dropped (with its reactor) reports.
fn shutting_down() -> Failure {
    Failure::new(
        Hook::Start,
        FailureKind::Error,
        "the runtime is shutting down",
    )
}

/// A start the supervisor expects, on its way to the instance's new task in a start
/// command, with the instance's counters and control. Dropped on the way (the command
/// dropped with its reactor), it reports that the runtime is shutting down. The task
/// that receives it [`accept`](Self::accept)s it, and takes the counters: from then on
/// the instance reports through its control, and the control's close reports for a
/// task that goes first; so a task keeps no report in its state.
pub(crate) struct StartReport(Option<Arc<InstanceStats>>);

impl StartReport {
    /// The supervisor is about to start the instance (`stats`' instance) in a new
    /// task: any earlier outcome is forgotten, and the start will report to the
    /// control.
    pub(crate) fn expect(stats: Arc<InstanceStats>) -> Self {
        stats.control.expect_start();
        Self(Some(stats))
    }

    /// The first start of a new child, which its new control expects already.
    pub(crate) const fn first(stats: Arc<InstanceStats>) -> Self {
        Self(Some(stats))
    }

    /// Taken by the instance's task, which reports through its control from now on:
    /// the instance's counters and control. One shared allocation travels in the start
    /// command, not two handles to it (an atomic increment and decrement less a deploy).
    pub(crate) fn accept(mut self) -> Arc<InstanceStats> {
        // Never the default: only `accept` and the drop take the counters out, and both
        // consume the report.
        self.0.take().unwrap_or_default()
    }
}

impl Drop for StartReport {
    fn drop(&mut self) {
        if let Some(stats) = self.0.take() {
            stats.control.report_start(Err(shutting_down()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use std::future::poll_fn;
    use std::task::Context;

    fn control() -> Arc<InstanceStats> {
        Arc::new(InstanceStats::default())
    }

    /// A gauge of a mailbox already gone.
    fn gone() -> Weak<dyn Gauge> {
        crate::component::mailbox::bounded::<u8>(1).0.gauge()
    }

    #[test]
    fn an_accepted_start_is_reported_by_the_control_once() {
        // The task reports through the control, once: a second report is ignored.
        let stats = control();
        stats.control.open(0, gone());
        drop(StartReport::expect(stats.clone()).accept());
        stats.control.report_start(Ok(()));
        stats.control.report_start(Err(shutting_down()));
        assert_eq!(
            block_on(poll_fn(|cx| stats.control.poll_started(cx))),
            Ok(())
        );
        // A task that goes before its start reports: its close answers the supervisor.
        let stats = control();
        stats.control.open(0, gone());
        drop(StartReport::expect(stats.clone()).accept());
        stats.control.close();
        let failure = block_on(poll_fn(|cx| stats.control.poll_started(cx))).unwrap_err();
        assert_eq!(failure.message(), "the runtime is shutting down");
        // A close with no start expected (its outcome taken) reports nothing.
        let stats = control();
        stats.control.open(0, gone());
        stats.control.report_start(Ok(()));
        assert_eq!(stats.control.try_started(), Some(Ok(())));
        stats.control.close();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(stats.control.poll_started(&mut cx).is_pending());
    }

    #[test]
    fn a_new_childs_first_start_is_expected_and_its_report_leaves_the_waker() {
        // A new control expects its first start: the report needs no `expect_start`.
        let stats = control();
        stats.control.open(0, gone());
        drop(StartReport::first(stats.clone()).accept());
        let woken = Arc::new(Woken::default());
        let waker = Waker::from(woken.clone());
        stats.control.report_started(&Context::from_waker(&waker));
        assert_eq!(
            block_on(poll_fn(|cx| stats.control.poll_started(cx))),
            Ok(())
        );
        // The report left the task's waker: a stop wakes the task, and the task's next
        // look sees the stop without leaving its waker again.
        let left = stats.control.request_stop(StopMode::Terminate);
        assert!(left.is_some_and(|w| w.will_wake(&waker)));
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        assert!(
            stats
                .control
                .poll_stop(&mut Context::from_waker(Waker::noop()))
        );
        // Dropped before it was taken, a first start's report still says why.
        let stats = control();
        drop(StartReport::first(stats.clone()));
        let failure = block_on(poll_fn(|cx| stats.control.poll_started(cx))).unwrap_err();
        assert_eq!(failure.message(), "the runtime is shutting down");
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_shutdown_timeout_is_kept_to_the_millisecond_rounded_up() {
        use crate::component::grace_millis;
        let control = Control::default();
        for (given, kept) in [
            (Duration::ZERO, Duration::ZERO),
            (Duration::from_micros(1), Duration::from_millis(1)),
            (Duration::from_millis(50), Duration::from_millis(50)),
            (Duration::from_micros(50_001), Duration::from_millis(51)),
            (Duration::from_secs(5), Duration::from_secs(5)),
            (
                Duration::from_secs(3_600 * 24 * 49),
                Duration::from_secs(3_600 * 24 * 49),
            ),
            // About 49.7 days and more, `Duration::MAX` included: never.
            (Duration::from_secs(3_600 * 24 * 50), Duration::MAX),
            (Duration::MAX, Duration::MAX),
        ] {
            control.open(grace_millis(given), gone());
            assert_eq!(control.grace(), kept, "given {given:?}");
        }
    }

    #[test]
    fn a_stop_asked_before_the_waker_is_left_is_seen() {
        let stats = control();
        let control = &stats.control;
        let _ = control.request_stop(StopMode::Terminate);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(control.poll_stop(&mut cx));
        assert!(control.poll_stopped(&mut cx).is_pending());
        control.close();
        assert!(control.poll_stopped(&mut cx).is_ready());
    }

    #[test]
    fn a_stop_from_another_thread_wakes_the_waiting_instance_and_then_its_supervisor() {
        let stats = control();
        let instance = stats.clone();
        let waited = std::thread::spawn(move || {
            block_on(poll_fn(|cx| {
                if instance.control.poll_stop(cx) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }));
            instance.control.finish();
        });
        let _ = stats.control.request_stop(StopMode::Restart);
        block_on(poll_fn(|cx| stats.control.poll_stopped(cx)));
        waited.join().unwrap();
    }

    #[test]
    fn a_closed_control_answers_stops_at_once_and_fails_restarts() {
        let stats = control();
        let control = &stats.control;
        control.close();
        let _ = control.request_stop(StopMode::Terminate);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(control.poll_stopped(&mut cx).is_ready());
        control.expect_start();
        control.resume(Directive::Restart { epoch: 1 });
        let failure = block_on(poll_fn(|cx| control.poll_started(cx))).unwrap_err();
        assert_eq!(failure.message(), "the instance is gone");
        control.open(0, gone());
        let _ = control.request_stop(StopMode::Terminate);
        assert!(
            control.poll_stopped(&mut cx).is_pending(),
            "an open control waits for the instance"
        );
    }

    #[test]
    fn a_start_is_reported_once_and_a_dropped_report_says_why() {
        let stats = control();
        let control = &stats.control;
        let report = StartReport::expect(stats.clone());
        let supervisor = {
            let stats = stats.clone();
            std::thread::spawn(move || block_on(poll_fn(|cx| stats.control.poll_started(cx))))
        };
        report.accept();
        control.report_start(Ok(()));
        assert!(supervisor.join().unwrap().is_ok());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(control.poll_started(&mut cx).is_pending(), "reported once");
        drop(StartReport::expect(stats.clone()));
        let failure = block_on(poll_fn(|cx| control.poll_started(cx))).unwrap_err();
        assert_eq!(failure.message(), "the runtime is shutting down");
    }
}
