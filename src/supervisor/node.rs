//! A supervisor node: one task on the first reactor of its set, owning its children's
//! lifecycle and driving its [`SupervisorPolicy`].
//!
//! Invariants:
//! - only this task starts, stops and restarts its children, so its decisions are
//!   serialised: the policy sees every exit exactly once, in order;
//! - children start in order, each start finishing before the next begins, and stop in
//!   reverse order;
//! - an exit report carries the epoch (the start it ends); reports of an older start
//!   are stale and ignored, so a child stopped for a sibling's restart is never
//!   mistaken for a failed one;
//! - the exits mailbox is unbounded (its capacity is `u32::MAX`) but holds at most one
//!   report per child and epoch;
//! - a child forgotten from the middle of `children` stays as a tombstone
//!   (`Kind::Gone`, keeping its id, key and deployment for the searches and a
//!   deployment's run), so forgetting one moves no other; tombstones at either end go
//!   at once, and the rest are swept (`sweep_if_sparse`) once they outnumber the
//!   children, only where no position is held.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Instant;

use futures_lite::Future;
use reactree_supervisors::{
    ChildId, Decision, Exit as PolicyExit, PolicyState, RestartType, SupervisorPolicy, Timestamp,
    tombstones,
};

use crate::bus::FastSet;
use crate::component::control::{Directive, StartReport, StopMode};
use crate::component::spec::{Launch, Shared};
use crate::component::{ChildExit, Exit, InstanceConfig, InstanceStats, mailbox};
use crate::context::{Identity, join_path};
use crate::events::LifecycleEvent;
use crate::failure::{Failure, FailureKind, Hook};
use crate::reactor::Command;
use crate::rt::Timer;
use crate::runtime::{DeployError, SpecError, UndeployError, split_path};
use crate::supervisor::plans::Plans;
use crate::supervisor::{SupervisorSpec, TreeChild};
use crate::{ChildSpec, DeploymentId, Handle, narrow, oneshot};

/// Capacity of a supervisor's request mailbox.
pub(crate) const REQUESTS: usize = 64;

/// What the runtime and a parent ask of a supervisor.
pub(crate) enum Request {
    Deploy {
        spec: ChildSpec,
        reply: oneshot::Sender<Result<DeploymentId, DeployError>>,
    },
    DeploySupervisor {
        /// Boxed: it is rare, and four times the size of the other requests, which are
        /// moved through mailboxes and matches on every deploy and undeploy.
        spec: Box<SupervisorSpec>,
        reply: oneshot::Sender<Result<DeploymentId, DeployError>>,
    },
    Undeploy {
        id: DeploymentId,
        /// The key of its first instance, as its record had it: where to look.
        first: Option<u64>,
        reply: oneshot::Sender<Result<(), UndeployError>>,
    },
    /// Stop every child; with `Terminate`, end too.
    Stop {
        mode: StopMode,
        done: oneshot::Sender<()>,
    },
    /// Start again after an escalation or a stop for restart.
    Restart {
        epoch: u64,
        started: oneshot::Sender<Result<(), Failure>>,
    },
}

/// Where a supervisor hears how a child's start went: an instance reports to its
/// control (no channel per start), a supervisor child through a channel.
enum Started {
    Instance(Arc<InstanceStats>),
    Supervisor(oneshot::Receiver<Result<(), Failure>>),
}

/// Who hears about this supervisor giving up.
pub(crate) enum Parent {
    Supervisor {
        exits: mailbox::Sender<ChildExit>,
        key: u64,
    },
    Runtime(flume::Sender<Option<Failure>>),
}

/// Everything a node needs to start.
pub(crate) struct NodeConfig {
    pub(crate) path: Arc<str>,
    pub(crate) spec: SupervisorSpec,
    pub(crate) reactors: Arc<[usize]>,
    pub(crate) runtime: Handle,
    pub(crate) parent: Parent,
    pub(crate) requests: mailbox::Receiver<Request>,
    pub(crate) epoch: u64,
}

enum Kind {
    /// What an instance's (re)starts need of its spec, with its mailbox capacity
    /// resolved: kept per child, so no more than that.
    Instance {
        /// `parent/name`, shared with the deployment's record and other instances.
        path: Arc<str>,
        launch: Shared<dyn Launch>,
        /// Clamped to `u32::MAX`, as the mailbox clamps it.
        mailbox_capacity: u32,
        /// The shutdown timeout as the instance keeps it (see `grace_millis`).
        grace_ms: u32,
        reactor: u32,
        stats: Arc<InstanceStats>,
    },
    Supervisor {
        /// Boxed: a supervisor's spec is large, and it would size every child's entry.
        spec: Box<SupervisorSpec>,
        path: Arc<str>,
        reactors: Arc<[usize]>,
        requests: Option<mailbox::Sender<Request>>,
        /// What the inspector reads of its current run.
        stats: Option<Arc<NodeStats>>,
    },
    /// Forgotten: a tombstone (see the module's invariants), holding nothing.
    Gone,
}

struct Child {
    id: ChildId,
    key: u64,
    deployment: DeploymentId,
    restart: RestartType,
    /// A task exists for it (running or down, waiting for a directive).
    alive: bool,
    /// Started and not exited since.
    running: bool,
    epoch: u64,
    /// Which instance of its deployment it is (0 for a supervisor): kept here, not in
    /// `Kind`, where it would make every entry a word longer.
    index: u32,
    kind: Kind,
}

impl Child {
    fn name(&self) -> &str {
        split_path(self.path()).1
    }

    /// Its path; empty for a tombstone.
    fn path(&self) -> &str {
        match &self.kind {
            Kind::Instance { path, .. } | Kind::Supervisor { path, .. } => path,
            Kind::Gone => "",
        }
    }

    const fn is_gone(&self) -> bool {
        matches!(self.kind, Kind::Gone)
    }
}

/// What the inspector reads of a supervisor without asking its task.
#[derive(Debug)]
pub(crate) struct NodeStats {
    pub(crate) strategy: reactree_supervisors::Strategy,
    pub(crate) restarts: AtomicU64,
    pub(crate) restarts_in_window: AtomicU32,
    pub(crate) escalated: AtomicBool,
    /// Whether its parent counts it as running: started, and not exited since.
    pub(crate) running: AtomicBool,
}

/// What woke the node.
enum Event {
    Exit(ChildExit),
    Request(Request),
    Due,
}

/// Whether the node goes on.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

pub(crate) struct Node {
    path: Arc<str>,
    spec: SupervisorSpec,
    reactors: Arc<[usize]>,
    runtime: Handle,
    parent: Parent,
    requests: mailbox::Receiver<Request>,
    epoch: u64,
    policy: SupervisorPolicy,
    origin: Instant,
    /// In start order. A deque: undeploying the oldest child is as cheap as the newest;
    /// one from the middle leaves a tombstone (see the module's invariants).
    children: VecDeque<Child>,
    /// Tombstones in `children`.
    gone: usize,
    /// The paths of its deployments, one entry each (a deployment's instances share
    /// theirs). Keyed by the whole path, not the name after it: every key shares the
    /// supervisor's prefix, and hashing the path needs no scan for its last `/`.
    names: FastSet<Arc<str>>,
    exits_tx: mailbox::Sender<ChildExit>,
    exits: mailbox::Receiver<ChildExit>,
    next_reactor: usize,
    plans: Plans,
    stats: Arc<NodeStats>,
}

fn policy_of(spec: &SupervisorSpec) -> SupervisorPolicy {
    SupervisorPolicy::new(spec.strategy, spec.intensity, spec.backoff, spec.seed)
        .expect("validated when the tree was built")
}

impl Node {
    /// A node with its static children registered (not started).
    pub(crate) fn new(config: NodeConfig) -> Self {
        let (exits_tx, exits) = mailbox::bounded(usize::MAX);
        let strategy = config.spec.strategy;
        let mut node = Self {
            policy: policy_of(&config.spec),
            path: config.path,
            spec: config.spec,
            reactors: config.reactors,
            runtime: config.runtime,
            parent: config.parent,
            requests: config.requests,
            epoch: config.epoch,
            origin: Instant::now(),
            children: VecDeque::new(),
            gone: 0,
            names: FastSet::default(),
            exits_tx,
            exits,
            next_reactor: 0,
            plans: Plans::default(),
            stats: Arc::new(NodeStats {
                strategy,
                restarts: AtomicU64::new(0),
                restarts_in_window: AtomicU32::new(0),
                escalated: AtomicBool::new(false),
                running: AtomicBool::new(false),
            }),
        };
        for child in node.spec.children.clone() {
            match child {
                // Names were checked with the tree (`SupervisorSpec::validate`): each
                // claim succeeds.
                TreeChild::Component(spec) => {
                    if let Some(path) = node.claim(&spec.name) {
                        let id = node.runtime.new_record(&path, spec.instances);
                        node.add_instances(&spec, &path, id);
                    }
                }
                TreeChild::Supervisor(spec) => {
                    if let Some(path) = node.claim(&spec.name) {
                        node.add_supervisor(spec, path);
                    }
                }
            }
        }
        node
    }

    fn now(&self) -> Timestamp {
        Timestamp::since(self.origin, Instant::now())
    }

    /// Runs the node: starts its children, then supervises until told to end.
    pub(crate) async fn run(mut self, started: oneshot::Sender<Result<(), Failure>>) {
        let _span = tracing::debug_span!("supervisor", path = %self.path).entered();
        self.runtime
            .register_node(self.path.clone(), self.stats.clone());
        let outcome = self.start_all().await;
        self.publish();
        let ok = outcome.is_ok();
        let _ = started.send(outcome);
        if ok || self.down().await == Flow::Continue {
            self.supervise().await;
        }
        self.retire();
    }

    /// Ended for good: its path and its children's records go. Done before a terminate
    /// request is answered, so the caller never sees them; idempotent.
    fn retire(&self) {
        // Newest first: each is then the last record of its deployment (see
        // `Records::forget`).
        for child in self.children.iter().rev().filter(|c| !c.is_gone()) {
            self.runtime.forget_instance(child.deployment, child.key);
        }
        self.runtime.unregister_supervisor(&self.path);
        self.runtime.unregister_node(&self.path);
    }

    /// Refreshes what the inspector reads of the supervisor itself (its children are
    /// read from the deployments' records, and whether each runs from its counters).
    fn publish(&self) {
        // A supervisor that never restarted anything (most, on every deploy and
        // undeploy) needs no clock read to say so.
        let (in_window, total) = match self.policy.total_restarts() {
            0 => (0, 0),
            _ => self.policy.restart_counts(self.now()),
        };
        self.stats.escalated.store(
            self.policy.state() == PolicyState::Escalated,
            Ordering::Relaxed,
        );
        self.stats
            .restarts_in_window
            .store(in_window, Ordering::Relaxed);
        // Last, with Release: a reader that sees this count sees the rest of this publish.
        self.stats.restarts.store(total, Ordering::Release);
    }

    async fn supervise(&mut self) {
        loop {
            self.sweep_if_sparse();
            let (flow, published) = match self.next_event().await {
                Event::Exit(exit) => {
                    self.on_exit(exit).await;
                    (Flow::Continue, false)
                }
                Event::Request(request) => {
                    // Deploys and undeploys publish before they answer.
                    let published = matches!(
                        request,
                        Request::Deploy { .. }
                            | Request::DeploySupervisor { .. }
                            | Request::Undeploy { .. }
                    );
                    (self.on_request(request).await, published)
                }
                Event::Due => {
                    self.run_plans().await;
                    (Flow::Continue, false)
                }
            };
            if !published {
                self.publish();
            }
            if flow == Flow::End {
                return;
            }
            if self.policy.state() == PolicyState::Escalated {
                self.escalate().await;
                self.publish();
                if self.down().await == Flow::End {
                    return;
                }
                self.publish();
            }
        }
    }

    async fn next_event(&mut self) -> Event {
        let due = self.plans.next_due();
        let mut timer = due.map(Timer::at);
        // The node's own handle keeps its requests mailbox registered, so it never
        // closes while the node runs: the node ends on a terminate request.
        let (exits, requests) = (&self.exits, &self.requests);
        poll_fn(|cx| {
            // Only this node's task polls its mailboxes.
            if let Poll::Ready(exit) = exits.poll_recv_owned(cx) {
                return Poll::Ready(Event::Exit(exit));
            }
            if let Poll::Ready(request) = requests.poll_recv_owned(cx) {
                return Poll::Ready(Event::Request(request));
            }
            if let Some(t) = timer.as_mut()
                && Pin::new(t).poll(cx).is_ready()
            {
                return Poll::Ready(Event::Due);
            }
            Poll::Pending
        })
        .await
    }

    // ----- children: adding, starting, stopping -----

    /// The path of this supervisor's child `name`, taken in `names`; `None` if a child
    /// has it already. It goes again with the last child under it (`forget`). Inlined:
    /// as a call out of a deploy's state it cost some 25 instructions more per deploy.
    #[inline]
    fn claim(&mut self, name: &str) -> Option<Arc<str>> {
        let path = join_path(&self.path, name);
        self.names.insert(path.clone()).then_some(path)
    }

    /// Adds the instances of deployment `deployment` at `path` (`parent/name`), a name
    /// the caller has claimed.
    fn add_instances(&mut self, spec: &ChildSpec, path: &Arc<str>, deployment: DeploymentId) {
        for index in 0..spec.instances {
            let reactor = match spec.reactor {
                Some(i) => self.reactors[i],
                None => {
                    let r = self.reactors[self.next_reactor % self.reactors.len()];
                    self.next_reactor += 1;
                    r
                }
            };
            let key = self.runtime.next_key();
            let stats = Arc::new(InstanceStats::default());
            self.runtime
                .record_instance(deployment, index, reactor, key, stats.clone());
            let id = self
                .policy
                .add_child(spec.restart)
                .expect("a supervising policy");
            self.children.push_back(Child {
                id,
                key,
                deployment,
                restart: spec.restart,
                alive: false,
                running: false,
                epoch: 0,
                index: narrow(index),
                kind: Kind::Instance {
                    path: path.clone(),
                    launch: spec.launch.clone(),
                    mailbox_capacity: u32::try_from(
                        spec.mailbox_capacity
                            .unwrap_or(self.runtime.mailbox_capacity()),
                    )
                    .unwrap_or(u32::MAX),
                    grace_ms: crate::component::grace_millis(spec.shutdown_timeout),
                    reactor: narrow(reactor),
                    stats,
                },
            });
        }
    }

    /// Adds supervisor `spec` at `path` (`parent/name`), a name the caller has claimed.
    fn add_supervisor(&mut self, spec: SupervisorSpec, path: Arc<str>) -> DeploymentId {
        let reactors = self
            .runtime
            .owned_reactors(&path)
            .unwrap_or_else(|| self.reactors.clone());
        let key = self.runtime.next_key();
        let deployment = self.runtime.new_supervisor_record(&path, key);
        let id = self
            .policy
            .add_child(RestartType::Permanent)
            .expect("a supervising policy");
        self.children.push_back(Child {
            id,
            key,
            deployment,
            restart: RestartType::Permanent,
            alive: false,
            running: false,
            epoch: 0,
            index: 0,
            kind: Kind::Supervisor {
                spec: Box::new(spec),
                path,
                reactors,
                requests: None,
                stats: None,
            },
        });
        deployment
    }

    /// Records whether child `i` runs, where the inspector reads it too.
    fn set_running(&mut self, i: usize, running: bool) {
        let child = &mut self.children[i];
        child.running = running;
        match &child.kind {
            Kind::Instance { stats, .. } => stats.set_supervised_running(running),
            Kind::Supervisor { stats, .. } => {
                if let Some(stats) = stats {
                    stats.running.store(running, Ordering::Relaxed);
                }
            }
            Kind::Gone => {}
        }
    }

    /// Children are kept in start order, which is also the order of their ids (a fresh
    /// policy numbers them again in that order) and of their keys (taken from one
    /// counter as they are added): both are found by binary search.
    fn index_of(&self, id: ChildId) -> Option<usize> {
        (self.children.binary_search_by_key(&id, |c| c.id).ok())
            .filter(|&i| !self.children[i].is_gone())
    }

    /// The newest child is looked at first, then the search gallops from the oldest:
    /// an undeploy in deploy order, or in its reverse, touches a few entries near an
    /// end, where a plain binary search over a million children would take some twenty
    /// cache misses.
    fn index_of_key(&self, key: u64) -> Option<usize> {
        let last = self.children.len().checked_sub(1)?;
        if self.children[last].key == key {
            return Some(last);
        }
        reactree_supervisors::search::gallop(self.children.len(), |i| self.children[i].key, key)
            .filter(|&i| !self.children[i].is_gone())
    }

    /// Starts child `i` (fresh, or again on its mailbox) and waits for its `start`.
    async fn start_child(&mut self, i: usize) -> Result<(), Failure> {
        let epoch = self.runtime.next_key();
        let exits = self.exits_tx.clone();
        let runtime = self.runtime.clone();
        let path = self.path.clone();
        let child = &mut self.children[i];
        if child.epoch != 0 {
            if let Kind::Instance { stats, .. } = &child.kind {
                stats.restarts.fetch_add(1, Ordering::Relaxed);
            }
            let instance = child.index as usize;
            let child_path = child.path();
            runtime.event_hub().emit(|| LifecycleEvent::Restarted {
                path: child_path.to_string(),
                instance,
            });
        }
        child.epoch = epoch;
        let (command, waiting) = match (&mut child.kind, child.alive) {
            (Kind::Instance { stats, .. }, true) => {
                stats.control.expect_start();
                stats.control.resume(Directive::Restart { epoch });
                (None, Started::Instance(stats.clone()))
            }
            (
                Kind::Instance {
                    path: instance_path,
                    launch,
                    mailbox_capacity,
                    grace_ms,
                    reactor,
                    stats,
                },
                false,
            ) => {
                let started = StartReport::expect(stats);
                let config = InstanceConfig {
                    identity: Identity::new(
                        instance_path.clone(),
                        child.deployment,
                        child.index as usize,
                        *reactor as usize,
                    ),
                    key: child.key,
                    runtime: runtime.clone(),
                    mailbox_capacity: *mailbox_capacity,
                    grace_ms: *grace_ms,
                    stats: stats.clone(),
                    started,
                    supervisor: exits,
                    epoch,
                };
                let command = Command::Start {
                    launch: launch.clone(),
                    config,
                };
                (
                    Some((*reactor as usize, command)),
                    Started::Instance(stats.clone()),
                )
            }
            (
                Kind::Supervisor {
                    requests: Some(requests),
                    ..
                },
                true,
            ) => {
                let (started, outcome) = oneshot::channel();
                let _ = requests.send(Request::Restart { epoch, started }).await;
                (None, Started::Supervisor(outcome))
            }
            (
                Kind::Supervisor {
                    spec,
                    path: child_path,
                    reactors,
                    requests,
                    stats,
                },
                _,
            ) => {
                let (started, outcome) = oneshot::channel();
                let (tx, rx) = mailbox::bounded(REQUESTS);
                runtime.register_supervisor(child_path.clone(), tx.clone());
                *requests = Some(tx);
                let node = Node::new(NodeConfig {
                    path: child_path.clone(),
                    spec: SupervisorSpec::clone(spec),
                    reactors: reactors.clone(),
                    runtime: runtime.clone(),
                    parent: Parent::Supervisor {
                        exits,
                        key: child.key,
                    },
                    requests: rx,
                    epoch,
                });
                *stats = Some(node.stats.clone());
                let spawn = Command::Spawn(Box::new(move |executor| {
                    executor.spawn_detached(node.run(started));
                }));
                (Some((reactors[0], spawn)), Started::Supervisor(outcome))
            }
            // Never asked for: callers find children with `index_of`, which skips
            // tombstones.
            (Kind::Gone, _) => {
                return Err(Failure::new(
                    Hook::Start,
                    FailureKind::Error,
                    "the child was undeployed",
                ));
            }
        };
        child.alive = true;
        if let Some((reactor, command)) = command {
            let _ = runtime.send_command(reactor, command).await;
        }
        let result = match waiting {
            Started::Instance(stats) => poll_fn(|cx| stats.control.poll_started(cx)).await,
            Started::Supervisor(outcome) => outcome.await.unwrap_or_else(|_| {
                Err(Failure::new(
                    Hook::Start,
                    FailureKind::Error,
                    "the runtime is shutting down",
                ))
            }),
        };
        self.set_running(i, result.is_ok());
        let child = &self.children[i];
        match &result {
            Ok(()) => {
                tracing::debug!(supervisor = %path, child = child.name(), "supervisor.child_started")
            }
            Err(failure) => {
                tracing::warn!(supervisor = %path, child = child.name(), %failure, "supervisor.child_start_failed")
            }
        }
        result
    }

    /// Stops child `i`; with `Terminate` its task ends.
    async fn stop_child(&mut self, i: usize, mode: StopMode) {
        self.set_running(i, false);
        let child = &mut self.children[i];
        if !child.alive {
            return;
        }
        match &mut child.kind {
            Kind::Instance { stats, .. } => {
                // On this reactor, the instance stops before we await it: no going idle
                // and being woken again for it.
                if let Some(woken) = stats.control.request_stop(mode) {
                    crate::reactor::run_woken(&woken);
                }
                poll_fn(|cx| stats.control.poll_stopped(cx)).await;
            }
            Kind::Supervisor { requests, .. } => {
                let (done, stopped) = oneshot::channel();
                if let Some(requests) = requests.as_ref() {
                    let _ = requests.send(Request::Stop { mode, done }).await;
                }
                if mode == StopMode::Terminate {
                    *requests = None;
                }
                let _ = stopped.await;
            }
            Kind::Gone => {}
        }
        if mode == StopMode::Terminate {
            self.children[i].alive = false;
        }
    }

    /// Starts every child in order; on a failure, stops those started, in reverse.
    async fn start_all(&mut self) -> Result<(), Failure> {
        for i in 0..self.children.len() {
            if self.children[i].is_gone() {
                continue;
            }
            if let Err(failure) = self.start_child(i).await {
                self.terminate_all().await;
                return Err(failure);
            }
            let now = self.now();
            let _ = self.policy.child_started(self.children[i].id, now);
        }
        Ok(())
    }

    /// Terminates every child, in reverse start order.
    async fn terminate_all(&mut self) {
        for i in (0..self.children.len()).rev() {
            self.stop_child(i, StopMode::Terminate).await;
        }
    }

    /// Forgets child `i`: its policy entry and its deployment record, and its name with
    /// its deployment's last. Near either end of `children` it is removed (with any
    /// tombstone it leaves at the end), and the positions after it shift down by one,
    /// as they always did; in the middle it becomes a tombstone and no position changes.
    fn forget(&mut self, i: usize) {
        let Some(child) = self.children.get(i).filter(|c| !c.is_gone()) else {
            return;
        };
        let (id, key, deployment) = (child.id, child.key, child.deployment);
        let _ = self.policy.remove_child(id);
        if self.runtime.forget_instance(deployment, key) {
            // The deployment's last instance: its name goes too.
            self.names.remove(child.path());
        }
        self.plans.forget(id);
        let (taken, dropped) = tombstones::remove(&mut self.children, i, Child::is_gone, |c| {
            c.alive = false;
            c.running = false;
            c.kind = Kind::Gone;
        });
        self.gone -= dropped;
        if taken.is_none() {
            self.gone += 1;
        }
    }

    /// Sweeps the tombstones once they outnumber the children (see [`tombstones`]), so
    /// `children` stays within twice its children and each forget costs O(1)
    /// amortized. Positions change: called only where none is held.
    fn sweep_if_sparse(&mut self) {
        if tombstones::should_sweep(self.children.len(), self.gone) {
            self.children.retain(|c| !c.is_gone());
            self.gone = 0;
        }
    }

    // ----- exits and decisions -----

    async fn on_exit(&mut self, report: ChildExit) {
        let Some(i) = self.index_of_key(report.key) else {
            return;
        };
        let child = &self.children[i];
        if child.epoch != report.epoch || !child.running {
            return;
        }
        self.set_running(i, false);
        let child = &self.children[i];
        let id = child.id;
        let exit = match &report.exit {
            Exit::Normal => PolicyExit::Normal,
            Exit::Failed(_) => PolicyExit::Abnormal,
            Exit::Stopped => return,
        };
        if let Exit::Failed(failure) = &report.exit {
            tracing::warn!(supervisor = %self.path, child = child.name(), %failure, "supervisor.child_failed");
        }
        let now = self.now();
        match self.policy.child_exited(id, exit, now) {
            // It stays down (a transient child's normal exit): its task and mailbox go,
            // its place stays for a later group restart.
            Ok(Decision::Ignore) => self.stop_child(i, StopMode::Terminate).await,
            Ok(decision) => self.apply(decision).await,
            Err(error) => {
                tracing::error!(supervisor = %self.path, %error, "supervisor.policy_refused")
            }
        }
    }

    async fn apply(&mut self, decision: Decision) {
        let mut queue = VecDeque::from([decision]);
        while let Some(decision) = queue.pop_front() {
            match decision {
                Decision::Ignore => {}
                Decision::Remove { child } => {
                    if let Some(i) = self.index_of(child) {
                        self.stop_child(i, StopMode::Terminate).await;
                        self.forget(i);
                    }
                }
                Decision::Restart {
                    stop,
                    remove,
                    restart,
                    delay,
                } => {
                    for id in stop {
                        if let Some(i) = self.index_of(id) {
                            self.stop_child(i, StopMode::Restart).await;
                        }
                    }
                    for id in remove {
                        if let Some(i) = self.index_of(id) {
                            self.stop_child(i, StopMode::Terminate).await;
                            self.forget(i);
                        }
                    }
                    tracing::info!(supervisor = %self.path, ?delay, children = restart.len(), "supervisor.restart");
                    if delay.is_zero() {
                        // Restarted now: out of any plan they were in.
                        for &id in &restart {
                            self.plans.forget(id);
                        }
                        self.restart_now(&restart, &mut queue).await;
                    } else {
                        self.plans.plan(crate::rt::from_now(delay), restart);
                    }
                }
                Decision::Escalate { stop } => {
                    for id in stop {
                        if let Some(i) = self.index_of(id) {
                            self.stop_child(i, StopMode::Terminate).await;
                        }
                    }
                    return;
                }
            }
        }
    }

    async fn restart_now(&mut self, ids: &[ChildId], queue: &mut VecDeque<Decision>) {
        for &id in ids {
            let Some(i) = self.index_of(id) else { continue };
            let outcome = self.start_child(i).await;
            let now = self.now();
            match outcome {
                Ok(()) => {
                    let _ = self.policy.child_started(id, now);
                }
                Err(_) => {
                    if let Ok(decision) = self.policy.child_start_failed(id, now) {
                        queue.push_back(decision);
                    }
                    return;
                }
            }
        }
    }

    async fn run_plans(&mut self) {
        let due = self.plans.take_due(Instant::now());
        let mut queue = VecDeque::new();
        for restart in due {
            self.restart_now(&restart, &mut queue).await;
        }
        while let Some(decision) = queue.pop_front() {
            Box::pin(self.apply(decision)).await;
        }
    }

    /// Past its intensity: every child goes, and the parent hears of it.
    async fn escalate(&mut self) {
        self.plans.clear();
        self.terminate_all().await;
        let failure = Failure::new(
            Hook::Supervisor,
            FailureKind::Escalated,
            format!("supervisor {} exceeded its restart intensity", self.path),
        );
        tracing::error!(supervisor = %self.path, %failure, "supervisor.escalated");
        self.runtime.event_hub().emit(|| LifecycleEvent::Escalated {
            supervisor: self.path.to_string(),
        });
        match &self.parent {
            Parent::Supervisor { exits, key } => {
                let _ = exits.try_send(ChildExit {
                    key: *key,
                    epoch: self.epoch,
                    exit: Exit::Failed(failure),
                });
            }
            Parent::Runtime(root) => {
                let _ = root.try_send(Some(failure));
            }
        }
    }

    /// Down (gave up, or stopped for a restart): waits for the parent's word.
    async fn down(&mut self) -> Flow {
        loop {
            let request = self.requests.recv().await;
            match request {
                Request::Restart { epoch, started } => {
                    self.epoch = epoch;
                    self.policy = policy_of(&self.spec);
                    self.origin = Instant::now();
                    // A fresh policy numbers the children again, tombstones gone.
                    self.children.retain(|c| !c.is_gone());
                    self.gone = 0;
                    for child in &mut self.children {
                        child.id = self
                            .policy
                            .add_child(child.restart)
                            .expect("a fresh policy");
                    }
                    let outcome = self.start_all().await;
                    self.publish();
                    let ok = outcome.is_ok();
                    let _ = started.send(outcome);
                    if ok {
                        return Flow::Continue;
                    }
                }
                Request::Stop { mode, done } => {
                    if mode == StopMode::Terminate {
                        self.retire();
                        let _ = done.send(());
                        return Flow::End;
                    }
                    let _ = done.send(());
                }
                Request::Deploy { reply, .. } | Request::DeploySupervisor { reply, .. } => {
                    let _ = reply.send(Err(DeployError::SupervisorDown(self.path.to_string())));
                }
                Request::Undeploy { id, first, reply } => {
                    let _ = reply.send(self.undeploy(id, first).await);
                }
            }
        }
    }

    // ----- requests -----

    async fn on_request(&mut self, request: Request) -> Flow {
        match request {
            // Published before the reply, so the caller reads the new tree.
            Request::Deploy { spec, reply } => {
                let outcome = self.deploy(spec).await;
                self.publish();
                let _ = reply.send(outcome);
            }
            Request::DeploySupervisor { spec, reply } => {
                let outcome = self.deploy_supervisor(*spec).await;
                self.publish();
                let _ = reply.send(outcome);
            }
            Request::Undeploy { id, first, reply } => {
                let outcome = self.undeploy(id, first).await;
                self.publish();
                let _ = reply.send(outcome);
            }
            Request::Stop { mode, done } => {
                self.plans.clear();
                self.terminate_all().await;
                if mode == StopMode::Terminate {
                    self.retire();
                    let _ = done.send(());
                    return Flow::End;
                }
                let _ = done.send(());
                return self.down().await;
            }
            Request::Restart { started, .. } => {
                let _ = started.send(Ok(()));
            }
        }
        Flow::Continue
    }

    async fn deploy(&mut self, spec: ChildSpec) -> Result<DeploymentId, DeployError> {
        // The rest was checked by `Handle::deploy_under`, the one maker of this request.
        spec.validate_reactor(self.reactors.len())?;
        let Some(path) = self.claim(&spec.name) else {
            return Err(SpecError::DuplicateName(spec.name).into());
        };
        let id = self.runtime.new_record(&path, spec.instances);
        let first = self.children.len();
        self.add_instances(&spec, &path, id);
        tracing::info!(supervisor = %self.path, component = spec.name(), deployment = ?id, "component.deploying");
        self.start_new(first, id)
            .await
            .map_err(|(instance, failure)| DeployError::StartFailed {
                name: spec.name().to_owned(),
                instance,
                failure,
            })?;
        self.deployed(spec.name());
        Ok(id)
    }

    fn deployed(&self, name: &str) {
        self.runtime.event_hub().emit(|| LifecycleEvent::Deployed {
            path: format!("{}/{name}", self.path),
        });
    }

    async fn deploy_supervisor(
        &mut self,
        spec: SupervisorSpec,
    ) -> Result<DeploymentId, DeployError> {
        spec.validate(Some(&self.path))
            .map_err(DeployError::InvalidTree)?;
        if spec.own_reactors() > 0 {
            return Err(SpecError::DynamicReactors.into());
        }
        let Some(path) = self.claim(&spec.name) else {
            return Err(SpecError::DuplicateName(spec.name.clone()).into());
        };
        let name = spec.name.clone();
        let first = self.children.len();
        let id = self.add_supervisor(spec, path);
        self.start_new(first, id)
            .await
            .map_err(|(instance, failure)| DeployError::StartFailed {
                name: name.clone(),
                instance,
                failure,
            })?;
        self.deployed(&name);
        Ok(id)
    }

    /// Starts the children from `first` on (a new deployment); on a failure, removes
    /// them all again and says which instance failed.
    async fn start_new(&mut self, first: usize, id: DeploymentId) -> Result<(), (usize, Failure)> {
        for i in first..self.children.len() {
            match self.start_child(i).await {
                Ok(()) => {
                    let now = self.now();
                    let _ = self.policy.child_started(self.children[i].id, now);
                }
                Err(failure) => {
                    let key = self.children.get(first).map(|c| c.key);
                    let _ = self.undeploy(id, key).await;
                    return Err((i - first, failure));
                }
            }
        }
        Ok(())
    }

    /// Undeploys deployment `id`; `first` is the key of its first instance, if known.
    async fn undeploy(
        &mut self,
        id: DeploymentId,
        first: Option<u64>,
    ) -> Result<(), UndeployError> {
        // A deployment's instances were added together, and removals keep the order:
        // they are one contiguous run. Its first instance's key is found by binary
        // search; a supervisor's deployment (recorded without instances) is looked for
        // in order.
        let first = first
            .and_then(|key| self.index_of_key(key))
            .filter(|&i| self.children[i].deployment == id)
            .or_else(|| self.children.iter().position(|c| c.deployment == id))
            .unwrap_or(self.children.len());
        let count = self
            .children
            .iter()
            .skip(first)
            .take_while(|c| c.deployment == id)
            .count();
        if count == 0 {
            return Err(UndeployError::UnknownDeployment(id));
        }
        let mine = first..first + count;
        for i in mine.clone().rev() {
            self.stop_child(i, StopMode::Terminate).await;
        }
        // The record goes with its last instance (or its supervisor).
        for i in mine.rev() {
            self.forget(i);
        }
        tracing::info!(supervisor = %self.path, deployment = ?id, "component.undeployed");
        Ok(())
    }
}
