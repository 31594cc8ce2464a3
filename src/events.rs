//! The lifecycle event stream: deployed, started, stopped, failed, restarted, escalated
//! and blocked events, delivered to each subscriber through its own bounded channel.
//!
//! Invariant: emitting never waits. A subscriber whose channel is full loses the event,
//! and the loss is counted for it ([`EventStream::lost`]); the runtime's speed never
//! depends on a subscriber's. With no subscriber, emitting costs one atomic load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Something that happened in the supervision tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// A deployment (a component or a supervisor) was added at `path`.
    Deployed {
        /// Its path, such as `root/sales/orders`.
        path: String,
    },
    /// An instance's `start` completed.
    Started {
        /// The component's path.
        path: String,
        /// The instance number.
        instance: usize,
    },
    /// An instance stopped (normally, or because it was asked to).
    Stopped {
        /// The component's path.
        path: String,
        /// The instance number.
        instance: usize,
    },
    /// An instance failed.
    Failed {
        /// The component's path.
        path: String,
        /// The instance number.
        instance: usize,
        /// What happened.
        failure: String,
    },
    /// A supervisor started a child again.
    Restarted {
        /// The child's path.
        path: String,
        /// The instance number (0 for a supervisor).
        instance: usize,
    },
    /// A supervisor exceeded its restart intensity and gave up.
    Escalated {
        /// The supervisor's path.
        supervisor: String,
    },
    /// A poll of component code held its reactor past the blocked threshold.
    Blocked {
        /// The reactor.
        reactor: usize,
        /// The component, as `name#instance`.
        component: String,
        /// How long, when first reported.
        blocked_for: Duration,
    },
}

/// A subscription to the lifecycle events of a runtime, from
/// [`Handle::events`](crate::Handle::events). Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventStream {
    events: flume::Receiver<LifecycleEvent>,
    lost: Arc<AtomicU64>,
}

impl EventStream {
    /// The next event, if one is waiting.
    pub fn try_next(&self) -> Option<LifecycleEvent> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting up to `timeout` (blocks the thread: not on a reactor).
    pub fn next_timeout(&self, timeout: Duration) -> Option<LifecycleEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The next event; `None` once the runtime is gone.
    pub async fn next(&self) -> Option<LifecycleEvent> {
        self.events.recv_async().await.ok()
    }

    /// Events this subscriber lost because its channel was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

struct Subscriber {
    events: flume::Sender<LifecycleEvent>,
    lost: Arc<AtomicU64>,
}

/// The runtime's side: the subscribers.
#[derive(Default)]
pub(crate) struct Events {
    any: AtomicBool,
    subscribers: Mutex<Vec<Subscriber>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("any", &self.any)
            .finish_non_exhaustive()
    }
}

impl Events {
    pub(crate) fn subscribe(&self, capacity: usize) -> EventStream {
        let (tx, rx) = flume::bounded(capacity.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.push(Subscriber {
            events: tx,
            lost: lost.clone(),
        });
        self.any.store(true, Ordering::Release);
        EventStream { events: rx, lost }
    }

    /// Hands `event` to every subscriber that has room; never waits.
    pub(crate) fn emit(&self, event: impl FnOnce() -> LifecycleEvent) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let event = event();
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subscribers.retain(|s| match s.events.try_send(event.clone()) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                s.lost.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        });
        self.any.store(!subscribers.is_empty(), Ordering::Release);
    }
}
