//! A typed message for a component's mailbox, and the consumer that puts it there.
//!
//! A sent message is kept in its envelope itself, in the mailbox's queue, when it fits
//! (see [`erased`](super::erased)): no allocation. So is each consumer's clone of a small
//! published message. A requested one, with its reply slot, deadline and correlation id,
//! is one allocation made by its requester (see [`Call`]), and its pointer is kept in
//! the envelope. A larger published one is one allocation shared by all its consumers.
//! The handler's future runs in a block its reactor reuses (see [`pooled`](super::pooled)).

use std::any::Any;
use std::sync::Arc;
use std::task::{self, Waker};
use std::time::Instant;

use tracing::Instrument;

use crate::bus::{Call, Consumer, DeliverFuture, Message, Parcel, Published, Refused, Replier};
use crate::component::erased::{Erased, Table};
use crate::component::pooled::PooledFuture;
use crate::component::{Handler, mailbox};
use crate::{Component, Context};

/// A message waiting in the mailbox of a component of type `C`.
pub(crate) enum Envelope<C: Component> {
    /// Sent, requested, or a small published message's copy: this consumer's own.
    Owned(Erased<Sent<C>>),
    /// A larger published message: shared with its other consumers.
    Shared(Arc<dyn DispatchShared<C> + Send + Sync>),
}

/// What came of a message's dispatch.
pub(crate) enum Dispatched<'a> {
    /// Its handler finished in its first poll (most do).
    Done,
    /// Its handler is still running: poll this on until it is done.
    Running(PooledFuture<'a>),
    /// Nobody waits for the result any more (see [`Sent`]): shed, its handler not run.
    Expired,
}

impl<C: Component> Envelope<C> {
    /// Runs the message's handler as far as its first poll, with `cx`'s waker: the
    /// poll goes through the future's own type, and a handler that finishes in it
    /// leaves nothing to poll or drop through the erased one.
    #[inline]
    pub(crate) fn dispatch<'a>(
        self,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
        cx: &mut task::Context<'_>,
    ) -> Dispatched<'a> {
        match self {
            Self::Owned(owned) => (owned.op().dispatch)(owned, component, ctx, cx),
            Self::Shared(shared) => shared.dispatch(component, ctx, cx),
        }
    }

    /// A sent or requested message's envelope: a sent message kept in place when it
    /// fits (else boxed), or a request's [`Call`], a pointer to its one allocation.
    fn sent<M: Message>(parcel: Parcel<M>) -> Self
    where
        C: Handler<M>,
    {
        match parcel {
            Parcel::Message(message) => {
                let table = const {
                    &Table::<_, M>::of(Sent {
                        dispatch: dispatch_message::<C, M>,
                    })
                };
                Self::Owned(Erased::new(message, table))
            }
            Parcel::Request(call) => {
                let table = const {
                    &Table::<_, Call<M>>::of(Sent {
                        dispatch: dispatch_request::<C, M>,
                    })
                };
                Self::Owned(Erased::new(call, table))
            }
        }
    }
}

/// The handling of a sent or requested message by a component of type `C`: the
/// operation of its envelope's table.
pub(crate) struct Sent<C: Component> {
    /// Runs the handler as far as its first poll; [`Dispatched::Expired`] when nobody
    /// waits for the result any more (the request's deadline passed or its requester
    /// gave up): expired work is shed.
    dispatch: Dispatch<C>,
}

/// See [`Sent::dispatch`].
type Dispatch<C> = for<'a, 'b, 'c> fn(
    Erased<Sent<C>>,
    &'a mut C,
    &'a mut Context<C>,
    &'b mut task::Context<'c>,
) -> Dispatched<'a>;

fn dispatch_message<'a, C: Handler<M>, M: Message>(
    owned: Erased<Sent<C>>,
    component: &'a mut C,
    ctx: &'a mut Context<C>,
    cx: &mut task::Context<'_>,
) -> Dispatched<'a> {
    let Ok(message) = owned.take::<M>() else {
        unreachable!("an envelope's operation is its message type's")
    };
    run_handler(component, ctx, message, None, cx)
}

fn dispatch_request<'a, C: Handler<M>, M: Message>(
    owned: Erased<Sent<C>>,
    component: &'a mut C,
    ctx: &'a mut Context<C>,
    cx: &mut task::Context<'_>,
) -> Dispatched<'a> {
    let Ok(call) = owned.take::<Call<M>>() else {
        unreachable!("an envelope's operation is its message type's")
    };
    // Nobody waits for the reply any more: the requester gave up, or the deadline
    // passed. Dropping the call closes it.
    if call.is_abandoned() || Instant::now() >= call.deadline() {
        return Dispatched::Expired;
    }
    let (message, replier) = call.into_parts();
    run_handler(component, ctx, message, Some(replier), cx)
}

/// Type-erased handling of a published message by a component of type `C`.
pub(crate) trait DispatchShared<C: Component> {
    /// Runs the handler on this consumer's copy of the message, as far as its first
    /// poll (see [`Envelope::dispatch`]).
    fn dispatch<'a>(
        self: Arc<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
        cx: &mut task::Context<'_>,
    ) -> Dispatched<'a>;

    /// The message as `Any`, to hand a refused one back to its publisher.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<C: Handler<M>, M: Message> DispatchShared<C> for Published<M> {
    fn dispatch<'a>(
        self: Arc<Self>,
        component: &'a mut C,
        ctx: &'a mut Context<C>,
        cx: &mut task::Context<'_>,
    ) -> Dispatched<'a> {
        run_handler(component, ctx, self.take(), None, cx)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Runs `component`'s handler on `message` in a `bus.handle` span, as far as its first
/// poll, and sends the answer to `reply`, if any, once there is one.
#[inline(always)]
fn run_handler<'a, C: Handler<M>, M: Message>(
    component: &'a mut C,
    ctx: &'a mut Context<C>,
    message: M,
    reply: Option<Replier<M>>,
    cx: &mut task::Context<'_>,
) -> Dispatched<'a> {
    let correlation = reply.as_ref().map(Replier::correlation);
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
    let running = if span.is_disabled() {
        PooledFuture::start(handling, cx)
    } else {
        PooledFuture::start(handling.instrument(span), cx)
    };
    running.map_or(Dispatched::Done, Dispatched::Running)
}

/// Recovers the parcel from an envelope that the mailbox refused.
fn recover<C: Component, M: Message>(envelope: Envelope<C>) -> Parcel<M> {
    let Envelope::Owned(owned) = envelope else {
        unreachable!("a parcel is sent as an owned envelope")
    };
    match owned.take::<M>() {
        Ok(message) => Parcel::Message(message),
        Err(owned) => match owned.take::<Call<M>>() {
            Ok(call) => Parcel::Request(call),
            Err(_) => unreachable!("a consumer only builds envelopes of its own message type"),
        },
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
        if let Some(receiver) = self.try_put_unwoken(envelope, recover)? {
            receiver.wake();
        }
        Ok(())
    }

    /// As [`try_put`](Self::try_put), handing back the waiting receiver's waker instead
    /// of waking it.
    fn try_put_unwoken<D>(
        &self,
        envelope: Envelope<C>,
        recover: fn(Envelope<C>) -> D,
    ) -> Result<Option<Waker>, Refused<D>> {
        match self.mailbox.try_send_unwoken(envelope) {
            Ok(woken) => Ok(woken),
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
    fn try_deliver(&self, parcel: Parcel<M>) -> Result<(), Refused<Parcel<M>>> {
        self.try_put(Envelope::sent(parcel), recover)
    }

    fn try_deliver_request(&self, call: Call<M>) -> Result<Option<Waker>, Refused<Parcel<M>>> {
        self.try_put_unwoken(Envelope::sent(Parcel::Request(call)), recover)
    }

    fn deliver(&self, parcel: Parcel<M>) -> DeliverFuture<'_, Parcel<M>> {
        self.put(Envelope::sent(parcel), recover)
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Component for Nothing {}

    #[test]
    fn an_envelope_is_three_words_as_a_boxed_message_was() {
        // The mailbox's queue holds envelopes: keeping messages in place must not make
        // every queue (and every burst's room) larger.
        assert_eq!(size_of::<Envelope<Nothing>>(), 3 * size_of::<usize>());
    }
}
