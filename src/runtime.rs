//! The runtime: reactor threads, the bus, and the table of deployments.

mod builder;
mod error;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use slotmap::SlotMap;

pub use builder::{DEFAULT_MAILBOX_CAPACITY, DEFAULT_REQUEST_TIMEOUT, RuntimeBuilder};
pub use error::{BuildError, DeployError, SpecError, UndeployError};

use crate::component::{ChildSpec, ComponentState, InstanceConfig, InstanceStats};
use crate::context::Identity;
use crate::failure::Failure;
use crate::reactor::{self, Command, ReactorHandle};
use crate::watchdog::{self, Directory, Probe};
use crate::worker::{PoolHandle, WorkerPool};
use crate::{Bus, oneshot, rt};

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
    next_reactor: AtomicUsize,
    next_key: AtomicU64,
    next_sequence: AtomicU64,
    shutting_down: AtomicBool,
}

/// One deployment's record.
struct Deployment {
    name: Arc<str>,
    sequence: u64,
    instances: Vec<InstanceRecord>,
}

struct InstanceRecord {
    index: usize,
    reactor: usize,
    key: u64,
    stats: Arc<InstanceStats>,
}

/// A deployment as seen from outside, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeploymentInfo {
    /// The deployment's name.
    pub name: String,
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
}

/// One reactor as seen from outside, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReactorInfo {
    /// Its index, as in its thread name `reactree-reactor-N`.
    pub index: usize,
    /// Times one poll of component code held it past the blocked threshold (0 without the
    /// watchdog).
    pub blocked_events: u64,
    /// The longest such block seen.
    pub longest_block: Duration,
}

static NEXT_RUNTIME: AtomicU64 = AtomicU64::new(1);

impl Runtime {
    /// A builder with the defaults.
    pub const fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    pub(crate) fn start(builder: RuntimeBuilder) -> Result<Self, BuildError> {
        let count = builder.validate()?;
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
            match reactor::spawn(id, index, probes.get(index).cloned()) {
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
            next_reactor: AtomicUsize::new(0),
            next_key: AtomicU64::new(1),
            next_sequence: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
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
        Ok(Self {
            handle: Handle { shared },
            threads,
            pools,
            watchdog,
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
            for id in handle.deployments_latest_first() {
                let _ = handle.undeploy(id).await;
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
            let instance = deployment.instances.iter().find(|i| i.key == key)?;
            instance.stats.blocked.fetch_add(1, Ordering::Relaxed);
            Some(format!("{}#{}", deployment.name, instance.index))
        })
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

    /// Each reactor's blocked-thread counters.
    pub fn reactor_info(&self) -> Vec<ReactorInfo> {
        (0..self.shared.reactors.len())
            .map(|index| {
                let probe = self.shared.probes.get(index);
                ReactorInfo {
                    index,
                    blocked_events: probe.map_or(0, |p| p.blocked_events()),
                    longest_block: probe.map_or(Duration::ZERO, |p| p.longest_block()),
                }
            })
            .collect()
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
            .iter()
            .map(|i| InstanceInfo {
                reactor: i.reactor,
                state: i.stats.state(),
                handled: i.stats.handled.load(Ordering::Relaxed),
                expired: i.stats.expired.load(Ordering::Relaxed),
                failures: i.stats.failures.load(Ordering::Relaxed),
                blocked: i.stats.blocked.load(Ordering::Relaxed),
            })
            .collect();
        Some(DeploymentInfo {
            name: record.name.to_string(),
            instances,
        })
    }

    fn deployments_latest_first(&self) -> Vec<DeploymentId> {
        let table = self.deployments();
        let mut ids: Vec<(u64, DeploymentId)> =
            table.iter().map(|(id, d)| (d.sequence, id)).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.into_iter().map(|(_, id)| id).collect()
    }

    /// Deploys `spec`: builds each instance on its reactor with the spec's factory and
    /// runs its `start`. Resolves once every instance has started, to the new
    /// deployment's id.
    ///
    /// # Errors
    ///
    /// [`DeployError::InvalidSpec`]; [`DeployError::StartFailed`] when an instance's
    /// factory or `start` fails or panics (the instances that did start are stopped
    /// first); [`DeployError::ShuttingDown`].
    pub async fn deploy(&self, spec: ChildSpec) -> Result<DeploymentId, DeployError> {
        self.validate(&spec)?;
        let shared = &self.shared;
        if shared.shutting_down.load(Ordering::SeqCst) {
            return Err(DeployError::ShuttingDown);
        }
        let sequence = shared.next_sequence.fetch_add(1, Ordering::Relaxed);
        let id = self.deployments().insert(Deployment {
            name: spec.name.clone(),
            sequence,
            instances: Vec::with_capacity(spec.instances),
        });
        tracing::info!(component = %spec.name, deployment = ?id, instances = spec.instances, "component.deploying");
        let mut starts = Vec::with_capacity(spec.instances);
        for instance in 0..spec.instances {
            match self.launch(&spec, id, instance).await {
                Ok(started) => starts.push(started),
                Err(error) => {
                    let _ = self.undeploy(id).await;
                    return Err(error);
                }
            }
        }
        let mut first_failure: Option<(usize, Failure)> = None;
        for (instance, started) in starts.into_iter().enumerate() {
            let outcome = match started.await {
                Ok(outcome) => outcome,
                Err(oneshot::Closed) => {
                    let _ = self.undeploy(id).await;
                    return Err(DeployError::ShuttingDown);
                }
            };
            if let (Err(failure), None) = (outcome, &first_failure) {
                first_failure = Some((instance, failure));
            }
        }
        if let Some((instance, failure)) = first_failure {
            let _ = self.undeploy(id).await;
            tracing::warn!(component = %spec.name, instance, %failure, "component.start_failed");
            return Err(DeployError::StartFailed {
                name: spec.name.to_string(),
                instance,
                failure,
            });
        }
        Ok(id)
    }

    fn validate(&self, spec: &ChildSpec) -> Result<(), SpecError> {
        if spec.name.is_empty() {
            return Err(SpecError::EmptyName);
        }
        if spec.instances == 0 {
            return Err(SpecError::ZeroInstances);
        }
        if spec.mailbox_capacity == Some(0) {
            return Err(SpecError::ZeroMailboxCapacity);
        }
        match spec.reactor {
            Some(index) if index >= self.reactors() => Err(SpecError::NoSuchReactor {
                index,
                reactors: self.reactors(),
            }),
            _ => Ok(()),
        }
    }

    /// Sends one instance's start command to its reactor and records it.
    async fn launch(
        &self,
        spec: &ChildSpec,
        id: DeploymentId,
        instance: usize,
    ) -> Result<oneshot::Receiver<Result<(), Failure>>, DeployError> {
        let shared = &self.shared;
        let reactor = spec.reactor.unwrap_or_else(|| {
            shared.next_reactor.fetch_add(1, Ordering::Relaxed) % shared.reactors.len()
        });
        let key = shared.next_key.fetch_add(1, Ordering::Relaxed);
        let stats = Arc::new(InstanceStats::default());
        let (started, outcome) = oneshot::channel();
        let config = InstanceConfig {
            identity: Identity {
                name: spec.name.clone(),
                deployment: id,
                instance,
                reactor,
            },
            key,
            runtime: self.clone(),
            mailbox_capacity: spec.mailbox_capacity.unwrap_or(shared.mailbox_capacity),
            shutdown_timeout: spec.shutdown_timeout,
            stats: stats.clone(),
            started,
        };
        match self.deployments().get_mut(id) {
            Some(record) => record.instances.push(InstanceRecord {
                index: instance,
                reactor,
                key,
                stats,
            }),
            None => return Err(DeployError::ShuttingDown),
        }
        let command = Command::Start(spec.launch.launch(config));
        shared.reactors[reactor]
            .commands
            .send_async(command)
            .await
            .map_err(|_| DeployError::ShuttingDown)?;
        Ok(outcome)
    }

    /// Undeploys a deployment: each instance stops receiving, runs `stop` (within the
    /// spec's shutdown timeout), loses its timers and consumers, and is dropped. Messages
    /// still queued are discarded and their requesters get
    /// [`RequestError::RecipientFailure`](crate::RequestError::RecipientFailure).
    ///
    /// # Errors
    ///
    /// [`UndeployError::UnknownDeployment`] for an id that is not (or no longer) deployed.
    pub async fn undeploy(&self, id: DeploymentId) -> Result<(), UndeployError> {
        let record = self
            .deployments()
            .remove(id)
            .ok_or(UndeployError::UnknownDeployment(id))?;
        let mut stopped = Vec::with_capacity(record.instances.len());
        for instance in record.instances.iter().rev() {
            let (done, finished) = oneshot::channel();
            let command = Command::Stop {
                key: instance.key,
                done,
            };
            // A reactor that is gone has already dropped its instances.
            if self.shared.reactors[instance.reactor]
                .commands
                .send_async(command)
                .await
                .is_ok()
            {
                stopped.push(finished);
            }
        }
        for finished in stopped {
            let _ = finished.await;
        }
        tracing::info!(deployment = ?id, "component.undeployed");
        Ok(())
    }
}
