//! reactree: components on reactors, the bus, mailboxes of 1024; the watchdog and the
//! inspector's counters on, as users get them. `-1`: two reactors, everything on
//! reactor 0; `-2`: producer or asker on reactor 0, consumer on reactor 1. The tell, ask
//! and fan-out go through a `Producer` (`Bus::sender`), as the peers send through their
//! actor references.

use std::time::{Duration, Instant};

use reactree::Handle;
use reactree::prelude::*;

use crate::{BOUND, CONSUMERS, FANOUT, Measured, SPAWN, TELL, rss};

struct Tick(u64);
impl Message for Tick {
    type Reply = ();
}

#[derive(Clone)]
struct Fan;
impl Message for Fan {
    type Reply = ();
}

struct Ping(u64);
impl Message for Ping {
    type Reply = u64;
}

/// Asks the driver to run the workload; replies with what it measured.
struct Go(&'static str);
impl Message for Go {
    type Reply = Measured;
}

const SINK: Address<Tick> = Address::new("compare.sink");
const FAN: Address<Fan> = Address::new("compare.fan");
const ECHO: Address<Ping> = Address::new("compare.echo");
const FLUSH: Address<Ping> = Address::new("compare.flush");
const DRIVER: Address<Go> = Address::new("compare.driver");

/// How long an idle reactor watches for a wake-up before parking under `-spin`: as the
/// `bus_round_trip` bench and the `idle_spin` example.
const SPIN: Duration = Duration::from_micros(50);

struct Sink(u64);
impl Component for Sink {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&SINK)?;
        ctx.consume(&FAN)?;
        ctx.consume(&ECHO)?;
        ctx.consume(&FLUSH)?;
        Ok(())
    }
}
impl Handler<Tick> for Sink {
    async fn handle(&mut self, Tick(n): Tick, _: &mut Context<Self>) {
        self.0 = self.0.wrapping_add(n);
    }
}
impl Handler<Fan> for Sink {
    async fn handle(&mut self, _: Fan, _: &mut Context<Self>) {
        self.0 += 1;
    }
}
impl Handler<Ping> for Sink {
    async fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self>) -> u64 {
        n
    }
}

struct Driver;
impl Component for Driver {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&DRIVER)?;
        Ok(())
    }
}
impl Handler<Go> for Driver {
    async fn handle(&mut self, Go(workload): Go, ctx: &mut Context<Self>) -> Measured {
        let bus = ctx.bus().clone();
        match workload {
            "spawn" | "spawn-warm" => {
                let runtime = ctx.runtime();
                crate::spawn_rounds(workload, async || spawn(runtime, Named).await).await
            }
            "spawn-anonymous" | "spawn-anonymous-warm" => {
                let runtime = ctx.runtime();
                crate::spawn_rounds(workload, async || spawn(runtime, Anonymous).await).await
            }
            "spawn-instances" | "spawn-instances-warm" => {
                let runtime = ctx.runtime();
                crate::spawn_rounds(workload, async || spawn_instances(runtime).await).await
            }
            "ask" => {
                let mut echo = bus.sender(&ECHO);
                crate::round_trips(async |i| {
                    let _ = echo.request(Ping(i)).await;
                })
                .await
            }
            "fanout8" => {
                let mut fan = bus.sender(&FAN);
                let start = Instant::now();
                for _ in 0..FANOUT {
                    let _ = fan.publish(Fan).await;
                }
                for _ in 0..CONSUMERS {
                    let _ = bus.request(&FLUSH, Ping(0)).await;
                }
                Measured::since(start, FANOUT * CONSUMERS as u64)
            }
            _ => {
                let mut sink = bus.sender(&SINK);
                let start = Instant::now();
                for i in 0..TELL {
                    let _ = sink.send(Tick(i)).await;
                }
                let _ = bus.request(&FLUSH, Ping(0)).await;
                Measured::since(start, TELL)
            }
        }
    }
}

struct Idle;
impl Component for Idle {}

pub(crate) fn run(workload: &str) -> Option<Measured> {
    // `ask-2-outside-poller`: `ask-2` under the opt-in `IdlePolicy::ParkOutsidePoller`;
    // `ask-2-spin`: under the opt-in `IdlePolicy::Spin(SPIN)`.
    let (workload, idle) = if let Some(workload) = workload.strip_suffix("-outside-poller") {
        (workload, reactree::IdlePolicy::ParkOutsidePoller)
    } else if let Some(workload) = workload.strip_suffix("-spin") {
        (workload, reactree::IdlePolicy::Spin(SPIN))
    } else {
        (workload, reactree::IdlePolicy::Park)
    };
    let runtime = Runtime::builder()
        .reactors(2)
        .mailbox_capacity(BOUND)
        .request_timeout(Duration::from_secs(600))
        .idle_policy(idle)
        .build()
        .ok()?;
    let measured = runtime.block_on(async {
        let target = if workload.ends_with("-2") { 1 } else { 0 };
        runtime
            .deploy(ChildSpec::new("driver", || Driver).reactor(0))
            .await
            .ok()?;
        let kind = match workload {
            "spawn" => "spawn",
            "spawn-warm" => "spawn-warm",
            "spawn-anonymous" => "spawn-anonymous",
            "spawn-anonymous-warm" => "spawn-anonymous-warm",
            "spawn-instances" => "spawn-instances",
            "spawn-instances-warm" => "spawn-instances-warm",
            "ask-1" | "ask-2" => "ask",
            "fanout8" => "fanout8",
            "tell-1" | "tell-2" => "tell",
            _ => return None,
        };
        // The message workloads need their consumers; the spawn ones deploy their own.
        if !kind.starts_with("spawn") {
            let sinks = if kind == "fanout8" {
                ChildSpec::new("sink", || Sink(0)).instances(CONSUMERS)
            } else {
                ChildSpec::new("sink", || Sink(0)).reactor(target)
            };
            runtime.deploy(sinks).await.ok()?;
        }
        runtime.bus().request(&DRIVER, Go(kind)).await.ok()
    });
    runtime.shutdown();
    measured
}

/// Deploys then undeploys one deployment of `SPAWN` idle components (`instances`) on
/// reactor 0, from the driver on reactor 0: the components without a request each.
async fn spawn_instances(runtime: &Handle) -> Measured {
    let before = rss();
    let start = Instant::now();
    let spec = ChildSpec::new("idle", || Idle).reactor(0).instances(SPAWN);
    let id = runtime.deploy(spec).await;
    let deployed = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    if let Ok(id) = id {
        let _ = runtime.undeploy(id).await;
    }
    Measured::spawned(deployed, start.elapsed(), per_actor)
}

/// Whether `spawn` names its components or deploys them anonymous.
#[derive(Clone, Copy)]
enum Naming {
    /// `idle-0`, `idle-1`, ...: names the caller makes, each claimed by the supervisor.
    Named,
    /// `ChildSpec::anonymous`: named by the supervisor, nothing claimed.
    Anonymous,
}
use Naming::{Anonymous, Named};

/// Deploys then undeploys `SPAWN` idle components on reactor 0, from the driver on
/// reactor 0 (the root supervisor's reactor), one after another.
async fn spawn(runtime: &Handle, naming: Naming) -> Measured {
    let before = rss();
    let start = Instant::now();
    let mut ids = Vec::with_capacity(SPAWN);
    for i in 0..SPAWN {
        let spec = match naming {
            Named => ChildSpec::new(format!("idle-{i}"), || Idle),
            Anonymous => ChildSpec::anonymous(|| Idle),
        }
        .reactor(0);
        if let Ok(id) = runtime.deploy(spec).await {
            ids.push(id);
        }
    }
    let deployed = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    for id in ids {
        let _ = runtime.undeploy(id).await;
    }
    Measured::spawned(deployed, start.elapsed(), per_actor)
}
