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
