//! The inspector: a snapshot of the live tree, read in place from atomic counters.
//!
//! [`Handle::inspect`](crate::Handle::inspect) never stops the runtime and never waits for
//! a reactor: it reads counters (relaxed atomics), mailbox lengths and short-lived
//! tables. The snapshot's `Display` renders the tree for a terminal, one line per node,
//! the way `pstree` or Erlang's observer would. With the `serde` feature every snapshot
//! type serialises (to JSON, for instance) with the field names below.

mod display;

use crate::{AddressStats, PoolStats};
#[cfg(feature = "http")]
mod http;

#[cfg(feature = "http")]
pub use http::{InspectorError, InspectorServer};

/// The whole runtime at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Snapshot {
    /// Supervisors, in tree order (a parent before its children).
    pub supervisors: Vec<SupervisorSnapshot>,
    /// Component instances, grouped by supervisor in tree order.
    pub components: Vec<ComponentSnapshot>,
    /// Reactor threads.
    pub reactors: Vec<ReactorSnapshot>,
    /// Bus addresses that have consumers, by name.
    pub bus: Vec<AddressSnapshot>,
    /// Worker pools, the default first.
    pub pools: Vec<PoolSnapshot>,
}

/// One supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SupervisorSnapshot {
    /// Its path, such as `root/sales`.
    pub path: String,
    /// `one-for-one`, `one-for-all` or `rest-for-one`.
    pub strategy: String,
    /// `running`, or `escalated` once it has given up.
    pub state: String,
    /// Restarts it has made since it (last) started.
    pub restarts: u64,
    /// Its children in start order.
    pub children: Vec<String>,
}

/// One component instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ComponentSnapshot {
    /// The deployment's name.
    pub name: String,
    /// The deployment's id, as `Debug` prints it.
    pub id: String,
    /// The instance number within its deployment.
    pub instance: usize,
    /// Its path in the tree: its supervisor's path and its name.
    pub path: String,
    /// `starting`, `running`, `stopping`, `stopped`, `failed` or `restarting`.
    pub state: String,
    /// The reactor it runs on.
    pub reactor: usize,
    /// Messages waiting in its mailbox.
    pub mailbox_len: usize,
    /// Its mailbox's capacity.
    pub mailbox_capacity: usize,
    /// Messages whose handler ran.
    pub handled: u64,
    /// Requests shed because their deadline had passed.
    pub expired: u64,
    /// Failures.
    pub failures: u64,
    /// Restarts by its supervisor.
    pub restarts: u64,
    /// Blocked-reactor reports against it.
    pub blocked: u64,
    /// The latest failure, if any.
    pub last_failure: Option<String>,
}

/// One reactor thread.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ReactorSnapshot {
    /// Its index.
    pub index: usize,
    /// Its thread's name.
    pub thread: String,
    /// Commands waiting in its mailbox.
    pub mailbox_len: usize,
    /// Its mailbox's capacity.
    pub mailbox_capacity: usize,
    /// Component instances placed on it.
    pub components: usize,
    /// Time spent in component code, in milliseconds, sampled by the watchdog at each
    /// look (0 without the watchdog).
    pub busy_ms: u64,
    /// Blocked episodes seen by the watchdog.
    pub blocked_events: u64,
    /// The longest one, in milliseconds.
    pub longest_block_ms: u64,
}

/// One bus address: its name, its message type, and its counters (flattened into the
/// same JSON object).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AddressSnapshot {
    /// The address.
    pub address: String,
    /// The Rust type of its messages.
    pub message_type: String,
    /// Its consumers and counters, as [`Bus::stats`](crate::Bus::stats) reports them.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub counters: AddressStats,
}

/// One worker pool: its name and its counters (flattened into the same JSON object).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PoolSnapshot {
    /// Its name.
    pub name: String,
    /// Its threads, queue and counters, as [`PoolHandle::stats`](crate::PoolHandle::stats)
    /// reports them.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub stats: PoolStats,
}
