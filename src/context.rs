//! What a component sees of the runtime while one of its hooks runs.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bus::{Address, ConsumeError, ConsumerId, CorrelationId, Message};
use crate::component::timers::Timers;
use crate::component::{Envelope, Handler, MailboxConsumer, TimerId};
use crate::{Bus, Component, DeploymentId, Handle};

/// Who a component instance is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) name: Arc<str>,
    pub(crate) deployment: DeploymentId,
    pub(crate) instance: usize,
    pub(crate) reactor: usize,
}

/// How an instance asked to end, from inside a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExitRequest {
    /// A normal stop.
    Stop,
    /// A failure with this reason, reported like a panic.
    Fail(String),
}

/// A component instance's view of the runtime: the bus, its timers, its identity, and
/// the id of the request being handled.
///
/// A `Context` lives on the instance's reactor and is passed to every hook, handler and
/// timer callback as `&mut Context<Self>`.
pub struct Context<C: Component> {
    identity: Identity,
    runtime: Handle,
    mailbox: flume::Sender<Envelope<C>>,
    consumers: Vec<(Box<str>, ConsumerId)>,
    pub(crate) timers: Timers<C>,
    correlation: Option<CorrelationId>,
    exit: Option<ExitRequest>,
}

impl<C: Component> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.identity.name)
            .field("deployment", &self.identity.deployment)
            .field("instance", &self.identity.instance)
            .field("reactor", &self.identity.reactor)
            .field("consumers", &self.consumers.len())
            .field("timers", &self.timers)
            .finish_non_exhaustive()
    }
}

impl<C: Component> Context<C> {
    pub(crate) fn new(
        identity: Identity,
        runtime: Handle,
        mailbox: flume::Sender<Envelope<C>>,
    ) -> Self {
        Self {
            identity,
            runtime,
            mailbox,
            consumers: Vec::new(),
            timers: Timers::new(),
            correlation: None,
            exit: None,
        }
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        self.runtime.bus()
    }

    /// The runtime, to deploy or undeploy other components from inside this one.
    pub fn runtime(&self) -> &Handle {
        &self.runtime
    }

    /// The name of this component's deployment.
    pub fn name(&self) -> &str {
        &self.identity.name
    }

    /// This component's deployment.
    pub fn deployment_id(&self) -> DeploymentId {
        self.identity.deployment
    }

    /// Which instance of its deployment this is, from 0.
    pub fn instance(&self) -> usize {
        self.identity.instance
    }

    /// The index of the reactor this instance runs on.
    pub fn reactor(&self) -> usize {
        self.identity.reactor
    }

    /// How many messages wait in this instance's mailbox now (not counting the one being
    /// handled).
    pub fn mailbox_len(&self) -> usize {
        self.mailbox.len()
    }

    /// The capacity of this instance's mailbox.
    pub fn mailbox_capacity(&self) -> usize {
        self.mailbox.capacity().unwrap_or(usize::MAX)
    }

    /// The correlation id of the request being handled; `None` for `send`, `publish`,
    /// timers and lifecycle hooks.
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        self.correlation
    }

    pub(crate) fn set_correlation(&mut self, correlation: Option<CorrelationId>) {
        self.correlation = correlation;
    }

    /// Registers this instance as a consumer of `address`: `send`, `publish` and
    /// `request` there reach its [`Handler<M>`]. Registrations are removed when the
    /// instance stops.
    ///
    /// # Errors
    ///
    /// [`ConsumeError::TypeMismatch`] if the address has consumers of another type.
    pub fn consume<M: Message>(&mut self, address: &Address<M>) -> Result<(), ConsumeError>
    where
        C: Handler<M>,
    {
        let consumer = Arc::new(MailboxConsumer::new(self.mailbox.clone()));
        let id = self
            .bus()
            .registry()
            .register::<M>(address.name(), consumer)?;
        self.consumers.push((address.name().into(), id));
        Ok(())
    }

    /// Removes this instance's registrations at `address`; returns how many there were.
    pub fn unconsume<M: Message>(&mut self, address: &Address<M>) -> usize {
        let registry = self.runtime.bus().registry();
        let before = self.consumers.len();
        self.consumers.retain(|(name, id)| {
            let matches = &**name == address.name();
            if matches {
                registry.unregister(name, *id);
            }
            !matches
        });
        before - self.consumers.len()
    }

    pub(crate) fn unregister_all(&mut self) {
        let registry = self.runtime.bus().registry();
        for (name, id) in self.consumers.drain(..) {
            registry.unregister(&name, id);
        }
    }

    /// Runs `callback` once after `delay`, on this component's reactor, between its
    /// handlers.
    pub fn run_later(
        &mut self,
        delay: Duration,
        callback: impl FnOnce(&mut C, &mut Context<C>) + 'static,
    ) -> TimerId {
        let mut once = Some(callback);
        self.timers.schedule(
            Instant::now() + delay,
            None,
            Box::new(move |c, ctx| {
                if let Some(f) = once.take() {
                    f(c, ctx);
                }
            }),
        )
    }

    /// Runs `callback` every `period` (fixed rate, first after one period), until
    /// cancelled or the component stops. Periods under 1 ms are raised to 1 ms; missed
    /// ticks are skipped, not replayed in a burst.
    pub fn run_periodic(
        &mut self,
        period: Duration,
        callback: impl FnMut(&mut C, &mut Context<C>) + 'static,
    ) -> TimerId {
        let first = Instant::now() + period.max(crate::component::timers::MIN_PERIOD);
        self.timers
            .schedule(first, Some(period), Box::new(callback))
    }

    /// Cancels a timer. Returns `false` if it had already fired (one-shot) or was
    /// cancelled before.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id)
    }

    /// Asks for a normal stop once the running hook returns: `stop` runs, consumers and
    /// timers go, and the exit counts as normal.
    pub fn stop(&mut self) {
        self.exit.get_or_insert(ExitRequest::Stop);
    }

    /// Asks to fail once the running hook returns: handled like a panic, without the
    /// unwinding.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.exit = Some(ExitRequest::Fail(reason.into()));
    }

    pub(crate) fn take_exit(&mut self) -> Option<ExitRequest> {
        self.exit.take()
    }

    pub(crate) fn put_exit(&mut self, exit: ExitRequest) {
        self.exit = Some(exit);
    }
}
