//! The blocked-thread watchdog: one thread per runtime that notices a reactor stuck in
//! one poll of user code, or a worker stuck in one job, for longer than a threshold.
//!
//! Each reactor has a [`Probe`]: before every poll of user code (a factory, `start`,
//! `stop`, a handler, a timer callback) the reactor bumps the probe's sequence number and
//! marks it busy with the instance's key and the hook; after the poll it marks it idle.
//! That is a handful of relaxed stores per poll and no clock read, so the hot path does not pay
//! for the watchdog. The watchdog thread wakes every check interval; a probe that is busy
//! with the same sequence number as at its previous look has been stuck in one poll since
//! at least then. Awaiting is not blocking: a handler that awaits a timer or a reply
//! yields between polls and is never reported.
//!
//! Invariant: the watchdog only reads probes and counters and writes warnings; it never
//! blocks a reactor, and it takes the deployments lock only to name a blocked component.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::failure::Hook;
use crate::reactor::Deferred;
use crate::worker::PoolHandle;

/// The default time one poll of user code may hold a reactor before it is reported.
pub const DEFAULT_BLOCKED_THRESHOLD: Duration = Duration::from_secs(2);

/// The longest interval between two looks of the watchdog.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// Where one reactor is: which instance's code it runs, if any.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    sequence: AtomicU64,
    busy: AtomicBool,
    key: AtomicU64,
    hook: AtomicU8,
    blocked_events: AtomicU64,
    longest_block_micros: AtomicU64,
    busy_micros: AtomicU64,
    /// The wake-ups of other reactors the running task left for the end of its poll:
    /// sent from here when the poll holds the thread.
    deferred: OnceLock<Arc<Deferred>>,
}

/// Marks its probe idle when dropped, also when the poll unwinds.
pub(crate) struct Busy<'a>(&'a Probe);

impl Drop for Busy<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

impl Probe {
    /// Watches the deferred wake-ups of the reactor this probe is for.
    pub(crate) fn watch_deferred(&self, deferred: Arc<Deferred>) {
        let _ = self.deferred.set(deferred);
    }

    /// Marks the reactor busy with `hook` of instance `key` until the guard drops.
    #[inline]
    pub(crate) fn enter(&self, key: u64, hook: Hook) -> Busy<'_> {
        self.mark(key, hook_code(hook));
        Busy(self)
    }

    /// Marks the reactor busy with hook code `hook` of instance `key`, as a new poll.
    #[inline]
    fn mark(&self, key: u64, hook: u8) {
        // Single writer: a plain load and store, no read-modify-write.
        let next = self.sequence.load(Ordering::Relaxed).wrapping_add(1);
        self.sequence.store(next, Ordering::Relaxed);
        self.key.store(key, Ordering::Relaxed);
        self.hook.store(hook, Ordering::Relaxed);
        self.busy.store(true, Ordering::Release);
    }

    /// Runs `f` with the probe idle, then marks it busy again with what it was busy
    /// with (as a new poll, so the watchdog counts the time from there): for runtime
    /// work done inside a poll of user code (a deploy run at once on the reactor), which
    /// is not the instance's, and may itself enter and leave the probe.
    pub(crate) fn outside<R>(&self, f: impl FnOnce() -> R) -> R {
        if !self.busy.load(Ordering::Relaxed) {
            return f();
        }
        let (key, hook) = (
            self.key.load(Ordering::Relaxed),
            self.hook.load(Ordering::Relaxed),
        );
        self.busy.store(false, Ordering::Release);
        // Marks it busy again even if `f` unwinds: the guard of the poll around it
        // still has to find it busy, and clear it.
        struct Resume<'a>(&'a Probe, u64, u8);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.mark(self.1, self.2);
            }
        }
        let _resume = Resume(self, key, hook);
        f()
    }

    /// Blocked episodes seen on this reactor.
    pub(crate) fn blocked_events(&self) -> u64 {
        self.blocked_events.load(Ordering::Relaxed)
    }

    /// Time in component code, sampled: one check interval per look that found it busy.
    pub(crate) fn busy(&self) -> Duration {
        Duration::from_micros(self.busy_micros.load(Ordering::Relaxed))
    }

    /// The longest block seen on this reactor.
    pub(crate) fn longest_block(&self) -> Duration {
        Duration::from_micros(self.longest_block_micros.load(Ordering::Relaxed))
    }

    fn snapshot(&self) -> Option<(u64, u64, Hook)> {
        if !self.busy.load(Ordering::Acquire) {
            return None;
        }
        let sequence = self.sequence.load(Ordering::Relaxed);
        let key = self.key.load(Ordering::Relaxed);
        Some((sequence, key, hook_from(self.hook.load(Ordering::Relaxed))))
    }
}

#[inline]
fn hook_code(hook: Hook) -> u8 {
    match hook {
        Hook::Factory => 0,
        Hook::Start => 1,
        Hook::Handler => 2,
        Hook::Timer => 3,
        Hook::Stop => 4,
        Hook::Task => 5,
        _ => 6,
    }
}

fn hook_from(code: u8) -> Hook {
    match code {
        0 => Hook::Factory,
        1 => Hook::Start,
        2 => Hook::Handler,
        3 => Hook::Timer,
        4 => Hook::Stop,
        5 => Hook::Task,
        _ => Hook::Supervisor,
    }
}

/// Names a blocked instance and counts the block against it.
pub(crate) trait Directory: Send + Sync + 'static {
    /// The deployment name of instance `key`, after counting one blocked episode on it.
    fn blocked(&self, key: u64) -> Option<String>;

    /// Tells the lifecycle event stream about a block.
    fn emit_blocked(&self, reactor: usize, component: &str, blocked_for: Duration);
}

/// What the watchdog watches.
pub(crate) struct Watched {
    pub(crate) probes: Vec<Arc<Probe>>,
    pub(crate) pools: Vec<PoolHandle>,
    pub(crate) threshold: Duration,
    pub(crate) directory: Arc<dyn Directory>,
}

/// The watchdog thread; dropping the returned sender stops it.
pub(crate) fn spawn(watched: Watched) -> std::io::Result<(flume::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = flume::bounded::<()>(1);
    let interval = (watched.threshold / 4).clamp(Duration::from_millis(1), MAX_INTERVAL);
    let thread = thread::Builder::new()
        .name("reactree-watchdog".into())
        .spawn(move || {
            let mut seen: Vec<Option<Sighting>> = vec![None; watched.probes.len()];
            while let Err(flume::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let now = Instant::now();
                let step = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
                for (index, probe) in watched.probes.iter().enumerate() {
                    if probe.busy.load(Ordering::Relaxed) {
                        probe.busy_micros.fetch_add(step, Ordering::Relaxed);
                    }
                    look(index, probe, &mut seen[index], &watched, now);
                }
                for pool in &watched.pools {
                    overdue(pool, now);
                }
            }
        })?;
    Ok((stop, thread))
}

/// A busy probe as first seen; `component` is filled in at its first report.
#[derive(Debug, Clone)]
struct Sighting {
    sequence: u64,
    since: Instant,
    component: Option<String>,
}

fn look(index: usize, probe: &Probe, seen: &mut Option<Sighting>, watched: &Watched, now: Instant) {
    let Some((sequence, key, hook)) = probe.snapshot() else {
        *seen = None;
        return;
    };
    let sighting = match seen {
        Some(s) if s.sequence == sequence => {
            // The same poll since the last look at least: the wake-ups it left for its
            // end go now.
            if let Some(deferred) = probe.deferred.get() {
                deferred.flush();
            }
            s
        }
        _ => {
            *seen = Some(Sighting {
                sequence,
                since: now,
                component: None,
            });
            return;
        }
    };
    let blocked_for = now.saturating_duration_since(sighting.since);
    if blocked_for < watched.threshold {
        return;
    }
    let micros = u64::try_from(blocked_for.as_micros()).unwrap_or(u64::MAX);
    probe
        .longest_block_micros
        .fetch_max(micros, Ordering::Relaxed);
    let component = sighting.component.get_or_insert_with(|| {
        probe.blocked_events.fetch_add(1, Ordering::Relaxed);
        let name = watched
            .directory
            .blocked(key)
            .unwrap_or_else(|| "(gone)".to_owned());
        watched.directory.emit_blocked(index, &name, blocked_for);
        name
    });
    tracing::warn!(
        reactor = index,
        thread = %format_args!("reactree-reactor-{index}"),
        component = %component,
        instance_key = key,
        running = %hook,
        ?blocked_for,
        "reactor.blocked: a component has held its reactor past the blocked threshold; move blocking work to execute_blocking",
    );
}

fn overdue(pool: &PoolHandle, now: Instant) {
    for job in pool.overdue_jobs(now) {
        tracing::warn!(
            pool = pool.name(),
            thread = %pool.thread_name(job.worker),
            running_for = ?job.running_for,
            "worker.long_job: a job has run past its pool's long-job threshold",
        );
    }
}
