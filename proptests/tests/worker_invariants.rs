//! Property tests of the worker pool over random job mixes — fast, slow, panicking,
//! cancelled before they start, refused by a full queue, plain and ordered (issue: worker
//! pools and the blocked-reactor watchdog):
//! - the queue, and each ordered line, never holds more than its capacity;
//! - every submitted job is settled exactly once, and at quiescence
//!   `submitted = completed + rejected + cancelled + panicked`;
//! - the pool keeps its thread count throughout.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use reactree::{JobError, JobFuture, PoolConfig, WorkerPool};

#[derive(Debug, Clone, Copy)]
enum Job {
    Fast,
    Slow(u64),
    Panic,
}

#[derive(Debug, Clone, Copy)]
enum Submit {
    /// `execute`, awaited later.
    Await(Job),
    /// `try_execute`, awaited later if accepted.
    Try(Job),
    /// `execute`, then the future is dropped at once.
    Drop(Job),
    /// An ordered job of line 0 or 1.
    Ordered(usize, Job),
}

fn job() -> impl Strategy<Value = Job> {
    prop_oneof![
        5 => Just(Job::Fast),
        3 => (0u64..3).prop_map(Job::Slow),
        1 => Just(Job::Panic),
    ]
}

fn submit() -> impl Strategy<Value = Submit> {
    prop_oneof![
        3 => job().prop_map(Submit::Await),
        3 => job().prop_map(Submit::Try),
        2 => job().prop_map(Submit::Drop),
        2 => (0usize..2, job()).prop_map(|(line, job)| Submit::Ordered(line, job)),
    ]
}

fn run(job: Job) -> u8 {
    match job {
        Job::Fast => 1,
        Job::Slow(ms) => {
            std::thread::sleep(Duration::from_millis(ms));
            2
        }
        Job::Panic => panic!("job asked to panic"),
    }
}

fn check(threads: usize, capacity: usize, submits: Vec<Submit>) -> Result<(), TestCaseError> {
    let pool = WorkerPool::new(
        PoolConfig::new()
            .name("prop")
            .threads(threads)
            .queue_capacity(capacity),
    )
    .unwrap();
    let handle = pool.handle();
    let lines = [handle.ordered(), handle.ordered()];
    let mut pending: Vec<JobFuture<u8>> = Vec::new();
    for submit in submits {
        match submit {
            Submit::Await(j) => pending.push(handle.execute_fn(move || run(j))),
            Submit::Try(j) => {
                if let Ok(future) = handle.try_execute_fn(move || run(j)) {
                    pending.push(future);
                }
            }
            Submit::Drop(j) => drop(handle.execute_fn(move || run(j))),
            Submit::Ordered(line, j) => pending.push(lines[line].execute_fn(move || run(j))),
        }
        let stats = handle.stats();
        prop_assert!(
            stats.queue_len <= capacity,
            "queue {} over capacity {}",
            stats.queue_len,
            capacity
        );
        prop_assert_eq!(stats.threads, threads, "thread count changed");
    }
    // Every future settles exactly once, with the job's value or a typed error.
    let outcomes = futures_lite::future::block_on(async {
        let mut outcomes = Vec::new();
        for future in pending {
            outcomes.push(future.await);
        }
        outcomes
    });
    for outcome in &outcomes {
        match outcome {
            Ok(1 | 2) | Err(JobError::Panicked(_)) | Err(JobError::Cancelled) => {}
            other => prop_assert!(false, "unexpected outcome {:?}", other),
        }
    }
    // Quiescence: dropped futures' jobs settle too (as cancelled, or completed if they ran).
    let end = Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = handle.stats();
        if stats.in_flight() == 0 || Instant::now() > end {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    prop_assert_eq!(stats.in_flight(), 0, "jobs still in flight: {:?}", stats);
    prop_assert_eq!(
        stats.submitted,
        stats.completed + stats.rejected + stats.cancelled + stats.panicked,
        "the books do not balance: {:?}",
        stats
    );
    let report = pool.shutdown();
    prop_assert_eq!(report.detached, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn worker_pool_invariants_hold(
        threads in 1usize..5,
        capacity in 1usize..9,
        submits in prop::collection::vec(submit(), 1..80),
    ) {
        check(threads, capacity, submits)?;
    }
}
