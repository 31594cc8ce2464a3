//! A typed message for a component's mailbox, and the consumer that puts it there.
//!
//! A sent or requested message is one allocation carrying the message, its reply slot
//! and its deadline; a published one is one allocation shared by all its consumers. The
//! handler's future runs in a block its reactor reuses (see [`pooled`](super::pooled)).

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::bus::{Consumer, CorrelationId, DeliverFuture, Delivery, Message, Published, Refused};
use crate::component::pooled::HandlerFuture;
use crate::component::{Handler, mailbox};
use crate::oneshot;
use crate::{Component, Context};

/// A message waiting in the mailbox of a component of type `C`.
pub(crate) enum Envelope<C: Component> {
    /// Sent or requested: this consumer's own delivery.
    Owned(Box<dyn Dispatch<C> + Send>),
    /// Published: shared with the message's other consumers.
    Shared(Arc<dyn DispatchShared<C> + Send + Sync>),
}

impl<C: Component> Envelope<C> {
    /// The handler's future, or `None` when the message expired (see [`Dispatch`]).
    pub(crate) fn dispatch<'a>(
        self,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
    ) -> Option<HandlerFuture<'a>> {
        match self {
            Self::Owned(owned) => owned.dispatch(component, ctx),
            Self::Shared(shared) => Some(shared.dispatch(component, ctx)),
        }
    }
}

/// Type-erased handling of one message by a component of type `C`.
pub(crate) trait Dispatch<C: Component> {
    /// The handler's future, or `None` when nobody waits for the result any more (the
    /// request's deadline passed or its requester gave up): expired work is shed.
    fn dispatch<'a>(
        self: Box<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
    ) -> Option<HandlerFuture<'a>>;

    /// The envelope as `Any`, to hand a refused message back to its sender.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// Type-erased handling of a published message by a component of type `C`.
pub(crate) trait DispatchShared<C: Component> {
    /// The handler's future, on this consumer's copy of the message.
    fn dispatch<'a>(
        self: Arc<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
    ) -> HandlerFuture<'a>;

    /// The message as `Any`, to hand a refused one back to its publisher.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<C: Handler<M>, M: Message> DispatchShared<C> for Published<M> {
    fn dispatch<'a>(
        self: Arc<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
    ) -> HandlerFuture<'a> {
        handler_future(component, ctx, self.take(), None, None)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

// A boxed `Delivery` is the envelope itself: the bus boxes it once, before routing, so
// routing moves a pointer, and the mailbox takes the same allocation.
impl<M: Message> Delivery<M> {
    fn expired(&self) -> bool {
        match (&self.reply, self.deadline) {
            (Some(reply), _) if reply.is_abandoned() => true,
            (_, Some(deadline)) => Instant::now() >= deadline,
            _ => false,
        }
    }
}

impl<C: Handler<M>, M: Message> Dispatch<C> for Delivery<M> {
    fn dispatch<'a>(
        self: Box<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
    ) -> Option<HandlerFuture<'a>> {
        if self.expired() {
            return None;
        }
        let Delivery {
            message,
            reply,
            correlation,
            ..
        } = *self;
        Some(handler_future(component, ctx, message, reply, correlation))
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The type-erased future that runs `component`'s handler on `message` in a `bus.handle` span
/// and sends the answer to `reply`, if any.
fn handler_future<'a, C: Handler<M>, M: Message>(
    component: &'a mut C,
    ctx: &'a mut Context<C>,
    message: M,
    reply: Option<oneshot::Sender<M::Reply>>,
    correlation: Option<CorrelationId>,
) -> HandlerFuture<'a> {
    ctx.set_correlation(correlation);
    let span = tracing::trace_span!(
        "bus.handle",
        component = %ctx.name(),
        correlation_id = correlation.map(|c| c.get()),
    );
    let handling = async move {
        let answer = component.handle(message, ctx).await;
        ctx.set_correlation(None);
        if let Some(reply) = reply {
            // A requester that gave up discards the late reply here.
            let _ = reply.send(answer);
        }
    };
    // Without a subscriber for the span, its enter and exit on every poll are skipped.
    if span.is_disabled() {
        HandlerFuture::new(handling)
    } else {
        HandlerFuture::new(handling.instrument(span))
    }
}

/// Recovers the delivery from an envelope that the mailbox refused.
fn recover<C: Component, M: Message>(envelope: Envelope<C>) -> Box<Delivery<M>> {
    match envelope {
        Envelope::Owned(owned) => match owned.into_any().downcast::<Delivery<M>>() {
            Ok(delivery) => delivery,
            Err(_) => unreachable!("a consumer only builds envelopes of its own message type"),
        },
        Envelope::Shared(_) => unreachable!("a delivery is sent as an owned envelope"),
    }
}

/// Recovers the published message from an envelope that the mailbox refused.
fn recover_published<C: Component, M: Message>(envelope: Envelope<C>) -> Arc<Published<M>> {
    match envelope {
        Envelope::Shared(shared) => match shared.into_any().downcast::<Published<M>>() {
            Ok(published) => published,
            Err(_) => unreachable!("a consumer only builds envelopes of its own message type"),
        },
        Envelope::Owned(_) => unreachable!("a published message is sent as a shared envelope"),
    }
}

/// The consumer of a component instance: its mailbox's sending side.
pub(crate) struct MailboxConsumer<C: Component> {
    mailbox: mailbox::Sender<Envelope<C>>,
}

impl<C: Component> MailboxConsumer<C> {
    pub(crate) fn new(mailbox: mailbox::Sender<Envelope<C>>) -> Self {
        Self { mailbox }
    }

    /// Enqueues `envelope` at once, or hands back what `recover` takes out of it.
    fn try_put<D>(
        &self,
        envelope: Envelope<C>,
        recover: fn(Envelope<C>) -> D,
    ) -> Result<(), Refused<D>> {
        match self.mailbox.try_send(envelope) {
            Ok(()) => Ok(()),
            Err(mailbox::SendError::Full(env)) => Err(Refused::Full(recover(env))),
            Err(mailbox::SendError::Closed(env)) => Err(Refused::Closed(recover(env))),
        }
    }

    /// Waits for room and enqueues `envelope`; refused only once the mailbox is closed.
    fn put<D: Send + 'static>(
        &self,
        envelope: Envelope<C>,
        recover: fn(Envelope<C>) -> D,
    ) -> DeliverFuture<'_, D> {
        Box::pin(async move {
            match self.mailbox.send(envelope).await {
                Ok(()) => Ok(()),
                Err(mailbox::SendError::Full(env) | mailbox::SendError::Closed(env)) => {
                    Err(Refused::Closed(recover(env)))
                }
            }
        })
    }
}

impl<C: Handler<M>, M: Message> Consumer<M> for MailboxConsumer<C> {
    fn try_deliver(&self, delivery: Box<Delivery<M>>) -> Result<(), Refused<Box<Delivery<M>>>> {
        self.try_put(Envelope::Owned(delivery), recover)
    }

    fn deliver(&self, delivery: Box<Delivery<M>>) -> DeliverFuture<'_, Box<Delivery<M>>> {
        self.put(Envelope::Owned(delivery), recover)
    }

    fn try_deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> Result<(), Refused<Arc<Published<M>>>> {
        self.try_put(Envelope::Shared(published), recover_published)
    }

    fn deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> DeliverFuture<'_, Arc<Published<M>>> {
        self.put(Envelope::Shared(published), recover_published)
    }
}
