//! Deploys and undeploys asked from the supervisor's own reactor, done in the caller's
//! poll while the supervisor waits for work: starts and stops that wait, or fail, are
//! finished by the supervisor's task; a caller that gives up does not leave a half
//! deployment; and work already queued for the supervisor goes first.

#[path = "support/common.rs"]
mod common;
#[path = "support/driver.rs"]
mod driver;

use std::future::Future;
use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{DeployError, Handle, SpecError, Strategy, Supervisor};

/// A one-reactor runtime (every component on the root's reactor) with the driver.
fn with_driver(strategy: Strategy) -> Runtime {
    let runtime = Runtime::builder()
        .reactors(1)
        .strategy(strategy)
        .worker_pool(reactree::PoolConfig::new().threads(TEST_POOL_THREADS))
        .build()
        .expect("runtime");
    runtime
        .block_on(runtime.deploy(driver::Driver::<Said>::spec()))
        .expect("the driver deploys");
    runtime
}

/// What a script says: `Ok` when all went well, else what went wrong.
type Said = Result<(), String>;

/// Runs `script` in the driver and returns what it says.
fn drive<F>(runtime: &Runtime, script: impl FnOnce(Handle) -> F + Send + 'static) -> Said
where
    F: Future<Output = Said> + 'static,
{
    runtime
        .block_on(driver::ask(runtime.bus(), GENEROUS, script))
        .expect("the driver answers")
}

async fn sleep(ms: u64) {
    async_io::Timer::after(Duration::from_millis(ms)).await;
}

/// A component whose start and stop wait `wait_ms` (none at 0), whose instance
/// `fail_instance` fails its start, and which logs as `name index what`.
#[derive(Clone)]
struct Slow {
    name: &'static str,
    log: Log,
    wait_ms: u64,
    fail_instance: Option<usize>,
}

impl Slow {
    fn spec(self) -> ChildSpec {
        ChildSpec::new(self.name, move || self.clone())
    }

    fn note(&self, ctx: &Context<Self>, what: &str) {
        let entry = format!("{} {} {what}", self.name, ctx.instance());
        self.log.lock().unwrap().push(entry);
    }
}

impl Component for Slow {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if self.wait_ms > 0 {
            sleep(self.wait_ms).await;
        }
        if self.fail_instance == Some(ctx.instance()) {
            self.note(ctx, "failed");
            return Err("refused to start".into());
        }
        self.note(ctx, "started");
        Ok(())
    }

    async fn stop(&mut self, ctx: &mut Context<Self>) {
        if self.wait_ms > 0 {
            sleep(self.wait_ms).await;
        }
        self.note(ctx, "stopped");
    }
}

fn slow(name: &'static str, log: &Log, wait_ms: u64) -> Slow {
    Slow {
        name,
        log: log.clone(),
        wait_ms,
        fail_instance: None,
    }
}

/// Deploys `spec`, whose instance `instance` fails its start: the deploy must fail
/// there, naming the deployment, and leave no record.
async fn start_fails(handle: &Handle, spec: ChildSpec, instance: usize) -> Said {
    let before = handle.deployment_count();
    let name = spec.name().to_owned();
    match handle.deploy(spec).await {
        Err(DeployError::StartFailed {
            name: failed,
            instance: at,
            ..
        }) if failed == name && at == instance => {}
        other => return Err(format!("deploy: {other:?}")),
    }
    if handle.deployment_count() != before {
        return Err("a record was left".into());
    }
    Ok(())
}

/// Whether `name` is a child of the root, and running.
fn root_runs(handle: &Handle, name: &str) -> bool {
    handle
        .supervisor("root")
        .is_some_and(|root| root.children.iter().any(|(n, up)| n == name && *up))
}

#[test]
fn a_deploy_whose_start_waits_is_finished_by_the_supervisor() {
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let spec = slow("slow", &l, 20).spec().instances(2);
        let id = handle
            .deploy(spec)
            .await
            .map_err(|e| format!("deploy: {e}"))?;
        // Both starts have ended by the time the deploy answers.
        let started = entries(&l);
        if started != ["slow 0 started", "slow 1 started"] {
            return Err(format!("after the deploy: {started:?}"));
        }
        if !root_runs(&handle, "slow") {
            return Err("not running".into());
        }
        handle
            .undeploy(id)
            .await
            .map_err(|e| format!("undeploy: {e}"))
    });
    assert_eq!(said, Ok(()));
    assert_eq!(
        entries(&log),
        [
            "slow 0 started",
            "slow 1 started",
            "slow 1 stopped",
            "slow 0 stopped"
        ]
    );
    assert_eq!(runtime.handle().deployment_count(), 1, "the driver");
}

#[test]
fn a_start_that_fails_at_once_fails_the_deploy_and_frees_the_name() {
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let bad = Slow {
            fail_instance: Some(0),
            ..slow("bad", &l, 0)
        };
        start_fails(&handle, bad.spec(), 0).await?;
        // The name is free again, and the supervisor still deploys in place.
        handle
            .deploy(slow("bad", &l, 0).spec())
            .await
            .map(drop)
            .map_err(|e| format!("second deploy: {e}"))
    });
    assert_eq!(said, Ok(()));
    assert_eq!(entries(&log), ["bad 0 failed", "bad 0 started"]);
}

#[test]
fn a_start_that_waits_then_fails_stops_the_instances_before_it() {
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let bad = Slow {
            fail_instance: Some(1),
            ..slow("bad", &l, 10)
        };
        start_fails(&handle, bad.spec().instances(3), 1).await
    });
    assert_eq!(said, Ok(()));
    // Instance 2 never started; instance 0 was stopped again.
    assert_eq!(
        entries(&log),
        ["bad 0 started", "bad 1 failed", "bad 0 stopped"]
    );
}

#[test]
fn a_deploy_given_up_while_its_start_waits_still_ends_whole() {
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        // The deploy is polled once (its start is left waiting), then dropped.
        let deploy = handle.deploy(slow("slow", &l, 30).spec());
        let gave_up = futures_lite::future::or(async { deploy.await.err() }, async {
            sleep(1).await;
            None
        })
        .await;
        if let Some(error) = gave_up {
            return Err(format!("deploy: {error}"));
        }
        // The supervisor finishes the start on its own, and the deployment is whole.
        for _ in 0..1000 {
            if root_runs(&handle, "slow") {
                break;
            }
            sleep(5).await;
        }
        if !root_runs(&handle, "slow") {
            return Err("the deployment did not start".into());
        }
        match handle.deploy(slow("slow", &l, 0).spec()).await {
            Err(DeployError::InvalidSpec(SpecError::DuplicateName(_))) => {}
            other => return Err(format!("same name again: {other:?}")),
        }
        handle
            .deploy(slow("other", &l, 0).spec())
            .await
            .map(drop)
            .map_err(|e| format!("another deploy: {e}"))
    });
    assert_eq!(said, Ok(()));
    assert_eq!(entries(&log), ["slow 0 started", "other 0 started"]);
}

#[test]
fn an_undeploy_whose_stop_waits_is_finished_by_the_supervisor() {
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let before = handle.deployment_count();
        let spec = slow("slow", &l, 15).spec().instances(2);
        let id = handle
            .deploy(spec)
            .await
            .map_err(|e| format!("deploy: {e}"))?;
        handle
            .undeploy(id)
            .await
            .map_err(|e| format!("undeploy: {e}"))?;
        // Both stops have ended, and the deployment is gone, name and all.
        if entries(&l).len() != 4 || handle.deployment(id).is_some() {
            return Err(format!("after the undeploy: {:?}", entries(&l)));
        }
        if handle.deployment_count() != before {
            return Err("a record was left".into());
        }
        handle
            .deploy(slow("slow", &l, 0).spec())
            .await
            .map(drop)
            .map_err(|e| format!("deploy again: {e}"))
    });
    assert_eq!(said, Ok(()));
    assert_eq!(
        entries(&log),
        [
            "slow 0 started",
            "slow 1 started",
            "slow 1 stopped",
            "slow 0 stopped",
            "slow 0 started"
        ]
    );
}

#[test]
fn a_deploy_in_place_waits_for_an_exit_already_queued() {
    // Rest-for-one: a child deployed after a crash is reported, but before the root
    // has handled it, must not be restarted with the crashed child's successors.
    let log = log();
    let crash_log = common::log();
    let runtime = with_driver(Strategy::RestForOne);
    runtime
        .block_on(runtime.deploy(Probe::spec("crasher", "in_place.crasher", &crash_log)))
        .expect("the crasher deploys");
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let crash = handle
            .bus()
            .request(&Address::<Cmd>::new("in_place.crasher"), Cmd::Panic)
            .await;
        if crash.is_ok() {
            return Err("the crasher answered".into());
        }
        // The crasher's exit is queued for the root, which has not run yet.
        handle
            .deploy(slow("late", &l, 0).spec())
            .await
            .map(drop)
            .map_err(|e| format!("deploy: {e}"))
    });
    assert_eq!(said, Ok(()));
    let handle = runtime.handle();
    assert!(eventually(GENEROUS, || handle
        .supervisor("root")
        .is_some_and(|root| root.restarts == 1)));
    assert!(eventually(GENEROUS, || entries(&crash_log).len() == 3));
    assert_eq!(
        entries(&crash_log),
        ["crasher started", "crasher stopped", "crasher started"]
    );
    // Started once: the restart came before the deploy.
    assert_eq!(entries(&log), ["late 0 started"]);
}

#[test]
fn a_supervisor_deployed_at_run_time_deploys_in_place_too() {
    // A supervisor deployed at run time runs on its parent's reactor: the driver's.
    let log = log();
    let runtime = with_driver(Strategy::OneForOne);
    runtime
        .block_on(
            runtime
                .handle()
                .deploy_supervisor("root", Supervisor::builder("sales")),
        )
        .expect("the supervisor deploys");
    let l = log.clone();
    let said = drive(&runtime, move |handle| async move {
        let spec = slow("clerk", &l, 10).spec().instances(2);
        let id = handle
            .deploy_under("root/sales", spec)
            .await
            .map_err(|e| format!("deploy: {e}"))?;
        let clerks = handle.supervisor("root/sales").map(|s| s.children);
        let both = [("clerk".to_owned(), true), ("clerk".to_owned(), true)];
        if clerks.as_deref() != Some(&both[..]) {
            return Err(format!("the supervisor's children: {clerks:?}"));
        }
        handle
            .undeploy(id)
            .await
            .map_err(|e| format!("undeploy: {e}"))?;
        match handle.supervisor("root/sales").map(|s| s.children.len()) {
            Some(0) => Ok(()),
            other => Err(format!("after the undeploy: {other:?}")),
        }
    });
    assert_eq!(said, Ok(()));
    assert_eq!(
        entries(&log),
        [
            "clerk 0 started",
            "clerk 1 started",
            "clerk 1 stopped",
            "clerk 0 stopped"
        ]
    );
}
