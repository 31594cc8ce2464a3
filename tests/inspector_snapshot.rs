//! The inspector's snapshot in code and in a terminal: it follows deploys, undeploys,
//! failures and restarts; mailbox lengths are exact for a component held busy with
//! messages queued behind it; worker counters add up; the tree renders one line per node
//! within 80 columns (issue: inspector).

#[path = "support/common.rs"]
mod common;

use common::*;
use reactree::prelude::*;
use reactree::{ComponentSnapshot, Snapshot};

fn component<'a>(snapshot: &'a Snapshot, path: &str) -> &'a ComponentSnapshot {
    snapshot
        .components
        .iter()
        .find(|c| c.path == path)
        .unwrap_or_else(|| panic!("no {path} in {snapshot:#?}"))
}

#[test]
fn the_snapshot_follows_the_tree() {
    let log = log();
    let sales = Supervisor::builder("sales")
        .reactors(1)
        .child(Probe::spec("inventory", "insp.inventory", &log).mailbox_capacity(8));
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(reactree::PoolConfig::new().threads(2))
        .child(Probe::spec("pricing", "insp.pricing", &log))
        .supervisor(sales)
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let snapshot = handle.inspect();
    let paths: Vec<&str> = snapshot
        .supervisors
        .iter()
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(paths, ["root", "root/sales"]);
    assert_eq!(snapshot.supervisors[0].children, ["pricing", "sales"]);
    let inventory = component(&snapshot, "root/sales/inventory");
    assert_eq!(
        (inventory.state.as_str(), inventory.reactor),
        ("running", 1)
    );
    assert_eq!(snapshot.reactors.len(), 2);
    assert_eq!(snapshot.reactors[1].components, 1);

    // A busy component with messages queued behind it: exact mailbox length.
    let (control, gate) = gate();
    let inventory_address = Address::<Cmd>::new("insp.inventory");
    runtime
        .bus()
        .try_send(&inventory_address, Cmd::Hold(gate))
        .unwrap();
    control.wait_entered();
    for n in 0..5 {
        runtime
            .bus()
            .try_send(&inventory_address, Cmd::Record(n))
            .unwrap();
    }
    let busy = handle.inspect();
    let inventory = component(&busy, "root/sales/inventory");
    assert_eq!((inventory.mailbox_len, inventory.mailbox_capacity), (5, 8));
    let rendered = busy.to_string();
    assert!(rendered.contains("5/8"), "{rendered}");
    control.open();
    assert!(eventually(GENEROUS, || component(
        &handle.inspect(),
        "root/sales/inventory"
    )
    .handled
        == 6));

    // A failure and a restart show.
    let _ = runtime.block_on(
        runtime
            .bus()
            .request(&Address::<Cmd>::new("insp.pricing"), Cmd::Panic),
    );
    assert!(eventually(GENEROUS, || {
        let s = handle.inspect();
        let pricing = component(&s, "root/pricing");
        pricing.restarts == 1 && pricing.state == "running" && s.supervisors[0].restarts == 1
    }));
    let pricing = component(&handle.inspect(), "root/pricing").clone();
    assert_eq!(pricing.failures, 1);
    assert_eq!(
        pricing.last_failure.as_deref(),
        Some("handler panicked: handler exploded")
    );

    // Deploys and undeploys show; the bus lists the address with its counters.
    let id = runtime
        .block_on(runtime.deploy(Probe::spec("extra", "insp.extra", &log)))
        .unwrap();
    let with_extra = handle.inspect();
    assert_eq!(component(&with_extra, "root/extra").state, "running");
    assert!(
        with_extra
            .bus
            .iter()
            .any(|a| a.address == "insp.extra" && a.counters.consumers == 1)
    );
    let inv = with_extra
        .bus
        .iter()
        .find(|a| a.address == "insp.inventory")
        .unwrap();
    assert_eq!(inv.counters.sent, 6);
    runtime.block_on(runtime.undeploy(id)).unwrap();
    let after = handle.inspect();
    assert!(after.components.iter().all(|c| c.name != "extra"));
    assert!(after.bus.iter().all(|a| a.address != "insp.extra"));

    // Worker counters add up.
    let pool = handle.worker_pool().clone();
    for _ in 0..10 {
        runtime.block_on(pool.execute_fn(|| ())).unwrap();
    }
    let _ = runtime.block_on(pool.execute_fn(|| panic!("job exploded")));
    let pools = handle.inspect().pools;
    let (name, default) = (&pools[0].name, &pools[0].stats);
    assert_eq!(name, "default");
    assert_eq!(
        (
            default.threads,
            default.submitted,
            default.completed,
            default.panicked
        ),
        (2, 11, 10, 1)
    );
    assert_eq!(
        default.submitted,
        default.completed + default.rejected + default.cancelled + default.panicked
    );
}

#[test]
fn the_tree_renders_within_80_columns() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .child(Probe::spec("pricing", "render.pricing", &log))
        .supervisor(
            Supervisor::builder("sales")
                .child(Probe::spec("inventory", "render.inventory", &log))
                .child(Probe::spec("orders", "render.orders", &log).instances(2)),
        )
        .child(Probe::spec("notifications", "render.notifications", &log))
        .build()
        .unwrap();
    let text = runtime.handle().inspect().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("root [one-for-one] running"), "{text}");
    assert!(lines[1].starts_with("├─ pricing#0"), "{text}");
    assert!(lines[2].starts_with("├─ sales [one-for-one]"), "{text}");
    assert!(lines[3].starts_with("│  ├─ inventory#0"), "{text}");
    assert!(lines[4].starts_with("│  ├─ orders#0"), "{text}");
    assert!(lines[5].starts_with("│  └─ orders#1"), "{text}");
    assert!(lines[6].starts_with("└─ notifications#0"), "{text}");
    assert!(text.contains("0/1024"), "{text}");
    for line in &lines {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

#[test]
fn mailbox_lengths_follow_an_instance_started_afresh_by_its_supervisors_restart() {
    let log = log();
    let address = Address::<Cmd>::new("fresh.inventory");
    // Sales gives up at its first failure, so root restarts it: its children are
    // terminated and started again as new tasks, each with a new mailbox.
    let sales = Supervisor::builder("sales")
        .intensity(reactree::Intensity::new(0, std::time::Duration::from_secs(60)).unwrap())
        .child(Probe::spec("inventory", "fresh.inventory", &log).mailbox_capacity(8));
    let runtime = Runtime::builder()
        .reactors(1)
        .supervisor(sales)
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let _ = runtime.block_on(runtime.bus().request(&address, Cmd::Panic));
    assert!(eventually(GENEROUS, || {
        handle
            .supervisor("root")
            .is_some_and(|root| root.restarts == 1)
            && component(&handle.inspect(), "root/sales/inventory").state == "running"
    }));
    let (control, gate) = gate();
    runtime.bus().try_send(&address, Cmd::Hold(gate)).unwrap();
    control.wait_entered();
    for n in 0..3 {
        runtime.bus().try_send(&address, Cmd::Record(n)).unwrap();
    }
    let inventory = component(&handle.inspect(), "root/sales/inventory").clone();
    control.open();
    assert_eq!((inventory.mailbox_len, inventory.mailbox_capacity), (3, 8));
}
