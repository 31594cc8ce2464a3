//! The runtime's thread count is fixed by its reactors: unchanged through thousands of
//! requests, hundreds of deploy/undeploy cycles and panics, and back to the baseline
//! after shutdown or drop (issue: core runtime, "tests that must exist"; DESIGN
//! invariant 2). It counts the process's threads, so it is the only test in its binary.

#[path = "support/common.rs"]
mod common;

use common::*;
use reactree::prelude::*;

#[test]
fn thread_count_is_constant_under_load_churn_and_panics() {
    warm_up_timers();
    let baseline = threads();
    let log = log();
    let runtime = runtime(2);
    let running = threads();
    assert_eq!(running, baseline + runtime_threads(2));
    runtime.block_on(async {
        let stable = runtime
            .deploy(Probe::spec("stable", "threads.stable", &log).instances(2))
            .await
            .unwrap();
        let address = Address::<Cmd>::new("threads.stable");
        for n in 0..5_000 {
            let reply = runtime.bus().request(&address, Cmd::Echo(n)).await.unwrap();
            assert_eq!(reply, Reply::Number(n));
        }
        for cycle in 0..300 {
            // Temporary: a panic removes it (a crash loop of restarts is in
            // supervision_threads.rs).
            let spec = Probe::spec("churn", "threads.churn", &log).restart(RestartType::Temporary);
            let id = runtime.deploy(spec).await.unwrap();
            let churn = Address::<Cmd>::new("threads.churn");
            if cycle % 3 == 0 {
                let error = runtime.bus().request(&churn, Cmd::Panic).await.unwrap_err();
                assert!(error.is_recipient_failure());
                while runtime.handle().deployment(id).is_some() {
                    futures_lite::future::yield_now().await;
                }
            } else {
                runtime
                    .bus()
                    .request(&churn, Cmd::Echo(cycle))
                    .await
                    .unwrap();
                runtime.undeploy(id).await.unwrap();
            }
        }
        assert_eq!(threads(), running);
        runtime.undeploy(stable).await.unwrap();
    });
    assert_eq!(threads(), running);
    runtime.shutdown();
    assert!(
        threads_settle_at(baseline),
        "{} threads after shutdown, baseline {baseline}",
        threads()
    );

    // Dropping a runtime with components still deployed joins its threads too.
    let runtime = common::runtime(3);
    assert_eq!(threads(), baseline + runtime_threads(3));
    runtime
        .block_on(runtime.deploy(Probe::spec("left", "threads.left", &log).instances(3)))
        .unwrap();
    drop(runtime);
    assert!(
        threads_settle_at(baseline),
        "{} threads after drop, baseline {baseline}",
        threads()
    );
}
