//! Each restart strategy end to end, with real components that panic on command: which
//! siblings are stopped (in reverse start order) and restarted (in start order), and
//! that the untouched ones keep running (issue: supervision tree).

#[path = "support/common.rs"]
mod common;

use common::*;
use reactree::Strategy;
use reactree::prelude::*;

fn address(name: &str) -> Address<Cmd> {
    Address::from_string(format!("strategy.{name}"))
}

/// A runtime whose root runs `a`, `b`, `c` (in that order) under `strategy`.
fn three(strategy: Strategy, log: &Log) -> Runtime {
    let mut builder = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .strategy(strategy);
    for name in ["a", "b", "c"] {
        let leaked: &'static str = Box::leak(format!("strategy.{name}").into_boxed_str());
        builder = builder.child(Probe::spec(name, leaked, log));
    }
    builder.build().unwrap()
}

/// Makes `name` panic and waits until the supervisor has made its `restarts`th restart
/// and every child runs again.
fn crash(runtime: &Runtime, name: &str, restarts: u64) {
    let error = runtime
        .block_on(runtime.bus().request(&address(name), Cmd::Panic))
        .unwrap_err();
    assert!(error.is_recipient_failure());
    // The failed child answers again once the restarts are done.
    let reply = runtime.block_on(async {
        loop {
            if let Ok(reply) = runtime.bus().request(&address(name), Cmd::Echo(1)).await {
                break reply;
            }
            futures_lite::future::yield_now().await;
        }
    });
    assert_eq!(reply, Reply::Number(1));
    assert!(eventually(GENEROUS, || {
        runtime.handle().supervisor("root").is_some_and(|info| {
            info.restarts == restarts && info.children.iter().all(|(_, running)| *running)
        })
    }));
}

fn after_boot(log: &Log) -> Vec<String> {
    entries(log).split_off(3)
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let log = log();
    let runtime = three(Strategy::OneForOne, &log);
    assert_eq!(entries(&log), ["a started", "b started", "c started"]);
    crash(&runtime, "b", 1);
    assert_eq!(after_boot(&log), ["b stopped", "b started"]);
    let info = runtime.handle().supervisor("root").unwrap();
    assert_eq!(info.restarts, 1);
    assert!(info.children.iter().all(|(_, running)| *running));
}

#[test]
fn one_for_all_restarts_every_child_in_order() {
    let log = log();
    let runtime = three(Strategy::OneForAll, &log);
    crash(&runtime, "b", 1);
    // b stopped itself (it failed); the others are stopped in reverse start order, then
    // all start again in start order.
    assert_eq!(
        after_boot(&log),
        [
            "b stopped",
            "c stopped",
            "a stopped",
            "a started",
            "b started",
            "c started"
        ]
    );
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let log = log();
    let runtime = three(Strategy::RestForOne, &log);
    crash(&runtime, "b", 1);
    assert_eq!(
        after_boot(&log),
        ["b stopped", "c stopped", "b started", "c started"]
    );
    // Crashing the last one restarts only itself.
    log.lock().unwrap().clear();
    crash(&runtime, "c", 2);
    assert_eq!(entries(&log), ["c stopped", "c started"]);
}

#[test]
fn temporary_siblings_are_not_restarted_by_a_group_restart() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .strategy(Strategy::OneForAll)
        .child(Probe::spec("a", "strategy.a", &log))
        .child(Probe::spec("t", "strategy.t", &log).restart(RestartType::Temporary))
        .build()
        .unwrap();
    crash(&runtime, "a", 1);
    assert_eq!(
        after_boot_of(&log, 2),
        ["a stopped", "t stopped", "a started"]
    );
    assert_eq!(runtime.bus().consumers(&address("t")), 0);
}

fn after_boot_of(log: &Log, n: usize) -> Vec<String> {
    entries(log).split_off(n)
}

/// Children undeployed from the middle of a supervisor's list, in a scattered order
/// (most leave a placeholder behind, swept later), leave the supervisor deciding as if
/// they had never been there: a rest-for-one restart stops and starts exactly the
/// failed child and the live ones after it, their names can be deployed again, and
/// the live ones' cannot.
#[test]
fn rest_for_one_after_scattered_undeploys_restarts_exactly_the_children_after() {
    const COUNT: usize = 150;
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .strategy(Strategy::RestForOne)
        .build()
        .unwrap();
    let name = |i: usize| format!("mid{i}");
    let spec = |i: usize| {
        let leaked: &'static str = Box::leak(format!("strategy.mid{i}").into_boxed_str());
        Probe::spec(&name(i), leaked, &log)
    };
    let ids: Vec<DeploymentId> = (0..COUNT)
        .map(|i| runtime.block_on(runtime.deploy(spec(i))).unwrap())
        .collect();
    // A rest-for-one restart from `mid75` over the children alive in `live`.
    let expect_restart = |live: &[usize]| {
        let after: Vec<usize> = live.iter().copied().filter(|&i| i > 75).collect();
        let mut expected = vec!["mid75 stopped".to_owned()];
        expected.extend(after.iter().rev().map(|&i| format!("mid{i} stopped")));
        expected.push("mid75 started".to_owned());
        expected.extend(after.iter().map(|&i| format!("mid{i} started")));
        expected
    };
    // Every fifth stays; the others go in a scattered order (7 is prime to 150).
    // Halfway, with placeholders of undeployed children among the live ones, one fails.
    let kept: Vec<usize> = (0..COUNT).filter(|i| i.is_multiple_of(5)).collect();
    let mut live: Vec<usize> = (0..COUNT).collect();
    for step in 0..COUNT {
        let i = (step * 7) % COUNT;
        if !i.is_multiple_of(5) {
            runtime.block_on(runtime.undeploy(ids[i])).unwrap();
            live.retain(|&l| l != i);
        }
        if step == COUNT / 2 {
            log.lock().unwrap().clear();
            crash(&runtime, "mid75", 1);
            assert_eq!(entries(&log), expect_restart(&live));
        }
    }
    assert_eq!(runtime.handle().deployment_count(), kept.len());
    let children: Vec<String> = runtime
        .handle()
        .supervisor("root")
        .unwrap()
        .children
        .into_iter()
        .map(|(child, running)| {
            assert!(running);
            child
        })
        .collect();
    assert_eq!(children, kept.iter().map(|&i| name(i)).collect::<Vec<_>>());

    log.lock().unwrap().clear();
    crash(&runtime, "mid75", 2);
    assert_eq!(entries(&log), expect_restart(&kept));

    // An undeployed child's name is free again; a live one's is not.
    runtime.block_on(runtime.deploy(spec(1))).unwrap();
    let taken = runtime.block_on(runtime.deploy(spec(5))).unwrap_err();
    assert!(
        matches!(
            taken,
            DeployError::InvalidSpec(reactree::SpecError::DuplicateName(ref n)) if n == "mid5"
        ),
        "{taken:?}"
    );
}
