//! The queues are bounded: `try_execute` refuses at once with a typed queue-full error
//! and hands the job back (counted as rejected), while `execute` waits for room without
//! blocking a thread and completes once room is made. Nothing is lost silently.
//!
//! The shared queue holds at most its capacity whatever the number of idle workers: flume
//! hands a job to a parked receiver by pushing it past the channel's bound, so a burst of
//! submissions to idle workers used to overfill the queue (the worker proptest found
//! "queue 2 over capacity 1" with four threads). Submitters waiting for room are let in
//! first-come, and a `try_` submission never overtakes them.
//!
//! The same holds for each ordered line (`SerialQueue`), which used to take every
//! awaiting submission at once and so grew without bound: a line never holds more than
//! the pool's queue capacity, its waiting submitters keep their submission order, a
//! dropped waiting submission is cancelled, and shutdown settles waiting submissions.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, or, poll_once};
use reactree::{JobError, PoolConfig, WorkerPool};

const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it has not resolved within the patience.
async fn within<T>(future: impl Future<Output = T>) -> T {
    let timeout = async {
        async_io::Timer::after(PATIENCE).await;
        None
    };
    or(async { Some(future.await) }, timeout)
        .await
        .expect("resolved within the patience")
}

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
    assert_eq!(total, (0..200).map(|i| i * 2).sum::<u32>());
    assert_eq!(handle.stats().completed, 200);
}

/// Polls `done` until it holds, failing the test past the patience.
fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

#[test]
fn a_burst_to_idle_workers_never_overfills_the_shared_queue() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 50;
    let pool = WorkerPool::new(PoolConfig::new().threads(THREADS).queue_capacity(1)).unwrap();
    let handle = pool.handle();
    for round in 0..ROUNDS {
        // Every worker runs a job at once, then all go back to wait on the queue together.
        let (arrived_tx, arrived) = flume::unbounded::<()>();
        let (depart, departing) = flume::unbounded::<()>();
        let mut warm_up: Vec<_> = (0..THREADS)
            .map(|_| {
                let (arrived_tx, departing) = (arrived_tx.clone(), departing.clone());
                handle.execute_fn(move || {
                    arrived_tx.send(()).ok();
                    departing.recv_timeout(PATIENCE).ok();
                })
            })
            .collect();
        block_on(async {
            for job in &mut warm_up {
                assert!(poll_once(job).await.is_none(), "held until departure");
            }
        });
        poll_until("every worker runs a warm-up job", || {
            arrived.len() == THREADS
        });
        drop(depart);
        block_on(within(async {
            for job in warm_up {
                job.await.expect("the warm-up job returns");
            }
        }));
        poll_until("the workers are idle", || handle.stats().active == 0);

        // A burst of gate jobs from one thread, with no await in between.
        let (started_tx, started) = flume::unbounded::<()>();
        let (release, gate) = flume::unbounded::<()>();
        let mut accepted = Vec::new();
        for _ in 0..=THREADS {
            let (started_tx, gate) = (started_tx.clone(), gate.clone());
            let job = move || {
                started_tx.send(()).ok();
                gate.recv_timeout(PATIENCE).ok();
            };
            match handle.try_execute_fn(job) {
                Ok(future) => accepted.push(future),
                Err(refused) => assert!(refused.is_full(), "round {round}: {refused}"),
            }
            let queued = handle.stats().queue_len;
            assert!(queued <= 1, "round {round}: queue {queued} over capacity 1");
        }
        // Each accepted job holds a worker or the one place in the queue.
        let expected = accepted.len().min(THREADS);
        poll_until("the accepted jobs start", || started.len() >= expected);
        let stats = handle.stats();
        assert_eq!(stats.active, expected, "round {round}");
        assert_eq!(stats.queue_len, accepted.len() - expected, "round {round}");
        assert!(accepted.len() <= THREADS + 1, "round {round}");

        drop(release);
        block_on(within(async {
            for job in accepted {
                job.await.expect("the gate job returns");
            }
        }));
    }
    let stats = handle.stats();
    assert_eq!(stats.in_flight(), 0, "{stats:?}");
    assert_eq!(
        stats.submitted,
        stats.completed + stats.rejected,
        "nothing cancelled or lost: {stats:?}"
    );
}

#[test]
fn waiting_submitters_are_let_in_first_come_and_try_execute_does_not_overtake() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(1)).unwrap();
    let handle = pool.handle();
    let (started, release, blocker) = gate();
    let blocker = handle.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut jobs: Vec<_> = (0..10u32)
        .map(|i| {
            let log = Arc::clone(&log);
            handle.execute_fn(move || log.lock().unwrap().push(i))
        })
        .collect();
    assert_eq!(handle.stats().queue_len, 1, "nine submitters wait for room");
    // Polled latest first: they wait in submission order, not in the order of polls.
    block_on(async {
        for job in jobs.iter_mut().rev() {
            assert!(poll_once(job).await.is_none(), "the gate holds the worker");
        }
    });
    let late = handle
        .try_execute_fn(|| ())
        .expect_err("no room while others wait");
    assert!(late.is_full());
    // A waiter that goes away gives up its place; its job never runs.
    drop(jobs.remove(4));

    release.send(()).unwrap();
    block_on(within(async {
        for job in jobs {
            job.await.expect("the job returns");
        }
        blocker.await.unwrap();
    }));
    let order: Vec<u32> = (0..10).filter(|&i| i != 4).collect();
    assert_eq!(*log.lock().unwrap(), order);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.completed,
            stats.rejected,
            stats.cancelled,
            stats.in_flight()
        ),
        (12, 10, 1, 1, 0)
    );
}

#[test]
fn an_ordered_line_never_holds_more_than_its_capacity() {
    const CAPACITY: usize = 4;
    let config = PoolConfig::new().threads(2).queue_capacity(CAPACITY);
    let pool = WorkerPool::new(config).unwrap();
    let line = pool.handle().ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();

    // A submitter floods the line without waiting; each job notes how full it was.
    let (flooded_tx, flooded) = flume::bounded(1);
    let submitter = {
        let line = line.clone();
        std::thread::spawn(move || {
            let jobs: Vec<_> = (0..20u32)
                .map(|i| {
                    let seen = line.clone();
                    line.execute_fn(move || (i, seen.len()))
                })
                .collect();
            flooded_tx.send(()).ok();
            block_on(within(async {
                let mut ran = Vec::new();
                for job in jobs {
                    ran.push(job.await.expect("ordered job returns"));
                }
                ran
            }))
        })
    };
    flooded.recv_timeout(PATIENCE).unwrap();
    assert_eq!(line.len(), CAPACITY, "the line holds only its capacity");

    release.send(()).unwrap();
    let ran = submitter.join().expect("the submitter finishes");
    let order: Vec<u32> = ran.iter().map(|&(i, _)| i).collect();
    assert_eq!(order, (0..20).collect::<Vec<_>>());
    assert!(
        ran.iter().all(|&(_, len)| len <= CAPACITY),
        "the line held more than its capacity: {ran:?}"
    );
    assert_eq!(block_on(blocker).unwrap(), 0);
    assert!(line.is_empty());
}

#[test]
fn an_awaiting_ordered_submit_waits_while_the_line_is_full() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(1)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let queued = line.execute_fn(|| 1);

    let mut waiting = line.execute_fn(|| 2);
    block_on(async {
        assert!(
            poll_once(&mut waiting).await.is_none(),
            "no room yet: it waits"
        );
        assert_eq!(line.len(), 1, "the waiting job is not in the line");
        release.send(()).unwrap();
        assert_eq!(
            within(waiting).await.unwrap(),
            2,
            "it completes once room is made"
        );
        assert_eq!(queued.await.unwrap(), 1);
        assert_eq!(blocker.await.unwrap(), 0);
    });
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.completed, stats.in_flight()),
        (3, 3, 0)
    );
}

#[test]
fn waiting_ordered_submitters_keep_their_submission_order() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2).queue_capacity(2)).unwrap();
    let line = pool.handle().ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut jobs: Vec<_> = (0..40u32)
        .map(|i| {
            let log = log.clone();
            line.execute_fn(move || log.lock().unwrap().push(i))
        })
        .collect();
    assert_eq!(line.len(), 2, "38 submitters wait for room");
    // Polled latest first: they wait in submission order, not in the order of polls.
    block_on(async {
        for job in jobs.iter_mut().rev() {
            assert!(poll_once(job).await.is_none(), "the gate holds the line");
        }
    });
    let late = line
        .try_execute_fn(|| ())
        .expect_err("no room while others wait");
    assert!(late.is_full());

    release.send(()).unwrap();
    block_on(within(async {
        for job in jobs {
            job.await.expect("ordered job returns");
        }
        blocker.await.unwrap();
    }));
    assert_eq!(*log.lock().unwrap(), (0..40).collect::<Vec<_>>());
}

#[test]
fn dropping_a_waiting_ordered_submit_cancels_its_job() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(1)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let queued = line.execute_fn(|| 1);

    let ran = Arc::new(AtomicBool::new(false));
    let (flag_a, flag_b) = (ran.clone(), ran.clone());
    let mut polled = line.execute_fn(move || flag_a.store(true, Ordering::SeqCst));
    assert!(block_on(poll_once(&mut polled)).is_none());
    let never_polled = line.execute_fn(move || flag_b.store(true, Ordering::SeqCst));
    drop(polled);
    drop(never_polled);
    assert_eq!(handle.stats().cancelled, 2, "counted as cancelled at once");
    let after = line.execute_fn(|| 3);
    assert_eq!(
        line.len(),
        1,
        "a dropped submission leaves nothing in the line"
    );

    release.send(()).unwrap();
    block_on(within(async {
        assert_eq!(blocker.await.unwrap(), 0);
        assert_eq!(queued.await.unwrap(), 1);
        assert_eq!(after.await.unwrap(), 3, "the next submitter takes the room");
    }));
    assert!(!ran.load(Ordering::SeqCst), "a dropped job ran");
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.completed,
            stats.cancelled,
            stats.in_flight()
        ),
        (5, 3, 2, 0)
    );
}

#[test]
fn shutdown_settles_waiting_ordered_submitters_with_shut_down() {
    let config = PoolConfig::new()
        .threads(1)
        .queue_capacity(1)
        .shutdown_grace(PATIENCE);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started_tx, started) = flume::bounded(1);
    let running = line.execute(move |token| {
        started_tx.send(()).ok();
        let deadline = Instant::now() + PATIENCE;
        while !token.is_cancelled() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        token.is_cancelled()
    });
    started.recv_timeout(PATIENCE).unwrap();
    let queued = line.execute_fn(|| 1);
    // One waiting submitter is parked in `block_on` on another thread, one never polled.
    let (parked_tx, parked) = flume::bounded(1);
    let parked_waiter = {
        let line = line.clone();
        std::thread::spawn(move || {
            let mut job = line.execute_fn(|| 2);
            block_on(async {
                assert!(poll_once(&mut job).await.is_none(), "the line is full");
                parked_tx.send(()).ok();
                within(job).await
            })
        })
    };
    parked.recv_timeout(PATIENCE).unwrap();
    let unpolled = line.execute_fn(|| 3);
    assert_eq!(line.len(), 1, "two submitters wait for room");

    let report = pool.shutdown();
    assert_eq!((report.joined, report.detached), (1, 0));
    assert_eq!(parked_waiter.join().unwrap(), Err(JobError::ShutDown));
    block_on(within(async {
        assert_eq!(running.await, Ok(true), "the running job saw its token");
        assert_eq!(queued.await, Err(JobError::ShutDown));
        assert_eq!(unpolled.await, Err(JobError::ShutDown));
    }));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.completed,
            stats.cancelled,
            stats.in_flight()
        ),
        (4, 1, 3, 0)
    );
}

#[test]
fn a_waiting_ordered_submit_settles_after_shutdown_even_behind_a_detached_job() {
    let config = PoolConfig::new()
        .threads(1)
        .queue_capacity(1)
        .shutdown_grace(Duration::ZERO);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let queued = line.execute_fn(|| 1);
    let waiting = line.execute_fn(|| 2);
    assert_eq!(line.len(), 1);

    let report = pool.shutdown();
    assert_eq!(report.detached, 1, "the gate ignores its token");
    assert_eq!(
        block_on(within(waiting)),
        Err(JobError::ShutDown),
        "the waiting submission does not wait for the detached job"
    );
    release.send(()).unwrap();
    block_on(within(async {
        assert_eq!(blocker.await.unwrap(), 0);
        assert_eq!(queued.await, Err(JobError::ShutDown));
    }));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.completed,
            stats.cancelled,
            stats.in_flight()
        ),
        (3, 1, 2, 0)
    );
}

#[test]
fn counters_add_up_with_waiting_ordered_submitters() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1).queue_capacity(2)).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let (started, release, blocker) = gate();
    let blocker = line.execute_fn(blocker);
    started.recv_timeout(PATIENCE).unwrap();
    let first = line.execute_fn(|| 1);
    let panics = line.execute_fn(|| -> u32 { panic!("an ordered job exploded") });
    let mut waiting: Vec<_> = (3..=5).map(|i| line.execute_fn(move || i)).collect();
    let refused = line.try_execute_fn(|| 6).expect_err("the line is full");
    assert!(refused.is_full());
    assert_eq!(line.len(), 2);
    drop(waiting.remove(1));

    release.send(()).unwrap();
    block_on(within(async {
        assert_eq!(blocker.await.unwrap(), 0);
        assert_eq!(first.await.unwrap(), 1);
        assert!(panics.await.unwrap_err().is_panicked());
        let values: Vec<u32> = [waiting.remove(0).await, waiting.remove(0).await]
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, [3, 5]);
    }));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.submitted,
            stats.completed,
            stats.rejected,
            stats.cancelled,
            stats.panicked
        ),
        (7, 4, 1, 1, 1)
    );
    assert_eq!(
        stats.submitted,
        stats.completed + stats.rejected + stats.cancelled + stats.panicked
    );
}

#[test]
fn concurrent_submitters_to_a_small_line_keep_their_own_order() {
    const CAPACITY: usize = 2;
    let config = PoolConfig::new().threads(2).queue_capacity(CAPACITY);
    let pool = WorkerPool::new(config).unwrap();
    let handle = pool.handle();
    let line = handle.ordered();
    let log = Arc::new(Mutex::new(Vec::new()));
    let submitters: Vec<_> = (0..4u32)
        .map(|thread| {
            let (line, log) = (line.clone(), log.clone());
            std::thread::spawn(move || {
                let jobs: Vec<_> = (0..200u32)
                    .map(|i| {
                        let (seen, log) = (line.clone(), log.clone());
                        line.execute_fn(move || log.lock().unwrap().push((thread, i, seen.len())))
                    })
                    .collect();
                block_on(within(async {
                    for (i, job) in jobs.into_iter().enumerate() {
                        if i % 7 == 3 {
                            drop(job); // cancelled while it waits, or before it starts
                        } else {
                            job.await.expect("ordered job returns");
                        }
                    }
                }));
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().expect("a submitter finishes");
    }
    let log = log.lock().unwrap();
    assert!(
        log.iter().all(|&(_, _, len)| len <= CAPACITY),
        "line over capacity"
    );
    for thread in 0..4 {
        let mine: Vec<u32> = log
            .iter()
            .filter(|&&(t, ..)| t == thread)
            .map(|&(_, i, _)| i)
            .collect();
        assert!(
            mine.windows(2).all(|pair| pair[0] < pair[1]),
            "submitter {thread} saw its jobs reordered: {mine:?}"
        );
    }
    let stats = handle.stats();
    assert_eq!(stats.submitted, 800);
    assert_eq!(stats.completed, log.len() as u64);
    assert_eq!(stats.completed + stats.cancelled, 800, "{stats:?}");
}
