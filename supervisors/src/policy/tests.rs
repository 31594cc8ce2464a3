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

#[test]
fn the_window_counts_exactly_the_restarts_younger_than_it() {
    let intensity = Intensity::new(1_000, Duration::from_millis(250)).expect("valid");
    let mut log = RestartLog::new();
    let mut made = Vec::new();
    for millis in (0..1_000).step_by(7) {
        assert_eq!(
            log.transition_to_restart(intensity, at_millis(millis)),
            Budget::Available
        );
        made.push(millis);
        // Read at the restart, and later, the count is of those under 250 ms old.
        for now in [
            millis,
            millis + 100,
            millis + 249,
            millis + 250,
            millis + 1_000,
        ] {
            let expected = made.iter().filter(|&&t| now - t < 250).count();
            assert_eq!(
                log.in_window(intensity.window, at_millis(now)) as usize,
                expected,
                "at {now} ms"
            );
        }
    }
}

#[test]
fn restarting_drops_every_temporary_in_the_range_and_keeps_the_rest_in_order() {
    let mut children = Children::new();
    let types = [
        RestartType::Temporary,
        RestartType::Permanent,
        RestartType::Temporary,
        RestartType::Temporary,
        RestartType::Transient,
        RestartType::Permanent,
        RestartType::Temporary,
    ];
    let ids: Vec<_> = types.iter().map(|&t| children.add(t)).collect();
    // The range leaves out the first and the last child.
    let plan = children.transition_to_restarting(1..6);
    assert_eq!(plan.remove, [ids[2], ids[3]]);
    assert_eq!(plan.restart, [ids[1], ids[4], ids[5]]);
    let left: Vec<_> = children.iter().map(|c| c.id).collect();
    assert_eq!(left, [ids[0], ids[1], ids[4], ids[5], ids[6]]);
}
