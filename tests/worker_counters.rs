//! The counters add up: at quiescence `submitted = completed + rejected + cancelled +
//! panicked`, each job counted once, and the snapshot reports threads and queue capacity.

use std::time::Duration;

use futures_lite::future::block_on;
use reactree::{PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn counters_add_up_over_a_mixed_workload() {
    let config = PoolConfig::new().threads(1).queue_capacity(4);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let blocker = handle.execute_fn(move || {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE).expect("released");
    });
    started.recv_timeout(PATIENCE).unwrap();

    let ok = handle.try_execute_fn(|| ()).unwrap();
    let bad = handle.try_execute_fn(|| panic!("counted")).unwrap();
    drop(handle.execute_fn(|| ())); // cancelled: dropped before it starts
    let cancelled = handle.execute_fn(|| ());
    cancelled.cancel();
    let rejected = handle.try_execute_fn(|| ()).unwrap_err(); // four queued: full
    assert!(rejected.is_full());
    let line = handle.ordered();
    let ordered: Vec<_> = (0..3).map(|_| line.execute_fn(|| ())).collect();

    let stats = handle.stats();
    assert_eq!(
        (stats.active, stats.queue_len, stats.queue_capacity),
        (1, 4, 4)
    );
    assert_eq!(stats.in_flight(), 6, "blocker, ok, bad and three ordered");

    release.send(()).unwrap();
    block_on(async {
        blocker.await.unwrap();
        ok.await.unwrap();
        assert!(bad.await.unwrap_err().is_panicked());
        assert!(cancelled.await.unwrap_err().is_cancelled());
        for job in ordered {
            job.await.unwrap();
        }
    });

    let stats = handle.stats();
    assert_eq!(stats.submitted, 9);
    assert_eq!(stats.completed, 5);
    assert_eq!(stats.panicked, 1);
    assert_eq!(stats.cancelled, 2);
    assert_eq!(stats.rejected, 1);
    assert_eq!(
        stats.submitted,
        stats.completed + stats.rejected + stats.cancelled + stats.panicked
    );
    assert_eq!((stats.active, stats.threads, stats.detached), (0, 1, 0));
}

#[test]
fn counters_add_up_under_concurrent_submitters() {
    let pool = WorkerPool::new(PoolConfig::new().threads(3).queue_capacity(8)).unwrap();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let submitters: Vec<_> = (0..4u64)
        .map(|s| {
            let handle = pool.handle();
            std::thread::spawn(move || {
                block_on(async {
                    let mut futures = Vec::new();
                    for i in 0..500u64 {
                        match i % 4 {
                            0 => futures.push(handle.execute_fn(move || s + i)),
                            1 => {
                                if let Ok(job) = handle.try_execute_fn(move || s * i) {
                                    futures.push(job);
                                }
                            }
                            2 => drop(handle.execute_fn(move || i)),
                            _ => futures.push(handle.execute_fn(move || {
                                assert!(i % 8 != 3, "panics on purpose");
                                i
                            })),
                        }
                    }
                    for job in futures {
                        let _ = job.await;
                    }
                });
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    std::panic::set_hook(default_hook);
    // A job whose future was dropped after it started still runs; shutdown waits for
    // it (joining the threads), after which every job is settled.
    let handle = pool.handle();
    pool.shutdown();
    let stats = handle.stats();
    assert_eq!(stats.submitted, 2_000);
    assert_eq!(stats.in_flight(), 0, "{stats:?}");
    assert_eq!(stats.panicked, 4 * 63);
}
