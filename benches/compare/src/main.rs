//! Side-by-side workloads on reactree, kameo, ractor, actix and a floor of reactree's own
//! stack (async-executor + flume, no runtime around it). One process runs one peer and
//! one workload and prints one `RESULT` line; `run.sh` runs every pair several times as
//! fresh processes and writes the table.
//!
//! Usage: `reactree-compare <peer> <workload>`, with peer one of `reactree`, `floor`,
//! `kameo`, `ractor`, `actix`, `actix-off-main` (the spawns only: actix with its system
//! on a spawned thread, as reactree's reactors are, see [`off_main`]), and workload one
//! of:
//!
//! - `tell-1`, `tell-2`: one producer sends `TELL` small messages to one consumer (bounded
//!   1024 where the peer can bound, the producer awaiting room); messages/s until the
//!   consumer has handled the last. `-1`: both on one thread (one reactor, one arbiter,
//!   one current-thread runtime); `-2`: on two threads.
//! - `ask-1`, `ask-2`: `ASK` sequential request-reply round trips; round trips/s and the
//!   p50 / p99 of each round trip's latency. `ask-2-outside-poller` (reactree only):
//!   `ask-2` with the opt-in `IdlePolicy::ParkOutsidePoller`; `ask-2-spin` (reactree
//!   only): with the opt-in `IdlePolicy::Spin(50 µs)`, an idle reactor watching for a
//!   wake-up before it parks (any workload takes either suffix).
//! - `fanout8`: one producer gives each of `FANOUT` messages to 8 consumers spread over two
//!   threads; deliveries/s.
//! - `spawn`: start `SPAWN` idle actors, then stop them all; actors/s over both, the time
//!   per actor of each half, and the RSS (`/proc/self/status`) per live actor.
//! - `spawn-anonymous` (reactree only): `spawn` with each component deployed by
//!   `ChildSpec::anonymous`, named by its supervisor, as the peers' actors have no name
//!   (`spawn` makes a name for each, `idle-<i>`, and its supervisor claims it).
//! - `spawn-instances` (reactree only): the same as one deployment of `SPAWN` instances
//!   (`ChildSpec::instances`, Vert.x's `setInstances`), deployed and undeployed with one
//!   request each: what a component costs without a request of its own.
//! - `spawn-warm`, `spawn-anonymous-warm`, `spawn-instances-warm`: the same round run
//!   twice in one process, the
//!   second measured: what a process that has started and stopped actors before pays,
//!   its heap already grown (no page faults, no arena growth), as in a long-running
//!   service. The memory per actor is the first round's: the second reuses its pages.
//!
//! And two probes of the machine itself. `reactree-compare machine wake-ups` bounces a
//! turn between two threads that each park on their own futex (`std::thread::park`),
//! `ASK / 10` times, and reports the round trip's p50 / p99: two thread wake-ups, bare,
//! with no poller and no channel. `reactree-compare machine page-touch` writes one
//! byte to each page of a fresh 64 MiB allocation and reports the time per page: what the
//! kernel charges for each page a workload touches first (a fault, a zeroed page).

mod actix_peer;
mod floor;
mod kameo_peer;
mod ractor_peer;
mod reactree_peer;

use std::time::{Duration, Instant};

/// Messages per `tell` run.
const TELL: u64 = 2_000_000;
/// Round trips per `ask` run: half untimed for the rate, half timed one by one for the
/// percentiles.
const ASK: u64 = 200_000;
/// Messages per `fanout8` run (each delivered 8 times).
const FANOUT: u64 = 250_000;
/// Consumers of `fanout8`.
const CONSUMERS: usize = 8;
/// Actors per `spawn` run.
const SPAWN: usize = 10_000;
/// Mailbox bound where a peer has one.
const BOUND: usize = 1024;

/// Runs `peer` on a thread of its own rather than the process's main thread.
///
/// glibc's allocator gives the main thread the main arena, which grows by `brk` with
/// 128 KiB to spare; every other thread gets an arena of its own, which grows by one
/// `mprotect` for each page it needs, and never more. A peer whose actors are started
/// on the main thread (actix's `System::block_on`) has the cheaper growth; reactree's
/// reactors are always threads of their own. For a `spawn` of 10,000 actors that is
/// some 2,000 `mprotect` calls (`strace -f -c`).
fn off_main(peer: impl FnOnce() -> Option<Measured> + Send) -> Option<Measured> {
    std::thread::scope(|scope| scope.spawn(peer).join())
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// What one run measured.
#[derive(Debug, Default)]
struct Measured {
    /// How long the measured part took.
    elapsed: Duration,
    /// Operations in it (messages, round trips, deliveries, actors).
    operations: u64,
    /// Round-trip latencies (ask only).
    latencies: Vec<Duration>,
    /// RSS growth per live actor (spawn only).
    bytes_per_actor: Option<u64>,
    /// Time per actor to start them, then to stop them (spawn only).
    halves: Option<(Duration, Duration)>,
}

impl Measured {
    /// `operations` from `start` until now.
    fn since(start: Instant, operations: u64) -> Self {
        Self {
            elapsed: start.elapsed(),
            operations,
            ..Self::default()
        }
    }

    /// `SPAWN` actors started in `started` and stopped in `stopped`, each holding
    /// `bytes_per_actor` while alive.
    fn spawned(started: Duration, stopped: Duration, bytes_per_actor: u64) -> Self {
        let per_actor = |d: Duration| d / SPAWN as u32;
        Self {
            elapsed: started + stopped,
            operations: SPAWN as u64,
            latencies: Vec::new(),
            bytes_per_actor: Some(bytes_per_actor),
            halves: Some((per_actor(started), per_actor(stopped))),
        }
    }

    /// `second`, a spawn round run after this one in the same process, with this one's
    /// memory per actor: the second round reuses the pages the first grew, so its own
    /// growth says nothing about an actor's size.
    fn then(self, second: Measured) -> Self {
        Self {
            bytes_per_actor: self.bytes_per_actor,
            ..second
        }
    }
}

/// The resident set of this process, in bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// Whether a spawn workload runs its round twice and measures the second (`-warm`).
fn warm(workload: &str) -> bool {
    workload.ends_with("-warm")
}

/// Runs one spawn `round`, or for a `-warm` workload two in a row, measuring the second
/// (see [`Measured::then`]).
async fn spawn_rounds(workload: &str, mut round: impl AsyncFnMut() -> Measured) -> Measured {
    let first = round().await;
    if warm(workload) {
        first.then(round().await)
    } else {
        first
    }
}

/// Runs `ASK` round trips of `one`: the rate comes from the first half, with no clock
/// read between round trips (two reads of the clock per round trip cost about 50 ns
/// here, over 10% of a fast round trip, and would be measured as the peer's); the
/// p50 / p99 come from the second half, each round trip timed on its own.
async fn round_trips(mut one: impl AsyncFnMut(u64)) -> Measured {
    let half = ASK / 2;
    let start = Instant::now();
    for i in 0..half {
        one(i).await;
    }
    let elapsed = start.elapsed();
    let mut latencies = Vec::with_capacity(half as usize);
    for i in half..ASK {
        let at = Instant::now();
        one(i).await;
        latencies.push(at.elapsed());
    }
    Measured {
        elapsed,
        operations: half,
        latencies,
        bytes_per_actor: None,
        halves: None,
    }
}

/// The tokio runtime of the tokio-based peers: one thread for the `-1` placements, two
/// workers otherwise.
fn tokio_runtime(workload: &str) -> Option<tokio::runtime::Runtime> {
    if workload.ends_with("-1") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .ok()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(peer), Some(workload)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: reactree-compare <reactree|floor|kameo|ractor|actix> <tell-1|tell-2|ask-1|ask-2|fanout8|spawn|spawn-anonymous|spawn-instances>[-warm for the spawns], or reactree-compare machine <page-touch|wake-ups>"
        );
        std::process::exit(2);
    };
    if peer == "machine" && workload == "wake-ups" {
        let mut latencies = wake_ups();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_nanos();
        println!(
            "RESULT peer=machine workload=wake-ups p50_ns={} p99_ns={}",
            at(0.5),
            at(0.99)
        );
        return;
    }
    if peer == "machine" && workload == "page-touch" {
        println!(
            "RESULT peer=machine workload=page-touch ns_per_page={}",
            page_touch()
        );
        return;
    }
    let measured = match peer.as_str() {
        "reactree" => reactree_peer::run(workload),
        "floor" => floor::run(workload),
        "kameo" => kameo_peer::run(workload),
        "ractor" => ractor_peer::run(workload),
        "actix" => actix_peer::run(workload),
        "actix-off-main" if workload.starts_with("spawn") => off_main(|| actix_peer::run(workload)),
        _ => None,
    };
    let Some(mut measured) = measured else {
        println!("RESULT peer={peer} workload={workload} value=n/a");
        return;
    };
    let per_second = measured.operations as f64 / measured.elapsed.as_secs_f64();
    let mut line = format!("RESULT peer={peer} workload={workload} value={per_second:.0}");
    if !measured.latencies.is_empty() {
        measured.latencies.sort();
        let at = |q: f64| measured.latencies[((measured.latencies.len() - 1) as f64 * q) as usize];
        line += &format!(
            " p50_ns={} p99_ns={}",
            at(0.5).as_nanos(),
            at(0.99).as_nanos()
        );
    }
    if let Some(bytes) = measured.bytes_per_actor {
        line += &format!(" bytes_per_actor={bytes}");
    }
    if let Some((start, stop)) = measured.halves {
        line += &format!(
            " start_ns_per_actor={} stop_ns_per_actor={}",
            start.as_nanos(),
            stop.as_nanos()
        );
    }
    println!("{line}");
}

/// Round trips of a turn between this thread and another, each side parking on its own
/// futex until the turn is its: each round trip is two thread wake-ups and nothing else.
fn wake_ups() -> Vec<Duration> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let rounds = ASK / 10;
    // Odd: the other thread's turn; even: this one's.
    let turn = Arc::new(AtomicU64::new(0));
    let this = std::thread::current();
    let other = {
        let turn = turn.clone();
        std::thread::spawn(move || {
            for i in 0..rounds {
                while turn.load(Ordering::Acquire) != 2 * i + 1 {
                    std::thread::park();
                }
                turn.store(2 * i + 2, Ordering::Release);
                this.unpark();
            }
        })
    };
    let mut latencies = Vec::with_capacity(rounds as usize);
    for i in 0..rounds {
        let start = Instant::now();
        turn.store(2 * i + 1, Ordering::Release);
        other.thread().unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::thread::park();
        }
        latencies.push(start.elapsed());
    }
    let _ = other.join();
    latencies
}

/// Nanoseconds per page to write one byte to each page of a fresh 64 MiB allocation: a
/// zeroed allocation that large is mapped fresh and left untouched by the allocator, so
/// each first write is a page fault and a page zeroed by the kernel.
fn page_touch() -> u128 {
    const SIZE: usize = 64 << 20;
    const PAGE: usize = 4096;
    let mut fresh = vec![0u8; SIZE];
    let start = Instant::now();
    for at in (0..SIZE).step_by(PAGE) {
        fresh[at] = 1;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(&fresh);
    elapsed.as_nanos() / (SIZE / PAGE) as u128
}
