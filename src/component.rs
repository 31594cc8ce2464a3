//! Components (Vert.x's verticles): user state plus lifecycle hooks and message handlers,
//! always run on one reactor thread, one call at a time.

pub(crate) mod control;
mod envelope;
mod erased;
pub(crate) mod instance;
pub(crate) mod mailbox;
pub(crate) mod pooled;
pub(crate) mod spec;
pub(crate) mod tasks;
pub(crate) mod timers;

use std::future::Future;

use crate::Context;
use crate::bus::Message;

pub(crate) use envelope::{Envelope, MailboxConsumer};
pub(crate) use erased::fits as kept_in_place;
pub use instance::ComponentState;
pub(crate) use instance::{ChildExit, Exit, InstanceConfig, InstanceStats, grace_millis};
pub use spec::{ChildSpec, DEFAULT_SHUTDOWN_TIMEOUT};
pub use tasks::{SpawnError, TaskId};
pub use timers::TimerId;

/// The error type `start` may return: anything that is an error and can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A component: state that lives on one reactor thread, started, fed messages and
/// stopped by the runtime.
///
/// The component is built on its reactor by the `Send` factory of its
/// [`ChildSpec`], so the type itself need not be `Send`: it can hold `Rc`, `RefCell` and
/// other thread-local state without locks. Every hook and handler gets `&mut self`; the
/// runtime never runs two of them at once for one instance.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use reactree::{Address, BoxError, Component, Context, Handler, Message};
///
/// struct Add(u64);
/// impl Message for Add { type Reply = u64; }
/// const ADD: Address<Add> = Address::new("counter.add");
///
/// struct Counter { total: u64, _not_send: Rc<()> }
///
/// impl Component for Counter {
///     async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
///         ctx.consume(&ADD)?;
///         Ok(())
///     }
/// }
///
/// impl Handler<Add> for Counter {
///     async fn handle(&mut self, msg: Add, _ctx: &mut Context<Self>) -> u64 {
///         self.total += msg.0;
///         self.total
///     }
/// }
///
/// let runtime = reactree::Runtime::builder().reactors(1).build()?;
/// runtime.block_on(async {
///     let spec = reactree::ChildSpec::new("counter", || Counter { total: 0, _not_send: Rc::new(()) });
///     runtime.deploy(spec).await?;
///     runtime.bus().request(&ADD, Add(2)).await.ok();
///     assert_eq!(runtime.bus().request(&ADD, Add(3)).await.ok(), Some(5));
///     Ok::<_, reactree::DeployError>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Component: Sized + 'static {
    /// Called once on the reactor before any message: register consumers and timers here.
    /// An error (or a panic) is a failed start: the deployment fails with it.
    fn start(&mut self, ctx: &mut Context<Self>) -> impl Future<Output = Result<(), BoxError>> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Called once when the component stops (undeploy, shutdown, `ctx.stop()`, or after a
    /// failure), within the spec's shutdown timeout. Consumers are already removed, and
    /// timers are cancelled after it returns.
    fn stop(&mut self, ctx: &mut Context<Self>) -> impl Future<Output = ()> {
        let _ = ctx;
        async {}
    }
}

/// A component's handler of messages of type `M`, registered at addresses with
/// [`Context::consume`].
///
/// The returned value is the reply to a requester (and is dropped for `send` and
/// `publish`). Handlers of one instance never run concurrently: while one awaits, the
/// instance's other messages wait in its mailbox.
pub trait Handler<M: Message>: Component {
    /// Handles one message.
    fn handle(&mut self, message: M, ctx: &mut Context<Self>) -> impl Future<Output = M::Reply>;
}
