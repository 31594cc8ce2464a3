//! A running handler's future (or an instance's `start` or `stop`), kept in a block
//! its reactor thread reuses.
//!
//! A component handles messages of many types, so the future of each handler call is
//! type-erased, and so far was boxed: with the envelope, two allocations per message,
//! where the design allows one. The box was freed right after the handler returned,
//! so every message paid the allocator twice for memory the next message wanted again.
//!
//! Here a future that fits a [`Block`] is written into one taken from a small per-thread
//! pool, and the block goes back to the pool once the future is dropped: handlers on
//! one reactor, one after another, use the same few blocks. A larger or over-aligned
//! future is boxed as before. The pool keeps at most [`KEPT`] blocks per thread, so a
//! burst of handlers pending at once gives its blocks back to the allocator afterwards;
//! an idle component holds none.
//!
//! [`PooledFuture::start`] polls the future once right where it was written, through
//! its own type, and drops it there if that poll finished it (most handlers finish in
//! their first poll): only a future still pending is polled and dropped through the
//! erased table. Done through the table, with a future of the instance's around them,
//! that first poll and drop were a tenth of a one-reactor tell's instructions
//! (callgrind).
//!
//! The `unsafe` code here writes a future into untyped storage, pins it there, and drops
//! it in place. It earns its keep: in the comparison's `fanout8`, the allocator's two
//! calls per delivery were a fifth of its instructions (callgrind). The module's tests
//! pass under Miri (`cargo +nightly miri test --lib component::pooled`).
#![allow(unsafe_code)]

use std::alloc::Layout;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Bytes in a block: most handler futures (the message, the component's and context's
/// references, the reply slot and the handler's own state) fit.
const BLOCK: usize = 256;

/// Blocks a thread keeps for reuse; more pending handlers at once allocate more, and
/// free the extra ones as they finish.
const KEPT: usize = 32;

/// Untyped room for one future, aligned for anything but over-aligned types.
#[repr(C, align(16))]
struct Block([MaybeUninit<u8>; BLOCK]);

impl Block {
    fn new() -> Box<Self> {
        Box::new(Self([MaybeUninit::uninit(); BLOCK]))
    }
}

thread_local! {
    /// The block given back last: handlers that run one after another (the common case)
    /// take and give back this one, with no borrow flag or length to keep.
    static LAST: Cell<Option<Box<Block>>> = const { Cell::new(None) };
    /// The other spare blocks, up to [`KEPT`] in all.
    #[allow(
        clippy::vec_box,
        reason = "blocks are handed out and taken back as allocations of their own"
    )]
    static SPARE: RefCell<Vec<Box<Block>>> = const { RefCell::new(Vec::new()) };
}

/// Whether a value of `layout` is stored in a block (else it is boxed on its own).
fn fits(layout: Layout) -> bool {
    layout.size() <= BLOCK && layout.align() <= align_of::<Block>()
}

/// A block from this thread's pool, or a new one.
#[inline]
fn take_block() -> Box<Block> {
    if let Ok(Some(block)) = LAST.try_with(Cell::take) {
        return block;
    }
    SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(Block::new)
}

/// Gives `block` back to this thread's pool, or to the allocator if the pool is full
/// (or the thread is ending).
#[inline]
fn give_back(block: Box<Block>) {
    let Ok(block) = LAST.try_with(|last| last.replace(Some(block))) else {
        return;
    };
    let Some(block) = block else { return };
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() + 1 < KEPT {
            spare.push(block);
        }
    });
}

/// Room for a `T`, uninitialised: a block from this thread's pool when a `T` fits one,
/// else an allocation of its own. For values made and freed as often as messages (a
/// request's [`Call`](crate::bus::Call) slot). Give it back with [`free`].
pub(crate) fn alloc<T>() -> NonNull<T> {
    if fits(Layout::new::<T>()) {
        NonNull::from(Box::leak(take_block())).cast::<T>()
    } else {
        NonNull::from(Box::leak(Box::<T>::new_uninit())).cast::<T>()
    }
}

/// Gives back room from [`alloc`]; what is in it must have been dropped or moved out.
///
/// # Safety
///
/// `room` came from `alloc::<T>()` (same `T`), and is given back once.
pub(crate) unsafe fn free<T>(room: NonNull<T>) {
    if fits(Layout::new::<T>()) {
        // SAFETY: `alloc` leaked a `Box<Block>` for this `T` (the same rule); a block's
        // contents need no drop.
        give_back(unsafe { Box::from_raw(room.cast::<Block>().as_ptr()) });
    } else {
        // SAFETY: `alloc` leaked a `Box<MaybeUninit<T>>` for this `T`.
        drop(unsafe { Box::from_raw(room.cast::<MaybeUninit<T>>().as_ptr()) });
    }
}

/// A type-erased handler future (or any future of output `T`, such as an instance's
/// `start` or `stop`), pinned where it was made: in a pooled block, or in a box of its
/// own when it does not fit one.
pub(crate) struct PooledFuture<'a, T = ()> {
    /// Owned: written by [`PooledFuture::new`], dropped in place by `drop`. Its
    /// allocation is a [`Block`] when the pointee's layout [`fits`] one, else a
    /// `Box<dyn Future>`'s.
    future: NonNull<dyn Future<Output = T> + 'a>,
}

impl<'a, T> PooledFuture<'a, T> {
    /// Stores `future` in a block from this thread's pool if it fits one, else boxes it.
    #[inline]
    pub(crate) fn new<F: Future<Output = T> + 'a>(future: F) -> Self {
        if !fits(Layout::new::<F>()) {
            let boxed: Box<dyn Future<Output = T> + 'a> = Box::new(future);
            return Self {
                future: NonNull::from(Box::leak(boxed)),
            };
        }
        let block = NonNull::from(Box::leak(take_block())).cast::<F>();
        // SAFETY: `block` is an allocation of its own, owned from here on by `Self`,
        // with room and alignment for an `F` (`fits`); nothing else points into it.
        unsafe { block.write(future) };
        let future: NonNull<dyn Future<Output = T> + 'a> = block;
        Self { future }
    }
}

impl<'a> PooledFuture<'a> {
    /// Stores `future` as [`new`](Self::new) does and polls it once there, through its
    /// own type: a future that finishes in that poll (most handlers do) is dropped and
    /// its room given back at once, with no call through the erased table and no
    /// `PooledFuture` left to drop; one still pending comes back to be polled on.
    ///
    /// A panic of the poll drops the future as `PooledFuture`'s drop does.
    #[inline]
    pub(crate) fn start<F: Future<Output = ()> + 'a>(
        future: F,
        cx: &mut Context<'_>,
    ) -> Option<Self> {
        let this = Self::new(future);
        let typed = this.future.cast::<F>();
        // SAFETY: `new` just wrote an `F` at `typed`, in a block or a box of its own that
        // `this` owns; it stays there, pinned, until it is dropped in place (here or by
        // `this`), and no other reference to it exists.
        let polled = unsafe { Pin::new_unchecked(&mut *typed.as_ptr()) }.poll(cx);
        if polled.is_pending() {
            return Some(this);
        }
        // Finished: dropped here, through its type; `this` must not drop it again.
        std::mem::forget(this);
        // SAFETY: `new` stored this `F` at `typed` (boxed as a `Box<dyn Future>` of this
        // `F` when it does not fit a block); `this`, its only owner, was forgotten, so
        // this is its one release.
        unsafe { release(typed, fits(Layout::new::<F>())) };
        None
    }
}

/// Drops the future at `future` in place and gives back its room: the block it sits at
/// the start of when `in_block`, else the box [`PooledFuture::new`] made. Generic, so
/// that [`PooledFuture::start`] drops a finished future through its own type, and the
/// erased one's `drop` through the table.
///
/// # Safety
///
/// `future` was stored by [`PooledFuture::new`], in a block exactly when `in_block`; it
/// is valid and pinned, and this is its one release.
#[inline(always)]
unsafe fn release<T: ?Sized>(future: NonNull<T>, in_block: bool) {
    if !in_block {
        // SAFETY: such a future was boxed by `new` and leaked; this is its one release.
        drop(unsafe { Box::from_raw(future.as_ptr()) });
        return;
    }
    // `new` put the future at the start of a leaked `Box<Block>`: freed below, or by this
    // guard if the future's destructor panics.
    let block = future.cast::<Block>();
    let on_unwind = FreeBlock(block);
    // SAFETY: the future is valid and pinned; it is dropped in place, once, before its
    // memory is reused or freed.
    unsafe { future.as_ptr().drop_in_place() };
    std::mem::forget(on_unwind);
    // SAFETY: the block's one release (the guard was forgotten); the future in it is
    // dropped, and a block's contents need no drop.
    give_back(unsafe { Box::from_raw(block.as_ptr()) });
}

impl<T> Future for PooledFuture<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: the future is valid until `drop` (see the field), and never moved: it
        // stays where `new` put it until `drop` drops it in place, so it may be pinned.
        // `&mut self` makes this the only reference to it.
        let future = unsafe { Pin::new_unchecked(&mut *self.future.as_ptr()) };
        future.poll(cx)
    }
}

impl<T> Drop for PooledFuture<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the future is valid until dropped here, and only here.
        let in_block = fits(Layout::for_value(unsafe { self.future.as_ref() }));
        // SAFETY: stored by `new`, in a block exactly when its layout fits one; this drop
        // is its one release.
        unsafe { release(self.future, in_block) };
    }
}

/// Frees a block whose future's destructor panicked.
struct FreeBlock(NonNull<Block>);

impl Drop for FreeBlock {
    fn drop(&mut self) {
        // SAFETY: made only in `release`, and forgotten unless the drop of
        // the future in this block unwound: then this is the block's one release.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::task::Waker;

    use super::*;

    /// Counts its drops; pending on its first poll when `pending`.
    struct Probe {
        drops: Rc<Cell<u32>>,
        polls: u32,
        pending_once: bool,
        _room: [u8; 40],
    }

    impl Future for Probe {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            if self.pending_once && self.polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(())
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    fn probe(drops: &Rc<Cell<u32>>, pending_once: bool) -> Probe {
        Probe {
            drops: drops.clone(),
            polls: 0,
            pending_once,
            _room: [0; 40],
        }
    }

    fn poll(future: &mut PooledFuture<'_>) -> Poll<()> {
        Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
    }

    fn spare() -> usize {
        let last = LAST.with(|last| {
            let block = last.take();
            let kept = usize::from(block.is_some());
            last.set(block);
            kept
        });
        SPARE.with_borrow(Vec::len) + last
    }

    #[test]
    fn a_small_future_runs_in_a_block_that_is_reused_after_it_is_dropped() {
        let drops = Rc::new(Cell::new(0));
        let mut first = PooledFuture::new(probe(&drops, true));
        let at = first.future.cast::<u8>();
        assert!(poll(&mut first).is_pending());
        assert!(poll(&mut first).is_ready());
        drop(first);
        assert_eq!(drops.get(), 1, "dropped in place, once");
        let kept = spare();
        assert!(kept >= 1);

        let second = PooledFuture::new(probe(&drops, false));
        assert_eq!(second.future.cast::<u8>(), at, "the same block again");
        assert_eq!(spare(), kept - 1);
        drop(second);
        assert_eq!(drops.get(), 2);
    }

    #[test]
    fn a_future_dropped_before_it_completes_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let mut future = PooledFuture::new(probe(&drops, true));
        assert!(poll(&mut future).is_pending());
        drop(future);
        assert_eq!(drops.get(), 1);
    }

    /// A future too large for a block, holding a probe that counts into `drops`.
    fn large(drops: &Rc<Cell<u32>>) -> impl Future<Output = ()> + use<> {
        let inner = probe(drops, false);
        let big = [0u8; BLOCK + 1];
        let future = async move {
            let _keep = &big;
            inner.await;
        };
        assert!(!fits(Layout::for_value(&future)));
        future
    }

    #[test]
    fn a_large_future_is_boxed_and_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let future = large(&drops);
        let before = spare();
        let mut future = PooledFuture::new(future);
        assert!(poll(&mut future).is_ready());
        drop(future);
        assert_eq!(drops.get(), 1);
        assert_eq!(
            spare(),
            before,
            "a boxed future takes no block and gives none"
        );
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        let drops = Rc::new(Cell::new(0));
        let many: Vec<_> = (0..KEPT + 8)
            .map(|_| PooledFuture::new(probe(&drops, false)))
            .collect();
        drop(many);
        assert_eq!(drops.get(), KEPT as u32 + 8);
        assert_eq!(spare(), KEPT);
    }

    #[test]
    fn a_destructor_that_panics_is_caught_and_the_next_future_gets_a_block() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom");
            }
        }
        let bomb = Bomb;
        let future = async move {
            let _bomb = bomb;
        };
        let future = PooledFuture::new(future);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future)));
        assert!(caught.is_err());
        let drops = Rc::new(Cell::new(0));
        let mut next = PooledFuture::new(probe(&drops, false));
        assert!(poll(&mut next).is_ready());
        drop(next);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_future_may_borrow_what_outlives_it() {
        let mut count = 0;
        {
            let mut future = PooledFuture::new(async {
                count += 1;
            });
            assert!(poll(&mut future).is_ready());
        }
        assert_eq!(count, 1);
    }

    fn start<'a>(future: impl Future<Output = ()> + 'a) -> Option<PooledFuture<'a>> {
        PooledFuture::start(future, &mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_future_done_in_its_first_poll_is_dropped_once_and_its_block_kept() {
        let drops = Rc::new(Cell::new(0));
        // A block given back to the pool first, so the count below is exact.
        drop(PooledFuture::new(probe(&drops, false)));
        let kept = spare();
        assert!(start(probe(&drops, false)).is_none());
        assert_eq!(drops.get(), 2, "dropped at once, once");
        assert_eq!(spare(), kept, "its block is back in the pool");
    }

    #[test]
    fn a_future_pending_after_its_first_poll_comes_back_to_be_polled_on() {
        let drops = Rc::new(Cell::new(0));
        let mut running = start(probe(&drops, true)).expect("pending in its first poll");
        assert_eq!(drops.get(), 0);
        assert!(poll(&mut running).is_ready());
        drop(running);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn a_future_that_panics_in_its_first_poll_is_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        drop(PooledFuture::new(probe(&drops, false)));
        let kept = spare();
        let inner = probe(&drops, false);
        let future = async move {
            let _inner = inner;
            panic!("first poll");
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| start(future)));
        assert!(caught.is_err());
        assert_eq!(drops.get(), 2, "what it held is dropped, once");
        assert_eq!(spare(), kept, "its block is back in the pool");
    }

    #[test]
    fn a_large_future_done_in_its_first_poll_is_dropped_once_without_a_block() {
        let drops = Rc::new(Cell::new(0));
        let future = large(&drops);
        let before = spare();
        assert!(start(future).is_none());
        assert_eq!(drops.get(), 1);
        assert_eq!(
            spare(),
            before,
            "a boxed future takes no block and gives none"
        );
    }

    #[test]
    fn room_from_the_pool_or_the_allocator_is_given_back() {
        let small = alloc::<[u64; 4]>();
        let large = alloc::<[u64; 64]>();
        // SAFETY: fresh room for each type, written before it is read, given back once.
        unsafe {
            small.write([7; 4]);
            large.write([9; 64]);
            assert_eq!(small.read(), [7; 4]);
            assert_eq!(large.read()[63], 9);
            free(small);
            free(large);
        }
        let again = alloc::<[u64; 4]>();
        // SAFETY: as above.
        unsafe { free(again) };
    }
}
