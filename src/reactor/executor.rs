//! The reactor's executor: a single-threaded task queue built on `async-task`.
//!
//! `async_executor::LocalExecutor` keeps its queue thread-safe, since any thread may wake
//! a task; perf showed its queues and wake-up bookkeeping as a quarter of a same-reactor
//! request-reply. Here a task woken on its own reactor goes to a plain local queue; only a
//! wake-up from another thread takes a lock (and unparks the reactor).
//!
//! Invariants:
//! - a task runs only on the reactor's thread (`async_task::spawn_local` checks it);
//! - a task woken on the reactor's thread is queued locally, without a lock; one woken
//!   elsewhere is queued remotely and the reactor's waker is called: at once, or, when the
//!   wake comes from a task running on another reactor, once that task's poll ends
//!   ([`Deferred`], which the watchdog also sends if the poll holds its thread);
//! - after `DRAIN` tasks in a row the executor yields to `block_on`, so timers and I/O are
//!   driven even under load;
//! - dropping the executor drops every task still there, on the reactor's thread: queued
//!   ones with their runnables, idle ones by cancelling their handles (detached tasks are
//!   kept here, not leaked).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use async_task::Runnable;

use crate::rt::Task;

/// Tasks run before the executor yields to `block_on`.
const DRAIN: usize = 256;

/// Tasks one run of a task (with the runs inside it) may run at once, inside its poll
/// (see [`Executor::take_handed_over`]): bounds how long a task that keeps handing work
/// over holds the thread before the tasks queued behind it.
const HANDOVERS: u32 = 32;

/// How deep handed-over runs nest (a chain of requests, each handed over inside the
/// last): each level is a few polls' frames on the reactor's stack (some 10-16 KiB in
/// a debug build, where 2 MiB overflowed at 120-200 levels).
const NESTING: u32 = 8;

/// What other threads reach: the remote queue and the reactor's waker.
#[derive(Default)]
struct Remote {
    queue: Mutex<Vec<Runnable>>,
    pending: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Remote {
    /// Queues `runnable`; whether the reactor must be woken: only the first push after a
    /// `take` must, later ones find it already woken (`pending` is true exactly while
    /// the queue is not empty, both changed under the lock).
    fn push(&self, runnable: Runnable) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.push(runnable);
        !self.pending.swap(true, Ordering::AcqRel)
    }

    fn wake(&self) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn take(&self) -> Vec<Runnable> {
        if !self.pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *queue)
    }
}

thread_local! {
    /// The executor running on this thread: its local queue, and its remote half to
    /// tell it from another executor's.
    static LOCAL: RefCell<Option<(Arc<Remote>, Rc<Queue>)>> = const { RefCell::new(None) };
}

/// The local half: the queue, and whether the executor is draining it right now.
#[derive(Default)]
struct Queue {
    runnables: RefCell<VecDeque<Runnable>>,
    /// True while `run` is draining: a task woken then is picked up without a wake-up.
    draining: Cell<bool>,
    /// Other reactors to wake once the task running now returns from its poll.
    deferred: Arc<Deferred>,
    /// Hand-overs left to the task running now (see [`HANDOVERS`]).
    handovers: Cell<u32>,
    /// Handed-over runs in progress, one inside the other (see [`NESTING`]).
    nested: Cell<u32>,
}

/// Wake-ups of other reactors that the task running now leaves for when its poll ends
/// (see [`wake_remote`]). Shared with the watchdog, which sends them itself when a poll
/// holds the thread (a blocking task would otherwise keep them from their reactors, and
/// a task that blocks waiting on another reactor would wait for ever).
#[derive(Default)]
pub(crate) struct Deferred {
    /// Whether `remotes` may hold any: one load per task run when it does not.
    any: AtomicBool,
    remotes: Mutex<Vec<Arc<Remote>>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("any", &self.any.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Deferred {
    fn push(&self, remote: Arc<Remote>) {
        let mut remotes = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
        remotes.push(remote);
        self.any.store(true, Ordering::Release);
    }

    /// Sends the wake-ups left, if any.
    #[inline]
    pub(crate) fn flush(&self) {
        if self.any.load(Ordering::Acquire) {
            self.send();
        }
    }

    #[cold]
    fn send(&self) {
        let remotes = {
            let mut remotes = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
            self.any.store(false, Ordering::Release);
            std::mem::take(&mut *remotes)
        };
        for remote in remotes {
            remote.wake();
        }
    }
}

/// Wakes the reactor of `remote`. From a task running on a reactor (this thread's
/// executor is draining), the wake-up waits until that task returns from its poll: a
/// task that sends many messages to a reactor that had gone idle wakes it once, after
/// queueing them, instead of with its first message, and so the woken reactor finds a
/// batch, not one message after another with a sleep between each. A poll is short (the
/// watchdog reports one that is not), so the wait is too; a wake-up from anywhere else
/// goes at once.
fn wake_remote(remote: &Arc<Remote>) {
    let deferred = LOCAL.with(|local| match &*local.borrow() {
        Some((_, queue)) if queue.draining.get() => {
            queue.deferred.push(remote.clone());
            true
        }
        _ => false,
    });
    if !deferred {
        remote.wake();
    }
}

/// The local queue, if this thread runs the executor whose remote half is `remote`.
#[inline]
fn own_queue(remote: &Arc<Remote>) -> Option<Rc<Queue>> {
    LOCAL.with(|local| match &*local.borrow() {
        Some((owner, queue)) if Arc::ptr_eq(owner, remote) => Some(queue.clone()),
        _ => None,
    })
}

/// A reactor's executor. Not `Send`: it lives and dies on its reactor's thread.
pub(crate) struct Executor {
    local: Rc<Queue>,
    remote: Arc<Remote>,
    /// Detached tasks, kept so that dropping the executor cancels them.
    detached: RefCell<Slots>,
}

/// Detached tasks, each in a slot of its own, so that one ending can give its slot (and
/// its allocation) back at once, without a search.
#[derive(Default)]
struct Slots {
    tasks: Vec<Option<Task<()>>>,
    /// Empty slots, for the next tasks.
    free: Vec<usize>,
    /// Tasks kept after the latest sweep (see [`Slots::keep`]).
    swept: usize,
}

impl Slots {
    /// Takes an empty slot for a task still to be made: no other task can take it, and
    /// a release of it before [`fill`](Self::fill) changes nothing.
    fn reserve(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.tasks.push(None);
            self.tasks.len() - 1
        })
    }

    /// Puts `task` in `slot`, taken by [`reserve`](Self::reserve).
    fn fill(&mut self, slot: usize, task: Task<()>) {
        self.tasks[slot] = Some(task);
        self.sweep_if_doubled();
    }

    /// Keeps `task` in a slot of its own.
    fn keep(&mut self, task: Task<()>) {
        let slot = self.reserve();
        self.fill(slot, task);
    }

    /// Tasks that do not release their slot as they end (supervisors, the deadline
    /// driver) are swept out once they are finished: whenever the kept tasks have
    /// doubled since the latest sweep, at an amortized two looks at a task per keep.
    fn sweep_if_doubled(&mut self) {
        let kept = self.tasks.len() - self.free.len();
        if kept >= 2 * self.swept.max(32) {
            let mut finished = Vec::new();
            for (slot, task) in self.tasks.iter_mut().enumerate() {
                if task.as_ref().is_some_and(Task::is_finished) {
                    finished.push(task.take());
                    self.free.push(slot);
                }
            }
            self.swept = self.tasks.len() - self.free.len();
            // A finished task's handle only frees its allocation when dropped; its future
            // is gone already, so no code of the task runs here.
            drop(finished);
        }
    }

    /// Empties `slot`, handing back its task (dropped by the caller, outside the borrow).
    fn release(&mut self, slot: usize) -> Option<Task<()>> {
        let task = self.tasks.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(task)
    }
}

impl Executor {
    /// A new executor, installed as this thread's: tasks woken here are queued locally.
    pub(crate) fn new() -> Self {
        let executor = Self {
            local: Rc::default(),
            remote: Arc::default(),
            detached: RefCell::default(),
        };
        LOCAL.with(|local| {
            *local.borrow_mut() = Some((executor.remote.clone(), executor.local.clone()));
        });
        executor
    }

    /// The wake-ups its running task leaves for later, for the watchdog to send if the
    /// task's poll holds the thread.
    pub(crate) fn deferred(&self) -> Arc<Deferred> {
        self.local.deferred.clone()
    }

    /// Spawns `future`; the returned task cancels it when dropped.
    pub(crate) fn spawn<T: 'static>(&self, future: impl Future<Output = T> + 'static) -> Task<T> {
        let (runnable, task) = self.spawn_unscheduled(future);
        runnable.schedule();
        task
    }

    /// Makes a task of `future` without queueing its first run.
    fn spawn_unscheduled<T: 'static>(
        &self,
        future: impl Future<Output = T> + 'static,
    ) -> (Runnable, Task<T>) {
        let remote = self.remote.clone();
        let schedule = move |runnable: Runnable| match own_queue(&remote) {
            Some(queue) => {
                queue.runnables.borrow_mut().push_back(runnable);
                // Woken by `block_on`'s timers or I/O, not by a task: wake the executor
                // itself.
                if !queue.draining.get() {
                    remote.wake();
                }
            }
            None => {
                if remote.push(runnable) {
                    wake_remote(&remote);
                }
            }
        };
        async_task::spawn_local(future, schedule)
    }

    /// Spawns `future` to run to its end; the executor keeps it, and drops it with
    /// itself.
    pub(crate) fn spawn_detached(&self, future: impl Future<Output = ()> + 'static) {
        let task = self.spawn(future);
        self.keep(task);
    }

    /// Spawns the future `make` builds for the slot the task is kept in, to run to its
    /// end, and runs its first poll now, on the caller's stack, instead of queueing it
    /// behind the tasks already woken. For an instance started by its supervisor on the
    /// supervisor's own reactor, the start is then over (most starts never wait) before
    /// the supervisor awaits it: the supervisor does not go idle and get woken again,
    /// one task switch less per deploy.
    ///
    /// The task gives its slot back with [`release`](Self::release) as it ends (an
    /// instance does, as its last state drops), so its allocation goes at once.
    ///
    /// The first poll runs inside whatever the caller is polling: the future must not
    /// wait on the caller synchronously (an instance never does: it only reports to its
    /// supervisor through channels).
    pub(crate) fn spawn_detached_now<F>(&self, make: impl FnOnce(usize) -> F)
    where
        F: Future<Output = ()> + 'static,
    {
        let slot = self.detached.borrow_mut().reserve();
        let (runnable, task) = self.spawn_unscheduled(make(slot));
        self.detached.borrow_mut().fill(slot, task);
        runnable.run();
    }

    /// Runs at once the task `waker` wakes, if a wake-up has just queued it here (it is
    /// the last one queued), instead of leaving it behind the tasks woken before: a
    /// supervisor that has just asked its instance on this reactor to stop lets it stop
    /// before it awaits the stop, and so does not go idle for it. Whether it ran.
    ///
    /// As with [`spawn_detached_now`](Self::spawn_detached_now), the task runs inside
    /// whatever the caller is polling, and must not wait on the caller synchronously.
    pub(crate) fn run_woken(&self, waker: &Waker) -> bool {
        self.take_last_woken(waker).map(Runnable::run).is_some()
    }

    /// The task `waker` wakes, taken out of the queue, if it is the last one queued.
    fn take_last_woken(&self, waker: &Waker) -> Option<Runnable> {
        let mut queue = self.local.runnables.borrow_mut();
        match queue.back() {
            Some(last) if last.waker().will_wake(waker) => queue.pop_back(),
            _ => None,
        }
    }

    /// The task `waker` wakes, taken out of the queue to be run at once by the caller,
    /// inside the poll of the task running now, if a wake-up has just queued it here (it
    /// is the last one queued) and that task has hand-overs left ([`HANDOVERS`] per run
    /// from the queue, shared with the runs nested inside it), and runs nest less than
    /// [`NESTING`] deep. Run it inside [`nested`](Self::nested). A
    /// request to a component waiting for work on this reactor is then handled before
    /// its requester looks for the reply: no task switch either way.
    ///
    /// As with [`run_woken`](Self::run_woken), the task runs inside whatever the caller
    /// is polling, and must not wait on the caller synchronously.
    pub(crate) fn take_handed_over(&self, waker: &Waker) -> Option<Runnable> {
        let left = self.local.handovers.get();
        if left == 0 || self.local.nested.get() >= NESTING {
            return None;
        }
        let runnable = self.take_last_woken(waker)?;
        self.local.handovers.set(left - 1);
        Some(runnable)
    }

    /// Runs `f` (the run of a task taken by
    /// [`take_handed_over`](Self::take_handed_over)) one level of nesting deeper, also if
    /// it unwinds.
    pub(crate) fn nested<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Level<'a>(&'a Cell<u32>);
        impl Drop for Level<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        self.local.nested.set(self.local.nested.get() + 1);
        let _level = Level(&self.local.nested);
        f()
    }

    /// Keeps a detached task, so that dropping the executor cancels it.
    fn keep(&self, task: Task<()>) {
        self.detached.borrow_mut().keep(task);
    }

    /// The detached task kept in `slot` has ended, or is ending (an instance, as its
    /// last state drops): its handle goes, and with it the task's allocation once the
    /// task is done.
    pub(crate) fn release(&self, slot: usize) {
        // The slots are borrowed only by `keep` and while the executor drops, which
        // run no task; while the executor drops, every task goes anyway.
        let task = self
            .detached
            .try_borrow_mut()
            .ok()
            .and_then(|mut slots| slots.release(slot));
        // Dropped outside the borrow: dropping the handle of a task that has not ended
        // schedules it, to drop its future.
        drop(task);
    }

    /// Detached tasks kept now, finished or not.
    #[cfg(test)]
    fn kept(&self) -> usize {
        let slots = self.detached.borrow();
        slots.tasks.len() - slots.free.len()
    }

    /// Runs tasks until `main` ends. `main` is polled here, not spawned, so it may borrow
    /// from the caller; it has a waker of its own (see below).
    pub(crate) async fn run(&self, main: impl Future<Output = ()>) {
        let mut main = std::pin::pin!(main);
        // `main` gets a waker of its own: woken from this thread while draining (the
        // common case: a supervisor task sending the reactor a command), it only sets a
        // flag the drain loop reads, instead of waking `block_on`, which would cost an
        // extra turn of the I/O reactor (an `epoll_wait` and an `eventfd` re-arm).
        let main_wake = Arc::new(MainWake {
            woken: AtomicBool::new(true),
            remote: self.remote.clone(),
        });
        let main_waker = Waker::from(main_wake.clone());
        poll_fn(|cx| {
            super::remember_waker(&self.remote.waker, cx.waker());
            self.local.draining.set(true);
            let _draining = Draining(&self.local);
            for _ in 0..DRAIN {
                if main_wake.woken.swap(false, Ordering::AcqRel) {
                    let mut main_cx = Context::from_waker(&main_waker);
                    self.local.handovers.set(HANDOVERS);
                    let polled = main.as_mut().poll(&mut main_cx);
                    self.local.deferred.flush();
                    if polled.is_ready() {
                        return Poll::Ready(());
                    }
                    // On to a task before `main` again: a `main` that wakes itself
                    // (a yield) would otherwise be all this loop ever polled.
                }
                let next = self.local.runnables.borrow_mut().pop_front();
                let runnable = match next {
                    Some(runnable) => runnable,
                    None => {
                        let remote = self.remote.take();
                        if remote.is_empty() {
                            if main_wake.woken.load(Ordering::Acquire) {
                                continue;
                            }
                            return Poll::Pending;
                        }
                        self.local.runnables.borrow_mut().extend(remote);
                        continue;
                    }
                };
                self.local.handovers.set(HANDOVERS);
                runnable.run();
                self.local.deferred.flush();
            }
            // Busy: let `block_on` drive timers and I/O, then come back at once.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

/// The waker of `run`'s main future.
struct MainWake {
    /// Set by a wake-up, cleared by the drain loop before it polls `main`.
    woken: AtomicBool,
    remote: Arc<Remote>,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return;
        }
        // On the executor's thread while it drains, the drain loop sees the flag before
        // it parks; anywhere else, the executor must be woken.
        let seen = own_queue(&self.remote).is_some_and(|queue| queue.draining.get());
        if !seen {
            wake_remote(&self.remote);
        }
    }
}

/// Clears `draining` when `run` stops draining, even by a panic, and sends the wake-ups
/// left.
struct Draining<'a>(&'a Queue);

impl Drop for Draining<'_> {
    fn drop(&mut self) {
        self.0.draining.set(false);
        self.0.deferred.flush();
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local
                .as_ref()
                .is_some_and(|(owner, _)| Arc::ptr_eq(owner, &self.remote))
            {
                *local = None;
            }
        });
        // On this thread: cancel the idle tasks, then drop the queued ones.
        drop(std::mem::take(&mut *self.detached.borrow_mut()));
        loop {
            let queued: Vec<Runnable> = self.local.runnables.borrow_mut().drain(..).collect();
            let remote = self.remote.take();
            if queued.is_empty() && remote.is_empty() {
                break;
            }
            drop(queued);
            drop(remote);
        }
        *self
            .remote
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of 20 tasks, once woken, hands over to the next: runs nest at most
    /// `NESTING` deep below the task the queue ran, the rest run from the queue, and
    /// every task runs once.
    #[test]
    fn hand_overs_nest_at_most_nesting_deep_and_every_task_runs() {
        const TASKS: usize = 20;
        let executor = Rc::new(Executor::new());
        let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; TASKS]));
        let depth = Rc::new(Cell::new(0_u32));
        let deepest = Rc::new(Cell::new(0_u32));
        let ran = Rc::new(Cell::new(0_usize));
        for i in 0..TASKS {
            let (executor, wakers) = (Rc::downgrade(&executor), wakers.clone());
            let (depth, deepest, ran) = (depth.clone(), deepest.clone(), ran.clone());
            let mut woken = false;
            executor
                .upgrade()
                .unwrap()
                .spawn_detached(poll_fn(move |cx| {
                    if !woken {
                        woken = true;
                        wakers.borrow_mut()[i] = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    depth.set(depth.get() + 1);
                    deepest.set(deepest.get().max(depth.get()));
                    let next = wakers.borrow().get(i + 1).cloned().flatten();
                    if let (Some(next), Some(executor)) = (next, executor.upgrade()) {
                        next.wake_by_ref();
                        if let Some(runnable) = executor.take_handed_over(&next) {
                            executor.nested(|| runnable.run());
                        }
                    }
                    depth.set(depth.get() - 1);
                    ran.set(ran.get() + 1);
                    Poll::Ready(())
                }));
        }
        crate::rt::block_on(executor.run(async {
            while wakers.borrow().iter().any(Option::is_none) {
                futures_lite::future::yield_now().await;
            }
            let first = wakers.borrow()[0].clone().unwrap();
            first.wake();
            while ran.get() < TASKS {
                futures_lite::future::yield_now().await;
            }
        }));
        assert_eq!(ran.get(), TASKS);
        // The task run from the queue, and NESTING runs inside it.
        assert_eq!(deepest.get(), NESTING + 1);
        assert_eq!(executor.local.nested.get(), 0);
    }

    /// A `main` future that wakes itself (it yields, waiting for a task) does not starve
    /// the tasks: they run between its polls.
    #[test]
    fn a_main_future_that_yields_does_not_starve_the_tasks() {
        let executor = Executor::new();
        let done = Rc::new(Cell::new(false));
        let flag = done.clone();
        executor.spawn_detached(async move { flag.set(true) });
        crate::rt::block_on(executor.run(async {
            for _ in 0..10_000 {
                if done.get() {
                    return;
                }
                futures_lite::future::yield_now().await;
            }
        }));
        assert!(done.get(), "the task never ran while main yielded");
    }

    /// A task that releases its slot as it ends gives its allocation back at once:
    /// undeploying most of many instances frees their tasks, and their slots go to the
    /// next tasks.
    #[test]
    fn a_task_released_as_it_ends_is_not_kept() {
        let executor = Rc::new(Executor::new());
        let (stop_tx, stop_rx) = flume::unbounded::<()>();
        let (ended_tx, ended_rx) = flume::unbounded::<()>();
        let live = 1000;
        for _ in 0..live {
            let (stop, ended) = (stop_rx.clone(), ended_tx.clone());
            let weak = Rc::downgrade(&executor);
            executor.spawn_detached_now(move |slot| async move {
                let _ = stop.recv_async().await;
                // As an instance's `Closing` does, as its state drops.
                if let Some(executor) = weak.upgrade() {
                    executor.release(slot);
                }
                let _ = ended.send(());
            });
        }
        assert_eq!(executor.kept(), live);
        // End 900 of them; nothing is spawned meanwhile.
        for _ in 0..900 {
            stop_tx.send(()).unwrap();
        }
        crate::rt::block_on(executor.run(async {
            for _ in 0..900 {
                ended_rx.recv_async().await.unwrap();
            }
        }));
        assert_eq!(executor.kept(), 100);
        // The freed slots are taken again before the list grows.
        let slots = executor.detached.borrow().tasks.len();
        for _ in 0..900 {
            executor.spawn_detached_now(|_| std::future::pending::<()>());
        }
        assert_eq!(executor.kept(), 1000);
        assert_eq!(executor.detached.borrow().tasks.len(), slots);
        // A slot released twice, or never taken, changes nothing.
        executor.release(0);
        executor.release(0);
        executor.release(1 << 40);
        assert_eq!(executor.kept(), 999);
    }

    /// Finished tasks that never release their slot are swept out as the kept ones
    /// double.
    #[test]
    fn finished_tasks_are_swept_as_the_kept_ones_double() {
        let executor = Executor::new();
        let (done_tx, done_rx) = flume::unbounded::<()>();
        for _ in 0..100 {
            let done = done_tx.clone();
            executor.spawn_detached(async move {
                let _ = done.send(());
            });
        }
        crate::rt::block_on(executor.run(async {
            for _ in 0..100 {
                done_rx.recv_async().await.unwrap();
            }
        }));
        // All finished; the sweep at 64 kept found none finished yet (none had run).
        assert_eq!(executor.kept(), 100);
        // The next sweep comes at 128 kept: it takes the 100 finished ones.
        for _ in 0..27 {
            executor.spawn_detached(std::future::pending::<()>());
        }
        assert_eq!(executor.kept(), 127);
        executor.spawn_detached(std::future::pending::<()>());
        assert_eq!(executor.kept(), 28);
    }

    #[test]
    fn runs_local_and_remote_wakes_and_drops_what_is_left() {
        let executor = Executor::new();
        let (tx, rx) = flume::bounded::<u32>(1);
        let sender = std::thread::spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let (done_tx, done_rx) = flume::bounded::<u32>(1);
        executor.spawn_detached(async move {
            let mut sum = 0;
            while let Ok(i) = rx.recv_async().await {
                sum += i;
            }
            let _ = done_tx.send(sum);
        });
        // A task that never ends: dropping the executor must drop it (and its guard).
        let dropped = Rc::new(Cell::new(false));
        struct Guard(Rc<Cell<bool>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let guard = Guard(dropped.clone());
        executor.spawn_detached(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        crate::rt::block_on(executor.run(async move {
            assert_eq!(done_rx.recv_async().await.unwrap(), (0..1000).sum::<u32>());
        }));
        sender.join().unwrap();
        assert!(!dropped.get());
        drop(executor);
        assert!(dropped.get());
    }

    #[test]
    fn a_task_just_woken_runs_at_once_when_asked() {
        let executor = Executor::new();
        let (tx, rx) = flume::bounded::<()>(1);
        let (waker_tx, waker_rx) = flume::bounded::<Waker>(1);
        let done = Rc::new(Cell::new(false));
        let seen = done.clone();
        executor.spawn_detached_now(|_| async move {
            std::future::poll_fn(|cx| {
                let _ = waker_tx.try_send(cx.waker().clone());
                std::task::Poll::Ready(())
            })
            .await;
            let _ = rx.recv_async().await;
            seen.set(true);
        });
        let waker = waker_rx.try_recv().unwrap();
        tx.send(()).unwrap();
        assert!(executor.run_woken(&waker));
        assert!(done.get(), "it ran to its end before run_woken returned");
        assert!(!executor.run_woken(&waker), "nothing left queued");
    }

    #[test]
    fn a_task_spawned_now_runs_its_first_poll_at_once_and_the_rest_when_woken() {
        let executor = Executor::new();
        let steps = Rc::new(Cell::new(0));
        let (tx, rx) = flume::bounded::<()>(1);
        let (done_tx, done_rx) = flume::bounded::<()>(1);
        let seen = steps.clone();
        executor.spawn_detached_now(|_| async move {
            seen.set(1);
            let _ = rx.recv_async().await;
            seen.set(2);
            let _ = done_tx.send(());
        });
        assert_eq!(steps.get(), 1, "the first poll ran before spawn returned");
        // Not woken yet: nothing queued to run.
        let woken = std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone()));
        assert!(!executor.run_woken(&crate::rt::block_on(woken)));
        tx.send(()).unwrap();
        crate::rt::block_on(executor.run(async move {
            let _ = done_rx.recv_async().await;
        }));
        assert_eq!(steps.get(), 2);
    }

    /// A task that wakes a task of another executor, on another thread, sends the
    /// wake-up when its poll ends, not at once; the watchdog's `flush` sends it early.
    #[test]
    fn a_wake_up_of_another_reactor_waits_for_the_end_of_the_poll() {
        use std::sync::atomic::AtomicUsize;
        use std::time::{Duration, Instant};
        let (signal_tx, signal_rx) = flume::bounded::<()>(1);
        let (stop_tx, stop_rx) = flume::bounded::<()>(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        // The other reactor: one task waiting for the signal; its thread parks.
        let other = std::thread::spawn(move || {
            let executor = Executor::new();
            executor.spawn_detached(async move {
                let _ = signal_rx.recv_async().await;
                seen.fetch_add(1, Ordering::SeqCst);
            });
            crate::rt::block_on(executor.run(async move {
                let _ = stop_rx.recv_async().await;
            }));
        });
        let executor = Executor::new();
        let deferred = executor.deferred();
        let during = Rc::new(Cell::new(usize::MAX));
        let early = Rc::new(Cell::new(usize::MAX));
        let (during_seen, early_seen, ran_here) = (during.clone(), early.clone(), ran.clone());
        let (done_tx, done_rx) = flume::bounded::<()>(1);
        executor.spawn_detached(async move {
            // Let the other thread reach its wait first.
            std::thread::sleep(Duration::from_millis(50));
            signal_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            during_seen.set(ran_here.load(Ordering::SeqCst));
            // What the watchdog does when a poll holds the thread.
            deferred.flush();
            let end = Instant::now() + Duration::from_secs(10);
            while ran_here.load(Ordering::SeqCst) == 0 && Instant::now() < end {
                std::thread::yield_now();
            }
            early_seen.set(ran_here.load(Ordering::SeqCst));
            let _ = done_tx.send(());
        });
        crate::rt::block_on(executor.run(async move {
            let _ = done_rx.recv_async().await;
        }));
        assert_eq!(during.get(), 0, "woken before the poll ended");
        assert_eq!(early.get(), 1, "the flush did not wake it");
        stop_tx.send(()).unwrap();
        other.join().unwrap();
    }
}
