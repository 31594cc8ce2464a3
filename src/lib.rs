//! A supervision tree of reactors: the runtime discipline of Eclipse Vert.x (single-threaded
//! event loops, components, an event bus with publish / send / request-reply) and the fault
//! tolerance of Erlang/OTP, on the smol family of crates.
//!
//! An application is a set of [`Component`]s deployed on a [`Runtime`]. Each component
//! instance lives on one reactor thread, keeps its state without locks, and talks to the
//! others through the [`Bus`] by typed string [`Address`]es.
//!
//! # Examples
//!
//! ```
//! use reactree::prelude::*;
//!
//! struct Ping(u32);
//! impl Message for Ping { type Reply = u32; }
//! const PING: Address<Ping> = Address::new("demo.ping");
//!
//! struct Ponger { seen: u32 }
//!
//! impl Component for Ponger {
//!     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
//!         ctx.consume(&PING)?;
//!         Ok(())
//!     }
//! }
//!
//! impl Handler<Ping> for Ponger {
//!     async fn handle(&mut self, Ping(n): Ping, _ctx: &mut Context<Self>) -> u32 {
//!         self.seen += 1;
//!         n + 1
//!     }
//! }
//!
//! let runtime = Runtime::builder().reactors(2).build()?;
//! runtime.block_on(async {
//!     runtime.deploy(ChildSpec::new("ponger", || Ponger { seen: 0 })).await?;
//!     let answer = runtime.bus().request(&PING, Ping(41)).await.ok();
//!     assert_eq!(answer, Some(42));
//!     Ok::<_, DeployError>(())
//! })?;
//! runtime.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - **Placement.** Every hook (`start`, `stop`), handler and timer callback of a component
//!   instance runs on that instance's reactor thread (`reactree-reactor-N`), never on the
//!   sender's thread. Calls into one instance never overlap: while a handler awaits, the
//!   instance's other messages and timers wait.
//! - **Ordering.** Messages from one sender to one consumer are handled in the order they
//!   were sent. There is no ordering across senders or across consumers.
//! - **Delivery.** `publish` gives every consumer of the address a clone; `send` and
//!   `request` give exactly one consumer the message, round-robin. Delivery is local and
//!   in memory: a message accepted into a mailbox is handled, unless its component stops
//!   or fails first, in which case every queued request fails with
//!   [`RequestError::RecipientFailure`] at once. A [`Producer`] (`bus.sender(&address)`)
//!   sends and requests the same way, keeping the address's route between calls.
//! - **Backpressure.** Every mailbox is bounded. The awaiting forms (`send`, `publish`,
//!   `request`) wait for room without blocking a thread; the `try_` forms refuse at once
//!   with a full-mailbox error that hands the message back. A refused `try_publish` copy
//!   is counted on its address. Nothing is dropped silently.
//! - **Timeouts.** A request resolves exactly once: to the reply, or to a typed error
//!   within its timeout (default 5 s; per runtime and per call). A reply that comes after
//!   the timeout is discarded. A request still queued when its deadline passes is not
//!   handled at all, so an overloaded component sheds work nobody waits for.
//! - **Panics.** A panic in a factory, `start`, `stop`, a handler or a timer callback is
//!   caught on the reactor. The process and the reactor thread live on; the other
//!   components of that reactor keep serving; the requester of the message being handled
//!   gets [`RequestError::RecipientFailure`] at once.
//! - **Supervision.** Every component lives under a supervisor (the runtime's root, or
//!   one built with [`Supervisor::builder`]) that restarts it as OTP would: by strategy
//!   ([`Strategy`]), restart type ([`RestartType`]), within a restart intensity, after a
//!   backoff delay. A restarted component is a fresh value from its factory on the same
//!   mailbox: messages accepted before the failure are handled by the new instance.
//!   Past its intensity a supervisor stops its children and fails to its parent; past
//!   the root, the runtime ends and [`Runtime::wait`] returns the failure.
//! - **Shutdown.** [`Runtime::shutdown`] (or dropping the runtime) stops every component,
//!   the latest deployed first, each `stop` within its spec's shutdown timeout, then joins
//!   every reactor thread.
//! - **Threads.** [`RuntimeBuilder::build`] starts every thread the runtime will ever have:
//!   its reactors, its worker pools' threads and one watchdog. Load, deploy churn, panics
//!   and failures never add one, and shutdown joins them all.
//! - **Blocking.** Reactor code must not block. Blocking work goes to a worker pool through
//!   [`Context::execute_blocking`]: a bounded queue, a fixed number of threads, and the
//!   caller resuming on its reactor. The watchdog reports (through `tracing`) any poll of
//!   component code that holds its reactor past the blocked threshold (default 2 s), and
//!   any worker job past its pool's long-job threshold (default 60 s).
//!
//! # Implementation
//!
//! A reactor is an OS thread running its own single-threaded executor (built on
//! `async-task`: a task woken on its reactor is queued without a lock, one woken from
//! another thread through a mutex-guarded queue that wakes the reactor, once the waking
//! task's poll ends if that task runs on another reactor) under `async_io::block_on`,
//! fed by a bounded `flume` command channel (a command the reactor's own tasks send it
//! runs at once). A component instance is one task on it; its mailbox is a bounded
//! queue of envelopes: a sent message of up to two words sits in its envelope, in the
//! queue itself (no allocation; a larger one is boxed), a request is one allocation
//! carrying the message, its lock-free reply slot, its deadline and its correlation id,
//! and a published message is cloned into each consumer's envelope when it fits two
//! words, else one allocation shared by all its consumers. A handler's future runs in a
//! block its reactor reuses, and is first polled in the poll that took its message,
//! through its own type: one that finishes there (most do) is dropped at once. The bus
//! resolves an address through a registry of typed, copy-on-write consumer lists, so a
//! sender never holds a lock while it waits for room; each thread remembers the routes
//! of `'static` addresses until the registry changes, and a [`Producer`] keeps its own.
//! A request to a component waiting on the requester's own reactor is handed over: that
//! component's task runs at once, inside the requester's poll (at most 32 times per
//! task run, 8 deep), and the reply is there when the requester looks. A reactor keeps
//! the deadlines of its pending requests in one table behind one timer. A component's
//! timers live in a deadline-ordered map inside its task, which waits on the earliest
//! one alongside its mailbox (one OS timer registration, moved only when the earliest
//! deadline changes). A supervisor is one task on the first reactor of its set; it
//! alone starts, stops and restarts its children, driving the pure policy of
//! `reactree-supervisors`. See `docs/semantics.md` for the full statement of the
//! semantics.

#![doc(test(attr(deny(warnings))))]

mod bus;
mod component;
mod context;
mod events;
mod failure;
mod inspector;
mod oneshot;
mod reactor;
mod rt;
mod runtime;
mod supervisor;
#[cfg(test)]
mod testing;
mod watchdog;
mod worker;

pub use bus::{
    Address, AddressStats, Bus, ConsumeError, CorrelationId, Message, Producer, PublishError,
    PublishReport, RequestError, SendError,
};
pub use component::{
    BoxError, ChildSpec, Component, ComponentState, DEFAULT_SHUTDOWN_TIMEOUT, Handler, SpawnError,
    TaskId, TimerId,
};
pub use context::Context;
pub use events::{EventStream, LifecycleEvent};
pub use failure::{Failure, FailureKind, Hook};
pub use inspector::{
    AddressSnapshot, ComponentSnapshot, PoolSnapshot, ReactorSnapshot, Snapshot, SupervisorSnapshot,
};
#[cfg(feature = "http")]
pub use inspector::{InspectorError, InspectorServer};
pub use reactor::IdlePolicy;
pub use runtime::{
    BuildError, DEFAULT_MAILBOX_CAPACITY, DEFAULT_POOL, DEFAULT_REQUEST_TIMEOUT, DeployError,
    DeploymentId, DeploymentInfo, Handle, InstanceInfo, Runtime, RuntimeBuilder, SpecError,
    UndeployError,
};
pub use supervisor::{
    Backoff, Intensity, ROOT, RestartType, Strategy, Supervisor, SupervisorInfo, SupervisorSpec,
    TreeError,
};
pub use watchdog::DEFAULT_BLOCKED_THRESHOLD;
pub use worker::{
    CancellationToken, JobError, JobFuture, PoolConfig, PoolConfigError, PoolHandle, PoolStats,
    SerialQueue, ShutdownReport, TryExecuteError, WorkerPool,
};

/// An instance or reactor index, narrowed to the 32 bits the per-component records keep.
/// Beyond `u32` would take more than 2^32 instances or reactors, each a task or a thread,
/// so saturating never mislabels a real one.
pub(crate) fn narrow(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

/// The README's examples, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The types most programs need, for a glob import.
pub mod prelude {
    pub use crate::{
        Address, BoxError, Bus, ChildSpec, Component, Context, DeployError, DeploymentId, Handler,
        Message, RequestError, RestartType, Runtime, SendError, Supervisor,
    };
}
