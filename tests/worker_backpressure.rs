//! The queue is bounded: `try_execute` refuses at once with a typed queue-full error and
//! hands the job back (counted as rejected), while `execute` waits for room without
//! blocking a thread and completes once room is made. Nothing is lost silently.

use std::time::Duration;

use futures_lite::future::{block_on, poll_once};
use reactree::{PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

/// A job that reports it has started, then holds its worker until released.
fn gate() -> (
    flume::Receiver<()>,
    flume::Sender<()>,
    impl FnOnce() -> u32 + Send + 'static,
) {
    let (started_tx, started) = flume::bounded(1);
    let (release, gate) = flume::bounded::<()>(1);
    let job = move || {
        started_tx.send(()).ok();
        gate.recv_timeout(PATIENCE)
            .expect("the test releases the gate");
        0
    };
    (started, release, job)
}

#[test]
fn try_execute_refuses_at_once_when_full_and_hands_the_job_back() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(2)).unwrap();
    let handle = pool.handle();
    let (started, release, blocker) = gate();
    let blocker = handle.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();

    let first = handle.try_execute_fn(|| 1).expect("room for one");
    let second = handle.try_execute_fn(|| 2).expect("room for two");
    assert_eq!(handle.stats().queue_len, 2);
    let refused = handle.try_execute_fn(|| 3).expect_err("the queue is full");
    assert!(refused.is_full());
    assert_eq!(refused.to_string(), "worker queue full");
    assert_eq!(format!("{refused:?}"), "Full(..)");
    let job_back = refused.into_inner();
    assert_eq!(job_back(), 3, "the refused job comes back intact");
    let with_token = handle.try_execute(|_token| 4).expect_err("still full");
    assert!(with_token.is_full());

    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.rejected, stats.queue_len),
        (5, 2, 2)
    );

    release.send(()).unwrap();
    block_on(async {
        assert_eq!(blocker.await.unwrap(), 0);
        assert_eq!(first.await.unwrap(), 1);
        assert_eq!(second.await.unwrap(), 2);
    });
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.rejected, stats.in_flight()),
        (3, 2, 0)
    );
}

#[test]
fn execute_waits_for_room_and_completes_once_room_is_made() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(1)).unwrap();
    let handle = pool.handle();
    let (started, release, blocker) = gate();
    let blocker = handle.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let queued = handle.execute_fn(|| 1);
    assert_eq!(handle.stats().queue_len, 1);

    let mut waiting = handle.execute_fn(|| 2);
    block_on(async {
        assert!(
            poll_once(&mut waiting).await.is_none(),
            "no room yet: it waits"
        );
        assert_eq!(
            handle.stats().queue_len,
            1,
            "the queue never exceeds its capacity"
        );
        release.send(()).unwrap();
        assert_eq!(waiting.await.unwrap(), 2, "it completes once room is made");
        assert_eq!(queued.await.unwrap(), 1);
        assert_eq!(blocker.await.unwrap(), 0);
    });
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.completed, stats.rejected),
        (3, 3, 0)
    );
}

#[test]
fn many_waiting_submitters_all_complete() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2).queue_capacity(4)).unwrap();
    let handle = pool.handle();
    let jobs: Vec<_> = (0..200u32)
        .map(|i| handle.execute_fn(move || i * 2))
        .collect();
    let total: u32 = block_on(async {
        let mut total = 0;
        for job in jobs {
            total += job.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..200).map(|i| i * 2).sum());
    assert_eq!(handle.stats().completed, 200);
}
