//! Private invariants of the policy's internals.

use std::time::Duration;

use super::children::Children;
use crate::intensity::{Budget, RestartLog};
use crate::{ChildState, Intensity, RestartType, Timestamp};

fn at_millis(millis: u64) -> Timestamp {
    Timestamp::from_elapsed(Duration::from_millis(millis))
}

#[test]
fn child_ids_stay_sorted_after_removals() {
    let mut children = Children::new();
    let ids: Vec<_> = (0..5)
        .map(|_| children.add(RestartType::Permanent))
        .collect();
    let _ = children.remove_at(children.position(ids[2]).expect("known"));
    let later = children.add(RestartType::Permanent);
    let order: Vec<_> = children.iter().map(|c| c.id).collect();
    assert!(order.is_sorted(), "start order is id order: {order:?}");
    assert_eq!(order.last(), Some(&later));
    assert!(
        children.position(ids[2]).is_err(),
        "removed ids are unknown"
    );
}

#[test]
fn restart_log_never_holds_more_than_max_restarts() {
    let intensity = Intensity::new(2, Duration::from_secs(1)).expect("valid");
    let mut log = RestartLog::new();
    for millis in (0..5_000).step_by(100) {
        let _ = log.transition_to_restart(intensity, at_millis(millis));
        assert!(log.in_window(intensity.window, at_millis(millis)) <= 2);
    }
}

#[test]
fn exhausted_budget_records_nothing() {
    let intensity = Intensity::new(1, Duration::from_secs(1)).expect("valid");
    let mut log = RestartLog::new();
    assert_eq!(
        log.transition_to_restart(intensity, at_millis(0)),
        Budget::Available
    );
    assert_eq!(
        log.transition_to_restart(intensity, at_millis(10)),
        Budget::Exhausted
    );
    assert_eq!(log.total(), 1);
}

#[test]
fn restarting_marks_the_plan_and_drops_temporaries() {
    let mut children = Children::new();
    let a = children.add(RestartType::Permanent);
    let t = children.add(RestartType::Temporary);
    let c = children.add(RestartType::Transient);
    for index in 0..3 {
        children.at(index).state = ChildState::Running {
            since: Timestamp::ZERO,
        };
    }
    let plan = children.transition_to_restarting(0..3);
    assert_eq!(plan.stop, [c, t, a]);
    assert_eq!(plan.remove, [t]);
    assert_eq!(plan.restart, [a, c]);
    assert!(
        children
            .iter()
            .all(|child| child.state == ChildState::Restarting)
    );
    assert_eq!(children.len(), 2);
}
