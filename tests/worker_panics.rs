//! A panicking job is an error value for its caller (`JobError::Panicked` with the
//! message), and the pool keeps all its threads.

use std::sync::{Arc, Barrier};

use futures_lite::future::block_on;
use reactree::{JobError, PoolConfig, WorkerPool};

#[test]
fn a_panicking_job_gives_panicked_with_its_message() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let handle = pool.handle();
    let formatted = handle.execute_fn(|| -> u32 { panic!("boom {}", 42) });
    let literal = handle.execute(|_token| -> u32 { panic!("static boom") });
    let custom = handle.execute_fn(|| -> u32 { std::panic::panic_any(7_u8) });
    block_on(async {
        let error = formatted.await.unwrap_err();
        assert_eq!(error, JobError::Panicked("boom 42".into()));
        assert!(error.is_panicked() && !error.is_cancelled() && !error.is_shut_down());
        assert_eq!(
            literal.await.unwrap_err().panic_message(),
            Some("static boom")
        );
        assert_eq!(
            custom.await.unwrap_err().panic_message(),
            Some("Box<dyn Any>")
        );
    });
    assert_eq!(handle.stats().panicked, 3);
}

#[test]
fn the_pool_keeps_all_its_threads_after_panics() {
    let pool = WorkerPool::new(PoolConfig::new().name("panics").threads(3)).unwrap();
    let handle = pool.handle();
    let panics: Vec<_> = (0..30)
        .map(|i| handle.execute_fn(move || panic!("job {i}")))
        .collect();
    block_on(async {
        for job in panics {
            assert!(job.await.unwrap_err().is_panicked());
        }
    });
    // Three jobs meet at a barrier: possible only if three threads are still alive.
    let barrier = Arc::new(Barrier::new(3));
    let meet: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            handle.execute_fn(move || {
                barrier.wait();
                std::thread::current().name().map(String::from)
            })
        })
        .collect();
    let mut names: Vec<String> = block_on(async {
        let mut names = Vec::new();
        for job in meet {
            names.push(job.await.unwrap().expect("workers are named"));
        }
        names
    });
    names.sort();
    assert_eq!(
        names,
        [
            "reactree-worker-panics-0",
            "reactree-worker-panics-1",
            "reactree-worker-panics-2"
        ]
    );
    let stats = handle.stats();
    assert_eq!((stats.threads, stats.panicked, stats.completed), (3, 30, 3));
}

#[test]
fn a_panicking_ordered_job_does_not_stop_its_line() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let line = pool.handle().ordered();
    let bad = line.execute_fn(|| -> u32 { panic!("ordered boom") });
    let good = line.execute_fn(|| 5);
    block_on(async {
        assert_eq!(bad.await.unwrap_err().panic_message(), Some("ordered boom"));
        assert_eq!(good.await.unwrap(), 5);
    });
}
