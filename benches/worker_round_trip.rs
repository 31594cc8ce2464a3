//! Worker pool round trip: the time from submitting a trivial job to holding its result,
//! one job at a time, so it measures the pool's overhead (allocation of the job, the
//! queue hand-off, waking a parked worker, running the job under `catch_unwind`, and
//! waking the submitter), not the job.
//!
//! - `from_thread`: a plain thread submits with `execute_fn` and waits in
//!   `futures_lite::future::block_on` (parking the thread), as `main` or an HTTP adapter
//!   would.
//! - `from_local_executor`: a task on an `async_executor::LocalExecutor` driven by
//!   `async_io::block_on` submits and awaits, as a component on its reactor would.
//! - `try_from_thread`: as `from_thread`, through `try_execute_fn`.
//!
//! Execute with `cargo bench --bench worker_round_trip`.

use std::hint::black_box;

use async_executor::LocalExecutor;
use criterion::{Criterion, criterion_group, criterion_main};
use reactree::{PoolConfig, WorkerPool};

fn round_trip(c: &mut Criterion) {
    let pool = WorkerPool::new(PoolConfig::new().name("bench").threads(2)).expect("valid");
    let handle = pool.handle();
    let mut group = c.benchmark_group("worker_round_trip");

    group.bench_function("from_thread", |b| {
        b.iter(|| {
            let job = handle.execute_fn(|| black_box(1_u64));
            futures_lite::future::block_on(job).expect("the job returns")
        });
    });

    group.bench_function("try_from_thread", |b| {
        b.iter(|| {
            let job = handle.try_execute_fn(|| black_box(1_u64)).expect("room");
            futures_lite::future::block_on(job).expect("the job returns")
        });
    });

    group.bench_function("from_local_executor", |b| {
        let executor = LocalExecutor::new();
        b.iter_custom(|iterations| {
            let handle = handle.clone();
            async_io::block_on(executor.run(async move {
                let start = std::time::Instant::now();
                for _ in 0..iterations {
                    let value = handle.execute_fn(|| black_box(1_u64)).await;
                    black_box(value.expect("the job returns"));
                }
                start.elapsed()
            }))
        });
    });

    group.finish();
    drop(pool);
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
