//! The runtime: reactor threads, the bus, and the table of deployments.

mod builder;
mod error;
mod inspect;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use slotmap::SlotMap;

pub use builder::{DEFAULT_MAILBOX_CAPACITY, DEFAULT_REQUEST_TIMEOUT, RuntimeBuilder};
pub use error::{BuildError, DeployError, SpecError, UndeployError};

use std::collections::{BTreeMap, HashMap};

use crate::bus::FastMap;
use crate::component::control::StopMode;
use crate::component::{ChildSpec, ComponentState, InstanceStats, mailbox};
use crate::events::{EventStream, Events};
use crate::failure::Failure;
use crate::reactor::{self, Command, ReactorHandle};
use crate::supervisor::{
    self as supervisor, Node, NodeConfig, NodeStats, Now, Parent, ROOT, Request, SupervisorInfo,
    SupervisorSpec, TreeChild,
};
use crate::watchdog::{self, Directory, Probe};
use crate::worker::{PoolHandle, WorkerPool};
use crate::{Bus, narrow, oneshot, rt};

/// The name of the default worker pool.
pub const DEFAULT_POOL: &str = "default";

slotmap::new_key_type! {
    /// Identifies a deployment; returned by [`Handle::deploy`], taken by
    /// [`Handle::undeploy`]. A stale id (already undeployed) is never reused.
    pub struct DeploymentId;
}

/// A running runtime: it owns the reactor threads. Dropping it shuts it down.
///
/// Share a [`Handle`] (or a [`Bus`]) with other threads; keep the `Runtime` itself in
/// `main`.
///
/// # Examples
///
/// ```
/// use reactree::{Address, BoxError, ChildSpec, Component, Context, Handler, Message, Runtime};
///
/// struct Greet(String);
/// impl Message for Greet { type Reply = String; }
/// const GREET: Address<Greet> = Address::new("greeter.greet");
///
/// struct Greeter;
/// impl Component for Greeter {
///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
///         ctx.consume(&GREET)?;
///         Ok(())
///     }
/// }
/// impl Handler<Greet> for Greeter {
///     async fn handle(&mut self, Greet(name): Greet, _: &mut Context<Self>) -> String {
///         format!("hello, {name}")
///     }
/// }
///
/// let runtime = Runtime::builder().reactors(1).build()?;
/// runtime.block_on(async {
///     let id = runtime.deploy(ChildSpec::new("greeter", || Greeter)).await?;
///     let reply = runtime.bus().request(&GREET, Greet("ada".into())).await.ok();
///     assert_eq!(reply.as_deref(), Some("hello, ada"));
///     runtime.undeploy(id).await?;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// runtime.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
    pools: Vec<WorkerPool>,
    watchdog: Option<(flume::Sender<()>, JoinHandle<()>)>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .field("threads", &self.threads.len())
            .finish()
    }
}

/// A cheap, `Clone + Send + Sync` handle to a runtime: deploy, undeploy, reach the bus.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.shared.id)
            .field("reactors", &self.shared.reactors.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    id: u64,
    bus: Bus,
    reactors: Vec<ReactorHandle>,
    /// One per reactor, when the watchdog runs.
    probes: Vec<Arc<Probe>>,
    /// The default pool first.
    pools: Vec<PoolHandle>,
    mailbox_capacity: usize,
    deployments: Mutex<SlotMap<DeploymentId, Deployment>>,
    /// Live supervisors by path, for deploys and undeploys.
    supervisors: Mutex<FastMap<Arc<str>, mailbox::Sender<Request>>>,
    /// The root's requests, also in `supervisors`: most deploys and undeploys go to
    /// the root, and need no lock and no lookup to find it.
    root: OnceLock<mailbox::Sender<Request>>,
    /// What the inspector reads of each live supervisor, by path (sorted: tree order).
    nodes: Mutex<BTreeMap<Arc<str>, Arc<NodeStats>>>,
    /// The reactors of supervisors that own some, by path (fixed when built).
    owned: HashMap<String, Arc<[usize]>>,
    /// The root's escalation, or a shutdown request (`None`), for `Runtime::wait`.
    ended: (
        flume::Sender<Option<Failure>>,
        flume::Receiver<Option<Failure>>,
    ),
    next_key: AtomicU64,
    shutting_down: AtomicBool,
    events: Events,
}

/// One deployment's record.
struct Deployment {
    /// `parent/name`: the path of the supervisor it is deployed under, then its name
    /// (names hold no `/`). Shared with its supervisor's child entries and its
    /// instances' identities: one string for all of them.
    path: Arc<str>,
    instances: Records,
}

impl Deployment {
    fn name(&self) -> &str {
        split_path(&self.path).1
    }

    fn parent(&self) -> &str {
        split_path(&self.path).0
    }

    /// Its own path, if it is a supervisor.
    fn supervisor(&self) -> Option<&Arc<str>> {
        matches!(self.instances, Records::Supervisor { .. }).then_some(&self.path)
    }
}

/// `parent/name` split at its last `/` (a name holds none).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    // A plain backward scan: paths are short, and `rsplit_once`'s `memrchr` costs more
    // to set up than it saves (names are hashed through this, on every rehash too).
    match path.bytes().rposition(|b| b == b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => ("", path),
    }
}

struct InstanceRecord {
    index: u32,
    reactor: u32,
    key: u64,
    stats: Arc<InstanceStats>,
}

impl InstanceRecord {
    /// Instance `index` of its deployment, on `reactor`, keyed `key`.
    fn new(index: usize, reactor: usize, key: u64, stats: Arc<InstanceStats>) -> Self {
        Self {
            index: narrow(index),
            reactor: narrow(reactor),
            key,
            stats,
        }
    }
}

/// A deployment's instance records. Most deployments have one instance, kept inline:
/// a list of its own would be one more allocation per deployed component. A supervisor
/// has no instance records, only its key in its parent.
enum Records {
    One(Option<InstanceRecord>),
    Many(Vec<InstanceRecord>),
    Supervisor { key: Option<u64> },
}

impl Records {
    /// Room for `instances` records.
    fn with_capacity(instances: usize) -> Self {
        if instances <= 1 {
            Self::One(None)
        } else {
            Self::Many(Vec::with_capacity(instances))
        }
    }

    fn as_slice(&self) -> &[InstanceRecord] {
        match self {
            Self::One(one) => one.as_slice(),
            Self::Many(many) => many,
            Self::Supervisor { .. } => &[],
        }
    }

    fn push(&mut self, record: InstanceRecord) {
        match self {
            Self::One(one) => match one.take() {
                None => *one = Some(record),
                Some(first) => *self = Self::Many(vec![first, record]),
            },
            Self::Many(many) => many.push(record),
            Self::Supervisor { .. } => {}
        }
    }

    /// The key of the first instance still recorded (records are kept in start order),
    /// or the supervisor's: where its supervisor's children show it, in start order.
    fn first_key(&self) -> Option<u64> {
        match self {
            Self::Supervisor { key } => *key,
            _ => self.as_slice().first().map(|record| record.key),
        }
    }

    /// Drops the record of instance `key`; whether none is left.
    fn forget(&mut self, key: u64) -> bool {
        match self {
            Self::One(one) => {
                if one.as_ref().is_some_and(|r| r.key == key) {
                    *one = None;
                }
                one.is_none()
            }
            Self::Many(many) => {
                // Undeploys and retirements forget in reverse start order: the last
                // record, looked at first, popped without a search. Otherwise keys
                // ascend (one counter, instances recorded in order): found by binary
                // search, where a scan per instance made undeploying a deployment of n
                // instances take n² / 2 steps.
                if many.last().is_some_and(|r| r.key == key) {
                    many.pop();
                } else if let Ok(at) = many.binary_search_by_key(&key, |r| r.key) {
                    many.remove(at);
                }
                many.is_empty()
            }
            Self::Supervisor { key: own } => {
                if *own == Some(key) {
                    *own = None;
                }
                own.is_none()
            }
        }
    }
}

/// A deployment as seen from outside, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeploymentInfo {
    /// The deployment's name.
    pub name: String,
    /// The path of the supervisor it runs under, such as `root/sales`.
    pub supervisor: String,
    /// Its path, if the deployment is a supervisor.
    pub path: Option<String>,
    /// Its instances, in instance order.
    pub instances: Vec<InstanceInfo>,
}

/// One component instance as seen from outside, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceInfo {
    /// The reactor it runs on.
    pub reactor: usize,
    /// Its lifecycle state.
    pub state: ComponentState,
    /// Messages whose handler ran.
    pub handled: u64,
    /// Requests shed unhandled because their deadline had passed or their requester
    /// had gone.
    pub expired: u64,
    /// Failures (panics, start errors, requested failures).
    pub failures: u64,
    /// Times the watchdog saw it hold its reactor past the blocked threshold.
    pub blocked: u64,
    /// Times its supervisor restarted it.
    pub restarts: u64,
}

static NEXT_RUNTIME: AtomicU64 = AtomicU64::new(1);

impl Runtime {
    /// A builder with the defaults.
    pub const fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    pub(crate) fn start(mut builder: RuntimeBuilder) -> Result<Self, BuildError> {
        builder.root.name = ROOT.to_owned();
        let own = builder.validate()?;
        builder.root.validate(None).map_err(BuildError::Tree)?;
        let mut owned = HashMap::new();
        let count = allocate(&builder.root, ROOT, own, &mut owned);
        let pools = builder
            .pools()?
            .into_iter()
            .map(WorkerPool::new)
            .collect::<Result<Vec<_>, _>>()?;
        let id = NEXT_RUNTIME.fetch_add(1, Ordering::Relaxed);
        let probes: Vec<Arc<Probe>> = match builder.blocked_threshold {
            Some(_) => (0..count).map(|_| Arc::new(Probe::default())).collect(),
            None => Vec::new(),
        };
        let mut reactors = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count {
            match reactor::spawn(id, index, probes.get(index).cloned(), builder.idle) {
                Ok((handle, thread)) => {
                    reactors.push(handle);
                    threads.push(thread);
                }
                Err(error) => {
                    stop_reactors(&reactors, threads);
                    return Err(BuildError::Spawn(error));
                }
            }
        }
        let shared = Arc::new(Shared {
            id,
            bus: Bus::new(builder.request_timeout),
            reactors,
            probes,
            pools: pools.iter().map(WorkerPool::handle).collect(),
            mailbox_capacity: builder.mailbox_capacity,
            deployments: Mutex::new(SlotMap::with_key()),
            supervisors: Mutex::new(FastMap::default()),
            nodes: Mutex::new(BTreeMap::new()),
            owned,
            ended: flume::bounded(1),
            next_key: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            root: OnceLock::new(),
            events: Events::default(),
        });
        let watchdog = match builder.blocked_threshold {
            Some(threshold) => match start_watchdog(&shared, threshold) {
                Ok(watchdog) => Some(watchdog),
                Err(error) => {
                    stop_reactors(&shared.reactors, threads);
                    return Err(BuildError::Spawn(error));
                }
            },
            None => None,
        };
        tracing::info!(
            runtime = id,
            reactors = count,
            pools = pools.len(),
            "runtime.started"
        );
        let mut runtime = Self {
            handle: Handle { shared },
            threads,
            pools,
            watchdog,
        };
        if let Err(failure) = runtime.start_root(builder.root) {
            runtime.stop();
            return Err(BuildError::StartFailed(failure));
        }
        Ok(runtime)
    }

    /// Starts the root supervisor and, through it, the static tree.
    fn start_root(&self, spec: SupervisorSpec) -> Result<(), Failure> {
        let handle = self.handle.clone();
        let (tx, rx) = mailbox::bounded(crate::supervisor::REQUESTS);
        let _ = handle.shared.root.set(tx.clone());
        handle.register_supervisor(ROOT.into(), tx);
        let node = Node::new(NodeConfig {
            path: ROOT.into(),
            spec,
            reactors: handle.shared.owned[ROOT].clone(),
            runtime: handle.clone(),
            parent: Parent::Runtime(handle.shared.ended.0.clone()),
            requests: rx,
            epoch: 0,
        });
        let (started, outcome) = oneshot::channel();
        let spawn = Command::Spawn(Box::new(move |executor| {
            executor.spawn_detached(node.run(started));
        }));
        let _ = handle.shared.reactors[0].commands.send(spawn);
        rt::block_on(outcome).unwrap_or_else(|_| {
            Err(Failure::new(
                crate::Hook::Supervisor,
                crate::FailureKind::Error,
                "the root supervisor did not start",
            ))
        })
    }

    /// A handle to share with other threads and components.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        self.handle.bus()
    }

    /// Deploys a component; see [`Handle::deploy`].
    ///
    /// # Errors
    ///
    /// As [`Handle::deploy`].
    pub async fn deploy(&self, spec: ChildSpec) -> Result<DeploymentId, DeployError> {
        self.handle.deploy(spec).await
    }

    /// Undeploys a deployment; see [`Handle::undeploy`].
    ///
    /// # Errors
    ///
    /// As [`Handle::undeploy`].
    pub async fn undeploy(&self, id: DeploymentId) -> Result<(), UndeployError> {
        self.handle.undeploy(id).await
    }

    /// Runs a future to completion on the calling thread (for `main` and tests; never
    /// call it on a reactor).
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        rt::block_on(future)
    }

    /// Stops every component, the latest deployed first, each within its shutdown
    /// timeout, then ends and joins every reactor thread. Dropping the runtime does the
    /// same.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Blocks until the runtime ends: the root supervisor gave up (its intensity was
    /// exceeded), or someone called [`Handle::request_shutdown`]. Then shuts down.
    ///
    /// # Errors
    ///
    /// The root's [`Failure`] (of kind [`Escalated`](crate::FailureKind::Escalated)) if
    /// it gave up.
    pub fn wait(mut self) -> Result<(), Failure> {
        let ended = self.handle.shared.ended.1.recv().ok().flatten();
        self.stop();
        ended.map_or(Ok(()), Err)
    }

    fn stop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        let shared = &self.handle.shared;
        shared.shutting_down.store(true, Ordering::SeqCst);
        if reactor::current().is_some_and(|(id, _)| id == shared.id) {
            tracing::error!("runtime.shutdown called on one of its own reactors; not waiting");
            for reactor in &shared.reactors {
                let _ = reactor.commands.try_send(Command::Shutdown);
            }
            self.threads.clear();
            return;
        }
        tracing::info!(runtime = shared.id, "runtime.shutting_down");
        let handle = self.handle.clone();
        rt::block_on(async move {
            if let Some(root) = handle.supervisor_requests(ROOT) {
                let (done, stopped) = oneshot::channel();
                let stop = Request::Stop {
                    mode: StopMode::Terminate,
                    done,
                };
                if root.send(stop).await.is_ok() {
                    let _ = stopped.await;
                }
            }
        });
        for pool in self.pools.drain(..) {
            let report = pool.shutdown();
            if report.detached > 0 {
                tracing::warn!(
                    detached = report.detached,
                    "runtime.worker_threads_detached"
                );
            }
        }
        if let Some((stop, thread)) = self.watchdog.take() {
            drop(stop);
            let _ = thread.join();
        }
        stop_reactors(&shared.reactors, std::mem::take(&mut self.threads));
        tracing::info!(runtime = shared.id, "runtime.stopped");
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_watchdog(
    shared: &Arc<Shared>,
    threshold: Duration,
) -> std::io::Result<(flume::Sender<()>, JoinHandle<()>)> {
    watchdog::spawn(watchdog::Watched {
        probes: shared.probes.clone(),
        pools: shared.pools.clone(),
        threshold,
        directory: Arc::new(Names(Arc::downgrade(shared))),
    })
}

/// Lets the watchdog name a blocked instance without keeping the runtime alive.
struct Names(Weak<Shared>);

impl Directory for Names {
    fn blocked(&self, key: u64) -> Option<String> {
        let shared = self.0.upgrade()?;
        let table = shared
            .deployments
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.values().find_map(|deployment| {
            let instance = deployment
                .instances
                .as_slice()
                .iter()
                .find(|i| i.key == key)?;
            instance.stats.blocked.fetch_add(1, Ordering::Relaxed);
            Some(format!("{}#{}", deployment.name(), instance.index))
        })
    }

    fn emit_blocked(&self, reactor: usize, component: &str, blocked_for: Duration) {
        if let Some(shared) = self.0.upgrade() {
            shared.events.emit(|| crate::LifecycleEvent::Blocked {
                reactor,
                component: component.to_owned(),
                blocked_for,
            });
        }
    }
}

fn stop_reactors(reactors: &[ReactorHandle], threads: Vec<JoinHandle<()>>) {
    for reactor in reactors {
        let _ = reactor.commands.send(Command::Shutdown);
    }
    for thread in threads {
        if thread.join().is_err() {
            tracing::error!("a reactor thread panicked outside component code");
        }
    }
}

impl Handle {
    fn deployments(&self) -> MutexGuard<'_, SlotMap<DeploymentId, Deployment>> {
        self.shared
            .deployments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.shared.bus
    }

    /// The number of reactor threads.
    pub fn reactors(&self) -> usize {
        self.shared.reactors.len()
    }

    /// The default worker pool, the one behind
    /// [`Context::execute_blocking`](crate::Context::execute_blocking); usable from any
    /// thread.
    pub fn worker_pool(&self) -> &PoolHandle {
        &self.shared.pools[0]
    }

    /// The worker pool named `name` (`"default"` is the default pool).
    pub fn pool(&self, name: &str) -> Option<&PoolHandle> {
        self.shared.pools.iter().find(|p| p.name() == name)
    }

    /// The number of live deployments.
    pub fn deployment_count(&self) -> usize {
        self.deployments().len()
    }

    /// A view of deployment `id`: its name and each instance's state and counters;
    /// `None` once it is undeployed.
    pub fn deployment(&self, id: DeploymentId) -> Option<DeploymentInfo> {
        let table = self.deployments();
        let record = table.get(id)?;
        let instances = record
            .instances
            .as_slice()
            .iter()
            .map(|i| InstanceInfo {
                reactor: i.reactor as usize,
                state: i.stats.state(),
                handled: i.stats.handled.load(Ordering::Relaxed),
                expired: i.stats.expired.load(Ordering::Relaxed),
                failures: i.stats.failures.load(Ordering::Relaxed),
                blocked: u64::from(i.stats.blocked.load(Ordering::Relaxed)),
                restarts: u64::from(i.stats.restarts.load(Ordering::Relaxed)),
            })
            .collect();
        Some(DeploymentInfo {
            name: record.name().to_owned(),
            supervisor: record.parent().to_owned(),
            path: record.supervisor().map(|path| path.to_string()),
            instances,
        })
    }

    /// Subscribes to the lifecycle events (deployed, started, stopped, failed, restarted,
    /// escalated, blocked), delivered through a channel of `capacity` events. A
    /// subscriber that falls behind loses events, counted by [`EventStream::lost`]; it
    /// never slows the runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    /// use reactree::LifecycleEvent;
    ///
    /// struct Idle;
    /// impl Component for Idle {}
    ///
    /// let runtime = Runtime::builder().reactors(1).build()?;
    /// let events = runtime.handle().events(64);
    /// runtime.block_on(runtime.deploy(ChildSpec::new("idle", || Idle)))?;
    /// let first = events.next_timeout(std::time::Duration::from_secs(5));
    /// assert_eq!(first, Some(LifecycleEvent::Started { path: "root/idle".into(), instance: 0 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn events(&self, capacity: usize) -> EventStream {
        self.shared.events.subscribe(capacity)
    }

    pub(crate) fn event_hub(&self) -> &Events {
        &self.shared.events
    }

    /// Asks the runtime to end: [`Runtime::wait`] returns `Ok(())` and shuts it down.
    pub fn request_shutdown(&self) {
        let _ = self.shared.ended.0.try_send(None);
    }

    /// Deploys `spec` under the root supervisor; see [`deploy_under`](Self::deploy_under).
    ///
    /// # Errors
    ///
    /// As [`deploy_under`](Self::deploy_under).
    pub fn deploy(
        &self,
        spec: ChildSpec,
    ) -> impl Future<Output = Result<DeploymentId, DeployError>> + Send + '_ {
        // The request's own future, not one around it: each layer would be moved in
        // whole (some 800 bytes) on every deploy.
        self.deploy_under(ROOT, spec)
    }

    /// Deploys `spec` under the supervisor at `path` (`"root"`, `"root/sales"`): builds
    /// each instance on its reactor with the spec's factory and runs its `start`, in
    /// order. Resolves once every instance has started, to the new deployment's id.
    ///
    /// Asked from a task on the supervisor's own reactor while the supervisor waits for
    /// work, the deploy is done in the caller's poll, without a request to the
    /// supervisor's task (a `start` that waits is finished by that task); otherwise it
    /// is a request the supervisor takes in its turn. The outcome is the same either
    /// way, and dropping the future once it has been polled does not undo the deploy.
    ///
    /// # Errors
    ///
    /// [`DeployError::InvalidSpec`]; [`DeployError::StartFailed`] when an instance's
    /// factory or `start` fails or panics (the instances that did start are stopped
    /// first); [`DeployError::NoSuchSupervisor`]; [`DeployError::SupervisorDown`];
    /// [`DeployError::ShuttingDown`].
    pub fn deploy_under<'a>(
        &'a self,
        path: &'a str,
        spec: ChildSpec,
    ) -> impl Future<Output = Result<DeploymentId, DeployError>> + Send + 'a {
        self.ask(path, move |handle| {
            // All but the reactor, which the supervisor checks against its own.
            spec.validate_alone()?;
            // On the supervisor's own reactor, while it waits for work: done here.
            let spec = match handle.own_reactor() {
                Some(here) if !handle.shared.shutting_down.load(Ordering::SeqCst) => {
                    match supervisor::deploy_here(path, spec, here) {
                        Ok(now) => return Ok(Asked::Now(now)),
                        Err(spec) => spec,
                    }
                }
                _ => spec,
            };
            Ok(Asked::request(|reply| Request::Deploy { spec, reply }))
        })
    }

    /// Deploys `spec` under the supervisor deployed as `supervisor` (an id returned by
    /// [`deploy_supervisor`](Self::deploy_supervisor), or a static supervisor's id from
    /// [`deployment`](Self::deployment)).
    ///
    /// # Errors
    ///
    /// As [`deploy_under`](Self::deploy_under); [`DeployError::NoSuchSupervisor`] if the
    /// id is not a live supervisor.
    pub async fn deploy_under_id(
        &self,
        supervisor: DeploymentId,
        spec: ChildSpec,
    ) -> Result<DeploymentId, DeployError> {
        let path = self
            .deployments()
            .get(supervisor)
            .and_then(|d| d.supervisor().cloned())
            .ok_or_else(|| DeployError::NoSuchSupervisor(format!("{supervisor:?}")))?;
        self.deploy_under(&path, spec).await
    }

    /// Deploys a whole supervisor (with its children) under the supervisor at `path`.
    /// Supervisors deployed at run time use their parent's reactors: `reactors(n)` is
    /// refused ([`SpecError::DynamicReactors`]), since threads are fixed when the
    /// runtime is built.
    ///
    /// # Errors
    ///
    /// As [`deploy_under`](Self::deploy_under), plus [`DeployError::InvalidTree`].
    pub async fn deploy_supervisor(
        &self,
        path: &str,
        spec: SupervisorSpec,
    ) -> Result<DeploymentId, DeployError> {
        self.ask(path, |_| {
            Ok(Asked::request(|reply| Request::DeploySupervisor {
                spec: Box::new(spec),
                reply,
            }))
        })
        .await
    }

    /// Runs `prepare` (or returns its error), which either does the deploy in place
    /// (see [`supervisor::deploy_here`]) or builds a request for the supervisor at
    /// `path`; sends that and waits for the reply. One future, without one per step
    /// inside: each would be moved in whole on every deploy.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would keep the request builder twice"
    )]
    fn ask<'a>(
        &'a self,
        path: &'a str,
        prepare: impl FnOnce(&'a Self) -> Result<Asked, DeployError> + Send + 'a,
    ) -> impl Future<Output = Result<DeploymentId, DeployError>> + Send + 'a {
        async move {
            let (request, answer) = match prepare(self)? {
                Asked::Now(Now::Done(outcome)) => return outcome,
                Asked::Now(Now::Wait(answer)) => {
                    return answer.await.unwrap_or(Err(DeployError::ShuttingDown));
                }
                Asked::Request(request, answer) => (request, answer),
            };
            if self.shared.shutting_down.load(Ordering::SeqCst) {
                return Err(DeployError::ShuttingDown);
            }
            let supervisor = self
                .supervisor_requests(path)
                .ok_or_else(|| DeployError::NoSuchSupervisor(path.to_owned()))?;
            if let Err(full) = try_submit(&supervisor, request) {
                // Gone: the runtime is going down.
                wait_for_room(&supervisor, full)
                    .await
                    .map_err(|()| DeployError::ShuttingDown)?;
            }
            answer.await.unwrap_or(Err(DeployError::ShuttingDown))
        }
    }

    /// Undeploys a deployment (a component or a supervisor with its subtree): each
    /// instance stops receiving, runs `stop` (within the spec's shutdown timeout), loses
    /// its timers and consumers, and is dropped. Messages still queued are discarded and
    /// their requesters get
    /// [`RequestError::RecipientFailure`](crate::RequestError::RecipientFailure). Done in
    /// the caller's poll when it can be, as [`deploy_under`](Self::deploy_under) is.
    ///
    /// # Errors
    ///
    /// [`UndeployError::UnknownDeployment`] for an id that is not (or no longer) deployed.
    pub async fn undeploy(&self, id: DeploymentId) -> Result<(), UndeployError> {
        // The parent's path is copied only when it is not the root's (whose requests
        // are found without a lookup).
        let (parent, first) = self
            .deployments()
            .get(id)
            .map(|d| {
                let parent = split_path(&d.path).0;
                let parent = (parent != ROOT).then(|| parent.to_owned());
                (parent, d.instances.first_key())
            })
            .ok_or(UndeployError::UnknownDeployment(id))?;
        let parent = parent.as_deref().unwrap_or(ROOT);
        if let Some(here) = self.own_reactor() {
            match supervisor::undeploy_here(parent, id, first, here) {
                Some(Now::Done(outcome)) => return outcome,
                Some(Now::Wait(answer)) => {
                    return answer
                        .await
                        .unwrap_or(Err(UndeployError::UnknownDeployment(id)));
                }
                None => {}
            }
        }
        let supervisor = self
            .supervisor_requests(parent)
            .ok_or(UndeployError::UnknownDeployment(id))?;
        let (reply, answer) = oneshot::channel();
        if let Err(full) = try_submit(&supervisor, Request::Undeploy { id, first, reply }) {
            wait_for_room(&supervisor, full)
                .await
                .map_err(|()| UndeployError::UnknownDeployment(id))?;
        }
        answer
            .await
            .unwrap_or(Err(UndeployError::UnknownDeployment(id)))
    }

    /// A snapshot of the supervisor at `path`: strategy, children (and whether each
    /// runs), restarts. Read in place, like [`inspect`](Self::inspect): it shows the
    /// supervisor as of its latest decision (a deploy or undeploy has been published by
    /// the time it resolves; a restart shows once it is done).
    pub fn supervisor(&self, path: &str) -> Option<SupervisorInfo> {
        // Its children are the deployments under its path, in start order (their first
        // keys come from one counter, as they were added); read before the nodes' table
        // is locked, which is never held with the deployments'.
        let mut deployed: Vec<(u64, Arc<str>, Option<Vec<bool>>)> = self
            .deployments()
            .values()
            .filter(|d| d.parent() == path)
            .map(|d| {
                let running = d.supervisor().is_none().then(|| {
                    d.instances
                        .as_slice()
                        .iter()
                        .map(|i| i.stats.supervised_running())
                        .collect()
                });
                let order = d.instances.first_key().unwrap_or(u64::MAX);
                (order, d.path.clone(), running)
            })
            .collect();
        deployed.sort_unstable_by_key(|(order, ..)| *order);
        let nodes = self
            .shared
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let stats = nodes.get(path)?;
        let mut children = Vec::with_capacity(deployed.len());
        for (_, child, instances) in &deployed {
            let name = split_path(child).1;
            match instances {
                Some(instances) => {
                    children.extend(instances.iter().map(|&running| (name.to_owned(), running)));
                }
                None => children.push((
                    name.to_owned(),
                    nodes
                        .get(&**child)
                        .is_some_and(|node| node.running.load(Ordering::Relaxed)),
                )),
            }
        }
        // Acquire pairs with the supervisor's publish: the rest is at least this fresh.
        let restarts = stats.restarts.load(Ordering::Acquire);
        Some(SupervisorInfo {
            path: path.to_owned(),
            strategy: stats.strategy,
            children,
            restarts,
            restarts_in_window: stats.restarts_in_window.load(Ordering::Relaxed),
            escalated: stats.escalated.load(Ordering::Relaxed),
        })
    }

    // ----- for supervisor nodes -----

    fn supervisor_requests(&self, path: &str) -> Option<Cow<'_, mailbox::Sender<Request>>> {
        if path == ROOT {
            // Gone once the root's task has ended (and its mailbox closed with it).
            return self
                .shared
                .root
                .get()
                .filter(|root| !root.is_closed())
                .map(Cow::Borrowed);
        }
        self.shared
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
            .map(Cow::Owned)
    }

    pub(crate) fn register_supervisor(&self, path: Arc<str>, requests: mailbox::Sender<Request>) {
        self.shared
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path, requests);
    }

    pub(crate) fn unregister_supervisor(&self, path: &str) {
        self.shared
            .supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
    }

    pub(crate) fn register_node(&self, path: Arc<str>, stats: Arc<NodeStats>) {
        self.shared
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path, stats);
    }

    pub(crate) fn unregister_node(&self, path: &str) {
        self.shared
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
    }

    pub(crate) fn owned_reactors(&self, path: &str) -> Option<Arc<[usize]>> {
        self.shared.owned.get(path).cloned()
    }

    /// This runtime's id (see [`reactor::current`]).
    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }

    /// The index of the reactor of this runtime running on this thread, if any.
    fn own_reactor(&self) -> Option<usize> {
        reactor::current()
            .filter(|&(runtime, _)| runtime == self.shared.id)
            .map(|(_, index)| index)
    }

    pub(crate) fn next_key(&self) -> u64 {
        self.shared.next_key.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn mailbox_capacity(&self) -> usize {
        self.shared.mailbox_capacity
    }

    pub(crate) async fn send_command(&self, reactor: usize, command: Command) -> Result<(), ()> {
        let Some(command) = reactor::run_here(self.shared.id, reactor, command) else {
            return Ok(());
        };
        self.shared.reactors[reactor]
            .commands
            .send_async(command)
            .await
            .map_err(|_| ())
    }

    /// Records a component deployment at `path` (`parent/name`) of `instances`
    /// instances, with its first (on `reactor`, keyed `key`, counted in `stats`); the
    /// others are recorded as they are added. Its list is sized for them all, and one
    /// is kept inline.
    pub(crate) fn new_record(
        &self,
        path: &Arc<str>,
        instances: usize,
        reactor: usize,
        key: u64,
        stats: Arc<InstanceStats>,
    ) -> DeploymentId {
        let mut records = Records::with_capacity(instances);
        records.push(InstanceRecord::new(0, reactor, key, stats));
        self.deployments().insert(Deployment {
            path: Arc::clone(path),
            instances: records,
        })
    }

    /// Records a supervisor deployed at `path`, its key in its parent `key`.
    pub(crate) fn new_supervisor_record(&self, path: &Arc<str>, key: u64) -> DeploymentId {
        self.deployments().insert(Deployment {
            path: Arc::clone(path),
            instances: Records::Supervisor { key: Some(key) },
        })
    }

    pub(crate) fn record_instance(
        &self,
        id: DeploymentId,
        index: usize,
        reactor: usize,
        key: u64,
        stats: Arc<InstanceStats>,
    ) {
        if let Some(record) = self.deployments().get_mut(id) {
            record
                .instances
                .push(InstanceRecord::new(index, reactor, key, stats));
        }
    }

    /// Drops one instance (or the supervisor) of a deployment; the record goes with its
    /// last one. Whether the deployment has none left (its record went now, or before).
    pub(crate) fn forget_instance(&self, id: DeploymentId, key: u64) -> bool {
        let mut table = self.deployments();
        let Some(record) = table.get_mut(id) else {
            return true;
        };
        let last = record.instances.forget(key);
        if last {
            table.remove(id);
        }
        last
    }
}

/// A deploy: done in place, or a request to send and the receiver of its reply.
enum Asked {
    Now(Now<DeploymentId, DeployError>),
    Request(
        Request,
        oneshot::Receiver<Result<DeploymentId, DeployError>>,
    ),
}

impl Asked {
    /// The request `request` builds around a new reply channel.
    fn request(
        request: impl FnOnce(oneshot::Sender<Result<DeploymentId, DeployError>>) -> Request,
    ) -> Self {
        let (reply, answer) = oneshot::channel();
        Self::Request(request(reply), answer)
    }
}

/// Gives `request` to a supervisor if its mailbox has room. A supervisor waiting for
/// work on the caller's own reactor handles it at once, inside the caller's poll (see
/// [`reactor::wake_and_run`]): a deploy from a component on the root's reactor is then
/// answered without either task going idle. `Err(Some(request))` when the mailbox is
/// full (the caller then waits for room with `send`), `Err(None)` once the supervisor
/// is gone. Not a future: the common case needs no wait, and a future around it would
/// be moved in whole, request and all, on every deploy and undeploy.
fn try_submit(
    supervisor: &mailbox::Sender<Request>,
    request: Request,
) -> Result<(), Option<Request>> {
    match supervisor.try_send_unwoken(request) {
        Ok(Some(waker)) => {
            reactor::wake_and_run(&waker);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(mailbox::SendError::Full(request)) => Err(Some(request)),
        Err(mailbox::SendError::Closed(_)) => Err(None),
    }
}

/// After [`try_submit`] refused `full`: waits for room and gives the request
/// (`Some`, the mailbox was full); `Err` if the supervisor is gone, before or meanwhile.
async fn wait_for_room(
    supervisor: &mailbox::Sender<Request>,
    full: Option<Request>,
) -> Result<(), ()> {
    let request = full.ok_or(())?;
    supervisor.send(request).await.map_err(|_| ())
}

/// Gives each supervisor that declares reactors its global indices, depth first; the
/// root gets `0..own`. Returns the total.
fn allocate(
    spec: &SupervisorSpec,
    path: &str,
    own: usize,
    owned: &mut HashMap<String, Arc<[usize]>>,
) -> usize {
    fn walk(
        spec: &SupervisorSpec,
        path: &str,
        next: &mut usize,
        owned: &mut HashMap<String, Arc<[usize]>>,
    ) {
        for child in &spec.children {
            if let TreeChild::Supervisor(nested) = child {
                let child_path = format!("{path}/{}", nested.name);
                if let Some(n) = nested.reactors {
                    owned.insert(child_path.clone(), (*next..*next + n).collect());
                    *next += n;
                }
                walk(nested, &child_path, next, owned);
            }
        }
    }
    owned.insert(path.to_owned(), (0..own).collect());
    let mut next = own;
    walk(spec, path, &mut next, owned);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(keys: &[u64]) -> Records {
        let mut records = Records::with_capacity(keys.len());
        for (index, &key) in keys.iter().enumerate() {
            records.push(InstanceRecord::new(
                index,
                0,
                key,
                Arc::new(InstanceStats::default()),
            ));
        }
        records
    }

    fn keys(records: &Records) -> Vec<u64> {
        records.as_slice().iter().map(|r| r.key).collect()
    }

    #[test]
    fn a_deployments_records_are_forgotten_in_any_order_and_go_with_the_last() {
        let mut many = records(&[3, 5, 8, 13, 21]);
        // The newest (an undeploy's order), one in the middle, the oldest.
        assert!(!many.forget(21));
        assert!(!many.forget(8));
        assert!(!many.forget(3));
        assert_eq!(keys(&many), [5, 13]);
        // A key it does not hold changes nothing.
        assert!(!many.forget(4));
        assert!(!many.forget(99));
        assert_eq!(keys(&many), [5, 13]);
        assert_eq!(many.first_key(), Some(5));
        assert!(!many.forget(5));
        assert!(many.forget(13));
        assert!(keys(&many).is_empty());

        let mut one = records(&[7]);
        assert!(!one.forget(8));
        assert!(one.forget(7));
    }

    #[test]
    fn forgetting_a_large_deployment_newest_first_leaves_the_rest_in_order() {
        let all: Vec<u64> = (0..1_000).map(|k| 10 + 2 * k).collect();
        let mut many = records(&all);
        for newest in (1..all.len()).rev() {
            assert!(!many.forget(all[newest]));
            assert_eq!(keys(&many), all[..newest]);
        }
        assert!(many.forget(all[0]));
    }
}
