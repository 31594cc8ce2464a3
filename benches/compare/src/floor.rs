//! The floor of reactree's own stack: `async-executor` local executors under
//! `async_io::block_on` on one or two threads, exchanging `u64`s over bounded (1024)
//! `flume` channels, with no envelopes, no bus and no runtime around them. A reply is a
//! fresh `flume::bounded(1)` per round trip.

use std::thread;
use std::time::Instant;

use async_executor::LocalExecutor;

use crate::{BOUND, CONSUMERS, FANOUT, Measured, SPAWN, TELL, rss};

/// Runs `future` on a fresh local executor on this thread.
fn local<T>(future: impl std::future::Future<Output = T>) -> T {
    let executor = LocalExecutor::new();
    async_io::block_on(executor.run(future))
}

fn consume(rx: flume::Receiver<u64>, n: u64) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        local(async move {
            let mut sum = 0_u64;
            for _ in 0..n {
                sum = sum.wrapping_add(rx.recv_async().await.unwrap_or(0));
            }
            sum
        })
    })
}

pub(crate) fn run(workload: &str) -> Option<Measured> {
    Some(match workload {
        "tell-1" => {
            let executor = LocalExecutor::new();
            let (tx, rx) = flume::bounded::<u64>(BOUND);
            let start = Instant::now();
            async_io::block_on(executor.run(async {
                let consumer = executor.spawn(async move {
                    for _ in 0..TELL {
                        let _ = rx.recv_async().await;
                    }
                });
                for i in 0..TELL {
                    let _ = tx.send_async(i).await;
                }
                consumer.await;
            }));
            Measured::since(start, TELL)
        }
        "tell-2" => {
            let (tx, rx) = flume::bounded::<u64>(BOUND);
            let start = Instant::now();
            let consumer = consume(rx, TELL);
            local(async move {
                for i in 0..TELL {
                    let _ = tx.send_async(i).await;
                }
            });
            let _ = consumer.join();
            Measured::since(start, TELL)
        }
        "ask-1" => {
            let executor = LocalExecutor::new();
            let (tx, rx) = flume::bounded::<(u64, flume::Sender<u64>)>(BOUND);
            async_io::block_on(executor.run(async {
                executor
                    .spawn(async move {
                        while let Ok((n, reply)) = rx.recv_async().await {
                            let _ = reply.send(n);
                        }
                    })
                    .detach();
                crate::round_trips(|i| {
                    let tx = tx.clone();
                    async move {
                        let (reply, answer) = flume::bounded(1);
                        let _ = tx.send_async((i, reply)).await;
                        let _ = answer.recv_async().await;
                    }
                })
                .await
            }))
        }
        "ask-2" => {
            let (tx, rx) = flume::bounded::<(u64, flume::Sender<u64>)>(BOUND);
            let echo = thread::spawn(move || {
                local(async move {
                    while let Ok((n, reply)) = rx.recv_async().await {
                        let _ = reply.send(n);
                    }
                });
            });
            let measured = local(crate::round_trips(|i| {
                let tx = tx.clone();
                async move {
                    let (reply, answer) = flume::bounded(1);
                    let _ = tx.send_async((i, reply)).await;
                    let _ = answer.recv_async().await;
                }
            }));
            drop(tx);
            let _ = echo.join();
            measured
        }
        "fanout8" => {
            // Consumers spread over two threads as in reactree's case: four on this one
            // (beside the producer), four on another.
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..CONSUMERS).map(|_| flume::bounded::<u64>(BOUND)).unzip();
            let mut receivers = receivers.into_iter();
            let here: Vec<_> = receivers.by_ref().take(CONSUMERS / 2).collect();
            let there: Vec<_> = receivers.collect();
            let start = Instant::now();
            let other = thread::spawn(move || {
                let executor = LocalExecutor::new();
                async_io::block_on(executor.run(async {
                    let tasks: Vec<_> = there
                        .into_iter()
                        .map(|rx| {
                            executor.spawn(async move {
                                for _ in 0..FANOUT {
                                    let _ = rx.recv_async().await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await;
                    }
                }));
            });
            let executor = LocalExecutor::new();
            async_io::block_on(executor.run(async {
                let tasks: Vec<_> = here
                    .into_iter()
                    .map(|rx| {
                        executor.spawn(async move {
                            for _ in 0..FANOUT {
                                let _ = rx.recv_async().await;
                            }
                        })
                    })
                    .collect();
                for i in 0..FANOUT {
                    for tx in &senders {
                        let _ = tx.send_async(i).await;
                    }
                }
                for task in tasks {
                    task.await;
                }
            }));
            let _ = other.join();
            Measured::since(start, FANOUT * CONSUMERS as u64)
        }
        "spawn" | "spawn-warm" => {
            let first = spawn();
            if crate::warm(workload) {
                first.then(spawn())
            } else {
                first
            }
        }
        _ => return None,
    })
}

/// Spawns `SPAWN` tasks on a fresh local executor, each waiting on its own channel, lets
/// each start, then closes every channel and waits for each task to end.
fn spawn() -> Measured {
    let executor = LocalExecutor::new();
    let before = rss();
    let start = Instant::now();
    let mut mailboxes = Vec::with_capacity(SPAWN);
    let mut tasks = Vec::with_capacity(SPAWN);
    for _ in 0..SPAWN {
        let (tx, rx) = flume::bounded::<u64>(BOUND);
        tasks.push(executor.spawn(async move { while rx.recv_async().await.is_ok() {} }));
        mailboxes.push(tx);
    }
    // Let every task start and wait on its mailbox.
    while executor.try_tick() {}
    let started = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    drop(mailboxes);
    async_io::block_on(executor.run(async {
        for task in tasks {
            task.await;
        }
    }));
    Measured::spawned(started, start.elapsed(), per_actor)
}
