//! Deadlines on a reactor without an OS timer per deadline.
//!
//! Every request carries a deadline, and almost every request is answered long before
//! it. An `async_io::Timer` per request costs a registration and a removal in async-io's
//! global timer table (a concurrent queue and a `BTreeMap` each way). Here a reactor
//! keeps its pending deadlines in a local slot map and one timer, armed for the earliest:
//! registering and removing a deadline touch no lock and no atomic.
//!
//! Invariants: a deadline never fires early; it fires at most [`COALESCE`] after the
//! previous firing of its reactor, so a burst of expiring requests costs one scan per
//! millisecond; the table only holds deadlines whose futures are alive (a future removes
//! its entry when dropped), so it never grows with completed requests.

use std::cell::{Cell, RefCell};
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

/// The pending deadlines of one reactor.
#[derive(Default)]
pub(crate) struct Deadlines {
    entries: RefCell<SlotMap<DefaultKey, Entry>>,
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

    /// Marks and wakes every entry due at `now`; arms for the earliest left.
    fn fire(&self, now: Instant) {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        {
            let mut entries = self.entries.borrow_mut();
            for (_, entry) in entries.iter_mut() {
                if entry.fired {
                    continue;
                }
                if entry.at <= now {
                    entry.fired = true;
                    due.extend(entry.waker.take());
                } else {
                    next = Some(next.map_or(entry.at, |n| n.min(entry.at)));
                }
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
            self.table.entries.borrow_mut().remove(key);
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
                        entries.remove(key);
                        drop(entries);
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
