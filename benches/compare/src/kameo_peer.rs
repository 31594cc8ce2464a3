//! kameo 0.22: actors are tokio tasks. `-1`: a current-thread tokio runtime (everything
//! on one thread); `-2`, `fanout8` and `spawn`: a multi-thread runtime with 2 workers
//! (tasks may move between them). Mailboxes bounded at 1024; a tell awaits room.

use std::time::Instant;

use kameo::Actor;
use kameo::actor::{ActorRef, Spawn};
use kameo::message::{Context, Message};

use crate::{BOUND, CONSUMERS, FANOUT, Measured, SPAWN, TELL, rss};

#[derive(Actor)]
struct Sink {
    sum: u64,
}

struct Tick(u64);
struct Ping(u64);

impl Message<Tick> for Sink {
    type Reply = ();
    async fn handle(&mut self, Tick(n): Tick, _: &mut Context<Self, Self::Reply>) {
        self.sum = self.sum.wrapping_add(n);
    }
}

impl Message<Ping> for Sink {
    type Reply = u64;
    async fn handle(&mut self, Ping(n): Ping, _: &mut Context<Self, Self::Reply>) -> u64 {
        n
    }
}

#[derive(Actor)]
struct Idle;

fn sink() -> ActorRef<Sink> {
    Sink::spawn_with_mailbox(Sink { sum: 0 }, kameo::mailbox::bounded(BOUND))
}

pub(crate) fn run(workload: &str) -> Option<Measured> {
    let runtime = crate::tokio_runtime(workload)?;
    runtime.block_on(async {
        Some(match workload {
            "tell-1" | "tell-2" => {
                let actor = sink();
                let start = Instant::now();
                for i in 0..TELL {
                    let _ = actor.tell(Tick(i)).await;
                }
                let _ = actor.ask(Ping(0)).await;
                Measured::since(start, TELL)
            }
            "ask-1" | "ask-2" => {
                let actor = sink();
                crate::round_trips(|i| {
                    let actor = actor.clone();
                    async move {
                        let _ = actor.ask(Ping(i)).await;
                    }
                })
                .await
            }
            "fanout8" => {
                let sinks: Vec<ActorRef<Sink>> = (0..CONSUMERS).map(|_| sink()).collect();
                let start = Instant::now();
                for _ in 0..FANOUT {
                    for actor in &sinks {
                        let _ = actor.tell(Tick(1)).await;
                    }
                }
                for actor in &sinks {
                    let _ = actor.ask(Ping(0)).await;
                }
                Measured::since(start, FANOUT * CONSUMERS as u64)
            }
            "spawn" | "spawn-warm" => crate::spawn_rounds(workload, spawn).await,
            _ => return None,
        })
    })
}

/// Spawns `SPAWN` idle actors, then stops them all and waits for each to end.
async fn spawn() -> Measured {
    let before = rss();
    let start = Instant::now();
    let actors: Vec<ActorRef<Idle>> = (0..SPAWN).map(|_| Idle::spawn(Idle)).collect();
    let started = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    for actor in &actors {
        let _ = actor.stop_gracefully().await;
    }
    for actor in &actors {
        actor.wait_for_shutdown().await;
    }
    Measured::spawned(started, start.elapsed(), per_actor)
}
