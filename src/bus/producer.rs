//! A sender bound to one address, which keeps its route between sends.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::bus::registry::Route;
use crate::bus::{Address, Bus, Message, PublishError, PublishReport, RequestError, SendError};

/// A sender bound to one address: Vert.x's `MessageProducer`, made by
/// [`Bus::sender`]. It sends, publishes and requests as the [`Bus`] does, with the same semantics,
/// errors and counters, and keeps the address's route between calls: while no consumer
/// anywhere on the bus has registered or left since its last call, a send takes one
/// atomic load to find its consumers, where [`Bus::send`] looks the address up (in a
/// per-thread cache for a `'static` name, else in the registry under its read lock).
/// Use one where a component sends to the same address again and again.
///
/// Its methods take `&mut self`, since the route is its own; a clone starts with the
/// route it was cloned with. While it keeps a route it holds the consumer list it saw
/// last (a reference count), until its next call finds the list changed, or it is
/// dropped.
///
/// # Examples
///
/// ```
/// use reactree::{Address, ChildSpec, Component, Context, Handler, Message, Runtime};
///
/// struct Add(u64);
/// impl Message for Add { type Reply = u64; }
/// const TOTAL: Address<Add> = Address::new("doc.total");
///
/// #[derive(Default)]
/// struct Total(u64);
/// impl Component for Total {
///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), reactree::BoxError> {
///         ctx.consume(&TOTAL)?;
///         Ok(())
///     }
/// }
/// impl Handler<Add> for Total {
///     async fn handle(&mut self, Add(n): Add, _: &mut Context<Self>) -> u64 {
///         self.0 += n;
///         self.0
///     }
/// }
///
/// let runtime = Runtime::builder().reactors(1).build().unwrap();
/// runtime.block_on(async {
///     runtime.deploy(ChildSpec::new("total", Total::default)).await.unwrap();
///     let mut total = runtime.bus().sender(&TOTAL);
///     for n in 1..=3 {
///         total.send(Add(n)).await.unwrap();
///     }
///     assert_eq!(total.request(Add(4)).await.unwrap(), 10);
/// });
/// runtime.shutdown();
/// ```
pub struct Producer<M: Message> {
    bus: Bus,
    address: Address<M>,
    route: Option<Route<M>>,
}

impl Bus {
    /// A [`Producer`] bound to `address`: sends and requests that keep the address's
    /// route between calls. Making one looks nothing up; its first call does.
    pub fn sender<M: Message>(&self, address: &Address<M>) -> Producer<M> {
        Producer {
            bus: self.clone(),
            address: address.clone(),
            route: None,
        }
    }
}

impl<M: Message> Producer<M> {
    /// The address it sends to.
    pub fn address(&self) -> &Address<M> {
        &self.address
    }

    // Each of these returns the bus's future itself, not an `async` block around it: one
    // future less to make, poll and drop per call (as `Bus::send` does).
    /// As [`Bus::send`].
    ///
    /// # Errors
    ///
    /// As [`Bus::send`].
    pub fn send(&mut self, message: M) -> impl Future<Output = Result<(), SendError<M>>> {
        self.bus
            .send_via(&self.address, Some(&mut self.route), message)
    }

    /// As [`Bus::try_send`].
    ///
    /// # Errors
    ///
    /// As [`Bus::try_send`].
    pub fn try_send(&mut self, message: M) -> Result<(), SendError<M>> {
        self.bus
            .try_send_via(&self.address, Some(&mut self.route), message)
    }

    /// As [`Bus::publish`]: every consumer of the address gets a clone.
    ///
    /// # Errors
    ///
    /// As [`Bus::publish`].
    pub fn publish(&mut self, message: M) -> impl Future<Output = Result<usize, PublishError<M>>>
    where
        M: Clone,
    {
        self.bus
            .publish_via(&self.address, Some(&mut self.route), message)
    }

    /// As [`Bus::try_publish`].
    ///
    /// # Errors
    ///
    /// As [`Bus::try_publish`].
    pub fn try_publish(&mut self, message: M) -> Result<PublishReport, PublishError<M>>
    where
        M: Clone,
    {
        self.bus
            .try_publish_via(&self.address, Some(&mut self.route), message)
    }

    /// As [`Bus::request`], within the bus's default timeout.
    ///
    /// # Errors
    ///
    /// As [`Bus::request`].
    pub fn request(
        &mut self,
        message: M,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        let timeout = self.bus.default_timeout();
        self.request_timeout(message, timeout)
    }

    /// As [`Bus::request_timeout`].
    ///
    /// # Errors
    ///
    /// As [`Bus::request`].
    pub fn request_timeout(
        &mut self,
        message: M,
        timeout: Duration,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        self.bus.request_with(
            &self.address,
            Some(&mut self.route),
            message,
            timeout,
            false,
        )
    }

    /// As [`Bus::try_request`].
    ///
    /// # Errors
    ///
    /// As [`Bus::try_request`].
    pub fn try_request(
        &mut self,
        message: M,
    ) -> impl Future<Output = Result<M::Reply, RequestError<M>>> {
        let timeout = self.bus.default_timeout();
        self.bus
            .request_with(&self.address, Some(&mut self.route), message, timeout, true)
    }
}

impl<M: Message> Clone for Producer<M> {
    fn clone(&self) -> Self {
        Self {
            bus: self.bus.clone(),
            address: self.address.clone(),
            route: self.route.clone(),
        }
    }
}

impl<M: Message> fmt::Debug for Producer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("address", &self.address)
            .field("routed", &self.route.is_some())
            .finish()
    }
}
