//! The bus's delivery semantics: publish to all, send round-robin to one, request-reply
//! with correlation ids, per-sender ordering, typed addresses, use from any thread
//! (issue: core runtime, point 5).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{ConsumeError, PublishError};

#[derive(Clone)]
struct Note(u64);
impl Message for Note {
    type Reply = ();
}

/// Records every `Note` it gets, with its instance number, in a shared log.
struct Listener {
    log: Log,
}
impl Component for Listener {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Note>::new("bus.notes"))?;
        Ok(())
    }
}
impl Handler<Note> for Listener {
    async fn handle(&mut self, Note(n): Note, ctx: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {n}", ctx.instance()));
    }
}

#[derive(Clone)]
struct Tick;
impl Message for Tick {
    type Reply = ();
}

const NOTES: Address<Note> = Address::new("bus.notes");

fn listeners(runtime: &Runtime, log: &Log, instances: usize) {
    let l = log.clone();
    runtime
        .block_on(runtime.deploy(
            ChildSpec::new("listener", move || Listener { log: l.clone() }).instances(instances),
        ))
        .unwrap();
}

#[test]
fn publish_reaches_every_consumer() {
    let log = log();
    let runtime = runtime(2);
    listeners(&runtime, &log, 3);
    let reached = runtime
        .block_on(runtime.bus().publish(&NOTES, Note(7)))
        .unwrap();
    assert_eq!(reached, 3);
    assert!(eventually(GENEROUS, || entries(&log).len() == 3));
    let mut got = entries(&log);
    got.sort();
    assert_eq!(got, ["0 7", "1 7", "2 7"]);
    let report = runtime.bus().try_publish(&NOTES, Note(8)).unwrap();
    assert_eq!((report.delivered, report.refused), (3, 0));
}

#[test]
fn send_goes_round_robin_to_exactly_one() {
    let log = log();
    let runtime = runtime(2);
    listeners(&runtime, &log, 3);
    runtime.block_on(async {
        for n in 0..30 {
            runtime.bus().send(&NOTES, Note(n)).await.unwrap();
        }
    });
    assert!(eventually(GENEROUS, || entries(&log).len() == 30));
    let got = entries(&log);
    for instance in 0..3 {
        let mine = got
            .iter()
            .filter(|l| l.starts_with(&format!("{instance} ")))
            .count();
        assert_eq!(mine, 10, "{got:?}");
    }
    // Each message went to exactly one consumer.
    let mut numbers: Vec<u64> = got.iter().map(|l| l[2..].parse().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..30).collect::<Vec<_>>());
}

#[test]
fn messages_from_one_sender_arrive_in_order() {
    let log = log();
    let runtime = runtime(2);
    listeners(&runtime, &log, 1);
    let bus = runtime.bus().clone();
    let sender = std::thread::spawn(move || {
        async_io::block_on(async {
            for n in 0..2000 {
                bus.send(&NOTES, Note(n)).await.unwrap();
            }
        })
    });
    sender.join().unwrap();
    assert!(eventually(GENEROUS, || entries(&log).len() == 2000));
    let numbers: Vec<u64> = entries(&log)
        .iter()
        .map(|l| l[2..].parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..2000).collect::<Vec<_>>());
}

#[test]
fn request_replies_with_a_correlation_id() {
    let log = log();
    let runtime = runtime(1);
    runtime.block_on(async {
        runtime
            .deploy(Probe::spec("p", "bus.probe", &log))
            .await
            .unwrap();
        let address = Address::<Cmd>::new("bus.probe");
        let first = runtime
            .bus()
            .request(&address, Cmd::Correlation)
            .await
            .unwrap();
        let second = runtime
            .bus()
            .request(&address, Cmd::Correlation)
            .await
            .unwrap();
        let (Reply::Correlation(Some(a)), Reply::Correlation(Some(b))) = (first, second) else {
            panic!("a request must carry a correlation id");
        };
        assert_ne!(a, b);
        // A one-way send carries none.
        let (control, gate) = gate();
        runtime.bus().send(&address, Cmd::Hold(gate)).await.unwrap();
        control.open();
        assert_eq!(
            runtime.bus().request(&address, Cmd::Echo(3)).await.ok(),
            Some(Reply::Number(3))
        );
    });
}

#[test]
fn the_bus_works_from_many_outside_threads() {
    let log = log();
    let runtime = runtime(2);
    runtime
        .block_on(runtime.deploy(Probe::spec("p", "bus.threads", &log).instances(2)))
        .unwrap();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let bus = runtime.bus().clone();
            std::thread::spawn(move || {
                let address = Address::<Cmd>::new("bus.threads");
                futures_lite::future::block_on(async {
                    for n in 0..250u64 {
                        let reply = bus
                            .request(&address, Cmd::Echo(t * 1000 + n))
                            .await
                            .unwrap();
                        assert_eq!(reply, Reply::Number(t * 1000 + n));
                    }
                })
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn no_handlers_is_a_typed_error_that_returns_the_message() {
    let runtime = runtime(1);
    let nowhere = Address::<Note>::new("bus.nowhere");
    let error = runtime.bus().try_send(&nowhere, Note(4)).unwrap_err();
    assert!(matches!(error, SendError::NoHandlers(_)));
    assert_eq!(error.into_inner().0, 4);
    let error = runtime
        .block_on(runtime.bus().send(&nowhere, Note(5)))
        .unwrap_err();
    assert_eq!(error.into_inner().0, 5);
    let error = runtime
        .block_on(runtime.bus().publish(&nowhere, Note(6)))
        .unwrap_err();
    assert!(matches!(error, PublishError::NoHandlers(Note(6))));
    let error = runtime
        .block_on(
            runtime
                .bus()
                .request(&Address::<Cmd>::new("bus.nowhere"), Cmd::Echo(1)),
        )
        .unwrap_err();
    assert!(error.is_no_handlers());
    assert!(matches!(error.into_inner(), Some(Cmd::Echo(1))));
}

#[test]
fn an_address_keeps_one_message_type() {
    let log = log();
    let runtime = runtime(1);
    listeners(&runtime, &log, 1);
    // Same name, other type: refused at the sender with the message back.
    let wrong = Address::<Cmd>::new("bus.notes");
    let error = runtime.bus().try_send(&wrong, Cmd::Echo(1)).unwrap_err();
    match error {
        SendError::TypeMismatch {
            message: Cmd::Echo(1),
            registered,
        } => {
            assert!(registered.ends_with("Note"), "{registered}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let error = runtime
        .block_on(
            runtime
                .bus()
                .request_timeout(&wrong, Cmd::Echo(2), Duration::from_secs(1)),
        )
        .unwrap_err();
    assert!(matches!(error, RequestError::TypeMismatch { .. }));
    let error = runtime
        .bus()
        .try_publish(&Address::<Tick>::new("bus.notes"), Tick)
        .unwrap_err();
    assert!(matches!(error, PublishError::TypeMismatch { .. }));
    // And a component registering the other type fails its start with the typed error.
    let l = log.clone();
    let error = runtime
        .block_on(runtime.deploy(ChildSpec::new("wrong", move || Probe {
            name: "wrong".into(),
            address: Address::new("bus.notes"),
            log: l.clone(),
            panic_in_start: false,
            panic_in_stop: false,
        })))
        .unwrap_err();
    let DeployError::StartFailed { failure, .. } = error else {
        panic!("unexpected {error:?}")
    };
    let expected = ConsumeError::TypeMismatch {
        address: "bus.notes".into(),
        registered: std::any::type_name::<Note>(),
        requested: std::any::type_name::<Cmd>(),
    };
    assert_eq!(failure.message(), expected.to_string());
}

#[test]
fn handlers_run_on_the_consumer_reactor_not_the_sender_thread() {
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        runtime
            .deploy(Probe::spec("p", "bus.where", &log).reactor(1))
            .await
            .unwrap();
        let reply = runtime
            .bus()
            .request(&Address::new("bus.where"), Cmd::Thread)
            .await;
        assert_eq!(reply.ok(), Some(Reply::Thread("reactree-reactor-1".into())));
    });
}

/// A sender remembers the route of a `'static` address; every registration or removal
/// anywhere must make it look again, so routes never go stale.
#[test]
fn a_remembered_route_follows_consumers_leaving_and_arriving() {
    const ROUTED: Address<Cmd> = Address::new("bus.routed");
    let log = log();
    let runtime = runtime(2);
    runtime.block_on(async {
        let first = runtime
            .deploy(Probe::spec("first", "bus.routed", &log).reactor(0))
            .await
            .unwrap();
        for i in 0..3 {
            assert_eq!(
                runtime.bus().request(&ROUTED, Cmd::Thread).await.unwrap(),
                Reply::Thread("reactree-reactor-0".into()),
                "request {i}"
            );
        }
        runtime.undeploy(first).await.unwrap();
        let error = runtime
            .bus()
            .request(&ROUTED, Cmd::Echo(1))
            .await
            .unwrap_err();
        assert!(error.is_no_handlers(), "{error}");
        assert!(matches!(
            runtime.bus().try_send(&ROUTED, Cmd::Echo(2)),
            Err(SendError::NoHandlers(_))
        ));
        runtime
            .deploy(Probe::spec("second", "bus.routed", &log).reactor(1))
            .await
            .unwrap();
        assert_eq!(
            runtime.bus().request(&ROUTED, Cmd::Thread).await.unwrap(),
            Reply::Thread("reactree-reactor-1".into())
        );
        // The same name built at run time (not remembered) reaches the same consumer.
        let dynamic = Address::<Cmd>::from_string(String::from("bus.routed"));
        assert_eq!(
            runtime.bus().request(&dynamic, Cmd::Thread).await.unwrap(),
            Reply::Thread("reactree-reactor-1".into())
        );
    });
    runtime.shutdown();
}

/// Counts the clones of every `Shared` message, across threads.
static SHARED_CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Shared(u64);
impl Clone for Shared {
    fn clone(&self) -> Self {
        SHARED_CLONES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(self.0)
    }
}
impl Message for Shared {
    type Reply = ();
}

/// Records every `Shared` it gets.
struct SharedListener {
    log: Log,
}
impl Component for SharedListener {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Shared>::new("bus.shared"))?;
        Ok(())
    }
}
impl Handler<Shared> for SharedListener {
    async fn handle(&mut self, Shared(n): Shared, ctx: &mut Context<Self>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {n}", ctx.instance()));
    }
}

#[test]
fn a_published_message_is_copied_once_per_consumer_at_most() {
    let runtime = Runtime::builder().reactors(2).build().unwrap();
    let log = Log::default();
    let spec_log = log.clone();
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("shared", move || SharedListener {
                    log: spec_log.clone(),
                })
                .instances(4),
            ),
        )
        .unwrap();
    let before = SHARED_CLONES.load(std::sync::atomic::Ordering::SeqCst);
    let reached = runtime
        .block_on(
            runtime
                .bus()
                .publish(&Address::new("bus.shared"), Shared(9)),
        )
        .unwrap();
    assert_eq!(reached, 4);
    assert!(eventually(GENEROUS, || log.lock().unwrap().len() == 4));
    let mut seen = log.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["0 9", "1 9", "2 9", "3 9"]);
    let clones = SHARED_CLONES.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(clones <= 4, "{clones} copies for 4 consumers");
    runtime.shutdown();
}
