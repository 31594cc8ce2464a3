//! A component's mailbox: a bounded channel with many senders and one receiver, its
//! instance.
//!
//! It does what the instance needs and nothing more, which makes it cheaper than a
//! general channel on the paths every message takes: one lock per send; on the receiving
//! side one lock per *batch* (the receiver swaps the whole queue out and works through
//! it alone, so a producer on another thread rarely finds the lock taken); no allocation
//! once the queues have grown; a waker cloned only when the waiting task changes. The
//! room a burst grew the queues to is given back once the receiver has waited a while
//! (see [`reactor::trim`]), so an idle component does not keep it.
//!
//! Messages in the receiver's batch still count against the capacity until taken out:
//! the shared `consumed` counter, written by the receiver alone, tells senders how many
//! of the batch are gone.
//!
//! Invariants:
//! - at most `capacity` messages are queued, whoever sends;
//! - a message taken out of a queue at most half full wakes exactly one sender waiting
//!   for room (if any), in the order they started waiting (Vert.x's drain handler fires at
//!   half the write queue too): a producer that outruns its consumer then refills half
//!   the mailbox per wake-up, instead of paying a wake-up per message; a waiting sender
//!   that gives up passes its turn on;
//! - once the receiver is dropped, every send fails with the message handed back, every
//!   waiting sender is woken to learn it, and the messages still queued are dropped (a
//!   request's reply slot with them, so its requester learns at once).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use crate::reactor::{self, trim::Trim};

/// Why a send did not queue its message; the message comes back.
pub(crate) enum SendError<T> {
    /// The queue is at capacity (`try_send` only).
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver, when it waits for a message.
    receiver: Option<Waker>,
    /// Senders waiting for room, oldest first. A `Vec`, one word smaller than a
    /// deque in every mailbox: the line is short (one entry per sender task waiting at
    /// once), so taking its first entry moves few.
    waiting: Vec<(u32, Waker)>,
    /// Ids only tell apart the senders waiting at one time: 32 bits wrap safely.
    next_waiter: u32,
    /// How many messages the receiver took in its latest batch.
    held: u32,
}

/// Counts are kept in 32 bits: the capacity is at most `u32::MAX`, and nothing is
/// queued past it (one word less in every mailbox).
struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: u32,
    /// How many of its latest batch the receiver has taken out (it alone writes this;
    /// it resets it under the lock when it takes a batch).
    consumed: AtomicU32,
    /// `queue.len()`, stored under the lock: lets the receiver judge without the lock
    /// whether the mailbox is low enough to wake a waiting sender.
    queued: AtomicU32,
    /// Whether any sender waits for room, stored under the lock.
    senders_wait: AtomicBool,
    /// The receiver has closed the mailbox; stored and read under the lock (here, in
    /// the padding after the counters, rather than a word in the locked state).
    closed: AtomicBool,
    /// Its reactor has asked the receiver to give back its queues' room the next time
    /// it waits (see [`reactor::trim`]); stored under the lock.
    trim: AtomicBool,
}

impl<T> Shared<T> {
    /// Waiting senders are woken once the mailbox is down to this many messages.
    fn low_water(&self) -> usize {
        self.capacity as usize / 2
    }

    fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Messages in the mailbox now: queued, or in the receiver's batch and not taken.
    fn len(&self) -> usize {
        let state = self.lock();
        self.used(&state)
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Messages in the mailbox: queued, or in the receiver's batch and not taken yet.
    fn used(&self, state: &State<T>) -> usize {
        state.queue.len()
            + (state.held as usize).saturating_sub(self.consumed.load(Ordering::Relaxed) as usize)
    }

    /// Whether nothing is queued, as of the latest send this thread has seen, read
    /// without the lock. A send from another thread that this does not show yet took
    /// the receiver's waker and woke it, or is found by the locked poll of a receiver
    /// about to wait: either way the receiver looks again.
    fn nothing_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) == 0
    }

    /// Whether the receiver has closed the mailbox: exact under the lock, and for the
    /// receiver itself (it alone closes); a hint elsewhere.
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Under the lock: the oldest waiting sender, if the mailbox is low enough.
    fn drained(&self, state: &mut State<T>) -> Option<Waker> {
        if self.used(state) > self.low_water() {
            return None;
        }
        let (_, waker) = pop_front(&mut state.waiting)?;
        self.senders_wait
            .store(!state.waiting.is_empty(), Ordering::Relaxed);
        Some(waker)
    }

    /// Under the lock: queues `value` and takes the receiver's waker.
    fn push(&self, state: &mut State<T>, value: T) -> Option<Waker> {
        state.queue.push_back(value);
        self.queued
            .store(count(state.queue.len()), Ordering::Relaxed);
        state.receiver.take()
    }
}

/// The first of `line`, taken out.
fn pop_front<T>(line: &mut Vec<T>) -> Option<T> {
    (!line.is_empty()).then(|| line.remove(0))
}

/// The most room, in bytes, an idle queue keeps (see [`Receiver::list`]).
const KEEP_BYTES: usize = 512;

/// Whether `queue` holds more room than [`KEEP_BYTES`].
fn large<T>(queue: &VecDeque<T>) -> bool {
    queue.capacity().saturating_mul(size_of::<T>()) > KEEP_BYTES
}

/// Frees an empty queue's room if it is large. One that stays small (request-reply, a
/// message at a time) keeps its room, and never regrows it.
fn trim<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && large(queue) {
        *queue = VecDeque::new();
    }
}

impl<T> Trim for Shared<T> {
    fn trim_due(&self) {
        let state = self.lock();
        self.trim.store(true, Ordering::Relaxed);
        if let Some(receiver) = &state.receiver {
            // Under the lock, as elsewhere: waking only schedules the receiver's task.
            receiver.wake_by_ref();
        }
    }
}

/// `n` in 32 bits, saturating (counts here never pass the capacity, itself 32-bit).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A new mailbox of `capacity`, at least 1 and at most `u32::MAX` (more than four
/// billion queued messages is no bound at all; the batch count is kept in 32 bits).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            receiver: None,
            waiting: Vec::new(),
            next_waiter: 0,
            held: 0,
        }),
        capacity: count(capacity.max(1)),
        consumed: AtomicU32::new(0),
        queued: AtomicU32::new(0),
        senders_wait: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        trim: AtomicBool::new(false),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver {
            shared,
            batch: RefCell::new(VecDeque::new()),
            consumed: Cell::new(0),
            armed: Cell::new(false),
            listed: Cell::new(false),
        },
    )
}

/// The sending side; clone it freely.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> Sender<T> {
    /// Queues `value` if there is room now.
    pub(crate) fn try_send(&self, value: T) -> Result<(), SendError<T>> {
        if let Some(receiver) = self.try_send_unwoken(value)? {
            receiver.wake();
        }
        Ok(())
    }

    /// As [`try_send`](Self::try_send), but hands back the waiting receiver's waker
    /// (if the receiver was waiting) instead of waking it: the caller must wake it.
    pub(crate) fn try_send_unwoken(&self, value: T) -> Result<Option<Waker>, SendError<T>> {
        let mut state = self.shared.lock();
        if self.shared.is_closed() {
            return Err(SendError::Closed(value));
        }
        if self.shared.used(&state) >= self.shared.capacity() {
            return Err(SendError::Full(value));
        }
        Ok(self.shared.push(&mut state, value))
    }

    /// Queues `value`, waiting for room without blocking the thread.
    pub(crate) fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            shared: &self.shared,
            value: Some(value),
            waiter: None,
        }
    }

    /// Messages in the mailbox now (not counting the one being handled).
    pub(crate) fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether the receiver has closed the mailbox (or is gone): a hint, as a send may
    /// find it closed right after.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The most messages it queues.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// A handle that reads the length without keeping the mailbox alive: a weak
    /// pointer, with no allocation of its own.
    pub(crate) fn gauge(&self) -> Weak<dyn Gauge>
    where
        T: Send + 'static,
    {
        let weak: Weak<Shared<T>> = Arc::downgrade(&self.shared);
        weak
    }
}

/// Reads a mailbox's length, whatever its message type.
pub(crate) trait Gauge: Send + Sync {
    /// Messages in the mailbox now.
    fn len(&self) -> usize;
}

impl<T: Send> Gauge for Shared<T> {
    fn len(&self) -> usize {
        Shared::len(self)
    }
}

/// A send waiting for room; dropping it before it resolves gives up (and passes its
/// turn on).
pub(crate) struct SendFuture<'a, T> {
    shared: &'a Arc<Shared<T>>,
    value: Option<T>,
    /// Its place among the waiting senders, once it waits.
    waiter: Option<u32>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(value) = this.value.take() else {
            return Poll::Ready(Ok(()));
        };
        let mut state = this.shared.lock();
        let closed = this.shared.is_closed();
        if closed || this.shared.used(&state) < this.shared.capacity() {
            if let Some(id) = this.waiter.take() {
                state.waiting.retain(|(w, _)| *w != id);
                this.shared
                    .senders_wait
                    .store(!state.waiting.is_empty(), Ordering::Relaxed);
            }
            if closed {
                return Poll::Ready(Err(SendError::Closed(value)));
            }
            let receiver = this.shared.push(&mut state, value);
            drop(state);
            if let Some(receiver) = receiver {
                receiver.wake();
            }
            return Poll::Ready(Ok(()));
        }
        match this.waiter {
            Some(id) => match state.waiting.iter_mut().find(|(w, _)| *w == id) {
                Some((_, waker)) => {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                }
                // Told of room that someone else took first: first in line again.
                None => state.waiting.insert(0, (id, cx.waker().clone())),
            },
            None => {
                let id = state.next_waiter;
                state.next_waiter = state.next_waiter.wrapping_add(1);
                state.waiting.push((id, cx.waker().clone()));
                this.waiter = Some(id);
            }
        }
        this.shared.senders_wait.store(true, Ordering::Relaxed);
        this.value = Some(value);
        Poll::Pending
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        let Some(id) = self.waiter else {
            return;
        };
        let mut state = self.shared.lock();
        let before = state.waiting.len();
        state.waiting.retain(|(w, _)| *w != id);
        let was_waiting = state.waiting.len() < before;
        // Told of room and giving up: the next waiting sender gets the turn.
        let next = if !was_waiting && self.shared.used(&state) < self.shared.capacity() {
            pop_front(&mut state.waiting)
        } else {
            None
        };
        self.shared
            .senders_wait
            .store(!state.waiting.is_empty(), Ordering::Relaxed);
        drop(state);
        if let Some((_, next)) = next {
            next.wake();
        }
    }
}

/// The receiving side, held by the instance (on its thread).
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The batch being worked through, swapped out of the shared queue.
    batch: RefCell<VecDeque<T>>,
    /// How many of the batch have been taken out (mirrored to `shared.consumed`).
    consumed: Cell<u32>,
    /// Whether the receiver's waker has been kept in the mailbox and no message has been
    /// sent since: every send takes the waker and makes `queued` non-zero, and only a
    /// batch taken here (which clears this) makes it zero again. So `armed` with
    /// `queued` at zero means the waker is still in place (see
    /// [`poll_recv_owned`](Self::poll_recv_owned)).
    armed: Cell<bool>,
    /// Listed with its reactor to give back its room (see [`Receiver::list`]).
    listed: Cell<bool>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T: 'static> Receiver<T> {
    /// The next message, if one is in the mailbox. A message sent from another thread
    /// at this very moment may be missed. The tests' way in: the instance takes its
    /// messages with [`poll_recv`](Self::poll_recv), which leaves its waker when empty.
    #[cfg(test)]
    pub(crate) fn try_recv(&self) -> Option<T> {
        if let Some(value) = self.take_from_batch() {
            return Some(value);
        }
        // An instance about to wait looks here first, then polls under the lock anyway.
        if self.shared.nothing_queued() {
            return None;
        }
        let mut state = self.shared.lock();
        if state.queue.is_empty() {
            return None;
        }
        self.next_batch(state.deref_mut())
    }

    /// The next message, or `Pending` with this task's waker kept for the next send.
    ///
    /// Always inlined, with the shared queue looked at out of line: the batch's next
    /// message (every message of a busy stream but the first of each batch) is then
    /// taken in the caller's loop. Left to the compiler, the whole of it was once
    /// called out of the instance's loop instead, some 20 instructions more per
    /// message (callgrind, a tell on one reactor).
    #[inline(always)]
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(value) = self.take_from_batch() {
            return Poll::Ready(value);
        }
        self.poll_shared(cx)
    }

    /// The rest of `poll_recv`: the next batch from the shared queue, or the wait.
    fn poll_shared(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.shared.lock();
        if !state.queue.is_empty() {
            return self
                .next_batch(state.deref_mut())
                .map_or(Poll::Pending, Poll::Ready);
        }
        if !state
            .receiver
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.receiver = Some(cx.waker().clone());
        }
        self.armed.set(true);
        self.idle_room(&mut state);
        Poll::Pending
    }

    /// Waiting, with both queues empty: gives back their room if the reactor asked
    /// (see [`list`](Self::list)).
    fn idle_room(&self, state: &mut State<T>) {
        if self.shared.trim.load(Ordering::Relaxed) {
            self.shared.trim.store(false, Ordering::Relaxed);
            self.listed.set(false);
            trim(&mut state.queue);
            trim(&mut self.batch.borrow_mut());
        }
    }

    /// Lists the mailbox with its reactor, which asks it in a while to give back its
    /// room (see [`reactor::trim`]; freed at every wait instead, the room would be
    /// regrown by every batch of a busy stream). Done as a batch is taken: only the
    /// shared queue grows, while senders fill it, and the receiver then takes it whole
    /// as its batch (one message at a time is taken from it only when it holds one).
    fn list(&self) {
        let mailbox: Weak<Shared<T>> = Arc::downgrade(&self.shared);
        self.listed.set(reactor::trim_later(mailbox));
    }

    /// As [`poll_recv`](Self::poll_recv), for a receiver only ever polled by one task (a
    /// supervisor's own mailboxes): when nothing has been sent since that task's waker
    /// was kept, it answers `Pending` without taking the lock.
    ///
    /// A send that `queued` does not show yet has taken the kept waker and woken the
    /// task: the task is polled again after it. Polled by another task, the receiver
    /// could miss a wake-up: the waker kept would not be the new task's.
    pub(crate) fn poll_recv_owned(&self, cx: &mut Context<'_>) -> Poll<T> {
        if self.armed.get()
            && self.shared.nothing_queued()
            && self.batch.borrow().is_empty()
            && !self.shared.trim.load(Ordering::Relaxed)
        {
            return Poll::Pending;
        }
        self.poll_recv(cx)
    }

    /// Under the lock, with the batch used up: takes the whole queue as the next batch
    /// and returns its first message (waking a waiting sender if that made room).
    fn next_batch(&self, state: &mut State<T>) -> Option<T> {
        // A send queued what is taken here, and took the waker.
        self.armed.set(false);
        if state.queue.len() == 1 {
            // One message (request-reply's usual case): no batch to account for.
            let value = state.queue.pop_front();
            self.shared.queued.store(0, Ordering::Relaxed);
            if let Some(sender) = self.shared.drained(state) {
                sender.wake();
            }
            return value;
        }
        let mut batch = self.batch.borrow_mut();
        std::mem::swap(&mut state.queue, &mut *batch);
        if !self.listed.get() && large(&batch) {
            self.list();
        }
        self.shared.queued.store(0, Ordering::Relaxed);
        // A batch is at most the capacity, itself at most u32::MAX (see `bounded`).
        state.held = u32::try_from(batch.len()).unwrap_or(u32::MAX);
        let value = batch.pop_front();
        let consumed = u32::from(value.is_some());
        self.consumed.set(consumed);
        self.shared.consumed.store(consumed, Ordering::Relaxed);
        drop(batch);
        if let Some(sender) = self.shared.drained(state) {
            // Waking under the lock is fine: it only schedules the sender's task.
            sender.wake();
        }
        value
    }

    /// Takes the next message of the batch, and wakes a waiting sender if that made
    /// enough room.
    #[inline(always)]
    fn take_from_batch(&self) -> Option<T> {
        let (value, left) = {
            let mut batch = self.batch.borrow_mut();
            (batch.pop_front()?, batch.len())
        };
        let consumed = self.consumed.get() + 1;
        self.consumed.set(consumed);
        self.shared.consumed.store(consumed, Ordering::Relaxed);
        // Without the lock, a cheap guess: `queued` only grows between batches, so an
        // old value is too low, never too high; the lock confirms.
        if self.shared.senders_wait.load(Ordering::Relaxed)
            && self.shared.queued.load(Ordering::Relaxed) as usize + left <= self.shared.low_water()
        {
            let mut state = self.shared.lock();
            let sender = self.shared.drained(&mut state);
            drop(state);
            if let Some(sender) = sender {
                sender.wake();
            }
        }
        Some(value)
    }

    /// Resolves to the next message.
    pub(crate) async fn recv(&self) -> T {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl<T> Receiver<T> {
    /// A new sender to this mailbox.
    pub(crate) fn sender(&self) -> Sender<T> {
        Sender {
            shared: self.shared.clone(),
        }
    }

    /// Messages in the mailbox now (not counting the one being handled).
    pub(crate) fn len(&self) -> usize {
        self.shared.len()
    }

    /// The most messages it queues.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Closes the mailbox: senders are refused from now on, and what is queued is
    /// dropped (each request's reply slot with it, so its requester learns at once
    /// that the recipient failed). Done again, it finds nothing to do.
    pub(crate) fn close(&self) {
        // Only the receiver closes: read without the lock, this is exact.
        if self.shared.is_closed() {
            return;
        }
        let (queued, waiting) = {
            let mut state = self.shared.lock();
            self.shared.closed.store(true, Ordering::Relaxed);
            state.receiver = None;
            self.armed.set(false);
            state.held = 0;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiting),
            )
        };
        // Outside the lock: dropping a request wakes its requester.
        drop(queued);
        let batch = std::mem::take(&mut *self.batch.borrow_mut());
        drop(batch);
        for (_, sender) in waiting {
            sender.wake();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CountingWaker;
    use futures_lite::future::{block_on, poll_once};

    /// Fills a mailbox of one and has two senders wait: the first for 1, then for 2.
    fn full_with_two_waiting(tx: &Sender<i32>) -> (SendFuture<'_, i32>, SendFuture<'_, i32>) {
        tx.try_send(0).ok();
        let mut first = tx.send(1);
        let mut second = tx.send(2);
        assert!(block_on(poll_once(&mut first)).is_none());
        assert!(block_on(poll_once(&mut second)).is_none());
        (first, second)
    }

    /// The ids of the waiting senders, in line.
    fn waiting<T>(rx: &Receiver<T>) -> Vec<u32> {
        rx.shared.lock().waiting.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn it_holds_at_most_its_capacity() {
        let (tx, rx) = bounded(2);
        assert!(tx.try_send(1).is_ok());
        assert!(tx.try_send(2).is_ok());
        assert!(matches!(tx.try_send(3), Err(SendError::Full(3))));
        assert_eq!(tx.len(), 2);
        assert_eq!(rx.try_recv(), Some(1));
        assert!(tx.try_send(3).is_ok());
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_freed_slot_wakes_the_oldest_waiting_sender() {
        let (tx, rx) = bounded(1);
        let (mut first, mut second) = full_with_two_waiting(&tx);
        assert_eq!(waiting(&rx), vec![0, 1]);
        assert_eq!(rx.try_recv(), Some(0));
        // The oldest waiter was taken off the list (woken); the other still waits.
        assert_eq!(waiting(&rx), vec![1]);
        assert!(matches!(block_on(poll_once(&mut first)), Some(Ok(()))));
        assert!(block_on(poll_once(&mut second)).is_none());
        assert_eq!(rx.try_recv(), Some(1));
        assert!(matches!(block_on(poll_once(&mut second)), Some(Ok(()))));
        assert_eq!(rx.try_recv(), Some(2));
    }

    #[test]
    fn a_woken_sender_that_lost_the_room_is_first_in_line_again() {
        let (tx, rx) = bounded(1);
        let (mut first, _second) = full_with_two_waiting(&tx);
        assert_eq!(rx.try_recv(), Some(0));
        assert!(tx.try_send(9).is_ok());
        assert!(block_on(poll_once(&mut first)).is_none());
        assert_eq!(waiting(&rx), vec![0, 1]);
    }

    #[test]
    fn waiting_senders_are_woken_once_the_queue_is_half_drained() {
        let (tx, rx) = bounded(4);
        for i in 0..4 {
            tx.try_send(i).ok();
        }
        let mut waiting = tx.send(4);
        assert!(block_on(poll_once(&mut waiting)).is_none());
        let waiters = |rx: &Receiver<i32>| rx.shared.lock().waiting.len();
        assert_eq!(rx.try_recv(), Some(0));
        assert_eq!(waiters(&rx), 1, "3 of 4 queued: not yet");
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(waiters(&rx), 0, "2 of 4 queued: woken");
        assert!(matches!(block_on(poll_once(&mut waiting)), Some(Ok(()))));
        assert_eq!(tx.len(), 3);
    }

    #[test]
    fn the_receivers_batch_counts_against_the_capacity_until_taken() {
        let (tx, rx) = bounded(4);
        for i in 0..4 {
            tx.try_send(i).ok();
        }
        // The receiver swaps all four out as its batch and takes the first.
        assert_eq!(rx.try_recv(), Some(0));
        assert_eq!(tx.len(), 3);
        assert!(tx.try_send(4).is_ok());
        assert!(matches!(tx.try_send(5), Err(SendError::Full(5))));
        assert_eq!(tx.len(), 4);
        for expected in 1..=4 {
            assert_eq!(rx.try_recv(), Some(expected));
            assert_eq!(tx.len(), 4 - expected as usize);
        }
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_sender_giving_up_passes_its_turn_on() {
        let (tx, rx) = bounded(1);
        let (first, mut second) = full_with_two_waiting(&tx);
        assert_eq!(rx.try_recv(), Some(0));
        drop(first);
        assert!(matches!(block_on(poll_once(&mut second)), Some(Ok(()))));
        assert_eq!(rx.try_recv(), Some(2));
    }

    /// The room of the receiver's two queues: the shared one and its batch.
    fn room<T>(rx: &Receiver<T>) -> (usize, usize) {
        let queue = rx.shared.lock().queue.capacity();
        (queue, rx.batch.borrow().capacity())
    }

    /// Whether both of `room` are at most [`KEEP_BYTES`] of `u64`s.
    fn small((queue, batch): (usize, usize)) -> bool {
        queue * 8 <= KEEP_BYTES && batch * 8 <= KEEP_BYTES
    }

    /// Sends `0..n`, then takes `n` more after the first, so both queues have grown,
    /// then takes everything: `2n` messages in all.
    fn burst(tx: &Sender<u64>, rx: &Receiver<u64>, n: u64) {
        for i in 0..n {
            assert!(tx.try_send(i).is_ok());
        }
        assert_eq!(rx.try_recv(), Some(0));
        for i in n..2 * n {
            assert!(tx.try_send(i).is_ok());
        }
        for i in 1..2 * n {
            assert_eq!(rx.try_recv(), Some(i));
        }
    }

    #[test]
    fn a_receiver_asked_to_trim_frees_a_bursts_room_when_it_waits() {
        let (tx, rx) = bounded::<u64>(1024);
        let count = Arc::new(CountingWaker::default());
        let waker = Waker::from(count.clone());
        let wait = |rx: &Receiver<u64>| rx.poll_recv(&mut Context::from_waker(&waker)).is_pending();
        burst(&tx, &rx, 300);
        assert!(wait(&rx));
        // Not asked: waiting keeps the room (a busy stream waits between batches).
        assert!(!small(room(&rx)), "{:?}", room(&rx));
        // Asked while it waits: woken, and its next wait frees both queues.
        rx.shared.trim_due();
        assert_eq!(count.wakes(), 1);
        assert!(wait(&rx));
        assert!(small(room(&rx)), "{:?}", room(&rx));
        // Asked while busy: what is queued stays; the room goes once it waits.
        burst(&tx, &rx, 300);
        for i in 0..200 {
            assert!(tx.try_send(i).is_ok());
        }
        rx.shared.trim_due();
        for i in 0..200 {
            assert_eq!(rx.try_recv(), Some(i));
        }
        assert!(!small(room(&rx)));
        assert!(wait(&rx));
        assert!(small(room(&rx)), "{:?}", room(&rx));
    }

    #[test]
    fn small_queues_keep_their_room_when_asked_to_trim() {
        let (tx, rx) = bounded::<u64>(1024);
        let waker = Waker::noop();
        assert!(tx.try_send(1).is_ok());
        assert!(tx.try_send(2).is_ok());
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.try_recv(), Some(2));
        assert!(rx.poll_recv(&mut Context::from_waker(waker)).is_pending());
        let before = room(&rx);
        assert!(before.0 > 0 || before.1 > 0);
        rx.shared.trim_due();
        assert!(rx.poll_recv(&mut Context::from_waker(waker)).is_pending());
        assert_eq!(room(&rx), before);
    }

    #[test]
    fn a_supervisors_receiver_asked_to_trim_looks_under_the_lock() {
        let (tx, rx) = bounded::<u64>(1024);
        let waker = Waker::noop();
        burst(&tx, &rx, 300);
        assert!(
            rx.poll_recv_owned(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert!(!small(room(&rx)));
        rx.shared.trim_due();
        // `armed` alone would answer without looking.
        assert!(
            rx.poll_recv_owned(&mut Context::from_waker(waker))
                .is_pending()
        );
        assert!(small(room(&rx)), "{:?}", room(&rx));
    }

    /// On a real reactor: a receiver idle after a burst lists itself, and the reactor's
    /// sweep has it give the room back.
    #[test]
    fn an_idle_receiver_on_a_reactor_gives_a_bursts_room_back() {
        let (reactor, thread) =
            reactor::spawn(u64::MAX, 0, None, reactor::IdlePolicy::Park).expect("a reactor");
        let (tx, rx) = bounded::<u64>(1024);
        let (report, reports) = flume::unbounded();
        let (open, gate) = flume::bounded::<()>(1);
        // The receiver waits at the gate, so the burst below is queued whole, then takes
        // it as one batch. Each `u64::MAX` is a probe: the receiver reports its room.
        let spawn: reactor::SpawnCommand = Box::new(move |executor| {
            executor.spawn_detached(async move {
                let _ = gate.recv_async().await;
                loop {
                    if rx.recv().await == u64::MAX {
                        let _ = report.send(room(&rx));
                    }
                }
            });
        });
        assert!(
            reactor
                .commands
                .send(reactor::Command::Spawn(spawn))
                .is_ok()
        );
        let probe = || {
            assert!(tx.try_send(u64::MAX).is_ok());
            reports
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("a report")
        };
        for i in 0..600 {
            assert!(tx.try_send(i).is_ok());
        }
        assert!(open.send(()).is_ok());
        let grown = probe();
        assert!(!small(grown), "{grown:?}");
        // Within a few sweeps (one a second), the room is back, nothing sent meanwhile
        // but the probes.
        let start = std::time::Instant::now();
        while !small(probe()) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "never trimmed"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(reactor.commands.send(reactor::Command::Shutdown).is_ok());
        assert!(thread.join().is_ok());
    }

    #[test]
    fn a_closed_receiver_refuses_and_drops_what_was_queued_and_its_batch() {
        let (tx, rx) = bounded(4);
        let values: Vec<Arc<()>> = (0..4).map(|_| Arc::new(())).collect();
        for value in &values[..3] {
            tx.try_send(value.clone()).ok();
        }
        // Two taken into the receiver's batch (one handed out), one left queued.
        let first = rx.try_recv();
        tx.try_send(values[3].clone()).ok();
        rx.close();
        drop(first);
        assert!(values.iter().all(|v| Arc::strong_count(v) == 1));
        assert!(matches!(
            tx.try_send(Arc::new(())),
            Err(SendError::Closed(_))
        ));
        assert!(rx.try_recv().is_none());
        rx.close();
        assert_eq!(rx.sender().len(), 0);
    }

    #[test]
    fn a_dropped_receiver_closes_and_drops_what_was_queued() {
        let (tx, rx) = bounded(1);
        let queued = Arc::new(());
        tx.try_send(queued.clone()).ok();
        let mut waiting = tx.send(Arc::new(()));
        assert!(block_on(poll_once(&mut waiting)).is_none());
        drop(rx);
        assert_eq!(Arc::strong_count(&queued), 1);
        assert!(matches!(block_on(waiting), Err(SendError::Closed(_))));
        assert!(matches!(
            tx.try_send(Arc::new(())),
            Err(SendError::Closed(_))
        ));
        assert_eq!(tx.gauge().upgrade().map_or(usize::MAX, |g| g.len()), 0);
    }

    #[test]
    fn a_receiver_waits_for_a_send_from_another_thread() {
        let (tx, rx) = bounded(4);
        let sender = std::thread::spawn(move || {
            for i in 0..1000 {
                block_on(tx.send(i)).ok();
            }
        });
        let mut sum = 0;
        for _ in 0..1000 {
            sum += block_on(rx.recv());
        }
        sender.join().unwrap();
        assert_eq!(sum, (0..1000).sum::<i32>());
    }

    /// An owned receiver skips the lock only while its kept waker is still in place:
    /// after each message it takes, the next wait keeps the waker again, so every send
    /// wakes it.
    #[test]
    fn an_owned_receiver_is_woken_by_every_send() {
        let count = Arc::new(CountingWaker::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (tx, rx) = bounded(4);
        for round in 1..=3 {
            assert!(rx.poll_recv_owned(&mut cx).is_pending());
            // Waiting again, nothing sent: the lock-free answer.
            assert!(rx.poll_recv_owned(&mut cx).is_pending());
            let sent = std::thread::spawn({
                let tx = tx.clone();
                move || tx.try_send(round).is_ok()
            });
            assert!(sent.join().unwrap());
            assert_eq!(count.wakes(), round, "send {round} woke it");
            assert_eq!(rx.poll_recv_owned(&mut cx), Poll::Ready(round));
        }
        // Two sent before it looks: a batch, then waiting again.
        tx.try_send(4).ok().unwrap();
        tx.try_send(5).ok().unwrap();
        assert_eq!(rx.poll_recv_owned(&mut cx), Poll::Ready(4));
        assert_eq!(rx.poll_recv_owned(&mut cx), Poll::Ready(5));
        assert!(rx.poll_recv_owned(&mut cx).is_pending());
        tx.try_send(6).ok().unwrap();
        assert_eq!(count.wakes(), 4);
        assert_eq!(rx.poll_recv_owned(&mut cx), Poll::Ready(6));
    }

    /// Four threads send 20,000 numbered messages each through a mailbox of 8, awaiting
    /// room; the receiver, on this thread, checks that every message arrives exactly
    /// once, each sender's in order, and that the mailbox never holds more than 8.
    #[test]
    fn many_senders_and_a_batching_receiver_keep_the_bound_and_the_order() {
        const SENDERS: u64 = 4;
        const EACH: u64 = 20_000;
        let (tx, rx) = bounded::<(u64, u64)>(8);
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for n in 0..EACH {
                        assert!(block_on(tx.send((s, n))).is_ok());
                        assert!(tx.len() <= 8);
                    }
                })
            })
            .collect();
        let mut next = [0_u64; SENDERS as usize];
        for _ in 0..SENDERS * EACH {
            let (s, n) = block_on(rx.recv());
            assert_eq!(n, next[s as usize], "sender {s} out of order");
            next[s as usize] += 1;
            assert!(tx.len() <= 8, "over capacity: {}", tx.len());
        }
        for sender in senders {
            sender.join().unwrap();
        }
        assert_eq!(next, [EACH; SENDERS as usize]);
        assert_eq!(rx.try_recv(), None);
    }
}
