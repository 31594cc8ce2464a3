//! Pool configuration: invalid values (empty name, nul in the name, zero threads, zero
//! capacity) are typed errors, and a valid pool names its threads
//! `reactree-worker-{POOL}-{N}` and reports its settings.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use futures_lite::future::block_on;
use reactree::{PoolConfig, PoolConfigError, WorkerPool};

#[test]
fn invalid_configurations_are_typed_errors() {
    let cases = [
        (PoolConfig::new().name(""), "worker pool name is empty"),
        (
            PoolConfig::new().name("a\0b"),
            "worker pool name contains a nul byte",
        ),
        (
            PoolConfig::new().threads(0),
            "worker pool needs at least one thread",
        ),
        (
            PoolConfig::new().queue_capacity(0),
            "worker queue capacity is zero",
        ),
    ];
    for (config, message) in cases {
        let error = WorkerPool::new(config.clone()).unwrap_err();
        assert_eq!(error.to_string(), message);
        assert_eq!(config.validate().unwrap_err().to_string(), message);
    }
    assert!(matches!(
        WorkerPool::new(PoolConfig::new().threads(0)),
        Err(PoolConfigError::ZeroThreads)
    ));
}

#[test]
fn defaults_follow_vertx() {
    let pool = WorkerPool::new(PoolConfig::default()).unwrap();
    let stats = pool.stats();
    assert_eq!(pool.name(), "default");
    assert_eq!((stats.threads, stats.queue_capacity), (20, 1024));
    assert_eq!(pool.shutdown().joined, 20);
}

#[test]
fn threads_are_named_after_the_pool() {
    let pool = WorkerPool::new(PoolConfig::new().name("db".to_string()).threads(3)).unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            pool.handle().execute_fn(move || {
                barrier.wait();
                std::thread::current().name().unwrap().to_owned()
            })
        })
        .collect();
    let names: BTreeSet<String> = block_on(async {
        let mut names = BTreeSet::new();
        for job in jobs {
            names.insert(job.await.unwrap());
        }
        names
    });
    let expected: BTreeSet<String> = (0..3).map(|n| format!("reactree-worker-db-{n}")).collect();
    assert_eq!(names, expected);
}
