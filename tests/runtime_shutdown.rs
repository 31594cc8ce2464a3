//! Shutdown: every component stops, the latest deployed first; work in flight ends with
//! typed errors; dropping the runtime does the same (issue: core runtime, point 7). The
//! thread count's return to its baseline is in `runtime_threads.rs`, alone in its binary.

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;

#[test]
fn shutdown_stops_components_in_reverse_deploy_order() {
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        for name in ["first", "second", "third"] {
            let address: &'static str = Box::leak(format!("shutdown.{name}").into_boxed_str());
            runtime
                .deploy(Probe::spec(name, address, &log))
                .await
                .unwrap();
        }
    });
    runtime.shutdown();
    assert_eq!(
        entries(&log),
        [
            "first started",
            "second started",
            "third started",
            "third stopped",
            "second stopped",
            "first stopped"
        ]
    );
}

#[test]
fn dropping_the_runtime_shuts_it_down_with_work_in_flight() {
    let log = log();
    let runtime = runtime(2);
    let address = Address::<Cmd>::new("shutdown.busy");
    runtime
        .block_on(runtime.deploy(
            Probe::spec("busy", "shutdown.busy", &log).shutdown_timeout(Duration::from_millis(50)),
        ))
        .unwrap();
    let (control, gate) = gate();
    let bus = runtime.bus().clone();
    let held = {
        let (bus, address) = (bus.clone(), address.clone());
        std::thread::spawn(move || async_io::block_on(bus.request(&address, Cmd::Hold(gate))))
    };
    control.wait_entered();
    let queued: Vec<_> = (0..10)
        .map(|n| {
            let (bus, address) = (bus.clone(), address.clone());
            std::thread::spawn(move || async_io::block_on(bus.request(&address, Cmd::Echo(n))))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    drop(runtime);
    // Every request in flight completed exactly once, with a typed error.
    assert!(held.join().unwrap().unwrap_err().is_recipient_failure());
    for q in queued {
        let error = q.join().unwrap().unwrap_err();
        assert!(
            error.is_recipient_failure() || error.is_no_handlers(),
            "{error:?}"
        );
    }
    assert_eq!(entries(&log), ["busy started", "busy stopped"]);
    // The bus outlives the runtime as a handle, and says so with typed errors.
    assert!(
        bus.try_send(&address, Cmd::Echo(1))
            .unwrap_err()
            .into_inner()
            .is_echo()
    );
    control.open();
}

trait IsEcho {
    fn is_echo(&self) -> bool;
}
impl IsEcho for Cmd {
    fn is_echo(&self) -> bool {
        matches!(self, Cmd::Echo(1))
    }
}

#[test]
fn deploy_after_shutdown_began_is_refused() {
    let log = log();
    let runtime = runtime(1);
    let handle = runtime.handle().clone();
    runtime.shutdown();
    let error =
        async_io::block_on(handle.deploy(Probe::spec("late", "shutdown.late", &log))).unwrap_err();
    assert_eq!(error, DeployError::ShuttingDown);
    assert!(entries(&log).is_empty());
}
