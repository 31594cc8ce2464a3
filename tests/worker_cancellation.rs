//! Cancellation: dropping a job's future before the job starts means it never runs (and
//! is counted as cancelled); dropping it while the job runs sets the job's token, which
//! the job sees. `JobFuture::cancel` does the same but keeps the future.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use reactree::{CancellationToken, JobError, PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

/// Occupies the pool's only thread until the returned sender is used.
fn occupy(handle: &reactree::PoolHandle) -> (flume::Sender<()>, reactree::JobFuture<()>) {
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let blocker = handle.execute_fn(move || {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE)
            .expect("the test releases the gate");
    });
    started.recv_timeout(PATIENCE).expect("the blocker starts");
    (release, blocker)
}

/// Spins until the token is set (or the patience runs out), and says whether it was.
fn wait_for_cancellation(token: &CancellationToken) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if token.is_cancelled() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

#[test]
fn a_job_whose_future_is_dropped_before_it_starts_never_runs() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).unwrap();
    let handle = pool.handle();
    let (release, blocker) = occupy(&handle);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    drop(handle.execute_fn(move || flag.store(true, Ordering::SeqCst)));
    assert_eq!(handle.stats().cancelled, 1, "counted when dropped");
    release.send(()).unwrap();
    block_on(async {
        blocker.await.unwrap();
        // One thread, FIFO: once this returns, the dropped job's turn has passed.
        handle.execute_fn(|| ()).await.unwrap();
    });
    assert!(!ran.load(Ordering::SeqCst), "the dropped job ran");
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.completed, stats.cancelled),
        (3, 2, 1)
    );
}

#[test]
fn cancel_before_start_resolves_to_cancelled_and_the_job_never_runs() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).unwrap();
    let handle = pool.handle();
    let (release, blocker) = occupy(&handle);
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let job = handle.execute_fn(move || flag.store(true, Ordering::SeqCst));
    job.cancel();
    release.send(()).unwrap();
    let outcome = block_on(async {
        blocker.await.unwrap();
        job.await
    });
    assert_eq!(outcome, Err(JobError::Cancelled));
    block_on(handle.execute_fn(|| ())).unwrap();
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(handle.stats().cancelled, 1);
}

#[test]
fn a_running_job_sees_its_token_when_its_future_is_dropped() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let (seen_tx, seen) = flume::bounded(1);
    let job = handle.execute(move |token| {
        started_tx.send(()).ok();
        seen_tx.send(wait_for_cancellation(token)).ok();
        "dropped with the future"
    });
    started.recv_timeout(PATIENCE).unwrap();
    drop(job);
    assert_eq!(
        seen.recv_timeout(PATIENCE),
        Ok(true),
        "the job saw its token"
    );
    // One thread: once this returns, the cancelled job has returned and been counted.
    block_on(handle.execute_fn(|| ())).unwrap();
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.cancelled),
        (2, 0),
        "it ran, so it completed"
    );
}

#[test]
fn cancel_while_running_sets_the_token_and_keeps_the_result() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let job = handle.execute(move |token| {
        started_tx.send(()).ok();
        wait_for_cancellation(token)
    });
    started.recv_timeout(PATIENCE).unwrap();
    job.cancel();
    assert_eq!(block_on(job), Ok(true));
}

#[test]
fn tokens_of_other_jobs_are_untouched() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let handle = pool.handle();
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let kept = handle.execute(move |token| {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE).unwrap();
        token.is_cancelled()
    });
    started.recv_timeout(PATIENCE).unwrap();
    drop(handle.execute(|token| token.is_cancelled()));
    release.send(()).unwrap();
    assert_eq!(block_on(kept), Ok(false));
}
