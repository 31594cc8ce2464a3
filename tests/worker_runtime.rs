//! The worker pools of a runtime: `ctx.execute_blocking` runs the job on a worker thread
//! and resumes on the component's reactor; named pools; ordered mode through the context;
//! pools reachable from outside; typed build errors; shutdown with jobs in flight
//! (issue: worker pools and the blocked-reactor watchdog).

#[path = "support/common.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use reactree::prelude::*;
use reactree::{BuildError, JobError, PoolConfig, PoolConfigError};

/// Asks the worker component to run a blocking job; replies with the threads it saw.
struct Offload {
    ordered: bool,
    pool: Option<&'static str>,
    count: u32,
}
impl Message for Offload {
    type Reply = Vec<String>;
}

const OFFLOAD: Address<Offload> = Address::new("workers.offload");

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

struct Offloader {
    order: Arc<Mutex<Vec<u32>>>,
}
impl Component for Offloader {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&OFFLOAD)?;
        Ok(())
    }
}
impl Handler<Offload> for Offloader {
    async fn handle(&mut self, job: Offload, ctx: &mut Context<Self>) -> Vec<String> {
        let mut seen = vec![thread_name()];
        if job.ordered {
            let mut futures = Vec::new();
            for i in 0..job.count {
                let order = self.order.clone();
                futures.push(ctx.execute_blocking_ordered(move |_| {
                    // Jittered work: a plain pool would finish these out of order.
                    std::thread::sleep(Duration::from_micros(u64::from((i * 37) % 200)));
                    order.lock().unwrap().push(i);
                }));
            }
            for f in futures {
                f.await.unwrap();
            }
        } else {
            let worker = match job.pool {
                Some(name) => ctx
                    .pool(name)
                    .expect("declared pool")
                    .execute(|_| thread_name()),
                None => ctx.execute_blocking(|_| thread_name()),
            };
            seen.push(worker.await.unwrap());
        }
        seen.push(thread_name());
        seen
    }
}

fn deploy(runtime: &Runtime, reactor: usize) -> Arc<Mutex<Vec<u32>>> {
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    runtime
        .block_on(runtime.deploy(
            ChildSpec::new("offloader", move || Offloader { order: o.clone() }).reactor(reactor),
        ))
        .unwrap();
    order
}

#[test]
fn the_job_runs_on_a_worker_and_the_handler_resumes_on_its_reactor() {
    let runtime = runtime(2);
    deploy(&runtime, 1);
    let seen = runtime
        .block_on(runtime.bus().request(
            &OFFLOAD,
            Offload {
                ordered: false,
                pool: None,
                count: 1,
            },
        ))
        .unwrap();
    assert_eq!(seen[0], "reactree-reactor-1");
    assert!(seen[1].starts_with("reactree-worker-default-"), "{seen:?}");
    assert_eq!(seen[2], "reactree-reactor-1");
}

#[test]
fn named_pools_have_their_own_threads_and_are_usable_from_outside() {
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(PoolConfig::new().threads(1))
        .named_pool(PoolConfig::new().name("files").threads(2).queue_capacity(8))
        .build()
        .unwrap();
    deploy(&runtime, 0);
    let seen = runtime
        .block_on(runtime.bus().request(
            &OFFLOAD,
            Offload {
                ordered: false,
                pool: Some("files"),
                count: 1,
            },
        ))
        .unwrap();
    assert!(seen[1].starts_with("reactree-worker-files-"), "{seen:?}");
    // From main, through the handle.
    let pool = runtime.handle().pool("files").unwrap().clone();
    let answer = runtime.block_on(pool.execute_fn(|| 6 * 7)).unwrap();
    assert_eq!(answer, 42);
    assert_eq!(pool.stats().threads, 2);
    assert!(runtime.handle().pool("nope").is_none());
    assert_eq!(runtime.handle().worker_pool().name(), "default");
}

#[test]
fn ordered_jobs_of_a_component_keep_their_order_on_four_threads() {
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(PoolConfig::new().threads(4))
        .build()
        .unwrap();
    let order = deploy(&runtime, 0);
    runtime
        .block_on(runtime.bus().request(
            &OFFLOAD,
            Offload {
                ordered: true,
                pool: None,
                count: 200,
            },
        ))
        .unwrap();
    assert_eq!(*order.lock().unwrap(), (0..200).collect::<Vec<_>>());
}

#[test]
fn invalid_pools_are_build_errors() {
    let error = Runtime::builder()
        .named_pool(PoolConfig::new().name("io"))
        .named_pool(PoolConfig::new().name("io"))
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::DuplicatePool(name) if name == "io"));
    let error = Runtime::builder()
        .named_pool(PoolConfig::new().name("default"))
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::DuplicatePool(_)));
    let error = Runtime::builder()
        .worker_pool(PoolConfig::new().threads(0))
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        BuildError::Pool(PoolConfigError::ZeroThreads)
    ));
    let error = Runtime::builder()
        .blocked_threshold(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::ZeroBlockedThreshold));
}

struct Waiter;
impl Message for Waiter {
    type Reply = Result<u32, JobError>;
}
struct Patient {
    seen_cancel: Arc<Mutex<bool>>,
}
impl Component for Patient {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Waiter>::new("workers.patient"))?;
        Ok(())
    }
}
impl Handler<Waiter> for Patient {
    async fn handle(&mut self, _: Waiter, ctx: &mut Context<Self>) -> Result<u32, JobError> {
        let seen = self.seen_cancel.clone();
        ctx.execute_blocking(move |token| {
            while !token.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            *seen.lock().unwrap() = true;
            1
        })
        .await
    }
}

#[test]
fn shutdown_cancels_a_components_running_job_through_its_token() {
    let seen = Arc::new(Mutex::new(false));
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(PoolConfig::new().threads(1))
        .build()
        .unwrap();
    let s = seen.clone();
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("patient", move || Patient {
                    seen_cancel: s.clone(),
                })
                .shutdown_timeout(Duration::from_millis(20)),
            ),
        )
        .unwrap();
    let bus = runtime.bus().clone();
    let waiting = std::thread::spawn(move || {
        async_io::block_on(bus.request(&Address::<Waiter>::new("workers.patient"), Waiter))
    });
    let pool = runtime.handle().worker_pool().clone();
    assert!(eventually(GENEROUS, || pool.stats().active == 1));
    runtime.shutdown();
    assert!(*seen.lock().unwrap(), "the running job saw its token");
    assert!(waiting.join().unwrap().unwrap_err().is_recipient_failure());
}

#[test]
fn shutdown_settles_queued_jobs_and_cancels_running_ones() {
    let runtime = Runtime::builder()
        .reactors(1)
        .worker_pool(PoolConfig::new().threads(1))
        .build()
        .unwrap();
    let pool = runtime.handle().worker_pool().clone();
    let running = pool.execute(|token| {
        while !token.is_cancelled() {
            std::thread::sleep(Duration::from_millis(1));
        }
        "saw the token"
    });
    assert!(eventually(GENEROUS, || pool.stats().active == 1));
    let queued = pool.execute_fn(|| "ran after all");
    runtime.shutdown();
    assert_eq!(async_io::block_on(running).unwrap(), "saw the token");
    assert!(matches!(
        async_io::block_on(queued),
        Err(JobError::ShutDown)
    ));
    assert!(pool.is_shut_down());
}
