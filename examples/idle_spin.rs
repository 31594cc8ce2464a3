//! What the opt-in reactor idle policies buy and cost: request-reply round trips across
//! two reactors, parked (the default), parked outside async-io's poller, and spinning
//! for 50 µs before parking.
//!
//! For each policy it prints the round trip's p50 / p99 latency and the process's CPU
//! use (user + system time from `/proc/self/stat`, as cores busy) while traffic flows,
//! then during one idle second.
//!
//! Execute with `cargo run --release --example idle_spin [round_trips]`.

use std::time::{Duration, Instant};

use reactree::prelude::*;
use reactree::{IdlePolicy, PoolConfig};

struct Ping(u64);
impl Message for Ping {
    type Reply = u64;
}

/// Asks the asker to run this many sequential round trips; replies with each one's time.
struct Run(usize);
impl Message for Run {
    type Reply = Vec<Duration>;
}

const ECHO: Address<Ping> = Address::new("spin.echo");
const ASKER: Address<Run> = Address::new("spin.asker");

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

struct Asker;
impl Component for Asker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&ASKER)?;
        Ok(())
    }
}
impl Handler<Run> for Asker {
    async fn handle(&mut self, Run(n): Run, ctx: &mut Context<Self>) -> Vec<Duration> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let start = Instant::now();
            let _ = ctx.bus().request(&ECHO, Ping(i)).await;
            times.push(start.elapsed());
        }
        times
    }
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime is the 14th
    // field of the line, stime the 15th, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn cores_busy(cpu: Duration, wall: Duration) -> f64 {
    cpu.as_secs_f64() / wall.as_secs_f64()
}

fn measure(policy: IdlePolicy, round_trips: usize) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(PoolConfig::new().threads(1))
        .idle_policy(policy)
        .build()?;
    runtime.block_on(async {
        runtime
            .deploy(ChildSpec::new("asker", || Asker).reactor(0))
            .await?;
        runtime
            .deploy(ChildSpec::new("echo", || Echo).reactor(1))
            .await?;
        Ok::<_, DeployError>(())
    })?;
    // Warm up, then measure.
    runtime.block_on(runtime.bus().request(&ASKER, Run(1000)))?;
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut times = runtime.block_on(runtime.bus().request_timeout(
        &ASKER,
        Run(round_trips),
        Duration::from_secs(600),
    ))?;
    let busy = cores_busy(cpu_time() - cpu, wall.elapsed());
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let (cpu, wall) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let idle = cores_busy(cpu_time() - cpu, wall.elapsed());
    println!(
        "{:<22} p50 {:>9.2?}  p99 {:>9.2?}  cores busy: {busy:.2} with traffic, {idle:.2} idle",
        format!("{policy:?}"),
        at(0.5),
        at(0.99),
    );
    runtime.shutdown();
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let round_trips = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    println!("{round_trips} sequential round trips from reactor 0 to reactor 1:");
    measure(IdlePolicy::Park, round_trips)?;
    measure(IdlePolicy::ParkOutsidePoller, round_trips)?;
    measure(IdlePolicy::Spin(Duration::from_micros(50)), round_trips)?;
    Ok(())
}
