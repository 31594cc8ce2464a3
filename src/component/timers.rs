//! A component's timers: one-shot and periodic callbacks kept in deadline order.
//!
//! The instance loop waits on the earliest deadline alongside its mailbox, so a component
//! costs one OS timer registration at most, however many timers it has. Invariants: a
//! callback runs on the component's reactor, never concurrently with its handlers; a
//! cancelled timer never fires again, even when it cancels itself from its own callback;
//! every timer is dropped when the instance stops.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::task::Context as TaskContext;
use std::time::{Duration, Instant};

use crate::bus::FastMap;
use crate::rt::Timer;
use crate::{Component, Context};

/// Identifies one timer of one component; cancel it with
/// [`Context::cancel_timer`](crate::Context::cancel_timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// The shortest period a periodic timer takes; shorter ones are raised to it.
pub(crate) const MIN_PERIOD: Duration = Duration::from_millis(1);

pub(crate) type Callback<C> = Box<dyn FnMut(&mut C, &mut Context<C>)>;

struct Entry<C: Component> {
    period: Option<Duration>,
    callback: Callback<C>,
}

/// A timer taken out of the queue to run.
pub(crate) struct Due<C: Component> {
    id: TimerId,
    deadline: Instant,
    entry: Entry<C>,
}

impl<C: Component> Due<C> {
    /// Runs the callback.
    pub(crate) fn run(&mut self, component: &mut C, ctx: &mut Context<C>) {
        (self.entry.callback)(component, ctx);
    }
}

/// A component's timers. Allocated with the first timer: most components never have
/// one, and an idle component should cost as little as it can.
pub(crate) struct Timers<C: Component> {
    queue: Option<Box<Queue<C>>>,
}

/// The timers proper, in deadline order.
struct Queue<C: Component> {
    next_id: u64,
    queue: BTreeMap<(Instant, TimerId), Entry<C>>,
    /// Each queued timer's deadline, its place in `queue`: a cancel finds it without a
    /// pass over the queue.
    deadlines: FastMap<TimerId, Instant>,
    /// The timer whose callback is running, and whether it was cancelled meanwhile.
    firing: Option<(TimerId, bool)>,
    /// Wakes the waiting instance at the earliest deadline, and the deadline it is set
    /// at: moved only when that changes (each move is an OS timer registration).
    wake: Option<(Instant, Timer)>,
}

impl<C: Component> fmt::Debug for Timers<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("pending", &self.len())
            .finish()
    }
}

impl<C: Component> Timers<C> {
    pub(crate) const fn new() -> Self {
        Self { queue: None }
    }

    /// Schedules `callback` at `deadline`, then every `period` if given.
    pub(crate) fn schedule(
        &mut self,
        deadline: Instant,
        period: Option<Duration>,
        callback: Callback<C>,
    ) -> TimerId {
        self.queue
            .get_or_insert_with(|| {
                Box::new(Queue {
                    next_id: 0,
                    queue: BTreeMap::new(),
                    deadlines: FastMap::default(),
                    firing: None,
                    wake: None,
                })
            })
            .schedule(deadline, period, callback)
    }

    /// Cancels a timer; `false` if it had already fired (one-shot) or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        self.queue.as_mut().is_some_and(|queue| queue.cancel(id))
    }

    /// For the waiting instance: whether the earliest deadline has come; if not, `cx` is
    /// woken at it. Without timers, nothing is registered.
    pub(crate) fn poll_deadline(&mut self, cx: &mut TaskContext<'_>) -> bool {
        let Some(queue) = self.queue.as_mut() else {
            return false;
        };
        let Some(at) = queue.next_deadline() else {
            // No timer left: the registration goes.
            queue.wake = None;
            return false;
        };
        let timer = match &mut queue.wake {
            Some((set, timer)) => {
                if *set != at {
                    timer.set_at(at);
                    *set = at;
                }
                timer
            }
            wake @ None => &mut wake.insert((at, Timer::at(at))).1,
        };
        if Pin::new(timer).poll(cx).is_pending() {
            return false;
        }
        // Spent: the next wait sets a new one, whatever its deadline.
        queue.wake = None;
        true
    }

    /// Takes the earliest timer if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due<C>> {
        self.queue.as_mut()?.pop_due(now)
    }

    /// Puts a fired timer back if it is periodic and was not cancelled by its callback
    /// (see [`Queue::finish`]).
    pub(crate) fn finish(&mut self, due: Due<C>, now: Instant) {
        if let Some(queue) = self.queue.as_mut() {
            queue.finish(due, now);
        }
    }

    /// Drops every timer.
    pub(crate) fn clear(&mut self) {
        self.queue = None;
    }

    /// The number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.queue.as_ref().map_or(0, |queue| queue.queue.len())
    }
}

impl<C: Component> Queue<C> {
    /// Schedules `callback` at `deadline`, then every `period` if given.
    fn schedule(
        &mut self,
        deadline: Instant,
        period: Option<Duration>,
        callback: Callback<C>,
    ) -> TimerId {
        self.next_id += 1;
        let id = TimerId(self.next_id);
        let period = period.map(|p| p.max(MIN_PERIOD));
        self.queue
            .insert((deadline, id), Entry { period, callback });
        self.deadlines.insert(id, deadline);
        id
    }

    /// Cancels a timer; `false` if it had already fired (one-shot) or was cancelled.
    fn cancel(&mut self, id: TimerId) -> bool {
        if let Some((firing, cancelled)) = &mut self.firing
            && *firing == id
        {
            let was_live = !*cancelled;
            *cancelled = true;
            return was_live;
        }
        self.deadlines
            .remove(&id)
            .and_then(|at| self.queue.remove(&(at, id)))
            .is_some()
    }

    /// The earliest deadline.
    fn next_deadline(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// Takes the earliest timer if it is due at `now`.
    fn pop_due(&mut self, now: Instant) -> Option<Due<C>> {
        let (&(deadline, id), _) = self.queue.first_key_value()?;
        if deadline > now {
            return None;
        }
        let entry = self.queue.remove(&(deadline, id))?;
        self.deadlines.remove(&id);
        self.firing = Some((id, false));
        Some(Due {
            id,
            deadline,
            entry,
        })
    }

    /// Puts a fired timer back if it is periodic and was not cancelled by its callback.
    ///
    /// The next deadline is one period after the previous one (fixed rate); if that is
    /// already past, ticks are not replayed in a burst: the next is one period from now.
    fn finish(&mut self, due: Due<C>, now: Instant) {
        let cancelled = matches!(self.firing.take(), Some((id, true)) if id == due.id);
        if cancelled {
            return;
        }
        if let Some(period) = due.entry.period {
            let mut next = crate::rt::after(due.deadline, period);
            if next <= now {
                next = crate::rt::after(now, period);
            }
            self.queue.insert((next, due.id), due.entry);
            self.deadlines.insert(due.id, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dummy;
    impl Component for Dummy {}

    fn nothing() -> Callback<Dummy> {
        Box::new(|_, _| {})
    }

    /// A cancel finds its timer among many, whatever their order, once; a periodic
    /// timer is found at its new deadline after each firing; a fired one-shot and a
    /// cancelled timer are not found; `len` follows.
    #[test]
    fn cancels_find_their_timer_once_wherever_it_is() {
        let mut timers = Timers::<Dummy>::new();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // 1,000 one-shots, deadlines not in id order, some equal.
        let ids: Vec<TimerId> = (0..1_000u64)
            .map(|i| timers.schedule(at(1_000 + (i * 7919) % 500), None, nothing()))
            .collect();
        let tick = timers.schedule(at(10), Some(Duration::from_millis(10)), nothing());
        let once = timers.schedule(at(5), None, nothing());
        assert_eq!(timers.len(), 1_002);

        // The one-shot fires, then the periodic timer, which goes back in at 20 ms.
        let due = timers.pop_due(at(5)).expect("due");
        timers.finish(due, at(5));
        assert!(!timers.cancel(once), "a fired one-shot is gone");
        let due = timers.pop_due(at(10)).expect("due");
        timers.finish(due, at(10));
        assert_eq!(timers.len(), 1_001);
        assert!(timers.pop_due(at(15)).is_none());

        // Every other one-shot, scattered, then the periodic timer at its new deadline.
        for step in 0..1_000 {
            let i = (step * 13) % 1_000;
            if i % 2 == 0 {
                assert!(timers.cancel(ids[i]), "{i}");
                assert!(!timers.cancel(ids[i]), "{i} again");
            }
        }
        assert!(timers.cancel(tick));
        assert!(!timers.cancel(tick));
        assert_eq!(timers.len(), 500);

        // The rest fire in deadline order, none of the cancelled among them.
        let mut fired = Vec::new();
        while let Some(due) = timers.pop_due(at(2_000)) {
            fired.push(due.id);
            timers.finish(due, at(2_000));
        }
        assert_eq!(fired.len(), 500);
        assert!(
            fired
                .iter()
                .all(|id| ids.iter().position(|i| i == id).is_some_and(|i| i % 2 == 1))
        );
        assert_eq!(timers.len(), 0);
    }
}
