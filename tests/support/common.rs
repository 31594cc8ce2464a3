//! Shared test fixtures: a scriptable component, thread counting and polling helpers.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactree::prelude::*;

/// A command for [`Probe`].
pub enum Cmd {
    /// Reply with the number.
    Echo(u64),
    /// Panic in the handler.
    Panic,
    /// Wait on the gate before replying (keeps the component busy without blocking).
    Hold(Gate),
    /// Reply with the handling thread's name.
    Thread,
    /// Reply with the request's correlation id.
    Correlation,
    /// Ask to stop normally.
    Stop,
    /// Ask to fail.
    Fail,
    /// Record the number in the log and reply.
    Record(u64),
}

impl Message for Cmd {
    type Reply = Reply;
}

/// The handler's side of a gate: it says when it is in, then waits for the release.
pub struct Gate {
    release: flume::Receiver<()>,
    entered: flume::Sender<()>,
}

impl Gate {
    /// Says the handler is in, then waits for the release.
    pub async fn pass(self) {
        let _ = self.entered.send(());
        let _ = self.release.recv_async().await;
    }
}

/// The test's side of a gate.
pub struct GateControl {
    release: flume::Sender<()>,
    entered: flume::Receiver<()>,
}

impl GateControl {
    /// Waits until the handler holding the gate has started.
    pub fn wait_entered(&self) {
        self.entered
            .recv_timeout(GENEROUS)
            .expect("the handler entered the gate");
    }

    /// Lets the handler finish.
    pub fn open(&self) {
        let _ = self.release.send(());
    }
}

/// A new gate.
pub fn gate() -> (GateControl, Gate) {
    let (release_tx, release_rx) = flume::unbounded();
    let (entered_tx, entered_rx) = flume::unbounded();
    (
        GateControl {
            release: release_tx,
            entered: entered_rx,
        },
        Gate {
            release: release_rx,
            entered: entered_tx,
        },
    )
}

/// What [`Probe`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Number(u64),
    Thread(String),
    Correlation(Option<u64>),
    Done,
}

/// A shared log of what probes did, in order.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

pub fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A scriptable component consuming `address`; it logs its lifecycle to `log`.
pub struct Probe {
    pub name: String,
    pub address: Address<Cmd>,
    pub log: Log,
    pub panic_in_start: bool,
    pub panic_in_stop: bool,
}

impl Probe {
    pub fn spec(name: &str, address: &'static str, log: &Log) -> ChildSpec {
        let (name, log) = (name.to_owned(), log.clone());
        ChildSpec::new(name.clone(), move || Probe {
            name: name.clone(),
            address: Address::new(address),
            log: log.clone(),
            panic_in_start: false,
            panic_in_stop: false,
        })
    }

    fn note(&self, what: &str) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {what}", self.name));
    }
}

impl Component for Probe {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if self.panic_in_start {
            panic!("start exploded");
        }
        ctx.consume(&self.address.clone())?;
        self.note("started");
        Ok(())
    }

    async fn stop(&mut self, _ctx: &mut Context<Self>) {
        self.note("stopped");
        if self.panic_in_stop {
            panic!("stop exploded");
        }
    }
}

impl Handler<Cmd> for Probe {
    async fn handle(&mut self, cmd: Cmd, ctx: &mut Context<Self>) -> Reply {
        match cmd {
            Cmd::Echo(n) => Reply::Number(n),
            Cmd::Panic => panic!("handler exploded"),
            Cmd::Hold(gate) => {
                gate.pass().await;
                Reply::Done
            }
            Cmd::Thread => Reply::Thread(std::thread::current().name().unwrap_or("").to_owned()),
            Cmd::Correlation => Reply::Correlation(ctx.correlation_id().map(|c| c.get())),
            Cmd::Stop => {
                ctx.stop();
                Reply::Done
            }
            Cmd::Fail => {
                ctx.fail("asked to fail");
                Reply::Done
            }
            Cmd::Record(n) => {
                self.note(&format!("got {n}"));
                Reply::Number(n)
            }
        }
    }
}

/// The number of OS threads of this process.
pub fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Threads: line")
}

/// Whether this process's thread count comes back to `count` within [`GENEROUS`]. A
/// joined thread leaves the count a moment after its join returns (the kernel wakes the
/// joiner as the thread exits, then reaps it), so a count read right after a shutdown
/// may still include it; a thread that never exits keeps the count up and fails this.
pub fn threads_settle_at(count: usize) -> bool {
    eventually(GENEROUS, || threads() == count)
}

/// Polls `condition` every millisecond until it holds or `within` passes.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts async-io's process-wide timer driver thread, which the first timer of the
/// process spawns once and keeps; thread-count baselines are taken after it.
pub fn warm_up_timers() {
    async_io::block_on(async_io::Timer::after(Duration::from_millis(1)));
}

/// Worker threads of the runtimes built by [`runtime`].
pub const TEST_POOL_THREADS: usize = 2;

/// A runtime with `n` reactors, a default pool of two threads, and the watchdog: `n + 3`
/// threads in all.
pub fn runtime(n: usize) -> Runtime {
    Runtime::builder()
        .reactors(n)
        .worker_pool(reactree::PoolConfig::new().threads(TEST_POOL_THREADS))
        .build()
        .expect("runtime")
}

/// The threads a runtime of `reactors` built by [`runtime`] owns.
pub fn runtime_threads(reactors: usize) -> usize {
    reactors + TEST_POOL_THREADS + 1
}

pub const GENEROUS: Duration = Duration::from_secs(10);
