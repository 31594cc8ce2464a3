//! Property tests of DESIGN.md's runtime invariants 1, 3, 4 and 5 over random sequences of
//! deploys, undeploys, sends, try-sends, publishes and requests with random mailbox
//! capacities and timeouts (issue: core runtime, "tests that must exist"):
//! 1. no mailbox holds more than its capacity, and every refused message is reported
//!    (returned to the caller) while every accepted one-way message to a component that
//!    stays up is handled;
//! 3. every handler and timer callback runs on its component's reactor thread;
//! 4. handlers (and timer callbacks) of one component never overlap;
//! 5. every request completes exactly once: its reply, or a typed error.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use reactree::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Echo,
    Sleep(u64),
    Panic,
}

#[derive(Debug, Clone)]
enum Op {
    Deploy {
        capacity: usize,
        instances: usize,
    },
    Undeploy(usize),
    Send(usize),
    TrySend(usize),
    Publish(usize),
    TryPublish(usize),
    Request {
        target: usize,
        timeout_ms: u64,
        kind: Kind,
    },
    TryRequest {
        target: usize,
        kind: Kind,
    },
}

#[derive(Clone)]
struct Job {
    id: u64,
    kind: Kind,
    one_way: bool,
}
impl Message for Job {
    type Reply = u64;
}

/// What the components of one deployment observed.
#[derive(Default)]
struct Observed {
    handled_one_way: AtomicU64,
    max_queued: AtomicUsize,
    capacity: AtomicUsize,
    violations: Mutex<Vec<String>>,
    panicked: AtomicBool,
}

impl Observed {
    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

struct Checker {
    observed: Arc<Observed>,
    busy: Rc<AtomicBool>,
}

impl Checker {
    fn enter(&self, ctx: &Context<Self>, what: &str) {
        let expected = format!("reactree-reactor-{}", ctx.reactor());
        let actual = std::thread::current().name().unwrap_or("").to_owned();
        if actual != expected {
            self.observed
                .violation(format!("{what} ran on {actual}, not {expected}"));
        }
        if self.busy.swap(true, Ordering::SeqCst) {
            self.observed
                .violation(format!("{what} overlapped another handler"));
        }
        let queued = ctx.mailbox_len();
        self.observed.max_queued.fetch_max(queued, Ordering::SeqCst);
        if queued > ctx.mailbox_capacity() {
            self.observed.violation(format!(
                "{queued} queued in a mailbox of {}",
                ctx.mailbox_capacity()
            ));
        }
    }

    fn leave(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }
}

impl Component for Checker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let address = Address::<Job>::from_string(ctx.name().to_owned());
        ctx.consume(&address)?;
        self.observed
            .capacity
            .store(ctx.mailbox_capacity(), Ordering::SeqCst);
        ctx.run_periodic(Duration::from_millis(1), |c, ctx| {
            c.enter(ctx, "timer");
            c.leave();
        });
        Ok(())
    }
}

impl Handler<Job> for Checker {
    async fn handle(&mut self, job: Job, ctx: &mut Context<Self>) -> u64 {
        self.enter(ctx, "handler");
        match job.kind {
            Kind::Echo => {}
            Kind::Sleep(ms) => {
                async_io::Timer::after(Duration::from_millis(ms)).await;
            }
            Kind::Panic => {
                self.leave();
                self.observed.panicked.store(true, Ordering::SeqCst);
                panic!("asked to panic");
            }
        }
        if job.one_way {
            self.observed.handled_one_way.fetch_add(1, Ordering::SeqCst);
        }
        self.leave();
        job.id
    }
}

/// One deployment as the test drives it.
struct Target {
    address: Address<Job>,
    id: Option<DeploymentId>,
    observed: Arc<Observed>,
    accepted_one_way: u64,
    instances: usize,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Echo),
        3 => (1u64..15).prop_map(Kind::Sleep),
        1 => Just(Kind::Panic),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1usize..6, 1usize..4).prop_map(|(capacity, instances)| Op::Deploy { capacity, instances }),
        1 => (0usize..8).prop_map(Op::Undeploy),
        4 => (0usize..8).prop_map(Op::Send),
        4 => (0usize..8).prop_map(Op::TrySend),
        2 => (0usize..8).prop_map(Op::Publish),
        2 => (0usize..8).prop_map(Op::TryPublish),
        4 => (0usize..8, 5u64..200, kind()).prop_map(|(target, timeout_ms, kind)| Op::Request { target, timeout_ms, kind }),
        2 => (0usize..8, kind()).prop_map(|(target, kind)| Op::TryRequest { target, kind }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    // Every sequence starts with a deployment, so most operations have somewhere to go.
    (1usize..6, prop::collection::vec(op(), 1..60)).prop_map(|(capacity, mut ops)| {
        ops.insert(
            0,
            Op::Deploy {
                capacity,
                instances: 1,
            },
        );
        ops
    })
}

/// The outcome of one request: `Ok(true)` a correct reply, `Ok(false)` a typed error.
type Outcome = Result<bool, String>;

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    // A case may make any number of handlers panic, each a restart: the root must not
    // give up (escalate) on them, or every later deploy fails with `SupervisorDown`,
    // which is the intensity's behaviour, not an invariant broken.
    let runtime = Runtime::builder()
        .reactors(2)
        .intensity(reactree::Intensity::new(1_000, Duration::from_secs(1)).unwrap())
        .build()
        .unwrap();
    let bus = runtime.bus().clone();
    let executor = async_executor::LocalExecutor::new();
    let mut targets: Vec<Target> = Vec::new();
    let mut requests = Vec::new();
    let mut next_id = 0u64;
    let mut job = |kind: Kind, one_way: bool| {
        next_id += 1;
        Job {
            id: next_id,
            kind,
            one_way,
        }
    };
    async_io::block_on(executor.run(async {
        for op in ops {
            match op {
                Op::Deploy {
                    capacity,
                    instances,
                } => {
                    let name = format!("inv.{}", targets.len());
                    let observed = Arc::new(Observed::default());
                    let o = observed.clone();
                    let spec = ChildSpec::new(name.clone(), move || Checker {
                        observed: o.clone(),
                        busy: Rc::new(AtomicBool::new(false)),
                    })
                    .mailbox_capacity(capacity)
                    .instances(instances);
                    let id = runtime.deploy(spec).await.unwrap();
                    targets.push(Target {
                        address: Address::from_string(name),
                        id: Some(id),
                        observed,
                        accepted_one_way: 0,
                        instances,
                    });
                }
                Op::Undeploy(t) => {
                    if let Some(target) = targets.get_mut(t % 8)
                        && let Some(id) = target.id.take()
                    {
                        runtime.undeploy(id).await.unwrap();
                    }
                }
                Op::Send(t) | Op::TrySend(t) | Op::Publish(t) | Op::TryPublish(t)
                    if targets.get(t).is_none() => {}
                Op::Send(t) => {
                    let target = &mut targets[t];
                    if bus
                        .send(&target.address, job(Kind::Echo, true))
                        .await
                        .is_ok()
                    {
                        target.accepted_one_way += 1;
                    }
                }
                Op::TrySend(t) => {
                    let target = &mut targets[t];
                    let j = job(Kind::Echo, true);
                    let id = j.id;
                    match bus.try_send(&target.address, j) {
                        Ok(()) => target.accepted_one_way += 1,
                        // A refused message comes back to the caller: never lost silently.
                        Err(e) => {
                            prop_assert_eq!(e.into_inner().id, id, "refused message not returned")
                        }
                    }
                }
                Op::Publish(t) => {
                    let target = &mut targets[t];
                    if let Ok(n) = bus.publish(&target.address, job(Kind::Echo, true)).await {
                        target.accepted_one_way += n as u64;
                    }
                }
                Op::TryPublish(t) => {
                    let target = &mut targets[t];
                    if let Ok(report) = bus.try_publish(&target.address, job(Kind::Echo, true)) {
                        prop_assert!(report.delivered + report.refused <= target.instances);
                        target.accepted_one_way += report.delivered as u64;
                    }
                }
                Op::Request { target, .. } | Op::TryRequest { target, .. }
                    if targets.get(target).is_none() => {}
                Op::Request {
                    target,
                    timeout_ms,
                    kind,
                } => {
                    let (bus, address, j) = (
                        bus.clone(),
                        targets[target].address.clone(),
                        job(kind, false),
                    );
                    let timeout = Duration::from_millis(timeout_ms);
                    requests.push((
                        timeout,
                        executor.spawn(async move {
                            let id = j.id;
                            let started = Instant::now();
                            match bus.request_timeout(&address, j, timeout).await {
                                Ok(reply) if reply == id => Ok(true),
                                Ok(reply) => Err(format!("request {id} got the reply of {reply}")),
                                Err(RequestError::Timeout(_)) if started.elapsed() < timeout => {
                                    Err("timed out early".to_owned())
                                }
                                Err(_) => Ok(false),
                            }
                        }),
                    ));
                }
                Op::TryRequest { target, kind } => {
                    let (bus, address, j) = (
                        bus.clone(),
                        targets[target].address.clone(),
                        job(kind, false),
                    );
                    requests.push((
                        Duration::from_secs(5),
                        executor.spawn(async move {
                            let id = j.id;
                            match bus.try_request(&address, j).await {
                                Ok(reply) => Ok::<bool, String>(reply == id),
                                Err(e) => match e.into_inner() {
                                    Some(back) if back.id != id => {
                                        Err("wrong message returned".to_owned())
                                    }
                                    _ => Ok(false),
                                },
                            }
                        }),
                    ));
                }
            }
        }
        // Invariant 5: every request completes exactly once, within its timeout plus slack.
        for (timeout, request) in requests.drain(..) {
            let outcome: Option<Outcome> =
                reactree_deadline(timeout + Duration::from_secs(5), request).await;
            match outcome {
                None => prop_assert!(false, "a request never completed"),
                Some(Err(e)) => prop_assert!(false, "{}", e),
                Some(Ok(_)) => {}
            }
        }
        Ok(())
    }))?;
    // Invariant 1: accepted one-way messages to components that stayed up are all handled.
    for target in &targets {
        let observed = &target.observed;
        if target.id.is_some() && !observed.panicked.load(Ordering::SeqCst) {
            let end = Instant::now() + Duration::from_secs(10);
            while observed.handled_one_way.load(Ordering::SeqCst) < target.accepted_one_way
                && Instant::now() < end
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            prop_assert_eq!(
                observed.handled_one_way.load(Ordering::SeqCst),
                target.accepted_one_way,
                "accepted one-way messages were lost"
            );
        }
        prop_assert!(
            observed.max_queued.load(Ordering::SeqCst) <= observed.capacity.load(Ordering::SeqCst),
            "a mailbox held more than its capacity"
        );
    }
    runtime.shutdown();
    // Invariants 3 and 4, as the components saw them.
    for target in &targets {
        let violations = target.observed.violations.lock().unwrap();
        prop_assert!(violations.is_empty(), "{:?}", *violations);
    }
    Ok(())
}

async fn reactree_deadline<T>(
    within: Duration,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    use futures_lite::FutureExt;
    async { Some(future.await) }
        .or(async {
            async_io::Timer::after(within).await;
            None
        })
        .await
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn runtime_invariants_hold(ops in ops()) {
        check(ops)?;
    }
}
