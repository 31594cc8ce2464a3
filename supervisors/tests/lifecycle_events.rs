//! The event protocol: which lifecycle events the policy accepts in which child
//! state, the typed errors for the others, and that a refused event changes nothing.
//!
//! Guards the runtime against silent desynchronisation with its policy: an exit
//! reported twice, a start of a running child, an event for a removed child.

#[path = "support/harness.rs"]
mod harness;

use harness::{at, generous, policy, secs, spawn, state};
use reactree_supervisors::{
    Backoff, ChildState, ConfigError, Decision, EventError, Exit, Intensity, RestartType, Strategy,
    SupervisorPolicy,
};

fn fresh() -> SupervisorPolicy {
    policy(Strategy::OneForOne, generous(), Backoff::None)
}

#[test]
fn ids_grow_and_are_never_reused() {
    let mut policy = fresh();
    let first = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    policy.remove_child(first).expect("known");
    let second = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    assert!(second > first);
    assert_eq!(policy.child(first), None);
}

#[test]
fn a_child_goes_idle_running_restarting_running() {
    let mut policy = fresh();
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    assert_eq!(state(&policy, id), Some(ChildState::Idle));
    policy.child_started(id, at(5)).expect("idle child starts");
    assert_eq!(
        state(&policy, id),
        Some(ChildState::Running { since: at(5) })
    );
    let _ = policy
        .child_exited(id, Exit::Abnormal, at(6))
        .expect("running");
    assert_eq!(state(&policy, id), Some(ChildState::Restarting));
    policy
        .child_started(id, at(7))
        .expect("restarting child starts");
    assert_eq!(
        state(&policy, id),
        Some(ChildState::Running { since: at(7) })
    );
}

#[test]
fn events_for_unknown_children_are_refused() {
    let mut policy = fresh();
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    policy.remove_child(id).expect("known");
    let unknown = EventError::UnknownChild(id);
    assert_eq!(policy.child_started(id, at(0)), Err(unknown));
    assert_eq!(policy.child_exited(id, Exit::Normal, at(0)), Err(unknown));
    assert_eq!(policy.child_start_failed(id, at(0)), Err(unknown));
    assert_eq!(policy.remove_child(id), Err(unknown));
}

#[test]
fn an_exit_of_a_child_that_is_not_running_is_refused() {
    let mut policy = fresh();
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    assert_eq!(
        policy.child_exited(id, Exit::Abnormal, at(0)),
        Err(EventError::NotRunning(id))
    );
    let _ = policy.child_start_failed(id, at(0)).expect("idle");
    assert_eq!(state(&policy, id), Some(ChildState::Restarting));
    assert_eq!(
        policy.child_exited(id, Exit::Abnormal, at(0)),
        Err(EventError::NotRunning(id))
    );
}

#[test]
fn a_start_or_failed_start_of_a_running_child_is_refused() {
    let mut policy = fresh();
    let id = spawn(&mut policy, &[RestartType::Permanent], at(0))[0];
    assert_eq!(
        policy.child_started(id, at(1)),
        Err(EventError::AlreadyRunning(id))
    );
    assert_eq!(
        policy.child_start_failed(id, at(1)),
        Err(EventError::AlreadyRunning(id))
    );
}

#[test]
fn a_refused_event_changes_nothing() {
    let mut policy = fresh();
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let before: Vec<_> = policy.children().collect();
    let stats = policy.stats(at(0));
    let _ = policy.child_started(ids[0], at(9)).expect_err("running");
    let _ = policy
        .child_start_failed(ids[1], at(9))
        .expect_err("running");
    assert_eq!(policy.children().collect::<Vec<_>>(), before);
    assert_eq!(policy.stats(at(0)), stats);
}

#[test]
fn a_transient_child_left_idle_may_be_started_again() {
    let mut policy = fresh();
    let id = spawn(&mut policy, &[RestartType::Transient], at(0))[0];
    assert_eq!(
        policy.child_exited(id, Exit::Normal, at(1)),
        Ok(Decision::Ignore)
    );
    policy.child_started(id, at(2)).expect("idle child starts");
    assert!(state(&policy, id).is_some_and(ChildState::is_running));
}

#[test]
fn a_running_child_may_be_removed() {
    let mut policy = fresh();
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let info = policy.remove_child(ids[0]).expect("known");
    assert!(info.state.is_running(), "the snapshot is the last state");
    assert_eq!(policy.stats(at(0)).children, 1);
}

#[test]
fn stats_count_children_and_running_ones() {
    let mut policy = fresh();
    let _ = spawn(&mut policy, &[RestartType::Permanent; 3], at(0));
    let _ = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    let stats = policy.stats(at(0));
    assert_eq!((stats.children, stats.running), (4, 3));
}

#[test]
fn configuration_errors_are_typed() {
    let zero_window = Intensity {
        max_restarts: 1,
        window: std::time::Duration::ZERO,
    };
    let error = SupervisorPolicy::builder()
        .intensity(zero_window)
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::Intensity(_)));
    assert_eq!(error.to_string(), "invalid intensity");
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("intensity window is zero"));
    let bad = Backoff::Exponential {
        min: secs(2),
        max: secs(1),
        jitter: 0.0,
        reset_after: secs(1),
    };
    let error = SupervisorPolicy::new(Strategy::OneForAll, Intensity::DEFAULT, bad, 0);
    assert!(matches!(error, Err(ConfigError::Backoff(_))));
}

#[test]
fn error_messages_are_short_lowercase_phrases() {
    let mut policy = fresh();
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    let messages = [
        EventError::UnknownChild(id).to_string(),
        EventError::AlreadyRunning(id).to_string(),
        EventError::NotRunning(id).to_string(),
        EventError::Escalated.to_string(),
    ];
    assert_eq!(
        messages,
        [
            "unknown child 0",
            "child 0 is already running",
            "child 0 is not running",
            "supervisor has escalated"
        ]
    );
}
