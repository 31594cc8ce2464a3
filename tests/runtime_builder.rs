//! Building a runtime: defaults, typed errors for invalid settings, named reactor threads
//! (issue: core runtime, point 1).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::{BuildError, DEFAULT_REQUEST_TIMEOUT, Runtime};

#[test]
fn zero_settings_are_typed_errors() {
    assert!(matches!(
        Runtime::builder().reactors(0).build(),
        Err(BuildError::ZeroReactors)
    ));
    assert!(matches!(
        Runtime::builder().mailbox_capacity(0).build(),
        Err(BuildError::ZeroMailboxCapacity)
    ));
    assert!(matches!(
        Runtime::builder().request_timeout(Duration::ZERO).build(),
        Err(BuildError::ZeroRequestTimeout)
    ));
}

#[test]
fn defaults_follow_the_machine() {
    let runtime = Runtime::builder().build().unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(runtime.handle().reactors(), cpus);
    assert_eq!(runtime.bus().default_timeout(), DEFAULT_REQUEST_TIMEOUT);
}

#[test]
fn reactor_threads_are_named_and_serve_components() {
    let log = log();
    let runtime = runtime(3);
    runtime.block_on(async {
        let mut names = Vec::new();
        for i in 0..3 {
            let address: &'static str = Box::leak(format!("named.{i}").into_boxed_str());
            runtime
                .deploy(Probe::spec(&format!("p{i}"), address, &log).reactor(i))
                .await
                .unwrap();
            let reply = runtime
                .bus()
                .request(&reactree::Address::<Cmd>::new(address), Cmd::Thread)
                .await
                .unwrap();
            names.push(reply);
        }
        let expected: Vec<Reply> = (0..3)
            .map(|i| Reply::Thread(format!("reactree-reactor-{i}")))
            .collect();
        assert_eq!(names, expected);
    });
}

#[test]
fn a_spinning_idle_policy_serves_across_reactors_and_shuts_down() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(TEST_POOL_THREADS))
        .idle_policy(reactree::IdlePolicy::Spin(Duration::from_micros(50)))
        .build()
        .unwrap();
    let address = reactree::Address::<Cmd>::new("spin.echo");
    runtime.block_on(async {
        runtime
            .deploy(Probe::spec("echo", "spin.echo", &log).reactor(1))
            .await
            .unwrap();
        for i in 0..1000 {
            let reply = runtime.bus().request(&address, Cmd::Echo(i)).await.unwrap();
            assert_eq!(reply, Reply::Number(i));
        }
    });
    // Shutdown joins the (spinning or parked) reactors as usual.
    runtime.shutdown();
}
