//! Tasks a component spawns on its reactor (`Context::spawn`): they run on the
//! component's reactor beside its handlers, end with the incarnation that spawned them,
//! and a panic in one fails the component, which its supervisor restarts.

#[path = "support/common.rs"]
mod common;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{Hook, TaskId};

struct Poke;
impl Message for Poke {
    type Reply = usize;
}

struct Blow;
impl Message for Blow {
    type Reply = ();
}

const POKE: Address<Poke> = Address::new("tasks.poke");
const BLOW: Address<Blow> = Address::new("tasks.blow");

/// Spawns a ticker task at start that counts into `ticks` (shared with the handler
/// through an `Rc`, since the task stays on the reactor), and a task per `Blow` that
/// panics.
struct Spawner {
    starts: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<String>>>,
    ticks: Rc<std::cell::Cell<usize>>,
    alive: Arc<AtomicUsize>,
    ticker: Option<TaskId>,
}

/// Counts live task futures: incremented when built, decremented when dropped.
struct Alive(Arc<AtomicUsize>);
impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Component for Spawner {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        ctx.consume(&POKE)?;
        ctx.consume(&BLOW)?;
        let ticks = self.ticks.clone();
        let threads = self.threads.clone();
        self.alive.fetch_add(1, Ordering::SeqCst);
        let alive = Alive(self.alive.clone());
        self.ticker = Some(ctx.spawn(async move {
            let _alive = alive;
            threads
                .lock()
                .unwrap()
                .push(std::thread::current().name().unwrap_or("").to_owned());
            loop {
                ticks.set(ticks.get() + 1);
                async_io::Timer::after(Duration::from_millis(1)).await;
            }
        })?);
        Ok(())
    }
}

impl Handler<Poke> for Spawner {
    async fn handle(&mut self, _: Poke, ctx: &mut Context<Self>) -> usize {
        assert_eq!(ctx.task_count(), 1);
        self.ticks.get()
    }
}

impl Handler<Blow> for Spawner {
    async fn handle(&mut self, _: Blow, ctx: &mut Context<Self>) {
        ctx.spawn(async {
            futures_lite::future::yield_now().await;
            panic!("task boom");
        })
        .unwrap();
    }
}

struct Counters {
    starts: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<String>>>,
    alive: Arc<AtomicUsize>,
}

fn spawner() -> (ChildSpec, Counters) {
    let counters = Counters {
        starts: Arc::default(),
        threads: Arc::default(),
        alive: Arc::default(),
    };
    let (starts, threads, alive) = (
        counters.starts.clone(),
        counters.threads.clone(),
        counters.alive.clone(),
    );
    let spec = ChildSpec::new("spawner", move || Spawner {
        starts: starts.clone(),
        threads: threads.clone(),
        ticks: Rc::default(),
        alive: alive.clone(),
        ticker: None,
    })
    .reactor(1);
    (spec, counters)
}

fn poke(runtime: &Runtime) -> Option<usize> {
    runtime.block_on(runtime.bus().request(&POKE, Poke)).ok()
}

#[test]
fn a_task_runs_on_the_components_reactor_beside_its_handlers() {
    let runtime = runtime(2);
    let (spec, counters) = spawner();
    runtime.block_on(runtime.deploy(spec)).unwrap();
    assert!(eventually(GENEROUS, || poke(&runtime).is_some_and(|t| t >= 5)));
    assert_eq!(
        *counters.threads.lock().unwrap(),
        vec!["reactree-reactor-1".to_owned()]
    );
    runtime.shutdown();
}

#[test]
fn tasks_are_dropped_when_the_component_is_undeployed() {
    let runtime = runtime(2);
    let (spec, counters) = spawner();
    let id = runtime.block_on(runtime.deploy(spec)).unwrap();
    assert!(eventually(GENEROUS, || poke(&runtime).is_some_and(|t| t >= 1)));
    assert_eq!(counters.alive.load(Ordering::SeqCst), 1);
    runtime.block_on(runtime.undeploy(id)).unwrap();
    assert!(eventually(GENEROUS, || counters
        .alive
        .load(Ordering::SeqCst)
        == 0));
    runtime.shutdown();
}

#[test]
fn a_panicking_task_fails_the_component_and_its_supervisor_restarts_it() {
    let runtime = runtime(2);
    let (spec, counters) = spawner();
    runtime.block_on(runtime.deploy(spec)).unwrap();
    runtime
        .block_on(runtime.bus().request(&BLOW, Blow))
        .unwrap();
    assert!(eventually(GENEROUS, || counters
        .starts
        .load(Ordering::SeqCst)
        == 2));
    // The first incarnation's ticker went with it; the new one runs its own.
    assert!(eventually(GENEROUS, || counters
        .alive
        .load(Ordering::SeqCst)
        == 1));
    assert!(eventually(GENEROUS, || poke(&runtime).is_some()));
    let snapshot = runtime.handle().inspect();
    let spawner = snapshot
        .components
        .iter()
        .find(|c| c.name == "spawner")
        .unwrap();
    assert_eq!(spawner.failures, 1);
    assert_eq!(spawner.restarts, 1);
    let failure = spawner.last_failure.clone().unwrap();
    assert!(failure.contains("task boom"), "{failure}");
    assert!(failure.contains(&Hook::Task.to_string()), "{failure}");
    runtime.shutdown();
}

/// Spawns `n` tasks that wait for ever, each holding an [`Alive`]; replies with their ids.
struct SpawnMany(usize);
impl Message for SpawnMany {
    type Reply = Vec<TaskId>;
}

/// Spawns a task that ends at once; replies with its id.
struct SpawnDone;
impl Message for SpawnDone {
    type Reply = TaskId;
}

/// Cancels a task; replies with what `cancel_task` returned and the tasks left running.
struct Cancel(TaskId);
impl Message for Cancel {
    type Reply = (bool, usize);
}

const SPAWN_MANY: Address<SpawnMany> = Address::new("tasks.spawn_many");
const SPAWN_DONE: Address<SpawnDone> = Address::new("tasks.spawn_done");
const CANCEL: Address<Cancel> = Address::new("tasks.cancel");

struct Canceller(Arc<AtomicUsize>);
impl Component for Canceller {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&SPAWN_MANY)?;
        ctx.consume(&SPAWN_DONE)?;
        ctx.consume(&CANCEL)?;
        Ok(())
    }
}
impl Handler<SpawnMany> for Canceller {
    async fn handle(&mut self, SpawnMany(n): SpawnMany, ctx: &mut Context<Self>) -> Vec<TaskId> {
        (0..n)
            .map(|_| {
                self.0.fetch_add(1, Ordering::SeqCst);
                let alive = Alive(self.0.clone());
                ctx.spawn(async move {
                    let _alive = alive;
                    futures_lite::future::pending::<()>().await;
                })
                .unwrap()
            })
            .collect()
    }
}
impl Handler<SpawnDone> for Canceller {
    async fn handle(&mut self, _: SpawnDone, ctx: &mut Context<Self>) -> TaskId {
        ctx.spawn(async {}).unwrap()
    }
}
impl Handler<Cancel> for Canceller {
    async fn handle(&mut self, Cancel(id): Cancel, ctx: &mut Context<Self>) -> (bool, usize) {
        (ctx.cancel_task(id), ctx.task_count())
    }
}

/// Cancelling a task drops it and is reported once: a task cancelled before, or one
/// that has finished, reports `false`. Many tasks cancelled in a scattered order each
/// go, and the count follows; tasks spawned after the cancels (which prune the list)
/// are counted and cancelled the same way.
#[test]
fn cancelled_tasks_are_dropped_and_reported_once() {
    let runtime = runtime(2);
    let alive = Arc::new(AtomicUsize::new(0));
    let counter = alive.clone();
    let spec = ChildSpec::new("canceller", move || Canceller(counter.clone())).reactor(1);
    runtime.block_on(runtime.deploy(spec)).unwrap();
    let ask = |message| {
        runtime
            .block_on(runtime.bus().request(&CANCEL, message))
            .unwrap()
    };

    let ids = runtime
        .block_on(runtime.bus().request(&SPAWN_MANY, SpawnMany(100)))
        .unwrap();
    assert_eq!(alive.load(Ordering::SeqCst), 100);
    // 7 is prime to 100: every task once, scattered.
    for step in 0..100 {
        let id = ids[(step * 7) % 100];
        assert_eq!(ask(Cancel(id)), (true, 99 - step), "step {step}");
    }
    assert!(eventually(GENEROUS, || alive.load(Ordering::SeqCst) == 0));
    assert_eq!(ask(Cancel(ids[42])), (false, 0));

    let done = runtime
        .block_on(runtime.bus().request(&SPAWN_DONE, SpawnDone))
        .unwrap();
    assert!(eventually(GENEROUS, || ask(Cancel(ids[0])).1 == 0));
    assert_eq!(ask(Cancel(done)), (false, 0));

    let more = runtime
        .block_on(runtime.bus().request(&SPAWN_MANY, SpawnMany(20)))
        .unwrap();
    assert_eq!(ask(Cancel(ids[7])), (false, 20));
    assert_eq!(ask(Cancel(more[10])), (true, 19));
    assert_eq!(ask(Cancel(more[10])), (false, 19));
    assert!(eventually(GENEROUS, || alive.load(Ordering::SeqCst) == 19));
    runtime.shutdown();
}
