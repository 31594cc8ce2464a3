//! A request in one allocation: its message on the way to a consumer, its deadline and
//! correlation id, and the reply on the way back.
//!
//! A request used to be two allocations, a box for the message and a mutex-guarded
//! channel for the reply, and took some seven atomic operations on the way (the lock
//! and unlock at each end, the channel's reference counts). Here one [`Slot`] holds all
//! of it, and a round trip takes two: the replier publishes its reply with one
//! compare-and-swap, and the requester lets go of the slot with one `fetch_or`. The slot
//! is a block from the thread's pool when it fits one (see [`pooled`]), as a handler's
//! future is: requests one after another reuse the same few blocks.
//!
//! Three handles share a slot. The requester keeps the [`Answer`], a future of the
//! reply. The consumer gets the [`Call`], which holds the message; taking the message
//! out leaves a [`Replier`]. A `Call` or `Replier` dropped without replying closes the
//! request: the answer resolves to [`Closed`] at once. An answer dropped first (the
//! requester gave up) makes a later reply come back to its sender. The slot is freed by
//! whichever of the two sides lets go last.
//!
//! The unsafe code is all here. Who may touch each cell is fixed by the state word: the
//! message is the `Call`'s alone; the reply is the replier's until it publishes
//! [`REPLIED`], then the answer's; the waker is the answer's while [`WAKER`] is clear,
//! then the replier's until it publishes. The module's tests pass under Miri
//! (`cargo +nightly miri test --lib bus::call`).
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::bus::{CorrelationId, Message};
use crate::component::pooled;
pub(crate) use crate::oneshot::Closed;

/// The replier is done: it replied (with [`VALUE`]) or closed. Never cleared.
const REPLIED: usize = 1;
/// A reply is in the slot. Set with [`REPLIED`].
const VALUE: usize = 1 << 1;
/// A waker is in the slot, and the replier may take it.
const WAKER: usize = 1 << 2;
/// The answer has been dropped. Never cleared.
const ANSWER_GONE: usize = 1 << 3;
/// The call or its replier has been dropped (after publishing [`REPLIED`]). Never
/// cleared.
const CALL_GONE: usize = 1 << 4;

/// The one allocation of a request.
struct Slot<M: Message> {
    state: AtomicUsize,
    deadline: Instant,
    correlation: CorrelationId,
    /// Written at creation; read once by the [`Call`], which owns it until then.
    message: UnsafeCell<MaybeUninit<M>>,
    /// Written once by the replier before it publishes [`VALUE`]; read once after.
    reply: UnsafeCell<MaybeUninit<M::Reply>>,
    /// The requester's waker, when it waits; dropped with the slot if still there.
    waker: UnsafeCell<Option<Waker>>,
}

/// A new request of `message`: the consumer's [`Call`] and the requester's [`Answer`].
#[inline]
pub(crate) fn call<M: Message>(
    message: M,
    deadline: Instant,
    correlation: CorrelationId,
) -> (Call<M>, Answer<M>) {
    let slot = pooled::alloc::<Slot<M>>();
    // SAFETY: fresh room for a `Slot<M>`, owned by the handles made below.
    unsafe {
        slot.write(Slot {
            state: AtomicUsize::new(0),
            deadline,
            correlation,
            message: UnsafeCell::new(MaybeUninit::new(message)),
            reply: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(None),
        });
    }
    (
        Call {
            replier: ManuallyDrop::new(Replier {
                slot,
                _owns: PhantomData,
            }),
        },
        Answer {
            slot,
            taken: false,
            _owns: PhantomData,
        },
    )
}

/// Frees the slot.
///
/// # Safety
///
/// Both sides have let go ([`ANSWER_GONE`] and [`CALL_GONE`] are set, the caller set the
/// second), and no cell holds a value still to drop but the waker's.
unsafe fn free<M: Message>(slot: NonNull<Slot<M>>) {
    // SAFETY: written in `call`; the caller is the last user. Dropping it drops only the
    // waker left, if any (the other cells are `MaybeUninit`).
    unsafe { slot.drop_in_place() };
    // SAFETY: from `pooled::alloc::<Slot<M>>` in `call`, given back once, emptied above.
    unsafe { pooled::free(slot) };
}

/// The consumer's side of a request, holding its message.
pub(crate) struct Call<M: Message> {
    /// Dropped by hand: after the message, which it must outlive.
    replier: ManuallyDrop<Replier<M>>,
}

// SAFETY: a `Call` owns the message and may send the reply, both `Send`; what it shares
// with the `Answer` is synchronised through the state word.
unsafe impl<M: Message> Send for Call<M> {}

impl<M: Message> Call<M> {
    /// When the requester stops waiting.
    pub(crate) fn deadline(&self) -> Instant {
        self.replier.slot().deadline
    }

    /// Whether nobody waits for the reply any more (the requester dropped its future).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.replier.is_abandoned()
    }

    /// The message, and the replier to answer it with.
    pub(crate) fn into_parts(self) -> (M, Replier<M>) {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the message was written at creation and is read only here or in
        // `drop`, each of which consumes the call; `this` is not dropped.
        let message = unsafe { (*this.replier.slot().message.get()).assume_init_read() };
        // SAFETY: taken once; `this` is not dropped, so nor is the field.
        let replier = unsafe { ManuallyDrop::take(&mut this.replier) };
        (message, replier)
    }

    /// The message, for a requester whose request was not taken; the request closes.
    pub(crate) fn into_message(self) -> M {
        self.into_parts().0
    }
}

impl<M: Message> Drop for Call<M> {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the call is being dropped. Taken first, so that the
        // request still closes if the message's own drop panics.
        let replier = unsafe { ManuallyDrop::take(&mut self.replier) };
        // SAFETY: the message is still in the slot (`into_parts` does not drop the call),
        // and the call owns it.
        unsafe { (*replier.slot().message.get()).assume_init_drop() };
        drop(replier);
    }
}

/// Sends the reply to a request once; dropped without sending, it closes the request.
pub(crate) struct Replier<M: Message> {
    slot: NonNull<Slot<M>>,
    _owns: PhantomData<Slot<M>>,
}

// SAFETY: as for `Call`.
unsafe impl<M: Message> Send for Replier<M> {}

impl<M: Message> Replier<M> {
    fn slot(&self) -> &Slot<M> {
        // SAFETY: the slot is freed only once this side has let go, in `drop` or `send`.
        unsafe { self.slot.as_ref() }
    }

    /// The request's correlation id.
    pub(crate) fn correlation(&self) -> CorrelationId {
        self.slot().correlation
    }

    /// Whether nobody waits for the reply any more.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.slot().state.load(Ordering::Relaxed) & ANSWER_GONE != 0
    }

    /// Sends the reply; gives it back if the requester is gone.
    pub(crate) fn send(self, reply: M::Reply) -> Result<(), M::Reply> {
        if self.is_abandoned() {
            return Err(reply);
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: the reply cell is this side's until `REPLIED` is published below.
        unsafe { (*this.slot().reply.get()).write(reply) };
        let (published, released, waker) = this.publish(REPLIED | VALUE);
        let outcome = if published & ANSWER_GONE != 0 {
            // The answer went before the reply was published, so it did not read it.
            // SAFETY: written above; nobody else reads it now.
            Err(unsafe { (*this.slot().reply.get()).assume_init_read() })
        } else {
            Ok(())
        };
        if released & ANSWER_GONE != 0 {
            // SAFETY: both sides are gone, this one last; the reply was read back above.
            unsafe { free(this.slot) };
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        outcome
    }

    /// Publishes `bits` (the outcome) and lets go of the slot, taking the waker out if one
    /// is registered. Returns the state before publishing, the state before letting go,
    /// and the waker to wake. The caller frees the slot if the answer was gone by then.
    fn publish(&self, bits: usize) -> (usize, usize, Option<Waker>) {
        let state = &self.slot().state;
        let mut seen = state.load(Ordering::Acquire);
        loop {
            if seen & WAKER == 0 {
                // The usual case: nobody waits yet, so publish and let go in one step.
                match state.compare_exchange_weak(
                    seen,
                    seen | bits | CALL_GONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(before) => return (before, before, None),
                    Err(now) => seen = now,
                }
            } else {
                let published = state.fetch_or(bits, Ordering::AcqRel);
                let waker = if published & WAKER != 0 {
                    // SAFETY: `WAKER` was set when `REPLIED` was published: the cell is
                    // this side's now (the answer no longer touches it).
                    unsafe { (*self.slot().waker.get()).take() }
                } else {
                    // The answer took the cell back to change its waker; it will see
                    // `REPLIED` when it tries to register again.
                    None
                };
                let released = state.fetch_or(CALL_GONE, Ordering::AcqRel);
                // An answer that is gone waits for nothing.
                let waker = waker.filter(|_| published & ANSWER_GONE == 0);
                return (published, released, waker);
            }
        }
    }
}

impl<M: Message> Drop for Replier<M> {
    fn drop(&mut self) {
        let (_, released, waker) = self.publish(REPLIED);
        if released & ANSWER_GONE != 0 {
            // SAFETY: both sides are gone, this one last; no reply was written.
            unsafe { free(self.slot) };
        }
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The requester's side: a future of the reply, or `Err(Closed)` if the request closed
/// without one (its handler failed, or its component stopped first).
pub(crate) struct Answer<M: Message> {
    slot: NonNull<Slot<M>>,
    /// Whether this side took the reply out.
    taken: bool,
    _owns: PhantomData<Slot<M>>,
}

// SAFETY: an `Answer` receives a `Send` reply; what it shares with the call is
// synchronised through the state word.
unsafe impl<M: Message> Send for Answer<M> {}

// The answer moves freely: nothing of it is pinned, the slot is on the heap.
impl<M: Message> Unpin for Answer<M> {}

impl<M: Message> Answer<M> {
    fn slot(&self) -> &Slot<M> {
        // SAFETY: the slot is freed only once this side has let go, in `drop`.
        unsafe { self.slot.as_ref() }
    }

    /// The outcome in state `seen`, which has [`REPLIED`].
    fn take(&mut self, seen: usize) -> Result<M::Reply, Closed> {
        if seen & VALUE == 0 || self.taken {
            return Err(Closed);
        }
        self.taken = true;
        // SAFETY: `VALUE` was published (acquired with `seen`), and the reply is read
        // once: `taken` is set.
        Ok(unsafe { (*self.slot().reply.get()).assume_init_read() })
    }

    /// The reply or the closing, if either has come; `None` while the request is still
    /// pending (no waker is registered).
    pub(crate) fn try_take(&mut self) -> Option<Result<M::Reply, Closed>> {
        let seen = self.slot().state.load(Ordering::Acquire);
        (seen & REPLIED != 0).then(|| self.take(seen))
    }
}

impl<M: Message> Future for Answer<M> {
    type Output = Result<M::Reply, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let state = &this.slot().state;
        let mut seen = state.load(Ordering::Acquire);
        loop {
            if seen & REPLIED != 0 {
                return Poll::Ready(this.take(seen));
            }
            if seen & WAKER != 0 {
                // Take the cell back before looking at the waker in it: the replier may
                // be taking it right now.
                match state.compare_exchange_weak(
                    seen,
                    seen & !WAKER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => seen &= !WAKER,
                    Err(now) => {
                        seen = now;
                        continue;
                    }
                }
            }
            // SAFETY: `WAKER` is clear, so the cell is this side's.
            crate::rt::remember_waker(unsafe { &mut *this.slot().waker.get() }, cx.waker());
            match state.compare_exchange_weak(
                seen,
                seen | WAKER,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Poll::Pending,
                Err(now) => seen = now,
            }
        }
    }
}

impl<M: Message> Drop for Answer<M> {
    fn drop(&mut self) {
        let before = self.slot().state.fetch_or(ANSWER_GONE, Ordering::AcqRel);
        if before & VALUE != 0 && !self.taken {
            // SAFETY: the reply was published (acquired with `before`) and not taken; the
            // replier no longer touches it, and it sees `ANSWER_GONE` only after this.
            unsafe { (*self.slot().reply.get()).assume_init_drop() };
        }
        if before & CALL_GONE != 0 {
            // SAFETY: both sides are gone, this one last; the reply is dropped above.
            unsafe { free(self.slot) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CountingWaker;
    use futures_lite::future::block_on;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A message whose drops are counted, replied with another.
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl Message for Counted {
        type Reply = Counted;
    }

    fn new_call(drops: &Arc<AtomicUsize>) -> (Call<Counted>, Answer<Counted>) {
        call(
            Counted(drops.clone()),
            Instant::now() + Duration::from_secs(5),
            CorrelationId::next(),
        )
    }

    fn counted(drops: &Arc<AtomicUsize>) -> Counted {
        Counted(drops.clone())
    }

    #[test]
    fn the_reply_reaches_the_answer() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, mut answer) = new_call(&drops);
        assert!(answer.try_take().is_none(), "nothing yet");
        let (message, replier) = call.into_parts();
        drop(message);
        assert!(replier.send(counted(&drops)).is_ok());
        let reply = answer.try_take().expect("replied").expect("a reply");
        drop(reply);
        assert_eq!(
            answer.try_take().map(|o| o.is_err()),
            Some(true),
            "taken once"
        );
        drop(answer);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "the message and the reply");
    }

    #[test]
    fn a_dropped_call_drops_its_message_and_closes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, answer) = new_call(&drops);
        drop(call);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the message");
        assert!(matches!(block_on(answer), Err(Closed)));
    }

    #[test]
    fn a_message_whose_drop_panics_still_closes_the_request() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the message's drop panicked");
            }
        }
        impl Message for Bomb {
            type Reply = ();
        }
        let (call, mut answer) = call(
            Bomb,
            Instant::now() + Duration::from_secs(5),
            CorrelationId::next(),
        );
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(call)));
        assert!(dropped.is_err());
        assert!(matches!(answer.try_take(), Some(Err(Closed))));
    }

    #[test]
    fn a_dropped_replier_closes() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, mut answer) = new_call(&drops);
        let (_message, replier) = call.into_parts();
        drop(replier);
        assert!(matches!(answer.try_take(), Some(Err(Closed))));
    }

    #[test]
    fn a_refused_call_gives_its_message_back() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, answer) = new_call(&drops);
        let message = call.into_message();
        assert_eq!(drops.load(Ordering::SeqCst), 0, "handed back, not dropped");
        drop(answer);
        drop(message);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_reply_after_the_answer_is_gone_comes_back() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, answer) = new_call(&drops);
        let (message, replier) = call.into_parts();
        assert!(!replier.is_abandoned());
        drop(answer);
        assert!(replier.is_abandoned());
        let back = replier.send(counted(&drops));
        assert!(back.is_err(), "handed back");
        drop((back, message));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_answer_dropped_with_its_reply_untaken_drops_it() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, answer) = new_call(&drops);
        let (message, replier) = call.into_parts();
        drop(message);
        assert!(replier.send(counted(&drops)).is_ok());
        drop(answer);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_answer_drops_first_or_last_and_the_slot_is_freed_once() {
        // Miri reports a leak or a double free if either order goes wrong.
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, answer) = new_call(&drops);
        drop(answer);
        drop(call);
        let (call, answer) = new_call(&drops);
        drop(call);
        drop(answer);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_waiting_answer_is_woken_once_and_a_new_waker_replaces_the_old() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, mut answer) = new_call(&drops);
        let (first, second) = (
            Arc::new(CountingWaker::default()),
            Arc::new(CountingWaker::default()),
        );
        let poll = |answer: &mut Answer<Counted>, flag: &Arc<CountingWaker>| {
            let waker = Waker::from(flag.clone());
            Pin::new(answer).poll(&mut Context::from_waker(&waker))
        };
        assert!(poll(&mut answer, &first).is_pending());
        assert!(
            poll(&mut answer, &first).is_pending(),
            "the same waker kept"
        );
        assert!(poll(&mut answer, &second).is_pending(), "replaced");
        let (message, replier) = call.into_parts();
        assert!(replier.send(message).is_ok());
        assert_eq!(first.wakes(), 0);
        assert_eq!(second.wakes(), 1);
        assert!(matches!(poll(&mut answer, &second), Poll::Ready(Ok(_))));
    }

    #[test]
    fn a_closing_wakes_a_waiting_answer() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (call, mut answer) = new_call(&drops);
        let flag = Arc::new(CountingWaker::default());
        let waker = Waker::from(flag.clone());
        assert!(
            Pin::new(&mut answer)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(call);
        assert_eq!(flag.wakes(), 1);
        assert!(matches!(answer.try_take(), Some(Err(Closed))));
    }

    #[test]
    fn replies_cross_threads_whoever_goes_first() {
        let drops = Arc::new(AtomicUsize::new(0));
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        for round in 0..rounds {
            let (call, answer) = new_call(&drops);
            let replier = std::thread::spawn(move || {
                let (message, replier) = call.into_parts();
                if round % 3 == 0 {
                    drop(replier);
                    drop(message);
                } else {
                    let _ = replier.send(message);
                }
            });
            if round % 5 == 0 {
                drop(answer);
            } else {
                let outcome = block_on(answer);
                assert_eq!(outcome.is_err(), round % 3 == 0, "round {round}");
            }
            replier.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::SeqCst), rounds, "each message once");
    }
}
