//! Why a component instance failed: which hook, and how.

use std::any::Any;
use std::fmt;

/// The piece of user code that was running when a component failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hook {
    /// The factory that builds the component on its reactor.
    Factory,
    /// [`Component::start`](crate::Component::start).
    Start,
    /// A message handler ([`Handler::handle`](crate::Handler::handle)).
    Handler,
    /// A timer callback.
    Timer,
    /// [`Component::stop`](crate::Component::stop).
    Stop,
    /// A supervisor (its failure is an escalation).
    Supervisor,
    /// A task the component spawned with [`Context::spawn`](crate::Context::spawn).
    Task,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Factory => "factory",
            Self::Start => "start",
            Self::Handler => "handler",
            Self::Timer => "timer callback",
            Self::Stop => "stop",
            Self::Supervisor => "supervisor",
            Self::Task => "task",
        })
    }
}

/// How a component failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The hook panicked; the panic was caught on the reactor.
    Panicked,
    /// `start` returned an error.
    Error,
    /// The component asked to fail through [`Context::fail`](crate::Context::fail).
    Requested,
    /// A supervisor exceeded its restart intensity and gave up.
    Escalated,
}

/// A component instance's failure: the hook, the kind, and a message (the panic payload,
/// the error's `Display`, or the reason given to `fail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Failure {
    hook: Hook,
    kind: FailureKind,
    message: String,
}

impl Failure {
    pub(crate) fn new(hook: Hook, kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            hook,
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn panicked(hook: Hook, payload: &(dyn Any + Send)) -> Self {
        Self::new(hook, FailureKind::Panicked, panic_message(payload))
    }

    /// The hook that failed.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// How it failed.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The panic message, the error's text or the requested reason.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the failure was a caught panic.
    pub fn is_panic(&self) -> bool {
        self.kind == FailureKind::Panicked
    }

    fn describe(&self) -> String {
        match self.kind {
            FailureKind::Panicked => format!("{} panicked: {}", self.hook, self.message),
            FailureKind::Error => format!("{} failed: {}", self.hook, self.message),
            FailureKind::Requested => format!("failure requested: {}", self.message),
            FailureKind::Escalated => format!("supervisor gave up: {}", self.message),
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_hook() {
        let f = Failure::panicked(Hook::Timer, &"boom");
        assert_eq!(f.to_string(), "timer callback panicked: boom");
        assert!(f.is_panic());
        let f = Failure::new(Hook::Start, FailureKind::Error, "no db");
        assert_eq!(f.to_string(), "start failed: no db");
    }
}
