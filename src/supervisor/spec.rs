//! `Supervisor::builder`: the static description of a supervisor and its children.

use std::collections::HashSet;

use reactree_supervisors::{Backoff, Intensity, Strategy};

use crate::ChildSpec;

/// Where supervisors are built: `Supervisor::builder("name")`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree::prelude::*;
/// use reactree::{Backoff, Intensity, Strategy, Supervisor};
///
/// struct Inventory;
/// impl Component for Inventory {}
/// struct Orders;
/// impl Component for Orders {}
///
/// // Orders depend on inventory: if inventory restarts, so do orders (rest-for-one).
/// let sales = Supervisor::builder("sales")
///     .strategy(Strategy::RestForOne)
///     .intensity(Intensity::new(5, Duration::from_secs(10))?)
///     .backoff(Backoff::exponential(
///         Duration::from_millis(100),
///         Duration::from_secs(5),
///         0.2,
///         Duration::from_secs(30),
///     )?)
///     .reactors(1)
///     .child(ChildSpec::new("inventory", || Inventory))
///     .child(ChildSpec::new("orders", || Orders));
///
/// let runtime = Runtime::builder().reactors(1).supervisor(sales).build()?;
/// assert_eq!(runtime.handle().reactors(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Supervisor;

impl Supervisor {
    /// A supervisor named `name`: one-for-one, 3 restarts in 5 s, no backoff, on its
    /// parent's reactors, with no children yet.
    pub fn builder(name: impl Into<String>) -> SupervisorSpec {
        SupervisorSpec {
            name: name.into(),
            ..Self::builder_const()
        }
    }

    /// The root's defaults, usable in a `const fn`.
    pub(crate) const fn builder_const() -> SupervisorSpec {
        SupervisorSpec {
            name: String::new(),
            strategy: Strategy::OneForOne,
            intensity: Intensity::DEFAULT,
            backoff: Backoff::None,
            reactors: None,
            seed: 0x5eed,
            children: Vec::new(),
        }
    }
}

/// A child of a supervisor in a static tree.
#[derive(Debug, Clone)]
pub(crate) enum TreeChild {
    Component(ChildSpec),
    Supervisor(SupervisorSpec),
}

impl TreeChild {
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Component(spec) => spec.name(),
            Self::Supervisor(spec) => &spec.name,
        }
    }
}

/// The description of a supervisor: its policy, its reactors, and its children in start
/// order. Built with [`Supervisor::builder`].
#[derive(Debug, Clone)]
pub struct SupervisorSpec {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) backoff: Backoff,
    pub(crate) reactors: Option<usize>,
    pub(crate) seed: u64,
    pub(crate) children: Vec<TreeChild>,
}

impl SupervisorSpec {
    /// How the failure of one child affects its siblings.
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// At most this many restarts within the window; one more and the supervisor gives
    /// up, stops its children and fails to its parent.
    #[must_use]
    pub fn intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    /// The delay before each restart.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives this supervisor `n` reactor threads of its own for its subtree (started
    /// with the runtime; restarts reuse them). Without it, its children use its parent's.
    #[must_use]
    pub fn reactors(mut self, n: usize) -> Self {
        self.reactors = Some(n);
        self
    }

    /// The seed of the backoff jitter, for reproducible delays.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Adds a component child, started after the children added before it.
    #[must_use]
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(TreeChild::Component(spec));
        self
    }

    /// Adds a nested supervisor, started after the children added before it.
    #[must_use]
    pub fn supervisor(mut self, spec: SupervisorSpec) -> Self {
        self.children.push(TreeChild::Supervisor(spec));
        self
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the whole subtree; `path` is this supervisor's parent's path, if any.
    pub(crate) fn validate(&self, parent: Option<&str>) -> Result<(), TreeError> {
        let path = match parent {
            Some(parent) => format!("{parent}/{}", self.name),
            None => self.name.clone(),
        };
        check_name(&self.name, &path)?;
        if self.reactors == Some(0) {
            return Err(TreeError::ZeroReactors { supervisor: path });
        }
        self.intensity.validate().map_err(|e| TreeError::Policy {
            supervisor: path.clone(),
            reason: e.to_string(),
        })?;
        self.backoff.validate().map_err(|e| TreeError::Policy {
            supervisor: path.clone(),
            reason: e.to_string(),
        })?;
        let mut names = HashSet::new();
        for child in &self.children {
            // An anonymous child's name is given when it is added, and never repeats.
            if let TreeChild::Component(spec) = child
                && spec.is_anonymous()
            {
                continue;
            }
            if !names.insert(child.name()) {
                return Err(TreeError::DuplicateName {
                    supervisor: path,
                    name: child.name().to_owned(),
                });
            }
            match child {
                TreeChild::Component(spec) => check_name(spec.name(), &path)?,
                TreeChild::Supervisor(spec) => spec.validate(Some(&path))?,
            }
        }
        Ok(())
    }

    /// The reactor threads this subtree declares of its own.
    pub(crate) fn own_reactors(&self) -> usize {
        let nested: usize = self
            .children
            .iter()
            .map(|c| match c {
                TreeChild::Supervisor(s) => s.own_reactors(),
                TreeChild::Component(_) => 0,
            })
            .sum();
        self.reactors.unwrap_or(0) + nested
    }
}

fn check_name(name: &str, path: &str) -> Result<(), TreeError> {
    crate::component::spec::check_name(name).map_err(|_| TreeError::InvalidName {
        supervisor: path.to_owned(),
        name: name.to_owned(),
    })
}

/// A supervision tree that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// Two children of one supervisor share a name.
    #[error("supervisor {supervisor} has two children named {name:?}")]
    DuplicateName {
        /// The supervisor's path.
        supervisor: String,
        /// The repeated name.
        name: String,
    },
    /// `reactors(0)` on a supervisor.
    #[error("supervisor {supervisor} asks for zero reactors")]
    ZeroReactors {
        /// The supervisor's path.
        supervisor: String,
    },
    /// An empty name, one with a `/`, or one starting with `$` (kept for anonymous
    /// deployments).
    #[error("supervisor {supervisor}: invalid child name {name:?}")]
    InvalidName {
        /// The supervisor's path.
        supervisor: String,
        /// The name.
        name: String,
    },
    /// An invalid intensity (zero window) or backoff.
    #[error("supervisor {supervisor}: {reason}")]
    Policy {
        /// The supervisor's path.
        supervisor: String,
        /// What is wrong.
        reason: String,
    },
}
