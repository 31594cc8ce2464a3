//! Backoff delays: none, fixed, and exponential growth from `min` to the cap, jitter
//! that only shortens a delay and so never exceeds the cap, determinism for a seed,
//! and the streak reset after a stable run.
//!
//! Guards the Akka `restartWithBackoff` shape and the fix of its gap: Akka applies
//! jitter after the cap, so its delays can exceed `maxBackoff`.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{at, generous, millis, policy, restart_all, secs, spawn};
use reactree_supervisors::{
    Backoff, BackoffError, ChildId, ChildState, Decision, Exit, RestartType, Strategy,
    SupervisorPolicy, Timestamp,
};

fn exponential(jitter: f64) -> Backoff {
    Backoff::exponential(millis(100), secs(1), jitter, secs(10)).expect("valid backoff")
}

/// One running permanent child under one for one, no intensity limit in the way.
fn single(backoff: Backoff, seed: u64) -> (SupervisorPolicy, ChildId) {
    let mut policy =
        SupervisorPolicy::new(Strategy::OneForOne, generous(), backoff, seed).expect("valid");
    let id = spawn(&mut policy, &[RestartType::Permanent], Timestamp::ZERO)[0];
    (policy, id)
}

/// Crashes the running child `count` times, `uptime` after each start, restarting it
/// after each delay, and returns the delays.
fn delays(
    policy: &mut SupervisorPolicy,
    id: ChildId,
    count: u64,
    uptime: Duration,
) -> Vec<Duration> {
    let Some(ChildState::Running { since }) = policy.child(id).map(|c| c.state) else {
        panic!("{id} is not running");
    };
    let mut now = since;
    let mut out = Vec::new();
    for _ in 0..count {
        now = now + uptime;
        let decision = policy
            .child_exited(id, Exit::Abnormal, now)
            .expect("running");
        out.push(decision.delay().expect("restart"));
        now = now + decision.delay().expect("restart");
        restart_all(policy, &decision, now);
    }
    out
}

#[test]
fn no_backoff_restarts_at_once() {
    let (mut policy, id) = single(Backoff::None, 0);
    assert_eq!(delays(&mut policy, id, 5, millis(1)), [Duration::ZERO; 5]);
}

#[test]
fn fixed_backoff_waits_the_same_every_time() {
    let (mut policy, id) = single(Backoff::Fixed(millis(250)), 0);
    assert_eq!(delays(&mut policy, id, 5, millis(1)), [millis(250); 5]);
}

#[test]
fn exponential_doubles_from_min_up_to_the_cap() {
    let (mut policy, id) = single(exponential(0.0), 0);
    let expected = [100, 200, 400, 800, 1_000, 1_000, 1_000].map(millis);
    assert_eq!(delays(&mut policy, id, 7, millis(1)), expected);
}

#[test]
fn min_equal_to_max_is_a_constant_delay() {
    let backoff = Backoff::exponential(secs(2), secs(2), 0.0, secs(1)).expect("valid");
    let (mut policy, id) = single(backoff, 0);
    assert_eq!(delays(&mut policy, id, 4, millis(1)), [secs(2); 4]);
}

#[test]
fn the_cap_holds_for_any_streak() {
    let backoff = exponential(0.0);
    for failures in [10, 31, 32, 63, 64, 1_000, u32::MAX] {
        assert_eq!(
            backoff.nominal_delay(failures),
            secs(1),
            "after {failures} failures"
        );
    }
    let huge = Backoff::exponential(Duration::MAX / 2, Duration::MAX, 0.5, secs(1)).expect("valid");
    assert_eq!(
        huge.nominal_delay(5),
        Duration::MAX,
        "overflow saturates at the cap"
    );
}

#[test]
fn jitter_stays_between_the_shortened_nominal_and_the_cap_over_many_seeds() {
    for jitter in [0.1, 0.5, 1.0] {
        let backoff = exponential(jitter);
        for seed in 0..500 {
            let (mut policy, id) = single(backoff, seed);
            for (n, delay) in delays(&mut policy, id, 8, millis(1))
                .into_iter()
                .enumerate()
            {
                let nominal = backoff.nominal_delay(n as u32);
                let floor = nominal
                    .mul_f64(1.0 - jitter)
                    .saturating_sub(Duration::from_nanos(1));
                assert!(
                    delay <= nominal,
                    "seed {seed} restart {n}: {delay:?} above {nominal:?}"
                );
                assert!(
                    delay <= backoff.cap(),
                    "seed {seed} restart {n}: above the cap"
                );
                assert!(
                    delay >= floor,
                    "seed {seed} restart {n}: {delay:?} below {floor:?}"
                );
            }
        }
    }
}

#[test]
fn jitter_spreads_delays_across_seeds() {
    let mut capped: Vec<_> = (0..200)
        .map(|seed| {
            let (mut policy, id) = single(exponential(0.5), seed);
            delays(&mut policy, id, 6, millis(1))[5]
        })
        .collect();
    capped.sort();
    capped.dedup();
    assert!(
        capped.len() > 150,
        "only {} distinct capped delays",
        capped.len()
    );
    assert!(capped[0] < millis(600) && capped[capped.len() - 1] > millis(900));
}

#[test]
fn the_same_seed_gives_the_same_delays() {
    let run = |seed| {
        let (mut policy, id) = single(exponential(0.8), seed);
        delays(&mut policy, id, 10, millis(3))
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43), "another seed gives other delays");
}

#[test]
fn a_stable_run_resets_the_streak() {
    let (mut policy, id) = single(exponential(0.0), 0);
    assert_eq!(
        delays(&mut policy, id, 3, millis(1)),
        [100, 200, 400].map(millis)
    );
    assert_eq!(policy.child(id).map(|c| c.consecutive_restarts), Some(3));
    assert_eq!(
        delays(&mut policy, id, 2, secs(10)),
        [millis(100); 2],
        "up exactly 10 s"
    );
}

#[test]
fn a_run_just_short_of_the_stable_period_keeps_the_streak() {
    let (mut policy, id) = single(exponential(0.0), 0);
    let short = secs(10) - Duration::from_nanos(1);
    assert_eq!(
        delays(&mut policy, id, 4, short),
        [100, 200, 400, 800].map(millis)
    );
}

#[test]
fn failed_starts_grow_the_streak() {
    let mut policy =
        SupervisorPolicy::new(Strategy::OneForOne, generous(), exponential(0.0), 0).expect("valid");
    let id = policy
        .add_child(RestartType::Permanent)
        .expect("supervising");
    let delays: Vec<_> = (0..4)
        .map(|ms| {
            policy
                .child_start_failed(id, at(ms))
                .expect("not running")
                .delay()
        })
        .collect();
    assert_eq!(delays, [100, 200, 400, 800].map(|ms| Some(millis(ms))));
}

#[test]
fn each_child_has_its_own_streak() {
    let mut policy = policy(Strategy::OneForOne, generous(), exponential(0.0));
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let mut delay_of = |id, ms| {
        let decision = policy
            .child_exited(id, Exit::Abnormal, at(ms))
            .expect("running");
        restart_all(&mut policy, &decision, at(ms));
        decision.delay()
    };
    assert_eq!(delay_of(ids[0], 1), Some(millis(100)));
    assert_eq!(delay_of(ids[0], 2), Some(millis(200)));
    assert_eq!(
        delay_of(ids[1], 3),
        Some(millis(100)),
        "a fresh child starts at min"
    );
}

#[test]
fn a_group_restart_uses_the_failed_childs_streak() {
    let mut policy = policy(Strategy::OneForAll, generous(), exponential(0.0));
    let ids = spawn(&mut policy, &[RestartType::Permanent; 2], at(0));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(1))
        .expect("running");
    assert_eq!(decision.delay(), Some(millis(100)));
    restart_all(&mut policy, &decision, at(2));
    let decision = policy
        .child_exited(ids[0], Exit::Abnormal, at(3))
        .expect("running");
    assert!(matches!(decision, Decision::Restart { delay, .. } if delay == millis(200)));
}

#[test]
fn invalid_exponential_settings_are_typed_errors() {
    let make = |min, max, jitter| Backoff::exponential(min, max, jitter, secs(1));
    assert_eq!(
        make(secs(2), secs(1), 0.0),
        Err(BackoffError::MinAboveMax {
            min: secs(2),
            max: secs(1)
        })
    );
    assert_eq!(
        make(Duration::ZERO, secs(1), 0.0),
        Err(BackoffError::ZeroMin)
    );
    for jitter in [-0.1, 1.000_001, f64::INFINITY, f64::NEG_INFINITY] {
        let error = make(secs(1), secs(2), jitter);
        assert_eq!(
            error,
            Err(BackoffError::InvalidJitter { jitter }),
            "jitter {jitter}"
        );
    }
    let nan = make(secs(1), secs(2), f64::NAN);
    assert!(matches!(nan, Err(BackoffError::InvalidJitter { jitter }) if jitter.is_nan()));
}

#[test]
fn jitter_bounds_are_inclusive() {
    for jitter in [0.0, 1.0] {
        assert!(
            Backoff::exponential(secs(1), secs(2), jitter, secs(1)).is_ok(),
            "{jitter}"
        );
    }
}

#[test]
fn an_invalid_backoff_is_refused_by_the_policy() {
    let bad = Backoff::Exponential {
        min: secs(1),
        max: secs(2),
        jitter: 2.0,
        reset_after: secs(1),
    };
    let built = SupervisorPolicy::builder().backoff(bad).build();
    assert!(built.is_err());
}
