//! Panic isolation: a panic in start, stop, a handler or a timer callback is caught on the
//! reactor; the thread and the other components live on; the requester of the failed
//! message gets recipient-failure; the supervisor then restarts the component (permanent)
//! or removes it (temporary) (issues: core runtime point 6, supervision tree).

#[path = "support/common.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use reactree::ComponentState;
use reactree::prelude::*;

const VICTIM: Address<Cmd> = Address::new("panic.victim");
const BYSTANDER: Address<Cmd> = Address::new("panic.bystander");

fn instance(runtime: &Runtime, id: DeploymentId) -> Option<reactree::InstanceInfo> {
    runtime.handle().deployment(id).map(|d| d.instances[0])
}

fn bystander_serves(runtime: &Runtime) {
    let reply = runtime.block_on(runtime.bus().request(&BYSTANDER, Cmd::Thread));
    assert_eq!(reply.ok(), Some(Reply::Thread("reactree-reactor-0".into())));
}

/// Queues `Panic` then `Echo(7)` behind a held handler; returns the Echo's outcome.
fn panic_with_a_request_behind(runtime: &Runtime) -> Result<Reply, RequestError<Cmd>> {
    let (control, gate) = gate();
    runtime.bus().try_send(&VICTIM, Cmd::Hold(gate)).unwrap();
    control.wait_entered();
    let panicking = {
        let bus = runtime.bus().clone();
        std::thread::spawn(move || async_io::block_on(bus.request(&VICTIM, Cmd::Panic)))
    };
    let behind = {
        let bus = runtime.bus().clone();
        std::thread::spawn(move || {
            // Sent after the panic request is queued, so it is behind it.
            std::thread::sleep(Duration::from_millis(20));
            async_io::block_on(bus.request(&VICTIM, Cmd::Echo(7)))
        })
    };
    std::thread::sleep(Duration::from_millis(60));
    control.open();
    assert!(
        panicking
            .join()
            .unwrap()
            .unwrap_err()
            .is_recipient_failure()
    );
    behind.join().unwrap()
}

#[test]
fn a_handler_panic_restarts_its_component_and_its_mailbox_survives() {
    let log = log();
    let runtime = runtime(1);
    let victim = runtime
        .block_on(runtime.deploy(Probe::spec("victim", "panic.victim", &log)))
        .unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    // The request queued behind the panic is handled by the new instance.
    assert_eq!(
        panic_with_a_request_behind(&runtime).ok(),
        Some(Reply::Number(7))
    );
    let info = instance(&runtime, victim).unwrap();
    assert_eq!(
        (info.failures, info.restarts, info.state),
        (1, 1, ComponentState::Running)
    );
    // stop ran on the old instance, start on the new; one registration, not two.
    let lines = entries(&log);
    assert_eq!(
        lines.iter().filter(|l| *l == "victim started").count(),
        2,
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| *l == "victim stopped").count(),
        1,
        "{lines:?}"
    );
    assert_eq!(runtime.bus().consumers(&VICTIM), 1);
    bystander_serves(&runtime);
}

#[test]
fn a_temporary_component_that_panics_is_removed() {
    let log = log();
    let runtime = runtime(1);
    let victim =
        runtime
            .block_on(runtime.deploy(
                Probe::spec("victim", "panic.victim", &log).restart(RestartType::Temporary),
            ))
            .unwrap();
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    let behind = panic_with_a_request_behind(&runtime).unwrap_err();
    assert!(
        behind.is_recipient_failure() || behind.is_no_handlers(),
        "{behind:?}"
    );
    assert!(eventually(GENEROUS, || runtime
        .handle()
        .deployment(victim)
        .is_none()));
    assert_eq!(runtime.bus().consumers(&VICTIM), 0);
    assert!(entries(&log).contains(&"victim stopped".to_owned()));
    bystander_serves(&runtime);
}

struct TimerBomb {
    armed: Arc<AtomicBool>,
}
impl Component for TimerBomb {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&VICTIM)?;
        let armed = self.armed.clone();
        ctx.run_later(Duration::from_millis(5), move |_, _| {
            if armed.swap(false, Ordering::SeqCst) {
                panic!("timer exploded");
            }
        });
        Ok(())
    }
}
impl Handler<Cmd> for TimerBomb {
    async fn handle(&mut self, _: Cmd, _: &mut Context<Self>) -> Reply {
        Reply::Done
    }
}

#[test]
fn a_timer_panic_restarts_only_its_component() {
    let log = log();
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    let armed = Arc::new(AtomicBool::new(true));
    let a = armed.clone();
    let bomb = runtime
        .block_on(runtime.deploy(ChildSpec::new("bomb", move || TimerBomb {
            armed: a.clone(),
        })))
        .unwrap();
    assert!(eventually(GENEROUS, || instance(&runtime, bomb)
        .is_some_and(|i| i.restarts == 1)));
    assert!(eventually(GENEROUS, || {
        instance(&runtime, bomb).is_some_and(|i| i.state == ComponentState::Running)
    }));
    assert_eq!(instance(&runtime, bomb).unwrap().failures, 1);
    let reply = runtime.block_on(runtime.bus().request(&VICTIM, Cmd::Echo(0)));
    assert_eq!(reply.ok(), Some(Reply::Done));
    bystander_serves(&runtime);
}

fn fragile(name: &str, address: &'static str, log: &Log) -> ChildSpec {
    let (name, log) = (name.to_owned(), log.clone());
    ChildSpec::new(name.clone(), move || Probe {
        name: name.clone(),
        address: Address::new(address),
        log: log.clone(),
        panic_in_start: false,
        panic_in_stop: true,
    })
}

#[test]
fn a_stop_panic_is_caught_and_recorded() {
    let log = log();
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Probe::spec("bystander", "panic.bystander", &log)))
        .unwrap();
    // ctx.stop() leads to stop(), which panics: a failure, so a transient child restarts.
    let id = runtime
        .block_on(
            runtime
                .deploy(fragile("fragile", "panic.victim", &log).restart(RestartType::Transient)),
        )
        .unwrap();
    let reply = runtime.block_on(runtime.bus().request(&VICTIM, Cmd::Stop));
    assert_eq!(reply.ok(), Some(Reply::Done));
    assert!(eventually(GENEROUS, || instance(&runtime, id)
        .is_some_and(|i| i.restarts == 1)));
    assert_eq!(instance(&runtime, id).unwrap().failures, 1);
    bystander_serves(&runtime);
    // Undeploying a component whose stop panics completes too.
    runtime.block_on(runtime.undeploy(id)).unwrap();
    bystander_serves(&runtime);
}

#[test]
fn transient_children_restart_after_failures_only() {
    let log = log();
    let runtime = runtime(1);
    let a = runtime
        .block_on(runtime.deploy(Probe::spec("a", "panic.a", &log).restart(RestartType::Transient)))
        .unwrap();
    let b = runtime
        .block_on(runtime.deploy(Probe::spec("b", "panic.b", &log).restart(RestartType::Transient)))
        .unwrap();
    runtime
        .block_on(runtime.bus().request(&Address::new("panic.a"), Cmd::Stop))
        .unwrap();
    runtime
        .block_on(runtime.bus().request(&Address::new("panic.b"), Cmd::Fail))
        .unwrap();
    // A normal exit: it stays down. A requested failure: it is restarted.
    assert!(eventually(GENEROUS, || {
        instance(&runtime, a).is_some_and(|i| i.state == ComponentState::Stopped)
    }));
    assert!(eventually(GENEROUS, || {
        instance(&runtime, b).is_some_and(|i| i.state == ComponentState::Running && i.restarts == 1)
    }));
    let (a, b) = (
        instance(&runtime, a).unwrap(),
        instance(&runtime, b).unwrap(),
    );
    assert_eq!((a.failures, a.restarts, b.failures), (0, 0, 1));
    assert_eq!(runtime.bus().consumers(&Address::<Cmd>::new("panic.a")), 0);
}

/// A restarted instance takes over its previous incarnation's registrations (which kept
/// its mailbox reachable while it was down) instead of registering beside them: while
/// its new `start` is still running, a publish reaches it once, not twice; a start that
/// fails hands the taken-over registrations back, and the mailbox stays reachable.
#[test]
fn a_restarted_instance_takes_over_its_registrations_and_is_published_to_once() {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    #[derive(Clone)]
    struct Note;
    impl Message for Note {
        type Reply = ();
    }
    const NOTES: Address<Note> = Address::new("panic.takeover.notes");
    const POKE: Address<Note> = Address::new("panic.takeover.poke");

    /// Incarnation 1 panics on a poke; incarnation 2 fails its start after consuming;
    /// incarnation 3 waits in its start, after consuming, until told to go on.
    struct Flaky {
        starts: Arc<AtomicUsize>,
        gate: Arc<Mutex<Option<std::sync::mpsc::Receiver<()>>>>,
        entered: Arc<AtomicBool>,
    }
    impl Component for Flaky {
        async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.consume(&NOTES)?;
            ctx.consume(&POKE)?;
            match self.starts.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(()),
                1 => Err("second start fails".into()),
                _ => {
                    self.entered.store(true, Ordering::SeqCst);
                    let gate = self.gate.lock().unwrap().take();
                    if let Some(gate) = gate {
                        // Blocks this reactor on purpose: the publish below comes from
                        // another thread while this start still runs.
                        let _ = gate.recv_timeout(Duration::from_secs(10));
                    }
                    Ok(())
                }
            }
        }
    }
    impl Handler<Note> for Flaky {
        async fn handle(&mut self, _: Note, _: &mut Context<Self>) {
            panic!("poked");
        }
    }

    let starts = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicBool::new(false));
    let (release, gate) = std::sync::mpsc::channel();
    let gate = Arc::new(Mutex::new(Some(gate)));
    let runtime = Runtime::builder().reactors(1).build().unwrap();
    let spec = {
        let (starts, gate, entered) = (starts.clone(), gate.clone(), entered.clone());
        ChildSpec::new("flaky", move || Flaky {
            starts: starts.clone(),
            gate: gate.clone(),
            entered: entered.clone(),
        })
    };
    runtime.block_on(runtime.deploy(spec)).unwrap();
    runtime.bus().try_send(&POKE, Note).unwrap();
    // Incarnation 2 fails its start (its registrations go back, the mailbox stays
    // reachable); incarnation 3 enters its start and holds it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !entered.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "third start never came"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = runtime.bus().try_publish(&NOTES, Note).unwrap();
    assert_eq!(
        (report.delivered, report.refused),
        (1, 0),
        "one instance, one delivery"
    );
    release.send(()).unwrap();
    runtime.shutdown();
}

/// A start that fails hands back the registrations it took over: while the instance
/// waits out its backoff after that failure, its mailbox is still reachable.
#[test]
fn a_failed_start_hands_back_the_registrations_it_took_over() {
    use std::sync::atomic::AtomicUsize;

    struct Note;
    impl Message for Note {
        type Reply = ();
    }
    const NOTES: Address<Note> = Address::new("panic.handback.notes");

    /// Incarnation 1 panics on a note; incarnation 2 fails its start after consuming.
    struct Flaky(Arc<AtomicUsize>);
    impl Component for Flaky {
        async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            ctx.consume(&NOTES)?;
            match self.0.fetch_add(1, Ordering::SeqCst) {
                1 => Err("second start fails".into()),
                _ => Ok(()),
            }
        }
    }
    impl Handler<Note> for Flaky {
        async fn handle(&mut self, _: Note, _: &mut Context<Self>) {
            panic!("noted");
        }
    }

    let starts = Arc::new(AtomicUsize::new(0));
    let runtime = Runtime::builder()
        .reactors(1)
        // Long enough for the checks below to run while the instance is down.
        .backoff(reactree::Backoff::Fixed(Duration::from_secs(2)))
        .build()
        .unwrap();
    let spec = {
        let starts = starts.clone();
        ChildSpec::new("flaky", move || Flaky(starts.clone()))
    };
    let id = runtime.block_on(runtime.deploy(spec)).unwrap();
    runtime.bus().try_send(&NOTES, Note).unwrap();
    // The restart after the panic waits out the backoff, then its start fails: the
    // instance is down again, for another backoff.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(starts.load(Ordering::SeqCst) == 2
        && instance(&runtime, id).map(|i| i.state) == Some(ComponentState::Restarting))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the second start never failed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        runtime.bus().try_send(&NOTES, Note).is_ok(),
        "the mailbox stays reachable after a failed start"
    );
    runtime.shutdown();
}

/// Its handler finishes, or panics, only after a first poll that left it pending.
struct Later;

struct Settle(bool);
impl Message for Settle {
    type Reply = u32;
}

const LATER: Address<Settle> = Address::new("panic.later");

impl Component for Later {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&LATER)?;
        Ok(())
    }
}
impl Handler<Settle> for Later {
    async fn handle(&mut self, Settle(panics): Settle, _: &mut Context<Self>) -> u32 {
        futures_lite::future::yield_now().await;
        assert!(!panics, "handler failed after its first poll");
        1
    }
}

#[test]
fn a_handler_panic_after_its_first_poll_is_caught_like_one_in_it() {
    let runtime = runtime(1);
    let id = runtime
        .block_on(runtime.deploy(ChildSpec::new("later", || Later)))
        .unwrap();
    let bus = runtime.bus();
    // Pending once, then done: answered and counted as handled.
    assert_eq!(
        runtime.block_on(bus.request(&LATER, Settle(false))).ok(),
        Some(1)
    );
    // The reply is sent from inside the handler's future, and the instance counts the
    // message when that future is done: the requester may read the counter first.
    assert!(eventually(GENEROUS, || {
        instance(&runtime, id).is_some_and(|i| i.handled == 1)
    }));
    // Pending once, then panicking: the requester learns, the instance restarts.
    let error = runtime
        .block_on(bus.request(&LATER, Settle(true)))
        .unwrap_err();
    assert!(error.is_recipient_failure(), "{error:?}");
    assert!(eventually(GENEROUS, || {
        instance(&runtime, id)
            .is_some_and(|i| (i.failures, i.restarts, i.state) == (1, 1, ComponentState::Running))
    }));
    assert_eq!(
        runtime.block_on(bus.request(&LATER, Settle(false))).ok(),
        Some(1)
    );
}
