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
    /// `instances(0)`.
    #[error("instances must be at least 1")]
    ZeroInstances,
    /// `mailbox_capacity(0)`.
    #[error("mailbox capacity must be at least 1")]
    ZeroMailboxCapacity,
    /// `reactor(i)` with no such reactor.
    #[error("no reactor {index}: the runtime has {reactors}")]
    NoSuchReactor {
        /// The requested index.
        index: usize,
        /// How many reactors there are.
        reactors: usize,
    },
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
