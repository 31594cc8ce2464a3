//! The event bus: typed string addresses, `publish`, `send` and `request`.
//!
//! Semantics (Vert.x's, with backpressure that holds):
//! - [`publish`](Bus::publish) gives every consumer of the address a clone;
//! - [`send`](Bus::send) gives exactly one consumer the message, round-robin among the
//!   address's consumers;
//! - [`request`](Bus::request) is a send whose future resolves to the reply, or to a typed
//!   error within its timeout.
//!
//! Every mailbox is bounded. The awaiting forms wait for room without blocking a thread;
//! the `try_` forms refuse at once with a full-mailbox error that hands the message back.
//! Handlers always run on the consumer's reactor thread, never on the sender's.

mod call;
mod delivery;
mod error;
mod producer;
mod registry;

pub(crate) use registry::{FastMap, FastSet};

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

pub(crate) use call::{Call, Closed, Replier};
pub(crate) use delivery::{Consumer, DeliverFuture, Parcel, Published, Refused};
pub use error::{ConsumeError, PublishError, RequestError, SendError};
pub use producer::Producer;
pub use registry::AddressStats;
pub(crate) use registry::{AddressCounters, ConsumerId, Registry};

use registry::{Lookup, Route, TypedSlot};

/// A message type of the bus; it declares the type of its reply.
///
/// Messages that are only sent or published usually reply with `()`.
///
/// # Examples
///
/// ```
/// use reactree::Message;
///
/// struct Quote { sku: String }
/// impl Message for Quote {
///     type Reply = Option<u64>;
/// }
/// # let quote = Quote { sku: "apple".into() };
/// # assert_eq!(quote.sku, "apple");
/// ```
pub trait Message: Send + 'static {
    /// What a handler of this message returns to a requester.
    type Reply: Send + 'static;
}

/// A bus address: a string name typed with the message it carries.
///
/// Two `Address` values with the same name refer to the same address; the bus checks at
/// run time that every user of a name agrees on its message type
/// ([`SendError::TypeMismatch`]).
///
/// # Examples
///
/// ```
/// use reactree::{Address, Message};
///
/// struct Ping;
/// impl Message for Ping { type Reply = &'static str; }
///
/// const PING: Address<Ping> = Address::new("demo.ping");
/// assert_eq!(PING.name(), "demo.ping");
/// let dynamic: Address<Ping> = Address::from_string(format!("demo.{}", "ping"));
/// assert_eq!(dynamic, PING);
/// ```
pub struct Address<M> {
    name: Cow<'static, str>,
    _message: PhantomData<fn(M) -> M>,
}

impl<M> Address<M> {
    /// An address with a static name, usable in a `const`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name: Cow::Borrowed(name),
            _message: PhantomData,
        }
    }

    /// An address with a name built at run time.
    pub fn from_string(name: impl Into<String>) -> Self {
        Self {
            name: Cow::Owned(name.into()),
            _message: PhantomData,
        }
    }

    /// The address's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the name is `'static` (from [`new`](Self::new)), so its address in memory
    /// identifies it.
    pub(crate) fn is_static(&self) -> bool {
        matches!(self.name, Cow::Borrowed(_))
    }
}

impl<M> Clone for Address<M> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Address<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Address").field(&self.name).finish()
    }
}

impl<M> fmt::Display for Address<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl<M> PartialEq for Address<M> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl<M> Eq for Address<M> {}

impl<M> Hash for Address<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// The id every request carries, unique within a runtime; a handler reads it with
/// [`Context::correlation_id`](crate::Context::correlation_id), and the `bus.handle`
/// tracing span records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(NonZeroU64);

impl CorrelationId {
    /// A fresh id, unique in the process: the calling thread's number in the high 24
    /// bits, a count of that thread's requests in the low 40. No shared counter is
    /// written, so threads issuing requests never contend for one cache line.
    fn next() -> Self {
        static THREADS: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static NEXT: std::cell::Cell<u64> = std::cell::Cell::new(
                THREADS.fetch_add(1, Ordering::Relaxed) << 40,
            );
        }
        NEXT.with(|next| {
            let id = next.get();
            // Past 2^40 requests on one thread, take a fresh thread number.
            next.set(if (id + 1) & ((1 << 40) - 1) == 0 {
                THREADS.fetch_add(1, Ordering::Relaxed) << 40
            } else {
                id + 1
            });
            // Thread numbers start at 1, so an id is 0 only once 2^24 of them have
            // been taken: that one id is skipped.
            Self(NonZeroU64::new(id).unwrap_or(NonZeroU64::MAX))
        })
    }

    /// The numeric value.
    pub const fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a [`try_publish`](Bus::try_publish) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PublishReport {
    /// Consumers that got a copy.
    pub delivered: usize,
    /// Consumers whose mailbox was full; each refusal is counted on the address.
    pub refused: usize,
}

/// The handle to a runtime's event bus: `Clone + Send + Sync`, usable from any thread
/// and from any component.
///
/// # Examples
///
/// ```
/// use reactree::{Address, Bus, Message, Runtime};
///
/// struct Hello;
/// impl Message for Hello { type Reply = (); }
///
/// let runtime = Runtime::builder().reactors(1).build()?;
/// let bus: Bus = runtime.bus().clone();
/// // Nobody listens yet: the message comes back inside the error.
/// let refused = bus.try_send(&Address::<Hello>::new("nobody"), Hello).unwrap_err();
/// let _hello: Hello = refused.into_inner();
/// # Ok::<(), reactree::BuildError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Bus {
    inner: Arc<BusInner>,
}

#[derive(Debug)]
struct BusInner {
    registry: Registry,
    default_timeout: Duration,
}

fn _assert_bus_is_send_sync() {
    fn is<T: Send + Sync + Clone + 'static>() {}
    is::<Bus>();
}

/// A published message's copy for one consumer: its own, or the shared one.
enum Copies<M: Message> {
    /// Its own clone, kept in place in its envelope.
    Own(M),
    /// The one copy all consumers share.
    Shared(Arc<Published<M>>),
}

/// Hands out the copies of one published message, one per consumer in turn.
///
/// A message small enough to be kept in place in an envelope (see
/// [`kept_in_place`](crate::component::kept_in_place)) is cloned here, one clone per
/// consumer but the last, which gets the message itself: nothing is allocated, and
/// consumers on other reactors share nothing with each other. A larger one is stored
/// once for all of them, and each consumer clones it as its handler starts. So is a
/// small one whose `Clone` panics here: the panic is caught, and the consumers left
/// share the message, so the `Clone` fails their handlers, not the publisher.
struct CopyMaker<M: Message> {
    /// The message itself, while it is handed out by cloning.
    message: Option<M>,
    /// The shared copy, once there is one.
    shared: Option<Arc<Published<M>>>,
    /// Copies still to hand out.
    left: usize,
}

impl<M: Message + Clone> CopyMaker<M> {
    /// The copies of `message` for `consumers` consumers.
    fn new(message: M, consumers: usize) -> Self {
        let (message, shared) = if crate::component::kept_in_place::<M>() {
            (Some(message), None)
        } else {
            (None, Some(Published::new(message)))
        };
        Self {
            message,
            shared,
            left: consumers,
        }
    }

    /// The next consumer's copy; `None` once every consumer has had one.
    fn next(&mut self) -> Option<Copies<M>> {
        self.left = self.left.checked_sub(1)?;
        if let Some(shared) = &self.shared {
            return Some(Copies::Shared(Arc::clone(shared)));
        }
        let message = self.message.as_ref()?;
        if self.left == 0 {
            return self.message.take().map(Copies::Own);
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| message.clone())) {
            Ok(copy) => Some(Copies::Own(copy)),
            Err(_) => {
                let shared = Published::new(self.message.take()?);
                self.shared = Some(Arc::clone(&shared));
                Some(Copies::Shared(shared))
            }
        }
    }
}

/// What offering a delivery to an address's next consumer did. `W` is what the
/// consumer's taking hands back: nothing for a message (its receiver is woken), the
/// receiver's waker for a request (see [`Bus::request_with`]).
enum Offer<M: Message, W = ()> {
    /// The mailbox took it.
    Taken(W),
    /// The mailbox is full: the delivery waits for room at this consumer.
    Full(Arc<dyn Consumer<M>>, Parcel<M>),
    /// The consumer's mailbox is closed (its instance is ending).
    Closed(Parcel<M>),
}

/// Offers `entry`'s consumer the next of a publication's `copies`, counting it in
/// `report`; a full mailbox goes to `full` with its copy. Always inlined into the publish
/// loop: as a call of its own it made a delivery some 30 instructions longer, and the
/// inliner's choice moved with unrelated changes.
#[inline(always)]
fn offer_copy<M: Message + Clone>(
    entry: &registry::Entry<M>,
    copies: &mut CopyMaker<M>,
    report: &mut PublishReport,
    counters: &AddressCounters,
    full: &mut impl FnMut(&AddressCounters, &Arc<dyn Consumer<M>>, Copies<M>),
) {
    let taken = match copies.next() {
        Some(Copies::Own(copy)) => entry
            .consumer
            .try_deliver(Parcel::Message(copy))
            .map_err(|refused| refused.map(|p| Copies::Own(p.into_message()))),
        Some(Copies::Shared(shared)) => entry
            .consumer
            .try_deliver_published(shared)
            .map_err(|refused| refused.map(Copies::Shared)),
        None => return,
    };
    match taken {
        Ok(()) => report.delivered += 1,
        Err(Refused::Full(copy)) => {
            report.refused += 1;
            full(counters, &entry.consumer, copy);
        }
        Err(Refused::Closed(_)) => {}
    }
}

/// What [`Bus::offer`] found: the offer, as `T` took it, and what its count returned.
type Offered<M, T, K> = (Offer<M, <T as Take<M>>::Taken>, K);

/// How a delivery is offered to a consumer.
trait Take<M: Message> {
    /// What taking it hands back.
    type Taken;
    fn take(
        consumer: &dyn Consumer<M>,
        parcel: Parcel<M>,
    ) -> Result<Self::Taken, Refused<Parcel<M>>>;
}

/// A one-way message: the receiver is woken.
struct TakeMessage;

impl<M: Message> Take<M> for TakeMessage {
    type Taken = ();

    #[inline(always)]
    fn take(consumer: &dyn Consumer<M>, parcel: Parcel<M>) -> Result<(), Refused<Parcel<M>>> {
        consumer.try_deliver(parcel)
    }
}

/// A request: the waker of a receiver waiting for work comes back, for the requester to
/// hand the request over once out of the registry.
struct TakeRequest;

impl<M: Message> Take<M> for TakeRequest {
    type Taken = Option<Waker>;

    #[inline(always)]
    fn take(
        consumer: &dyn Consumer<M>,
        parcel: Parcel<M>,
    ) -> Result<Option<Waker>, Refused<Parcel<M>>> {
        match parcel {
            Parcel::Request(call) => consumer.try_deliver_request(call),
            message @ Parcel::Message(_) => consumer.try_deliver(message).map(|()| None),
        }
    }
}

/// Offers `parcel` to the consumer of `slot` whose turn it is, as `T` takes it; `count`
/// sees the outcome.
#[inline]
fn deliver<M: Message, T: Take<M>, K>(
    slot: &TypedSlot<M>,
    parcel: Parcel<M>,
    count: impl FnOnce(&Arc<AddressCounters>, &Offer<M, T::Taken>) -> K,
) -> (Offer<M, T::Taken>, K) {
    // A slot in the table has a consumer (the registry's invariant).
    let offer = match slot.next() {
        None => Offer::Closed(parcel),
        Some(consumer) => match T::take(&**consumer, parcel) {
            Ok(taken) => Offer::Taken(taken),
            Err(Refused::Full(d)) => Offer::Full(consumer.clone(), d),
            Err(Refused::Closed(d)) => Offer::Closed(d),
        },
    };
    let counted = count(&slot.counters, &offer);
    (offer, counted)
}

impl Bus {
    pub(crate) fn new(default_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(BusInner {
                registry: Registry::default(),
                default_timeout,
            }),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The timeout of [`request`](Bus::request) when none is given.
    pub fn default_timeout(&self) -> Duration {
        self.inner.default_timeout
    }

    /// The counters of `address`: consumers, sent, published, requested, replied, timed
    /// out and refused; `None` while it has no consumers.
    pub fn stats<M: Message>(&self, address: &Address<M>) -> Option<AddressStats> {
        self.inner.registry.stats(address.name())
    }

    /// How many consumers are registered at `address`.
    pub fn consumers<M: Message>(&self, address: &Address<M>) -> usize {
        self.inner.registry.consumer_count(address.name())
    }

    /// Offers `parcel` to the next consumer of `address` (round-robin) without
    /// waiting, under the registry's read lock; `count` sees the slot and the outcome,
    /// and what it returns comes back beside the outcome.
    ///
    /// The address is looked up through `route` when the caller keeps one (a
    /// [`Producer`]), else through the registry (and its per-thread cache).
    #[inline(always)]
    fn offer<M: Message, T: Take<M>, K>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        parcel: Parcel<M>,
        count: impl FnOnce(&Arc<AddressCounters>, &Offer<M, T::Taken>) -> K,
    ) -> Result<Offered<M, T, K>, SendError<M>> {
        let found = self.inner.registry.find(
            route,
            address.name(),
            address.is_static(),
            parcel,
            |slot, parcel| deliver::<M, T, K>(slot, parcel, count),
        );
        match found {
            Lookup::Found(found) => Ok(found),
            Lookup::Missing(d) => Err(SendError::NoHandlers(d.into_message())),
            Lookup::WrongType(d, registered) => Err(SendError::TypeMismatch {
                message: d.into_message(),
                registered,
            }),
        }
    }

    /// [`offer`](Self::offer) of a one-way message, `count` seeing the outcome.
    #[inline(always)]
    fn offer_message<M: Message>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
        count: impl FnOnce(&Arc<AddressCounters>, &Offer<M>),
    ) -> Result<Offer<M>, SendError<M>> {
        let (offer, ()) =
            self.offer::<M, TakeMessage, ()>(address, route, Parcel::Message(message), count)?;
        Ok(offer)
    }

    /// Sends `message` to one consumer of `address` (round-robin), waiting for room in
    /// its mailbox without blocking the thread.
    ///
    /// # Errors
    ///
    /// [`SendError::NoHandlers`] or [`SendError::TypeMismatch`], with the message.
    ///
    /// # Examples
    ///
    /// ```
    /// # use reactree::{Address, Message, Runtime};
    /// # struct Tick; impl Message for Tick { type Reply = (); }
    /// # let runtime = Runtime::builder().reactors(1).build().unwrap();
    /// let result = runtime.block_on(runtime.bus().send(&Address::<Tick>::new("t"), Tick));
    /// assert!(matches!(result, Err(reactree::SendError::NoHandlers(_))));
    /// ```
    pub fn send<M: Message>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> impl Future<Output = Result<(), SendError<M>>> {
        // The inner future itself, not an `async` block around it: one future less to
        // make, poll and drop per send.
        self.send_via(address, None, message)
    }

    async fn send_via<M: Message>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
    ) -> Result<(), SendError<M>> {
        let offer = self.offer_message(address, route, message, |counters, _| {
            AddressCounters::bump(&counters.sent);
        })?;
        let delivered = match offer {
            Offer::Taken(()) => return Ok(()),
            Offer::Full(consumer, d) => consumer.deliver(d).await,
            Offer::Closed(d) => Err(Refused::Closed(d)),
        };
        delivered.map_err(|r| SendError::NoHandlers(r.into_delivery().into_message()))
    }

    /// Sends `message` to one consumer of `address` (round-robin) if its mailbox has
    /// room now.
    ///
    /// # Errors
    ///
    /// [`SendError::Full`] when the mailbox is full (counted as refused on the address),
    /// [`SendError::NoHandlers`] or [`SendError::TypeMismatch`]; each hands the message
    /// back.
    pub fn try_send<M: Message>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> Result<(), SendError<M>> {
        self.try_send_via(address, None, message)
    }

    fn try_send_via<M: Message>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
    ) -> Result<(), SendError<M>> {
        let offer = self.offer_message(address, route, message, |counters, offer| match offer {
            Offer::Taken(()) => AddressCounters::bump(&counters.sent),
            Offer::Full(..) => AddressCounters::bump(&counters.refused),
            Offer::Closed(_) => {}
        })?;
        match offer {
            Offer::Taken(()) => Ok(()),
            Offer::Full(_, d) => Err(SendError::Full(d.into_message())),
            Offer::Closed(d) => Err(SendError::NoHandlers(d.into_message())),
        }
    }

    /// Offers `message` to every consumer of `address` under the registry's read lock,
    /// without waiting. Full mailboxes are handed to `full` with that consumer's copy.
    /// The address is looked up through `route` when the caller keeps one (a
    /// [`Producer`]), else through the registry.
    fn fan_out<M: Message + Clone>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
        mut full: impl FnMut(&AddressCounters, &Arc<dyn Consumer<M>>, Copies<M>),
    ) -> Result<PublishReport, PublishError<M>> {
        let publish = |slot: &TypedSlot<M>, message| {
            let consumers = slot.consumers();
            if consumers.is_empty() {
                return Err(message);
            }
            AddressCounters::bump(&slot.counters.published);
            let mut report = PublishReport::default();
            let mut copies = CopyMaker::new(message, consumers.len());
            let counters = &slot.counters;
            // A plain loop over each leaf (at most 32 consumers); most addresses have
            // one leaf.
            match consumers.as_slice() {
                Some(all) => {
                    for entry in all {
                        offer_copy(entry, &mut copies, &mut report, counters, &mut full);
                    }
                }
                None => {
                    for entry in consumers.leaves().flatten() {
                        offer_copy(entry, &mut copies, &mut report, counters, &mut full);
                    }
                }
            }
            Ok(report)
        };
        let found =
            self.inner
                .registry
                .find(route, address.name(), address.is_static(), message, publish);
        match found {
            Lookup::Found(Ok(report)) => Ok(report),
            Lookup::Found(Err(message)) | Lookup::Missing(message) => {
                Err(PublishError::NoHandlers(message))
            }
            Lookup::WrongType(message, registered) => Err(PublishError::TypeMismatch {
                message,
                registered,
            }),
        }
    }

    /// Gives every consumer of `address` a clone of `message`, waiting for room in each
    /// full mailbox in turn. Resolves to the number of consumers reached.
    ///
    /// # Errors
    ///
    /// [`PublishError::NoHandlers`] or [`PublishError::TypeMismatch`], with the message.
    pub fn publish<M: Message + Clone>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> impl Future<Output = Result<usize, PublishError<M>>> {
        self.publish_via(address, None, message)
    }

    async fn publish_via<M: Message + Clone>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
    ) -> Result<usize, PublishError<M>> {
        let mut waiting = Vec::new();
        let report = self.fan_out(address, route, message, |_, consumer, published| {
            waiting.push((consumer.clone(), published));
        })?;
        let mut delivered = report.delivered;
        for (consumer, copy) in waiting {
            let taken = match copy {
                Copies::Own(message) => consumer.deliver(Parcel::Message(message)).await.is_ok(),
                Copies::Shared(published) => consumer.deliver_published(published).await.is_ok(),
            };
            delivered += usize::from(taken);
        }
        Ok(delivered)
    }

    /// Gives every consumer of `address` whose mailbox has room a clone of `message`;
    /// full mailboxes are skipped, reported, and counted as refused on the address.
    ///
    /// # Errors
    ///
    /// [`PublishError::NoHandlers`] or [`PublishError::TypeMismatch`], with the message.
    pub fn try_publish<M: Message + Clone>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> Result<PublishReport, PublishError<M>> {
        self.try_publish_via(address, None, message)
    }

    fn try_publish_via<M: Message + Clone>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
    ) -> Result<PublishReport, PublishError<M>> {
        self.fan_out(address, route, message, |counters, _, _| {
            AddressCounters::bump(&counters.refused);
        })
    }

    /// Sends `message` to one consumer of `address` and resolves to its reply, within the
    /// bus's default timeout. Waiting for mailbox room counts against the timeout.
    ///
    /// # Errors
    ///
    /// [`RequestError::NoHandlers`] or [`RequestError::TypeMismatch`] at once, with the
    /// message; [`RequestError::Timeout`]; [`RequestError::RecipientFailure`] when the
    /// handler panicked or its component stopped before replying.
    pub fn request<M: Message>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        self.request_with(address, None, message, self.inner.default_timeout, false)
    }

    /// [`request`](Bus::request) with its own timeout.
    ///
    /// # Errors
    ///
    /// As [`request`](Bus::request).
    pub fn request_timeout<M: Message>(
        &self,
        address: &Address<M>,
        message: M,
        timeout: Duration,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        self.request_with(address, None, message, timeout, false)
    }

    /// [`request`](Bus::request) that fails at once with [`RequestError::Full`] (handing
    /// the message back) when the consumer's mailbox is full, instead of waiting for room.
    ///
    /// # Errors
    ///
    /// As [`request`](Bus::request), plus [`RequestError::Full`].
    pub fn try_request<M: Message>(
        &self,
        address: &Address<M>,
        message: M,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        self.request_with(address, None, message, self.inner.default_timeout, true)
    }

    async fn request_with<M: Message>(
        &self,
        address: &Address<M>,
        route: Option<&mut Option<Route<M>>>,
        message: M,
        timeout: Duration,
        at_once: bool,
    ) -> Result<M::Reply, RequestError<M>> {
        let deadline = crate::rt::from_now(timeout);
        let correlation = CorrelationId::next();
        tracing::trace!(
            address = address.name(),
            correlation_id = correlation.0,
            "bus.request"
        );
        let (call, mut answer) = call::call(message, deadline, correlation);
        let delivery = Parcel::Request(call);
        let (offer, counters) = self
            .offer::<M, TakeRequest, _>(address, route, delivery, |counters, offer| {
                if at_once && matches!(offer, Offer::Full(..)) {
                    AddressCounters::bump(&counters.refused);
                }
                Arc::clone(counters)
            })
            .map_err(RequestError::from_send)?;
        match offer {
            // A consumer waiting for work on this reactor handles the request now, inside
            // this poll: its reply is then there at the first look below.
            Offer::Taken(Some(woken)) => crate::reactor::hand_over(&woken),
            Offer::Taken(None) => {}
            Offer::Full(_, d) if at_once => return Err(RequestError::Full(d.into_message())),
            Offer::Full(consumer, d) => {
                match crate::rt::deadline(deadline, consumer.deliver(d)).await {
                    Some(Ok(())) => {}
                    Some(Err(r)) => {
                        return Err(RequestError::NoHandlers(r.into_delivery().into_message()));
                    }
                    None => {
                        AddressCounters::bump(&counters.timed_out);
                        return Err(RequestError::Timeout(timeout));
                    }
                }
            }
            Offer::Closed(d) => return Err(RequestError::NoHandlers(d.into_message())),
        }
        AddressCounters::bump(&counters.requested);
        let mut outcome = answer.try_take();
        if outcome.is_none() {
            // A consumer on this reactor not handed the request at once usually replies
            // within one turn of the executor: yield once and look, before paying for a
            // deadline entry and a waker.
            futures_lite::future::yield_now().await;
            outcome = answer.try_take();
        }
        let outcome = match outcome {
            Some(outcome) => Some(outcome),
            None => crate::rt::deadline(deadline, answer).await,
        };
        match outcome {
            Some(Ok(reply)) => {
                AddressCounters::bump(&counters.replied);
                Ok(reply)
            }
            // Closed past the deadline: shed unhandled as expired (the consumer's check
            // can come before this side's timer), or failed after it. Either way no reply
            // came within the timeout, and that is the error asked about.
            Some(Err(Closed)) if Instant::now() < deadline => Err(RequestError::RecipientFailure),
            Some(Err(Closed)) | None => {
                AddressCounters::bump(&counters.timed_out);
                Err(RequestError::Timeout(timeout))
            }
        }
    }
}
