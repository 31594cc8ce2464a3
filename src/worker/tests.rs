//! Unit tests of private invariants: the long-job watch slots, the lifecycle's forward
//! only transitions, a job's single settlement, the shared queue's bound with idle
//! workers parked on it (flume used to let a burst of sends to them past its bound), and
//! the waiting list's first-come order and tickets that are never reused.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::{block_on, poll_once};

use super::config::PoolConfig;
use super::inbox::Next;
use super::job::{QueuedJob, WithoutToken};
use super::queue::Queues;
use super::shared::{Shared, Transition};
use super::waiters::Waiters;
use super::watch::{OverdueJob, WorkerSlot, overdue_jobs};
use super::{PoolHandle, WorkerPool};
use crate::testing::CountingWaker;

const THRESHOLD: Duration = Duration::from_secs(60);

#[test]
fn idle_slots_are_never_overdue() {
    let epoch = Instant::now();
    let slots: Vec<WorkerSlot> = (0..3).map(|_| WorkerSlot::default()).collect();
    let later = epoch + Duration::from_secs(3600);
    assert!(overdue_jobs(&slots, epoch, THRESHOLD, later).is_empty());
}

#[test]
fn only_jobs_past_the_threshold_are_overdue() {
    let epoch = Instant::now();
    let slots: Vec<WorkerSlot> = (0..3).map(|_| WorkerSlot::default()).collect();
    slots[0].mark_started_at(epoch, epoch + Duration::from_secs(1));
    slots[2].mark_started_at(epoch, epoch + Duration::from_secs(50));
    let now = epoch + Duration::from_secs(100);
    let overdue = overdue_jobs(&slots, epoch, THRESHOLD, now);
    assert_eq!(
        overdue,
        vec![OverdueJob {
            worker: 0,
            running_for: Duration::from_secs(99)
        }],
        "worker 0 ran 99 s > 60 s, worker 2 only 50 s, worker 1 is idle"
    );
}

#[test]
fn exactly_the_threshold_is_not_overdue() {
    let epoch = Instant::now();
    let slot = WorkerSlot::default();
    slot.mark_started_at(epoch, epoch);
    let slots = [slot];
    assert!(overdue_jobs(&slots, epoch, THRESHOLD, epoch + THRESHOLD).is_empty());
    let just_past = epoch + THRESHOLD + Duration::from_nanos(1);
    assert_eq!(overdue_jobs(&slots, epoch, THRESHOLD, just_past).len(), 1);
}

#[test]
fn a_slot_marked_idle_is_no_longer_overdue() {
    let epoch = Instant::now();
    let slot = WorkerSlot::default();
    slot.mark_started_at(epoch, epoch);
    slot.mark_idle();
    assert_eq!(slot.started(epoch), None);
    assert!(overdue_jobs(&[slot], epoch, THRESHOLD, epoch + 2 * THRESHOLD).is_empty());
}

#[test]
fn a_start_before_the_epoch_counts_from_the_epoch() {
    let now = Instant::now();
    let epoch = now + Duration::from_secs(1);
    let slot = WorkerSlot::default();
    slot.mark_started_at(epoch, now);
    assert_eq!(slot.started(epoch), Some(epoch));
}

#[test]
fn a_running_job_is_reported_with_its_worker() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).expect("valid config");
    let handle: PoolHandle = pool.handle();
    let (started_tx, started) = flume::bounded::<()>(1);
    let (release, gate) = flume::bounded::<()>(0);
    let job = handle.execute_fn(move || {
        started_tx.send(()).ok();
        gate.recv().ok();
        std::thread::current().name().map(String::from)
    });
    started.recv().expect("the job starts");
    let now = Instant::now();
    assert!(
        handle.overdue_jobs(now).is_empty(),
        "a fresh job is not overdue"
    );
    let overdue = handle.overdue_jobs(now + THRESHOLD + Duration::from_secs(1));
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].running_for > THRESHOLD);
    let name = handle.thread_name(overdue[0].worker);
    release.send(()).expect("the job waits for the gate");
    let ran_on = futures_lite::future::block_on(job).expect("the job returns");
    assert_eq!(ran_on.as_deref(), Some(name.as_str()));
    assert!(
        handle.overdue_jobs(now + 2 * THRESHOLD).is_empty(),
        "the slot is idle again"
    );
}

#[test]
fn the_lifecycle_only_moves_forward() {
    let shared = Shared::new(&PoolConfig::new());
    assert!(!shared.is_stopping());
    assert_eq!(shared.transition_to_stopped(), Transition::AlreadyDone);
    assert_eq!(shared.transition_to_stopping(), Transition::Proceed);
    assert_eq!(shared.transition_to_stopping(), Transition::AlreadyDone);
    assert!(shared.is_stopping());
    assert_eq!(shared.transition_to_stopped(), Transition::Proceed);
    assert_eq!(shared.transition_to_stopped(), Transition::AlreadyDone);
    assert!(shared.is_stopping());
}

#[test]
fn a_job_cancelled_then_dropped_is_counted_once() {
    let pool = WorkerPool::new(PoolConfig::new().threads(1)).expect("valid config");
    let handle = pool.handle();
    let (release, gate) = flume::bounded::<()>(0);
    let blocker = handle.execute_fn(move || gate.recv().ok());
    let queued = handle.execute_fn(|| ());
    queued.cancel();
    queued.cancel();
    drop(queued);
    release.send(()).expect("the blocker waits for the gate");
    futures_lite::future::block_on(blocker).expect("the blocker returns");
    drop(pool);
    let stats = handle.stats();
    assert_eq!(
        (stats.submitted, stats.completed, stats.cancelled),
        (2, 1, 1)
    );
}

/// Queues with no worker threads: the tests play the workers through `next_for_worker`.
fn queues(capacity: usize) -> Arc<Queues> {
    let config = PoolConfig::new().threads(4).queue_capacity(capacity);
    Arc::new(Queues::new(Arc::new(Shared::new(&config))))
}

/// Takes the next job as a worker would; panics on anything else.
fn take_job(queues: &Queues) -> QueuedJob {
    match queues.next_for_worker() {
        Next::Job(job) => job,
        Next::Serial(_) => panic!("expected a job, got a serial runner"),
        Next::Stop => panic!("expected a job, got stop"),
    }
}

#[test]
fn a_burst_never_gets_past_the_capacity_and_a_taken_job_gives_its_room_back() {
    let queues = queues(1);
    let burst: Vec<_> = (0..4)
        .map(|i| queues.try_submit(WithoutToken(move || i)))
        .collect();
    let accepted = burst.iter().filter(|result| result.is_ok()).count();
    assert_eq!(accepted, 1, "one place, one job");
    assert_eq!(queues.len(), 1);

    // A worker takes the job; its room comes back and the next submission gets it.
    let _taken = take_job(&queues);
    assert_eq!(queues.len(), 0);
    let next = queues.try_submit(WithoutToken(|| 4));
    assert!(next.is_ok(), "the room was given back");
    assert!(
        queues.try_submit(WithoutToken(|| 5)).is_err(),
        "and only once"
    );
    assert_eq!(queues.len(), 1);
}

#[test]
fn parked_workers_each_wake_for_a_job_and_all_stop_when_closed() {
    const WORKERS: usize = 4;
    let queues = queues(1);
    let (took, taken) = flume::unbounded::<bool>();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (queues, took) = (Arc::clone(&queues), took.clone());
            std::thread::spawn(move || {
                loop {
                    match queues.next_for_worker() {
                        Next::Job(job) => {
                            took.send(true).unwrap();
                            drop(job);
                        }
                        Next::Serial(_) => took.send(false).unwrap(),
                        Next::Stop => return,
                    }
                }
            })
        })
        .collect();
    // Submitted one at a time, each job must reach a parked worker: none stays queued.
    for i in 0..100 {
        let job = queues.submit(WithoutToken(move || i));
        assert_eq!(taken.recv_timeout(Duration::from_secs(10)), Ok(true));
        drop(job);
    }
    assert_eq!(queues.len(), 0);
    queues.inbox.close();
    for worker in workers {
        worker.join().expect("a worker returns at stop");
    }
}

#[test]
fn a_taken_job_lets_the_first_waiter_in_before_any_later_submission() {
    let queues = queues(1);
    let first = queues.submit(WithoutToken(|| 1));
    let mut waiting = queues.submit(WithoutToken(|| 2));
    assert!(
        block_on(poll_once(&mut waiting)).is_none(),
        "no room: it waits"
    );
    let late = queues.try_submit(WithoutToken(|| 3));
    assert!(
        late.is_err(),
        "a try_ submission does not overtake a waiter"
    );

    let taken = take_job(&queues);
    assert_eq!(queues.len(), 1, "its room went straight to the waiter");
    assert!(queues.try_submit(WithoutToken(|| 4)).is_err(), "still full");
    drop((taken, first, waiting));
    let stats = queues.shared.counters.snapshot(4, queues.len(), 1);
    assert_eq!((stats.submitted, stats.rejected), (4, 2));
}

#[test]
fn waiters_leave_first_come_or_by_ticket() {
    let mut waiters = Waiters::new();
    let tickets: Vec<u64> = (0..4).map(|i| waiters.push_back(i)).collect();
    assert_eq!(tickets, [0, 1, 2, 3], "tickets follow submission order");
    let removed = waiters.remove(tickets[1]).map(|w| w.into_parts().0);
    assert_eq!(removed, Some(1));
    assert!(waiters.remove(tickets[1]).is_none(), "a waiter leaves once");
    let order: Vec<u32> = std::iter::from_fn(|| waiters.pop_front())
        .map(|w| w.into_parts().0)
        .collect();
    assert_eq!(order, [0, 2, 3], "the others leave first-come");
    assert!(waiters.is_empty());
}

#[test]
fn a_waiter_is_pending_until_it_leaves_and_then_ready() {
    let mut waiters = Waiters::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let ticket = waiters.push_back("job");
    assert!(waiters.poll_left(ticket, &mut cx).is_pending());
    let (job, woken) = waiters.pop_front().expect("one waiter").into_parts();
    assert_eq!(job, "job");
    assert!(
        woken.is_some_and(|w| w.will_wake(&waker)),
        "its waker comes out"
    );
    assert_eq!(waiters.poll_left(ticket, &mut cx), Poll::Ready(()));
    assert_eq!(counter.wakes(), 0, "the owner wakes, not the list");
}

#[test]
fn dismissed_waiters_are_woken_and_their_tickets_never_reused() {
    let mut waiters = Waiters::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let old = waiters.push_back(0_u32);
    assert!(waiters.poll_left(old, &mut cx).is_pending());
    let _unpolled = waiters.push_back(1);
    assert_eq!(waiters.take_all().dismiss(), 2);
    assert_eq!(counter.wakes(), 1, "only a polled waiter has a waker");
    let late = waiters.push_back(2);
    assert!(late > old, "a late waiter gets a fresh ticket");
    assert_eq!(waiters.poll_left(old, &mut cx), Poll::Ready(()));
    assert!(
        waiters.remove(old).is_none(),
        "a stale ticket takes nobody out"
    );
    assert_eq!(waiters.len(), 1);
}
