//! The local transport: address names to typed consumer lists.
//!
//! This is the routing seam of the bus: every `Bus` operation resolves its address here
//! and gets back a typed slot whose consumers are component mailboxes on this process. A
//! remote transport will sit beside it without touching components.
//!
//! Invariants: an address has at most one message type while it has consumers; a slot
//! with no consumers is removed, so the table never grows with addresses no one listens
//! on; consumer lists are copy-on-write snapshots, so senders never hold a lock while
//! they wait for mailbox room.

use std::any::{Any, type_name};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::bus::delivery::Consumer;
use crate::bus::{ConsumeError, Message};

mod consumers;

use consumers::Consumers;

/// Identifies one registration, for removal. Ids come from one counter: a registration
/// made later has a greater id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConsumerId(u64);

/// Per-address counters, relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct AddressCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) requested: AtomicU64,
    pub(crate) replied: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl AddressCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, consumers: usize) -> AddressStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AddressStats {
            consumers,
            sent: read(&self.sent),
            published: read(&self.published),
            requested: read(&self.requested),
            replied: read(&self.replied),
            timed_out: read(&self.timed_out),
            refused: read(&self.refused),
        }
    }
}

/// The counters of one address, read at one moment. They live as long as the address
/// has consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AddressStats {
    /// Registered consumers.
    pub consumers: usize,
    /// Messages sent (`send`, `try_send`) and accepted.
    pub sent: u64,
    /// Publications (one per `publish` call that found consumers).
    pub published: u64,
    /// Requests delivered to a consumer.
    pub requested: u64,
    /// Requests that got their reply.
    pub replied: u64,
    /// Requests that timed out.
    pub timed_out: u64,
    /// Messages refused by a full mailbox (`try_` forms), each copy of a `try_publish`
    /// counted.
    pub refused: u64,
}

/// One consumer of an address.
pub(crate) struct Entry<M: Message> {
    pub(crate) id: ConsumerId,
    pub(crate) consumer: Arc<dyn Consumer<M>>,
}

impl<M: Message> Clone for Entry<M> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            consumer: self.consumer.clone(),
        }
    }
}

/// The consumers of one address, all of message type `M`, and its counters.
///
/// The list is a new version after every change, made under the registry's write lock
/// only, so a reader holding the read lock, or a copy in a sender's cache, sees a fixed
/// list (see [`Consumers`]).
pub(crate) struct TypedSlot<M: Message> {
    consumers: Consumers<Entry<M>>,
    cursor: Arc<AtomicUsize>,
    pub(crate) counters: Arc<AddressCounters>,
}

impl<M: Message> Clone for TypedSlot<M> {
    fn clone(&self) -> Self {
        Self {
            consumers: self.consumers.clone(),
            cursor: self.cursor.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<M: Message> TypedSlot<M> {
    /// Every consumer.
    pub(crate) fn consumers(&self) -> &Consumers<Entry<M>> {
        &self.consumers
    }

    /// The consumer whose turn it is (round-robin), if any.
    pub(crate) fn next(&self) -> Option<&Arc<dyn Consumer<M>>> {
        let at = match self.consumers.len() {
            0 | 1 => 0,
            n => self.cursor.fetch_add(1, Ordering::Relaxed) % n,
        };
        self.consumers.get(at).map(|entry| &entry.consumer)
    }
}

/// The registry's own record of an address: its slot, and where each consumer sits in
/// its list once the list is too long to search (see [`Held::position`]).
struct Held<M: Message> {
    slot: TypedSlot<M>,
    /// Empty while the list has at most `SEARCHED` consumers.
    positions: FastMap<ConsumerId, usize>,
}

/// Lists up to this long are searched for a consumer to remove.
const SEARCHED: usize = 32;

impl<M: Message> Held<M> {
    fn new() -> Self {
        Self {
            slot: TypedSlot {
                consumers: Consumers::default(),
                cursor: Arc::default(),
                counters: Arc::default(),
            },
            positions: FastMap::default(),
        }
    }

    fn position(&self, id: ConsumerId) -> Option<usize> {
        if self.positions.is_empty() {
            self.slot.consumers.iter().position(|e| e.id == id)
        } else {
            self.positions.get(&id).copied()
        }
    }

    fn push(&mut self, entry: Entry<M>) {
        let consumers = &mut self.slot.consumers;
        let (id, at) = (entry.id, consumers.len());
        consumers.push(entry);
        if consumers.len() > SEARCHED {
            if self.positions.is_empty() {
                self.positions = consumers
                    .iter()
                    .enumerate()
                    .map(|(at, e)| (e.id, at))
                    .collect();
            } else {
                self.positions.insert(id, at);
            }
        }
    }
}

/// A slot of any message type.
trait Slot: Any + Send + Sync {
    fn message_type(&self) -> &'static str;
    /// Removes consumer `id`; returns how many are left.
    fn remove(&mut self, id: ConsumerId) -> usize;
    fn len(&self) -> usize;
    fn stats(&self) -> AddressStats;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<M: Message> Slot for Held<M> {
    fn message_type(&self) -> &'static str {
        type_name::<M>()
    }

    fn remove(&mut self, id: ConsumerId) -> usize {
        let Some(at) = self.position(id) else {
            return self.len();
        };
        let consumers = &mut self.slot.consumers;
        consumers.swap_remove(at);
        if consumers.len() <= SEARCHED {
            self.positions = FastMap::default();
        } else {
            self.positions.remove(&id);
            // The last consumer moved into the place.
            if let Some(moved) = consumers.get(at) {
                self.positions.insert(moved.id, at);
            }
        }
        consumers.len()
    }

    fn len(&self) -> usize {
        self.slot.consumers.len()
    }

    fn stats(&self) -> AddressStats {
        self.slot.counters.snapshot(self.len())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What a lookup found: the caller's function's result, or the value handed back.
pub(crate) enum Lookup<T, R> {
    /// The address has consumers of the right type; `R` is what the function returned.
    Found(R),
    /// No consumers.
    Missing(T),
    /// Consumers of another message type (its name).
    WrongType(T, &'static str),
}

/// A word-at-a-time multiplicative hash (FxHash's step): address names are short, and
/// hashing them is on every send's path, where SipHash, or a byte-at-a-time hash, costs
/// more than the rest of the lookup. Names are chosen by the application, not by peers.
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

impl NameHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for NameHasher {
    fn finish(&self) -> u64 {
        // A product's bit `j` depends only on its input's bits up to `j`: the words'
        // multiplications leave the low bits, which hashbrown picks buckets with, alike
        // for keys that differ only in their last bytes (`idle-17`, `idle-18`). A
        // folded multiply (the 128-bit product's halves xored, as foldhash and wyhash
        // finish) mixes every input bit into every output bit, for one multiplication.
        let full = u128::from(self.0) * u128::from(Self::K);
        (full as u64) ^ ((full >> 64) as u64)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        // The last 1 to 7 bytes, little-endian in a zeroed word, as whole loads: a copy
        // of a length known only at run time would be a call to `memcpy`.
        let mut rest = chunks.remainder();
        if rest.is_empty() {
            return;
        }
        let (mut word, mut shift) = (0u64, 0);
        if let [a, b, c, d, tail @ ..] = rest {
            word = u64::from(u32::from_le_bytes([*a, *b, *c, *d]));
            shift = 32;
            rest = tail;
        }
        if let [a, b, tail @ ..] = rest {
            word |= u64::from(u16::from_le_bytes([*a, *b])) << shift;
            shift += 16;
            rest = tail;
        }
        if let [a] = rest {
            word |= u64::from(*a) << shift;
        }
        self.add(word);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
}

/// A hash map with [`NameHasher`]: for the runtime's own keys (names, instance keys),
/// chosen by the application, never by a peer.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

/// A hash set with [`NameHasher`], as [`FastMap`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<NameHasher>>;

type Slots = FastMap<Box<str>, Box<dyn Slot>>;

/// Address names to slots. Invariant: every slot in the table has at least one consumer.
pub(crate) struct Registry {
    slots: RwLock<Slots>,
    next_id: AtomicU64,
    /// Which registry this is, for the senders' caches.
    id: u64,
    /// Bumped, under the write lock, by every change to the table.
    epoch: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            slots: RwLock::default(),
            next_id: AtomicU64::new(0),
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            epoch: AtomicU64::new(0),
        }
    }
}

/// One remembered route of a sender thread: the slot of a `'static` address name as of
/// an epoch of one registry.
struct Cached {
    registry: u64,
    epoch: u64,
    name: (usize, usize),
    slot: Box<dyn Any>,
}

/// A route a sender keeps for itself: the slot of one address as of an epoch of its
/// registry (see [`Registry::with_route`]).
pub(crate) struct Route<M: Message> {
    epoch: u64,
    slot: TypedSlot<M>,
}

impl<M: Message> Clone for Route<M> {
    fn clone(&self) -> Self {
        Self {
            epoch: self.epoch,
            slot: self.slot.clone(),
        }
    }
}

/// Remembered routes per thread, direct-mapped by the name's address.
const CACHE_WAYS: usize = 64;

thread_local! {
    static ROUTES: RefCell<Vec<Option<Cached>>> = RefCell::new((0..CACHE_WAYS).map(|_| None).collect());
}

fn way(name: &str) -> usize {
    (name.as_ptr() as usize >> 3) % CACHE_WAYS
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.slots.try_read().map(|s| s.len()).ok();
        f.debug_struct("Registry")
            .field("addresses", &count)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Runs `f` on the slot of `name` for messages of type `M`, under the read lock
    /// (so `f` must not wait); `value` goes to `f`, or comes back if there is no slot of
    /// that type. One hash, one read lock, no reference count touched.
    ///
    /// A `'static` name (`stable`) is looked up in this thread's cache of routes first:
    /// while no consumer anywhere has registered or left since (the table's epoch), the
    /// remembered slot is the table's, and the send takes no lock and hashes nothing.
    pub(crate) fn with<M: Message, T, R>(
        &self,
        name: &str,
        stable: bool,
        value: T,
        f: impl FnOnce(&TypedSlot<M>, T) -> R,
    ) -> Lookup<T, R> {
        let (mut value, mut f) = (Some(value), Some(f));
        if stable {
            let epoch = self.epoch.load(Ordering::Acquire);
            // Called under a shared borrow of the cache: a nested send (from a message's
            // `Clone`, say) reads the cache too, and only skips remembering its own route.
            let hit = ROUTES.with(|routes| {
                let routes = routes.borrow();
                let cached = routes[way(name)].as_ref().filter(|cached| {
                    cached.registry == self.id
                        && cached.epoch == epoch
                        && cached.name == (name.as_ptr() as usize, name.len())
                })?;
                let slot = cached.slot.downcast_ref::<TypedSlot<M>>()?;
                let (f, value) = (f.take()?, value.take()?);
                Some(f(slot, value))
            });
            if let Some(found) = hit {
                return Lookup::Found(found);
            }
        }
        let (Some(value), Some(f)) = (value, f) else {
            unreachable!("taken only on a cache hit, which returned");
        };
        self.locked(name, value, f, |epoch, typed| {
            if !stable {
                return;
            }
            let remembered = Cached {
                registry: self.id,
                epoch,
                name: (name.as_ptr() as usize, name.len()),
                slot: Box::new(typed.clone()),
            };
            ROUTES.with(|routes| {
                if let Ok(mut routes) = routes.try_borrow_mut() {
                    routes[way(name)] = Some(remembered);
                }
            });
        })
    }

    /// Runs `f` on the slot of `name` for messages of type `M` under the read lock,
    /// after `remember` has seen the slot and the table's epoch, read under the lock
    /// (every change bumps it under the write lock): the slow path of [`with`](Self::with)
    /// and [`with_route`](Self::with_route).
    fn locked<M: Message, T, R>(
        &self,
        name: &str,
        value: T,
        f: impl FnOnce(&TypedSlot<M>, T) -> R,
        remember: impl FnOnce(u64, &TypedSlot<M>),
    ) -> Lookup<T, R> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(name) else {
            return Lookup::Missing(value);
        };
        match slot.as_any().downcast_ref::<Held<M>>() {
            Some(Held { slot: typed, .. }) => {
                remember(self.epoch.load(Ordering::Acquire), typed);
                Lookup::Found(f(typed, value))
            }
            None => Lookup::WrongType(value, slot.message_type()),
        }
    }

    /// As [`with`](Self::with), through a route the caller keeps (a
    /// [`Producer`](crate::Producer)'s): while no consumer anywhere has registered or left
    /// since the route was taken (the table's epoch), the send takes no lock, hashes
    /// nothing and reads no thread-local; else the route is taken again under the lock.
    pub(crate) fn with_route<M: Message, T, R>(
        &self,
        route: &mut Option<Route<M>>,
        name: &str,
        value: T,
        f: impl FnOnce(&TypedSlot<M>, T) -> R,
    ) -> Lookup<T, R> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(route) = route.as_ref().filter(|route| route.epoch == epoch) {
            return Lookup::Found(f(&route.slot, value));
        }
        // A stale route holds the old consumer list: let it go before looking again.
        *route = None;
        self.locked(name, value, f, |epoch, typed| {
            *route = Some(Route {
                epoch,
                slot: typed.clone(),
            });
        })
    }

    /// [`with_route`](Self::with_route) when the caller keeps a route, else
    /// [`with`](Self::with).
    #[inline]
    pub(crate) fn find<M: Message, T, R>(
        &self,
        route: Option<&mut Option<Route<M>>>,
        name: &str,
        stable: bool,
        value: T,
        f: impl FnOnce(&TypedSlot<M>, T) -> R,
    ) -> Lookup<T, R> {
        match route {
            Some(route) => self.with_route(route, name, value, f),
            None => self.with(name, stable, value, f),
        }
    }

    /// Adds a consumer of `M` at `name`.
    ///
    /// # Errors
    ///
    /// [`ConsumeError::TypeMismatch`] if `name` has consumers of another type.
    pub(crate) fn register<M: Message>(
        &self,
        name: &str,
        consumer: Arc<dyn Consumer<M>>,
    ) -> Result<ConsumerId, ConsumeError> {
        let id = ConsumerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slot = slots
            .entry(name.into())
            .or_insert_with(|| Box::new(Held::<M>::new()));
        let registered = slot.message_type();
        let Some(held) = slot.as_any_mut().downcast_mut::<Held<M>>() else {
            return Err(ConsumeError::TypeMismatch {
                address: name.to_owned(),
                registered,
                requested: type_name::<M>(),
            });
        };
        held.push(Entry { id, consumer });
        self.epoch.fetch_add(1, Ordering::Release);
        Ok(id)
    }

    /// The id the next registration will get: every registration made from now on has
    /// this id or a greater one.
    pub(crate) fn next_id(&self) -> ConsumerId {
        ConsumerId(self.next_id.load(Ordering::Relaxed))
    }

    /// Whether `name` has consumers of `M`.
    pub(crate) fn holds<M: Message>(&self, name: &str) -> bool {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots
            .get(name)
            .is_some_and(|slot| slot.as_any().downcast_ref::<Held<M>>().is_some())
    }

    /// Removes a registration; the address goes with its last consumer.
    pub(crate) fn unregister(&self, name: &str, id: ConsumerId) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::Release);
        if let Some(slot) = slots.get_mut(name)
            && slot.remove(id) == 0
        {
            slots.remove(name);
        }
    }

    /// Every address with its message type and counters, sorted by name.
    pub(crate) fn snapshot(&self) -> Vec<(String, &'static str, AddressStats)> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = slots
            .iter()
            .map(|(name, slot)| (name.to_string(), slot.message_type(), slot.stats()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The counters of one address.
    pub(crate) fn stats(&self, name: &str) -> Option<AddressStats> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(name).map(|s| s.stats())
    }

    /// How many consumers `name` has.
    pub(crate) fn consumer_count(&self, name: &str) -> usize {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(name).map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};
    use std::sync::Arc;

    use super::{ConsumerId, Lookup, NameHasher, Registry};
    use crate::bus::delivery::{Consumer, DeliverFuture, Parcel, Published, Refused};

    struct Wide;
    impl crate::Message for Wide {
        type Reply = ();
    }

    /// A consumer the registry only keeps: nothing is delivered in these tests.
    struct Kept;
    impl Consumer<Wide> for Kept {
        fn try_deliver(&self, d: Parcel<Wide>) -> Result<(), Refused<Parcel<Wide>>> {
            Err(Refused::Closed(d))
        }
        fn try_deliver_request(
            &self,
            call: crate::bus::Call<Wide>,
        ) -> Result<Option<std::task::Waker>, Refused<Parcel<Wide>>> {
            Err(Refused::Closed(Parcel::Request(call)))
        }
        fn deliver(&self, d: Parcel<Wide>) -> DeliverFuture<'_, Parcel<Wide>> {
            Box::pin(async move { Err(Refused::Closed(d)) })
        }
        fn try_deliver_published(
            &self,
            p: Arc<Published<Wide>>,
        ) -> Result<(), Refused<Arc<Published<Wide>>>> {
            Err(Refused::Closed(p))
        }
        fn deliver_published(
            &self,
            p: Arc<Published<Wide>>,
        ) -> DeliverFuture<'_, Arc<Published<Wide>>> {
            Box::pin(async move { Err(Refused::Closed(p)) })
        }
    }

    /// The ids the slot of `name` lists, sorted.
    fn listed(registry: &Registry, name: &str) -> Vec<ConsumerId> {
        let found = registry.with::<Wide, _, _>(name, false, (), |slot, ()| {
            let mut ids: Vec<ConsumerId> = slot.consumers().iter().map(|e| e.id).collect();
            ids.sort();
            ids
        });
        match found {
            Lookup::Found(ids) => ids,
            _ => Vec::new(),
        }
    }

    #[test]
    fn many_consumers_of_one_address_leave_in_any_order() {
        let registry = Registry::default();
        let ids: Vec<ConsumerId> = (0..300)
            .map(|_| registry.register::<Wide>("wide", Arc::new(Kept)).unwrap())
            .collect();
        assert_eq!(registry.consumer_count("wide"), 300);
        assert_eq!(listed(&registry, "wide"), ids);
        // A hundred, scattered.
        let mut left = ids.clone();
        let mut at = 0;
        while left.len() > 200 {
            at = (at + 97) % left.len();
            registry.unregister("wide", left.remove(at));
            assert_eq!(registry.consumer_count("wide"), left.len());
        }
        assert_eq!(listed(&registry, "wide"), left);
        // Ones it does not hold (gone already, or never there) change nothing.
        let gone = ids.iter().find(|id| !left.contains(id)).copied().unwrap();
        registry.unregister("wide", gone);
        registry.unregister("wide", ConsumerId(u64::MAX));
        assert_eq!(listed(&registry, "wide"), left);
        // The rest, oldest first, past the length below which the list is searched.
        while let Some(id) = left.first().copied() {
            registry.unregister("wide", id);
            left.remove(0);
            assert_eq!(listed(&registry, "wide"), left);
        }
        assert!(matches!(
            registry.with::<Wide, _, _>("wide", false, (), |_, ()| ()),
            Lookup::Missing(())
        ));
    }

    /// The tail of a name is packed as a zero-padded little-endian word, whatever its
    /// length.
    #[test]
    fn a_tail_hashes_as_its_zero_padded_word() {
        use std::hash::Hasher;
        let bytes = b"0123456789abcdef";
        for len in 0..=bytes.len() {
            let mut hasher = NameHasher::default();
            hasher.write(&bytes[..len]);
            let mut expected = NameHasher::default();
            for chunk in bytes[..len].chunks(8) {
                let mut word = [0; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                expected.add(u64::from_le_bytes(word));
            }
            assert_eq!(hasher.finish(), expected.finish(), "length {len}");
        }
    }

    /// Names that differ only in their last bytes (`idle-0` .. `idle-4095`) must spread
    /// over the low bits hashbrown picks buckets with, or a map of them degrades into
    /// long probe chains.
    #[test]
    fn names_differing_at_the_end_spread_over_the_low_bits() {
        let build = BuildHasherDefault::<NameHasher>::default();
        for prefix in ["idle-", "root/idle-", "a-longer-prefix/of/some/depth/idle-"] {
            let buckets: HashSet<u64> = (0..4096)
                .map(|i| build.hash_one(format!("{prefix}{i}").as_str()) & 4095)
                .collect();
            // Random hashes would fill about 63% of 4096 buckets.
            assert!(buckets.len() > 2400, "{prefix}: {} buckets", buckets.len());
        }
    }
}
