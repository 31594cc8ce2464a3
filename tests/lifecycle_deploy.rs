//! Deploying and undeploying at run time: ids, placement, start failures, stale ids,
//! invalid specs, consumers and timers removed on undeploy (issue: core runtime, point 3).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{ComponentState, FailureKind, Hook, SpecError, UndeployError};

const A: Address<Cmd> = Address::new("deploy.a");

#[test]
fn deploy_returns_after_start_and_undeploy_runs_stop() {
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        let id = runtime
            .deploy(Probe::spec("a", "deploy.a", &log))
            .await
            .unwrap();
        // start has completed: the consumer is registered already.
        assert_eq!(entries(&log), ["a started"]);
        assert_eq!(runtime.bus().consumers(&A), 1);
        let info = runtime.handle().deployment(id).unwrap();
        assert_eq!(info.name, "a");
        assert_eq!(info.instances[0].state, ComponentState::Running);
        runtime.undeploy(id).await.unwrap();
        assert_eq!(entries(&log), ["a started", "a stopped"]);
        assert_eq!(runtime.bus().consumers(&A), 0);
        assert!(matches!(
            runtime.bus().request(&A, Cmd::Echo(1)).await,
            Err(RequestError::NoHandlers(_))
        ));
        assert!(runtime.handle().deployment(id).is_none());
    });
}

#[test]
fn a_stale_id_is_a_typed_error() {
    let log = log();
    let runtime = runtime(1);
    runtime.block_on(async {
        let id = runtime
            .deploy(Probe::spec("a", "deploy.stale", &log))
            .await
            .unwrap();
        runtime.undeploy(id).await.unwrap();
        assert_eq!(
            runtime.undeploy(id).await,
            Err(UndeployError::UnknownDeployment(id))
        );
        // A new deployment never reuses the stale id.
        let again = runtime
            .deploy(Probe::spec("a", "deploy.stale", &log))
            .await
            .unwrap();
        assert_ne!(again, id);
        assert_eq!(
            runtime.undeploy(id).await,
            Err(UndeployError::UnknownDeployment(id))
        );
    });
}

#[test]
fn instances_go_round_robin_unless_pinned() {
    let log = log();
    let runtime = runtime(3);
    runtime.block_on(async {
        let id = runtime
            .deploy(Probe::spec("many", "deploy.many", &log).instances(6))
            .await
            .unwrap();
        let info = runtime.handle().deployment(id).unwrap();
        let mut per_reactor = [0; 3];
        for i in &info.instances {
            per_reactor[i.reactor] += 1;
        }
        assert_eq!(per_reactor, [2, 2, 2]);
        let pinned = runtime
            .deploy(
                Probe::spec("pinned", "deploy.pinned", &log)
                    .instances(3)
                    .reactor(2),
            )
            .await
            .unwrap();
        let info = runtime.handle().deployment(pinned).unwrap();
        assert!(info.instances.iter().all(|i| i.reactor == 2));
        // Every instance consumes the address: sends go round-robin over them.
        assert_eq!(
            runtime.bus().consumers(&Address::<Cmd>::new("deploy.many")),
            6
        );
    });
}

#[test]
fn invalid_specs_are_refused() {
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        let refused = |e: DeployError| match e {
            DeployError::InvalidSpec(spec) => spec,
            other => panic!("unexpected {other:?}"),
        };
        let e = runtime
            .deploy(Probe::spec("", "x", &log))
            .await
            .unwrap_err();
        assert_eq!(refused(e), SpecError::EmptyName);
        let e = runtime
            .deploy(Probe::spec("x", "x", &log).instances(0))
            .await
            .unwrap_err();
        assert_eq!(refused(e), SpecError::ZeroInstances);
        let e = runtime
            .deploy(Probe::spec("x", "x", &log).mailbox_capacity(0))
            .await
            .unwrap_err();
        assert_eq!(refused(e), SpecError::ZeroMailboxCapacity);
        let e = runtime
            .deploy(Probe::spec("x", "x", &log).reactor(2))
            .await
            .unwrap_err();
        assert_eq!(
            refused(e),
            SpecError::NoSuchReactor {
                index: 2,
                reactors: 2
            }
        );
        assert_eq!(runtime.handle().deployment_count(), 0);
    });
}

struct FailingStart;
impl Component for FailingStart {
    async fn start(&mut self, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
        Err("database unreachable".into())
    }
}

#[test]
fn a_start_error_fails_the_deploy_and_rolls_back() {
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        let error = runtime
            .deploy(ChildSpec::new("bad", || FailingStart))
            .await
            .unwrap_err();
        match error {
            DeployError::StartFailed { name, failure, .. } => {
                assert_eq!(name, "bad");
                assert_eq!(failure.hook(), Hook::Start);
                assert_eq!(failure.kind(), FailureKind::Error);
                assert_eq!(failure.message(), "database unreachable");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(runtime.handle().deployment_count(), 0);
        // One failing instance among several: the others are stopped again.
        let log2 = log.clone();
        let spec = ChildSpec::new("half", move || Probe {
            name: "half".into(),
            address: Address::new("deploy.half"),
            log: log2.clone(),
            panic_in_start: log2.lock().unwrap().len() == 1,
            panic_in_stop: false,
        })
        .instances(3)
        .reactor(0);
        let error = runtime.deploy(spec).await.unwrap_err();
        assert!(
            matches!(error, DeployError::StartFailed { instance: 1, .. }),
            "{error:?}"
        );
        assert_eq!(
            runtime.bus().consumers(&Address::<Cmd>::new("deploy.half")),
            0
        );
        assert_eq!(runtime.handle().deployment_count(), 0);
        let log = entries(&log);
        assert_eq!(
            log.iter().filter(|l| l.ends_with("started")).count(),
            1,
            "{log:?}"
        );
        assert_eq!(
            log.iter().filter(|l| l.ends_with("stopped")).count(),
            1,
            "{log:?}"
        );
    });
}

#[test]
fn factory_and_start_panics_fail_the_deploy() {
    let log = log();
    let runtime = runtime(1);
    runtime.block_on(async {
        let error = runtime
            .deploy(ChildSpec::new("boom", || -> FailingStart {
                panic!("factory exploded")
            }))
            .await
            .unwrap_err();
        let DeployError::StartFailed { failure, .. } = error else {
            panic!("unexpected {error:?}")
        };
        assert_eq!(failure.hook(), Hook::Factory);
        assert!(failure.is_panic());
        assert_eq!(failure.message(), "factory exploded");

        let log2 = log.clone();
        let error = runtime
            .deploy(ChildSpec::new("boom", move || Probe {
                name: "boom".into(),
                address: Address::new("deploy.boom"),
                log: log2.clone(),
                panic_in_start: true,
                panic_in_stop: false,
            }))
            .await
            .unwrap_err();
        let DeployError::StartFailed { failure, .. } = error else {
            panic!("unexpected {error:?}")
        };
        assert_eq!(failure.hook(), Hook::Start);
        assert_eq!(failure.message(), "start exploded");
        // The reactor survived both panics.
        runtime
            .deploy(Probe::spec("ok", "deploy.ok", &log))
            .await
            .unwrap();
        let reply = runtime
            .bus()
            .request(&Address::new("deploy.ok"), Cmd::Echo(5))
            .await;
        assert_eq!(reply.ok(), Some(Reply::Number(5)));
    });
}

struct Ticker {
    ticks: std::sync::Arc<std::sync::atomic::AtomicU64>,
}
impl Component for Ticker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.run_periodic(Duration::from_millis(1), |t, _| {
            t.ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(())
    }
}

#[test]
fn undeploy_cancels_timers() {
    use std::sync::atomic::Ordering;
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let runtime = runtime(1);
    let t = ticks.clone();
    let id = runtime
        .block_on(runtime.deploy(ChildSpec::new("ticker", move || Ticker {
            ticks: t.clone(),
        })))
        .unwrap();
    assert!(eventually(GENEROUS, || ticks.load(Ordering::SeqCst) >= 3));
    runtime.block_on(runtime.undeploy(id)).unwrap();
    let after = ticks.load(Ordering::SeqCst);
    // Give a live timer every chance to fire again: 50 periods.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ticks.load(Ordering::SeqCst), after);
}

#[test]
fn a_component_can_deploy_another_from_a_handler() {
    struct Deployer {
        log: Log,
    }
    impl Component for Deployer {
        async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.consume(&Address::<Cmd>::new("deploy.deployer"))?;
            Ok(())
        }
    }
    impl Handler<Cmd> for Deployer {
        async fn handle(&mut self, _cmd: Cmd, ctx: &mut Context<Self>) -> Reply {
            // The child lands on this same (only) reactor while this handler awaits.
            let spec = Probe::spec("child", "deploy.child", &self.log);
            let id = ctx.runtime().deploy(spec).await.unwrap();
            let r = ctx
                .bus()
                .request(&Address::new("deploy.child"), Cmd::Echo(9))
                .await;
            ctx.runtime().undeploy(id).await.unwrap();
            r.unwrap()
        }
    }
    let log = log();
    let runtime = runtime(1);
    runtime.block_on(async {
        let l = log.clone();
        runtime
            .deploy(ChildSpec::new("deployer", move || Deployer {
                log: l.clone(),
            }))
            .await
            .unwrap();
        let reply = runtime
            .bus()
            .request(&Address::new("deploy.deployer"), Cmd::Echo(0))
            .await;
        assert_eq!(reply.ok(), Some(Reply::Number(9)));
    });
    assert_eq!(entries(&log), ["child started", "child stopped"]);
}

#[test]
fn undeploys_in_any_order_take_exactly_their_own_children() {
    struct Idle;
    impl Component for Idle {}
    let runtime = runtime(2);
    let handle = runtime.handle().clone();
    let children = || -> Vec<(String, bool)> { handle.supervisor("root").unwrap().children };
    runtime.block_on(async {
        let mut ids = Vec::new();
        for name in ["a", "b", "c", "d", "e"] {
            let spec = ChildSpec::new(name, || Idle).instances(if name == "c" { 3 } else { 1 });
            ids.push(runtime.deploy(spec).await.unwrap());
        }
        let sales = runtime
            .handle()
            .deploy_supervisor(
                "root",
                Supervisor::builder("sales").child(ChildSpec::new("x", || Idle)),
            )
            .await
            .unwrap();
        let names = |children: Vec<(String, bool)>| -> Vec<String> {
            children.into_iter().map(|(name, _)| name).collect()
        };
        assert_eq!(
            names(children()),
            ["a", "b", "c", "c", "c", "d", "e", "sales"]
        );
        // Newest first, then one from the middle (three instances), then the supervisor
        // (recorded without instances), then the oldest.
        runtime.undeploy(ids[4]).await.unwrap();
        assert_eq!(names(children()), ["a", "b", "c", "c", "c", "d", "sales"]);
        runtime.undeploy(ids[2]).await.unwrap();
        assert_eq!(names(children()), ["a", "b", "d", "sales"]);
        runtime.undeploy(sales).await.unwrap();
        assert_eq!(names(children()), ["a", "b", "d"]);
        runtime.undeploy(ids[0]).await.unwrap();
        assert_eq!(names(children()), ["b", "d"]);
        assert!(matches!(
            runtime.undeploy(ids[2]).await,
            Err(UndeployError::UnknownDeployment(_))
        ));
        assert!(children().iter().all(|(_, running)| *running));
        // A name is taken while any instance of its deployment is there, and free
        // once the whole deployment has gone, as a supervisor's name is.
        assert!(matches!(
            runtime.deploy(ChildSpec::new("d", || Idle)).await,
            Err(DeployError::InvalidSpec(SpecError::DuplicateName(name))) if name == "d"
        ));
        let again = ChildSpec::new("c", || Idle).instances(3);
        runtime.deploy(again).await.unwrap();
        runtime.deploy(ChildSpec::new("a", || Idle)).await.unwrap();
        let sales = Supervisor::builder("sales").child(ChildSpec::new("x", || Idle));
        runtime
            .handle()
            .deploy_supervisor("root", sales)
            .await
            .unwrap();
        assert_eq!(names(children()), ["b", "d", "c", "c", "c", "a", "sales"]);
        // A supervisor's name is taken as a component's is, whichever deploys second.
        let twin = Supervisor::builder("sales").child(ChildSpec::new("y", || Idle));
        assert!(matches!(
            runtime.handle().deploy_supervisor("root", twin).await,
            Err(DeployError::InvalidSpec(SpecError::DuplicateName(name))) if name == "sales"
        ));
        let twin = Supervisor::builder("a").child(ChildSpec::new("y", || Idle));
        assert!(matches!(
            runtime.handle().deploy_supervisor("root", twin).await,
            Err(DeployError::InvalidSpec(SpecError::DuplicateName(name))) if name == "a"
        ));
        assert!(matches!(
            runtime.deploy(ChildSpec::new("sales", || Idle)).await,
            Err(DeployError::InvalidSpec(SpecError::DuplicateName(name))) if name == "sales"
        ));
        assert_eq!(names(children()), ["b", "d", "c", "c", "c", "a", "sales"]);
    });
}

/// `Duration::MAX` means "never" wherever a duration is given: a shutdown timeout, a
/// request timeout, a timer's delay or period. Each used to overflow `Instant + Duration`
/// and panic (the shutdown timeout on the reactor's own thread, taking it down).
#[test]
fn durations_too_long_to_reach_are_no_panic() {
    struct Patient;
    impl Component for Patient {
        async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.consume(&A)?;
            ctx.run_later(Duration::MAX, |_, _| unreachable!("never due"));
            ctx.run_periodic(Duration::MAX, |_, _| unreachable!("never due"));
            Ok(())
        }
    }
    impl Handler<Cmd> for Patient {
        async fn handle(&mut self, cmd: Cmd, _: &mut Context<Self>) -> Reply {
            match cmd {
                Cmd::Echo(n) => Reply::Number(n),
                _ => Reply::Done,
            }
        }
    }
    let runtime = runtime(1);
    runtime.block_on(async {
        let spec = ChildSpec::new("patient", || Patient).shutdown_timeout(Duration::MAX);
        let id = runtime.deploy(spec).await.unwrap();
        let reply = runtime
            .bus()
            .request_timeout(&A, Cmd::Echo(7), Duration::MAX)
            .await;
        assert_eq!(reply.ok(), Some(Reply::Number(7)));
        runtime.undeploy(id).await.unwrap();
        // The reactor lives on: another component deploys and answers there.
        let id = runtime
            .deploy(Probe::spec("next", "deploy.a", &log()).reactor(0))
            .await
            .unwrap();
        assert!(runtime.bus().request(&A, Cmd::Echo(1)).await.is_ok());
        runtime.undeploy(id).await.unwrap();
    });
}

/// Deploys more at once than a supervisor's request mailbox holds, while the supervisor
/// is busy (inside a start that waits on a gate): those that find the mailbox full
/// wait for room instead of failing, and every one lands once the supervisor is free.
#[test]
fn deploys_that_find_the_supervisors_mailbox_full_wait_for_room() {
    const BURST: usize = 200;

    struct Slow(Option<Gate>);
    impl Component for Slow {
        async fn start(&mut self, _ctx: &mut Context<Self>) -> Result<(), BoxError> {
            if let Some(gate) = self.0.take() {
                gate.pass().await;
            }
            Ok(())
        }
    }

    /// Deploys `0` components at once, each from a task of its own; replies once each
    /// request has been made (given to the supervisor, or waiting for room), and sends
    /// each outcome on `1`.
    struct Burst(usize, flume::Sender<bool>);
    impl Message for Burst {
        type Reply = ();
    }
    struct Burster;
    impl Component for Burster {
        async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.consume(&Address::<Burst>::new("deploy.burst"))?;
            Ok(())
        }
    }
    impl Handler<Burst> for Burster {
        async fn handle(&mut self, Burst(n, outcomes): Burst, ctx: &mut Context<Self>) {
            let (asked, made) = flume::unbounded::<()>();
            for i in 0..n {
                let (runtime, asked, outcomes) =
                    (ctx.runtime().clone(), asked.clone(), outcomes.clone());
                ctx.spawn(async move {
                    let spec = ChildSpec::new(format!("burst-{i}"), || Idle).reactor(0);
                    let mut deploy = std::pin::pin!(runtime.deploy(spec));
                    let first = futures_lite::future::poll_once(deploy.as_mut()).await;
                    let _ = asked.send(());
                    let outcome = match first {
                        Some(outcome) => outcome,
                        None => deploy.await,
                    };
                    let _ = outcomes.send(outcome.is_ok());
                })
                .unwrap();
            }
            for _ in 0..n {
                let _ = made.recv_async().await;
            }
        }
    }
    struct Idle;
    impl Component for Idle {}

    let runtime = runtime(2);
    runtime
        .block_on(runtime.deploy(ChildSpec::new("burster", || Burster).reactor(1)))
        .unwrap();
    let (control, gate) = gate();
    let gate = std::sync::Mutex::new(Some(gate));
    let slow = ChildSpec::new("slow", move || Slow(gate.lock().unwrap().take())).reactor(0);
    let handle = runtime.handle().clone();
    let slow = std::thread::spawn(move || futures_lite::future::block_on(handle.deploy(slow)));
    control.wait_entered();

    // The root is inside `slow`'s start: the burst fills its mailbox, the rest wait.
    let (outcomes, landed) = flume::unbounded();
    runtime
        .block_on(
            runtime
                .bus()
                .request(&Address::new("deploy.burst"), Burst(BURST, outcomes)),
        )
        .unwrap();
    assert!(
        landed.is_empty(),
        "nothing is answered while the root is busy"
    );
    control.open();
    assert!(slow.join().unwrap().is_ok());
    let ok = (0..BURST)
        .filter(|_| landed.recv_timeout(GENEROUS).expect("an outcome"))
        .count();
    assert_eq!(ok, BURST);
    assert_eq!(runtime.handle().deployment_count(), BURST + 2);
}
