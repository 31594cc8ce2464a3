//! The supervision tree: nested supervisors with reactors of their own, dynamic deploys
//! under any supervisor by path, whole supervisors deployed and undeployed at run time,
//! typed errors for trees that make no sense, reverse stop order, and a stop that
//! overruns its timeout (issue: supervision tree).

#[path = "support/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use reactree::Strategy;
use reactree::prelude::*;
use reactree::{BuildError, Intensity, SpecError, TreeError};

fn sales(log: &Log) -> reactree::SupervisorSpec {
    Supervisor::builder("sales")
        .strategy(Strategy::RestForOne)
        .reactors(2)
        .child(Probe::spec("inventory", "tree.inventory", log))
        .child(Probe::spec("orders", "tree.orders", log))
}

fn thread_of(runtime: &Runtime, address: &'static str) -> String {
    match runtime.block_on(runtime.bus().request(&Address::new(address), Cmd::Thread)) {
        Ok(Reply::Thread(name)) => name,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn nested_supervisors_run_their_children_on_their_own_reactors() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .child(Probe::spec("pricing", "tree.pricing", &log))
        .supervisor(sales(&log))
        .build()
        .unwrap();
    assert_eq!(runtime.handle().reactors(), 3);
    assert_eq!(thread_of(&runtime, "tree.pricing"), "reactree-reactor-0");
    // The sales supervisor owns reactors 1 and 2; its children go round-robin there.
    assert_eq!(thread_of(&runtime, "tree.inventory"), "reactree-reactor-1");
    assert_eq!(thread_of(&runtime, "tree.orders"), "reactree-reactor-2");
    // Started in order, depth first.
    assert_eq!(
        entries(&log),
        ["pricing started", "inventory started", "orders started"]
    );
    // A supervisor child shows as running in its parent, in start order.
    assert_eq!(
        runtime.handle().supervisor("root").unwrap().children,
        [("pricing".to_owned(), true), ("sales".to_owned(), true)]
    );
    let info = runtime.handle().supervisor("root/sales").unwrap();
    assert_eq!(info.strategy, Strategy::RestForOne);
    assert_eq!(
        info.children,
        [("inventory".to_owned(), true), ("orders".to_owned(), true)]
    );
    // Dynamic deploy under the nested supervisor lands on its reactors.
    let id = runtime
        .block_on(runtime.handle().deploy_under(
            "root/sales",
            Probe::spec("audit", "tree.audit", &log).reactor(1),
        ))
        .unwrap();
    assert_eq!(thread_of(&runtime, "tree.audit"), "reactree-reactor-2");
    let info = runtime.handle().deployment(id).unwrap();
    assert_eq!(info.supervisor, "root/sales");
    runtime.block_on(runtime.undeploy(id)).unwrap();
    // Shutdown stops everything in reverse start order, depth first.
    log.lock().unwrap().clear();
    runtime.shutdown();
    assert_eq!(
        entries(&log),
        ["orders stopped", "inventory stopped", "pricing stopped"]
    );
}

#[test]
fn a_whole_supervisor_can_be_deployed_and_undeployed_at_run_time() {
    let log = log();
    let runtime = runtime(2);
    let spec = Supervisor::builder("billing")
        .strategy(Strategy::OneForAll)
        .child(Probe::spec("invoices", "tree.invoices", &log))
        .child(Probe::spec("payments", "tree.payments", &log));
    let id = runtime
        .block_on(runtime.handle().deploy_supervisor("root", spec))
        .unwrap();
    assert_eq!(
        runtime.handle().deployment(id).unwrap().path.as_deref(),
        Some("root/billing")
    );
    let reply = runtime.block_on(
        runtime
            .bus()
            .request(&Address::new("tree.payments"), Cmd::Echo(3)),
    );
    assert_eq!(reply.ok(), Some(Reply::Number(3)));
    // A component deployed under it, then the supervisor undeployed with its subtree.
    runtime
        .block_on(
            runtime
                .handle()
                .deploy_under("root/billing", Probe::spec("late", "tree.late", &log)),
        )
        .unwrap();
    runtime.block_on(runtime.undeploy(id)).unwrap();
    assert_eq!(
        entries(&log)[3..],
        ["late stopped", "payments stopped", "invoices stopped"]
    );
    assert!(runtime.handle().supervisor("root/billing").is_none());
    let error = runtime
        .block_on(
            runtime
                .handle()
                .deploy_under("root/billing", Probe::spec("x", "tree.x", &log)),
        )
        .unwrap_err();
    assert_eq!(error, DeployError::NoSuchSupervisor("root/billing".into()));
    // A dynamic supervisor may not bring threads of its own.
    let error = runtime
        .block_on(
            runtime
                .handle()
                .deploy_supervisor("root", Supervisor::builder("heavy").reactors(1)),
        )
        .unwrap_err();
    assert_eq!(error, DeployError::InvalidSpec(SpecError::DynamicReactors));
}

#[test]
fn trees_that_make_no_sense_are_build_errors() {
    let log = log();
    let duplicate = Runtime::builder()
        .child(Probe::spec("a", "tree.dup1", &log))
        .child(Probe::spec("a", "tree.dup2", &log))
        .build()
        .unwrap_err();
    assert!(matches!(
        duplicate,
        BuildError::Tree(TreeError::DuplicateName { ref name, .. }) if name == "a"
    ));
    let zero = Runtime::builder()
        .supervisor(Supervisor::builder("empty").reactors(0))
        .build()
        .unwrap_err();
    assert!(
        matches!(zero, BuildError::Tree(TreeError::ZeroReactors { ref supervisor }) if supervisor == "root/empty")
    );
    let window = Runtime::builder()
        .intensity(Intensity {
            max_restarts: 3,
            window: Duration::ZERO,
        })
        .build()
        .unwrap_err();
    assert!(matches!(window, BuildError::Tree(TreeError::Policy { .. })));
    // A failing start in the static tree fails the build, and nothing is left running.
    struct Broken;
    impl Component for Broken {
        async fn start(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
            Err("no config".into())
        }
    }
    let failed = Runtime::builder()
        .reactors(1)
        .child(Probe::spec("fine", "tree.fine", &log))
        .child(ChildSpec::new("broken", || Broken))
        .build()
        .unwrap_err();
    assert!(matches!(failed, BuildError::StartFailed(ref f) if f.message() == "no config"));
    assert_eq!(entries(&log), ["fine started", "fine stopped"]);
}

struct Stubborn;
impl Component for Stubborn {
    async fn stop(&mut self, _: &mut Context<Self>) {
        // Never finishes: the shutdown timeout cuts it off.
        std::future::pending::<()>().await;
    }
}

#[test]
fn a_stop_that_overruns_its_timeout_is_abandoned() {
    let runtime = runtime(1);
    let id = runtime
        .block_on(runtime.deploy(
            ChildSpec::new("stubborn", || Stubborn).shutdown_timeout(Duration::from_millis(50)),
        ))
        .unwrap();
    let started = Instant::now();
    runtime.block_on(runtime.undeploy(id)).unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_name_is_unique_under_one_supervisor() {
    let log = log();
    let runtime = runtime(1);
    let first = runtime
        .block_on(runtime.deploy(Probe::spec("twin", "tree.twin", &log)))
        .unwrap();
    let error = runtime
        .block_on(runtime.deploy(Probe::spec("twin", "tree.twin2", &log)))
        .unwrap_err();
    assert_eq!(
        error,
        DeployError::InvalidSpec(SpecError::DuplicateName("twin".into()))
    );
    let error = runtime
        .block_on(runtime.deploy(Probe::spec("a/b", "tree.slash", &log)))
        .unwrap_err();
    assert_eq!(
        error,
        DeployError::InvalidSpec(SpecError::InvalidName("a/b".into()))
    );
    // Once undeployed, the name is free again.
    runtime.block_on(runtime.undeploy(first)).unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("twin", "tree.twin", &log)))
        .unwrap();
}
