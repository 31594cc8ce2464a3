//! The lifecycle event stream: a subscriber receives deployed, started, failed,
//! restarted, stopped, escalated and blocked events through a bounded channel; a slow
//! subscriber loses events and the count of what it lost, never the runtime's speed
//! (issue: inspector).

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{Intensity, LifecycleEvent};

fn drain(events: &reactree::EventStream) -> Vec<LifecycleEvent> {
    let mut all = Vec::new();
    while let Some(e) = events.next_timeout(Duration::from_millis(200)) {
        all.push(e);
    }
    all
}

fn started(path: &str) -> LifecycleEvent {
    LifecycleEvent::Started {
        path: path.into(),
        instance: 0,
    }
}

#[test]
fn a_subscriber_sees_the_lifecycle_in_order() {
    let log = log();
    let runtime = runtime(1);
    let events = runtime.handle().events(64);
    let id = runtime
        .block_on(runtime.deploy(Probe::spec("probe", "events.probe", &log)))
        .unwrap();
    let _ = runtime.block_on(
        runtime
            .bus()
            .request(&Address::<Cmd>::new("events.probe"), Cmd::Panic),
    );
    assert!(eventually(GENEROUS, || {
        runtime
            .handle()
            .deployment(id)
            .is_some_and(|d| d.instances[0].restarts == 1)
    }));
    runtime.block_on(runtime.undeploy(id)).unwrap();
    let seen = drain(&events);
    assert_eq!(
        seen,
        [
            started("root/probe"),
            LifecycleEvent::Deployed {
                path: "root/probe".into()
            },
            LifecycleEvent::Failed {
                path: "root/probe".into(),
                instance: 0,
                failure: "handler panicked: handler exploded".into(),
            },
            LifecycleEvent::Restarted {
                path: "root/probe".into(),
                instance: 0
            },
            started("root/probe"),
            LifecycleEvent::Stopped {
                path: "root/probe".into(),
                instance: 0
            },
        ]
    );
    assert_eq!(events.lost(), 0);
}

#[test]
fn a_slow_subscriber_loses_events_and_counts_them_without_slowing_the_runtime() {
    let log = log();
    let runtime = runtime(1);
    let slow = runtime.handle().events(2);
    runtime.block_on(async {
        for _ in 0..50 {
            let id = runtime
                .deploy(Probe::spec("churn", "events.churn", &log))
                .await
                .unwrap();
            runtime.undeploy(id).await.unwrap();
        }
    });
    // 3 events per cycle (started, deployed, stopped) into a channel of 2, nobody
    // reading: all but two are lost, and counted.
    assert_eq!(slow.lost(), 50 * 3 - 2);
    assert_eq!(drain(&slow).len(), 2);
}

#[test]
fn escalations_and_blocks_are_events() {
    let log = log();
    let runtime = Runtime::builder()
        .reactors(1)
        .blocked_threshold(Duration::from_millis(50))
        .supervisor(
            Supervisor::builder("fragile")
                .intensity(Intensity::new(0, Duration::from_secs(60)).unwrap())
                .child(Probe::spec("glass", "events.glass", &log)),
        )
        .build()
        .unwrap();
    let events = runtime.handle().events(64);
    let _ = runtime.block_on(
        runtime
            .bus()
            .request(&Address::<Cmd>::new("events.glass"), Cmd::Panic),
    );
    assert!(eventually(GENEROUS, || {
        runtime
            .handle()
            .supervisor("root")
            .is_some_and(|root| root.restarts == 1)
    }));
    // A handler that blocks its reactor for 300 ms.
    struct Sleeper;
    impl Component for Sleeper {
        async fn start(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
            std::thread::sleep(Duration::from_millis(300));
            Ok(())
        }
    }
    runtime
        .block_on(runtime.deploy(ChildSpec::new("sleeper", || Sleeper)))
        .unwrap();
    let seen = drain(&events);
    assert!(
        seen.contains(&LifecycleEvent::Escalated {
            supervisor: "root/fragile".into()
        }),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(
            |e| matches!(e, LifecycleEvent::Blocked { component, .. } if component == "sleeper#0")
        ),
        "{seen:?}"
    );
}
