//! Bus hot paths: request-reply round trips and one-way sends.
//!
//! - `bus_request/same_reactor`: a driver component on reactor 0 makes sequential
//!   requests to an echo component on the same reactor; time per round trip.
//! - `bus_request/two_reactors`: the same with the echo on reactor 1 (each round trip
//!   crosses threads twice, so it includes two thread wake-ups).
//! - `bus_request/outside_thread`: the bench thread requests through the `Bus` handle to
//!   an echo on reactor 0.
//! - `bus_tell/same_reactor`, `bus_tell/two_reactors`: a driver sends small one-way
//!   messages (awaiting room) to a sink with a mailbox of 1024; time per message, ending
//!   when the sink has handled the last one.
//! - `bus_tell/outside_thread`: the bench thread sends through the `Bus` handle (awaiting
//!   room) to the sink on reactor 0, then flushes; time per message.
//! - `bus_tell/same_reactor_wide`: as `same_reactor`, with a message of four words: too
//!   large to be kept in place in its envelope, so it is boxed, one allocation per send
//!   (a `Tell` of one word is kept in place).
//! - `.../same_reactor_producer`: as `same_reactor`, through a `Producer`
//!   (`Bus::sender`), which keeps the address's route instead of looking it up per call.
//! - `.../same_reactor_without_watchdog`: the same-reactor cases on a runtime built
//!   `without_watchdog()`, to show what the blocked-thread watchdog costs the hot path.
//! - `.../two_reactors_spin`: the two-reactor cases with the opt-in idle policy
//!   `IdlePolicy::Spin(50 µs)`: an idle reactor watches for a wake-up before parking.
//! - `.../two_reactors_outside_poller`: the two-reactor cases with the opt-in idle policy
//!   `IdlePolicy::ParkOutsidePoller`: an idle reactor parks on its own futex, never in
//!   async-io's poller.
//!
//! Every other case runs with the watchdog on and the default idle policy (park), as
//! users get it.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reactree::IdlePolicy;
use reactree::prelude::*;

/// The spinning policy of the `_spin` cases.
const SPIN: IdlePolicy = IdlePolicy::Spin(Duration::from_micros(50));

struct Ping(u64);
impl Message for Ping {
    type Reply = u64;
}

struct Tell(u64);
impl Message for Tell {
    type Reply = ();
}

/// Four words: boxed in its envelope.
struct WideTell([u64; 4]);
impl Message for WideTell {
    type Reply = ();
}

/// What the driver runs.
#[derive(Clone, Copy)]
enum Mode {
    Ask,
    AskProducer,
    Tell,
    TellProducer,
    TellWide,
}

/// Asks the driver to run `n` iterations against the target; replies with the time taken.
struct Run {
    n: u64,
    mode: Mode,
}
impl Message for Run {
    type Reply = Duration;
}

const ECHO: Address<Ping> = Address::new("bench.echo");
const SINK: Address<Tell> = Address::new("bench.sink");
const WIDE_SINK: Address<WideTell> = Address::new("bench.wide_sink");
const FLUSH: Address<Ping> = Address::new("bench.flush");
const DRIVER: Address<Run> = Address::new("bench.driver");

struct Echo;
impl Component for Echo {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&ECHO)?;
        Ok(())
    }
}
impl Handler<Ping> for Echo {
    async fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self>) -> u64 {
        n
    }
}

struct Sink {
    seen: u64,
}
impl Component for Sink {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&SINK)?;
        ctx.consume(&WIDE_SINK)?;
        ctx.consume(&FLUSH)?;
        Ok(())
    }
}
impl Handler<Tell> for Sink {
    async fn handle(&mut self, Tell(n): Tell, _: &mut Context<Self>) {
        self.seen = self.seen.wrapping_add(n);
    }
}
impl Handler<WideTell> for Sink {
    async fn handle(&mut self, WideTell(words): WideTell, _: &mut Context<Self>) {
        self.seen = self.seen.wrapping_add(words[3]);
    }
}
impl Handler<Ping> for Sink {
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> u64 {
        self.seen
    }
}

struct Driver;
impl Component for Driver {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&DRIVER)?;
        Ok(())
    }
}
impl Handler<Run> for Driver {
    async fn handle(&mut self, run: Run, ctx: &mut Context<Self>) -> Duration {
        let bus = ctx.bus().clone();
        let start = Instant::now();
        match run.mode {
            Mode::Tell => {
                for i in 0..run.n {
                    bus.send(&SINK, Tell(i)).await.expect("sink");
                }
            }
            Mode::TellProducer => {
                let mut sink = bus.sender(&SINK);
                for i in 0..run.n {
                    sink.send(Tell(i)).await.expect("sink");
                }
            }
            Mode::TellWide => {
                for i in 0..run.n {
                    bus.send(&WIDE_SINK, WideTell([i; 4])).await.expect("sink");
                }
            }
            Mode::AskProducer => {
                let mut echo = bus.sender(&ECHO);
                for i in 0..run.n {
                    let reply = echo.request(Ping(i)).await.expect("echo");
                    assert_eq!(reply, i);
                }
            }
            Mode::Ask => {
                for i in 0..run.n {
                    let reply = bus.request(&ECHO, Ping(i)).await.expect("echo");
                    assert_eq!(reply, i);
                }
            }
        }
        if !matches!(run.mode, Mode::Ask | Mode::AskProducer) {
            // Sent after every tell by the same sender: handled after all of them.
            bus.request(&FLUSH, Ping(0)).await.expect("flush");
        }
        start.elapsed()
    }
}

/// A runtime of two reactors with the driver on 0 and the targets on `target`.
fn setup(target: usize, watchdog: bool, idle: IdlePolicy) -> Runtime {
    let builder = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .idle_policy(idle);
    let builder = if watchdog {
        builder
    } else {
        builder.without_watchdog()
    };
    let runtime = builder.build().expect("runtime");
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("driver", || Driver).reactor(0))
            .await
            .unwrap();
        runtime
            .deploy(ChildSpec::new("echo", || Echo).reactor(target))
            .await
            .unwrap();
        runtime
            .deploy(
                ChildSpec::new("sink", || Sink { seen: 0 })
                    .reactor(target)
                    .mailbox_capacity(1024),
            )
            .await
            .unwrap();
    });
    runtime
}

fn driven(c: &mut Criterion, group: &str, mode: Mode) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let park = IdlePolicy::Park;
    let mut cases = vec![
        ("same_reactor", 0, true, park, mode),
        ("same_reactor_without_watchdog", 0, false, park, mode),
        ("two_reactors", 1, true, park, mode),
        ("two_reactors_spin", 1, true, SPIN, mode),
        (
            "two_reactors_outside_poller",
            1,
            true,
            IdlePolicy::ParkOutsidePoller,
            mode,
        ),
    ];
    match mode {
        Mode::Tell => {
            cases.push(("same_reactor_producer", 0, true, park, Mode::TellProducer));
            cases.push(("same_reactor_wide", 0, true, park, Mode::TellWide));
        }
        Mode::Ask => cases.push(("same_reactor_producer", 0, true, park, Mode::AskProducer)),
        _ => {}
    }
    for (name, target, watchdog, idle, mode) in cases {
        let runtime = setup(target, watchdog, idle);
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                runtime
                    .block_on(runtime.bus().request_timeout(
                        &DRIVER,
                        Run { n, mode },
                        Duration::from_secs(600),
                    ))
                    .expect("driver")
            })
        });
        runtime.shutdown();
    }
    g.finish();
}

fn bus_request(c: &mut Criterion) {
    driven(c, "bus_request", Mode::Ask);
    let runtime = setup(0, true, IdlePolicy::Park);
    let mut g = c.benchmark_group("bus_request");
    g.throughput(Throughput::Elements(1));
    g.bench_function("outside_thread", |b| {
        let bus = runtime.bus().clone();
        b.iter(|| runtime.block_on(bus.request(&ECHO, Ping(1))).expect("echo"))
    });
    g.finish();
    runtime.shutdown();
}

fn bus_tell(c: &mut Criterion) {
    driven(c, "bus_tell", Mode::Tell);
    let runtime = setup(0, true, IdlePolicy::Park);
    let mut g = c.benchmark_group("bus_tell");
    g.throughput(Throughput::Elements(1));
    g.bench_function("outside_thread", |b| {
        let bus = runtime.bus().clone();
        b.iter_custom(|n| {
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..n {
                    bus.send(&SINK, Tell(i)).await.expect("sink");
                }
                bus.request(&FLUSH, Ping(0)).await.expect("flush");
                start.elapsed()
            })
        })
    });
    g.finish();
    runtime.shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bus_request, bus_tell
}
criterion_main!(benches);
