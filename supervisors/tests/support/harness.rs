//! Helpers shared by the behaviour tests: timestamps, policies, children.

#![allow(dead_code)]

use std::time::Duration;

use reactree_supervisors::{
    Backoff, ChildId, ChildState, Decision, Intensity, RestartType, Strategy, SupervisorPolicy,
    Timestamp,
};

pub(crate) fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The timestamp `ms` milliseconds after the origin.
pub(crate) fn at(ms: u64) -> Timestamp {
    Timestamp::from_elapsed(millis(ms))
}

/// An intensity that never gets in the way of a test about something else.
pub(crate) fn generous() -> Intensity {
    Intensity::new(u32::MAX, secs(1)).expect("valid intensity")
}

pub(crate) fn policy(
    strategy: Strategy,
    intensity: Intensity,
    backoff: Backoff,
) -> SupervisorPolicy {
    SupervisorPolicy::new(strategy, intensity, backoff, 0).expect("valid configuration")
}

/// Adds children of the given types in order and starts them all at `now`.
pub(crate) fn spawn(
    policy: &mut SupervisorPolicy,
    types: &[RestartType],
    now: Timestamp,
) -> Vec<ChildId> {
    let ids: Vec<_> = types
        .iter()
        .map(|&restart_type| policy.add_child(restart_type).expect("supervising"))
        .collect();
    for &id in &ids {
        policy.child_started(id, now).expect("child starts");
    }
    ids
}

/// Carries out a restart decision: starts every child it names at `now`.
pub(crate) fn restart_all(policy: &mut SupervisorPolicy, decision: &Decision, now: Timestamp) {
    for &id in decision.to_restart() {
        policy
            .child_started(id, now)
            .expect("restarted child starts");
    }
}

pub(crate) fn state(policy: &SupervisorPolicy, id: ChildId) -> Option<ChildState> {
    policy.child(id).map(|child| child.state)
}

pub(crate) fn is_running(policy: &SupervisorPolicy, id: ChildId) -> bool {
    state(policy, id).is_some_and(ChildState::is_running)
}
