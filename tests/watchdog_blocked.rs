//! The blocked-thread watchdog: a handler that blocks its reactor past the threshold is
//! reported with its component's name, repeatedly while it stays blocked, and counted; a
//! busy workload that never blocks (short handlers, long awaits) is never reported; a
//! worker job past its pool's long-job threshold is reported (issue: worker pools and the
//! blocked-reactor watchdog). It installs a global tracing subscriber, so its tests share
//! one capture and look only at events about their own components.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reactree::PoolConfig;
use reactree::prelude::*;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

/// Every warning, as its fields rendered `name=value`.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Render(String);
impl Visit for Render {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut render = Render(String::new());
            event.record(&mut render);
            self.0.lock().unwrap().push(render.0);
        }
    }
}

fn warnings() -> &'static Warnings {
    static CAPTURE: OnceLock<Warnings> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Warnings::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(capture.clone()),
        )
        .expect("one global subscriber");
        capture
    })
}

fn about(component: &str) -> Vec<String> {
    warnings()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains(&format!("component={component}#")))
        .cloned()
        .collect()
}

/// Asserts that `component` was reported blocked, each time while running `hook`.
fn reported_only_as(component: &str, hook: &str) {
    let reports = about(component);
    assert!(
        !reports.is_empty(),
        "{component}'s blocking {hook} was not reported"
    );
    let running = format!("running={hook}");
    assert!(reports.iter().all(|w| w.contains(&running)), "{reports:?}");
}

struct Work {
    block: Duration,
    wait: Duration,
}
impl Message for Work {
    type Reply = ();
}

struct Worker;
impl Component for Worker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let address = Address::<Work>::from_string(format!("watchdog.{}", ctx.name()));
        ctx.consume(&address)?;
        Ok(())
    }
}
impl Handler<Work> for Worker {
    async fn handle(&mut self, work: Work, _: &mut Context<Self>) {
        // Blocking the reactor (what the watchdog is for) ...
        std::thread::sleep(work.block);
        // ... and awaiting, which is not blocking.
        if !work.wait.is_zero() {
            async_io::Timer::after(work.wait).await;
        }
    }
}

fn runtime_with_watchdog() -> Runtime {
    Runtime::builder()
        .reactors(1)
        .worker_pool(
            PoolConfig::new()
                .threads(1)
                .long_job_threshold(Duration::from_millis(50)),
        )
        .blocked_threshold(Duration::from_millis(50))
        .build()
        .unwrap()
}

#[test]
fn a_blocking_handler_is_reported_with_its_component() {
    warnings();
    let runtime = runtime_with_watchdog();
    let id = runtime
        .block_on(runtime.deploy(ChildSpec::new("sleepy", || Worker)))
        .unwrap();
    let address = Address::<Work>::new("watchdog.sleepy");
    let work = Work {
        block: Duration::from_millis(400),
        wait: Duration::ZERO,
    };
    runtime
        .block_on(runtime.bus().request(&address, work))
        .unwrap();
    let reports = about("sleepy");
    assert!(!reports.is_empty(), "no report naming the component");
    assert!(reports[0].contains("running=handler"), "{reports:?}");
    assert!(reports[0].contains("reactor=0"), "{reports:?}");
    // Repeated at the check interval while it stayed blocked (400 ms against 50 ms).
    assert!(reports.len() >= 2, "{reports:?}");
    let reactor = &runtime.handle().inspect().reactors[0];
    assert_eq!(reactor.blocked_events, 1, "one blocked episode");
    assert!(reactor.longest_block_ms >= 50, "{reactor:?}");
    assert_eq!(
        runtime.handle().deployment(id).unwrap().instances[0].blocked,
        1
    );
}

#[test]
fn a_busy_workload_that_never_blocks_is_not_reported() {
    warnings();
    let runtime = runtime_with_watchdog();
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("busy", || Worker))
            .await
            .unwrap();
        let address = Address::<Work>::new("watchdog.busy");
        // Long awaits hold the component, not the reactor.
        let waits: Vec<_> = (0..3)
            .map(|_| {
                runtime.bus().request(
                    &address,
                    Work {
                        block: Duration::ZERO,
                        wait: Duration::from_millis(150),
                    },
                )
            })
            .collect();
        // Many short handlers keep the reactor busy for a while.
        for _ in 0..20_000 {
            runtime
                .bus()
                .send(
                    &address,
                    Work {
                        block: Duration::from_micros(5),
                        wait: Duration::ZERO,
                    },
                )
                .await
                .unwrap();
        }
        for w in waits {
            w.await.unwrap();
        }
    });
    assert_eq!(about("busy"), Vec::<String>::new());
    assert_eq!(runtime.handle().inspect().reactors[0].blocked_events, 0);
}

#[test]
fn a_long_worker_job_is_reported() {
    warnings();
    let runtime = runtime_with_watchdog();
    let pool = runtime.handle().worker_pool().clone();
    runtime
        .block_on(pool.execute_fn(|| std::thread::sleep(Duration::from_millis(300))))
        .unwrap();
    let reports: Vec<String> = warnings()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains("reactree-worker-default-0") && w.contains("long-job"))
        .cloned()
        .collect();
    assert!(!reports.is_empty(), "the long job was not reported");
}

/// A component whose `start` blocks the thread.
struct SlowStart(Duration);
impl Component for SlowStart {
    async fn start(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

struct Deploy;
impl Message for Deploy {
    type Reply = ();
}

/// Deploys a `SlowStart` from its handler, then blocks the thread itself.
struct Deployer;
impl Component for Deployer {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Deploy>::new("watchdog.deployer"))?;
        Ok(())
    }
}
impl Handler<Deploy> for Deployer {
    async fn handle(&mut self, _: Deploy, ctx: &mut Context<Self>) {
        let spec = ChildSpec::new("slow-start", || SlowStart(Duration::from_millis(300)));
        ctx.runtime().deploy(spec).await.unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A deploy from a handler on the supervisor's reactor is handled inside the handler's
/// poll; the watchdog still names whose code blocks: the new instance's `start`, then
/// the handler again once the deploy is done.
#[test]
fn a_start_blocking_inside_a_deploying_handler_is_reported_as_the_start() {
    warnings();
    let runtime = runtime_with_watchdog();
    runtime
        .block_on(runtime.deploy(ChildSpec::new("deployer", || Deployer)))
        .unwrap();
    runtime
        .block_on(
            runtime
                .bus()
                .request(&Address::new("watchdog.deployer"), Deploy),
        )
        .unwrap();
    reported_only_as("slow-start", "start");
    reported_only_as("deployer", "handler");
}

struct Ask;
impl Message for Ask {
    type Reply = ();
}

/// Asks the blocking `Worker` at `watchdog.handed-sleepy`, on its own reactor.
struct Asker;
impl Component for Asker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Ask>::new("watchdog.asker"))?;
        Ok(())
    }
}
impl Handler<Ask> for Asker {
    async fn handle(&mut self, _: Ask, ctx: &mut Context<Self>) {
        let work = Work {
            block: Duration::from_millis(300),
            wait: Duration::ZERO,
        };
        let address = Address::<Work>::new("watchdog.handed-sleepy");
        ctx.bus().request(&address, work).await.unwrap();
    }
}

/// A request to a component waiting on the requester's reactor is handled inside the
/// requester's poll; the watchdog names the handler that blocks, not the requester.
#[test]
fn a_handler_blocking_inside_its_requesters_poll_is_reported_not_the_requester() {
    warnings();
    let runtime = runtime_with_watchdog();
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("handed-sleepy", || Worker))
            .await
            .unwrap();
        runtime
            .deploy(ChildSpec::new("asker", || Asker))
            .await
            .unwrap();
    });
    runtime
        .block_on(runtime.bus().request(&Address::new("watchdog.asker"), Ask))
        .unwrap();
    reported_only_as("handed-sleepy", "handler");
    assert!(about("asker").is_empty(), "{:?}", about("asker"));
}

/// Sent to the echo on reactor 1: it answers on a plain channel.
struct Signal(std::sync::mpsc::Sender<()>);
impl Message for Signal {
    type Reply = ();
}

/// Asks the blocker on reactor 0 to signal the echo, then block waiting for its answer.
struct SignalAndWait;
impl Message for SignalAndWait {
    type Reply = bool;
}

const SIGNALS: Address<Signal> = Address::new("watchdog.signal");
const BLOCKERS: Address<SignalAndWait> = Address::new("watchdog.signal_and_wait");

struct Echo;
impl Component for Echo {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&SIGNALS)?;
        Ok(())
    }
}
impl Handler<Signal> for Echo {
    async fn handle(&mut self, Signal(answer): Signal, _: &mut Context<Self>) {
        let _ = answer.send(());
    }
}

struct Blocker;
impl Component for Blocker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&BLOCKERS)?;
        Ok(())
    }
}
impl Handler<SignalAndWait> for Blocker {
    async fn handle(&mut self, _: SignalAndWait, ctx: &mut Context<Self>) -> bool {
        let (answer, answered) = std::sync::mpsc::channel();
        ctx.bus().try_send(&SIGNALS, Signal(answer)).unwrap();
        // Blocks its reactor waiting on another one (what nobody should do): the wake-up
        // of reactor 1 waits for this poll to end, so the watchdog sends it.
        answered.recv_timeout(Duration::from_secs(30)).is_ok()
    }
}

#[test]
fn a_handler_blocking_on_another_reactor_is_not_left_waiting_for_ever() {
    warnings();
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(PoolConfig::new().threads(1))
        .blocked_threshold(Duration::from_millis(100))
        .build()
        .unwrap();
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("signal-echo", || Echo).reactor(1))
            .await
            .unwrap();
        runtime
            .deploy(ChildSpec::new("signal-blocker", || Blocker).reactor(0))
            .await
            .unwrap();
        // Reactor 1 has gone idle: its echo waits for a message.
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let answered = runtime.bus().request(&BLOCKERS, SignalAndWait).await;
        assert_eq!(answered.ok(), Some(true), "the echo never answered");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    });
}
