//! Panic isolation: a panic in start, stop, a handler or a timer callback is caught on the
//! reactor; the thread and the other components live on; the failed component is stopped
//! and its requesters fail (issue: core runtime, point 6).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{ComponentState, DeploymentInfo};

const VICTIM: Address<Cmd> = Address::new("panic.victim");
const BYSTANDER: Address<Cmd> = Address::new("panic.bystander");

fn state(runtime: &Runtime, id: DeploymentId) -> Option<ComponentState> {
    runtime
        .handle()
        .deployment(id)
        .map(|d: DeploymentInfo| d.instances[0].state)
}

/// Deploys the victim and a bystander on the same (only) reactor.
fn pair(runtime: &Runtime, log: &Log) -> DeploymentId {
    let victim = runtime
        .block_on(runtime.deploy(Probe::spec("victim", "panic.victim", log)))
        .unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", log)))
        .unwrap();
    victim
}

fn bystander_serves(runtime: &Runtime) {
    let reply = runtime.block_on(runtime.bus().request(&BYSTANDER, Cmd::Thread));
    assert_eq!(reply.ok(), Some(Reply::Thread("reactree-reactor-0".into())));
}

#[test]
fn a_handler_panic_stops_only_its_component() {
    let log = log();
    let runtime = runtime(1);
    let victim = pair(&runtime, &log);
    // Queue requests behind the panic: they fail too, at once.
    let (control, gate) = gate();
    runtime.bus().try_send(&VICTIM, Cmd::Hold(gate)).unwrap();
    control.wait_entered();
    runtime.bus().try_send(&VICTIM, Cmd::Panic).unwrap();
    let behind = {
        let bus = runtime.bus().clone();
        std::thread::spawn(move || async_io::block_on(bus.request(&VICTIM, Cmd::Echo(1))))
    };
    assert!(eventually(GENEROUS, || runtime.bus().consumers(&VICTIM) == 1));
    std::thread::sleep(Duration::from_millis(20));
    control.open();
    let error = behind.join().unwrap().unwrap_err();
    assert!(
        error.is_recipient_failure() || error.is_no_handlers(),
        "{error:?}"
    );
    assert!(eventually(GENEROUS, || state(&runtime, victim)
        == Some(ComponentState::Failed)));
    let info = runtime.handle().deployment(victim).unwrap();
    assert_eq!(info.instances[0].failures, 1);
    // stop ran after the failure; the consumer is gone.
    assert!(entries(&log).contains(&"victim stopped".to_owned()));
    assert_eq!(runtime.bus().consumers(&VICTIM), 0);
    bystander_serves(&runtime);
    // A failed deployment can still be undeployed.
    runtime.block_on(runtime.undeploy(victim)).unwrap();
}

struct TimerBomb;
impl Component for TimerBomb {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&VICTIM)?;
        ctx.run_later(Duration::from_millis(5), |_, _| panic!("timer exploded"));
        Ok(())
    }
}
impl Handler<Cmd> for TimerBomb {
    async fn handle(&mut self, _: Cmd, _: &mut Context<Self>) -> Reply {
        Reply::Done
    }
}

#[test]
fn a_timer_panic_stops_only_its_component() {
    let log = log();
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    let bomb = runtime
        .block_on(runtime.deploy(ChildSpec::new("bomb", || TimerBomb)))
        .unwrap();
    assert!(eventually(GENEROUS, || state(&runtime, bomb)
        == Some(ComponentState::Failed)));
    assert_eq!(runtime.bus().consumers(&VICTIM), 0);
    bystander_serves(&runtime);
}

#[test]
fn a_stop_panic_is_caught_and_recorded() {
    let log = log();
    let runtime = runtime(1);
    let l = log.clone();
    let id = runtime
        .block_on(runtime.deploy(ChildSpec::new("fragile", move || Probe {
            name: "fragile".into(),
            address: VICTIM,
            log: l.clone(),
            panic_in_start: false,
            panic_in_stop: true,
        })))
        .unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    // ctx.stop() from a handler leads to stop(), which panics: the instance ends failed.
    let reply = runtime.block_on(runtime.bus().request(&VICTIM, Cmd::Stop));
    assert_eq!(reply.ok(), Some(Reply::Done));
    assert!(eventually(GENEROUS, || state(&runtime, id)
        == Some(ComponentState::Failed)));
    bystander_serves(&runtime);
    // And undeploying a component whose stop panics completes too.
    let l = log.clone();
    let id = runtime
        .block_on(runtime.deploy(ChildSpec::new("fragile2", move || Probe {
            name: "fragile2".into(),
            address: Address::new("panic.fragile2"),
            log: l.clone(),
            panic_in_start: false,
            panic_in_stop: true,
        })))
        .unwrap();
    runtime.block_on(runtime.undeploy(id)).unwrap();
    bystander_serves(&runtime);
}

#[test]
fn stop_and_fail_requests_end_the_instance() {
    let log = log();
    let runtime = runtime(1);
    let a = runtime
        .block_on(runtime.deploy(Probe::spec("a", "panic.a", &log)))
        .unwrap();
    let b = runtime
        .block_on(runtime.deploy(Probe::spec("b", "panic.b", &log)))
        .unwrap();
    runtime
        .block_on(runtime.bus().request(&Address::new("panic.a"), Cmd::Stop))
        .unwrap();
    runtime
        .block_on(runtime.bus().request(&Address::new("panic.b"), Cmd::Fail))
        .unwrap();
    assert!(eventually(GENEROUS, || state(&runtime, a)
        == Some(ComponentState::Stopped)));
    assert!(eventually(GENEROUS, || state(&runtime, b)
        == Some(ComponentState::Failed)));
    let info = runtime.handle().deployment(b).unwrap();
    assert_eq!(
        (
            info.instances[0].failures,
            runtime.handle().deployment(a).unwrap().instances[0].failures
        ),
        (1, 0)
    );
}
