//! Sent messages are kept in their mailbox in place when they fit two words, boxed
//! otherwise: either way they arrive whole and in order, come back whole when refused,
//! and are dropped exactly once when their component stops before handling them. Small
//! published messages are cloned by the publisher, and a `Clone` that panics fails
//! consumers' handlers, not the publisher.

#[path = "support/common.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use reactree::prelude::*;

/// One word: kept in place.
#[derive(Debug, PartialEq, Clone)]
struct Small(u64);
impl Message for Small {
    type Reply = ();
}

/// Five words: boxed in the envelope.
#[derive(Debug, PartialEq)]
struct Wide([u64; 5]);
impl Message for Wide {
    type Reply = ();
}

/// Two words, counting its drops: kept in place.
struct Counted(Arc<AtomicUsize>, u64);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
impl Message for Counted {
    type Reply = ();
}

/// Four words, counting its drops: boxed.
struct WideCounted(Counted, [u64; 2]);
impl Message for WideCounted {
    type Reply = ();
}

/// Over-aligned: boxed whatever its size.
#[repr(align(32))]
#[derive(Debug, PartialEq)]
struct Aligned(u8);
impl Message for Aligned {
    type Reply = ();
}

const SMALL: Address<Small> = Address::new("storage.small");
const WIDE: Address<Wide> = Address::new("storage.wide");
const COUNTED: Address<Counted> = Address::new("storage.counted");
const WIDE_COUNTED: Address<WideCounted> = Address::new("storage.wide_counted");
const ALIGNED: Address<Aligned> = Address::new("storage.aligned");
const HOLD: Address<Hold> = Address::new("storage.hold");
const SMALL_PUBLISHED: Address<Small> = Address::new("storage.small_published");

/// Holds the handler on a gate.
struct Hold(Gate);
impl Message for Hold {
    type Reply = ();
}

/// Logs what it handles.
struct Store {
    log: Log,
}

impl Component for Store {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&SMALL)?;
        ctx.consume(&WIDE)?;
        ctx.consume(&COUNTED)?;
        ctx.consume(&WIDE_COUNTED)?;
        ctx.consume(&ALIGNED)?;
        ctx.consume(&HOLD)?;
        ctx.consume(&SMALL_PUBLISHED)?;
        Ok(())
    }
}

impl Store {
    fn record(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }
}

impl Handler<Small> for Store {
    async fn handle(&mut self, message: Small, _: &mut Context<Self>) {
        self.record(format!("{message:?}"));
    }
}

impl Handler<Wide> for Store {
    async fn handle(&mut self, message: Wide, _: &mut Context<Self>) {
        self.record(format!("{message:?}"));
    }
}

impl Handler<Counted> for Store {
    async fn handle(&mut self, message: Counted, _: &mut Context<Self>) {
        self.record(format!("Counted({})", message.1));
    }
}

impl Handler<WideCounted> for Store {
    async fn handle(&mut self, message: WideCounted, _: &mut Context<Self>) {
        self.record(format!("WideCounted({}, {:?})", message.0.1, message.1));
    }
}

impl Handler<Aligned> for Store {
    async fn handle(&mut self, message: Aligned, _: &mut Context<Self>) {
        assert_eq!(std::ptr::from_ref(&message).addr() % 32, 0);
        self.record(format!("{message:?}"));
    }
}

impl Handler<Hold> for Store {
    async fn handle(&mut self, Hold(gate): Hold, _: &mut Context<Self>) {
        gate.pass().await;
    }
}

/// Deploys a store with a mailbox of `capacity`, held busy with its mailbox empty.
fn held_store(runtime: &Runtime, log: &Log, capacity: usize) -> (DeploymentId, GateControl) {
    let store_log = log.clone();
    let id = runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("store", move || Store {
                    log: store_log.clone(),
                })
                .mailbox_capacity(capacity)
                .shutdown_timeout(Duration::from_millis(100)),
            ),
        )
        .unwrap();
    let (control, gate) = gate();
    runtime.bus().try_send(&HOLD, Hold(gate)).unwrap();
    control.wait_entered();
    (id, control)
}

#[test]
fn messages_in_place_and_boxed_arrive_whole_and_in_order() {
    let runtime = runtime(1);
    let log = log();
    let (_id, gate) = held_store(&runtime, &log, 16);
    let bus = runtime.bus();
    bus.try_send(&SMALL, Small(1)).unwrap();
    bus.try_send(&WIDE, Wide([2, 3, 4, 5, 6])).unwrap();
    bus.try_send(&ALIGNED, Aligned(7)).unwrap();
    bus.try_send(&SMALL, Small(8)).unwrap();
    runtime.block_on(bus.send(&WIDE, Wide([9; 5]))).unwrap();
    gate.open();
    assert!(eventually(GENEROUS, || entries(&log).len() == 5));
    assert_eq!(
        entries(&log),
        [
            "Small(1)",
            "Wide([2, 3, 4, 5, 6])",
            "Aligned(7)",
            "Small(8)",
            "Wide([9, 9, 9, 9, 9])"
        ]
    );
}

#[test]
fn a_refused_message_comes_back_whole_in_place_or_boxed() {
    let runtime = runtime(1);
    let log = log();
    let (_id, gate) = held_store(&runtime, &log, 1);
    let bus = runtime.bus();
    bus.try_send(&SMALL, Small(0)).unwrap();
    let small = bus.try_send(&SMALL, Small(41)).unwrap_err();
    assert!(small.is_full());
    assert_eq!(small.into_inner(), Small(41));
    let wide = bus.try_send(&WIDE, Wide([42; 5])).unwrap_err();
    assert!(wide.is_full());
    assert_eq!(wide.into_inner(), Wide([42; 5]));
    let aligned = bus.try_send(&ALIGNED, Aligned(43)).unwrap_err();
    assert_eq!(aligned.into_inner(), Aligned(43));
    gate.open();
    assert!(eventually(GENEROUS, || entries(&log) == ["Small(0)"]));
}

#[test]
fn queued_messages_are_dropped_once_when_their_component_stops_first() {
    let runtime = runtime(1);
    let log = log();
    let (id, _gate) = held_store(&runtime, &log, 16);
    let drops = Arc::new(AtomicUsize::new(0));
    let bus = runtime.bus();
    for n in 0..3 {
        bus.try_send(&COUNTED, Counted(drops.clone(), n)).unwrap();
        bus.try_send(
            &WIDE_COUNTED,
            WideCounted(Counted(drops.clone(), n), [n; 2]),
        )
        .unwrap();
    }
    // A refused one is handed back, not dropped by the runtime.
    let mut refused = Vec::new();
    for n in 0..11 {
        if let Err(error) = bus.try_send(&COUNTED, Counted(drops.clone(), 100 + n)) {
            refused.push(error.into_inner());
        }
    }
    assert_eq!((refused.len(), drops.load(Ordering::SeqCst)), (1, 0));
    // The held handler outlives its shutdown timeout and is abandoned: nothing queued is
    // handled, and every queued message is dropped exactly once.
    runtime.block_on(runtime.undeploy(id)).unwrap();
    assert!(eventually(GENEROUS, || drops.load(Ordering::SeqCst) == 16));
    assert!(entries(&log).is_empty());
    drop(refused);
    assert_eq!(drops.load(Ordering::SeqCst), 17);
}

/// One word, whose `Clone` always panics.
struct Fragile(u64);
impl Clone for Fragile {
    fn clone(&self) -> Self {
        panic!("this message cannot be copied");
    }
}
impl Message for Fragile {
    type Reply = ();
}

const FRAGILE: Address<Fragile> = Address::new("storage.fragile");

/// Logs the `Fragile` it gets.
struct FragileListener {
    log: Log,
}
impl Component for FragileListener {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&FRAGILE)?;
        Ok(())
    }
}
impl Handler<Fragile> for FragileListener {
    async fn handle(&mut self, Fragile(n): Fragile, _: &mut Context<Self>) {
        self.log.lock().unwrap().push(format!("got {n}"));
    }
}

#[test]
fn a_clone_that_panics_fails_consumers_handlers_not_the_publisher() {
    // One reactor, so the three handle one after another: two clone and fail, the last
    // takes the original.
    let runtime = runtime(1);
    let log = log();
    let spec_log = log.clone();
    let id = runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("fragile", move || FragileListener {
                    log: spec_log.clone(),
                })
                .instances(3),
            ),
        )
        .unwrap();
    // The publisher's own clone panics: caught, and the three share the message.
    let reached = runtime
        .block_on(runtime.bus().publish(&FRAGILE, Fragile(7)))
        .unwrap();
    assert_eq!(reached, 3);
    let failures = || -> u64 {
        let info = runtime.handle().deployment(id).unwrap();
        info.instances.iter().map(|i| i.failures).sum()
    };
    assert!(eventually(GENEROUS, || failures() == 2));
    assert!(eventually(GENEROUS, || entries(&log) == ["got 7"]));
    // The publisher goes on publishing.
    assert!(runtime.bus().try_publish(&FRAGILE, Fragile(8)).is_ok());
}

#[test]
fn a_small_published_message_reaches_every_consumer_on_every_reactor() {
    let runtime = runtime(2);
    let log = log();
    let spec_log = log.clone();
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("store", move || Store {
                    log: spec_log.clone(),
                })
                .instances(4),
            ),
        )
        .unwrap();
    let bus = runtime.bus();
    for n in 0..10 {
        assert_eq!(
            runtime
                .block_on(bus.publish(&SMALL_PUBLISHED, Small(n)))
                .unwrap(),
            4
        );
    }
    assert!(eventually(GENEROUS, || entries(&log).len() == 40));
    let mut seen = entries(&log);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 10, "each of the 10 messages, 4 times: {seen:?}");
}
