//! Errors of building a runtime and of deploying and undeploying components.

use crate::DeploymentId;
use crate::failure::Failure;

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `reactors(0)`.
    #[error("a runtime needs at least one reactor")]
    ZeroReactors,
    /// `mailbox_capacity(0)`.
    #[error("mailbox capacity must be at least 1")]
    ZeroMailboxCapacity,
    /// `request_timeout(Duration::ZERO)`.
    #[error("request timeout must be longer than zero")]
    ZeroRequestTimeout,
    /// `blocked_threshold(Duration::ZERO)`.
    #[error("blocked threshold must be longer than zero")]
    ZeroBlockedThreshold,
    /// A worker pool's settings are invalid.
    #[error("invalid worker pool")]
    Pool(#[from] crate::PoolConfigError),
    /// Two worker pools share a name (`default` is taken by the default pool).
    #[error("two worker pools are named {0:?}")]
    DuplicatePool(String),
    /// The supervision tree makes no sense.
    #[error("invalid supervision tree")]
    Tree(#[source] crate::TreeError),
    /// A child of the static tree failed to start; nothing was left running.
    #[error("the supervision tree failed to start")]
    StartFailed(#[source] Failure),
    /// The OS refused a reactor or watchdog thread.
    #[error("could not spawn a runtime thread")]
    Spawn(#[source] std::io::Error),
}

/// Why a [`ChildSpec`](crate::ChildSpec) is not deployable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The name is empty.
    #[error("a component needs a name")]
    EmptyName,
    /// The name contains `/`, the separator of paths in the tree.
    #[error("invalid component name {0:?}: '/' separates paths")]
    InvalidName(String),
    /// The name starts with `$`: such names are the runtime's, given to anonymous
    /// deployments (`ChildSpec::anonymous`).
    #[error(
        "invalid component name {0:?}: names starting with '$' are kept for anonymous deployments"
    )]
    ReservedName(String),
    /// `instances(0)`.
    #[error("instances must be at least 1")]
    ZeroInstances,
    /// `mailbox_capacity(0)`.
    #[error("mailbox capacity must be at least 1")]
    ZeroMailboxCapacity,
    /// `reactor(i)` with no such reactor.
    #[error("no reactor {index}: the supervisor has {reactors}")]
    NoSuchReactor {
        /// The requested index.
        index: usize,
        /// How many reactors there are.
        reactors: usize,
    },
    /// A supervisor of that name is already a child there.
    #[error("a child named {0:?} is already there")]
    DuplicateName(String),
    /// A supervisor deployed at run time declares reactors of its own.
    #[error("supervisors deployed at run time use their parent's reactors")]
    DynamicReactors,
}

/// Why a deployment failed. Nothing of a failed deployment keeps running: instances that
/// did start are stopped again before the error is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The spec is invalid.
    #[error("invalid spec")]
    InvalidSpec(#[from] SpecError),
    /// An instance's factory or `start` failed.
    #[error("instance {instance} of {name:?} failed to start")]
    StartFailed {
        /// The deployment's name.
        name: String,
        /// The instance that failed first.
        instance: usize,
        /// What happened.
        #[source]
        failure: Failure,
    },
    /// The supervisor tree deployed at run time makes no sense.
    #[error("invalid supervision tree")]
    InvalidTree(#[source] crate::TreeError),
    /// No supervisor at that path.
    #[error("no supervisor at {0:?}")]
    NoSuchSupervisor(String),
    /// The supervisor at that path has given up and waits for its parent.
    #[error("supervisor {0:?} is down")]
    SupervisorDown(String),
    /// The runtime is shutting down.
    #[error("the runtime is shutting down")]
    ShuttingDown,
}

/// Why an undeploy did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UndeployError {
    /// No such deployment: never deployed, or already undeployed.
    #[error("unknown deployment {0:?}")]
    UnknownDeployment(DeploymentId),
}
