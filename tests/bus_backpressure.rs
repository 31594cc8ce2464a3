//! Bounded mailboxes: `try_` forms refuse at once and hand the message back, awaiting
//! forms wait for room, refusals are counted, expired requests are shed (issue: core
//! runtime, point 5).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;

const BUSY: Address<Cmd> = Address::new("bp.busy");

/// Deploys a probe with a mailbox of `capacity` and holds it busy on a gate, with its
/// mailbox empty; returns the gate.
fn busy_probe(runtime: &Runtime, log: &Log, capacity: usize) -> (DeploymentId, GateControl) {
    let id = runtime
        .block_on(runtime.deploy(Probe::spec("busy", "bp.busy", log).mailbox_capacity(capacity)))
        .unwrap();
    let (control, gate) = gate();
    runtime.bus().try_send(&BUSY, Cmd::Hold(gate)).unwrap();
    control.wait_entered();
    (id, control)
}

#[test]
fn try_send_refuses_a_full_mailbox_and_hands_the_message_back() {
    let log = log();
    let runtime = runtime(1);
    let (_id, gate) = busy_probe(&runtime, &log, 4);
    // The handler holds the gate with an empty mailbox: exactly 4 more fit.
    for n in 0..4 {
        runtime.bus().try_send(&BUSY, Cmd::Record(n)).unwrap();
    }
    let accepted = 4;
    let refused = runtime.bus().try_send(&BUSY, Cmd::Record(4)).unwrap_err();
    assert!(refused.is_full());
    let stats = runtime.bus().stats(&BUSY).unwrap();
    assert_eq!((stats.sent, stats.refused), (5, 1));
    assert!(matches!(refused.into_inner(), Cmd::Record(4)));
    // try_request and try_publish refuse the same way.
    let error = runtime
        .block_on(runtime.bus().try_request(&BUSY, Cmd::Echo(1)))
        .unwrap_err();
    assert!(error.is_full());
    assert!(matches!(error.into_inner(), Some(Cmd::Echo(1))));
    gate.open();
    // Everything accepted is handled, in order.
    assert!(eventually(GENEROUS, || entries(&log).len() == 1 + accepted as usize));
    let expected: Vec<String> = std::iter::once("busy started".to_owned())
        .chain((0..accepted).map(|n| format!("busy got {n}")))
        .collect();
    assert_eq!(entries(&log), expected);
}

#[test]
fn awaiting_send_completes_once_room_is_made() {
    let log = log();
    let runtime = runtime(1);
    let (_id, gate) = busy_probe(&runtime, &log, 2);
    runtime.bus().try_send(&BUSY, Cmd::Record(0)).unwrap();
    runtime.bus().try_send(&BUSY, Cmd::Record(1)).unwrap();
    assert!(
        runtime
            .bus()
            .try_send(&BUSY, Cmd::Record(2))
            .unwrap_err()
            .is_full()
    );
    let bus = runtime.bus().clone();
    let waiting = std::thread::spawn(move || async_io::block_on(bus.send(&BUSY, Cmd::Record(99))));
    // The sender is parked on a full mailbox, not failed.
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiting.is_finished());
    gate.open();
    assert!(waiting.join().unwrap().is_ok());
    assert!(eventually(GENEROUS, || entries(&log)
        .last()
        .map(String::as_str)
        == Some("busy got 99")));
}

#[derive(Clone)]
struct Tick;
impl Message for Tick {
    type Reply = ();
}

struct Slow {
    entered: flume::Sender<()>,
    release: flume::Receiver<()>,
}
impl Component for Slow {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Tick>::new("bp.ticks"))?;
        Ok(())
    }
}
impl Handler<Tick> for Slow {
    async fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        let _ = self.entered.send(());
        let _ = self.release.recv_async().await;
    }
}

#[test]
fn try_publish_counts_full_consumers_as_refused() {
    let runtime = runtime(1);
    let (entered, entered_rx) = flume::unbounded();
    let (release_tx, release) = flume::unbounded();
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("slow", move || Slow {
                    entered: entered.clone(),
                    release: release.clone(),
                })
                .mailbox_capacity(1),
            ),
        )
        .unwrap();
    let ticks = Address::<Tick>::new("bp.ticks");
    let first = runtime.bus().try_publish(&ticks, Tick).unwrap();
    assert_eq!((first.delivered, first.refused), (1, 0));
    entered_rx.recv_timeout(GENEROUS).unwrap();
    // The handler holds the first; the mailbox of one takes one more; the rest are refused.
    let (mut delivered, mut refused) = (0, 0);
    for _ in 0..9 {
        let report = runtime.bus().try_publish(&ticks, Tick).unwrap();
        delivered += report.delivered;
        refused += report.refused;
    }
    assert_eq!((delivered, refused), (1, 8));
    // Each refused copy is counted on the address, not lost silently.
    let stats = runtime.bus().stats(&ticks).unwrap();
    assert_eq!(
        (stats.consumers, stats.published, stats.refused),
        (1, 10, 8)
    );
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
}

#[test]
fn a_request_queued_past_its_deadline_is_not_handled() {
    let log = log();
    let runtime = runtime(1);
    let (id, gate) = busy_probe(&runtime, &log, 8);
    let error = runtime
        .block_on(
            runtime
                .bus()
                .request_timeout(&BUSY, Cmd::Record(1), Duration::from_millis(20)),
        )
        .unwrap_err();
    assert!(error.is_timeout());
    gate.open();
    // The next message is handled; the expired one was shed, not done for nobody.
    let reply = runtime
        .block_on(runtime.bus().request(&BUSY, Cmd::Record(2)))
        .unwrap();
    assert_eq!(reply, Reply::Number(2));
    assert_eq!(entries(&log), ["busy started", "busy got 2"]);
    assert_eq!(
        runtime.handle().deployment(id).unwrap().instances[0].expired,
        1
    );
}

#[test]
fn an_awaiting_request_times_out_while_waiting_for_room() {
    let log = log();
    let runtime = runtime(1);
    let (_id, gate) = busy_probe(&runtime, &log, 1);
    runtime.bus().try_send(&BUSY, Cmd::Record(0)).unwrap();
    assert!(runtime.bus().try_send(&BUSY, Cmd::Record(1)).is_err());
    let error = runtime
        .block_on(
            runtime
                .bus()
                .request_timeout(&BUSY, Cmd::Echo(1), Duration::from_millis(30)),
        )
        .unwrap_err();
    assert!(error.is_timeout());
    gate.open();
}

/// Asks the asker on reactor 0 to request `BUSY` with a short timeout; it says when the
/// request is queued, and replies with the request's outcome.
struct AskBusy(std::sync::mpsc::Sender<()>);
impl Message for AskBusy {
    type Reply = Result<Reply, RequestError<Cmd>>;
}

/// Holds its reactor's thread for the given time (what no component should do).
struct Hog(Duration);
impl Message for Hog {
    type Reply = ();
}

const ASKERS: Address<AskBusy> = Address::new("bp.asker");
const HOGS: Address<Hog> = Address::new("bp.hog");

struct Asker;
impl Component for Asker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&ASKERS)?;
        Ok(())
    }
}
impl Handler<AskBusy> for Asker {
    async fn handle(
        &mut self,
        AskBusy(queued): AskBusy,
        ctx: &mut Context<Self>,
    ) -> Result<Reply, RequestError<Cmd>> {
        let (bus, busy) = (ctx.bus().clone(), BUSY);
        let mut request =
            std::pin::pin!(bus.request_timeout(&busy, Cmd::Record(1), Duration::from_millis(50)));
        // The first poll queues the request in the busy mailbox.
        if let Some(done) = futures_lite::future::poll_once(request.as_mut()).await {
            return done;
        }
        let _ = queued.send(());
        request.await
    }
}

struct Hogger;
impl Component for Hogger {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&HOGS)?;
        Ok(())
    }
}
impl Handler<Hog> for Hogger {
    async fn handle(&mut self, Hog(time): Hog, _: &mut Context<Self>) {
        std::thread::sleep(time);
    }
}

/// The consumer sheds the expired request (closing it) while the requester's reactor is
/// held, so the requester finds the closing before its own timer: still a timeout, as
/// no reply came within it, not a recipient failure.
#[test]
fn a_request_shed_past_its_deadline_is_a_timeout_for_its_requester() {
    let log = log();
    let runtime = runtime(2);
    runtime
        .block_on(runtime.deploy(Probe::spec("busy", "bp.busy", &log).reactor(1)))
        .unwrap();
    runtime
        .block_on(runtime.deploy(ChildSpec::new("asker", || Asker).reactor(0)))
        .unwrap();
    runtime
        .block_on(runtime.deploy(ChildSpec::new("hogger", || Hogger).reactor(0)))
        .unwrap();
    let (gate, held) = gate();
    runtime.bus().try_send(&BUSY, Cmd::Hold(held)).unwrap();
    gate.wait_entered();
    let (queued_tx, queued_rx) = std::sync::mpsc::channel();
    let bus = runtime.bus().clone();
    let asked = std::thread::spawn(move || {
        async_io::block_on(bus.request_timeout(&ASKERS, AskBusy(queued_tx), GENEROUS))
    });
    queued_rx
        .recv_timeout(GENEROUS)
        .expect("the request was queued");
    // Reactor 0 is held past the deadline; meanwhile the busy consumer is let go, and
    // sheds the expired request. (Timing only arranges the race: should the hog start
    // late, the requester's own timer fires first, and the outcome is a timeout too.)
    runtime
        .bus()
        .try_send(&HOGS, Hog(Duration::from_millis(400)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    gate.open();
    let outcome = asked.join().unwrap().expect("the asker replied");
    assert!(
        matches!(outcome, Err(ref e) if e.is_timeout()),
        "{outcome:?}"
    );
    assert_eq!(runtime.bus().stats(&BUSY).unwrap().timed_out, 1);
    assert_eq!(
        entries(&log),
        ["busy started"],
        "the expired request was not handled"
    );
}
