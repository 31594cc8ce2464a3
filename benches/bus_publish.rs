//! One-to-many delivery: `bus_publish/8_consumers` has a publisher component on reactor 0
//! publish small messages to 8 consumers spread over two reactors (mailboxes of 1024,
//! awaiting room); throughput counts deliveries. `bus_send_round_robin/100_consumers`
//! has it `send` to one address with 100 consumers on both reactors, round-robin.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reactree::prelude::*;

#[derive(Clone)]
struct Tick;
impl Message for Tick {
    type Reply = ();
}

/// Asks a consumer how many ticks it has seen (sent after the ticks, so handled after).
struct Count;
impl Message for Count {
    type Reply = u64;
}

struct Run {
    n: u64,
    publish: bool,
}
impl Message for Run {
    type Reply = Duration;
}

const TICKS: Address<Tick> = Address::new("bench.ticks");
const COUNT: Address<Count> = Address::new("bench.count");
const DRIVER: Address<Run> = Address::new("bench.publisher");

struct Consumer {
    seen: u64,
}
impl Component for Consumer {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&TICKS)?;
        ctx.consume(&COUNT)?;
        Ok(())
    }
}
impl Handler<Tick> for Consumer {
    async fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        self.seen += 1;
    }
}
impl Handler<Count> for Consumer {
    async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> u64 {
        self.seen
    }
}

struct Publisher;
impl Component for Publisher {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&DRIVER)?;
        Ok(())
    }
}
impl Handler<Run> for Publisher {
    async fn handle(&mut self, run: Run, ctx: &mut Context<Self>) -> Duration {
        let bus = ctx.bus().clone();
        let start = Instant::now();
        for _ in 0..run.n {
            if run.publish {
                bus.publish(&TICKS, Tick).await.expect("consumers");
            } else {
                bus.send(&TICKS, Tick).await.expect("consumers");
            }
        }
        // One request per consumer (round-robin): each answers after the ticks it got.
        let consumers = bus.consumers(&COUNT);
        for _ in 0..consumers {
            bus.request(&COUNT, Count).await.expect("count");
        }
        start.elapsed()
    }
}

fn setup(consumers: usize) -> Runtime {
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .build()
        .expect("runtime");
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("publisher", || Publisher).reactor(0))
            .await
            .unwrap();
        runtime
            .deploy(
                ChildSpec::new("consumer", || Consumer { seen: 0 })
                    .instances(consumers)
                    .mailbox_capacity(1024),
            )
            .await
            .unwrap();
    });
    runtime
}

fn driven(c: &mut Criterion, group: &str, name: &str, consumers: usize, publish: bool) {
    let runtime = setup(consumers);
    let mut g = c.benchmark_group(group);
    let per_message = if publish { consumers as u64 } else { 1 };
    g.throughput(Throughput::Elements(per_message));
    g.bench_function(name, |b| {
        b.iter_custom(|n| {
            runtime
                .block_on(runtime.bus().request_timeout(
                    &DRIVER,
                    Run { n, publish },
                    Duration::from_secs(600),
                ))
                .expect("publisher")
        })
    });
    g.finish();
    runtime.shutdown();
}

fn bus_publish(c: &mut Criterion) {
    driven(c, "bus_publish", "8_consumers", 8, true);
}

fn bus_send_round_robin(c: &mut Criterion) {
    driven(c, "bus_send_round_robin", "100_consumers", 100, false);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bus_publish, bus_send_round_robin
}
criterion_main!(benches);
