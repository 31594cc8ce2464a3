//! Temporary children: never restarted, removed from the supervisor when they exit
//! or fail to start, stopped and removed when a sibling's failure takes them down,
//! and their exit never restarts a sibling.
//!
//! Guards OTP's `temporary` semantics, which kameo calls `Never`.

#[path = "support/harness.rs"]
mod harness;

use harness::{at, generous, is_running, policy, spawn};
use reactree_supervisors::{Backoff, Decision, EventError, Exit, Intensity, RestartType, Strategy};

const STRATEGIES: [Strategy; 3] = [
    Strategy::OneForOne,
    Strategy::OneForAll,
    Strategy::RestForOne,
];
const T: RestartType = RestartType::Temporary;
const P: RestartType = RestartType::Permanent;

#[test]
fn an_exited_temporary_child_is_forgotten() {
    for exit in [Exit::Normal, Exit::Abnormal] {
        let mut policy = policy(Strategy::OneForOne, generous(), Backoff::None);
        let id = spawn(&mut policy, &[T], at(0))[0];
        assert_eq!(
            policy.child_exited(id, exit, at(1)),
            Ok(Decision::Remove { child: id })
        );
        assert_eq!(policy.child(id), None, "{exit:?}");
        assert_eq!(policy.children().count(), 0);
        assert_eq!(
            policy.child_started(id, at(2)),
            Err(EventError::UnknownChild(id))
        );
    }
}

#[test]
fn a_temporary_exit_restarts_no_sibling_under_any_strategy() {
    for strategy in STRATEGIES {
        let mut policy = policy(strategy, generous(), Backoff::None);
        let ids = spawn(&mut policy, &[P, T, P], at(0));
        let decision = policy
            .child_exited(ids[1], Exit::Abnormal, at(1))
            .expect("running");
        assert_eq!(decision, Decision::Remove { child: ids[1] }, "{strategy}");
        assert!(
            is_running(&policy, ids[0]) && is_running(&policy, ids[2]),
            "{strategy}"
        );
        assert_eq!(
            policy.stats(at(1)).total_restarts,
            0,
            "{strategy}: no budget spent"
        );
    }
}

#[test]
fn a_temporary_exit_spends_no_budget_even_when_none_is_left() {
    let intensity = Intensity::new(0, harness::secs(5)).expect("valid");
    let mut policy = policy(Strategy::OneForAll, intensity, Backoff::None);
    let ids = spawn(&mut policy, &[T, P], at(0));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision, Decision::Remove { child: ids[0] });
}

#[test]
fn a_temporary_child_that_fails_to_start_is_removed() {
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let id = policy.add_child(T).expect("supervising");
    assert_eq!(
        policy.child_start_failed(id, at(0)),
        Ok(Decision::Remove { child: id })
    );
    assert_eq!(policy.child(id), None);
}

#[test]
fn temporary_siblings_are_removed_not_restarted_by_group_strategies() {
    for (strategy, failed) in [(Strategy::OneForAll, 2), (Strategy::RestForOne, 0)] {
        let mut policy = policy(strategy, generous(), Backoff::None);
        let ids = spawn(&mut policy, &[P, T, P], at(0));
        let decision = policy
            .child_exited(ids[failed], Exit::Abnormal, at(1))
            .expect("running");
        let Decision::Restart {
            stop,
            remove,
            restart,
            ..
        } = decision
        else {
            panic!("{strategy}: expected a restart");
        };
        assert!(
            stop.contains(&ids[1]),
            "{strategy}: the running temporary is stopped"
        );
        assert_eq!(remove, [ids[1]], "{strategy}");
        assert!(!restart.contains(&ids[1]), "{strategy}: never restarted");
        assert_eq!(policy.child(ids[1]), None, "{strategy}: forgotten");
    }
}

#[test]
fn an_idle_temporary_sibling_is_removed_without_a_stop() {
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P], at(0));
    let idle = policy.add_child(T).expect("supervising");
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision.to_stop(), []);
    assert!(matches!(decision, Decision::Restart { remove, .. } if remove == [idle]));
}

#[test]
fn one_for_one_leaves_temporary_siblings_alone() {
    let mut policy = policy(Strategy::OneForOne, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P, T], at(0));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    assert!(matches!(&decision, Decision::Restart { remove, .. } if remove.is_empty()));
    assert!(is_running(&policy, ids[1]));
}

#[test]
fn rest_for_one_keeps_temporaries_started_before_the_failed_child() {
    let mut policy = policy(Strategy::RestForOne, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[T, P, T], at(0));
    let decision = policy
        .child_exited(ids[1], Exit::Abnormal, at(1))
        .expect("running");
    assert!(matches!(&decision, Decision::Restart { remove, .. } if remove == &[ids[2]]));
    assert!(
        is_running(&policy, ids[0]),
        "the earlier temporary is not affected"
    );
}
