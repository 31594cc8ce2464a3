//! A request to a component waiting for work on the requester's own reactor is handed
//! over: the consumer runs at once, inside the requester's poll, and its reply is there
//! when the requester looks (issue: performance, request-reply on one reactor). The
//! hand-overs of one task run are bounded, so a requester that keeps asking still lets
//! the other tasks of its reactor run; requests to other reactors, chains of requests and
//! requests from outside any reactor behave as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reactree::prelude::*;

type Log = Arc<Mutex<Vec<String>>>;

fn note(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

/// Replies with its number plus one, after noting it.
struct Add(u64);
impl Message for Add {
    type Reply = u64;
}

/// Consumes `address`; with a `next`, asks it first (waiting up to `wait`) and adds to
/// its answer (to 0 if none came).
struct Adder {
    address: &'static str,
    next: Option<&'static str>,
    wait: Duration,
    log: Log,
}

impl Component for Adder {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Add>::new(self.address))?;
        Ok(())
    }
}

impl Handler<Add> for Adder {
    async fn handle(&mut self, Add(n): Add, ctx: &mut Context<Self>) -> u64 {
        note(&self.log, format!("{} handles", self.address));
        match self.next {
            Some(next) => {
                let next = Address::<Add>::new(next);
                let answer = ctx.bus().request_timeout(&next, Add(n), self.wait).await;
                answer.map_or(0, |m| m + 1)
            }
            None => n + 1,
        }
    }
}

fn adder(name: &str, address: &'static str, next: Option<&'static str>, log: &Log) -> ChildSpec {
    waiting_adder(name, address, next, Duration::from_secs(5), log)
}

fn waiting_adder(
    name: &str,
    address: &'static str,
    next: Option<&'static str>,
    wait: Duration,
    log: &Log,
) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new(name, move || Adder {
        address,
        next,
        wait,
        log: log.clone(),
    })
}

/// Orders its driver to run one of the scenarios below.
enum Scenario {
    /// Spawns a task, then asks `adder.one` once; replies once the task has run.
    QueuedTaskThenRequest,
    /// Asks `adder.one` this many times while a ticker task counts its own runs.
    ManyRequests(u64),
}
impl Message for Scenario {
    type Reply = usize;
}

const DRIVE: Address<Scenario> = Address::new("handover.driver");

struct Driver {
    log: Log,
}

impl Component for Driver {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&DRIVE)?;
        Ok(())
    }
}

impl Handler<Scenario> for Driver {
    async fn handle(&mut self, scenario: Scenario, ctx: &mut Context<Self>) -> usize {
        let one = Address::<Add>::new("adder.one");
        match scenario {
            Scenario::QueuedTaskThenRequest => {
                let log = self.log.clone();
                let (ran, has_run) = flume::bounded(1);
                ctx.spawn(async move {
                    note(&log, "queued task runs");
                    let _ = ran.send(());
                })
                .expect("room for a task");
                let answer = ctx.bus().request(&one, Add(1)).await;
                note(&self.log, format!("driver has {answer:?}"));
                let _ = has_run.recv_async().await;
                0
            }
            Scenario::ManyRequests(count) => {
                let ticks = Arc::new(AtomicUsize::new(0));
                let done = Arc::new(AtomicBool::new(false));
                let (t, d) = (ticks.clone(), done.clone());
                ctx.spawn(async move {
                    while !d.load(Ordering::Relaxed) {
                        t.fetch_add(1, Ordering::Relaxed);
                        futures_lite::future::yield_now().await;
                    }
                })
                .expect("room for a task");
                for i in 0..count {
                    assert_eq!(ctx.bus().request(&one, Add(i)).await.ok(), Some(i + 1));
                }
                done.store(true, Ordering::Relaxed);
                ticks.load(Ordering::Relaxed)
            }
        }
    }
}

/// A runtime of `reactors` with `specs` deployed, and `log` cleared of their starts.
fn running(reactors: usize, log: &Log, specs: Vec<ChildSpec>) -> Runtime {
    let runtime = Runtime::builder().reactors(reactors).build().unwrap();
    runtime.block_on(async {
        for spec in specs {
            runtime.deploy(spec).await.unwrap();
        }
    });
    log.lock().unwrap().clear();
    runtime
}

fn driver(log: &Log) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new("driver", move || Driver { log: log.clone() }).reactor(0)
}

#[test]
fn a_request_to_a_waiting_consumer_on_the_same_reactor_runs_before_tasks_queued_earlier() {
    let log = Log::default();
    let runtime = running(
        1,
        &log,
        vec![
            driver(&log),
            adder("one", "adder.one", None, &log).reactor(0),
        ],
    );
    runtime
        .block_on(
            runtime
                .bus()
                .request(&DRIVE, Scenario::QueuedTaskThenRequest),
        )
        .unwrap();
    // The task spawned first was queued first; the request was handled before it, and
    // its reply was there for the driver at once.
    assert_eq!(
        *log.lock().unwrap(),
        ["adder.one handles", "driver has Ok(2)", "queued task runs"]
    );
    runtime.shutdown();
}

#[test]
fn a_requester_that_keeps_asking_on_its_own_reactor_still_lets_its_other_tasks_run() {
    let log = Log::default();
    let runtime = running(
        1,
        &log,
        vec![
            driver(&log),
            adder("one", "adder.one", None, &log)
                .reactor(0)
                .instances(40),
        ],
    );
    // The 40 instances take turns: each handles 25 requests, fewer than the 64 an
    // instance handles before it yields, so only the driver's bound makes it wait.
    let ticks = runtime
        .block_on(runtime.bus().request(&DRIVE, Scenario::ManyRequests(1_000)))
        .unwrap();
    // A task run hands over at most 32 requests, then the driver waits its turn like
    // any task: the ticker ran between the batches. Unbounded, it would not have run.
    assert!(ticks >= 1_000 / 64, "the ticker ran {ticks} times");
    let stats = runtime
        .bus()
        .stats(&Address::<Add>::new("adder.one"))
        .unwrap();
    assert_eq!((stats.requested, stats.replied), (1_000, 1_000));
    runtime.shutdown();
}

#[test]
fn chains_of_requests_within_and_across_reactors_are_answered() {
    let log = Log::default();
    // a (reactor 0) asks b (reactor 0) asks c (reactor 1) asks d (reactor 1).
    let runtime = running(
        2,
        &log,
        vec![
            adder("a", "chain.a", Some("chain.b"), &log).reactor(0),
            adder("b", "chain.b", Some("chain.c"), &log).reactor(0),
            adder("c", "chain.c", Some("chain.d"), &log).reactor(1),
            adder("d", "chain.d", None, &log).reactor(1),
        ],
    );
    for n in 0..100 {
        let answer = runtime.block_on(
            runtime
                .bus()
                .request(&Address::<Add>::new("chain.a"), Add(n)),
        );
        assert_eq!(answer.ok(), Some(n + 4));
    }
    assert_eq!(log.lock().unwrap().len(), 400);
    runtime.shutdown();
}

#[test]
fn a_chain_deeper_than_the_hand_over_bound_is_answered() {
    let log = Log::default();
    // 100 components on one reactor, each asking the next: requests are handed over,
    // one run inside the other, up to the bound on nesting (8); past it, and past 32
    // hand-overs in one task run, they are queued as usual. Unbounded, a chain of 2,000
    // overflowed the reactor's stack.
    const DEPTH: usize = 100;
    let names: Vec<&'static str> = (0..DEPTH)
        .map(|i| &*Box::leak(format!("deep.{i}").into_boxed_str()))
        .collect();
    let specs = (0..DEPTH)
        .map(|i| {
            adder(
                &format!("deep-{i}"),
                names[i],
                names.get(i + 1).copied(),
                &log,
            )
        })
        .collect();
    let runtime = running(1, &log, specs);
    for n in 0..10 {
        let answer = runtime.block_on(
            runtime
                .bus()
                .request(&Address::<Add>::new("deep.0"), Add(n)),
        );
        assert_eq!(answer.ok(), Some(n + DEPTH as u64));
    }
    assert_eq!(log.lock().unwrap().len(), 10 * DEPTH);
    runtime.shutdown();
}

#[test]
fn a_cycle_of_requests_on_one_reactor_times_out_as_before_and_the_reactor_goes_on() {
    let log = Log::default();
    let wait = Duration::from_millis(100);
    let pong = waiting_adder("pong", "cycle.pong", Some("cycle.ping"), wait, &log);
    let runtime = running(
        1,
        &log,
        vec![adder("ping", "cycle.ping", Some("cycle.pong"), &log), pong],
    );
    // ping asks pong (handed over: pong runs inside ping's poll), pong asks ping, which
    // is running and so is only queued: each waits for the other until pong's request
    // times out (after 100 ms; ping's would after 5 s). Then pong answers 0 (no answer
    // came), ping answers 1 to the test, and sheds pong's request, expired.
    let ping = Address::<Add>::new("cycle.ping");
    let outcome = runtime.block_on(runtime.bus().request(&ping, Add(0)));
    assert_eq!(outcome.ok(), Some(1));
    let pong = runtime
        .bus()
        .stats(&Address::<Add>::new("cycle.pong"))
        .unwrap();
    assert_eq!((pong.requested, pong.replied), (1, 1));
    let ping = runtime.bus().stats(&ping).unwrap();
    // The request from outside, replied to, and pong's, which timed out.
    assert_eq!((ping.requested, ping.replied, ping.timed_out), (2, 1, 1));
    runtime.shutdown();
}
