//! Restart intensity, escalation and backoff: a supervisor past its intensity stops its
//! children and fails to its parent, which restarts its subtree on the reactors it
//! already owns; past the root, the runtime ends and `wait` returns the failure; backoff
//! delays are observed, and a mailbox keeps accepting (then pushes back) while its child
//! waits them out (issue: supervision tree).

#[path = "support/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use reactree::prelude::*;
use reactree::{Backoff, FailureKind, Intensity};

const INVENTORY: Address<Cmd> = Address::new("esc.inventory");

fn panic_once(runtime: &Runtime, address: &Address<Cmd>) {
    let error = runtime
        .block_on(runtime.bus().request(address, Cmd::Panic))
        .unwrap_err();
    assert!(error.is_recipient_failure(), "{error:?}");
}

fn answers(runtime: &Runtime, address: &Address<Cmd>) -> bool {
    runtime
        .block_on(runtime.bus().request(address, Cmd::Echo(5)))
        .is_ok_and(|r| r == Reply::Number(5))
}

#[test]
fn a_nested_supervisor_past_its_intensity_is_restarted_by_its_parent() {
    let log = log();
    let sales = Supervisor::builder("sales")
        .intensity(Intensity::new(1, Duration::from_secs(60)).unwrap())
        .reactors(1)
        .child(Probe::spec("inventory", "esc.inventory", &log))
        .child(Probe::spec("orders", "esc.orders", &log));
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .supervisor(sales)
        .build()
        .unwrap();
    panic_once(&runtime, &INVENTORY);
    assert!(eventually(GENEROUS, || answers(&runtime, &INVENTORY)));
    // The second failure within the window exceeds sales' intensity of 1.
    log.lock().unwrap().clear();
    panic_once(&runtime, &INVENTORY);
    assert!(eventually(GENEROUS, || {
        runtime
            .handle()
            .supervisor("root")
            .is_some_and(|root| root.restarts == 1)
    }));
    assert!(eventually(GENEROUS, || answers(&runtime, &INVENTORY)));
    // Sales stopped its children (reverse order) and started them again, fresh, on the
    // reactor it owns.
    assert_eq!(
        entries(&log),
        [
            "inventory stopped",
            "orders stopped",
            "inventory started",
            "orders started"
        ]
    );
    let thread = runtime.block_on(runtime.bus().request(&INVENTORY, Cmd::Thread));
    assert_eq!(
        thread.ok(),
        Some(Reply::Thread("reactree-reactor-1".into()))
    );
    let sales = runtime.handle().supervisor("root/sales").unwrap();
    assert_eq!((sales.restarts, sales.escalated), (0, false));
}

#[test]
fn past_the_root_the_runtime_ends_and_wait_returns_the_failure() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .intensity(Intensity::new(0, Duration::from_secs(60)).unwrap())
        .child(Probe::spec("fragile", "esc.fragile", &log))
        .build()
        .unwrap();
    let bus = runtime.bus().clone();
    let crasher = std::thread::spawn(move || {
        async_io::block_on(bus.request(&Address::<Cmd>::new("esc.fragile"), Cmd::Panic))
    });
    let failure = runtime.wait().unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Escalated);
    assert!(failure.message().contains("root"), "{failure}");
    assert!(crasher.join().unwrap().is_err());
    assert_eq!(entries(&log), ["fragile started", "fragile stopped"]);
}

#[test]
fn wait_returns_ok_after_a_requested_shutdown() {
    let runtime = runtime(1);
    let handle = runtime.handle().clone();
    let asker = std::thread::spawn(move || handle.request_shutdown());
    assert_eq!(runtime.wait(), Ok(()));
    asker.join().unwrap();
}

#[test]
fn backoff_delays_a_restart_while_the_mailbox_keeps_accepting() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .backoff(Backoff::Fixed(Duration::from_millis(300)))
        .child(Probe::spec("slowpoke", "esc.inventory", &log).mailbox_capacity(3))
        .build()
        .unwrap();
    let crashed = Instant::now();
    panic_once(&runtime, &INVENTORY);
    // While it waits out its backoff, its mailbox takes messages up to its capacity...
    for n in 0..3 {
        runtime.bus().try_send(&INVENTORY, Cmd::Record(n)).unwrap();
    }
    // ... and then pushes back.
    assert!(
        runtime
            .bus()
            .try_send(&INVENTORY, Cmd::Record(9))
            .unwrap_err()
            .is_full()
    );
    assert!(eventually(GENEROUS, || {
        entries(&log).last().map(String::as_str) == Some("slowpoke got 2")
    }));
    let took = crashed.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "restarted after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "restarted after {took:?}");
    // The accepted messages went to the new instance, in order.
    assert_eq!(
        entries(&log)[2..],
        [
            "slowpoke started",
            "slowpoke got 0",
            "slowpoke got 1",
            "slowpoke got 2"
        ]
    );
}
