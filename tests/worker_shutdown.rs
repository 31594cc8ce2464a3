//! Shutdown: queued jobs (plain and ordered) never run and their futures get the typed
//! `ShutDown` error; running jobs see their token set and get the grace period; threads
//! are joined. A job that ignores its token past the grace period does not hang
//! shutdown: its thread is detached and counted. Later submissions are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use reactree::{JobError, PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn queued_jobs_get_shut_down_and_running_jobs_see_their_token() {
    let config = PoolConfig::new().threads(2).shutdown_grace(PATIENCE);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(2);
    let running: Vec<_> = (0..2)
        .map(|_| {
            let started_tx = started_tx.clone();
            handle.execute(move |token| {
                started_tx.send(()).ok();
                let deadline = Instant::now() + PATIENCE;
                while !token.is_cancelled() && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                token.is_cancelled()
            })
        })
        .collect();
    for _ in 0..2 {
        started.recv_timeout(PATIENCE).unwrap();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            handle.execute_fn(move || ran.fetch_add(1, Ordering::SeqCst))
        })
        .collect();
    let line = handle.ordered();
    let ordered: Vec<_> = (0..3)
        .map(|_| {
            let ran = ran.clone();
            line.execute_fn(move || ran.fetch_add(1, Ordering::SeqCst))
        })
        .collect();

    let began = Instant::now();
    let report = pool.shutdown();
    assert!(
        began.elapsed() < PATIENCE,
        "shutdown waited for tokens to be seen only"
    );
    assert_eq!((report.joined, report.detached), (2, 0));

    block_on(async {
        for job in running {
            assert_eq!(job.await, Ok(true), "a running job saw its token");
        }
        for job in queued.into_iter().chain(ordered) {
            assert_eq!(job.await, Err(JobError::ShutDown));
        }
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a queued job ran after shutdown"
    );
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.cancelled, stats.in_flight()),
        (2, 8, 0)
    );
    assert_eq!(stats.queue_len, 0);
}

#[test]
fn a_job_ignoring_its_token_past_the_grace_period_is_detached_and_counted() {
    let grace = Duration::from_millis(100);
    let pool = WorkerPool::new(PoolConfig::new().threads(2).shutdown_grace(grace)).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let stubborn = handle.execute(move |token| {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE)
            .expect("released after shutdown");
        token.is_cancelled()
    });
    started.recv_timeout(PATIENCE).unwrap();

    let began = Instant::now();
    let report = pool.shutdown();
    let took = began.elapsed();
    assert!(took >= grace, "shutdown gave the job its grace period");
    assert!(took < PATIENCE, "shutdown hung on a job ignoring its token");
    assert_eq!((report.joined, report.detached), (1, 1));
    assert_eq!(handle.stats().detached, 1);
    assert_eq!(handle.stats().active, 1, "the detached job still runs");

    // The detached thread finishes its job; a future still held gets the result.
    release.send(()).unwrap();
    assert_eq!(block_on(stubborn), Ok(true));
    assert_eq!(handle.stats().completed, 1);
}

#[test]
fn submissions_after_shutdown_are_refused() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    drop(pool);
    assert!(handle.is_shut_down());
    let refused = handle.try_execute_fn(|| 1).unwrap_err();
    assert!(refused.is_shut_down());
    assert_eq!((refused.into_inner())(), 1);
    assert!(line.try_execute_fn(|| 2).unwrap_err().is_shut_down());
    assert_eq!(block_on(handle.execute_fn(|| 3)), Err(JobError::ShutDown));
    assert_eq!(block_on(line.execute_fn(|| 4)), Err(JobError::ShutDown));
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.rejected, stats.cancelled),
        (4, 2, 2)
    );
}

#[test]
fn submitters_waiting_for_room_get_shut_down() {
    let config = PoolConfig::new()
        .threads(1)
        .queue_capacity(1)
        .shutdown_grace(PATIENCE);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let blocker = handle.execute(move |token| {
        started_tx.send(()).ok();
        while !token.is_cancelled() {
            std::thread::yield_now();
        }
    });
    started.recv_timeout(PATIENCE).unwrap();
    let queued = handle.execute_fn(|| ());
    let mut waiting: Vec<_> = (0..3).map(|_| handle.execute_fn(|| ())).collect();
    block_on(async {
        for job in &mut waiting {
            assert!(futures_lite::future::poll_once(job).await.is_none());
        }
    });
    drop(pool);
    block_on(async {
        blocker.await.unwrap();
        assert_eq!(queued.await, Err(JobError::ShutDown));
        for job in waiting {
            assert_eq!(job.await, Err(JobError::ShutDown));
        }
    });
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.cancelled, stats.in_flight()),
        (1, 4, 0)
    );
}

#[test]
fn shutting_down_an_idle_pool_joins_every_thread_at_once() {
    let pool = WorkerPool::new(PoolConfig::new().threads(8).shutdown_grace(PATIENCE)).unwrap();
    let began = Instant::now();
    let report = pool.shutdown();
    assert_eq!((report.joined, report.detached), (8, 0));
    assert!(began.elapsed() < PATIENCE);
}
