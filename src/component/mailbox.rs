//! A component's mailbox: a bounded channel with many senders and one receiver, its
//! instance.
//!
//! It does what the instance needs and nothing more, which makes it cheaper than a
//! general channel on the paths every message takes: one uncontended lock per send and
//! per receive, no allocation once the queue has grown, and a waker cloned only when the
//! waiting task changes.
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

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

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
    /// Senders waiting for room, oldest first.
    waiting: VecDeque<(u64, Waker)>,
    next_waiter: u64,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Waiting senders are woken once the queue is down to this length.
    low_water: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new mailbox of `capacity` (at least 1).
pub(crate) fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            receiver: None,
            waiting: VecDeque::new(),
            next_waiter: 0,
            closed: false,
        }),
        capacity: capacity.max(1),
        low_water: capacity.max(1) / 2,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
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
        let mut state = self.shared.lock();
        if state.closed {
            return Err(SendError::Closed(value));
        }
        if state.queue.len() >= self.shared.capacity {
            return Err(SendError::Full(value));
        }
        state.queue.push_back(value);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        Ok(())
    }

    /// Queues `value`, waiting for room without blocking the thread.
    pub(crate) fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            shared: &self.shared,
            value: Some(value),
            waiter: None,
        }
    }

    /// Messages queued now.
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// The most messages it queues.
    pub(crate) fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// A handle that reads the length without keeping the mailbox alive.
    pub(crate) fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// Reads a mailbox's length while it lives.
pub(crate) struct WeakSender<T> {
    shared: Weak<Shared<T>>,
}

impl<T> WeakSender<T> {
    /// Messages queued now; 0 once the mailbox is gone.
    pub(crate) fn len(&self) -> usize {
        self.shared
            .upgrade()
            .map_or(0, |shared| shared.lock().queue.len())
    }
}

/// A send waiting for room; dropping it before it resolves gives up (and passes its
/// turn on).
pub(crate) struct SendFuture<'a, T> {
    shared: &'a Arc<Shared<T>>,
    value: Option<T>,
    /// Its place among the waiting senders, once it waits.
    waiter: Option<u64>,
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
        if state.closed || state.queue.len() < this.shared.capacity {
            if let Some(id) = this.waiter.take() {
                state.waiting.retain(|(w, _)| *w != id);
            }
            if state.closed {
                return Poll::Ready(Err(SendError::Closed(value)));
            }
            state.queue.push_back(value);
            let receiver = state.receiver.take();
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
                None => state.waiting.push_front((id, cx.waker().clone())),
            },
            None => {
                let id = state.next_waiter;
                state.next_waiter += 1;
                state.waiting.push_back((id, cx.waker().clone()));
                this.waiter = Some(id);
            }
        }
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
        if state.waiting.len() < before {
            return;
        }
        // It had been told of room and gives up: the next waiting sender gets the turn.
        if state.queue.len() < self.shared.capacity
            && let Some((_, next)) = state.waiting.pop_front()
        {
            drop(state);
            next.wake();
        }
    }
}

/// The receiving side, held by the instance.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The next message, if one is queued.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let mut state = self.shared.lock();
        let value = state.queue.pop_front()?;
        let sender = self.drained(&mut state);
        drop(state);
        if let Some((_, sender)) = sender {
            sender.wake();
        }
        Some(value)
    }

    /// The next message, or `Pending` with this task's waker kept for the next send.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.shared.lock();
        match state.queue.pop_front() {
            Some(value) => {
                let sender = self.drained(&mut state);
                drop(state);
                if let Some((_, sender)) = sender {
                    sender.wake();
                }
                Poll::Ready(value)
            }
            None => {
                if !state
                    .receiver
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.receiver = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The waiting sender to wake after a message was taken, if the queue is low enough.
    fn drained(&self, state: &mut State<T>) -> Option<(u64, Waker)> {
        if state.queue.len() <= self.shared.low_water {
            state.waiting.pop_front()
        } else {
            None
        }
    }

    /// Resolves to the next message.
    #[cfg(test)]
    pub(crate) async fn recv(&self) -> T {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (queued, waiting) = {
            let mut state = self.shared.lock();
            state.closed = true;
            state.receiver = None;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiting),
            )
        };
        // Outside the lock: dropping a request wakes its requester.
        drop(queued);
        for (_, sender) in waiting {
            sender.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

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
        tx.try_send(0).ok();
        let mut first = tx.send(1);
        let mut second = tx.send(2);
        assert!(block_on(poll_once(&mut first)).is_none());
        assert!(block_on(poll_once(&mut second)).is_none());
        let woken = |rx: &Receiver<i32>| {
            let state = rx.shared.lock();
            state.waiting.iter().map(|(id, _)| *id).collect::<Vec<_>>()
        };
        assert_eq!(woken(&rx), vec![0, 1]);
        assert_eq!(rx.try_recv(), Some(0));
        // The oldest waiter was taken off the list (woken); the other still waits.
        assert_eq!(woken(&rx), vec![1]);
        assert!(matches!(block_on(poll_once(&mut first)), Some(Ok(()))));
        assert!(block_on(poll_once(&mut second)).is_none());
        assert_eq!(rx.try_recv(), Some(1));
        assert!(matches!(block_on(poll_once(&mut second)), Some(Ok(()))));
        assert_eq!(rx.try_recv(), Some(2));
    }

    #[test]
    fn a_woken_sender_that_lost_the_room_is_first_in_line_again() {
        let (tx, rx) = bounded(1);
        tx.try_send(0).ok();
        let mut first = tx.send(1);
        let mut second = tx.send(2);
        assert!(block_on(poll_once(&mut first)).is_none());
        assert!(block_on(poll_once(&mut second)).is_none());
        assert_eq!(rx.try_recv(), Some(0));
        assert!(tx.try_send(9).is_ok());
        assert!(block_on(poll_once(&mut first)).is_none());
        let order: Vec<u64> = rx.shared.lock().waiting.iter().map(|(id, _)| *id).collect();
        assert_eq!(order, vec![0, 1]);
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
    fn a_sender_giving_up_passes_its_turn_on() {
        let (tx, rx) = bounded(1);
        tx.try_send(0).ok();
        let mut first = tx.send(1);
        let mut second = tx.send(2);
        assert!(block_on(poll_once(&mut first)).is_none());
        assert!(block_on(poll_once(&mut second)).is_none());
        assert_eq!(rx.try_recv(), Some(0));
        drop(first);
        assert!(matches!(block_on(poll_once(&mut second)), Some(Ok(()))));
        assert_eq!(rx.try_recv(), Some(2));
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
        assert_eq!(tx.downgrade().len(), 0);
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
}
