//! Deadlines on a reactor without an OS timer per deadline.
//!
//! Every request carries a deadline, and almost every request is answered long before
//! it. An `async_io::Timer` per request costs a registration and a removal in async-io's
//! global timer table (a concurrent queue and a `BTreeMap` each way). Here a reactor
//! keeps its pending deadlines in a local slot map and one timer, armed for the earliest:
//! registering and removing a deadline touch no lock and no atomic.
//!
//! Invariants: a deadline never fires early; it fires at most [`COALESCE`] after the
//! previous firing of its reactor, so a burst of expiring requests costs one firing per
//! millisecond; the table only holds deadlines whose futures are alive (a future removes
//! its entry when dropped), so it never grows with completed requests. A firing takes
//! the due deadlines off a min-heap, in O(log n) each, instead of a pass over every
//! pending one (with 50,000 requests pending and deadlines due every millisecond, a
//! pass each millisecond would be most of the reactor's time). A removed entry's place
//! in the heap is left behind and skipped when it comes up; the heap is rebuilt from
//! the entries once such places outnumber them, so it stays within twice the entries.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use slotmap::{DefaultKey, SlotMap};

use super::Timer;

/// The shortest time between two firings of one reactor's timer.
pub(crate) const COALESCE: Duration = Duration::from_millis(1);

struct Entry {
    at: Instant,
    waker: Option<Waker>,
    fired: bool,
}

/// The heap is rebuilt once it holds more than twice the entries and this many.
const REBUILD_AT: usize = 64;

/// The pending deadlines of one reactor.
#[derive(Default)]
pub(crate) struct Deadlines {
    entries: RefCell<SlotMap<DefaultKey, Entry>>,
    /// Each entry's deadline, earliest first, and places left by removed entries
    /// (their key, versioned, is gone from `entries` for good).
    heap: RefCell<BinaryHeap<Reverse<(Instant, DefaultKey)>>>,
    /// What the driver's timer is set for (or about to be).
    armed: Cell<Option<Instant>>,
    driver: Cell<Option<Waker>>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Deadlines>>> = const { RefCell::new(None) };
}

/// Installs a table on this thread; the caller runs [`Deadlines::drive`] on its
/// executor, and calls [`uninstall`] when the thread's executor ends.
pub(crate) fn install() -> Rc<Deadlines> {
    let table = Rc::new(Deadlines::default());
    LOCAL.with(|local| *local.borrow_mut() = Some(table.clone()));
    table
}

/// Removes this thread's table: later deadlines use a timer of their own.
pub(crate) fn uninstall() {
    LOCAL.with(|local| local.borrow_mut().take());
}

fn local() -> Option<Rc<Deadlines>> {
    LOCAL.with(|local| local.borrow().clone())
}

impl Deadlines {
    fn insert(&self, at: Instant, waker: Waker) -> DefaultKey {
        let key = self.entries.borrow_mut().insert(Entry {
            at,
            waker: Some(waker),
            fired: false,
        });
        self.heap.borrow_mut().push(Reverse((at, key)));
        if self.armed.get().is_none_or(|armed| at < armed) {
            self.armed.set(Some(at));
            if let Some(driver) = self.driver.take() {
                driver.wake();
            }
        }
        key
    }

    /// Runs the table's timer: wakes every due entry, then sleeps until the earliest.
    pub(crate) async fn drive(self: Rc<Self>) {
        let mut timer = Timer::never();
        let mut last = Instant::now();
        loop {
            let target = self.armed.get();
            match target {
                Some(at) => {
                    timer.set_at(at.max(last + COALESCE));
                }
                None => timer = Timer::never(),
            }
            let fired = poll_fn(|cx| {
                if self.armed.get() != target {
                    return Poll::Ready(false);
                }
                if target.is_some() && Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(true);
                }
                self.driver.set(Some(cx.waker().clone()));
                Poll::Pending
            })
            .await;
            if fired {
                last = Instant::now();
                self.fire(last);
            }
        }
    }

    /// Removes entry `key`; its place in the heap is skipped later, and the heap is
    /// rebuilt once such places outnumber the entries.
    fn remove(&self, key: DefaultKey) {
        let mut entries = self.entries.borrow_mut();
        entries.remove(key);
        let mut heap = self.heap.borrow_mut();
        if heap.len() > REBUILD_AT && heap.len() > 2 * entries.len() {
            *heap = entries
                .iter()
                .filter(|(_, entry)| !entry.fired)
                .map(|(key, entry)| Reverse((entry.at, key)))
                .collect();
        }
    }

    /// Marks and wakes every entry due at `now`; arms for the earliest left.
    fn fire(&self, now: Instant) {
        let mut due = Vec::new();
        let next;
        {
            let mut entries = self.entries.borrow_mut();
            let mut heap = self.heap.borrow_mut();
            loop {
                let Some(&Reverse((at, key))) = heap.peek() else {
                    next = None;
                    break;
                };
                // A removed entry's place, or one whose entry has fired: skipped.
                let live = entries.get_mut(key).filter(|entry| !entry.fired);
                match live {
                    Some(entry) if at <= now => {
                        entry.fired = true;
                        due.extend(entry.waker.take());
                    }
                    Some(_) => {
                        next = Some(at);
                        break;
                    }
                    None => {}
                }
                heap.pop();
            }
        }
        self.armed.set(next);
        // Woken outside the borrow: a waker may run code that registers a deadline.
        for waker in due {
            waker.wake();
        }
    }
}

/// A future with a deadline on this reactor's table.
struct Local<F> {
    future: F,
    at: Instant,
    table: Rc<Deadlines>,
    key: Option<DefaultKey>,
}

impl<F> Drop for Local<F> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.table.remove(key);
        }
    }
}

impl<F: Future + Unpin> Future for Local<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = Pin::new(&mut self.future).poll(cx) {
            return Poll::Ready(Some(output));
        }
        let this = &mut *self;
        match this.key {
            None => this.key = Some(this.table.insert(this.at, cx.waker().clone())),
            Some(key) => {
                let mut entries = this.table.entries.borrow_mut();
                match entries.get_mut(key) {
                    Some(entry) if entry.fired => {
                        drop(entries);
                        this.table.remove(key);
                        this.key = None;
                        return Poll::Ready(None);
                    }
                    Some(entry)
                        if !entry
                            .waker
                            .as_ref()
                            .is_some_and(|w| w.will_wake(cx.waker())) =>
                    {
                        entry.waker = Some(cx.waker().clone());
                    }
                    _ => {}
                }
            }
        }
        Poll::Pending
    }
}

/// Resolves to `Some(output)`, or `None` once `at` passes first. On a reactor the
/// deadline goes into the reactor's table; elsewhere it gets a timer of its own.
pub(crate) async fn deadline<F: Future>(at: Instant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match local() {
        Some(table) => {
            Local {
                future: future.as_mut(),
                at,
                table,
                key: None,
            }
            .await
        }
        None => {
            use futures_lite::FutureExt;
            async { Some(future.await) }
                .or(async {
                    Timer::at(at).await;
                    None
                })
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::LocalExecutor;

    fn on_a_table<T>(f: impl Future<Output = T>) -> T {
        let executor = LocalExecutor::new();
        let table = install();
        executor.spawn(table.drive()).detach();
        let out = crate::rt::block_on(executor.run(f));
        uninstall();
        out
    }

    /// Firings wake exactly the entries due, each once, in any insertion order; entries
    /// removed first are never woken; the heap stays within twice the entries; the
    /// table arms for the earliest entry left.
    #[test]
    fn firings_wake_exactly_the_due_entries_and_the_heap_stays_bounded() {
        use crate::testing::CountingWaker;
        use std::sync::Arc;
        let table = Deadlines::default();
        let base = Instant::now();
        let at = |i: usize| base + Duration::from_micros(((i * 7919) % 10_000) as u64);
        let counts: Vec<Arc<CountingWaker>> = (0..10_000)
            .map(|_| Arc::new(CountingWaker::default()))
            .collect();
        let keys: Vec<DefaultKey> = (0..10_000)
            .map(|i| table.insert(at(i), Waker::from(counts[i].clone())))
            .collect();
        // Nine in ten go before their deadline, as answered requests do.
        for (i, &key) in keys.iter().enumerate() {
            if i % 10 != 0 {
                table.remove(key);
                let (heap, entries) = (table.heap.borrow().len(), table.entries.borrow().len());
                assert!(heap <= 2 * entries + REBUILD_AT + 1, "{heap} for {entries}");
            }
        }
        let kept: Vec<usize> = (0..10_000).filter(|i| i % 10 == 0).collect();
        let woken = |limit: Instant| -> Vec<usize> {
            kept.iter().copied().filter(|&i| at(i) <= limit).collect()
        };
        let half = base + Duration::from_micros(5_000);
        table.fire(half);
        for (i, count) in counts.iter().enumerate() {
            let expected = usize::from(i % 10 == 0 && at(i) <= half);
            assert_eq!(count.wakes(), expected, "{i}");
        }
        let next = kept.iter().map(|&i| at(i)).filter(|&t| t > half).min();
        assert_eq!(table.armed.get(), next);
        assert!(woken(half).len() > 100);
        table.fire(base + Duration::from_secs(1));
        for (i, count) in counts.iter().enumerate() {
            assert_eq!(count.wakes(), usize::from(i % 10 == 0), "{i}");
        }
        assert_eq!(table.armed.get(), None);
    }

    #[test]
    fn a_deadline_never_fires_early_and_does_fire() {
        on_a_table(async {
            let start = Instant::now();
            let out = deadline(
                start + Duration::from_millis(30),
                futures_lite::future::pending::<()>(),
            )
            .await;
            assert_eq!(out, None);
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
    }

    #[test]
    fn a_ready_future_wins_and_leaves_no_entry() {
        on_a_table(async {
            let at = Instant::now() + Duration::from_secs(60);
            let out = deadline(at, async {
                Timer::after(Duration::from_millis(5)).await;
                7
            })
            .await;
            assert_eq!(out, Some(7));
            let entries = local().unwrap().entries.borrow().len();
            assert_eq!(entries, 0);
        });
    }

    #[test]
    fn an_earlier_deadline_rearms_the_timer() {
        on_a_table(async {
            let start = Instant::now();
            let late = deadline(
                start + Duration::from_secs(60),
                futures_lite::future::pending::<()>(),
            );
            let early = deadline(
                start + Duration::from_millis(20),
                futures_lite::future::pending::<()>(),
            );
            let first = futures_lite::future::or(async { late.await.map(|()| "late") }, async {
                early.await.map(|()| "early").or(Some("early"))
            })
            .await;
            assert_eq!(first, Some("early"));
            assert!(start.elapsed() < Duration::from_secs(30));
        });
    }
}
