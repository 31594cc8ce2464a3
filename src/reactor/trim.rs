//! Room a burst left in mailboxes, given back once they have been idle a while.
//!
//! A mailbox's two queues grow with a burst, up to its capacity, and would keep that
//! room for as long as the mailbox lives: some 48 KiB after a burst of 1024 messages,
//! in a component that is otherwise about 1 KiB. Freeing it whenever the receiver waits
//! is no answer: a busy stream waits between batches and would regrow it every batch
//! (measured: 8 to 10% off the two-thread tell and the fan-out). So a receiver that
//! waits with large queues lists itself here, once; every [`AFTER`] the reactor asks
//! the receivers listed to free their room the next time they wait, and wakes those
//! that wait now. An idle receiver gives its room back within two periods; a busy one
//! regrows it at most once a period.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Weak;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::rt::Timer;

/// How often a reactor asks its listed receivers to give back their room.
pub(crate) const AFTER: Duration = Duration::from_secs(1);

/// A mailbox whose receiver can be asked to free its queues' room.
pub(crate) trait Trim {
    /// Asks the receiver to free its room the next time it waits, and wakes it if it
    /// waits now.
    fn trim_due(&self);
}

/// The receivers on one reactor waiting for [`Trim::trim_due`].
#[derive(Default)]
pub(crate) struct Trims {
    listed: RefCell<Vec<Weak<dyn Trim>>>,
    /// The sweeping task, while it waits for a first listing.
    sweeper: Cell<Option<Waker>>,
}

impl Trims {
    /// Lists `mailbox` for the next sweep.
    pub(crate) fn list(&self, mailbox: Weak<dyn Trim>) {
        let mut listed = self.listed.borrow_mut();
        listed.push(mailbox);
        if listed.len() == 1
            && let Some(sweeper) = self.sweeper.take()
        {
            sweeper.wake();
        }
    }

    /// How many receivers wait for the next sweep.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.listed.borrow().len()
    }

    /// Asks every receiver listed to give back its room; they list themselves again
    /// if they wait with large queues later.
    pub(crate) fn sweep_now(&self) {
        let listed = std::mem::take(&mut *self.listed.borrow_mut());
        for mailbox in listed {
            if let Some(mailbox) = mailbox.upgrade() {
                mailbox.trim_due();
            }
        }
    }

    /// The reactor's sweeping task: idle (no timer) while nothing is listed, then a
    /// sweep every [`AFTER`] for as long as receivers list themselves.
    pub(crate) async fn sweep(self: Rc<Self>) {
        loop {
            poll_fn(|cx| {
                if self.listed.borrow().is_empty() {
                    self.sweeper.set(Some(cx.waker().clone()));
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            Timer::after(AFTER).await;
            self.sweep_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Asked(AtomicUsize);
    impl Trim for Asked {
        fn trim_due(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_sweep_asks_each_listed_mailbox_still_alive_once_and_forgets_them_all() {
        let trims = Trims::default();
        let alive = Arc::new(Asked(AtomicUsize::new(0)));
        let gone = Arc::new(Asked(AtomicUsize::new(0)));
        let weak: Weak<dyn Trim> = Arc::downgrade(&gone) as Weak<Asked>;
        trims.list(Arc::downgrade(&alive) as Weak<Asked>);
        trims.list(weak);
        drop(gone);
        assert_eq!(trims.len(), 2);
        trims.sweep_now();
        assert_eq!(alive.0.load(Ordering::SeqCst), 1);
        assert_eq!(trims.len(), 0);
        // Listed again only if it lists itself again.
        trims.sweep_now();
        assert_eq!(alive.0.load(Ordering::SeqCst), 1);
    }
}
