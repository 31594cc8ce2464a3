//! Request-reply failure paths: timeouts with late replies discarded, recipient failure
//! when the handler panics or the component stops first (issue: core runtime, point 5).

#[path = "support/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use reactree::prelude::*;

const R: Address<Cmd> = Address::new("req.probe");

#[test]
fn a_request_times_out_and_its_late_reply_is_discarded() {
    let log = log();
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Probe::spec("p", "req.probe", &log)))
        .unwrap();
    let (control, gate) = gate();
    let started = Instant::now();
    let error = runtime
        .block_on(
            runtime
                .bus()
                .request_timeout(&R, Cmd::Hold(gate), Duration::from_millis(50)),
        )
        .unwrap_err();
    assert!(matches!(error, RequestError::Timeout(d) if d == Duration::from_millis(50)));
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(error.into_inner().is_none(), "the handler had the message");
    // The handler is still running; its reply comes too late and goes nowhere.
    control.wait_entered();
    control.open();
    let reply = runtime.block_on(runtime.bus().request(&R, Cmd::Echo(8)));
    assert_eq!(reply.ok(), Some(Reply::Number(8)));
    let stats = runtime.bus().stats(&R).unwrap();
    assert_eq!((stats.requested, stats.replied, stats.timed_out), (2, 1, 1));
}

#[test]
fn the_runtime_default_timeout_applies() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .request_timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("p", "req.probe", &log)))
        .unwrap();
    let (control, gate) = gate();
    let error = runtime
        .block_on(runtime.bus().request(&R, Cmd::Hold(gate)))
        .unwrap_err();
    assert!(matches!(error, RequestError::Timeout(d) if d == Duration::from_millis(40)));
    control.open();
}

#[test]
fn a_panicking_handler_fails_its_requester_at_once() {
    let log = log();
    let runtime = runtime(1);
    runtime.block_on(async {
        runtime
            .deploy(Probe::spec("p", "req.probe", &log))
            .await
            .unwrap();
        let started = Instant::now();
        let error = runtime
            .bus()
            .request_timeout(&R, Cmd::Panic, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(error.is_recipient_failure(), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not at its timeout"
        );
    });
}

#[test]
fn undeploy_fails_every_pending_request() {
    let log = log();
    let runtime = runtime(2);
    let id = runtime
        .block_on(runtime.deploy(Probe::spec("p", "req.probe", &log).reactor(1)))
        .unwrap();
    let (control, gate) = gate();
    let bus = runtime.bus().clone();
    let held = std::thread::spawn(move || async_io::block_on(bus.request(&R, Cmd::Hold(gate))));
    control.wait_entered();
    let queued: Vec<_> = (0..5)
        .map(|n| {
            let bus = runtime.bus().clone();
            std::thread::spawn(move || async_io::block_on(bus.request(&R, Cmd::Echo(n))))
        })
        .collect();
    // Every queued request is in the mailbox before the undeploy.
    assert!(eventually(GENEROUS, || {
        runtime.handle().deployment(id).is_some() && queued.iter().all(|q| !q.is_finished())
    }));
    std::thread::sleep(Duration::from_millis(20));
    let undeploy = {
        let handle = runtime.handle().clone();
        std::thread::spawn(move || async_io::block_on(handle.undeploy(id)))
    };
    // The held handler gets the spec's shutdown timeout; release it so the stop is quick.
    std::thread::sleep(Duration::from_millis(20));
    control.open();
    undeploy.join().unwrap().unwrap();
    // The held request completed before the stop; the queued ones fail at once.
    assert_eq!(held.join().unwrap().ok(), Some(Reply::Done));
    for q in queued {
        let error = q.join().unwrap().unwrap_err();
        assert!(
            error.is_recipient_failure() || error.is_no_handlers(),
            "{error:?}"
        );
    }
}

#[test]
fn a_handler_that_outlives_the_shutdown_timeout_is_abandoned() {
    let log = log();
    let runtime = runtime(1);
    let id = runtime
        .block_on(runtime.deploy(
            Probe::spec("p", "req.probe", &log).shutdown_timeout(Duration::from_millis(30)),
        ))
        .unwrap();
    let (control, gate) = gate();
    let bus = runtime.bus().clone();
    let held = std::thread::spawn(move || async_io::block_on(bus.request(&R, Cmd::Hold(gate))));
    control.wait_entered();
    let started = Instant::now();
    runtime.block_on(runtime.undeploy(id)).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    // Its requester learns the recipient failed; stop still ran.
    assert!(held.join().unwrap().unwrap_err().is_recipient_failure());
    assert_eq!(entries(&log), ["p started", "p stopped"]);
}
