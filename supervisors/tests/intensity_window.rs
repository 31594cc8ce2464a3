//! Restart intensity: at most `max_restarts` restarts in any sliding window, one
//! more escalates; restarts leave the window exactly `window` after they were made.
//!
//! Guards the OTP budget (design: "at most N restarts in a window, beyond which the
//! supervisor fails and its parent decides") and the stated boundary semantics: a
//! restart at `t` counts at `now` while `now - t < window`.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{at, millis, policy, restart_all, secs, spawn};
use reactree_supervisors::{
    Backoff, ChildId, Decision, EventError, Exit, Intensity, IntensityError, PolicyState,
    RestartType, Strategy, SupervisorPolicy, Timestamp,
};

/// A one-for-one policy with one running permanent child, 3 restarts in 5 s.
fn three_in_five() -> (SupervisorPolicy, ChildId) {
    let intensity = Intensity::new(3, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let id = spawn(&mut policy, &[RestartType::Permanent], Timestamp::ZERO)[0];
    (policy, id)
}

/// Crashes the child at `now` and, if restarted, starts it again at once.
fn crash(policy: &mut SupervisorPolicy, id: ChildId, now: Timestamp) -> Decision {
    let decision = policy
        .child_exited(id, Exit::Abnormal, now)
        .expect("running child");
    restart_all(policy, &decision, now);
    decision
}

fn nanos(n: u64) -> Timestamp {
    Timestamp::from_elapsed(Duration::from_nanos(n))
}

#[test]
fn default_is_three_restarts_in_five_seconds() {
    assert_eq!(
        Intensity::default(),
        Intensity {
            max_restarts: 3,
            window: secs(5)
        }
    );
    assert_eq!(
        SupervisorPolicy::default().intensity(),
        Intensity::default()
    );
}

#[test]
fn exactly_max_restarts_inside_the_window_are_allowed() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 1, 2] {
        assert!(
            !crash(&mut policy, id, at(ms)).is_escalate(),
            "restart at {ms} ms"
        );
    }
    assert_eq!(policy.stats(at(2)).restarts_in_window, 3);
}

#[test]
fn one_more_restart_inside_the_window_escalates() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 1, 2] {
        let _ = crash(&mut policy, id, at(ms));
    }
    let decision = crash(&mut policy, id, at(3));
    assert_eq!(decision, Decision::Escalate { stop: Vec::new() });
    assert_eq!(policy.state(), PolicyState::Escalated);
}

#[test]
fn a_restart_exactly_window_ago_no_longer_counts() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 1_000, 2_000] {
        let _ = crash(&mut policy, id, at(ms));
    }
    assert_eq!(
        policy.stats(at(5_000)).restarts_in_window,
        2,
        "t=0 left at t=5 s"
    );
    assert!(!crash(&mut policy, id, at(5_000)).is_escalate());
}

#[test]
fn a_restart_one_nanosecond_short_of_window_still_counts() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 1_000, 2_000] {
        let _ = crash(&mut policy, id, at(ms));
    }
    let just_before = nanos(5_000_000_000 - 1);
    assert_eq!(policy.stats(just_before).restarts_in_window, 3);
    assert!(crash(&mut policy, id, just_before).is_escalate());
}

#[test]
fn restarts_sliding_out_of_the_window_free_budget() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 1_000, 2_000] {
        let _ = crash(&mut policy, id, at(ms));
    }
    assert_eq!(policy.stats(at(6_500)).restarts_in_window, 1);
    for ms in [6_500, 6_600] {
        assert!(
            !crash(&mut policy, id, at(ms)).is_escalate(),
            "restart at {ms} ms"
        );
    }
    assert!(
        crash(&mut policy, id, at(6_700)).is_escalate(),
        "2 s, 6.5 s, 6.6 s fill it"
    );
}

#[test]
fn a_steady_rate_below_the_limit_never_escalates() {
    let (mut policy, id) = three_in_five();
    for step in 0..200 {
        let now = at(step * 1_700);
        assert!(!crash(&mut policy, id, now).is_escalate(), "restart {step}");
    }
    assert_eq!(policy.stats(at(200 * 1_700)).total_restarts, 200);
}

#[test]
fn zero_max_restarts_escalates_on_the_first_restart() {
    let intensity = Intensity::new(0, secs(1)).expect("zero restarts is valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(10_000))
        .expect("running");
    assert_eq!(decision, Decision::Escalate { stop: vec![ids[1]] });
}

#[test]
fn zero_window_is_a_typed_error() {
    assert_eq!(
        Intensity::new(3, Duration::ZERO),
        Err(IntensityError::ZeroWindow)
    );
    let bad = Intensity {
        max_restarts: 3,
        window: Duration::ZERO,
    };
    assert_eq!(bad.validate(), Err(IntensityError::ZeroWindow));
    let built = SupervisorPolicy::new(Strategy::OneForOne, bad, Backoff::None, 0);
    assert!(built.is_err(), "the policy refuses it too");
}

#[test]
fn one_decision_restarting_many_children_counts_once() {
    let intensity = Intensity::new(1, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForAll, intensity, Backoff::None);
    let ids = spawn(&mut policy, &[RestartType::Permanent; 4], at(0));
    let decision = crash(&mut policy, ids[0], at(1));
    assert_eq!(decision.to_restart().len(), 4);
    assert_eq!(policy.stats(at(1)).restarts_in_window, 1);
}

#[test]
fn failed_starts_count_against_the_intensity() {
    let intensity = Intensity::new(2, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    assert!(
        !policy
            .child_start_failed(id, at(0))
            .expect("idle")
            .is_escalate()
    );
    assert!(
        !policy
            .child_start_failed(id, at(1))
            .expect("restarting")
            .is_escalate()
    );
    assert!(
        policy
            .child_start_failed(id, at(2))
            .expect("restarting")
            .is_escalate()
    );
}

#[test]
fn exits_that_restart_nothing_spend_no_budget() {
    let intensity = Intensity::new(0, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForAll, intensity, Backoff::None);
    let types = [RestartType::Transient, RestartType::Temporary];
    let ids = spawn(&mut policy, &types, at(0));
    assert_eq!(
        policy.child_exited(ids[0], Exit::Normal, at(1)),
        Ok(Decision::Ignore)
    );
    let removed = policy.child_exited(ids[1], Exit::Abnormal, at(1));
    assert_eq!(removed, Ok(Decision::Remove { child: ids[1] }));
    assert_eq!(policy.state(), PolicyState::Supervising);
}

#[test]
fn escalation_stops_every_running_child_in_reverse_start_order() {
    let intensity = Intensity::new(0, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let ids = spawn(&mut policy, &[RestartType::Permanent; 4], at(0));
    let decision = policy
        .child_exited(ids[1], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision.to_stop(), [ids[3], ids[2], ids[0]]);
    assert_eq!(policy.stats(at(1)).running, 0);
}

#[test]
fn after_escalation_every_event_is_refused() {
    let intensity = Intensity::new(0, secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let _ = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    let refused = Err(EventError::Escalated);
    assert_eq!(policy.child_exited(ids[1], Exit::Abnormal, at(2)), refused);
    assert_eq!(policy.child_start_failed(ids[0], at(2)), refused);
    assert_eq!(
        policy.child_started(ids[0], at(2)),
        Err(EventError::Escalated)
    );
    assert_eq!(
        policy.add_child(RestartType::Permanent),
        Err(EventError::Escalated)
    );
    assert_eq!(policy.remove_child(ids[0]), Err(EventError::Escalated));
}

#[test]
fn total_restarts_keep_counting_as_the_window_slides() {
    let (mut policy, id) = three_in_five();
    for ms in [0, 10_000, 20_000, 30_000] {
        let _ = crash(&mut policy, id, at(ms));
    }
    let stats = policy.stats(at(30_000));
    assert_eq!((stats.restarts_in_window, stats.total_restarts), (1, 4));
    assert_eq!(policy.stats(at(40_000)).restarts_in_window, 0);
}

#[test]
fn a_timestamp_going_backwards_counts_as_the_latest_one() {
    let (mut policy, id) = three_in_five();
    for ms in [10_000, 10_001, 10_002] {
        let _ = crash(&mut policy, id, at(ms));
    }
    assert!(
        crash(&mut policy, id, at(0)).is_escalate(),
        "t=0 is read as t=10.002 s"
    );
}

#[test]
fn sub_millisecond_windows_work() {
    let intensity = Intensity::new(1, millis(1)).expect("valid");
    let mut policy = policy(Strategy::OneForOne, intensity, Backoff::None);
    let id = spawn(&mut policy, &[RestartType::Permanent], at(0))[0];
    assert!(!crash(&mut policy, id, nanos(0)).is_escalate());
    assert!(!crash(&mut policy, id, nanos(1_000_000)).is_escalate());
    assert!(crash(&mut policy, id, nanos(1_999_999)).is_escalate());
}
