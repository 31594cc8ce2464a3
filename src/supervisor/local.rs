//! The supervisors whose task runs on this thread's reactor, by path.
//!
//! A deploy or undeploy asked on the reactor of the supervisor it is for is done in
//! the caller's poll, on the node itself, when the node waits for work (see
//! `Node::deploy_now`): no request, no reply channel, no task switch. The node's task
//! holds the node borrowed whenever it works, and lets it go only while it waits for
//! an event, so a caller that finds it borrowed, or with anything queued, sends its
//! request instead, in order behind the rest.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::node::{Node, Now};
use crate::bus::FastMap;
use crate::runtime::{DeployError, UndeployError};
use crate::{ChildSpec, DeploymentId};

/// One node of the table, by path.
type Entry = (Arc<str>, Weak<RefCell<Node>>);

thread_local! {
    static NODES: RefCell<FastMap<Arc<str>, Weak<RefCell<Node>>>> =
        RefCell::new(FastMap::default());
    /// The node found last: deploys and undeploys come in runs to one supervisor (the
    /// root, most often), found again here without hashing its path.
    static LAST: RefCell<Option<Entry>> = const { RefCell::new(None) };
}

/// Lists `node`, at `path`, as running on this thread.
pub(super) fn register(path: &Arc<str>, node: &Rc<RefCell<Node>>) {
    NODES.with(|nodes| {
        nodes.borrow_mut().insert(path.clone(), Rc::downgrade(node));
    });
    // A node found last under this path is gone or going.
    let _ = LAST.try_with(|last| last.borrow_mut().take());
}

/// Takes `node` out of the table, unless another node has its path since.
pub(super) fn unregister(path: &str, node: &Rc<RefCell<Node>>) {
    // `try_with`: at a thread's end the table may be gone before the last task.
    let _ = NODES.try_with(|nodes| {
        let mut nodes = nodes.borrow_mut();
        if nodes
            .get(path)
            .is_some_and(|kept| std::ptr::eq(kept.as_ptr(), Rc::as_ptr(node)))
        {
            nodes.remove(path);
        }
    });
    let _ = LAST.try_with(|last| {
        let mut last = last.borrow_mut();
        if last
            .as_ref()
            .is_some_and(|(_, kept)| std::ptr::eq(kept.as_ptr(), Rc::as_ptr(node)))
        {
            *last = None;
        }
    });
}

/// The node at `path`, if its task runs on this thread.
pub(super) fn find(path: &str) -> Option<Rc<RefCell<Node>>> {
    LAST.try_with(|last| {
        let mut last = last.borrow_mut();
        if let Some((kept, node)) = last.as_ref()
            && **kept == *path
            && let Some(node) = node.upgrade()
        {
            return Some(node);
        }
        let found = NODES.with(|nodes| {
            nodes
                .borrow()
                .get_key_value(path)
                .map(|(path, node)| (path.clone(), node.clone()))
        })?;
        let node = found.1.upgrade();
        *last = Some(found);
        node
    })
    .ok()
    .flatten()
}

/// Deploys `spec` under the supervisor at `path` in the caller's poll, if the
/// supervisor's task runs on this thread, reactor `here`, and waits for work (see
/// `Node::deploy_now`); gives the spec back otherwise. The watchdog does not count the
/// time as the caller's poll, as it would not for the supervisor's task.
pub(crate) fn deploy_here(
    path: &str,
    spec: ChildSpec,
    here: usize,
) -> Result<Now<DeploymentId, DeployError>, ChildSpec> {
    let Some(node) = find(path) else {
        return Err(spec);
    };
    let Ok(mut node) = node.try_borrow_mut() else {
        return Err(spec);
    };
    crate::reactor::unwatched(|| node.deploy_now(spec, here))
}

/// Undeploys deployment `id` of the supervisor at `path` in the caller's poll, as
/// [`deploy_here`]; `None` if it is not done here.
pub(crate) fn undeploy_here(
    path: &str,
    id: DeploymentId,
    first: Option<u64>,
    here: usize,
) -> Option<Now<(), UndeployError>> {
    let node = find(path)?;
    let mut node = node.try_borrow_mut().ok()?;
    crate::reactor::unwatched(|| node.undeploy_now(id, first, here))
}
