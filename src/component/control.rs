//! How a reactor (on behalf of a supervisor) steers an instance: stop requests, and the
//! directive an instance waits for once it is down.
//!
//! Protocol, all on the instance's reactor thread:
//! - `request_stop(mode, done)`: the instance stops between handlers (a running handler
//!   gets its grace period). With [`StopMode::Restart`] it keeps its mailbox and
//!   registrations and waits, down, for a directive; `done` is told once it is down.
//!   With [`StopMode::Terminate`] it also removes its consumers, drains its mailbox and
//!   ends; `done` is told at the very end. Terminate wins over Restart.
//! - An instance that exits by itself (failure, `ctx.stop()`) reports to its supervisor
//!   and waits, down, for a directive.
//! - `resume(directive)`: [`Directive::Restart`] builds a fresh component from the
//!   factory on the same mailbox; [`Directive::Terminate`] ends it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::Waker;

use crate::bus::FastMap;
use crate::failure::Failure;
use crate::oneshot;

/// Why a supervisor stops an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// Stop it, keeping its mailbox, to start it again (a sibling's restart).
    Restart,
    /// Stop it for good (undeploy, escalation, shutdown).
    Terminate,
}

/// What a down instance is told to do next.
pub(crate) enum Directive {
    /// Start a fresh component on the same mailbox; report the start on `started`.
    Restart {
        started: oneshot::Sender<Result<(), Failure>>,
        epoch: u64,
    },
    /// End.
    Terminate,
}

/// The reactor's handle on one instance.
#[derive(Default)]
pub(crate) struct Control {
    stop: Cell<Option<StopMode>>,
    directive: Cell<Option<Directive>>,
    waker: Cell<Option<Waker>>,
    waiters: Cell<Vec<oneshot::Sender<()>>>,
}

impl Control {
    fn wake(&self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Asks the instance to stop; `done` is told when it has (see the module docs).
    pub(crate) fn request_stop(&self, mode: StopMode, done: oneshot::Sender<()>) {
        let mut waiters = self.waiters.take();
        waiters.push(done);
        self.waiters.set(waiters);
        let mode = match self.stop.get() {
            Some(StopMode::Terminate) => StopMode::Terminate,
            _ => mode,
        };
        self.stop.set(Some(mode));
        self.wake();
    }

    /// Tells a down instance what to do next.
    pub(crate) fn resume(&self, directive: Directive) {
        self.directive.set(Some(directive));
        self.wake();
    }

    /// The stop asked of the instance, if any.
    pub(crate) fn stop_mode(&self) -> Option<StopMode> {
        self.stop.get()
    }

    /// Whether a stop was asked; if not, wakes `cx` when one is.
    pub(crate) fn poll_stop(&self, cx: &mut std::task::Context<'_>) -> bool {
        if self.stop.get().is_some() {
            return true;
        }
        // Polled on every idle and every pending handler poll: keep the waker when it is
        // the same task's, instead of cloning (two atomic operations) each time.
        let kept = self.waker.take().filter(|w| w.will_wake(cx.waker()));
        self.waker
            .set(Some(kept.unwrap_or_else(|| cx.waker().clone())));
        false
    }

    /// While down: the next directive, if one came. A terminate request counts as one;
    /// a restart-mode stop request is already satisfied and is answered at once.
    pub(crate) fn poll_directive(&self, cx: &mut std::task::Context<'_>) -> Option<Directive> {
        if self.stop.get() == Some(StopMode::Terminate) {
            return Some(Directive::Terminate);
        }
        if self.stop.take() == Some(StopMode::Restart) {
            self.finish();
        }
        if let Some(directive) = self.directive.take() {
            return Some(directive);
        }
        self.waker.set(Some(cx.waker().clone()));
        None
    }

    /// Tells everyone waiting for the instance to stop that it has.
    pub(crate) fn finish(&self) {
        for done in self.waiters.take() {
            let _ = done.send(());
        }
    }
}

/// The instances living on one reactor, by key.
#[derive(Default)]
pub(crate) struct Instances {
    map: RefCell<FastMap<u64, Rc<Control>>>,
}

impl Instances {
    pub(crate) fn insert(&self, key: u64, control: Rc<Control>) {
        self.map.borrow_mut().insert(key, control);
    }

    pub(crate) fn remove(&self, key: u64) {
        self.map.borrow_mut().remove(&key);
    }

    /// Asks instance `key` to stop; tells `done` at once if it is not there.
    pub(crate) fn request_stop(&self, key: u64, mode: StopMode, done: oneshot::Sender<()>) {
        let control = self.map.borrow().get(&key).cloned();
        match control {
            Some(control) => control.request_stop(mode, done),
            None => {
                let _ = done.send(());
            }
        }
    }

    /// Gives instance `key` its directive; a restart of an instance that is not there
    /// reports a failure.
    pub(crate) fn resume(&self, key: u64, directive: Directive) {
        let control = self.map.borrow().get(&key).cloned();
        match (control, directive) {
            (Some(control), directive) => control.resume(directive),
            (None, Directive::Restart { started, .. }) => {
                let _ = started.send(Err(Failure::new(
                    crate::Hook::Start,
                    crate::FailureKind::Error,
                    "the instance is gone",
                )));
            }
            (None, Directive::Terminate) => {}
        }
    }

    /// How many instances live here.
    pub(crate) fn len(&self) -> usize {
        self.map.borrow().len()
    }
}
