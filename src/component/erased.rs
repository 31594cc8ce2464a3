//! A value of an erased type, kept in place: the storage of a sent message in its
//! mailbox.
//!
//! A mailbox holds messages of every type its component handles, so each is type-erased.
//! A `Box<dyn _>` per message cost an allocation at the sender and a free at the
//! receiver, on two threads when they are on two reactors, where the allocator's
//! cross-thread frees were a large part of a one-way send. Here a value that fits
//! [`WORDS`] machine words is written into the envelope itself, beside a static table of
//! what can be done with it; a larger or over-aligned one is boxed, and its box kept in
//! place. The mailbox's queue then holds the messages themselves, as a channel of one
//! type would.
//!
//! The unsafe code is all here and small: writing a value into the slot, reading it out
//! once, or dropping it once. A value is stored only with its own type's table (tables
//! are typed), and the type is checked at every read (`take`), so the safe interface
//! cannot read a value as another type.
#![allow(unsafe_code)]

use std::any::TypeId;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

/// Words of room in place: a message of up to two words (a number or two, a `Box`, an
/// `Arc`, a small enum) fits. An envelope is then three words, as large as it was when
/// it held a box, so a mailbox's queue is no larger for it.
const WORDS: usize = 2;

/// The room itself, aligned as a word.
type Slot = MaybeUninit<[usize; WORDS]>;

/// What an [`Erased`] of type `T` can do: an operation `Op` chosen by the user of this
/// module, and what this module needs to read or drop the value. Typed, so that a value
/// can only be stored with its own type's table.
pub(crate) struct Table<Op: 'static, T> {
    header: Header<Op>,
    _type: PhantomData<fn() -> T>,
}

/// A [`Table`] without its type, as an [`Erased`] keeps it.
struct Header<Op: 'static> {
    /// The operation, for [`Erased::op`].
    op: Op,
    /// The value's type, stored rather than a function returning it: checked on every
    /// message, where the indirect call showed in profiles (2% of a tell).
    type_id: TypeId,
    /// Drops the value in the slot (in place, or its box).
    drop: unsafe fn(*mut Slot),
    /// Whether the value is in place (else its box is).
    in_place: bool,
}

impl<Op: 'static, T: Send + 'static> Table<Op, T> {
    /// The table of values of type `T`.
    pub(crate) const fn of(op: Op) -> Self {
        let in_place = fits::<T>();
        Self {
            header: Header {
                op,
                type_id: TypeId::of::<T>(),
                drop: if in_place {
                    drop_in_place::<T>
                } else {
                    drop_boxed::<T>
                },
                in_place,
            },
            _type: PhantomData,
        }
    }
}

/// Whether a `T` is kept in place.
pub(crate) const fn fits<T>() -> bool {
    size_of::<T>() <= size_of::<Slot>() && align_of::<T>() <= align_of::<Slot>()
}

/// # Safety
/// `slot` holds a `T` in place, not dropped or read out since.
unsafe fn drop_in_place<T>(slot: *mut Slot) {
    // SAFETY: as the function's contract says.
    unsafe { slot.cast::<T>().drop_in_place() }
}

/// # Safety
/// `slot` holds a `Box<T>`, not dropped or read out since.
unsafe fn drop_boxed<T>(slot: *mut Slot) {
    // SAFETY: as the function's contract says.
    unsafe { slot.cast::<Box<T>>().drop_in_place() }
}

/// A value of some `Send` type, in place or boxed, with the [`Table`] of its type.
pub(crate) struct Erased<Op: 'static> {
    slot: Slot,
    table: &'static Header<Op>,
    /// Neither `Send` nor `Sync` of itself, whatever it holds: `Send` is granted below,
    /// for what the constructors let in.
    _unshared: PhantomData<*const ()>,
}

// SAFETY: only `Send` values are stored (`Table::of` requires it, and a value is stored
// with its own type's table). Not `Sync`: nothing needs it.
unsafe impl<Op: 'static> Send for Erased<Op> {}

impl<Op: 'static> Erased<Op> {
    /// Stores `value` with its type's table.
    pub(crate) fn new<T: Send + 'static>(value: T, table: &'static Table<Op, T>) -> Self {
        let mut slot = Slot::uninit();
        // The same rule as the table's `in_place`, known here without reading it.
        if fits::<T>() {
            // SAFETY: `fits::<T>()`: room and alignment for a `T`.
            unsafe { slot.as_mut_ptr().cast::<T>().write(value) };
        } else {
            // SAFETY: a `Box<T>` (one word, word-aligned, for a sized `T`) always fits.
            unsafe { slot.as_mut_ptr().cast::<Box<T>>().write(Box::new(value)) };
        }
        Self {
            slot,
            table: &table.header,
            _unshared: PhantomData,
        }
    }

    /// The operation of the value's type.
    pub(crate) fn op(&self) -> &'static Op {
        &self.table.op
    }

    /// The value, if it is a `T`; else itself back.
    pub(crate) fn take<T: 'static>(self) -> Result<T, Self> {
        if self.table.type_id != TypeId::of::<T>() {
            return Err(self);
        }
        // Not dropped: the value is read out below, once.
        let this = ManuallyDrop::new(self);
        let slot = this.slot.as_ptr();
        // SAFETY: the table is `T`'s (checked above), so the slot holds a `T` in place or
        // a `Box<T>`, as `in_place` says; it is read out once, and `this` is not dropped.
        Ok(unsafe {
            if this.table.in_place {
                slot.cast::<T>().read()
            } else {
                *slot.cast::<Box<T>>().read()
            }
        })
    }
}

impl<Op: 'static> Drop for Erased<Op> {
    fn drop(&mut self) {
        // SAFETY: the slot holds the value its table describes, not read out (`take`
        // does not drop), and this is its one drop.
        unsafe { (self.table.drop)(&raw mut self.slot) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The test operation: a name for the type.
    type Name = &'static str;

    fn small(value: u64) -> Erased<Name> {
        static TABLE: Table<Name, u64> = Table::of("u64");
        Erased::new(value, &TABLE)
    }

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>, [u32; 2]);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    static COUNTED: Table<Name, Counted> = Table::of("counted");

    /// Too large for the slot.
    struct Large(Counted, [u64; WORDS]);

    static LARGE: Table<Name, Large> = Table::of("large");

    /// Over-aligned for the slot.
    #[repr(align(32))]
    struct Aligned(Counted);

    static ALIGNED: Table<Name, Aligned> = Table::of("aligned");

    #[test]
    fn a_small_value_is_kept_in_place_and_read_out_as_its_own_type() {
        assert!(fits::<u64>() && fits::<Counted>());
        assert!(!fits::<Large>() && !fits::<Aligned>());
        let erased = small(7);
        assert_eq!(*erased.op(), "u64");
        let erased = erased.take::<u32>().expect_err("not a u32");
        assert_eq!(erased.take::<u64>().ok(), Some(7));
    }

    #[test]
    fn each_value_is_dropped_once_whether_read_out_or_dropped_erased() {
        let drops = Arc::new(AtomicUsize::new(0));
        let counted = || Counted(drops.clone(), [1, 2]);
        drop(Erased::new(counted(), &COUNTED));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let read = Erased::new(counted(), &COUNTED).take::<Counted>().ok();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "read out, not dropped");
        assert_eq!(read.as_ref().map(|c| c.1), Some([1, 2]));
        drop(read);
        assert_eq!(drops.load(Ordering::SeqCst), 2);

        // Boxed in the slot: too large, and over-aligned.
        drop(Erased::new(Large(counted(), [3; WORDS]), &LARGE));
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        let large = Erased::new(Large(counted(), [4; WORDS]), &LARGE);
        let large = large.take::<Large>().ok().expect("a Large");
        assert_eq!((large.0.1, large.1), ([1, 2], [4; WORDS]));
        drop(large);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        let aligned = Erased::new(Aligned(counted()), &ALIGNED);
        assert_eq!(*aligned.op(), "aligned");
        let aligned = aligned.take::<Aligned>().ok().expect("an Aligned");
        assert_eq!(std::ptr::from_ref(&aligned).addr() % 32, 0);
        assert_eq!(aligned.0.1, [1, 2]);
        drop(aligned);
        drop(Erased::new(Aligned(counted()), &ALIGNED));
        assert_eq!(drops.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn an_erased_value_moves_with_its_owner() {
        let drops = Arc::new(AtomicUsize::new(0));
        let queue: std::collections::VecDeque<_> = (0..3)
            .map(|i| Erased::new(Counted(drops.clone(), [i, i]), &COUNTED))
            .collect();
        let moved = std::thread::spawn(move || {
            queue
                .into_iter()
                .map(|e| e.take::<Counted>().ok().map(|c| c.1[0]))
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        assert_eq!(moved, [Some(0), Some(1), Some(2)]);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }
}
