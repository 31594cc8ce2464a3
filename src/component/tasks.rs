//! Tasks a component spawns on its reactor (`Context::spawn`): they run beside its
//! handlers and live as long as the incarnation that spawned them.
//!
//! Invariants: a task runs on the instance's reactor thread, so it may hold `!Send`
//! values; it is dropped (cancelled) when its incarnation ends, by stop, failure or
//! restart; a panic in it is caught and fails the instance, exactly like a panic in a
//! handler, and the reactor thread lives on.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use futures_lite::FutureExt;

use crate::failure::{Failure, Hook};
use crate::reactor;
use crate::rt::Task;
use crate::watchdog::Probe;

/// Identifies one task of one component; cancel it with
/// [`Context::cancel_task`](crate::Context::cancel_task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

/// Why [`Context::spawn`](crate::Context::spawn) refused a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// Not on a reactor of a running runtime (the reactor is shutting down).
    #[error("no reactor runs on this thread")]
    NoReactor,
}

/// The first panic of any task, shared between the tasks and the instance loop.
#[derive(Default)]
pub(crate) struct Panics {
    failure: RefCell<Option<Failure>>,
    waker: Cell<Option<Waker>>,
}

impl Panics {
    fn record(&self, failure: Failure) {
        self.failure.borrow_mut().get_or_insert(failure);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The failure a task reported, if any.
    pub(crate) fn take(&self) -> Option<Failure> {
        self.failure.borrow_mut().take()
    }

    /// Ready once a task has panicked; registers `cx`'s waker otherwise.
    pub(crate) fn poll(&self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.failure.borrow().is_some() {
            return Poll::Ready(());
        }
        let kept = self.waker.take().filter(|w| w.will_wake(cx.waker()));
        self.waker
            .set(Some(kept.unwrap_or_else(|| cx.waker().clone())));
        Poll::Pending
    }
}

/// The tasks of one incarnation.
#[derive(Default)]
pub(crate) struct Tasks {
    /// Allocated with the first task: most components never spawn one.
    spawned: Option<Box<Spawned>>,
    /// The instance's key: each poll of a task is reported to the reactor's watchdog
    /// probe (looked up at the spawn) like a handler's, so a task that blocks the
    /// reactor is named.
    key: u64,
}

/// The tasks an incarnation has spawned, and where they report a panic.
#[derive(Default)]
struct Spawned {
    next: u64,
    /// In id order (ids are handed out in order, and entries leave only by pruning,
    /// which keeps the order), so a task is found by binary search. A cancelled task
    /// leaves its entry empty until the next pruning: cancelling moves nothing.
    running: Vec<(TaskId, Option<Task<()>>)>,
    /// `running`'s length after its last pruning of finished tasks.
    pruned: usize,
    panics: Rc<Panics>,
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("running", &self.len())
            .finish()
    }
}

impl Tasks {
    pub(crate) fn watch(&mut self, key: u64) {
        self.key = key;
    }

    /// Where the incarnation's tasks report a panic; `None` until a task is spawned.
    pub(crate) fn panics(&self) -> Option<&Rc<Panics>> {
        self.spawned.as_ref().map(|spawned| &spawned.panics)
    }

    pub(crate) fn spawn(
        &mut self,
        future: impl Future<Output = ()> + 'static,
    ) -> Result<TaskId, SpawnError> {
        // Finished tasks go whenever the list has doubled since the last pruning, so a
        // component that spawns one task per event neither grows this list nor pays a
        // pass over it per spawn.
        let spawned = self.spawned.get_or_insert_with(Box::default);
        if spawned.running.len() >= 2 * spawned.pruned.max(8) {
            spawned
                .running
                .retain(|(_, task)| task.as_ref().is_some_and(|task| !task.is_finished()));
            spawned.pruned = spawned.running.len();
        }
        let panics = Rc::downgrade(&spawned.panics);
        let key = self.key;
        let probe: Option<Arc<Probe>> = reactor::probe();
        let guarded = async move {
            let mut caught = pin!(AssertUnwindSafe(future).catch_unwind());
            let outcome = std::future::poll_fn(|cx| {
                let _busy = probe.as_ref().map(|probe| probe.enter(key, Hook::Task));
                caught.as_mut().poll(cx)
            })
            .await;
            if let Err(payload) = outcome {
                let failure = Failure::panicked(Hook::Task, &*payload);
                tracing::warn!(%failure, "component.task_panicked");
                if let Some(panics) = panics.upgrade() {
                    panics.record(failure);
                }
            }
        };
        let task = reactor::spawn_local(guarded).ok_or(SpawnError::NoReactor)?;
        let id = TaskId(spawned.next);
        spawned.next += 1;
        spawned.running.push((id, Some(task)));
        Ok(id)
    }

    pub(crate) fn cancel(&mut self, id: TaskId) -> bool {
        let Some(spawned) = self.spawned.as_mut() else {
            return false;
        };
        let Ok(at) = spawned.running.binary_search_by_key(&id, |(t, _)| *t) else {
            return false;
        };
        // Dropping the handle cancels the task.
        spawned.running[at]
            .1
            .take()
            .is_some_and(|task| !task.is_finished())
    }

    /// Tasks still running.
    pub(crate) fn len(&self) -> usize {
        self.spawned.as_ref().map_or(0, |spawned| {
            spawned
                .running
                .iter()
                .filter(|(_, task)| task.as_ref().is_some_and(|task| !task.is_finished()))
                .count()
        })
    }

    /// Drops every task (each is cancelled at its next await point) and the panic slot,
    /// for the next incarnation; the watchdog probe stays.
    pub(crate) fn clear(&mut self) {
        self.spawned = None;
    }
}
