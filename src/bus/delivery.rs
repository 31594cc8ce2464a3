//! What the bus hands a consumer: a message, or a request's [`Call`]; and the consumer
//! side of the seam between routing and mailboxes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use crate::bus::Message;
use crate::bus::call::Call;

/// What the bus hands one consumer: a one-way message as it is, or a request.
pub(crate) enum Parcel<M: Message> {
    /// Sent: nothing comes back, nothing expires.
    Message(M),
    /// Requested: the message, its reply slot, its deadline and its correlation id, in
    /// one allocation made by the requester, so routing moves a pointer.
    Request(Call<M>),
}

impl<M: Message> Parcel<M> {
    /// The message, for the sender of a parcel that was not taken.
    pub(crate) fn into_message(self) -> M {
        match self {
            Self::Message(message) => message,
            Self::Request(call) => call.into_message(),
        }
    }
}

/// A published message too large to be kept in place in an envelope, shared by every
/// consumer it reaches: one allocation per publish instead of one per consumer. Each
/// consumer takes its own copy as it handles it (the last one takes the message
/// itself); the mutex makes it shareable for any `Send` message and is locked once per
/// copy.
pub(crate) struct Published<M: Message> {
    message: Mutex<M>,
    /// `M::clone`, recorded where `M: Clone` is known (the consumer side is not bound).
    clone: fn(&M) -> M,
}

impl<M: Message> Published<M> {
    pub(crate) fn new(message: M) -> Arc<Self>
    where
        M: Clone,
    {
        Arc::new(Self {
            message: Mutex::new(message),
            clone: M::clone,
        })
    }

    /// This consumer's copy: the message itself if no other consumer holds it.
    pub(crate) fn take(self: Arc<Self>) -> M {
        // A load first: while other consumers hold it, the common case, that costs no
        // atomic write to the line they share.
        if Arc::strong_count(&self) == 1 {
            match Arc::try_unwrap(self) {
                Ok(only) => {
                    return only
                        .message
                        .into_inner()
                        .unwrap_or_else(PoisonError::into_inner);
                }
                Err(shared) => return Self::copy(&shared),
            }
        }
        Self::copy(&self)
    }

    fn copy(shared: &Self) -> M {
        let message = shared
            .message
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (shared.clone)(&message)
    }
}

/// Why a consumer did not take a delivery; the delivery comes back.
pub(crate) enum Refused<D> {
    /// The mailbox is at capacity.
    Full(D),
    /// The consumer's component has stopped.
    Closed(D),
}

impl<D> Refused<D> {
    pub(crate) fn into_delivery(self) -> D {
        match self {
            Self::Full(d) | Self::Closed(d) => d,
        }
    }

    /// The same refusal, of what `f` makes of the delivery.
    pub(crate) fn map<E>(self, f: impl FnOnce(D) -> E) -> Refused<E> {
        match self {
            Self::Full(d) => Refused::Full(f(d)),
            Self::Closed(d) => Refused::Closed(f(d)),
        }
    }
}

/// A boxed, `Send` future borrowing the consumer.
pub(crate) type DeliverFuture<'a, D> =
    Pin<Box<dyn Future<Output = Result<(), Refused<D>>> + Send + 'a>>;

/// A registered consumer of messages of type `M`: in practice one component instance's
/// mailbox. Implementations never block.
pub(crate) trait Consumer<M: Message>: Send + Sync {
    /// Enqueues at once or refuses.
    fn try_deliver(&self, parcel: Parcel<M>) -> Result<(), Refused<Parcel<M>>>;

    /// Enqueues a request at once or refuses. Hands back the waker of a receiver that
    /// was waiting for work, for the caller to wake: the caller may then run it at once
    /// (see [`reactor::hand_over`](crate::reactor::hand_over)).
    fn try_deliver_request(&self, call: Call<M>) -> Result<Option<Waker>, Refused<Parcel<M>>>;

    /// Waits for room, then enqueues; refuses only with [`Refused::Closed`].
    fn deliver(&self, parcel: Parcel<M>) -> DeliverFuture<'_, Parcel<M>>;

    /// Enqueues a published message at once or refuses.
    fn try_deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> Result<(), Refused<Arc<Published<M>>>>;

    /// Waits for room, then enqueues a published message; refuses only with
    /// [`Refused::Closed`].
    fn deliver_published(
        &self,
        published: Arc<Published<M>>,
    ) -> DeliverFuture<'_, Arc<Published<M>>>;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static CLONES: AtomicUsize = AtomicUsize::new(0);

    /// Counts its clones.
    struct Counted(u32);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            CLONES.fetch_add(1, Ordering::SeqCst);
            Self(self.0)
        }
    }

    impl Message for Counted {
        type Reply = ();
    }

    #[test]
    fn every_holder_but_the_last_takes_a_copy_and_the_last_takes_the_original() {
        let published = Published::new(Counted(7));
        let holders = [published.clone(), published.clone(), published.clone()];
        drop(published);
        let taken: Vec<u32> = holders.into_iter().map(|h| h.take().0).collect();
        assert_eq!(taken, [7, 7, 7]);
        assert_eq!(
            CLONES.load(Ordering::SeqCst),
            2,
            "three holders, two copies"
        );
    }
}
