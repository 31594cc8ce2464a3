//! The process's OS thread count (`Threads:` in /proc/self/status) does not change
//! while a pool runs 10,000 jobs, hundreds of them panicking: workers are never added,
//! never lost. Alone in its binary, so no other test starts threads meanwhile.

use std::panic;

use futures_lite::future::block_on;
use reactree::{PoolConfig, WorkerPool};

fn os_threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("a Threads: line")
}

#[test]
fn thread_count_is_constant_over_ten_thousand_jobs_with_panics() {
    let pool = WorkerPool::new(PoolConfig::new().threads(4).queue_capacity(256)).unwrap();
    let handle = pool.handle();
    let before = os_threads();

    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let results: Vec<Result<u32, _>> = block_on(async {
        let jobs: Vec<_> = (0..10_000u32)
            .map(|i| {
                handle.execute_fn(move || {
                    assert!(i % 25 != 0, "job {i} panics on purpose");
                    i
                })
            })
            .collect();
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            results.push(job.await);
        }
        results
    });
    panic::set_hook(default_hook);

    let panicked = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(panicked, 400);
    assert_eq!(os_threads(), before, "the pool's thread count changed");
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.panicked, stats.threads),
        (9_600, 400, 4)
    );
}
