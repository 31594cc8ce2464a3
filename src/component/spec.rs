//! `ChildSpec`: what to deploy, how many, where, and with which mailbox.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use reactree_supervisors::RestartType;

use crate::component::InstanceConfig;
use crate::reactor::Here;
use crate::{Component, SpecError};

/// The default time a component's `stop` gets before it is abandoned.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds instances of one component type on their reactors, erasing the type.
pub(crate) trait Launch: Send + Sync {
    /// Starts an instance on the reactor `here` (run by that reactor); the instance
    /// keeps this launcher as its factory, for its restarts.
    fn launch(self: Arc<Self>, here: &Here, config: InstanceConfig);

    /// As `launch`, for a launcher that lives for ever (one that takes no memory).
    fn launch_static(&'static self, here: &Here, config: InstanceConfig);
}

/// A value shared by reference: `Static` for one that takes no memory (a factory that
/// captures nothing), which costs no allocation and no reference count, and `Counted`
/// otherwise.
pub(crate) enum Shared<T: ?Sized + 'static> {
    Static(&'static T),
    Counted(Arc<T>),
}

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Static(value) => Self::Static(value),
            Self::Counted(value) => Self::Counted(Arc::clone(value)),
        }
    }
}

impl<T: ?Sized> std::ops::Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Self::Static(value) => value,
            Self::Counted(value) => value,
        }
    }
}

impl Shared<dyn Launch> {
    /// The launcher of `factory`: zero-sized factories that need no drop (closures
    /// capturing nothing, the usual case) are leaked, which for them allocates nothing.
    fn of<C, F>(factory: F) -> Self
    where
        C: Component,
        F: Fn() -> C + Send + Sync + 'static,
    {
        let launch = FactoryLaunch {
            factory,
            _component: PhantomData,
        };
        if size_of::<F>() == 0 && !std::mem::needs_drop::<F>() {
            Self::Static(Box::leak(Box::new(launch)))
        } else {
            Self::Counted(Arc::new(launch))
        }
    }

    /// Starts an instance on the reactor `here`.
    pub(crate) fn launch(self, here: &Here, config: InstanceConfig) {
        match self {
            Self::Static(launch) => launch.launch_static(here, config),
            Self::Counted(launch) => launch.launch(here, config),
        }
    }
}

/// Builds one component: what an instance keeps of its spec to build each incarnation.
pub(crate) trait Factory<C>: Send + Sync {
    fn build(&self) -> C;
}

struct FactoryLaunch<C, F> {
    factory: F,
    _component: PhantomData<fn() -> C>,
}

impl<C, F> Factory<C> for FactoryLaunch<C, F>
where
    F: Fn() -> C + Send + Sync,
{
    fn build(&self) -> C {
        (self.factory)()
    }
}

impl<C, F> Launch for FactoryLaunch<C, F>
where
    C: Component,
    F: Fn() -> C + Send + Sync + 'static,
{
    fn launch(self: Arc<Self>, here: &Here, config: InstanceConfig) {
        let factory: Arc<dyn Factory<C>> = self;
        start(Shared::Counted(factory), here, config);
    }

    fn launch_static(&'static self, here: &Here, config: InstanceConfig) {
        let factory: &'static dyn Factory<C> = self;
        start(Shared::Static(factory), here, config);
    }
}

/// Checks a name given by the caller: not empty, no `/` (the separator of paths), and
/// not starting with `$` (the runtime's, for anonymous deployments).
pub(crate) fn check_name(name: &str) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(SpecError::EmptyName);
    }
    // A byte scan: names are short, and `str::contains`' searcher costs more to set up
    // than it saves ('/' is ASCII, so no byte of another character matches it).
    if name.bytes().any(|b| b == b'/') {
        return Err(SpecError::InvalidName(name.to_owned()));
    }
    if name.starts_with('$') {
        return Err(SpecError::ReservedName(name.to_owned()));
    }
    Ok(())
}

fn start<C: Component>(factory: Shared<dyn Factory<C>>, here: &Here, config: InstanceConfig) {
    let probe = here.probe.clone();
    here.instance_started();
    here.executor
        .spawn_detached_now(|slot| crate::component::instance::run(factory, config, probe, slot));
}

/// The specification of a deployment: a name (or none, for an
/// [`anonymous`](Self::anonymous) one, named by its supervisor), a `Send` factory that
/// builds the component on its reactor, the number of instances, their placement,
/// mailbox capacity and shutdown timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use reactree::{ChildSpec, Component};
///
/// struct Pricing;
/// impl Component for Pricing {}
///
/// let spec = ChildSpec::new("pricing", || Pricing)
///     .instances(2)
///     .mailbox_capacity(256)
///     .shutdown_timeout(Duration::from_secs(1));
/// assert_eq!(spec.name(), "pricing");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    /// Moved in from the caller: the supervisor copies it once, into the child's path.
    /// Empty for an anonymous spec, whose name its supervisor gives.
    pub(crate) name: String,
    /// Made by [`anonymous`](Self::anonymous).
    pub(crate) anonymous: bool,
    pub(crate) launch: Shared<dyn Launch>,
    pub(crate) instances: usize,
    pub(crate) reactor: Option<usize>,
    pub(crate) mailbox_capacity: Option<usize>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) restart: RestartType,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("anonymous", &self.anonymous)
            .field("instances", &self.instances)
            .field("reactor", &self.reactor)
            .field("mailbox_capacity", &self.mailbox_capacity)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A spec of one permanent instance built by `factory`, placed round-robin over its
    /// supervisor's reactors, with the runtime's default mailbox capacity and a 5 s
    /// shutdown timeout.
    pub fn new<C, F>(name: impl Into<String>, factory: F) -> Self
    where
        C: Component,
        F: Fn() -> C + Send + Sync + 'static,
    {
        Self {
            name: name.into(),
            anonymous: false,
            launch: Shared::of(factory),
            instances: 1,
            reactor: None,
            mailbox_capacity: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            restart: RestartType::Permanent,
        }
    }

    /// A spec as [`new`](Self::new) without a name of its own: its supervisor names the
    /// deployment `$` and a number no other deployment of the runtime has had (`$17`),
    /// as Akka's `spawnAnonymous` does. For children made at run time that nothing
    /// looks up by name (one per connection, say): the caller invents no name, and a
    /// deploy and an undeploy skip the check that a name is not taken twice. Names
    /// starting with `$` are kept for these: [`new`](Self::new) with one is refused
    /// ([`SpecError::ReservedName`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    ///
    /// struct Session;
    /// impl Component for Session {}
    ///
    /// let runtime = Runtime::builder().reactors(1).build()?;
    /// let (a, b) = runtime.block_on(async {
    ///     let a = runtime.deploy(ChildSpec::anonymous(|| Session)).await?;
    ///     let b = runtime.deploy(ChildSpec::anonymous(|| Session)).await?;
    ///     Ok::<_, DeployError>((a, b))
    /// })?;
    /// assert_ne!(a, b);
    /// let snapshot = runtime.handle().inspect();
    /// assert!(snapshot.components.iter().all(|c| c.name.starts_with('$')));
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn anonymous<C, F>(factory: F) -> Self
    where
        C: Component,
        F: Fn() -> C + Send + Sync + 'static,
    {
        Self {
            anonymous: true,
            ..Self::new(String::new(), factory)
        }
    }

    /// When its supervisor restarts it: always (`Permanent`, the default, as in OTP),
    /// after a failure only (`Transient`), or never (`Temporary`: a temporary child that
    /// exits is removed, its deployment with it).
    #[must_use]
    pub fn restart(mut self, restart: RestartType) -> Self {
        self.restart = restart;
        self
    }

    /// How many instances to run, each on its own reactor slot (round-robin unless
    /// pinned). Consumers of the same address share its `send`s round-robin.
    #[must_use]
    pub fn instances(mut self, instances: usize) -> Self {
        self.instances = instances;
        self
    }

    /// Pins every instance to the reactor with this index.
    #[must_use]
    pub fn reactor(mut self, index: usize) -> Self {
        self.reactor = Some(index);
        self
    }

    /// The capacity of each instance's mailbox (at most `u32::MAX`; more is taken as
    /// `u32::MAX`).
    #[must_use]
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = Some(capacity);
        self
    }

    /// How long `stop` (and a handler still running when the stop was asked) may take
    /// before it is abandoned and the abandonment reported. Kept to the millisecond,
    /// rounded up, as OTP's `shutdown`; about 49 days or more (`Duration::MAX`, say)
    /// means never, as OTP's `infinity`.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The deployment's name; empty for an [`anonymous`](Self::anonymous) spec, whose
    /// supervisor names it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it was made by [`anonymous`](Self::anonymous).
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// Checks what does not depend on the supervisor: the name, the counts.
    pub(crate) fn validate_alone(&self) -> Result<(), SpecError> {
        if !self.anonymous {
            check_name(&self.name)?;
        }
        if self.instances == 0 {
            return Err(SpecError::ZeroInstances);
        }
        if self.mailbox_capacity == Some(0) {
            return Err(SpecError::ZeroMailboxCapacity);
        }
        Ok(())
    }

    /// Checks the spec's reactor against a supervisor with `reactors` reactors.
    pub(crate) fn validate_reactor(&self, reactors: usize) -> Result<(), SpecError> {
        match self.reactor {
            Some(index) if index >= reactors => Err(SpecError::NoSuchReactor { index, reactors }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unit;
    impl Component for Unit {}

    #[test]
    fn a_factory_that_captures_nothing_is_kept_without_an_allocation() {
        assert!(matches!(Shared::of(|| Unit), Shared::Static(_)));
        let captured = Arc::new(());
        let factory = move || {
            let _ = &captured;
            Unit
        };
        assert!(matches!(Shared::of(factory), Shared::Counted(_)));
        // Zero-sized but with a drop to run: counted, so the drop runs.
        struct Dropping;
        impl Drop for Dropping {
            fn drop(&mut self) {}
        }
        let dropping = Dropping;
        let factory = move || {
            let _ = &dropping;
            Unit
        };
        assert_eq!(size_of_val(&factory), 0);
        assert!(matches!(Shared::of(factory), Shared::Counted(_)));
    }
}
