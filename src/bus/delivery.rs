//! What the bus hands a consumer: the message, its reply slot, its deadline and its
//! correlation id; and the consumer side of the seam between routing and mailboxes.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::bus::{CorrelationId, Message};
use crate::oneshot;

/// One message on its way to one consumer.
pub(crate) struct Delivery<M: Message> {
    pub(crate) message: M,
    pub(crate) reply: Option<oneshot::Sender<M::Reply>>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) correlation: Option<CorrelationId>,
}

impl<M: Message> Delivery<M> {
    /// A one-way message (send or publish).
    pub(crate) fn one_way(message: M) -> Box<Self> {
        Box::new(Self {
            message,
            reply: None,
            deadline: None,
            correlation: None,
        })
    }
}

/// Why a consumer did not take a delivery; the delivery comes back.
pub(crate) enum Refused<M: Message> {
    /// The mailbox is at capacity.
    Full(Box<Delivery<M>>),
    /// The consumer's component has stopped.
    Closed(Box<Delivery<M>>),
}

impl<M: Message> Refused<M> {
    pub(crate) fn into_delivery(self) -> Box<Delivery<M>> {
        match self {
            Self::Full(d) | Self::Closed(d) => d,
        }
    }
}

/// A boxed, `Send` future borrowing the consumer.
pub(crate) type DeliverFuture<'a, M> =
    Pin<Box<dyn Future<Output = Result<(), Refused<M>>> + Send + 'a>>;

/// A registered consumer of messages of type `M`: in practice one component instance's
/// mailbox. Implementations never block.
pub(crate) trait Consumer<M: Message>: Send + Sync {
    /// Enqueues at once or refuses.
    fn try_deliver(&self, delivery: Box<Delivery<M>>) -> Result<(), Refused<M>>;

    /// Waits for room, then enqueues; refuses only with [`Refused::Closed`].
    fn deliver(&self, delivery: Box<Delivery<M>>) -> DeliverFuture<'_, M>;
}
