//! What a component sees of the runtime while one of its hooks runs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Address, ConsumeError, ConsumerId, CorrelationId, Message};
use crate::component::tasks::Tasks;
use crate::component::timers::Timers;
use crate::component::{Envelope, Handler, MailboxConsumer, SpawnError, TaskId, TimerId, mailbox};
use crate::{
    Bus, CancellationToken, Component, DeploymentId, Handle, JobFuture, PoolHandle, SerialQueue,
    TryExecuteError, narrow,
};

/// Who a component instance is. Kept by every instance for its whole life, so it is
/// compact: the name is the end of the path, and the indices are 32-bit.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The component's path in the tree, such as `root/sales/orders`: its name is the
    /// part after the last `/` (names hold none).
    path: Arc<str>,
    instance: u32,
    reactor: u32,
    deployment: DeploymentId,
}

impl Identity {
    /// The identity of instance `instance` of the deployment at `path` (see
    /// [`join_path`]), on reactor `reactor`.
    pub(crate) fn new(
        path: Arc<str>,
        deployment: DeploymentId,
        instance: usize,
        reactor: usize,
    ) -> Self {
        Self {
            path,
            instance: narrow(instance),
            reactor: narrow(reactor),
            deployment,
        }
    }

    /// The deployment's name.
    pub(crate) fn name(&self) -> &str {
        crate::runtime::split_path(&self.path).1
    }

    /// The component's path in the tree.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn deployment(&self) -> DeploymentId {
        self.deployment
    }

    pub(crate) fn instance(&self) -> usize {
        self.instance as usize
    }

    pub(crate) fn reactor(&self) -> usize {
        self.reactor as usize
    }
}

/// `parent/name` as a shared string, allocated once: built on the stack when it is
/// short, where `format!` would allocate a `String` and then copy it into the `Arc`.
pub(crate) fn join_path(parent: &str, name: &str) -> Arc<str> {
    join_short(parent, name.as_bytes()).unwrap_or_else(|| format!("{parent}/{name}").into())
}

/// `parent/name` built on the stack, `name` given as the bytes of a string (or of
/// ASCII text), and checked once as a whole; `None` if it is too long for the stack.
pub(crate) fn join_short(parent: &str, name: &[u8]) -> Option<Arc<str>> {
    let mut buf = [0u8; 192];
    let joined = buf.get_mut(..parent.len() + 1 + name.len())?;
    let (head, tail) = joined.split_at_mut(parent.len());
    head.copy_from_slice(parent.as_bytes());
    tail[0] = b'/';
    tail[1..].copy_from_slice(name);
    // Two strings joined by an ASCII byte: always valid.
    std::str::from_utf8(joined).ok().map(Arc::from)
}

/// Registrations of a previous incarnation. Boxed: held only from an exit to the next
/// start, by instances that consume, where an inline `Vec` would take three words in
/// every idle instance.
#[allow(
    clippy::box_collection,
    reason = "one word in every instance's task, where a Vec takes three"
)]
type Kept = Option<Box<Vec<Registration>>>;

/// One consumer registration of an instance.
#[derive(Debug)]
pub(crate) struct Registration {
    address: Box<str>,
    id: ConsumerId,
}

impl Registration {
    /// Removes it from the bus.
    pub(crate) fn remove(self, bus: &Bus) {
        bus.registry().unregister(&self.address, self.id);
    }
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
    /// The instance's mailbox: its consumers' senders are made from it, and its
    /// instance receives from it (one allocation's pointer, where a sender beside the
    /// receiver took two).
    pub(crate) inbox: mailbox::Receiver<Envelope<C>>,
    consumers: Vec<Registration>,
    /// The registrations of the previous incarnation: they keep the mailbox reachable
    /// while the instance is down, until the next incarnation has registered its own.
    kept: Kept,
    pub(crate) timers: Timers<C>,
    pub(crate) tasks: Tasks,
    correlation: Option<CorrelationId>,
    /// What an incarnation uses rarely (its ordered line, its exit request), in one box
    /// made when first needed: one word in every instance's task.
    rare: Option<Box<Rare>>,
}

/// See `Context::rare`.
#[derive(Default)]
struct Rare {
    /// Made on the first ordered job: most instances never submit one.
    ordered: Option<SerialQueue>,
    exit: Option<ExitRequest>,
}

impl<C: Component> fmt::Debug for Context<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.identity.name())
            .field("deployment", &self.identity.deployment)
            .field("instance", &self.identity.instance)
            .field("reactor", &self.identity.reactor)
            .field("consumers", &self.consumers.len())
            .field("timers", &self.timers)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl<C: Component> Context<C> {
    pub(crate) fn new(
        identity: Identity,
        runtime: Handle,
        inbox: mailbox::Receiver<Envelope<C>>,
    ) -> Self {
        Self {
            identity,
            runtime,
            inbox,
            consumers: Vec::new(),
            kept: None,
            timers: Timers::new(),
            tasks: Tasks::default(),
            correlation: None,
            rare: None,
        }
    }

    /// Resets everything an incarnation leaves behind (its timers, tasks, ordered line,
    /// exit request and correlation id), so the next one starts as if from `new`. The
    /// identity, the runtime, the mailbox and the kept registrations stay: the context
    /// lives as long as the instance, across its restarts.
    pub(crate) fn renew(&mut self) {
        debug_assert!(self.consumers.is_empty(), "registrations are taken first");
        self.timers.clear();
        self.tasks.clear();
        self.correlation = None;
        self.rare = None;
    }

    /// Who this instance is.
    pub(crate) fn identity(&self) -> &Identity {
        &self.identity
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
        self.identity.name()
    }

    /// This component's path in the supervision tree, such as `root/sales/orders`.
    pub fn path(&self) -> &str {
        self.identity.path()
    }

    /// This component's deployment.
    pub fn deployment_id(&self) -> DeploymentId {
        self.identity.deployment
    }

    /// Which instance of its deployment this is, from 0.
    pub fn instance(&self) -> usize {
        self.identity.instance()
    }

    /// The index of the reactor this instance runs on.
    pub fn reactor(&self) -> usize {
        self.identity.reactor()
    }

    /// How many messages wait in this instance's mailbox now (not counting the one being
    /// handled).
    pub fn mailbox_len(&self) -> usize {
        self.inbox.len()
    }

    /// The capacity of this instance's mailbox.
    pub fn mailbox_capacity(&self) -> usize {
        self.inbox.capacity()
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
    /// instance stops. A restarted instance takes over its previous incarnation's
    /// registration at `address`, which kept its mailbox reachable while it was down, so
    /// no message reaches it twice through both.
    ///
    /// # Errors
    ///
    /// [`ConsumeError::TypeMismatch`] if the address has consumers of another type.
    pub fn consume<M: Message>(&mut self, address: &Address<M>) -> Result<(), ConsumeError>
    where
        C: Handler<M>,
    {
        if let Some(kept) = self.kept.as_deref_mut()
            && let Some(at) = kept.iter().position(|r| &*r.address == address.name())
            && self.runtime.bus().registry().holds::<M>(address.name())
        {
            // The kept registration delivers to this mailbox already (all consumers at
            // an address take one message type, checked above).
            let registration = kept.remove(at);
            self.consumers.push(registration);
            return Ok(());
        }
        let consumer = Arc::new(MailboxConsumer::new(self.inbox.sender()));
        let id = self
            .bus()
            .registry()
            .register::<M>(address.name(), consumer)?;
        self.consumers.push(Registration {
            address: address.name().into(),
            id,
        });
        Ok(())
    }

    /// Removes this instance's registrations at `address`; returns how many there were.
    pub fn unconsume<M: Message>(&mut self, address: &Address<M>) -> usize {
        let registry = self.runtime.bus().registry();
        let before = self.consumers.len();
        self.consumers.retain(|r| {
            let matches = &*r.address == address.name();
            if matches {
                registry.unregister(&r.address, r.id);
            }
            !matches
        });
        before - self.consumers.len()
    }

    pub(crate) fn unregister_all(&mut self) {
        let bus = self.runtime.bus();
        for registration in self.consumers.drain(..) {
            registration.remove(bus);
        }
    }

    /// The incarnation ends: its registrations are kept, to outlive it until the next
    /// one has registered its own (or the instance ends).
    pub(crate) fn keep_registrations(&mut self) {
        debug_assert!(self.kept.is_none(), "the previous ones went at the start");
        let registrations = std::mem::take(&mut self.consumers);
        self.kept = (!registrations.is_empty()).then(|| Box::new(registrations));
    }

    /// A start failed: the registrations it took over from the previous incarnation
    /// (those made before `made_from`) are kept again, and those it made are removed.
    pub(crate) fn start_failed(&mut self, made_from: ConsumerId) {
        let bus = self.runtime.bus();
        for registration in self.consumers.drain(..) {
            if registration.id < made_from {
                self.kept
                    .get_or_insert_with(Box::default)
                    .push(registration);
            } else {
                registration.remove(bus);
            }
        }
    }

    /// Removes the previous incarnation's registrations from the bus.
    pub(crate) fn drop_kept(&mut self) {
        // Most instances keep none: no bus to look up, no iterator to build and drop.
        let Some(kept) = self.kept.take() else {
            return;
        };
        let bus = self.runtime.bus();
        for registration in *kept {
            registration.remove(bus);
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
            crate::rt::from_now(delay),
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
        let first = crate::rt::from_now(period.max(crate::component::timers::MIN_PERIOD));
        self.timers
            .schedule(first, Some(period), Box::new(callback))
    }

    /// Cancels a timer. Returns `false` if it had already fired (one-shot) or was
    /// cancelled before.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id)
    }

    /// Runs `future` as a task on this component's reactor, beside its handlers: Vert.x's
    /// way of giving a verticle a server, a client or a stream to drive. It may hold
    /// `!Send` values, since it never leaves the reactor.
    ///
    /// The task belongs to this incarnation: it is dropped (cancelled at its next await
    /// point) when the component stops, fails or restarts, so a restarted component starts
    /// afresh. A panic in the task fails the component like a panic in a handler (the
    /// failure names the hook `task`), and its supervisor decides what follows. The task
    /// cannot borrow the component: it talks to it over the bus, or through an `Rc` both
    /// hold. A task that blocks the reactor is reported by the watchdog like a handler.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoReactor`] if the reactor is shutting down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reactree::prelude::*;
    ///
    /// struct Tick;
    /// impl Message for Tick { type Reply = (); }
    /// const TICKS: Address<Tick> = Address::new("ticks");
    ///
    /// /// Drives a little source of events of its own and feeds them to the bus.
    /// struct Source;
    /// impl Component for Source {
    ///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
    ///         let bus = ctx.bus().clone();
    ///         ctx.spawn(async move {
    ///             for _ in 0..3 {
    ///                 let _ = bus.send(&TICKS, Tick).await;
    ///             }
    ///         })?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// struct Counter(flume::Sender<()>);
    /// impl Component for Counter {
    ///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
    ///         ctx.consume(&TICKS)?;
    ///         Ok(())
    ///     }
    /// }
    /// impl Handler<Tick> for Counter {
    ///     async fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
    ///         let _ = self.0.send(());
    ///     }
    /// }
    ///
    /// let (seen, ticks) = flume::unbounded();
    /// let runtime = Runtime::builder().reactors(1).build()?;
    /// runtime.block_on(async {
    ///     runtime.deploy(ChildSpec::new("counter", move || Counter(seen.clone()))).await?;
    ///     runtime.deploy(ChildSpec::new("source", || Source)).await?;
    ///     Ok::<_, DeployError>(())
    /// })?;
    /// for _ in 0..3 {
    ///     ticks.recv_timeout(Duration::from_secs(5))?;
    /// }
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(
        &mut self,
        future: impl Future<Output = ()> + 'static,
    ) -> Result<TaskId, SpawnError> {
        self.tasks.spawn(future)
    }

    /// Cancels a task spawned with [`spawn`](Self::spawn): it is dropped at its next
    /// await point. Returns `false` if it had already finished or was cancelled before.
    pub fn cancel_task(&mut self, id: TaskId) -> bool {
        self.tasks.cancel(id)
    }

    /// How many tasks spawned by this incarnation are still running.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Runs `job` on the default worker pool and resolves, on this component's reactor,
    /// to its value. Waits for room in the pool's queue without blocking the reactor.
    ///
    /// Reactor code must never block: file I/O, blocking drivers and heavy computation
    /// belong here. Dropping the future before the job starts means it never runs; while
    /// it runs, the job's [`CancellationToken`] says it was cancelled (also when the
    /// runtime shuts down).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    ///
    /// struct Checksum(Vec<u8>);
    /// impl Message for Checksum { type Reply = Result<u64, reactree::JobError>; }
    /// const SUM: Address<Checksum> = Address::new("files.sum");
    ///
    /// struct Files;
    /// impl Component for Files {
    ///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
    ///         ctx.consume(&SUM)?;
    ///         Ok(())
    ///     }
    /// }
    /// impl Handler<Checksum> for Files {
    ///     async fn handle(&mut self, Checksum(bytes): Checksum, ctx: &mut Context<Self>)
    ///         -> Result<u64, reactree::JobError>
    ///     {
    ///         // Runs on a worker thread; this handler resumes on the reactor.
    ///         ctx.execute_blocking(move |_token| bytes.iter().map(|&b| u64::from(b)).sum()).await
    ///     }
    /// }
    ///
    /// let runtime = Runtime::builder().reactors(1).build()?;
    /// runtime.block_on(async {
    ///     runtime.deploy(ChildSpec::new("files", || Files)).await?;
    ///     let sum = runtime.bus().request(&SUM, Checksum(vec![1, 2, 3])).await.ok();
    ///     assert_eq!(sum, Some(Ok(6)));
    ///     Ok::<_, DeployError>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_blocking<F, T>(&self, job: F) -> JobFuture<T>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.runtime.worker_pool().execute(job)
    }

    /// [`execute_blocking`](Self::execute_blocking) that fails at once when the pool's
    /// queue is full.
    ///
    /// # Errors
    ///
    /// [`TryExecuteError::Full`] (or `ShutDown`), with the job inside.
    pub fn try_execute_blocking<F, T>(&self, job: F) -> Result<JobFuture<T>, TryExecuteError<F>>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        self.runtime.worker_pool().try_execute(job)
    }

    /// [`execute_blocking`](Self::execute_blocking) in ordered mode (Vert.x's `ordered`):
    /// the ordered jobs of this instance run one after another, in submission order, even
    /// on a many-thread pool; other jobs keep every thread.
    pub fn execute_blocking_ordered<F, T>(&mut self, job: F) -> JobFuture<T>
    where
        F: FnOnce(&CancellationToken) -> T + Send + 'static,
        T: Send + 'static,
    {
        let runtime = &self.runtime;
        self.rare
            .get_or_insert_with(Box::default)
            .ordered
            .get_or_insert_with(|| runtime.worker_pool().ordered())
            .execute(job)
    }

    /// The worker pool named `name`, declared with
    /// [`RuntimeBuilder::named_pool`](crate::RuntimeBuilder::named_pool); `"default"` is
    /// the default pool.
    pub fn pool(&self, name: &str) -> Option<&PoolHandle> {
        self.runtime.pool(name)
    }

    /// Asks for a normal stop once the running hook returns: `stop` runs, consumers and
    /// timers go, and the exit counts as normal.
    pub fn stop(&mut self) {
        self.rare
            .get_or_insert_with(Box::default)
            .exit
            .get_or_insert(ExitRequest::Stop);
    }

    /// Asks to fail once the running hook returns: handled like a panic, without the
    /// unwinding.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.rare.get_or_insert_with(Box::default).exit = Some(ExitRequest::Fail(reason.into()));
    }

    pub(crate) fn take_exit(&mut self) -> Option<ExitRequest> {
        self.rare.as_mut()?.exit.take()
    }

    pub(crate) fn put_exit(&mut self, exit: ExitRequest) {
        self.rare.get_or_insert_with(Box::default).exit = Some(exit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_joins_its_path_and_keeps_its_name_at_the_end() {
        let id = DeploymentId::default();
        let short = Identity::new(join_path("root/sales", "orders"), id, 3, 1);
        assert_eq!(
            (
                short.path(),
                short.name(),
                short.instance(),
                short.reactor()
            ),
            ("root/sales/orders", "orders", 3, 1)
        );
        let long_parent = format!("root/{}", "é".repeat(150));
        let long = Identity::new(join_path(&long_parent, "ünïcode"), id, 0, 0);
        assert_eq!(long.path(), format!("{long_parent}/ünïcode"));
        assert_eq!(long.name(), "ünïcode");
    }
}
