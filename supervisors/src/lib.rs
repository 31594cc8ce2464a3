//! The pure supervision policy of reactree: Erlang/OTP restart strategies, restart
//! types and restart intensity, with Akka-style exponential backoff, as a state
//! machine with no threads, no I/O and no clock of its own.
//!
//! The runtime's supervisor nodes feed a [`SupervisorPolicy`] with the lifecycle of
//! their children (added, started, exited, failed to start, removed) and the time of
//! each event; for every exit the policy answers with a [`Decision`]: leave the child
//! down, drop it, restart a set of children after a delay, or escalate. The policy
//! decides, the runtime acts.
//!
//! # Examples
//!
//! A rest-for-one supervisor of a connection and two components that use it:
//!
//! ```
//! use std::time::Duration;
//! use reactree_supervisors::prelude::*;
//!
//! let secs = Duration::from_secs;
//! let at = |s| Timestamp::from_elapsed(secs(s));
//! let mut policy = SupervisorPolicy::builder()
//!     .strategy(Strategy::RestForOne)
//!     .intensity(Intensity::new(2, secs(10))?)
//!     .backoff(Backoff::exponential(secs(1), secs(8), 0.0, secs(30))?)
//!     .build()?;
//!
//! // Add the children in start order, then report each start.
//! let connection = policy.add_child(RestartType::Permanent)?;
//! let pricing = policy.add_child(RestartType::Permanent)?;
//! let audit = policy.add_child(RestartType::Temporary)?;
//! for child in [connection, pricing, audit] {
//!     policy.child_started(child, at(0))?;
//! }
//!
//! // The connection crashes: stop the later children in reverse start order, drop
//! // the temporary one, wait, restart the others in start order.
//! let decision = policy.child_exited(connection, Exit::Abnormal, at(1))?;
//! assert_eq!(
//!     decision,
//!     Decision::Restart {
//!         stop: vec![audit, pricing],
//!         remove: vec![audit],
//!         restart: vec![connection, pricing],
//!         delay: secs(1),
//!     }
//! );
//! policy.child_started(connection, at(2))?;
//! policy.child_started(pricing, at(2))?;
//!
//! // It crashes again soon: the delay doubles.
//! let decision = policy.child_exited(connection, Exit::Abnormal, at(3))?;
//! assert_eq!(decision.delay(), Some(secs(2)));
//! policy.child_started(connection, at(5))?;
//! policy.child_started(pricing, at(5))?;
//!
//! // A third restart within 10 seconds exceeds the intensity: give up.
//! let decision = policy.child_exited(pricing, Exit::Abnormal, at(6))?;
//! assert_eq!(decision, Decision::Escalate { stop: vec![connection] });
//! assert_eq!(policy.state(), PolicyState::Escalated);
//! assert_eq!(policy.stats(at(6)).total_restarts, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Driving the policy
//!
//! 1. [`SupervisorPolicy::add_child`] for each child, in start order (dynamic children
//!    are appended). Start them in that order and report each with
//!    [`child_started`](SupervisorPolicy::child_started), or
//!    [`child_start_failed`](SupervisorPolicy::child_start_failed).
//! 2. When a running child exits by itself, call
//!    [`child_exited`](SupervisorPolicy::child_exited) and carry out the decision:
//!    - [`Decision::Ignore`]: nothing; [`Decision::Remove`]: drop the child;
//!    - [`Decision::Restart`]: stop `stop` in order, drop `remove`, wait `delay`, start
//!      `restart` in order, reporting each start as in step 1. Exits the runtime
//!      caused are not reported;
//!    - [`Decision::Escalate`]: stop `stop` in order and fail the supervisor.
//! 3. [`remove_child`](SupervisorPolicy::remove_child) when the runtime undeploys a
//!    child.
//!
//! # Semantics
//!
//! - One restart decision counts once against the intensity, however many children it
//!   restarts. A restart made at `t` counts while `now - t < window`.
//! - Temporary children are never restarted: their exit removes them and restarts no
//!   sibling, and a sibling's restart stops and removes them.
//! - Under [`Strategy::OneForAll`] and [`Strategy::RestForOne`], every non-temporary
//!   affected child is restarted, running or not, as in OTP: a transient child that
//!   had finished normally starts again with its siblings.
//! - The backoff delay grows with the failed child's own streak of restarts, reset
//!   when it exits after running at least the stable period.
//!
//! # Implementation
//!
//! Children live in a deque sorted by id; ids only grow, so start order is id order.
//! A lookup checks the newest child, then gallops from the oldest ([`search::gallop`]).
//! The restart log keeps at most `max_restarts` timestamps, pruned as the window
//! slides. Jitter comes from a seeded splitmix64 generator and is applied in integer
//! nanoseconds, so it can only shorten a delay and never exceed the cap.

#![doc(test(attr(deny(warnings))))]

mod backoff;
mod child;
mod decision;
mod error;
mod intensity;
mod policy;
pub mod search;
mod strategy;
mod time;
pub mod tombstones;

pub use backoff::Backoff;
pub use child::{ChildId, ChildInfo, ChildState, Exit, RestartType};
pub use decision::Decision;
pub use error::{BackoffError, ConfigError, EventError, IntensityError};
pub use intensity::Intensity;
pub use policy::{PolicyState, Stats, SupervisorPolicy, SupervisorPolicyBuilder};
pub use strategy::Strategy;
pub use time::Timestamp;

/// The types needed to build and drive a policy.
pub mod prelude {
    pub use crate::{
        Backoff, ChildId, Decision, Exit, Intensity, PolicyState, RestartType, Strategy,
        SupervisorPolicy, Timestamp,
    };
}
