//! Property test of DESIGN.md invariant 6 against real components: random crash
//! sequences (panics and normal stops) under random strategies, restart types and
//! intensities, and the restarts the runtime performs match what the pure policy of
//! `reactree-supervisors` decides for the same sequence — per child, including removals
//! of temporary children, transient children left down, and escalation to the parent
//! (issue: supervision tree).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use reactree::prelude::*;
use reactree::{Intensity, Strategy as Restarts, Supervisor};
use reactree_supervisors::{ChildId, Decision, Exit, SupervisorPolicy, Timestamp};

enum Cmd {
    Crash,
    Stop,
}
impl Message for Cmd {
    type Reply = ();
}

struct Child;
impl Component for Child {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let address = Address::<Cmd>::from_string(format!("sut.{}", ctx.name()));
        ctx.consume(&address)?;
        Ok(())
    }
}
impl Handler<Cmd> for Child {
    async fn handle(&mut self, cmd: Cmd, ctx: &mut Context<Self>) {
        match cmd {
            Cmd::Crash => panic!("crash on command"),
            Cmd::Stop => ctx.stop(),
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    strategy: Restarts,
    max_restarts: u32,
    children: Vec<RestartType>,
    crashes: Vec<(usize, bool)>,
}

fn restart_type() -> impl Strategy<Value = RestartType> {
    prop_oneof![
        3 => Just(RestartType::Permanent),
        2 => Just(RestartType::Transient),
        1 => Just(RestartType::Temporary),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let strategy = prop_oneof![
        Just(Restarts::OneForOne),
        Just(Restarts::OneForAll),
        Just(Restarts::RestForOne),
    ];
    (
        strategy,
        0u32..5,
        prop::collection::vec(restart_type(), 2..5),
        prop::collection::vec((0usize..4, prop::bool::weighted(0.7)), 1..12),
    )
        .prop_map(|(strategy, max_restarts, children, crashes)| Case {
            strategy,
            max_restarts,
            children,
            crashes,
        })
}

/// The pure policy's view: which children are up, removed, and how often restarted.
struct Model {
    policy: SupervisorPolicy,
    ids: Vec<ChildId>,
    running: Vec<bool>,
    removed: Vec<bool>,
    restarts: Vec<u64>,
    escalated: bool,
}

impl Model {
    fn new(case: &Case, intensity: Intensity) -> Self {
        let mut policy =
            SupervisorPolicy::new(case.strategy, intensity, Default::default(), 1).unwrap();
        let ids: Vec<ChildId> = case
            .children
            .iter()
            .map(|t| policy.add_child(*t).unwrap())
            .collect();
        for id in &ids {
            policy.child_started(*id, Timestamp::ZERO).unwrap();
        }
        let n = ids.len();
        Self {
            policy,
            ids,
            running: vec![true; n],
            removed: vec![false; n],
            restarts: vec![0; n],
            escalated: false,
        }
    }

    fn index(&self, id: ChildId) -> usize {
        self.ids.iter().position(|i| *i == id).unwrap()
    }

    fn exit(&mut self, child: usize, abnormal: bool) {
        let exit = if abnormal {
            Exit::Abnormal
        } else {
            Exit::Normal
        };
        self.running[child] = false;
        let now = Timestamp::from_elapsed(Duration::from_millis(1));
        match self
            .policy
            .child_exited(self.ids[child], exit, now)
            .unwrap()
        {
            Decision::Ignore => {}
            Decision::Remove { child } => {
                let i = self.index(child);
                self.removed[i] = true;
            }
            Decision::Restart {
                stop,
                remove,
                restart,
                ..
            } => {
                for id in stop {
                    let i = self.index(id);
                    self.running[i] = false;
                }
                for id in remove {
                    let i = self.index(id);
                    self.removed[i] = true;
                }
                for id in restart {
                    let i = self.index(id);
                    self.restarts[i] += 1;
                    self.running[i] = true;
                    self.policy.child_started(id, now).unwrap();
                }
            }
            Decision::Escalate { .. } => self.escalated = true,
        }
    }
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let intensity = Intensity::new(case.max_restarts, Duration::from_secs(600)).unwrap();
    let sut = Supervisor::builder("sut")
        .strategy(case.strategy)
        .intensity(intensity);
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .intensity(Intensity::new(100, Duration::from_secs(600)).unwrap())
        .supervisor(sut)
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let ids: Vec<DeploymentId> = case
        .children
        .iter()
        .enumerate()
        .map(|(i, restart)| {
            let spec = ChildSpec::new(format!("c{i}"), || Child).restart(*restart);
            runtime
                .block_on(handle.deploy_under("root/sut", spec))
                .unwrap()
        })
        .collect();
    let mut model = Model::new(&case, intensity);
    for &(target, abnormal) in &case.crashes {
        let child = target % case.children.len();
        if !model.running[child] {
            continue;
        }
        let address = Address::<Cmd>::from_string(format!("sut.c{child}"));
        let sent = runtime.block_on(bus_call(&runtime, &address, abnormal));
        prop_assert!(sent, "child {} should have been up", child);
        model.exit(child, abnormal);
        if model.escalated {
            // The parent (root) restarts the whole subtree.
            let settled = settle(|| handle.supervisor("root").is_some_and(|r| r.restarts == 1));
            prop_assert!(
                settled,
                "sut should have escalated and been restarted by root"
            );
            break;
        }
        let settled = settle(|| {
            let Some(info) = handle.supervisor("root/sut") else {
                return false;
            };
            (0..ids.len()).all(|i| {
                let deployment = handle.deployment(ids[i]);
                match (model.removed[i], deployment) {
                    (true, None) => true,
                    (false, Some(d)) => {
                        let running = info
                            .children
                            .iter()
                            .any(|(name, up)| *name == format!("c{i}") && *up);
                        d.instances[0].restarts == model.restarts[i] && running == model.running[i]
                    }
                    _ => false,
                }
            })
        });
        prop_assert!(
            settled,
            "runtime differs from the policy after crashing c{} (abnormal: {}): model restarts {:?}, running {:?}, removed {:?}; runtime {:?}",
            child,
            abnormal,
            model.restarts,
            model.running,
            model.removed,
            ids.iter()
                .map(|id| handle
                    .deployment(*id)
                    .map(|d| (d.instances[0].restarts, d.instances[0].state)))
                .collect::<Vec<_>>()
        );
    }
    runtime.shutdown();
    Ok(())
}

async fn bus_call(runtime: &Runtime, address: &Address<Cmd>, abnormal: bool) -> bool {
    let cmd = if abnormal { Cmd::Crash } else { Cmd::Stop };
    match runtime.bus().request(address, cmd).await {
        Ok(()) => !abnormal,
        Err(e) => abnormal && e.is_recipient_failure(),
    }
}

/// Polls `condition` until it holds, for up to ten seconds.
fn settle(mut condition: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn runtime_restarts_follow_the_policy(case in case()) {
        check(case)?;
    }
}
