//! Property tests of the policy's invariants over random child lifecycles: the
//! intensity limit is never exceeded, every decision is exactly the one the strategy
//! prescribes, nothing is restarted after an escalation, and no delay exceeds the
//! backoff cap.
//!
//! Guards design invariant 6: "supervision decisions follow the policy: intensity and
//! backoff respected, escalation when exceeded, stop order the reverse of start
//! order".

use std::time::Duration;

use proptest::prelude::*;
use reactree_supervisors::{
    Backoff, ChildId, Decision, EventError, Exit, Intensity, PolicyState, RestartType,
    Strategy as Supervision, SupervisorPolicy, Timestamp,
};

/// What happens next to the children, with `pick` choosing among the candidates.
#[derive(Debug, Clone)]
enum Action {
    Exit { pick: usize, exit: Exit },
    Start { pick: usize },
    FailStart { pick: usize },
    Add(RestartType),
    Remove { pick: usize },
}

#[derive(Debug, Clone)]
struct Op {
    after_ms: u64,
    action: Action,
}

#[derive(Debug, Clone)]
struct Scenario {
    strategy: Supervision,
    intensity: Intensity,
    backoff: Backoff,
    seed: u64,
    children: Vec<RestartType>,
    ops: Vec<Op>,
}

fn supervision() -> impl Strategy<Value = Supervision> {
    prop_oneof![
        Just(Supervision::OneForOne),
        Just(Supervision::OneForAll),
        Just(Supervision::RestForOne),
    ]
}

fn restart_type() -> impl Strategy<Value = RestartType> {
    prop_oneof![
        2 => Just(RestartType::Permanent),
        2 => Just(RestartType::Transient),
        1 => Just(RestartType::Temporary),
    ]
}

fn exit() -> impl Strategy<Value = Exit> {
    prop_oneof![Just(Exit::Normal), Just(Exit::Abnormal)]
}

fn intensity() -> impl Strategy<Value = Intensity> {
    (0..5_u32, 1..3_000_u64).prop_map(|(max_restarts, window_ms)| Intensity {
        max_restarts,
        window: Duration::from_millis(window_ms),
    })
}

fn backoff() -> impl Strategy<Value = Backoff> {
    let exponential = (1..500_u64, 0..5_000_u64, 0.0..=1.0_f64, 0..2_000_u64).prop_map(
        |(min, extra, jitter, reset)| Backoff::Exponential {
            min: Duration::from_millis(min),
            max: Duration::from_millis(min + extra),
            jitter,
            reset_after: Duration::from_millis(reset),
        },
    );
    prop_oneof![
        Just(Backoff::None),
        (0..1_000_u64).prop_map(|ms| Backoff::Fixed(Duration::from_millis(ms))),
        exponential,
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (any::<usize>(), exit()).prop_map(|(pick, exit)| Action::Exit { pick, exit }),
        4 => any::<usize>().prop_map(|pick| Action::Start { pick }),
        1 => any::<usize>().prop_map(|pick| Action::FailStart { pick }),
        1 => restart_type().prop_map(Action::Add),
        1 => any::<usize>().prop_map(|pick| Action::Remove { pick }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    (prop_oneof![3 => 0..50_u64, 1 => 0..2_000_u64], action())
        .prop_map(|(after_ms, action)| Op { after_ms, action })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        supervision(),
        intensity(),
        backoff(),
        any::<u64>(),
        prop::collection::vec(restart_type(), 1..6),
        prop::collection::vec(op(), 0..80),
    )
        .prop_map(
            |(strategy, intensity, backoff, seed, children, ops)| Scenario {
                strategy,
                intensity,
                backoff,
                seed,
                children,
                ops,
            },
        )
}

/// One event fed to the policy and what it answered.
#[derive(Debug, Clone)]
enum Step {
    Decided {
        now: Timestamp,
        child: ChildId,
        exit: Exit,
        /// Start order and running flags just before the event.
        before: Vec<(ChildId, RestartType, bool)>,
        answer: Result<Decision, EventError>,
    },
    Other {
        answer: Result<(), EventError>,
    },
}

/// Runs a scenario: adds and starts the initial children, then applies each op to a
/// child picked among those it fits, and records every event.
fn run(scenario: &Scenario) -> (SupervisorPolicy, Vec<Step>) {
    let Scenario {
        strategy,
        intensity,
        backoff,
        seed,
        ..
    } = *scenario;
    let mut policy = SupervisorPolicy::new(strategy, intensity, backoff, seed).expect("valid");
    let mut now = Timestamp::ZERO;
    let mut steps = Vec::new();
    for &restart_type in &scenario.children {
        let id = policy.add_child(restart_type).expect("supervising");
        let answer = policy.child_started(id, now);
        steps.push(Step::Other { answer });
    }
    for op in &scenario.ops {
        now = now + Duration::from_millis(op.after_ms);
        if let Some(step) = apply(&mut policy, &op.action, now) {
            steps.push(step);
        }
    }
    (policy, steps)
}

fn apply(policy: &mut SupervisorPolicy, action: &Action, now: Timestamp) -> Option<Step> {
    let before: Vec<_> = policy
        .children()
        .map(|c| (c.id, c.restart_type, c.state.is_running()))
        .collect();
    let pick = |running: bool, pick: usize| {
        let fits: Vec<_> = before
            .iter()
            .filter(|c| running == c.2)
            .map(|c| c.0)
            .collect();
        (!fits.is_empty()).then(|| fits[pick % fits.len()])
    };
    let decided = |child, exit, answer| Step::Decided {
        now,
        child,
        exit,
        before: before.clone(),
        answer,
    };
    Some(match *action {
        Action::Exit { pick: p, exit } => {
            let child = pick(true, p)?;
            decided(child, exit, policy.child_exited(child, exit, now))
        }
        Action::FailStart { pick: p } => {
            let child = pick(false, p)?;
            decided(child, Exit::Abnormal, policy.child_start_failed(child, now))
        }
        Action::Start { pick: p } => Step::Other {
            answer: policy.child_started(pick(false, p)?, now),
        },
        Action::Add(restart_type) => Step::Other {
            answer: policy.add_child(restart_type).map(drop),
        },
        Action::Remove { pick: p } => {
            let child = before.get(p % before.len().max(1))?.0;
            Step::Other {
                answer: policy.remove_child(child).map(drop),
            }
        }
    })
}

/// The decisions made, with their times.
fn decisions(steps: &[Step]) -> impl Iterator<Item = (Timestamp, &Decision)> {
    steps.iter().filter_map(|step| match step {
        Step::Decided {
            now,
            answer: Ok(decision),
            ..
        } => Some((*now, decision)),
        _ => None,
    })
}

/// The decision the strategy, restart types and intensity prescribe, recomputed from
/// the children as they were before the event; `restarts` are the earlier restart
/// times. The delay is left at zero: it is checked on its own.
fn prescribed(
    scenario: &Scenario,
    before: &[(ChildId, RestartType, bool)],
    child: ChildId,
    exit: Exit,
    now: Timestamp,
    restarts: &[Timestamp],
) -> Decision {
    let index = before
        .iter()
        .position(|c| c.0 == child)
        .expect("picked from before");
    let restart_type = before[index].1;
    if restart_type == RestartType::Temporary {
        return Decision::Remove { child };
    }
    if !restart_type.restarts_after(exit) {
        return Decision::Ignore;
    }
    let window = scenario.intensity.window;
    let in_window = restarts
        .iter()
        .filter(|&&t| now.saturating_duration_since(t) < window)
        .count();
    let running_except = |c: &&(ChildId, RestartType, bool)| c.2 && c.0 != child;
    if in_window >= scenario.intensity.max_restarts as usize {
        let stop = before
            .iter()
            .rev()
            .filter(running_except)
            .map(|c| c.0)
            .collect();
        return Decision::Escalate { stop };
    }
    let affected = match scenario.strategy {
        Supervision::OneForOne => &before[index..=index],
        Supervision::OneForAll => before,
        Supervision::RestForOne => &before[index..],
    };
    let temporary = |c: &&(ChildId, RestartType, bool)| c.1 == RestartType::Temporary;
    Decision::Restart {
        stop: affected
            .iter()
            .rev()
            .filter(running_except)
            .map(|c| c.0)
            .collect(),
        remove: affected.iter().filter(temporary).map(|c| c.0).collect(),
        restart: affected
            .iter()
            .filter(|c| !temporary(c))
            .map(|c| c.0)
            .collect(),
        delay: Duration::ZERO,
    }
}

fn without_delay(decision: &Decision) -> Decision {
    match decision.clone() {
        Decision::Restart {
            stop,
            remove,
            restart,
            ..
        } => Decision::Restart {
            stop,
            remove,
            restart,
            delay: Duration::ZERO,
        },
        other => other,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn restarts_in_any_window_never_exceed_max_restarts(scenario in scenario()) {
        let (_, steps) = run(&scenario);
        let times: Vec<_> = decisions(&steps)
            .filter(|(_, d)| matches!(d, Decision::Restart { .. }))
            .map(|(t, _)| t)
            .collect();
        let Intensity { max_restarts, window } = scenario.intensity;
        for (i, &t) in times.iter().enumerate() {
            let in_window = times[..=i].iter().filter(|&&s| t.saturating_duration_since(s) < window).count();
            prop_assert!(
                in_window <= max_restarts as usize,
                "{} restarts in the window ending at {:?}, limit {}", in_window, t, max_restarts
            );
        }
    }

    #[test]
    fn every_decision_is_the_one_the_strategy_prescribes(scenario in scenario()) {
        let (_, steps) = run(&scenario);
        let mut restarts = Vec::new();
        for step in &steps {
            let Step::Decided { now, child, exit, before, answer } = step else { continue };
            let Ok(actual) = answer else { continue };
            let expected = prescribed(&scenario, before, *child, *exit, *now, &restarts);
            prop_assert_eq!(
                without_delay(actual), expected,
                "{} child {} exited {:?} at {:?}", scenario.strategy, child, exit, now
            );
            if matches!(actual, Decision::Restart { .. }) {
                restarts.push(*now);
            }
        }
    }

    #[test]
    fn nothing_is_restarted_after_an_escalation(scenario in scenario()) {
        let (mut policy, steps) = run(&scenario);
        let escalation = steps.iter().position(|step| {
            matches!(step, Step::Decided { answer: Ok(Decision::Escalate { .. }), .. })
        });
        let Some(escalation) = escalation else { return Ok(()) };
        prop_assert_eq!(policy.state(), PolicyState::Escalated);
        for step in &steps[escalation + 1..] {
            let refused = match step {
                Step::Decided { answer, .. } => answer == &Err(EventError::Escalated),
                Step::Other { answer } => answer == &Err(EventError::Escalated),
            };
            prop_assert!(refused, "event accepted after escalation: {:?}", step);
        }
        let ids: Vec<_> = policy.children().map(|c| c.id).collect();
        for id in ids {
            let late = Timestamp::from_elapsed(Duration::from_secs(1_000_000));
            prop_assert_eq!(policy.child_start_failed(id, late), Err(EventError::Escalated));
            prop_assert_eq!(policy.child_started(id, late), Err(EventError::Escalated));
        }
    }

    #[test]
    fn delays_never_exceed_the_backoff_cap(scenario in scenario()) {
        let (_, steps) = run(&scenario);
        let cap = scenario.backoff.cap();
        for (now, decision) in decisions(&steps) {
            if let Some(delay) = decision.delay() {
                prop_assert!(delay <= cap, "delay {:?} at {:?} above the cap {:?}", delay, now, cap);
                if let Backoff::Exponential { min, jitter, .. } = scenario.backoff {
                    let floor = min.mul_f64(1.0 - jitter).saturating_sub(Duration::from_nanos(1));
                    prop_assert!(delay >= floor, "delay {:?} below the jittered minimum {:?}", delay, floor);
                }
            }
        }
    }

    #[test]
    fn the_same_seed_replays_the_same_decisions(scenario in scenario()) {
        let (_, first) = run(&scenario);
        let (_, second) = run(&scenario);
        let first: Vec<_> = decisions(&first).collect();
        let second: Vec<_> = decisions(&second).collect();
        prop_assert_eq!(first, second, "same seed and events, other decisions");
    }

    #[test]
    fn no_event_of_a_valid_lifecycle_is_refused_before_escalation(scenario in scenario()) {
        let (_, steps) = run(&scenario);
        let escalated = |step: &&Step| matches!(step, Step::Decided { answer: Ok(Decision::Escalate { .. }), .. });
        let end = steps.iter().position(|s| escalated(&s)).unwrap_or(steps.len());
        for step in &steps[..end] {
            let accepted = match step {
                Step::Decided { answer, .. } => answer.is_ok(),
                Step::Other { answer } => answer.is_ok(),
            };
            prop_assert!(accepted, "refused: {:?}", step);
        }
    }
}
