//! Timers on the context: one-shot and periodic, cancellable, run like handlers on the
//! component's reactor with `&mut self`, all cancelled when it stops (issue: core runtime,
//! point 4).

#[path = "support/common.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reactree::TimerId;
use reactree::prelude::*;

#[derive(Default)]
struct Seen {
    events: Vec<String>,
    threads: Vec<String>,
}

struct Clock {
    seen: Arc<Mutex<Seen>>,
    periodic: Option<TimerId>,
    count: u32,
}

impl Clock {
    fn record(&mut self, what: String) {
        let mut seen = self.seen.lock().unwrap();
        seen.events.push(what);
        seen.threads
            .push(std::thread::current().name().unwrap_or("").to_owned());
    }
}

impl Component for Clock {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let start = Instant::now();
        ctx.run_later(Duration::from_millis(30), move |c, _| {
            c.record(format!(
                "late {}",
                start.elapsed() >= Duration::from_millis(30)
            ));
        });
        let doomed = ctx.run_later(Duration::from_millis(10), |c, _| c.record("doomed".into()));
        assert!(ctx.cancel_timer(doomed));
        assert!(!ctx.cancel_timer(doomed), "a second cancel finds nothing");
        self.periodic = Some(ctx.run_periodic(Duration::from_millis(5), |c, ctx| {
            c.count += 1;
            c.record(format!("tick {}", c.count));
            if c.count == 3 {
                // A periodic timer cancelling itself from its own callback.
                let id = c.periodic.unwrap();
                assert!(ctx.cancel_timer(id));
            }
        }));
        Ok(())
    }
}

#[test]
fn one_shot_periodic_and_cancelled_timers() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let runtime = runtime(2);
    let s = seen.clone();
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("clock", move || Clock {
                    seen: s.clone(),
                    periodic: None,
                    count: 0,
                })
                .reactor(1),
            ),
        )
        .unwrap();
    assert!(eventually(GENEROUS, || seen.lock().unwrap().events.len() == 4));
    // Ample time for a cancelled or over-running timer to show up.
    std::thread::sleep(Duration::from_millis(60));
    let seen = seen.lock().unwrap();
    let mut events = seen.events.clone();
    events.sort();
    assert_eq!(events, ["late true", "tick 1", "tick 2", "tick 3"]);
    assert!(
        seen.threads.iter().all(|t| t == "reactree-reactor-1"),
        "{:?}",
        seen.threads
    );
}

struct Beacon {
    beats: Arc<Mutex<u32>>,
}
impl Component for Beacon {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Cmd>::new("timers.beacon"))?;
        ctx.run_periodic(Duration::from_millis(2), |b, _| {
            *b.beats.lock().unwrap() += 1
        });
        Ok(())
    }
}
impl Handler<Cmd> for Beacon {
    async fn handle(&mut self, cmd: Cmd, ctx: &mut Context<Self>) -> Reply {
        if let Cmd::Stop = cmd {
            ctx.stop();
        }
        Reply::Done
    }
}

#[test]
fn a_stopped_component_loses_its_timers() {
    let beats = Arc::new(Mutex::new(0));
    let runtime = runtime(1);
    let b = beats.clone();
    runtime
        .block_on(
            runtime.deploy(
                // Transient: its own normal stop is final.
                ChildSpec::new("beacon", move || Beacon { beats: b.clone() })
                    .restart(RestartType::Transient),
            ),
        )
        .unwrap();
    assert!(eventually(GENEROUS, || *beats.lock().unwrap() >= 3));
    runtime
        .block_on(
            runtime
                .bus()
                .request(&Address::new("timers.beacon"), Cmd::Stop),
        )
        .unwrap();
    assert!(eventually(GENEROUS, || {
        runtime
            .bus()
            .consumers(&Address::<Cmd>::new("timers.beacon"))
            == 0
    }));
    let after = *beats.lock().unwrap();
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(*beats.lock().unwrap(), after);
}

/// Sets its timers from handlers: the instance, already waiting for a far deadline,
/// must wake for an earlier one set later, and keep serving once its timers are gone.
struct Alarm {
    fired: Arc<Mutex<Vec<&'static str>>>,
    far: Option<TimerId>,
}

struct Set(Duration, &'static str);
impl Message for Set {
    type Reply = ();
}

struct Cancel;
impl Message for Cancel {
    type Reply = bool;
}

const ALARM: Address<Set> = Address::new("timers.alarm");
const CANCEL: Address<Cancel> = Address::new("timers.alarm.cancel");

impl Component for Alarm {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&ALARM)?;
        ctx.consume(&CANCEL)?;
        let fired = self.fired.clone();
        self.far = Some(ctx.run_later(Duration::from_secs(3600), move |_, _| {
            fired.lock().unwrap().push("far");
        }));
        Ok(())
    }
}
impl Handler<Set> for Alarm {
    async fn handle(&mut self, Set(after, name): Set, ctx: &mut Context<Self>) {
        let fired = self.fired.clone();
        ctx.run_later(after, move |_, _| fired.lock().unwrap().push(name));
    }
}
impl Handler<Cancel> for Alarm {
    async fn handle(&mut self, _: Cancel, ctx: &mut Context<Self>) -> bool {
        self.far.take().is_some_and(|far| ctx.cancel_timer(far))
    }
}

#[test]
fn a_waiting_instance_wakes_for_an_earlier_timer_set_after_a_later_one() {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let runtime = runtime(1);
    let f = fired.clone();
    runtime
        .block_on(runtime.deploy(ChildSpec::new("alarm", move || Alarm {
            fired: f.clone(),
            far: None,
        })))
        .unwrap();
    let bus = runtime.bus();
    // The instance now waits with its wake-up at the far deadline, an hour away.
    runtime
        .block_on(bus.request(&ALARM, Set(Duration::from_millis(20), "near")))
        .unwrap();
    assert!(
        eventually(GENEROUS, || *fired.lock().unwrap() == ["near"]),
        "the earlier deadline woke the waiting instance: {:?}",
        fired.lock().unwrap()
    );
    // With no timer left at all, it still serves, and wakes for a new one.
    assert!(runtime.block_on(bus.request(&CANCEL, Cancel)).unwrap());
    runtime
        .block_on(bus.request(&ALARM, Set(Duration::from_millis(5), "again")))
        .unwrap();
    assert!(eventually(GENEROUS, || {
        *fired.lock().unwrap() == ["near", "again"]
    }));
}
