//! The life of one component instance on its reactor: build, start, serve, stop.
//!
//! Invariants:
//! - everything here runs on the instance's reactor thread, in one task, so hooks,
//!   handlers and timer callbacks of one instance never overlap;
//! - every call into user code is wrapped in `catch_unwind`: a panic becomes a
//!   [`Failure`] naming the hook, and the reactor thread lives on;
//! - on exit, consumers are removed before `stop` runs, and the mailbox is drained after
//!   it, so every queued request's reply slot is dropped and its requester gets
//!   recipient-failure at once rather than at its timeout;
//! - a stop request is seen between handlers; a handler still running when it comes gets
//!   the shutdown timeout, then is dropped.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;

use crate::component::control::{Control, Directive, StartReport, StopMode};
use crate::component::envelope::Dispatched;
use crate::component::pooled::PooledFuture;
use crate::component::spec::{Factory, Shared};
use crate::component::{Envelope, mailbox};
use crate::context::{ExitRequest, Identity};
use crate::events::LifecycleEvent;
use crate::failure::{Failure, FailureKind, Hook};
use crate::rt::Timer;
use crate::watchdog::{Busy, Probe};
use crate::{Component, Context, Handle};

/// Messages handled in a row before the instance yields to its reactor's other tasks.
const BATCH: u32 = 64;

/// Everything an instance needs from its deployment.
pub(crate) struct InstanceConfig {
    pub(crate) identity: Identity,
    pub(crate) key: u64,
    pub(crate) runtime: Handle,
    pub(crate) mailbox_capacity: u32,
    /// The shutdown timeout (see [`grace_millis`]).
    pub(crate) grace_ms: u32,
    /// The start its supervisor waits for, and the instance's counters and control.
    pub(crate) started: StartReport,
    /// Where the instance reports the exits it was not asked for.
    pub(crate) supervisor: mailbox::Sender<ChildExit>,
    /// Which start this is, as its supervisor counts; echoed in its exit report.
    pub(crate) epoch: u64,
}

/// An exit an instance reports to its supervisor: a failure or a normal stop it asked
/// for itself (exits the supervisor asked for are not reported).
#[derive(Debug)]
pub(crate) struct ChildExit {
    pub(crate) key: u64,
    /// The start this exit ends; an exit of an older start is stale.
    pub(crate) epoch: u64,
    pub(crate) exit: Exit,
}

/// The lifecycle state of a component instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ComponentState {
    /// Being built, or running `start`.
    Starting = 0,
    /// Serving messages and timers.
    Running = 1,
    /// Running `stop`.
    Stopping = 2,
    /// Stopped normally.
    Stopped = 3,
    /// Ended by a failure.
    Failed = 4,
    /// Down after an exit, waiting for its supervisor to restart it (or to give up).
    Restarting = 5,
}

/// Counters of one instance, shared with the runtime (relaxed atomics), and the control
/// its supervisor steers it by: one allocation per child, for its whole life.
#[derive(Default)]
pub(crate) struct InstanceStats {
    pub(crate) control: Control,
    state: AtomicU8,
    /// Whether its supervisor counts it as running: started, and not exited since.
    supervised_running: AtomicBool,
    pub(crate) handled: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// 32 bits, as `restarts` and `capacity`: with the two flags they fill one word
    /// less; four billion blocked events or restarts of one instance is no real limit.
    pub(crate) blocked: AtomicU32,
    pub(crate) restarts: AtomicU32,
    /// The mailbox's capacity, at most `u32::MAX` (its gauge and the latest failure's
    /// text are kept in the control, under its lock).
    capacity: AtomicU32,
}

impl std::fmt::Debug for InstanceStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceStats")
            .field("state", &self.state())
            .field("handled", &self.handled)
            .finish_non_exhaustive()
    }
}

impl InstanceStats {
    /// Messages waiting in the mailbox now, and its capacity.
    pub(crate) fn mailbox(&self) -> (usize, usize) {
        let len = self.control.gauge().map_or(0, |mailbox| mailbox.len());
        (len, self.capacity.load(Ordering::Relaxed) as usize)
    }

    /// The latest failure's text.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.control.last_failure()
    }

    /// Counts a handled message. The instance's own task is the counter's only writer
    /// (a restart runs in the same task, and a child whose task is gone is not
    /// restarted), so a load and a store do: no read-modify-write on every message.
    /// Readers load it relaxed, as before.
    #[inline]
    fn count_handled(&self) {
        let handled = self.handled.load(Ordering::Relaxed);
        self.handled.store(handled + 1, Ordering::Relaxed);
    }

    /// A new task runs the instance, reading `mailbox` (see [`Control::open`]).
    fn open<T: Send + 'static>(&self, mailbox: &mailbox::Sender<T>, capacity: u32, grace_ms: u32) {
        self.control.open(grace_ms, mailbox.gauge());
        self.capacity.store(capacity, Ordering::Relaxed);
    }

    fn transition_to(&self, state: ComponentState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// Whether its supervisor counts it as running (started, and not exited since).
    pub(crate) fn supervised_running(&self) -> bool {
        self.supervised_running.load(Ordering::Relaxed)
    }

    pub(crate) fn set_supervised_running(&self, running: bool) {
        self.supervised_running.store(running, Ordering::Relaxed);
    }

    pub(crate) fn state(&self) -> ComponentState {
        match self.state.load(Ordering::Acquire) {
            0 => ComponentState::Starting,
            1 => ComponentState::Running,
            2 => ComponentState::Stopping,
            3 => ComponentState::Stopped,
            4 => ComponentState::Failed,
            _ => ComponentState::Restarting,
        }
    }
}

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It asked to stop (`ctx.stop()`).
    Normal,
    /// It was stopped by its supervisor (undeploy, shutdown, a sibling's restart).
    Stopped,
    /// It failed.
    Failed(Failure),
}

pin_project_lite::pin_project! {
    /// Enters a borrowed span around each poll of `inner`, or polls it bare: a
    /// `tracing::Instrumented` would own a span (40 bytes) even when it is disabled.
    struct InSpan<'a, F> {
        #[pin]
        inner: F,
        span: Option<&'a tracing::Span>,
    }
}

impl<F: Future> Future for InSpan<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.span.map(tracing::Span::enter);
        this.inner.poll(cx)
    }
}

/// What every phase of an instance needs besides the component and its context, kept
/// for the instance's whole life. The phases borrow it whole: one pointer in each
/// phase's state, where a copy of each field would sit in every idle instance's task.
struct Core<C: Component> {
    factory: Shared<dyn Factory<C>>,
    stats: Closing,
    probe: Option<Arc<Probe>>,
    key: u64,
}

/// The instance's counters and control, closing the control when the instance's task
/// goes, however it goes (ended, or dropped with its reactor): its supervisor's stop is
/// answered then, after everything the instance held has been dropped but the shell's
/// last fields. Then the task's slot in its executor (the second field) is given back.
struct Closing(Arc<InstanceStats>, usize);

impl std::ops::Deref for Closing {
    type Target = InstanceStats;

    fn deref(&self) -> &InstanceStats {
        &self.0
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.control.close();
        crate::reactor::instance_ended(self.1);
    }
}

impl<C: Component> Core<C> {
    /// The time a handler still running at a stop request, and `stop` itself, may take.
    fn grace(&self) -> Duration {
        self.control().grace()
    }

    fn control(&self) -> &Control {
        &self.stats.control
    }

    /// Tells the watchdog this reactor runs `hook` of this instance until the guard drops.
    fn enter(&self, hook: Hook) -> Option<Busy<'_>> {
        self.probe
            .as_deref()
            .map(|probe| probe.enter(self.key, hook))
    }

    /// Polls `future` with the watchdog told about each poll. A future of its own,
    /// not an `async fn`: that would keep `future` twice (as its parameter and pinned),
    /// and a `start`'s future would no longer fit a pooled block (see `live`).
    const fn watched<F: Future>(&self, hook: Hook, future: F) -> Watched<'_, C, F> {
        Watched {
            core: self,
            hook,
            future,
        }
    }
}

pin_project_lite::pin_project! {
    /// A hook's future, polled with the watchdog told about each poll.
    struct Watched<'a, C: Component, F> {
        core: &'a Core<C>,
        hook: Hook,
        #[pin]
        future: F,
    }
}

impl<C: Component, F: Future> Future for Watched<'_, C, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _busy = this.core.enter(*this.hook);
        this.future.poll(cx)
    }
}

/// A shutdown timeout as it is kept: whole milliseconds, rounded up, as OTP's
/// `shutdown`; `u32::MAX` (about 49 days or more, `Duration::MAX` included) means never.
pub(crate) fn grace_millis(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

/// Runs one instance from build to termination: incarnations of the component on one
/// mailbox, restarted as its supervisor directs.
///
/// A plain function: everything the instance keeps is built here, into one [`Shell`],
/// so the future's state holds it once (an `async fn` keeps room for its parameters and
/// for each local it moved them into). An idle component costs this one task (the shell
/// and its current incarnation's state) and its mailbox.
pub(crate) fn run<C: Component>(
    factory: Shared<dyn Factory<C>>,
    config: InstanceConfig,
    probe: Option<Arc<Probe>>,
    slot: usize,
) -> impl Future<Output = ()> {
    // From here the instance reports its starts through its control, which reports for
    // it if the task goes first (the `Closing` drops).
    let stats = Closing(config.started.accept(), slot);
    let (mailbox, inbox) = mailbox::bounded::<Envelope<C>>(config.mailbox_capacity as usize);
    // Run on the instance's reactor, so after its previous task (if any) has ended.
    stats.open(&mailbox, config.mailbox_capacity, config.grace_ms);
    // A root span: an instance's life is its own, not part of whatever deployed it
    // (a handler deploying from its own reactor starts the instance inside its poll).
    let span = tracing::debug_span!(
        parent: None,
        "component.lifecycle",
        component = %config.identity.name(),
        deployment = ?config.identity.deployment(),
        instance = config.identity.instance(),
        reactor = config.identity.reactor(),
    );
    // Kept only if a subscriber wants it: a disabled span still takes 40 bytes, in the
    // shell and again in the instrumented incarnation.
    let span = (!span.is_disabled()).then(|| Box::new(span));
    let mut ctx = Context::new(config.identity, config.runtime, inbox);
    ctx.tasks.watch(config.key);
    let shell = Shell {
        ctx,
        core: Core {
            factory,
            stats,
            probe,
            key: config.key,
        },
        supervisor: config.supervisor,
        epoch: config.epoch,
        span,
    };
    shell.run()
}

/// What an instance keeps from its deployment to its end, across incarnations.
struct Shell<C: Component> {
    /// The instance's context: its identity, runtime, mailbox (the receiver) and kept
    /// registrations for its whole life (kept here, not in each incarnation's state, so
    /// they are held once). Each incarnation leaves it renewed, as fresh as
    /// `Context::new` made it.
    ctx: Context<C>,
    core: Core<C>,
    /// Where the instance reports the exits it was not asked for.
    supervisor: mailbox::Sender<ChildExit>,
    /// Which start this is, as the supervisor counts.
    epoch: u64,
    /// The lifecycle span, if a subscriber wants it.
    span: Option<Box<tracing::Span>>,
}

impl<C: Component> Shell<C> {
    /// A plain function returning an `async move` block, so `self` is kept once.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would keep its parameters twice"
    )]
    fn run(mut self) -> impl Future<Output = ()> {
        async move {
            loop {
                let exit = self.incarnation().await;
                if self.exited(exit) {
                    break;
                }
                self.core.stats.transition_to(ComponentState::Restarting);
                let control = self.core.control();
                match poll_fn(|cx| {
                    control
                        .poll_directive(cx)
                        .map_or(Poll::Pending, Poll::Ready)
                })
                .await
                {
                    Directive::Restart { epoch } => {
                        let _entered = self.span.as_deref().map(tracing::Span::enter);
                        tracing::info!("component.restarting");
                        self.epoch = epoch;
                    }
                    Directive::Terminate => break,
                }
            }
            self.ctx.drop_kept();
            // Drop what is still queued: each request's reply slot goes, and its requester
            // learns at once that the recipient failed.
            self.ctx.inbox.close();
            if self.core.stats.state() == ComponentState::Restarting {
                self.core.stats.transition_to(ComponentState::Stopped);
            }
            // The shell drops as the block ends: its `Closing` closes the control.
        }
    }

    /// Reports how an incarnation ended (counters, event, and to the supervisor if it
    /// did not ask for it); whether the instance ends. A function of its own, so the
    /// exit is gone before the instance waits for its directive: the task's state keeps
    /// no room for it across that wait.
    fn exited(&mut self, exit: Exit) -> bool {
        let _entered = self.span.as_deref().map(tracing::Span::enter);
        report(&exit, &self.core.stats);
        let identity = self.ctx.identity();
        self.ctx.runtime().event_hub().emit(|| match &exit {
            Exit::Failed(failure) => LifecycleEvent::Failed {
                path: identity.path().to_owned(),
                instance: identity.instance(),
                failure: failure.to_string(),
            },
            Exit::Normal | Exit::Stopped => LifecycleEvent::Stopped {
                path: identity.path().to_owned(),
                instance: identity.instance(),
            },
        });
        let terminate = self.core.control().stop_mode() == Some(StopMode::Terminate);
        if !terminate && !matches!(exit, Exit::Stopped) {
            // Nobody asked for this exit: the supervisor decides what comes next.
            let _ = self.supervisor.try_send(ChildExit {
                key: self.core.key,
                epoch: self.epoch,
                exit,
            });
        }
        terminate
    }

    /// One incarnation's future, borrowing the shell's context and mailbox; awaited in
    /// place, so an instance is one allocation (its task), not two.
    fn incarnation(&mut self) -> impl Future<Output = Exit> + '_ {
        let fut = live(&self.core, &mut self.ctx);
        InSpan {
            inner: fut,
            span: self.span.as_deref(),
        }
    }
}

fn report(exit: &Exit, stats: &InstanceStats) {
    match exit {
        Exit::Failed(failure) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            stats.control.set_last_failure(failure.clone());
            stats.transition_to(ComponentState::Failed);
            tracing::warn!(%failure, "component.failed");
        }
        Exit::Normal | Exit::Stopped => {
            stats.transition_to(ComponentState::Stopped);
            tracing::debug!(?exit, "component.stopped");
        }
    }
}

/// Build, start, serve and stop one incarnation. Returns how it ended and the
/// registrations still in place (none after a terminate request), and leaves `ctx`
/// renewed for the next incarnation.
///
/// A plain function returning an `async move` block, not an `async fn`: an `async fn`
/// moves its parameters into locals, and its state keeps room for both.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its parameters twice"
)]
fn live<'a, C: Component>(
    core: &'a Core<C>,
    ctx: &'a mut Context<C>,
) -> impl Future<Output = Exit> + 'a {
    async move {
        core.stats.transition_to(ComponentState::Starting);
        // Registrations made by this start have this id or a greater one.
        let made_from = ctx.bus().registry().next_id();
        // `start` and `stop` are kept apart, in a block of the reactor's pool when they
        // fit one (a start and the stop after it reuse the same few blocks, with no
        // allocation), else boxed: they run once each, and their futures would
        // otherwise sit in every idle component's state.
        let mut component = match PooledFuture::new(start(&mut *ctx, core)).await {
            Ok(component) => component,
            Err(failure) => {
                ctx.start_failed(made_from);
                ctx.renew();
                core.control().report_start(Err(failure.clone()));
                // The previous incarnation's registrations (if any) stay kept.
                return Exit::Failed(failure);
            }
        };
        // The new incarnation has registered its consumers: the old ones can go.
        ctx.drop_kept();
        core.stats.transition_to(ComponentState::Running);
        ctx.runtime().event_hub().emit(|| LifecycleEvent::Started {
            path: ctx.path().to_owned(),
            instance: ctx.instance(),
        });
        // Leaves the task's waker too, under the same lock: the instance waits for work
        // next.
        poll_fn(|cx| {
            core.control().report_started(cx);
            Poll::Ready(())
        })
        .await;
        tracing::debug!("component.started");
        let exit = serve(&mut component, &mut *ctx, core).await;
        core.stats.transition_to(ComponentState::Stopping);
        if core.control().stop_mode() == Some(StopMode::Terminate) {
            ctx.unregister_all();
        }
        let exit = PooledFuture::new(stop(&mut component, &mut *ctx, exit, core)).await;
        // What the incarnation leaves (timers, tasks, ...) goes before the component, as
        // it would with a context of its own.
        ctx.keep_registrations();
        ctx.renew();
        let dropped = {
            let _busy = core.enter(Hook::Stop);
            catch_unwind(AssertUnwindSafe(move || drop(component)))
        };
        if let Err(payload) = dropped {
            tracing::warn!(failure = %Failure::panicked(Hook::Stop, &*payload), "component.drop_panicked");
        }
        exit
    }
}

async fn start<C: Component>(ctx: &mut Context<C>, core: &Core<C>) -> Result<C, Failure> {
    let built = {
        let _busy = core.enter(Hook::Factory);
        catch_unwind(AssertUnwindSafe(|| core.factory.build()))
    };
    let mut component = built.map_err(|p| Failure::panicked(Hook::Factory, &*p))?;
    let starting = core.watched(
        Hook::Start,
        AssertUnwindSafe(component.start(ctx)).catch_unwind(),
    );
    match starting.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            return Err(Failure::new(
                Hook::Start,
                FailureKind::Error,
                error.to_string(),
            ));
        }
        Err(payload) => return Err(Failure::panicked(Hook::Start, &*payload)),
    }
    match ctx.take_exit() {
        Some(ExitRequest::Fail(reason)) => {
            Err(Failure::new(Hook::Start, FailureKind::Requested, reason))
        }
        Some(ExitRequest::Stop) => {
            ctx.put_exit(ExitRequest::Stop);
            Ok(component)
        }
        None => Ok(component),
    }
}

async fn stop<C: Component>(
    component: &mut C,
    ctx: &mut Context<C>,
    exit: Exit,
    core: &Core<C>,
) -> Exit {
    let mut stopping = pin!(core.watched(
        Hook::Stop,
        AssertUnwindSafe(component.stop(ctx)).catch_unwind(),
    ));
    // Most `stop`s finish in their first poll: those need no clock read and no
    // deadline. The grace period runs from the end of that poll (a poll that blocks the
    // thread could not be cut short anyway). The deadline is boxed: with its timer in
    // place, this future would not fit a pooled block (see `live`).
    let outcome = match futures_lite::future::poll_once(stopping.as_mut()).await {
        Some(outcome) => Some(outcome),
        None => {
            Box::pin(crate::rt::deadline(
                crate::rt::from_now(core.grace()),
                stopping,
            ))
            .await
        }
    };
    match outcome {
        Some(Ok(())) => exit,
        Some(Err(payload)) => {
            let failure = Failure::panicked(Hook::Stop, &*payload);
            match exit {
                Exit::Failed(first) => Exit::Failed(first),
                _ => Exit::Failed(failure),
            }
        }
        None => {
            tracing::warn!(timeout = ?core.grace(), "component.stop_timed_out");
            exit
        }
    }
}

/// What came of waiting for the next message.
enum Step {
    /// A message was taken and handled: its handler finished or was abandoned at a
    /// stop, or the message had expired and was shed.
    Handled,
    /// A message's handler panicked. Boxed, as it is rare: with the failure in place,
    /// every message's step was larger to return (tell and fan-out +1% instructions).
    Failed(Box<Failure>),
    /// No message: a stop request, a task's panic or a timer's deadline woke the
    /// instance.
    Woken,
}

/// Handles messages and timers until the instance is asked to stop or fails.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep its parameters twice"
)]
fn serve<'a, C: Component>(
    component: &'a mut C,
    ctx: &'a mut Context<C>,
    core: &'a Core<C>,
) -> impl Future<Output = Exit> + 'a {
    async move {
        let mut budget = BATCH;
        loop {
            if core.control().stop_mode().is_some() {
                return Exit::Stopped;
            }
            if let Some(exit) = exit_requested(ctx, Hook::Handler) {
                return exit;
            }
            if let Some(failure) = ctx.tasks.panics().and_then(|panics| panics.take()) {
                return Exit::Failed(failure);
            }
            if let Some(failure) = fire_timers(component, ctx, core) {
                return Exit::Failed(failure);
            }
            if let Some(exit) = exit_requested(ctx, Hook::Timer) {
                return exit;
            }
            match Next::new(component, ctx, core).await {
                Step::Handled => {}
                Step::Failed(failure) => return Exit::Failed(*failure),
                Step::Woken => continue,
            }
            budget -= 1;
            if budget == 0 {
                budget = BATCH;
                futures_lite::future::yield_now().await;
            }
        }
    }
}

fn exit_requested<C: Component>(ctx: &mut Context<C>, hook: Hook) -> Option<Exit> {
    match ctx.take_exit()? {
        ExitRequest::Stop => Some(Exit::Normal),
        ExitRequest::Fail(reason) => Some(Exit::Failed(Failure::new(
            hook,
            FailureKind::Requested,
            reason,
        ))),
    }
}

/// Waits for the next message and handles it; or ends early, woken by a stop request,
/// a task's panic or a timer's deadline.
///
/// One future for the wait and the handling: the message's handler is run as far as its
/// first poll in the poll that took the message, through its own type, so a handler that
/// finishes at once (most do) costs no future of its own to make, poll through a table
/// and drop. It keeps no message, so it is hardly larger than the wait alone was: this
/// state sits in every idle instance's task.
struct Next<'a, C: Component> {
    core: &'a Core<C>,
    state: Phase<'a, C>,
}

enum Phase<'a, C: Component> {
    /// Waiting for a message, with what its handler will borrow.
    Waiting(&'a mut C, &'a mut Context<C>),
    /// Its handler is still running after its first poll; once a stop is asked, it
    /// gets the grace period to finish (the deadline, boxed: it is rarely needed).
    Running(PooledFuture<'a>, Option<Box<Timer>>),
    Done,
}

impl<'a, C: Component> Next<'a, C> {
    fn new(component: &'a mut C, ctx: &'a mut Context<C>, core: &'a Core<C>) -> Self {
        Self {
            core,
            state: Phase::Waiting(component, ctx),
        }
    }

    /// Waits for a message and runs its handler's first poll.
    fn poll_wait(
        &mut self,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Step> {
        let core = self.core;
        // A stop request or a task's panic comes before the next message. The stop is
        // only looked at here; its waker is left below, when the instance is to wait.
        if core.control().stop_mode().is_some()
            || ctx
                .tasks
                .panics()
                .is_some_and(|panics| panics.poll(cx).is_ready())
        {
            return Poll::Ready(Step::Woken);
        }
        let envelope = match ctx.inbox.poll_recv(cx) {
            Poll::Ready(envelope) => envelope,
            Poll::Pending => {
                // A stop asked since the look above is seen here, its waker left.
                if core.control().poll_stop(cx) || ctx.timers.poll_deadline(cx) {
                    return Poll::Ready(Step::Woken);
                }
                self.state = Phase::Waiting(component, ctx);
                return Poll::Pending;
            }
        };
        // Building the handler's future runs no user code for an `async fn` handler; its
        // first poll does. One probe update covers both.
        let dispatched = {
            let _busy = core.enter(Hook::Handler);
            catch_unwind(AssertUnwindSafe(|| envelope.dispatch(component, ctx, cx)))
        };
        Poll::Ready(match dispatched {
            Ok(Dispatched::Done) => {
                core.stats.count_handled();
                Step::Handled
            }
            Ok(Dispatched::Running(future)) => {
                self.state = Phase::Running(future, None);
                return Poll::Pending;
            }
            Ok(Dispatched::Expired) => {
                core.stats.expired.fetch_add(1, Ordering::Relaxed);
                Step::Handled
            }
            // Panicked as its future was built or in its first poll: handled.
            Err(payload) => {
                core.stats.count_handled();
                Step::Failed(Box::new(Failure::panicked(Hook::Handler, &*payload)))
            }
        })
    }

    /// Polls a handler still running after its first poll; once a stop is asked, it
    /// gets the grace period to finish, and is abandoned after it.
    fn poll_running(
        &mut self,
        mut future: PooledFuture<'a>,
        mut deadline: Option<Box<Timer>>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Step> {
        let core = self.core;
        let polled = {
            let _busy = core.enter(Hook::Handler);
            catch_unwind(AssertUnwindSafe(|| Pin::new(&mut future).poll(cx)))
        };
        let step = match polled {
            Ok(Poll::Ready(())) => Step::Handled,
            Err(payload) => Step::Failed(Box::new(Failure::panicked(Hook::Handler, &*payload))),
            Ok(Poll::Pending) => {
                let abandoned = core.control().poll_stop(cx) && {
                    let timer =
                        deadline.get_or_insert_with(|| Box::new(Timer::after(core.grace())));
                    Pin::new(&mut **timer).poll(cx).is_ready()
                };
                if !abandoned {
                    self.state = Phase::Running(future, deadline);
                    return Poll::Pending;
                }
                tracing::warn!(grace = ?core.grace(), "component.handler_abandoned");
                Step::Handled
            }
        };
        // Completed, panicked or abandoned: handled, in every case.
        core.stats.count_handled();
        Poll::Ready(step)
    }
}

impl<C: Component> Future for Next<'_, C> {
    type Output = Step;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Step> {
        let this = &mut *self;
        match std::mem::replace(&mut this.state, Phase::Done) {
            Phase::Waiting(component, ctx) => this.poll_wait(component, ctx, cx),
            Phase::Running(future, deadline) => this.poll_running(future, deadline, cx),
            Phase::Done => Poll::Ready(Step::Woken),
        }
    }
}

/// Runs every due timer callback; the first panic ends the instance.
fn fire_timers<C: Component>(
    component: &mut C,
    ctx: &mut Context<C>,
    core: &Core<C>,
) -> Option<Failure> {
    if ctx.timers.len() == 0 {
        return None;
    }
    let now = Instant::now();
    while let Some(mut due) = ctx.timers.pop_due(now) {
        let outcome = {
            let _busy = core.enter(Hook::Timer);
            catch_unwind(AssertUnwindSafe(|| due.run(component, ctx)))
        };
        ctx.timers.finish(due, now);
        if let Err(payload) = outcome {
            return Some(Failure::panicked(Hook::Timer, &*payload));
        }
    }
    None
}
