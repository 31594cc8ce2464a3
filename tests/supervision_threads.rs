//! Restarts never start threads: the thread count is unchanged through a crash loop of
//! hundreds of restarts, including restarts of a nested supervisor with reactors of its
//! own (issue: supervision tree; DESIGN invariant 2). It counts the process's threads, so
//! it is the only test in its binary.

#[path = "support/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use reactree::Intensity;
use reactree::prelude::*;

#[test]
fn a_crash_loop_of_hundreds_of_restarts_starts_no_thread() {
    warm_up_timers();
    let baseline = threads();
    let log = log();
    let lenient = Intensity::new(10_000, Duration::from_secs(60)).unwrap();
    let nested = Supervisor::builder("nested")
        .reactors(1)
        .intensity(Intensity::new(2, Duration::from_secs(60)).unwrap())
        .child(Probe::spec("inner", "loop.inner", &log));
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(TEST_POOL_THREADS))
        .intensity(lenient)
        .child(Probe::spec("outer", "loop.outer", &log))
        .supervisor(nested)
        .build()
        .unwrap();
    let running = threads();
    assert_eq!(running, baseline + runtime_threads(3));
    runtime.block_on(async {
        for target in ["loop.outer", "loop.inner"] {
            let address = Address::<Cmd>::new(target);
            for _ in 0..150 {
                let error = runtime
                    .bus()
                    .request(&address, Cmd::Panic)
                    .await
                    .unwrap_err();
                assert!(error.is_recipient_failure());
                // Wait for the restart (the nested supervisor itself restarts every
                // third crash, past its intensity of 2).
                while runtime.bus().request(&address, Cmd::Echo(1)).await.is_err() {
                    futures_lite::future::yield_now().await;
                }
                assert_eq!(threads(), running);
            }
        }
    });
    // 150 restarts of the outer child; the nested supervisor restarted by the root
    // every third inner crash: 50.
    assert!(eventually(GENEROUS, || {
        runtime.handle().supervisor("root").unwrap().restarts == 150 + 50
    }));
    runtime.shutdown();
    assert!(
        threads_settle_at(baseline),
        "{} threads after shutdown, baseline {baseline}",
        threads()
    );
}
