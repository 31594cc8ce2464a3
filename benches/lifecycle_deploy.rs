//! Deployment churn and restarts:
//! - `lifecycle_deploy/deploy_undeploy`: from the bench thread, deploy one component under
//!   the root supervisor (which starts it on a reactor and waits for its `start`) then
//!   undeploy it: two round trips across threads each time;
//! - `lifecycle_deploy/deploy_undeploy_on_root_reactor`: the same, one component at a
//!   time, asked by a component on the root supervisor's reactor (reactor 0) and placed
//!   there: each is done in the asking poll, on the supervisor's records, so this is
//!   the runtime's own cost of a deploy and an undeploy, with no request and no thread
//!   wake-up in it (the comparison's `spawn` workload, warm, with one child alive at a
//!   time: nothing faulted in, and its memory still in the caches);
//! - `lifecycle_deploy/deploy_undeploy_anonymous_on_root_reactor`: the same with
//!   `ChildSpec::anonymous`: no name made by the caller, none claimed by the supervisor;
//! - `lifecycle_deploy/one_deployment_of_10000`: the same place, one deployment of
//!   10,000 instances (`ChildSpec::instances`) deployed, then undeployed: reported per
//!   instance (elements/s), the runtime's cost of a component without a deploy of its
//!   own;
//! - `lifecycle_deploy/one_address_10000_consumers`: the same, each instance consuming
//!   one address they all share (a registration per instance, in one list);
//! - `lifecycle_deploy/undeploy_10000_in_random_order`: the same place, 10,000 components
//!   deployed one at a time (not timed), then undeployed one at a time in a shuffled
//!   order (timed; a fixed seed): most undeploys take a child from the middle of the
//!   supervisor's children, not from an end; reported per component;
//! - `supervision_restart/panic_to_next_message`: time from a request whose handler
//!   panics to the restarted instance (no backoff) answering the next request;
//! - `supervision_restart/storm_of_10000_with_backoff`: a deployment of 10,000 instances
//!   under a one-for-one root with a long backoff, all panicking on one publish: the time
//!   until every failure is handled (each restart planned), then the deployment
//!   undeployed while the restarts wait; reported per instance.
//!
//! Before the timed benches it prints the memory of an idle component: the growth of
//! the resident set (`/proc/self/status`) with 20,000 idle components deployed, per
//! component. (criterion times; it does not weigh, so this is printed, not tracked.)

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use reactree::Intensity;
use reactree::prelude::*;

#[derive(Clone)]
enum Cmd {
    Panic,
    Ping,
}
impl Message for Cmd {
    type Reply = ();
}

const TARGET: Address<Cmd> = Address::new("bench.target");

/// Consumes its address (one of its own, or one its siblings share); panics on
/// [`Cmd::Panic`].
struct Target(Address<Cmd>);
impl Component for Target {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&self.0)?;
        Ok(())
    }
}
impl Handler<Cmd> for Target {
    async fn handle(&mut self, cmd: Cmd, _: &mut Context<Self>) {
        if let Cmd::Panic = cmd {
            panic!("benchmarked panic");
        }
    }
}

struct Idle;
impl Component for Idle {}

const SHARED: Address<Cmd> = Address::new("bench.shared");

/// Deploy and undeploy `count` deployments of `instances` idle components each, one
/// deployment at a time; replies with the time it took.
struct Churn {
    count: u64,
    instances: usize,
    churned: Churned,
}

/// What each churned deployment is.
#[derive(Clone, Copy)]
enum Churned {
    /// Idle components named `churned`.
    Idle,
    /// Components named `churned`, each consuming `SHARED` (nothing is sent to it).
    Consuming,
    /// Idle components deployed by `ChildSpec::anonymous`.
    Anonymous,
}
impl Message for Churn {
    type Reply = Duration;
}

const CHURN: Address<Churn> = Address::new("bench.churn");

/// Deploy `count` idle components one at a time, then undeploy them in a shuffled
/// order, `rounds` times; replies with the time the undeploys took.
struct Scatter {
    rounds: u64,
    count: usize,
}
impl Message for Scatter {
    type Reply = Duration;
}

const SCATTER: Address<Scatter> = Address::new("bench.scatter");

/// Lives on reactor 0, the root supervisor's, and churns components there.
struct Churner;
impl Component for Churner {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&CHURN)?;
        ctx.consume(&SCATTER)?;
        Ok(())
    }
}
impl Handler<Scatter> for Churner {
    async fn handle(&mut self, scatter: Scatter, ctx: &mut Context<Self>) -> Duration {
        let runtime = ctx.runtime().clone();
        let mut taken = Duration::ZERO;
        // xorshift64: the same order every run.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..scatter.rounds {
            let mut ids = Vec::with_capacity(scatter.count);
            for i in 0..scatter.count {
                let spec = ChildSpec::new(format!("scattered-{i}"), || Idle).reactor(0);
                ids.push(runtime.deploy(spec).await.expect("deploy"));
            }
            for i in (1..ids.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let j = usize::try_from(state % (i as u64 + 1)).expect("an index");
                ids.swap(i, j);
            }
            let start = Instant::now();
            for id in ids {
                runtime.undeploy(id).await.expect("undeploy");
            }
            taken += start.elapsed();
        }
        taken
    }
}
impl Handler<Churn> for Churner {
    async fn handle(&mut self, churn: Churn, ctx: &mut Context<Self>) -> Duration {
        let runtime = ctx.runtime().clone();
        let start = Instant::now();
        for _ in 0..churn.count {
            let spec = match churn.churned {
                Churned::Idle => ChildSpec::new("churned", || Idle),
                Churned::Consuming => ChildSpec::new("churned", || Target(SHARED)),
                Churned::Anonymous => ChildSpec::anonymous(|| Idle),
            };
            let spec = spec.reactor(0).instances(churn.instances);
            let id = runtime.deploy(spec).await.expect("deploy");
            runtime.undeploy(id).await.expect("undeploy");
        }
        start.elapsed()
    }
}

/// This process's resident set, bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Prints the resident memory per idle component, from 20,000 of them.
fn idle_component_memory(runtime: &Runtime) {
    const COUNT: usize = 20_000;
    runtime.block_on(async {
        let before = rss();
        let mut ids = Vec::with_capacity(COUNT);
        for i in 0..COUNT {
            ids.push(
                runtime
                    .deploy(ChildSpec::new(format!("idle-{i}"), || Idle))
                    .await
                    .unwrap(),
            );
        }
        let per = rss().saturating_sub(before) / COUNT as u64;
        eprintln!("lifecycle_deploy/idle_component_memory: {per} bytes per idle component ({COUNT} deployed)");
        for id in ids {
            runtime.undeploy(id).await.unwrap();
        }
    });
}

fn lifecycle_deploy(c: &mut Criterion) {
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .child(ChildSpec::new("churner", || Churner).reactor(0))
        .build()
        .expect("runtime");
    idle_component_memory(&runtime);
    c.bench_function("lifecycle_deploy/deploy_undeploy", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let id = runtime
                    .deploy(ChildSpec::new("idle", || Idle))
                    .await
                    .unwrap();
                runtime.undeploy(id).await.unwrap();
            })
        })
    });
    // One request for the whole batch: its own round trip is outside the time.
    let churn = |count: u64, instances: usize, churned: Churned| {
        runtime
            .block_on(runtime.bus().request_timeout(
                &CHURN,
                Churn {
                    count,
                    instances,
                    churned,
                },
                Duration::from_secs(3600),
            ))
            .expect("churn")
    };
    c.bench_function("lifecycle_deploy/deploy_undeploy_on_root_reactor", |b| {
        b.iter_custom(|iters| churn(iters, 1, Churned::Idle))
    });
    c.bench_function(
        "lifecycle_deploy/deploy_undeploy_anonymous_on_root_reactor",
        |b| b.iter_custom(|iters| churn(iters, 1, Churned::Anonymous)),
    );
    const INSTANCES: usize = 10_000;
    let mut group = c.benchmark_group("lifecycle_deploy");
    group.sample_size(10);
    group.throughput(Throughput::Elements(INSTANCES as u64));
    group.bench_function("one_deployment_of_10000", |b| {
        b.iter_custom(|iters| churn(iters, INSTANCES, Churned::Idle))
    });
    group.bench_function("one_address_10000_consumers", |b| {
        b.iter_custom(|iters| churn(iters, INSTANCES, Churned::Consuming))
    });
    group.bench_function("undeploy_10000_in_random_order", |b| {
        b.iter_custom(|rounds| {
            runtime
                .block_on(runtime.bus().request_timeout(
                    &SCATTER,
                    Scatter {
                        rounds,
                        count: INSTANCES,
                    },
                    Duration::from_secs(3600),
                ))
                .expect("scatter")
        })
    });
    group.finish();
    runtime.shutdown();
}

fn supervision_restart(c: &mut Criterion) {
    // Silence the benchmarked panics' messages.
    std::panic::set_hook(Box::new(|_| {}));
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .intensity(Intensity::new(u32::MAX, Duration::from_secs(1)).unwrap())
        .child(ChildSpec::new("target", || Target(TARGET)))
        .build()
        .expect("runtime");
    c.bench_function("supervision_restart/panic_to_next_message", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let _ = runtime.bus().request(&TARGET, Cmd::Panic).await;
                // The mailbox survives: this waits for the restarted instance.
                runtime.bus().request(&TARGET, Cmd::Ping).await.unwrap();
            })
        })
    });
    runtime.shutdown();

    // One supervisor's failure handling and plans, at scale.
    const STORM: usize = 10_000;
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .intensity(Intensity::new(u32::MAX, Duration::from_secs(1)).unwrap())
        .backoff(reactree::Backoff::Fixed(Duration::from_secs(3600)))
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("supervision_restart");
    group.sample_size(10);
    group.throughput(Throughput::Elements(STORM as u64));
    group.bench_function("storm_of_10000_with_backoff", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                runtime.block_on(async {
                    let spec = ChildSpec::new("storm", || Target(STORMY)).instances(STORM);
                    let id = runtime.deploy(spec).await.expect("deploy");
                    let start = Instant::now();
                    runtime
                        .bus()
                        .publish(&STORMY, Cmd::Panic)
                        .await
                        .expect("publish");
                    // Every failure handled: no child of the root runs.
                    while runtime
                        .handle()
                        .supervisor(reactree::ROOT)
                        .is_some_and(|root| root.children.iter().any(|(_, running)| *running))
                    {
                        async_io::Timer::after(Duration::from_millis(1)).await;
                    }
                    runtime.undeploy(id).await.expect("undeploy");
                    took += start.elapsed();
                });
            }
            took
        })
    });
    group.finish();
    runtime.shutdown();
    let _ = std::panic::take_hook();
}

const STORMY: Address<Cmd> = Address::new("bench.stormy");

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = lifecycle_deploy, supervision_restart
}
criterion_main!(benches);
