//! A `Producer` (`Bus::sender`) sends, publishes and requests as the bus does, with the same
//! errors and counters, and follows its address's consumers as they come and go:
//! the route it keeps is taken again whenever any consumer registered or left.

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{Producer, SendError};

const ADDRESS: &str = "producer.probe";
const PROBES: Address<Cmd> = Address::new(ADDRESS);

fn number(reply: Result<Reply, RequestError<Cmd>>) -> u64 {
    match reply {
        Ok(Reply::Number(n)) => n,
        other => panic!("expected a number, got {other:?}"),
    }
}

#[test]
fn sends_and_requests_reach_the_consumer_in_order_and_are_counted() {
    let runtime = runtime(1);
    let log = log();
    runtime
        .block_on(runtime.deploy(Probe::spec("p", ADDRESS, &log)))
        .unwrap();
    let mut producer: Producer<Cmd> = runtime.bus().sender(&PROBES);
    assert_eq!(producer.address(), &PROBES);
    runtime.block_on(async {
        for n in 0..3 {
            producer.send(Cmd::Record(n)).await.unwrap();
        }
        producer.try_send(Cmd::Record(3)).unwrap();
        assert_eq!(number(producer.request(Cmd::Record(4)).await), 4);
        assert_eq!(number(producer.try_request(Cmd::Record(5)).await), 5);
        let timed = producer.request_timeout(Cmd::Record(6), GENEROUS).await;
        assert_eq!(number(timed), 6);
    });
    assert_eq!(
        entries(&log),
        [
            "p started",
            "p got 0",
            "p got 1",
            "p got 2",
            "p got 3",
            "p got 4",
            "p got 5",
            "p got 6"
        ]
    );
    let stats = runtime.bus().stats(&PROBES).expect("consumed");
    assert_eq!((stats.sent, stats.requested, stats.replied), (4, 3, 3));
    runtime.shutdown();
}

#[test]
fn it_follows_consumers_that_come_and_go() {
    let runtime = runtime(2);
    let log = log();
    let bus = runtime.bus();
    let mut producer = bus.sender(&PROBES);
    runtime.block_on(async {
        // No consumer yet: the message comes back.
        match producer.send(Cmd::Echo(1)).await {
            Err(SendError::NoHandlers(Cmd::Echo(1))) => {}
            other => panic!("expected NoHandlers, got {other:?}"),
        }
        let first = runtime
            .deploy(Probe::spec("a", ADDRESS, &log).reactor(0))
            .await
            .unwrap();
        assert_eq!(number(producer.request(Cmd::Echo(2)).await), 2);
        // A second consumer after the route was taken: round-robin reaches both.
        let second = runtime
            .deploy(Probe::spec("b", ADDRESS, &log).reactor(1))
            .await
            .unwrap();
        let mut threads = std::collections::BTreeSet::new();
        for _ in 0..4 {
            match producer.request(Cmd::Thread).await {
                Ok(Reply::Thread(name)) => threads.insert(name),
                other => panic!("expected a thread name, got {other:?}"),
            };
        }
        assert_eq!(threads.len(), 2, "both consumers answered: {threads:?}");
        // Both gone: the route goes with them.
        runtime.undeploy(first).await.unwrap();
        runtime.undeploy(second).await.unwrap();
        match producer.request(Cmd::Echo(3)).await {
            Err(RequestError::NoHandlers(Cmd::Echo(3))) => {}
            other => panic!("expected NoHandlers, got {other:?}"),
        }
    });
    runtime.shutdown();
}

#[test]
fn a_full_mailbox_refuses_a_try_send_and_hands_the_message_back() {
    let runtime = runtime(1);
    let log = log();
    runtime
        .block_on(runtime.deploy(Probe::spec("p", ADDRESS, &log).mailbox_capacity(1)))
        .unwrap();
    let mut producer = runtime.bus().sender(&PROBES);
    let (gate, held) = gate();
    producer.try_send(Cmd::Hold(held)).unwrap();
    gate.wait_entered();
    producer.try_send(Cmd::Record(1)).unwrap();
    match producer.try_send(Cmd::Record(2)) {
        Err(SendError::Full(Cmd::Record(2))) => {}
        other => panic!("expected Full, got {other:?}"),
    }
    runtime.block_on(async {
        match producer.try_request(Cmd::Record(3)).await {
            Err(RequestError::Full(Cmd::Record(3))) => {}
            other => panic!("expected Full, got {other:?}"),
        }
    });
    assert_eq!(runtime.bus().stats(&PROBES).unwrap().refused, 2);
    gate.open();
    assert!(eventually(GENEROUS, || entries(&log).len() == 2));
    assert_eq!(entries(&log), ["p started", "p got 1"]);
    runtime.shutdown();
}

#[test]
fn a_request_times_out_and_a_clone_keeps_working() {
    let runtime = runtime(1);
    let log = log();
    runtime
        .block_on(runtime.deploy(Probe::spec("p", ADDRESS, &log)))
        .unwrap();
    let mut producer = runtime.bus().sender(&PROBES);
    let (gate, held) = gate();
    runtime.block_on(async {
        let waited = producer
            .request_timeout(Cmd::Hold(held), Duration::from_millis(50))
            .await;
        assert!(
            matches!(waited, Err(RequestError::Timeout(_))),
            "{waited:?}"
        );
    });
    gate.open();
    let mut clone = producer.clone();
    runtime.block_on(async {
        assert_eq!(number(clone.request(Cmd::Echo(7)).await), 7);
        assert_eq!(number(producer.request(Cmd::Echo(8)).await), 8);
    });
    assert_eq!(runtime.bus().stats(&PROBES).unwrap().timed_out, 1);
    runtime.shutdown();
}

#[test]
fn a_name_of_another_type_is_a_type_mismatch() {
    struct Other;
    impl Message for Other {
        type Reply = ();
    }
    let runtime = runtime(1);
    let log = log();
    runtime
        .block_on(runtime.deploy(Probe::spec("p", ADDRESS, &log)))
        .unwrap();
    let mut producer = runtime.bus().sender(&Address::<Other>::new(ADDRESS));
    match producer.try_send(Other) {
        Err(SendError::TypeMismatch { registered, .. }) => {
            assert!(registered.ends_with("Cmd"), "{registered}");
        }
        Err(other) => panic!("expected TypeMismatch, got {other:?}"),
        Ok(()) => panic!("expected TypeMismatch"),
    }
    runtime.shutdown();
}

/// A published note, cloned to every listener.
#[derive(Clone, Debug, PartialEq)]
struct Note(u64);
impl Message for Note {
    type Reply = ();
}

const NOTES: Address<Note> = Address::new("producer.notes");

/// Logs every note it gets.
struct Listener {
    name: &'static str,
    log: Log,
}

impl Component for Listener {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&NOTES)?;
        Ok(())
    }
}

impl Handler<Note> for Listener {
    async fn handle(&mut self, Note(n): Note, _: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} got {n}", self.name));
    }
}

fn listener(name: &'static str, log: &Log, reactor: usize) -> ChildSpec {
    let log = log.clone();
    ChildSpec::new(name, move || Listener {
        name,
        log: log.clone(),
    })
    .reactor(reactor)
}

#[test]
fn a_publish_reaches_every_consumer_and_follows_them() {
    let runtime = runtime(2);
    let log = log();
    let mut producer = runtime.bus().sender(&NOTES);
    runtime.block_on(async {
        assert!(matches!(
            producer.publish(Note(0)).await,
            Err(reactree::PublishError::NoHandlers(Note(0)))
        ));
        runtime.deploy(listener("a", &log, 0)).await.unwrap();
        assert_eq!(producer.publish(Note(1)).await.unwrap(), 1);
        runtime.deploy(listener("b", &log, 1)).await.unwrap();
        assert_eq!(producer.publish(Note(2)).await.unwrap(), 2);
        let report = producer.try_publish(Note(3)).unwrap();
        assert_eq!((report.delivered, report.refused), (2, 0));
    });
    assert!(eventually(GENEROUS, || entries(&log).len() == 5));
    let mut seen = entries(&log);
    seen.sort();
    assert_eq!(
        seen,
        ["a got 1", "a got 2", "a got 3", "b got 2", "b got 3"]
    );
    assert_eq!(runtime.bus().stats(&NOTES).unwrap().published, 3);
    runtime.shutdown();
}
