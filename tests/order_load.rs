//! A short, bounded run of the order service's load generator, in-process, with chaos
//! switched on: the runtime's thread count stays constant, every acknowledged order is
//! in the journal, nothing but 2xx and explicit 503 backpressure comes back, and the
//! inspector shows the restarts (issue: flagship example, load and stability).

#[path = "../examples/order_service/app/mod.rs"]
mod app;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::load::{LoadConfig, one_off};
use app::service::Service;
use app::settings::Settings;
use hyper::Method;

/// Threads of this process named `reactree-*`: the service's own.
fn runtime_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|name| name.starts_with("reactree-"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_short_load_run_with_chaos_is_stable() {
    let dir = std::env::temp_dir().join(format!(
        "reactree-order-load-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let settings = Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        journal: dir.join("orders.jsonl"),
        workers: 2,
        ..Settings::default()
    };
    let service = Service::start(&settings).expect("the service starts");
    // Every thread the service starts: its reactors, the `sales` supervisor's own
    // reactor, the journal's workers and the watchdog. A thread names itself once it
    // runs, so poll until all of them have (a single reading right after the start can
    // miss one).
    let expected = settings.reactors + 1 + settings.workers + 1;
    let deadline = Instant::now() + Duration::from_secs(10);
    while runtime_threads() != expected && Instant::now() < deadline {
        std::thread::yield_now();
    }
    let before = runtime_threads();
    assert_eq!(before, expected, "the service's threads");

    let report = app::load::run(&LoadConfig {
        addr: service.addr(),
        clients: 32,
        duration: Duration::from_secs(4),
        threads: 2,
        chaos_every: Some(Duration::from_millis(700)),
    });
    println!("{}", report.summary());

    assert_eq!(runtime_threads(), before, "no thread growth");
    assert!(
        report.chaos_strikes >= 3,
        "chaos armed {} times",
        report.chaos_strikes
    );
    assert!(!report.placed.is_empty(), "{}", report.summary());
    // Only answers the service means: 2xx, 503 (backpressure, or a component caught
    // mid-panic) and, on a CI machine busy with other tests, 504 (a bus timeout). No
    // dropped connection, no 500.
    let unexpected: Vec<u16> = report
        .statuses
        .keys()
        .copied()
        .filter(|s| !(200..300).contains(s) && *s != 503 && *s != 504)
        .collect();
    assert!(
        unexpected.is_empty(),
        "{unexpected:?}: {}",
        report.summary()
    );
    assert_eq!(report.transport_errors, 0, "{}", report.summary());

    let journal = std::fs::read_to_string(&settings.journal).unwrap();
    let written: HashSet<u64> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_u64())
        .collect();
    let lost: Vec<u64> = report
        .placed
        .iter()
        .copied()
        .filter(|id| !written.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the journal: {lost:?}"
    );

    // The restarts show in the inspector.
    let (_, body) = one_off(service.addr(), Method::GET, "/inspect", None).unwrap();
    let snapshot: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let restarts: u64 = snapshot["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["restarts"].as_u64().unwrap_or(0))
        .sum();
    assert!(restarts >= 2, "{restarts} restarts in the inspector");

    service.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
