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

/// Arms a timer in `start` that says when it fires.
struct Alarm(std::sync::mpsc::Sender<()>);
impl reactree::Component for Alarm {
    async fn start(&mut self, ctx: &mut reactree::Context<Self>) -> Result<(), reactree::BoxError> {
        ctx.run_later(Duration::from_millis(20), |alarm: &mut Alarm, _| {
            let _ = alarm.0.send(());
        });
        Ok(())
    }
}

#[test]
fn reactors_parked_outside_the_poller_serve_fire_timers_and_time_requests_out() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(TEST_POOL_THREADS))
        .idle_policy(reactree::IdlePolicy::ParkOutsidePoller)
        .build()
        .unwrap();
    // This test's threads never wait in async-io's poller from here on (futures-lite's
    // `block_on` parks on its own), nor do the reactors: the timers below fire because
    // another thread drives the poller (async-io's own, whenever no thread is in
    // `async_io::block_on`).
    use futures_lite::future::block_on as wait;
    let address = reactree::Address::<Cmd>::new("outside.echo");
    wait(runtime.deploy(Probe::spec("echo", "outside.echo", &log).reactor(1))).unwrap();
    for i in 0..1000 {
        let reply = wait(runtime.bus().request(&address, Cmd::Echo(i))).unwrap();
        assert_eq!(reply, Reply::Number(i));
    }
    // A component's timer.
    let (fired_tx, fired) = std::sync::mpsc::channel();
    wait(
        runtime
            .deploy(reactree::ChildSpec::new("alarm", move || Alarm(fired_tx.clone())).reactor(0)),
    )
    .unwrap();
    fired
        .recv_timeout(GENEROUS)
        .expect("the alarm's timer fired");
    // A request nobody answers in time ends as a timeout: its deadline is a timer too.
    let (control, held) = gate();
    let held = wait(runtime.bus().request_timeout(
        &address,
        Cmd::Hold(held),
        Duration::from_millis(50),
    ));
    assert!(
        matches!(held, Err(reactree::RequestError::Timeout(_))),
        "{held:?}"
    );
    control.open();
    // Shutdown joins the parked reactors as usual.
    runtime.shutdown();
}
