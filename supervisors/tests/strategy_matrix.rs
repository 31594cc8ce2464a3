//! Every strategy x restart type x exit kind: the decision after the middle of three
//! children exits, and the state it leaves behind.
//!
//! Guards the OTP table: temporary children are removed and restart nobody, transient
//! ones stay down after a normal exit, everything else is restarted with the
//! siblings the strategy names, stopped in reverse start order.

#[path = "support/harness.rs"]
mod harness;

use harness::{at, generous, is_running, policy, spawn, state};
use reactree_supervisors::{Backoff, ChildState, Decision, Exit, RestartType, Strategy};

/// What the exit of the middle child `b` among `[a, b, c]` should lead to.
enum Expected {
    Ignore,
    Remove,
    /// Positions in `[a, b, c]` to stop and to restart.
    Restart {
        stop: &'static [usize],
        restart: &'static [usize],
    },
}

fn check(strategy: Strategy, restart_type: RestartType, exit: Exit, expected: Expected) {
    let mut policy = policy(strategy, generous(), Backoff::None);
    let types = [RestartType::Permanent, restart_type, RestartType::Permanent];
    let ids = spawn(&mut policy, &types, at(0));
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let decision = policy.child_exited(b, exit, at(10)).expect("b was running");
    let pick = |positions: &[usize]| positions.iter().map(|&p| ids[p]).collect::<Vec<_>>();
    match expected {
        Expected::Ignore => {
            assert_eq!(decision, Decision::Ignore);
            assert_eq!(state(&policy, b), Some(ChildState::Idle), "b stays, down");
            assert!(
                is_running(&policy, a) && is_running(&policy, c),
                "siblings untouched"
            );
        }
        Expected::Remove => {
            assert_eq!(decision, Decision::Remove { child: b });
            assert_eq!(state(&policy, b), None, "b is forgotten");
            assert!(
                is_running(&policy, a) && is_running(&policy, c),
                "siblings untouched"
            );
        }
        Expected::Restart { stop, restart } => {
            let expected = Decision::Restart {
                stop: pick(stop),
                remove: Vec::new(),
                restart: pick(restart),
                delay: std::time::Duration::ZERO,
            };
            assert_eq!(decision, expected);
            for &id in decision.to_restart() {
                assert_eq!(state(&policy, id), Some(ChildState::Restarting));
            }
            let untouched = ids.iter().filter(|id| !decision.to_restart().contains(id));
            assert!(untouched.into_iter().all(|&id| is_running(&policy, id)));
        }
    }
    let restarts = u64::from(matches!(decision, Decision::Restart { .. }));
    assert_eq!(policy.stats(at(10)).total_restarts, restarts);
}

macro_rules! matrix {
    ($($name:ident: $strategy:ident, $type:ident, $exit:ident => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            check(Strategy::$strategy, RestartType::$type, Exit::$exit, $expected);
        }
    )*};
}

const ONE: Expected = Expected::Restart {
    stop: &[],
    restart: &[1],
};
const ALL: Expected = Expected::Restart {
    stop: &[2, 0],
    restart: &[0, 1, 2],
};
const REST: Expected = Expected::Restart {
    stop: &[2],
    restart: &[1, 2],
};

matrix! {
    one_for_one_permanent_normal: OneForOne, Permanent, Normal => ONE;
    one_for_one_permanent_abnormal: OneForOne, Permanent, Abnormal => ONE;
    one_for_one_transient_normal: OneForOne, Transient, Normal => Expected::Ignore;
    one_for_one_transient_abnormal: OneForOne, Transient, Abnormal => ONE;
    one_for_one_temporary_normal: OneForOne, Temporary, Normal => Expected::Remove;
    one_for_one_temporary_abnormal: OneForOne, Temporary, Abnormal => Expected::Remove;
    one_for_all_permanent_normal: OneForAll, Permanent, Normal => ALL;
    one_for_all_permanent_abnormal: OneForAll, Permanent, Abnormal => ALL;
    one_for_all_transient_normal: OneForAll, Transient, Normal => Expected::Ignore;
    one_for_all_transient_abnormal: OneForAll, Transient, Abnormal => ALL;
    one_for_all_temporary_normal: OneForAll, Temporary, Normal => Expected::Remove;
    one_for_all_temporary_abnormal: OneForAll, Temporary, Abnormal => Expected::Remove;
    rest_for_one_permanent_normal: RestForOne, Permanent, Normal => REST;
    rest_for_one_permanent_abnormal: RestForOne, Permanent, Abnormal => REST;
    rest_for_one_transient_normal: RestForOne, Transient, Normal => Expected::Ignore;
    rest_for_one_transient_abnormal: RestForOne, Transient, Abnormal => REST;
    rest_for_one_temporary_normal: RestForOne, Temporary, Normal => Expected::Remove;
    rest_for_one_temporary_abnormal: RestForOne, Temporary, Abnormal => Expected::Remove;
}

#[test]
fn start_failure_is_an_abnormal_exit_for_every_strategy_and_type() {
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        for restart_type in [RestartType::Permanent, RestartType::Transient] {
            let mut policy = policy(strategy, generous(), Backoff::None);
            let id = policy.add_child(restart_type).expect("supervising");
            let decision = policy.child_start_failed(id, at(0)).expect("idle child");
            assert_eq!(decision.to_restart(), [id], "{strategy} {restart_type:?}");
        }
        let mut policy = policy(strategy, generous(), Backoff::None);
        let id = policy
            .add_child(RestartType::Temporary)
            .expect("supervising");
        let decision = policy.child_start_failed(id, at(0)).expect("idle child");
        assert_eq!(
            decision,
            Decision::Remove { child: id },
            "{strategy} temporary"
        );
    }
}
