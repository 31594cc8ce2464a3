//! A single-use channel for one reply, between a supervisor and its callers (deploy,
//! undeploy, start and stop outcomes). A bus request's reply travels in its
//! [`Call`](crate::bus::Call) instead, which is lock-free and shares the request's
//! allocation.
//!
//! Invariants: the value is sent at most once; dropping the sender unsent closes the
//! channel and wakes the receiver (a deployment whose supervisor stopped fails at once);
//! dropping the receiver makes a later `send` hand the value back, so a late reply is
//! discarded without harm.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

enum State<T> {
    Waiting(Option<Waker>),
    Sent(T),
    Closed,
    Taken,
}

struct Inner<T> {
    state: Mutex<State<T>>,
}

impl<T> Inner<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending half; sends one value.
pub(crate) struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

/// The receiving half; a future of the value, or `Err(Closed)` once the sender is gone.
pub(crate) struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// A new channel.
pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State::Waiting(None)),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner },
    )
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    pub(crate) fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("a sender sends once");
        if Arc::strong_count(&inner) == 1 {
            return Err(value);
        }
        let waker = {
            let mut state = inner.lock();
            match std::mem::replace(&mut *state, State::Sent(value)) {
                State::Waiting(waker) => waker,
                _ => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        let waker = {
            let mut state = inner.lock();
            match std::mem::replace(&mut *state, State::Closed) {
                State::Waiting(waker) => waker,
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Takes the outcome out of `state` if it has one; leaves a waiting state as it is.
fn take<T>(state: &mut State<T>) -> Option<Result<T, Closed>> {
    match std::mem::replace(state, State::Taken) {
        State::Sent(value) => Some(Ok(value)),
        State::Closed | State::Taken => Some(Err(Closed)),
        waiting @ State::Waiting(_) => {
            *state = waiting;
            None
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.inner.lock();
        if let Some(outcome) = take(&mut state) {
            return Poll::Ready(outcome);
        }
        if let State::Waiting(waker) = &mut *state
            && !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn delivers_the_value() {
        let (tx, rx) = channel();
        tx.send(7).unwrap();
        assert_eq!(block_on(rx), Ok(7));
    }

    #[test]
    fn dropped_sender_closes() {
        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(block_on(rx), Err(Closed));
    }

    #[test]
    fn dropped_receiver_hands_the_value_back() {
        let (tx, rx) = channel();
        drop(rx);
        assert_eq!(tx.send(3), Err(3));
    }

    #[test]
    fn wakes_a_waiting_receiver_from_another_thread() {
        let (tx, rx) = channel();
        let t = std::thread::spawn(move || tx.send("hi").unwrap());
        assert_eq!(block_on(rx), Ok("hi"));
        t.join().unwrap();
    }
}
