//! Stop and restart order under `OneForAll` and `RestForOne`: siblings are stopped in
//! reverse start order and everything comes back in start order, with temporary
//! children dropped, idle children included, and dynamic children at the end.
//!
//! Guards the runtime's contract that the stop order is the reverse of the start
//! order (design invariant 6) and OTP's treatment of children that are not running.

#[path = "support/harness.rs"]
mod harness;

use harness::{at, generous, is_running, policy, restart_all, spawn, state};
use reactree_supervisors::{
    Backoff, ChildState, Decision, EventError, Exit, RestartType, Strategy,
};

const P: RestartType = RestartType::Permanent;

#[test]
fn one_for_all_stops_in_reverse_and_restarts_in_start_order() {
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P; 5], at(0));
    let decision = policy
        .child_exited(ids[2], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision.to_stop(), [ids[4], ids[3], ids[1], ids[0]]);
    assert_eq!(decision.to_restart(), ids.as_slice());
}

#[test]
fn one_for_all_from_the_first_and_the_last_child() {
    for failed in [0, 3] {
        let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
        let ids = spawn(&mut policy, &[P; 4], at(0));
        let decision = policy
            .child_exited(ids[failed], Exit::Abnormal, at(1))
            .expect("running");
        let expected_stop: Vec<_> = ids
            .iter()
            .rev()
            .copied()
            .filter(|&id| id != ids[failed])
            .collect();
        assert_eq!(decision.to_stop(), expected_stop, "failed child {failed}");
        assert_eq!(
            decision.to_restart(),
            ids.as_slice(),
            "failed child {failed}"
        );
    }
}

#[test]
fn rest_for_one_takes_the_failed_child_and_those_after_it() {
    for failed in 0..4 {
        let mut policy = policy(Strategy::RestForOne, generous(), Backoff::None);
        let ids = spawn(&mut policy, &[P; 4], at(0));
        let decision = policy
            .child_exited(ids[failed], Exit::Abnormal, at(1))
            .expect("running");
        let expected_stop: Vec<_> = ids[failed + 1..].iter().rev().copied().collect();
        assert_eq!(decision.to_stop(), expected_stop, "failed child {failed}");
        assert_eq!(
            decision.to_restart(),
            &ids[failed..],
            "failed child {failed}"
        );
        assert!(
            ids[..failed].iter().all(|&id| is_running(&policy, id)),
            "earlier ones untouched"
        );
    }
}

#[test]
fn temporary_siblings_are_stopped_and_removed_never_restarted() {
    let types = [P, RestartType::Temporary, P, RestartType::Temporary];
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &types, at(0));
    let decision = policy
        .child_exited(ids[2], Exit::Abnormal, at(1))
        .expect("running");
    let expected = Decision::Restart {
        stop: vec![ids[3], ids[1], ids[0]],
        remove: vec![ids[1], ids[3]],
        restart: vec![ids[0], ids[2]],
        delay: std::time::Duration::ZERO,
    };
    assert_eq!(decision, expected);
    assert_eq!(policy.children().count(), 2, "temporaries forgotten");
}

#[test]
fn idle_transient_sibling_is_restarted_with_the_others_as_in_otp() {
    let types = [RestartType::Transient, P];
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &types, at(0));
    assert_eq!(
        policy.child_exited(ids[0], Exit::Normal, at(1)),
        Ok(Decision::Ignore)
    );
    let decision = policy
        .child_exited(ids[1], Exit::Abnormal, at(2))
        .expect("running");
    assert_eq!(decision.to_stop(), [], "the idle child needs no stop");
    assert_eq!(
        decision.to_restart(),
        ids.as_slice(),
        "but it is started again"
    );
}

#[test]
fn a_failed_start_during_a_restart_stops_only_what_already_started() {
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P; 3], at(0));
    let first = policy
        .child_exited(ids[1], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(first.to_restart(), ids.as_slice());
    policy
        .child_started(ids[0], at(2))
        .expect("restarting child starts");
    let second = policy
        .child_start_failed(ids[1], at(2))
        .expect("restarting child");
    assert_eq!(
        second.to_stop(),
        [ids[0]],
        "only the started child is running"
    );
    assert_eq!(
        second.to_restart(),
        ids.as_slice(),
        "the new plan supersedes the old"
    );
    assert!(
        ids.iter()
            .all(|&id| state(&policy, id) == Some(ChildState::Restarting))
    );
}

#[test]
fn dynamic_children_come_last_and_removed_ones_are_gone() {
    let mut policy = policy(Strategy::RestForOne, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P; 3], at(0));
    policy.remove_child(ids[1]).expect("known child");
    let late = spawn(&mut policy, &[P], at(1))[0];
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(2))
        .expect("running");
    assert_eq!(decision.to_stop(), [late, ids[2]]);
    assert_eq!(decision.to_restart(), [ids[0], ids[2], late]);
}

#[test]
fn stopped_siblings_exits_are_not_reported() {
    let mut policy = policy(Strategy::OneForAll, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P; 2], at(0));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision.to_stop(), [ids[1]]);
    let echo = policy.child_exited(ids[1], Exit::Normal, at(1));
    assert_eq!(
        echo,
        Err(EventError::NotRunning(ids[1])),
        "the runtime caused that exit"
    );
    restart_all(&mut policy, &decision, at(2));
    assert!(ids.iter().all(|&id| is_running(&policy, id)));
}

#[test]
fn restart_counts_per_child_follow_the_plans() {
    let mut policy = policy(Strategy::RestForOne, generous(), Backoff::None);
    let ids = spawn(&mut policy, &[P; 3], at(0));
    let decision = policy
        .child_exited(ids[1], Exit::Abnormal, at(1))
        .expect("running");
    restart_all(&mut policy, &decision, at(1));
    let counts: Vec<_> = policy.children().map(|child| child.restarts).collect();
    assert_eq!(counts, [0, 1, 1]);
    assert_eq!(
        policy.stats(at(1)).total_restarts,
        1,
        "one decision, one restart"
    );
}

/// Children removed from the middle of a large table (far enough from both ends to
/// leave tombstones, in a scattered order, some swept) are gone from every decision:
/// a rest-for-one and a one-for-all restart, and an escalation, name exactly the live
/// children, in order; the snapshot counts and lists only them.
#[test]
fn children_removed_from_the_middle_are_in_no_decision() {
    const COUNT: usize = 300;
    for strategy in [Strategy::RestForOne, Strategy::OneForAll] {
        let mut policy = policy(strategy, generous(), Backoff::None);
        let ids = spawn(&mut policy, &[P; COUNT], at(0));
        // Keep every fifth, and a run at each end; remove the rest, scattered
        // (7 is prime to 300).
        let keep = |i: usize| i.is_multiple_of(5) || !(10..COUNT - 10).contains(&i);
        for step in 0..COUNT {
            let i = (step * 7) % COUNT;
            if !keep(i) {
                policy.remove_child(ids[i]).expect("known");
                assert_eq!(
                    policy.remove_child(ids[i]),
                    Err(EventError::UnknownChild(ids[i]))
                );
            }
        }
        let live: Vec<_> = (0..COUNT).filter(|&i| keep(i)).map(|i| ids[i]).collect();
        assert_eq!(policy.children().len(), live.len());
        assert_eq!(policy.children().map(|c| c.id).collect::<Vec<_>>(), live);
        assert_eq!(policy.stats(at(1)).children, live.len());
        assert_eq!(policy.stats(at(1)).running, live.len());

        let failed = live.iter().position(|&id| id == ids[150]).expect("kept");
        let decision = policy
            .child_exited(ids[150], Exit::Abnormal, at(1))
            .expect("running");
        let (stopped, restarted): (Vec<_>, Vec<_>) = match strategy {
            Strategy::RestForOne => (live[failed + 1..].to_vec(), live[failed..].to_vec()),
            _ => {
                let others = live.iter().copied().filter(|&id| id != ids[150]).collect();
                (others, live.clone())
            }
        };
        assert_eq!(
            decision.to_stop(),
            stopped.iter().rev().copied().collect::<Vec<_>>(),
            "{strategy:?}"
        );
        assert_eq!(decision.to_restart(), restarted.as_slice(), "{strategy:?}");
    }
}
