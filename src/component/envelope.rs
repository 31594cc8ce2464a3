//! A typed message for a component's mailbox, and the consumer that puts it there.
//!
//! A sent or requested message is one allocation carrying the message, its reply slot
//! and its deadline; a published one is one allocation shared by all its consumers. A
//! second allocation holds the handler's future while it runs.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::bus::{Consumer, DeliverFuture, Delivery, Message, Published, Refused};
use crate::component::{Handler, mailbox};
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

/// A running handler.
pub(crate) type HandlerFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

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
        let message = self.take();
        ctx.set_correlation(None);
        let span = tracing::trace_span!("bus.handle", component = %ctx.name());
        let handling = async move {
            let _reply = component.handle(message, ctx).await;
        };
        if span.is_disabled() {
            Box::pin(handling)
        } else {
            Box::pin(handling.instrument(span))
        }
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
            Some(Box::pin(handling))
        } else {
            Some(Box::pin(handling.instrument(span)))
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
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
}

impl<C: Handler<M>, M: Message> Consumer<M> for MailboxConsumer<C> {
    fn try_deliver(&self, delivery: Box<Delivery<M>>) -> Result<(), Refused<Box<Delivery<M>>>> {
        match self.mailbox.try_send(Envelope::Owned(delivery)) {
            Ok(()) => Ok(()),
            Err(mailbox::SendError::Full(env)) => Err(Refused::Full(recover(env))),
            Err(mailbox::SendError::Closed(env)) => Err(Refused::Closed(recover(env))),
        }
    }

    fn deliver(&self, delivery: Box<Delivery<M>>) -> DeliverFuture<'_, Box<Delivery<M>>> {
        Box::pin(async move {
            match self.mailbox.send(Envelope::Owned(delivery)).await {
                Ok(()) => Ok(()),
                Err(mailbox::SendError::Full(env) | mailbox::SendError::Closed(env)) => {
                    Err(Refused::Closed(recover(env)))
                }
            }
        })
    }

    fn try_deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> Result<(), Refused<Arc<Published<M>>>> {
        match self.mailbox.try_send(Envelope::Shared(published)) {
            Ok(()) => Ok(()),
            Err(mailbox::SendError::Full(env)) => Err(Refused::Full(recover_published(env))),
            Err(mailbox::SendError::Closed(env)) => Err(Refused::Closed(recover_published(env))),
        }
    }

    fn deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> DeliverFuture<'_, Arc<Published<M>>> {
        Box::pin(async move {
            match self.mailbox.send(Envelope::Shared(published)).await {
                Ok(()) => Ok(()),
                Err(mailbox::SendError::Full(env) | mailbox::SendError::Closed(env)) => {
                    Err(Refused::Closed(recover_published(env)))
                }
            }
        })
    }
}
