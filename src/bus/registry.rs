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
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::bus::delivery::Consumer;
use crate::bus::{ConsumeError, Message};

/// Identifies one registration, for removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// A registered consumer with its registration id.
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

/// The consumers of one address, for one message type.
pub(crate) struct TypedSlot<M: Message> {
    consumers: RwLock<Arc<[Entry<M>]>>,
    cursor: AtomicUsize,
    pub(crate) counters: AddressCounters,
}

impl<M: Message> TypedSlot<M> {
    /// A snapshot of the consumers.
    pub(crate) fn consumers(&self) -> Arc<[Entry<M>]> {
        self.consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next consumer in round-robin order, if any.
    pub(crate) fn next(&self) -> Option<Arc<dyn Consumer<M>>> {
        let list = self
            .consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match list.len() {
            0 => None,
            1 => Some(list[0].consumer.clone()),
            n => {
                let i = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
                Some(list[i].consumer.clone())
            }
        }
    }
}

/// What the registry needs of a slot without knowing its message type.
trait Slot: Any + Send + Sync {
    fn message_type(&self) -> &'static str;
    /// Removes a registration; returns how many remain.
    fn remove(&self, id: ConsumerId) -> usize;
    fn len(&self) -> usize;
    fn stats(&self) -> AddressStats;
}

impl<M: Message> Slot for TypedSlot<M> {
    fn message_type(&self) -> &'static str {
        type_name::<M>()
    }

    fn remove(&self, id: ConsumerId) -> usize {
        let mut list = self
            .consumers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let kept: Arc<[Entry<M>]> = list.iter().filter(|e| e.id != id).cloned().collect();
        *list = kept;
        list.len()
    }

    fn len(&self) -> usize {
        self.consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn stats(&self) -> AddressStats {
        self.counters.snapshot(self.len())
    }
}

/// A lookup that found the address with another type.
pub(crate) struct WrongType(pub(crate) &'static str);

/// Address names to slots.
#[derive(Default)]
pub(crate) struct Registry {
    slots: RwLock<HashMap<Box<str>, Arc<dyn Slot>>>,
    next_id: AtomicU64,
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
    /// The typed slot of `name`: `Ok(None)` when nobody listens there.
    pub(crate) fn lookup<M: Message>(
        &self,
        name: &str,
    ) -> Result<Option<Arc<TypedSlot<M>>>, WrongType> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = slots.get(name) else {
            return Ok(None);
        };
        let any: Arc<dyn Any + Send + Sync> = slot.clone();
        match any.downcast::<TypedSlot<M>>() {
            Ok(typed) => Ok(Some(typed)),
            Err(_) => Err(WrongType(slot.message_type())),
        }
    }

    /// Adds a consumer at `name`.
    pub(crate) fn register<M: Message>(
        &self,
        name: &str,
        consumer: Arc<dyn Consumer<M>>,
    ) -> Result<ConsumerId, ConsumeError> {
        let id = ConsumerId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.entry(name.into()).or_insert_with(|| {
            Arc::new(TypedSlot::<M> {
                consumers: RwLock::new(Arc::from(Vec::new())),
                cursor: AtomicUsize::new(0),
                counters: AddressCounters::default(),
            })
        });
        let any: Arc<dyn Any + Send + Sync> = slot.clone();
        let Ok(typed) = any.downcast::<TypedSlot<M>>() else {
            return Err(ConsumeError::TypeMismatch {
                address: name.to_owned(),
                registered: slot.message_type(),
                requested: type_name::<M>(),
            });
        };
        let mut list = typed
            .consumers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut grown: Vec<Entry<M>> = list.iter().cloned().collect();
        grown.push(Entry { id, consumer });
        *list = grown.into();
        Ok(id)
    }

    /// Removes a registration; the address disappears with its last consumer.
    pub(crate) fn unregister(&self, name: &str, id: ConsumerId) {
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(name)
            && slot.remove(id) == 0
        {
            slots.remove(name);
        }
    }

    /// Every address with consumers: name, message type, counters; sorted by name.
    pub(crate) fn snapshot(&self) -> Vec<(String, &'static str, AddressStats)> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = slots
            .iter()
            .map(|(name, slot)| (name.to_string(), slot.message_type(), slot.stats()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The counters of `name`, if it has consumers.
    pub(crate) fn stats(&self, name: &str) -> Option<AddressStats> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(name).map(|s| s.stats())
    }

    /// The number of consumers at `name`.
    pub(crate) fn consumer_count(&self, name: &str) -> usize {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        slots.get(name).map_or(0, |s| s.len())
    }
}
