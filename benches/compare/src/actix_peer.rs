//! actix 0.13: actors on arbiters (one thread each, a current-thread tokio runtime). A
//! tell is `do_send`, which ignores the mailbox bound (actix has no awaiting one-way
//! send), so the tell is unbounded. `-1`: producer and actors on the system arbiter;
//! `-2`: the actors on a second arbiter.

use std::time::Instant;

use actix::prelude::*;

use crate::{CONSUMERS, FANOUT, Measured, SPAWN, TELL, rss};

struct Sink(u64);
impl Actor for Sink {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Tick(u64);

#[derive(Message)]
#[rtype(result = "u64")]
struct Ping(u64);

impl Handler<Tick> for Sink {
    type Result = ();
    fn handle(&mut self, Tick(n): Tick, _: &mut Context<Self>) {
        self.0 = self.0.wrapping_add(n);
    }
}

impl Handler<Ping> for Sink {
    type Result = u64;
    fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self>) -> u64 {
        n
    }
}

/// Stops itself on `Quit`, and says so on `stopped`.
struct Idle(flume::Sender<()>);
impl Actor for Idle {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        let _ = self.0.send(());
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Quit;

impl Handler<Quit> for Idle {
    type Result = ();
    fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

fn sink(remote: Option<&Arbiter>) -> Addr<Sink> {
    match remote {
        Some(arbiter) => Sink::start_in_arbiter(&arbiter.handle(), |_| Sink(0)),
        None => Sink(0).start(),
    }
}

pub(crate) fn run(workload: &str) -> Option<Measured> {
    let system = System::new();
    let remote = Arbiter::new();
    let two = workload.ends_with("-2");
    let measured = system.block_on(async {
        Some(match workload {
            "tell-1" | "tell-2" => {
                let addr = sink(two.then_some(&remote));
                let start = Instant::now();
                for i in 0..TELL {
                    addr.do_send(Tick(i));
                }
                let _ = addr.send(Ping(0)).await;
                Measured::since(start, TELL)
            }
            "ask-1" | "ask-2" => {
                let addr = sink(two.then_some(&remote));
                crate::round_trips(|i| {
                    let addr = addr.clone();
                    async move {
                        let _ = addr.send(Ping(i)).await;
                    }
                })
                .await
            }
            "fanout8" => {
                let sinks: Vec<Addr<Sink>> = (0..CONSUMERS)
                    .map(|i| sink((i % 2 == 1).then_some(&remote)))
                    .collect();
                let start = Instant::now();
                for _ in 0..FANOUT {
                    for addr in &sinks {
                        addr.do_send(Tick(1));
                    }
                }
                for addr in &sinks {
                    let _ = addr.send(Ping(0)).await;
                }
                Measured::since(start, FANOUT * CONSUMERS as u64)
            }
            "spawn" | "spawn-warm" => crate::spawn_rounds(workload, spawn).await,
            _ => return None,
        })
    });
    remote.stop();
    measured
}

/// Starts `SPAWN` idle actors on this arbiter, then tells each to stop and waits until
/// every one has said it stopped.
async fn spawn() -> Measured {
    let (stopped, all_stopped) = flume::unbounded();
    let before = rss();
    let start = Instant::now();
    let actors: Vec<Addr<Idle>> = (0..SPAWN).map(|_| Idle(stopped.clone()).start()).collect();
    // Started once each answers (they start on this arbiter, in order).
    actix_rt::task::yield_now().await;
    let started = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    for addr in &actors {
        addr.do_send(Quit);
    }
    for _ in 0..SPAWN {
        let _ = all_stopped.recv_async().await;
    }
    Measured::spawned(started, start.elapsed(), per_actor)
}
