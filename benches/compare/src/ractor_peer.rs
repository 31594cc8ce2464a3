//! ractor 0.16: actors are tokio tasks. `-1`: a current-thread tokio runtime; `-2`,
//! `fanout8` and `spawn`: a multi-thread runtime with 2 workers. Its mailboxes are
//! unbounded (`cast` never waits); a request is `call` with an `RpcReplyPort`.

use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::{CONSUMERS, FANOUT, Measured, SPAWN, TELL, rss};

enum Msg {
    Tick(u64),
    Ping(u64, RpcReplyPort<u64>),
}

struct Sink;

impl Actor for Sink {
    type Msg = Msg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<Msg>, (): ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<Msg>,
        msg: Msg,
        sum: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Tick(n) => *sum = sum.wrapping_add(n),
            Msg::Ping(n, reply) => {
                let _ = reply.send(n);
            }
        }
        Ok(())
    }
}

struct Idle;

impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

async fn ping(actor: &ActorRef<Msg>, n: u64) {
    let _ = actor.call(|reply| Msg::Ping(n, reply), None).await;
}

pub(crate) fn run(workload: &str) -> Option<Measured> {
    let runtime = crate::tokio_runtime(workload)?;
    runtime.block_on(async {
        Some(match workload {
            "tell-1" | "tell-2" => {
                let (actor, _) = Actor::spawn(None, Sink, ()).await.ok()?;
                let start = Instant::now();
                for i in 0..TELL {
                    let _ = actor.cast(Msg::Tick(i));
                }
                ping(&actor, 0).await;
                Measured::since(start, TELL)
            }
            "ask-1" | "ask-2" => {
                let (actor, _) = Actor::spawn(None, Sink, ()).await.ok()?;
                crate::round_trips(|i| {
                    let actor = actor.clone();
                    async move { ping(&actor, i).await }
                })
                .await
            }
            "fanout8" => {
                let mut sinks = Vec::new();
                for _ in 0..CONSUMERS {
                    sinks.push(Actor::spawn(None, Sink, ()).await.ok()?.0);
                }
                let start = Instant::now();
                for _ in 0..FANOUT {
                    for actor in &sinks {
                        let _ = actor.cast(Msg::Tick(1));
                    }
                }
                for actor in &sinks {
                    ping(actor, 0).await;
                }
                Measured::since(start, FANOUT * CONSUMERS as u64)
            }
            "spawn" | "spawn-warm" => {
                let first = spawn().await?;
                if crate::warm(workload) {
                    first.then(spawn().await?)
                } else {
                    first
                }
            }
            _ => return None,
        })
    })
}

/// Spawns `SPAWN` idle actors, then stops them all and waits for each to end; `None`
/// if one fails to spawn.
async fn spawn() -> Option<Measured> {
    let before = rss();
    let start = Instant::now();
    let mut actors = Vec::with_capacity(SPAWN);
    for _ in 0..SPAWN {
        actors.push(Actor::spawn(None, Idle, ()).await.ok()?);
    }
    let started = start.elapsed();
    let per_actor = rss().saturating_sub(before) / SPAWN as u64;
    let start = Instant::now();
    for (actor, _) in &actors {
        actor.stop(None);
    }
    for (_, handle) in actors {
        let _ = handle.await;
    }
    Some(Measured::spawned(started, start.elapsed(), per_actor))
}
