//! Admission to the shared queue: who may put a job into it, and who waits for room.
//!
//! The workers' inbox is unbounded (a channel bound can also be skipped: flume hands a
//! job to a parked receiver without looking at its capacity), so the [`Gate`] does the
//! counting, as a semaphore whose waiters hold their jobs.
//!
//! A submission takes room (`admitted += 1`) before it sends its job, or, if there is
//! none, joins the gate's first-come list of waiters ([`Waiters`]) at once (not at its
//! first poll, so submission order decides) and its future holds a [`QueueTicket`].
//! Whoever takes a job off the inbox (a worker, or shutdown's drain) gives its room
//! back through [`Gate::release`]: to the first waiter, whose job then goes into the
//! inbox, or else to the count.
//!
//! Invariants:
//! - `admitted` counts the jobs holding room: admitted and not yet taken off the inbox.
//!   It never exceeds the capacity, and every job in the inbox holds room, so the
//!   inbox never holds more than the capacity;
//! - room is given back exactly once per job taken off the inbox, and only then: a
//!   waiter that leaves without being let in (dropped, or settled at shutdown) never
//!   held any;
//! - waiters exist only while all the room is taken (`admitted == capacity`), so a later
//!   submission (awaiting or `try_`) never overtakes a waiter;
//! - waiters leave the list only in order (let in), or when their future goes away, or
//!   at shutdown (the list's own invariants are in `waiters`).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::job::QueuedJob;
use super::queue::Queues;
use super::waiters::Waiters;

/// The room in the shared queue, and the submissions waiting for it.
pub(crate) struct Gate {
    capacity: usize,
    state: Mutex<GateState>,
}

struct GateState {
    admitted: usize,
    /// Submissions waiting for room; each future holds its [`QueueTicket`].
    waiters: Waiters<QueuedJob>,
}

/// A waiter [`Gate::release`] let in: its job holds room and must go into the inbox;
/// then its future must be woken.
pub(crate) struct LetIn {
    pub(crate) job: QueuedJob,
    pub(crate) waker: Option<Waker>,
}

impl Gate {
    pub(crate) fn new(capacity: usize) -> Self {
        let state = Mutex::new(GateState {
            admitted: 0,
            waiters: Waiters::new(),
        });
        Self { capacity, state }
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes room for one job, if there is some and nobody waits for it.
    pub(crate) fn try_admit(&self) -> bool {
        let mut state = self.lock();
        let room = state.has_room(self.capacity);
        if room {
            state.admitted += 1;
        }
        room
    }

    /// Takes room for `job` and hands it back to be sent; or, if there is none, adds it
    /// to the waiters behind the others and returns its ticket.
    pub(crate) fn admit_or_wait(&self, job: QueuedJob) -> Result<QueuedJob, u64> {
        let mut state = self.lock();
        if state.has_room(self.capacity) {
            state.admitted += 1;
            return Ok(job);
        }
        Err(state.waiters.push_back(job))
    }

    /// Gives back the room of one job taken off the inbox: to the first waiter, which
    /// the caller must send and wake, or to the count.
    pub(crate) fn release(&self) -> Option<LetIn> {
        let mut state = self.lock();
        match state.waiters.pop_front().map(|w| w.into_parts()) {
            Some((job, waker)) => Some(LetIn { job, waker }),
            None => {
                debug_assert!(state.admitted > 0, "room given back twice");
                state.admitted = state.admitted.saturating_sub(1);
                None
            }
        }
    }

    /// Empties the list of waiters at shutdown: each job settles as ShutDown, then its
    /// future is woken to see it. Returns how many there were.
    pub(crate) fn dismiss_all(&self) -> usize {
        let waiters = self.lock().waiters.take_all();
        waiters.dismiss()
    }

    /// `Ready` once the waiter holding `ticket` left the list; else registers the waker.
    fn poll_left(&self, ticket: u64, cx: &mut Context<'_>) -> Poll<()> {
        self.lock().waiters.poll_left(ticket, cx)
    }

    /// Takes the waiter holding `ticket` out of the list, and drops its job outside the
    /// lock: a job its future abandoned was counted then, a live one settles as ShutDown.
    fn withdraw(&self, ticket: u64) {
        let waiter = self.lock().waiters.remove(ticket);
        drop(waiter);
    }
}

impl GateState {
    fn has_room(&self, capacity: usize) -> bool {
        self.admitted < capacity && self.waiters.is_empty()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Gate");
        debug.field("capacity", &self.capacity);
        match self.state.try_lock() {
            Ok(state) => debug
                .field("admitted", &state.admitted)
                .field("waiting_for_room", &state.waiters.len()),
            Err(_) => debug.field("admitted", &format_args!("<locked>")),
        };
        debug.finish()
    }
}

/// A future's claim on its waiter at the gate: an armed guard. Dropped while the waiter
/// still waits, it takes the waiter out; its job then never runs.
pub(crate) struct QueueTicket {
    queues: Arc<Queues>,
    ticket: u64,
    waiting: bool,
}

impl QueueTicket {
    pub(crate) fn new(queues: Arc<Queues>, ticket: u64) -> Self {
        Self {
            queues,
            ticket,
            waiting: true,
        }
    }

    /// `Ready` once the waiter left the list: let into the queue, or settled at
    /// shutdown. A waiter polled after shutdown began leaves at once, settled ShutDown,
    /// so it never waits behind a job that ignores its token.
    pub(crate) fn poll_admitted(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.waiting {
            return Poll::Ready(());
        }
        if self.queues.shared.is_stopping() {
            self.withdraw();
            return Poll::Ready(());
        }
        std::task::ready!(self.queues.gate.poll_left(self.ticket, cx));
        self.waiting = false;
        Poll::Ready(())
    }

    fn withdraw(&mut self) {
        if std::mem::replace(&mut self.waiting, false) {
            self.queues.gate.withdraw(self.ticket);
        }
    }
}

impl Drop for QueueTicket {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl fmt::Debug for QueueTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueTicket")
            .field("ticket", &self.ticket)
            .field("waiting", &self.waiting)
            .finish()
    }
}
