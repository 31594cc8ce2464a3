//! A supervisor node: one task on the first reactor of its set, owning its children's
//! lifecycle and driving its [`SupervisorPolicy`].
//!
//! Invariants:
//! - only this task starts, stops and restarts its children (or a deploy or undeploy
//!   done in place, see [`local`], which holds the node borrowed while the task waits
//!   for an event with nothing queued, and hands the task whatever would wait), so its
//!   decisions are serialised: the policy sees every exit exactly once, in order;
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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::Instant;

use futures_lite::Future;
use reactree_supervisors::{
    ChildId, Decision, Exit as PolicyExit, PolicyState, RestartType, SupervisorPolicy, Timestamp,
    tombstones,
};
use tracing::Instrument;

use crate::bus::FastSet;
use crate::component::control::{Directive, StartReport, StopMode};
use crate::component::spec::{Launch, Shared};
use crate::component::{ChildExit, Exit, InstanceConfig, InstanceStats, mailbox};
use crate::context::{Identity, join_path, join_short};
use crate::events::LifecycleEvent;
use crate::failure::{Failure, FailureKind, Hook};
use crate::reactor::Command;
use crate::rt::Timer;
use crate::runtime::{DeployError, SpecError, UndeployError, split_path};
use crate::supervisor::local;
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

/// What a deploy or undeploy done in place (see [`local`]) could not finish without
/// waiting, handed to the node's task, which takes it before anything else.
enum Handed {
    /// The rest of a deploy.
    Deploy(Unfinished),
    /// An undeploy whose stop did not end at once, undeployed again as its request
    /// would be (a stop asked twice is asked once).
    Request(Request),
}

/// A deploy done in place up to instance `at` of deployment `id` (whose first instance
/// has key `first`), which was started and has not reported (`failed` is `None`), or
/// failed to start; the instances before it have started, those after it have not.
struct Unfinished {
    id: DeploymentId,
    first: u64,
    at: usize,
    failed: Option<Failure>,
    reply: oneshot::Sender<Result<DeploymentId, DeployError>>,
}

/// How a deploy or undeploy done in place went: over, or handed to the node's task,
/// whose answer comes on the receiver.
pub(crate) enum Now<T, E> {
    Done(Result<T, E>),
    Wait(oneshot::Receiver<Result<T, E>>),
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
    /// Of an anonymous deployment: its name was never taken in `names`.
    anonymous: bool,
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
    Resume(Unfinished),
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
    /// Work a deploy or undeploy done in place handed to the task.
    handed: Option<Handed>,
    /// `supervisor`, a root span entered around each poll of the task and each deploy
    /// or undeploy done in place: only while the node works, never across its waits,
    /// so nothing else on its reactor runs inside it.
    span: tracing::Span,
    /// The task's waker, while it waits for an event (see `next_event`).
    idle_waker: Option<Waker>,
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
        let span = tracing::debug_span!(parent: None, "supervisor", path = %config.path);
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
            handed: None,
            idle_waker: None,
            span,
        };
        for child in node.spec.children.clone() {
            match child {
                // Names were checked with the tree (`SupervisorSpec::validate`): each
                // claim succeeds.
                TreeChild::Component(spec) => {
                    if let Some(path) = node.path_for(&spec) {
                        node.add_instances(&spec, &path);
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

    /// Enters the node's span for work done in place (a clone: the work borrows the
    /// node); nothing when no subscriber wants the span.
    fn enter(&self) -> Option<tracing::span::EnteredSpan> {
        (!self.span.is_disabled()).then(|| self.span.clone().entered())
    }

    fn now(&self) -> Timestamp {
        Timestamp::since(self.origin, Instant::now())
    }

    /// Runs the node: starts its children, then supervises until told to end. The node
    /// is shared with this thread's [`local`] table, which a deploy or undeploy asked
    /// on this reactor borrows to do its work in place; the task holds the node
    /// borrowed while it works, and lets it go only while it waits for an event.
    pub(crate) fn run(
        self,
        started: oneshot::Sender<Result<(), Failure>>,
    ) -> impl Future<Output = ()> + 'static {
        let span = self.span.clone();
        self.work(started).instrument(span)
    }

    /// The body of [`run`](Self::run), polled inside the supervisor's span.
    #[allow(
        clippy::await_holding_refcell_ref,
        reason = "the node is only ever tried (`try_borrow_mut`) by anything else"
    )]
    async fn work(self, started: oneshot::Sender<Result<(), Failure>>) {
        let cell = Rc::new(RefCell::new(self));
        let mut node = cell.borrow_mut();
        local::register(&node.path, &cell);
        node.runtime
            .register_node(node.path.clone(), node.stats.clone());
        let outcome = node.start_all().await;
        node.publish();
        let ok = outcome.is_ok();
        let _ = started.send(outcome);
        if ok || node.down().await == Flow::Continue {
            drop(node);
            Self::supervise(&cell).await;
            node = cell.borrow_mut();
        }
        node.retire();
        // Out of the table in the same poll as the retire: nothing done in place
        // finds the node retired.
        local::unregister(&node.path, &cell);
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

    #[allow(
        clippy::await_holding_refcell_ref,
        reason = "the node is only ever tried (`try_borrow_mut`) by anything else"
    )]
    async fn supervise(cell: &RefCell<Self>) {
        loop {
            cell.borrow_mut().sweep_if_sparse();
            let event = Self::next_event(cell).await;
            let mut node = cell.borrow_mut();
            let (flow, published) = match event {
                // Publishes before it answers.
                Event::Resume(unfinished) => {
                    node.resume(unfinished).await;
                    (Flow::Continue, true)
                }
                Event::Exit(exit) => {
                    node.on_exit(exit).await;
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
                    (node.on_request(request).await, published)
                }
                Event::Due => {
                    node.run_plans().await;
                    (Flow::Continue, false)
                }
            };
            if !published {
                node.publish();
            }
            if flow == Flow::End {
                return;
            }
            if node.policy.state() == PolicyState::Escalated {
                node.escalate().await;
                node.publish();
                if node.down().await == Flow::End {
                    return;
                }
                node.publish();
            }
        }
    }

    /// Waits for the node's next event: work left by a deploy or undeploy done in
    /// place first, then exits, then requests, then due restarts.
    async fn next_event(cell: &RefCell<Self>) -> Event {
        let due = cell.borrow().plans.next_due();
        let mut timer = due.map(Timer::at);
        poll_fn(|cx| {
            // Borrowed only by a deploy or undeploy done in place that runs this task
            // inside its own work (a component's start that sends a request here):
            // the task looks again once that is over.
            let Ok(mut node) = cell.try_borrow_mut() else {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            };
            match node.handed.take() {
                Some(Handed::Deploy(unfinished)) => return Poll::Ready(Event::Resume(unfinished)),
                Some(Handed::Request(request)) => return Poll::Ready(Event::Request(request)),
                None => {}
            }
            // Only this node's task polls its mailboxes. The node's own handle keeps
            // its requests mailbox registered, so it never closes while the node runs:
            // the node ends on a terminate request.
            if let Poll::Ready(exit) = node.exits.poll_recv_owned(cx) {
                return Poll::Ready(Event::Exit(exit));
            }
            if let Poll::Ready(request) = node.requests.poll_recv_owned(cx) {
                return Poll::Ready(Event::Request(request));
            }
            if let Some(t) = timer.as_mut()
                && Pin::new(t).poll(cx).is_ready()
            {
                return Poll::Ready(Event::Due);
            }
            crate::rt::remember_waker(&mut node.idle_waker, cx.waker());
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

    /// The path of a new deployment of `spec`: its name claimed, or for an anonymous
    /// spec `$` and a fresh key, which needs no claim (no caller's name starts with `$`,
    /// and no key is given twice), so its deploy and undeploy never touch `names`.
    #[inline(always)]
    fn path_for(&mut self, spec: &ChildSpec) -> Option<Arc<str>> {
        if spec.anonymous {
            Some(anonymous_path(&self.path, self.runtime.next_key()))
        } else {
            self.claim(&spec.name)
        }
    }

    /// Records a deployment of `spec` at `path` (`parent/name`), a name the caller has
    /// claimed, and adds its instances: the deployment's id.
    fn add_instances(&mut self, spec: &ChildSpec, path: &Arc<str>) -> DeploymentId {
        // Replaced by the record's id with the first instance (a spec has at least one).
        let mut deployment = DeploymentId::default();
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
            // The record is made with its first instance: one lock of the runtime's
            // table for a deployment of one.
            if index == 0 {
                deployment =
                    self.runtime
                        .new_record(path, spec.instances, reactor, key, stats.clone());
            } else {
                self.runtime
                    .record_instance(deployment, index, reactor, key, stats.clone());
            }
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
                anonymous: spec.anonymous,
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
        deployment
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
            anonymous: false,
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
        let runtime = self.runtime.clone();
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
        let fresh = !child.alive && matches!(child.kind, Kind::Instance { .. });
        let (command, waiting) = if fresh
            && let Some((reactor, command)) = self.launch(i, epoch)
            && let Kind::Instance { stats, .. } = &self.children[i].kind
        {
            (Some((reactor, command)), Started::Instance(stats.clone()))
        } else {
            let child = &mut self.children[i];
            match (&mut child.kind, child.alive) {
                (Kind::Instance { stats, .. }, true) => {
                    stats.control.expect_start();
                    stats.control.resume(Directive::Restart { epoch });
                    (None, Started::Instance(stats.clone()))
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
                            exits: self.exits_tx.clone(),
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
                // Never taken: a fresh instance is launched above, and callers find
                // children with `index_of`, which skips tombstones.
                (Kind::Instance { .. }, false) | (Kind::Gone, _) => {
                    return Err(Failure::new(
                        Hook::Start,
                        FailureKind::Error,
                        "the child was undeployed",
                    ));
                }
            }
        };
        self.children[i].alive = true;
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
        self.start_done(i, &result);
        result
    }

    /// The start command of instance child `i`, which no task runs, as start `epoch`,
    /// and the reactor to run it on; its start reports to the child's control. Marks
    /// the child alive. `None` for a child that is not an instance.
    fn launch(&mut self, i: usize, epoch: u64) -> Option<(usize, Command)> {
        let child = &mut self.children[i];
        let Kind::Instance {
            path,
            launch,
            mailbox_capacity,
            grace_ms,
            reactor,
            stats,
        } = &child.kind
        else {
            return None;
        };
        let config = InstanceConfig {
            identity: Identity::new(
                path.clone(),
                child.deployment,
                child.index as usize,
                *reactor as usize,
            ),
            key: child.key,
            runtime: self.runtime.clone(),
            mailbox_capacity: *mailbox_capacity,
            grace_ms: *grace_ms,
            // A child never started (no epoch yet): its new control expects its start.
            started: if child.epoch == 0 {
                StartReport::first(stats.clone())
            } else {
                StartReport::expect(stats.clone())
            },
            supervisor: self.exits_tx.clone(),
            epoch,
        };
        let command = Command::Start {
            launch: launch.clone(),
            config,
        };
        let launched = (*reactor as usize, command);
        child.epoch = epoch;
        child.alive = true;
        Some(launched)
    }

    /// Records how child `i`'s start went.
    fn start_done(&mut self, i: usize, result: &Result<(), Failure>) {
        self.set_running(i, result.is_ok());
        let child = &self.children[i];
        match result {
            Ok(()) => {
                tracing::debug!(supervisor = %self.path, child = child.name(), "supervisor.child_started")
            }
            Err(failure) => {
                tracing::warn!(supervisor = %self.path, child = child.name(), %failure, "supervisor.child_start_failed")
            }
        }
    }

    /// Tells the policy child `i` has started.
    fn child_up(&mut self, i: usize) {
        let now = self.now();
        let _ = self.policy.child_started(self.children[i].id, now);
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
                request_stop(stats, mode);
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
            self.child_up(i);
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
        if self.runtime.forget_instance(deployment, key) && !child.anonymous {
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
        let (id, first) = self.add_deployment(&spec)?;
        // Taken before the start, which rolls the children back if it fails.
        let given = spec
            .anonymous
            .then(|| self.children[first].name().to_owned());
        let started = self.start_new(first, first, id).await;
        self.deployed(id, first, given.as_deref().unwrap_or(spec.name()), started)
    }

    /// Claims `spec`'s name, records its deployment and adds its instances, not
    /// started: the deployment's id, and the position of its first instance.
    fn add_deployment(&mut self, spec: &ChildSpec) -> Result<(DeploymentId, usize), DeployError> {
        // The rest was checked by `Handle::deploy_under`, the one maker of deploys.
        spec.validate_reactor(self.reactors.len())?;
        let Some(path) = self.path_for(spec) else {
            return Err(SpecError::DuplicateName(spec.name.clone()).into());
        };
        let first = self.children.len();
        let id = self.add_instances(spec, &path);
        tracing::info!(supervisor = %self.path, component = split_path(&path).1, deployment = ?id, "component.deploying");
        Ok((id, first))
    }

    /// How the start of new deployment `id`, named `name`, whose first child is at
    /// `first`, ended: its id, announced, or which instance failed, and how.
    fn deployed(
        &self,
        id: DeploymentId,
        first: usize,
        name: &str,
        started: Result<(), (usize, Failure)>,
    ) -> Result<DeploymentId, DeployError> {
        started.map_err(|(instance, failure)| DeployError::StartFailed {
            name: name.to_owned(),
            instance,
            failure,
        })?;
        Ok(self.announce(id, first))
    }

    /// Announces new deployment `id`, whose first child is at `first`, as deployed
    /// (`LifecycleEvent::Deployed`, with the child's path: its name is not looked up
    /// unless someone listens).
    fn announce(&self, id: DeploymentId, first: usize) -> DeploymentId {
        if let Some(child) = self.children.get(first) {
            self.runtime.event_hub().emit(|| LifecycleEvent::Deployed {
                path: child.path().to_owned(),
            });
        }
        id
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
        let started = self.start_new(first, first, id).await;
        self.deployed(id, first, &name, started)
    }

    /// Starts the children of the new deployment `id` (whose first child is at
    /// `first`) from `from` on; on a failure, removes them all again and says which
    /// instance failed.
    async fn start_new(
        &mut self,
        first: usize,
        from: usize,
        id: DeploymentId,
    ) -> Result<(), (usize, Failure)> {
        for i in from..self.children.len() {
            match self.start_child(i).await {
                Ok(()) => self.child_up(i),
                Err(failure) => {
                    let key = self.children.get(first).map(|c| c.key);
                    let _ = self.undeploy(id, key).await;
                    return Err((i - first, failure));
                }
            }
        }
        Ok(())
    }

    /// The positions of deployment `id`'s children; `first` is the key of its first
    /// instance, if known. Empty if it has none here.
    fn deployment_range(&self, id: DeploymentId, first: Option<u64>) -> Range<usize> {
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
        first..first + count
    }

    /// Undeploys deployment `id`; `first` is the key of its first instance, if known.
    async fn undeploy(
        &mut self,
        id: DeploymentId,
        first: Option<u64>,
    ) -> Result<(), UndeployError> {
        let mine = self.deployment_range(id, first);
        if mine.is_empty() {
            return Err(UndeployError::UnknownDeployment(id));
        }
        for i in mine.clone().rev() {
            self.stop_child(i, StopMode::Terminate).await;
        }
        self.remove_deployment(id, mine);
        Ok(())
    }

    /// Forgets the stopped children at `mine`, deployment `id`'s; its record goes with
    /// its last instance (or its supervisor).
    fn remove_deployment(&mut self, id: DeploymentId, mine: Range<usize>) {
        for i in mine.rev() {
            self.forget(i);
        }
        tracing::info!(supervisor = %self.path, deployment = ?id, "component.undeployed");
    }

    // ----- deploys and undeploys done in place -----

    /// Whether nothing waits for the node: no handed work, no exit, no request. Work
    /// done in place then keeps the order the node would have kept.
    fn idle(&self) -> bool {
        self.handed.is_none() && self.exits.len() == 0 && self.requests.len() == 0
    }

    /// Whether every instance of `spec` would run on reactor `here` (so its start can
    /// run in place); `false` for a reactor index out of range, which the request
    /// path reports.
    fn all_here(&self, spec: &ChildSpec, here: usize) -> bool {
        match spec.reactor {
            Some(i) => self.reactors.get(i) == Some(&here),
            None => (0..spec.instances)
                .all(|k| self.reactors[(self.next_reactor + k) % self.reactors.len()] == here),
        }
    }

    /// Deploys `spec` in the caller's poll, on reactor `here`, the node's (see
    /// [`local`]), as the node's task would: the same checks, records, starts, events
    /// and publish. A start that does not end at once (or fails) is handed to the
    /// task with the rest of the deploy, and the answer comes from it. `Err` gives the
    /// spec back when the node is not idle or an instance would run elsewhere: the
    /// caller sends a request.
    pub(crate) fn deploy_now(
        &mut self,
        spec: ChildSpec,
        here: usize,
    ) -> Result<Now<DeploymentId, DeployError>, ChildSpec> {
        if !self.idle() || !self.all_here(&spec, here) {
            return Err(spec);
        }
        let _in = self.enter();
        self.sweep_if_sparse();
        let (id, first) = match self.add_deployment(&spec) {
            Ok(added) => added,
            Err(error) => return Ok(Now::Done(Err(error))),
        };
        for i in first..self.children.len() {
            match self.start_here(i) {
                Some(Ok(())) => self.child_up(i),
                outcome => {
                    let (reply, answer) = oneshot::channel();
                    self.hand_over(Handed::Deploy(Unfinished {
                        id,
                        first: self.children[first].key,
                        at: i - first,
                        failed: outcome.and_then(Result::err),
                        reply,
                    }));
                    return Ok(Now::Wait(answer));
                }
            }
        }
        let deployed = self.announce(id, first);
        self.publish();
        Ok(Now::Done(Ok(deployed)))
    }

    /// Starts fresh instance child `i` on this reactor, its start run now: its outcome,
    /// if it has one already.
    fn start_here(&mut self, i: usize) -> Option<Result<(), Failure>> {
        let epoch = self.runtime.next_key();
        let (reactor, command) = self.launch(i, epoch)?;
        // Given back only once the reactor has ended; dropped, its start reports that
        // the runtime is shutting down.
        drop(crate::reactor::run_here(
            self.runtime.id(),
            reactor,
            command,
        ));
        let Kind::Instance { stats, .. } = &self.children[i].kind else {
            return None;
        };
        let outcome = stats.control.try_started()?;
        self.start_done(i, &outcome);
        Some(outcome)
    }

    /// Undeploys deployment `id` in the caller's poll, on reactor `here`, the node's
    /// (see [`deploy_now`](Self::deploy_now)). A stop that does not end at once is
    /// handed to the task with the rest of the undeploy. `None` when the node is not
    /// idle or the deployment is not all instances on this reactor: the caller sends
    /// a request.
    pub(crate) fn undeploy_now(
        &mut self,
        id: DeploymentId,
        first: Option<u64>,
        here: usize,
    ) -> Option<Now<(), UndeployError>> {
        if !self.idle() {
            return None;
        }
        let _in = self.enter();
        self.sweep_if_sparse();
        let mine = self.deployment_range(id, first);
        if mine.is_empty() {
            return Some(Now::Done(Err(UndeployError::UnknownDeployment(id))));
        }
        let all_here = self
            .children
            .range(mine.clone())
            .all(|c| matches!(c.kind, Kind::Instance { reactor, .. } if reactor as usize == here));
        if !all_here {
            return None;
        }
        for i in mine.clone().rev() {
            if !self.stop_here(i) {
                let (reply, answer) = oneshot::channel();
                self.hand_over(Handed::Request(Request::Undeploy { id, first, reply }));
                return Some(Now::Wait(answer));
            }
        }
        self.remove_deployment(id, mine);
        self.publish();
        Some(Now::Done(Ok(())))
    }

    /// Terminates instance child `i` on this reactor, its stop run now: whether it has
    /// stopped.
    fn stop_here(&mut self, i: usize) -> bool {
        self.set_running(i, false);
        let child = &mut self.children[i];
        if !child.alive {
            return true;
        }
        let Kind::Instance { stats, .. } = &child.kind else {
            return false;
        };
        request_stop(stats, StopMode::Terminate);
        if !stats.control.stopped() {
            return false;
        }
        child.alive = false;
        true
    }

    /// Leaves `handed` to the task, and wakes it.
    fn hand_over(&mut self, handed: Handed) {
        self.handed = Some(handed);
        if let Some(waker) = &self.idle_waker {
            waker.wake_by_ref();
        }
    }

    /// Finishes a deploy done in place, and answers.
    async fn resume(&mut self, unfinished: Unfinished) {
        let Unfinished {
            id,
            first,
            at,
            failed,
            reply,
        } = unfinished;
        let outcome = self.finish_deploy(id, first, at, failed).await;
        self.publish();
        let _ = reply.send(outcome);
    }

    /// The rest of a deploy done in place (see [`Unfinished`]).
    async fn finish_deploy(
        &mut self,
        id: DeploymentId,
        first_key: u64,
        at: usize,
        failed: Option<Failure>,
    ) -> Result<DeploymentId, DeployError> {
        // Nothing else ran on the node since: the deployment is still the newest.
        let first = self.deployment_range(id, Some(first_key)).start;
        let child = self.children.get(first + at);
        let name = child.map_or_else(String::new, |c| c.name().to_owned());
        let outcome = match (failed, child.map(|c| &c.kind)) {
            (Some(failure), _) => Err(failure),
            (None, Some(Kind::Instance { stats, .. })) => {
                let stats = stats.clone();
                let outcome = poll_fn(|cx| stats.control.poll_started(cx)).await;
                self.start_done(first + at, &outcome);
                outcome
            }
            // Never: the instance was left started. Rolled back as a failed start.
            (None, _) => Err(Failure::new(
                Hook::Start,
                FailureKind::Error,
                "the started instance was lost",
            )),
        };
        let started = match outcome {
            Ok(()) => {
                self.child_up(first + at);
                self.start_new(first, first + at + 1, id).await
            }
            Err(failure) => {
                let _ = self.undeploy(id, Some(first_key)).await;
                Err((at, failure))
            }
        };
        self.deployed(id, first, &name, started)
    }
}

/// `parent/$n`: the path of an anonymous deployment, numbered `n`. The digits are
/// written by hand, and checked as text only with the whole path: `format!` costs some
/// 400 instructions, a tenth of a deploy, and a check of its own some 80.
fn anonymous_path(parent: &str, n: u64) -> Arc<str> {
    let mut name = [0u8; 21];
    let mut at = name.len();
    let mut rest = n;
    loop {
        at -= 1;
        name[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    at -= 1;
    name[at] = b'$';
    join_short(parent, &name[at..]).unwrap_or_else(|| format!("{parent}/${n}").into())
}

/// Asks the instance behind `stats` to stop; on this reactor, it stops before the
/// caller looks: no going idle and being woken again for it.
fn request_stop(stats: &InstanceStats, mode: StopMode) {
    if let Some(woken) = stats.control.request_stop(mode) {
        crate::reactor::run_woken(&woken);
    }
}
