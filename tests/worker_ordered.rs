//! Ordered execution (Vert.x's `ordered` flag): the jobs of one `SerialQueue` run one at
//! a time in submission order even on a many-thread pool, while other jobs keep using
//! the other threads; no thread is pinned for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use futures_lite::future::block_on;
use reactree::{PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn ordered_jobs_keep_submission_order_and_never_overlap_on_four_threads() {
    let pool = WorkerPool::new(PoolConfig::new().threads(4).queue_capacity(64)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let order = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicBool::new(false));
    let mut jobs = Vec::new();
    let mut noise = Vec::new();
    for i in 0..2_000u32 {
        let (order, running) = (order.clone(), running.clone());
        jobs.push(line.execute(move |_token| {
            assert!(
                !running.swap(true, Ordering::SeqCst),
                "two jobs of a line overlapped"
            );
            order.lock().unwrap().push(i);
            running.store(false, Ordering::SeqCst);
        }));
        if i % 10 == 0 {
            noise.push(handle.execute_fn(move || i));
        }
    }
    block_on(async {
        for job in jobs {
            job.await.expect("ordered job returns");
        }
        for job in noise {
            job.await.expect("plain job returns");
        }
    });
    assert_eq!(*order.lock().unwrap(), (0..2_000).collect::<Vec<_>>());
    assert!(line.is_empty());
    assert_eq!(handle.stats().completed, 2_200);
}

#[test]
fn other_jobs_use_the_other_threads_while_a_line_job_runs() {
    let pool = WorkerPool::new(PoolConfig::new().threads(4)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let blocked = line.execute_fn(move || {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE).expect("released")
    });
    let after = line.execute_fn(|| "after");
    started.recv_timeout(PATIENCE).unwrap();
    // Three plain jobs meet at a barrier: this completes only if they run at once, on
    // the three threads the line does not occupy.
    let barrier = Arc::new(Barrier::new(3));
    let plain: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            handle.execute_fn(move || barrier.wait().is_leader())
        })
        .collect();
    let leaders = block_on(async {
        let mut leaders = 0;
        for job in plain {
            leaders += usize::from(job.await.unwrap());
        }
        leaders
    });
    assert_eq!(leaders, 1);
    assert_eq!(line.len(), 1, "the next line job waits for the blocked one");
    release.send(()).unwrap();
    block_on(async {
        blocked.await.unwrap();
        assert_eq!(after.await.unwrap(), "after");
    });
}

#[test]
fn separate_lines_run_in_parallel() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let handle = pool.handle();
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = (handle.ordered(), handle.ordered());
    let (ba, bb) = (barrier.clone(), barrier);
    let first = a.execute_fn(move || ba.wait().is_leader());
    let second = b.execute_fn(move || bb.wait().is_leader());
    let leaders = block_on(async { first.await.unwrap() as u8 + second.await.unwrap() as u8 });
    assert_eq!(leaders, 1, "both lines ran at once");
}

#[test]
fn a_dropped_line_job_never_runs_and_the_line_goes_on() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let first = line.execute_fn(move || {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE).expect("released")
    });
    started.recv_timeout(PATIENCE).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    drop(line.execute_fn(move || flag.store(true, Ordering::SeqCst)));
    let third = line.execute_fn(|| 3);
    release.send(()).unwrap();
    block_on(async {
        first.await.unwrap();
        assert_eq!(third.await.unwrap(), 3);
    });
    assert!(!ran.load(Ordering::SeqCst), "the dropped job ran");
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.completed, stats.cancelled),
        (3, 2, 1)
    );
}

#[test]
fn try_execute_on_a_full_line_hands_the_job_back() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(2)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let running = line
        .try_execute_fn(move || {
            started_tx.send(()).ok();
            gate.recv_timeout(PATIENCE).expect("released");
            0
        })
        .unwrap();
    started.recv_timeout(PATIENCE).unwrap();
    let waiting: Vec<_> = (1..=2)
        .map(|i| line.try_execute_fn(move || i).unwrap())
        .collect();
    let refused = line.try_execute_fn(|| 3).expect_err("two jobs wait: full");
    assert!(refused.is_full());
    assert_eq!((refused.into_inner())(), 3);
    release.send(()).unwrap();
    block_on(async {
        assert_eq!(running.await.unwrap(), 0);
        for (i, job) in (1..).zip(waiting) {
            assert_eq!(job.await.unwrap(), i);
        }
    });
    assert_eq!(handle.stats().rejected, 1);
}
