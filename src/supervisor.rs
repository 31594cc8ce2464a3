//! Supervisor nodes: the runtime's shell around the pure policy of
//! [`reactree-supervisors`](reactree_supervisors).
//!
//! A supervisor starts its children in order, each `start` finishing before the next
//! begins; stops them in reverse order, each within its shutdown timeout; feeds their
//! exits to its policy and carries out the decisions (restart one, all, or the rest,
//! after the backoff delay; or give up and escalate to its parent). Past the root, the
//! runtime shuts down and [`Runtime::wait`](crate::Runtime::wait) returns the failure.

mod local;
mod node;
mod plans;
mod spec;

pub(crate) use local::{deploy_here, undeploy_here};
pub(crate) use node::{Node, NodeConfig, NodeStats, Now, Parent, REQUESTS, Request};
pub use reactree_supervisors::{Backoff, Intensity, RestartType, Strategy};
pub(crate) use spec::TreeChild;
pub use spec::{Supervisor, SupervisorSpec, TreeError};

/// The path of the root supervisor.
pub const ROOT: &str = "root";

/// A snapshot of one supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupervisorInfo {
    /// Its path in the tree, such as `root/sales`.
    pub path: String,
    /// Its strategy.
    pub strategy: Strategy,
    /// Its children, in start order: `(name, running)`.
    pub children: Vec<(String, bool)>,
    /// Restarts it has made since it (last) started.
    pub restarts: u64,
    /// Restarts within its intensity window, as of its latest decision.
    pub restarts_in_window: u32,
    /// Whether it has given up (escalated) and waits for its parent.
    pub escalated: bool,
}
