//! Reactors: one OS thread each, running a local executor under `async_io::block_on`
//! (or, with [`IdlePolicy::ParkOutsidePoller`], on a parker of its own),
//! fed by a bounded command mailbox.
//!
//! Every component instance is a task on exactly one reactor. The reactor's own task
//! reads commands (start an instance, stop one, shut down); everything else it runs is
//! component code. Invariant: nothing on a reactor blocks its thread, so one slow
//! instance delays the others on its reactor only by the length of one handler poll, and
//! the wake-ups of other reactors that a poll asks for (sent as it ends) by as much.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

mod executor;
mod idle;
pub(crate) mod trim;

pub(crate) use executor::{Deferred, Executor};

pub use idle::IdlePolicy;

use crate::component::InstanceConfig;
use crate::component::spec::{Launch, Shared};
use crate::rt::{self, Task};
use crate::watchdog::Probe;

/// Capacity of each reactor's command mailbox.
pub(crate) const COMMAND_CAPACITY: usize = 1024;

thread_local! {
    static CURRENT: Cell<Option<(u64, usize)>> = const { Cell::new(None) };
    /// This reactor's executor, instances and probe: for tasks components spawn
    /// (`Context::spawn`), and for commands sent from its own thread.
    static HERE: RefCell<Option<Rc<Here>>> = const { RefCell::new(None) };
}

/// What a reactor runs its commands with.
pub(crate) struct Here {
    pub(crate) executor: Rc<Executor>,
    /// Instances whose task runs here and has not ended.
    instances: Cell<usize>,
    pub(crate) probe: Option<Arc<Probe>>,
    /// Mailboxes to give back a burst's room (see [`trim`]).
    trims: Rc<trim::Trims>,
}

impl Here {
    /// Runs one command; `false` for `Shutdown`, which ends the command loop.
    fn execute(&self, command: Command) -> bool {
        match command {
            Command::Start { launch, config } => launch.launch(self, config),
            Command::Spawn(spawn) => spawn(&self.executor),
            Command::Shutdown => return false,
        }
        true
    }

    /// Runs `f` (runtime work inside a poll of user code, or another task's run) with
    /// the watchdog not counting its time as the poll's (see [`Probe::outside`]).
    fn unwatched<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.probe {
            Some(probe) => probe.outside(f),
            None => f(),
        }
    }

    /// An instance's task starts here.
    pub(crate) fn instance_started(&self) {
        self.instances.set(self.instances.get() + 1);
    }
}

/// The instance whose task ran on this thread, kept in the executor's `slot`, has ended
/// (or, with its reactor ending, been dropped: then this reactor's count has been read
/// already, and the executor drops every task anyway).
pub(crate) fn instance_ended(slot: usize) {
    if let Some(here) = here() {
        here.instances.set(here.instances.get().saturating_sub(1));
        here.executor.release(slot);
    }
}

/// This thread's reactor, while it runs.
fn here() -> Option<Rc<Here>> {
    HERE.with(|here| here.borrow().clone())
}

/// Runs `command` at once when this thread is reactor `index` of runtime `runtime_id`
/// (a supervisor starting a child, or spawning a child supervisor, on its own reactor),
/// instead of queueing it behind the reactor's command mailbox: one task wake-up less
/// per deploy. Hands back (as `Some`) a `Shutdown`, and any command for another reactor.
///
/// Commands from one sender keep their order either way: a sender on this reactor
/// always takes this path, one elsewhere always the mailbox.
pub(crate) fn run_here(runtime_id: u64, index: usize, command: Command) -> Option<Command> {
    if matches!(command, Command::Shutdown) || current() != Some((runtime_id, index)) {
        return Some(command);
    }
    match here() {
        Some(here) => {
            here.execute(command);
            None
        }
        None => Some(command),
    }
}

/// Keeps `waker` in the locked `slot`, unless what is there already wakes the same task.
fn remember_waker(slot: &std::sync::Mutex<Option<std::task::Waker>>, waker: &std::task::Waker) {
    rt::remember_waker(
        &mut slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        waker,
    );
}

/// Spawns `future` on this thread's reactor; `None` off a reactor or once it is ending.
pub(crate) fn spawn_local<T: 'static>(
    future: impl Future<Output = T> + 'static,
) -> Option<Task<T>> {
    HERE.with(|here| {
        here.borrow()
            .as_ref()
            .map(|here| here.executor.spawn(future))
    })
}

/// Lists `mailbox` with this thread's reactor, to be asked to give back its queues'
/// room (see [`trim`]); `false` off a reactor.
pub(crate) fn trim_later(mailbox: std::sync::Weak<dyn trim::Trim>) -> bool {
    HERE.with(|here| {
        here.borrow()
            .as_ref()
            .map(|here| here.trims.list(mailbox))
            .is_some()
    })
}

/// This thread's reactor's watchdog probe, if it has one.
pub(crate) fn probe() -> Option<Arc<Probe>> {
    here().and_then(|here| here.probe.clone())
}

/// Runs `f`, runtime work inside the caller's poll, with the watchdog not counting its
/// time as the poll's (see [`Probe::outside`]).
pub(crate) fn unwatched<R>(f: impl FnOnce() -> R) -> R {
    match here() {
        Some(here) => here.unwatched(f),
        None => f(),
    }
}

/// Runs at once the task `waker` wakes, if it runs on this thread's reactor and a
/// wake-up has just queued it (see `Executor::run_woken`). The watchdog does not count
/// that time as the calling instance's (when the caller runs inside an instance's poll).
pub(crate) fn run_woken(waker: &std::task::Waker) {
    if let Some(here) = here() {
        here.unwatched(|| here.executor.run_woken(waker));
    }
}

/// Wakes `waker`'s task and, if that queued it on this thread's reactor, runs it at
/// once, inside the caller's poll: a request to a supervisor on this reactor (a deploy,
/// an undeploy) is then handled before the caller awaits the answer, which is ready
/// when it looks, with no task switch either way.
///
/// The task runs inside whatever the caller is polling, as with [`run_woken`]; a task
/// already running (the caller's own, or one it runs inside) is not run again: its
/// wake-up only marks it to be polled once more.
pub(crate) fn wake_and_run(waker: &std::task::Waker) {
    waker.wake_by_ref();
    run_woken(waker);
}

/// Wakes `waker`'s task and, if that queued it on this thread's reactor, runs it at
/// once, inside the caller's poll, within the running task's budget of hand-overs and
/// the bound on their nesting (see `Executor::take_handed_over`): a request to a
/// component waiting for work on the requester's reactor is handled, and its reply set,
/// before the requester looks for it. Past either bound, or for a task elsewhere, it
/// is only woken. The watchdog does not count the time as the caller's: the task run
/// tells it of its own polls.
pub(crate) fn hand_over(waker: &std::task::Waker) {
    waker.wake_by_ref();
    let Some(here) = here() else {
        return;
    };
    if let Some(runnable) = here.executor.take_handed_over(waker) {
        here.executor.nested(|| here.unwatched(|| runnable.run()));
    }
}

/// The `(runtime id, reactor index)` of the reactor running on this thread, if any.
pub(crate) fn current() -> Option<(u64, usize)> {
    CURRENT.with(Cell::get)
}

/// A spawned task other than a component instance (a supervisor).
pub(crate) type SpawnCommand = Box<dyn FnOnce(&Executor) + Send>;

/// A command to a reactor.
pub(crate) enum Command {
    /// Start an instance (not boxed: a box would be one more allocation per start).
    Start {
        launch: Shared<dyn Launch>,
        config: InstanceConfig,
    },
    /// Spawn a supervisor's task.
    Spawn(SpawnCommand),
    /// Leave the loop and end the thread.
    Shutdown,
}

/// The runtime's handle on one reactor thread.
#[derive(Debug, Clone)]
pub(crate) struct ReactorHandle {
    pub(crate) commands: flume::Sender<Command>,
}

/// Starts reactor `index` of runtime `runtime_id` on a thread named `reactree-reactor-N`.
pub(crate) fn spawn(
    runtime_id: u64,
    index: usize,
    probe: Option<Arc<Probe>>,
    idle: IdlePolicy,
) -> io::Result<(ReactorHandle, JoinHandle<()>)> {
    let (commands, inbox) = flume::bounded(COMMAND_CAPACITY);
    let thread = thread::Builder::new()
        .name(format!("reactree-reactor-{index}"))
        .spawn(move || run(runtime_id, index, inbox, probe, idle))?;
    Ok((ReactorHandle { commands }, thread))
}

fn run(
    runtime_id: u64,
    index: usize,
    inbox: flume::Receiver<Command>,
    probe: Option<Arc<Probe>>,
    idle: IdlePolicy,
) {
    CURRENT.with(|c| c.set(Some((runtime_id, index))));
    let _span = tracing::debug_span!("reactor.run", reactor = index).entered();
    tracing::debug!("reactor.started");
    let executor = Rc::new(Executor::new());
    if let Some(probe) = &probe {
        probe.watch_deferred(executor.deferred());
    }
    executor.spawn_detached(rt::install_deadlines().drive());
    let trims = Rc::new(trim::Trims::default());
    executor.spawn_detached(trims.clone().sweep());
    let here = Rc::new(Here {
        executor: executor.clone(),
        instances: Cell::new(0),
        probe,
        trims,
    });
    HERE.with(|h| *h.borrow_mut() = Some(here.clone()));
    let serve = executor.run(async {
        while let Ok(command) = inbox.recv_async().await {
            if !here.execute(command) {
                break;
            }
        }
    });
    {
        let serve = std::pin::pin!(serve);
        let serve = idle::Idle::new(serve, idle);
        if idle == IdlePolicy::ParkOutsidePoller {
            rt::park_on(serve);
        } else {
            rt::block_on(serve);
        }
    }
    // From here on nothing spawns on this reactor or runs a command in place.
    HERE.with(|h| h.borrow_mut().take());
    let left = here.instances.get();
    drop(here);
    if left > 0 {
        tracing::warn!(instances = left, "reactor.abandoned_instances");
    }
    // Dropping the executor drops any task still there; a panic from a `Drop` of user
    // state must not take the thread's exit with it.
    rt::uninstall_deadlines();
    if catch_unwind(AssertUnwindSafe(move || drop(executor))).is_err() {
        tracing::warn!("reactor.drop_panicked");
    }
    tracing::debug!("reactor.stopped");
}
