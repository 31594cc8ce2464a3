//! A job runs on a worker thread (named `reactree-worker-{pool}-{n}`), and the task that
//! awaits it resumes on its own thread: a component awaiting `execute_blocking` on its
//! reactor continues on that reactor, never on the worker.

use std::thread;

use async_executor::LocalExecutor;
use reactree::{PoolConfig, WorkerPool};

#[test]
fn job_runs_on_a_worker_and_the_awaiting_task_resumes_on_its_reactor() {
    let pool = WorkerPool::new(PoolConfig::new().name("affinity").threads(2)).unwrap();
    let handle = pool.handle();
    let reactor = thread::Builder::new()
        .name("stand-in-reactor".into())
        .spawn(move || {
            let executor = LocalExecutor::new();
            let reactor_id = thread::current().id();
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let handle = handle.clone();
                    executor.spawn(async move {
                        assert_eq!(thread::current().id(), reactor_id);
                        let (name, id) = handle
                            .execute_fn(move || {
                                let me = thread::current();
                                (me.name().map(String::from), me.id())
                            })
                            .await
                            .expect("the job returns");
                        let resumed_on = thread::current().id();
                        (i, name, id, resumed_on)
                    })
                })
                .collect();
            let results = async_io::block_on(executor.run(async {
                let mut results = Vec::new();
                for task in tasks {
                    results.push(task.await);
                }
                results
            }));
            (reactor_id, results)
        })
        .unwrap();
    let (reactor_id, results) = reactor.join().expect("the reactor thread ends cleanly");
    assert_eq!(results.len(), 8);
    for (i, worker_name, worker_id, resumed_on) in results {
        let worker_name = worker_name.expect("worker threads are named");
        assert!(
            worker_name.starts_with("reactree-worker-affinity-"),
            "job {i} ran on {worker_name:?}"
        );
        assert_ne!(worker_id, reactor_id, "job {i} ran on the reactor");
        assert_eq!(resumed_on, reactor_id, "task {i} resumed off its reactor");
    }
}

#[test]
fn handles_work_from_main_and_from_plain_threads() {
    let pool = WorkerPool::new(PoolConfig::new().threads(2)).unwrap();
    let from_main = futures_lite::future::block_on(pool.handle().execute_fn(|| 1)).unwrap();
    let handle = pool.handle();
    let from_thread = thread::spawn(move || {
        futures_lite::future::block_on(handle.execute(|token| !token.is_cancelled()))
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!((from_main, from_thread), (1, true));
}
