//! Errors of the bus, one enum per operation family.
//!
//! A message the bus refused before any handler saw it travels back inside the error
//! (`into_inner`), so nothing is lost silently. `Debug` never requires `M: Debug`.

use std::fmt;
use std::time::Duration;

/// Why a [`send`](crate::Bus::send) or [`try_send`](crate::Bus::try_send) was refused.
///
/// The message comes back with [`into_inner`](SendError::into_inner).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SendError<M> {
    /// No consumer is registered at the address (or the chosen one just stopped).
    #[error("no handlers for the address")]
    NoHandlers(M),
    /// The chosen consumer's mailbox is full (only the `try_` forms).
    #[error("mailbox full")]
    Full(M),
    /// The address is registered with another message type.
    #[error("address registered with message type {registered}")]
    TypeMismatch {
        /// The refused message.
        message: M,
        /// The type the address's consumers accept.
        registered: &'static str,
    },
}

impl<M> SendError<M> {
    /// The refused message.
    pub fn into_inner(self) -> M {
        match self {
            Self::NoHandlers(m) | Self::Full(m) | Self::TypeMismatch { message: m, .. } => m,
        }
    }

    /// Whether the consumer's mailbox was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHandlers(_) => f.write_str("NoHandlers(..)"),
            Self::Full(_) => f.write_str("Full(..)"),
            Self::TypeMismatch { registered, .. } => f
                .debug_struct("TypeMismatch")
                .field("registered", registered)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a [`request`](crate::Bus::request) did not produce a reply.
///
/// The first three variants happen before any handler saw the message, and hand it back
/// through [`into_inner`](RequestError::into_inner); the last two happen after.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum RequestError<M> {
    /// No consumer is registered at the address (or the chosen one just stopped).
    #[error("no handlers for the address")]
    NoHandlers(M),
    /// The chosen consumer's mailbox is full (only [`try_request`](crate::Bus::try_request)).
    #[error("mailbox full")]
    Full(M),
    /// The address is registered with another message type.
    #[error("address registered with message type {registered}")]
    TypeMismatch {
        /// The refused message.
        message: M,
        /// The type the address's consumers accept.
        registered: &'static str,
    },
    /// No reply within the timeout, whatever ended the request at or after its deadline
    /// (the timer, its shedding as expired, a failure of its handler). A reply that comes
    /// later is discarded.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The handler panicked, or the component stopped before replying, before the
    /// deadline.
    #[error("recipient failed before replying")]
    RecipientFailure,
}

impl<M> RequestError<M> {
    /// The message, if the bus refused it before delivery.
    pub fn into_inner(self) -> Option<M> {
        match self {
            Self::NoHandlers(m) | Self::Full(m) | Self::TypeMismatch { message: m, .. } => Some(m),
            Self::Timeout(_) | Self::RecipientFailure => None,
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// Whether the consumer's mailbox was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    /// Whether the recipient failed (panicked or stopped) before replying.
    pub fn is_recipient_failure(&self) -> bool {
        matches!(self, Self::RecipientFailure)
    }

    /// Whether no consumer was registered at the address.
    pub fn is_no_handlers(&self) -> bool {
        matches!(self, Self::NoHandlers(_))
    }

    pub(crate) fn from_send(error: SendError<M>) -> Self {
        match error {
            SendError::NoHandlers(m) => Self::NoHandlers(m),
            SendError::Full(m) => Self::Full(m),
            SendError::TypeMismatch {
                message,
                registered,
            } => Self::TypeMismatch {
                message,
                registered,
            },
        }
    }
}

impl<M> fmt::Debug for RequestError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHandlers(_) => f.write_str("NoHandlers(..)"),
            Self::Full(_) => f.write_str("Full(..)"),
            Self::TypeMismatch { registered, .. } => f
                .debug_struct("TypeMismatch")
                .field("registered", registered)
                .finish_non_exhaustive(),
            Self::Timeout(d) => f.debug_tuple("Timeout").field(d).finish(),
            Self::RecipientFailure => f.write_str("RecipientFailure"),
        }
    }
}

/// Why a [`publish`](crate::Bus::publish) reached nobody.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum PublishError<M> {
    /// No consumer is registered at the address.
    #[error("no handlers for the address")]
    NoHandlers(M),
    /// The address is registered with another message type.
    #[error("address registered with message type {registered}")]
    TypeMismatch {
        /// The refused message.
        message: M,
        /// The type the address's consumers accept.
        registered: &'static str,
    },
}

impl<M> PublishError<M> {
    /// The refused message.
    pub fn into_inner(self) -> M {
        match self {
            Self::NoHandlers(m) | Self::TypeMismatch { message: m, .. } => m,
        }
    }
}

impl<M> fmt::Debug for PublishError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHandlers(_) => f.write_str("NoHandlers(..)"),
            Self::TypeMismatch { registered, .. } => f
                .debug_struct("TypeMismatch")
                .field("registered", registered)
                .finish_non_exhaustive(),
        }
    }
}

/// Why a component could not register a consumer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The address already has consumers of another message type.
    #[error("address {address:?} is registered with message type {registered}, not {requested}")]
    TypeMismatch {
        /// The address.
        address: String,
        /// The type its consumers accept.
        registered: &'static str,
        /// The type this registration asked for.
        requested: &'static str,
    },
}
