//! A first-come list of submitters waiting for room, keyed by ticket: the machinery
//! shared by the shared queue's gate (`admission`) and each ordered line (`serial`).
//!
//! [`Waiters`] holds each waiting submission's item (its job) and the waker of its
//! future. It knows nothing of room: its owner decides when the first waiter is let in
//! ([`Waiters::pop_front`]), keeps the list under its own lock, and drops or wakes what
//! comes out of it after releasing that lock.
//!
//! Invariants:
//! - tickets are handed out in increasing order and never reused, even after
//!   [`Waiters::take_all`] empties the list, so a stale ticket never names a later
//!   waiter;
//! - the list is sorted by ticket (waiters are only appended), which is submission order
//!   and what lookup by ticket relies on;
//! - a waiter leaves the list once, in one of three ways: first in line
//!   ([`Waiters::pop_front`]), by its ticket ([`Waiters::remove`]), or with all the
//!   others ([`Waiters::take_all`]); a ticket whose waiter left finds nothing;
//! - a waiter's future is woken at most once, and only after its item was moved on (let
//!   in by the owner) or dropped (dismissed), so the woken future sees the outcome. A
//!   waiter taken out by its ticket is not woken: its own future took it out.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use super::unwind::wake_quietly;

/// Submissions waiting for room, in submission order, each under its ticket.
///
/// No `Default`: `std::mem::take` on it would restart the tickets; use
/// [`take_all`](Self::take_all).
#[derive(Debug)]
pub(crate) struct Waiters<T> {
    list: VecDeque<Waiter<T>>,
    next_ticket: u64,
}

/// One waiting submission: its item, and the waker of its future once polled.
#[derive(Debug)]
pub(crate) struct Waiter<T> {
    ticket: u64,
    item: T,
    waker: Option<Waker>,
}

/// The waiters [`Waiters::take_all`] took out, to be dismissed outside the lock.
#[derive(Debug)]
#[must_use = "dropping it settles the items but wakes no future"]
pub(crate) struct Dismissal<T>(VecDeque<Waiter<T>>);

impl<T> Waiters<T> {
    /// An empty list; the first ticket is 0.
    pub(crate) const fn new() -> Self {
        Self {
            list: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// How many submissions wait.
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nobody waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds a waiter behind the others; returns its ticket.
    pub(crate) fn push_back(&mut self, item: T) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let waker = None;
        self.list.push_back(Waiter {
            ticket,
            item,
            waker,
        });
        ticket
    }

    /// Takes the first waiter out, to be let in.
    pub(crate) fn pop_front(&mut self) -> Option<Waiter<T>> {
        self.list.pop_front()
    }

    /// Takes the waiter holding `ticket` out, if it still waits. The caller drops it
    /// outside its lock.
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<Waiter<T>> {
        let index = self.index_of(ticket)?;
        self.list.remove(index)
    }

    /// Takes every waiter out, keeping the ticket count.
    pub(crate) fn take_all(&mut self) -> Dismissal<T> {
        Dismissal(std::mem::take(&mut self.list))
    }

    /// `Ready` once the waiter holding `ticket` left the list; else registers the waker
    /// of `cx` (once, while it would wake the same task).
    pub(crate) fn poll_left(&mut self, ticket: u64, cx: &mut Context<'_>) -> Poll<()> {
        let Some(waiter) = self.get_mut(ticket) else {
            return Poll::Ready(());
        };
        match &mut waiter.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Where the waiter holding `ticket` is, if it still waits (the list is sorted).
    fn index_of(&self, ticket: u64) -> Option<usize> {
        let found = self.list.binary_search_by_key(&ticket, |w| w.ticket);
        found.ok()
    }

    fn get_mut(&mut self, ticket: u64) -> Option<&mut Waiter<T>> {
        let index = self.index_of(ticket)?;
        self.list.get_mut(index)
    }
}

impl<T> Waiter<T> {
    /// The item, and the waker to wake once the item is where it belongs.
    pub(crate) fn into_parts(self) -> (T, Option<Waker>) {
        (self.item, self.waker)
    }

    /// Drops the item (a job settles as ShutDown), then wakes the future to see it.
    fn dismiss(self) {
        let (item, waker) = self.into_parts();
        drop(item);
        if let Some(waker) = waker {
            wake_quietly(waker);
        }
    }
}

impl<T> Dismissal<T> {
    /// Dismisses each waiter in ticket order; returns how many there were.
    pub(crate) fn dismiss(self) -> usize {
        let dismissed = self.0.len();
        self.0.into_iter().for_each(Waiter::dismiss);
        dismissed
    }
}
