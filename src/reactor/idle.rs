//! The reactor's idle policy: park at once (the default), park outside the I/O poller,
//! or spin briefly first.
//!
//! A reactor with nothing to run parks its thread in `async_io::block_on`, and a message
//! from another thread wakes it through the OS, which costs microseconds on each side.
//! There, an idle thread that finds async-io's poller free waits in it (in `epoll`),
//! and a wake-up must then go through the poller (an `eventfd` write), dearer than
//! waking a thread parked on its own futex. With [`IdlePolicy::ParkOutsidePoller`] a
//! reactor always parks on its own futex and leaves the poller (timers, I/O) to
//! async-io's thread: a message from another reactor is one futex wake, a timer or an
//! I/O event one more hop. With [`IdlePolicy::Spin`] an idle reactor first watches for a
//! wake-up for the given time, burning its core meanwhile, and only then parks: a reply
//! that comes back within the spin is picked up without any OS wake-up, and without the
//! parker: the waker raises a flag the watching thread sees, and the thread polls again
//! in place. The cost is CPU: while traffic flows, each reactor keeps its core busy; a
//! quiet reactor spins once per wake-up and then sleeps.
//!
//! Invariants: spinning never delays work. It only postpones the moment the reactor
//! hands its thread back to the parker, and ends as soon as anything wakes the reactor.
//! A wake-up is never lost between the watch and the parker: the waker skips the parker
//! only while the watch is on, and the watcher looks at the flag again after turning
//! the watch off (both sequentially consistent). After [`IN_PLACE`] wake-ups taken in
//! place, the thread goes back through `block_on` once, so async-io's poller is still
//! looked at under steady traffic.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// What a reactor does when it has nothing to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdlePolicy {
    /// Park the thread at once (the default): no CPU while idle. The thread parks in
    /// `async_io::block_on`, waiting in async-io's poller when no other thread does, so
    /// its own timers and I/O wake it directly.
    #[default]
    Park,
    /// Park the thread at once, always on its own futex, never in async-io's poller:
    /// no CPU while idle, and a message from another reactor wakes it with one futex
    /// wake instead of, at times, a wake-up through the poller (here, request-reply
    /// across two reactors p50 16.4 µs instead of 18.6 µs). Timers and I/O readiness
    /// reach it through async-io's own thread, one hop more (here, a 1 ms timer fired
    /// some 5 µs later at the median, and a TCP echo served by a task on the reactor
    /// took 34–37 µs instead of 28–33 µs): for reactors that pass messages rather than
    /// serve I/O.
    ParkOutsidePoller,
    /// Watch for a wake-up for up to this long before parking. Cuts the latency of
    /// request-reply across reactors to well under the OS's wake-up time, at the price
    /// of a busy core per reactor while messages flow.
    Spin(Duration),
}

/// Leaves a flag the spinning thread watches, and wakes the reactor's parker unless the
/// thread is watching the flag.
struct Flagged {
    woken: AtomicBool,
    /// Set while the thread watches `woken` inside [`Idle::poll`], which then polls
    /// again itself when the flag is raised: the wake-up needs no parker, so it takes
    /// no lock and touches no line of the parker's, and the thread does not go back
    /// through `block_on` for it.
    watching: AtomicBool,
    parker: Mutex<Option<Waker>>,
}

impl Wake for Flagged {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Sequentially consistent, both stores and both loads, here and at the end of
        // a watch in `Idle::poll`: either this sees the watch still on (and the
        // watcher, clearing it, then sees the flag), or the watcher's last look misses
        // the flag and this sees the watch off, and wakes the parker.
        self.woken.store(true, Ordering::SeqCst);
        if self.watching.load(Ordering::SeqCst) {
            return;
        }
        if let Some(parker) = &*self.parker.lock().unwrap_or_else(PoisonError::into_inner) {
            parker.wake_by_ref();
        }
    }
}

/// Wake-ups a watch may take in place, polling again without returning to `block_on`,
/// before it returns and lets `block_on` look at async-io's poller (timers, I/O) once.
const IN_PLACE: u32 = 16;

/// Polls `inner` under the idle policy; see the module docs.
pub(crate) struct Idle<F> {
    inner: F,
    spin: Duration,
    flagged: Arc<Flagged>,
    waker: Waker,
}

impl<F: Future + Unpin> Idle<F> {
    pub(crate) fn new(inner: F, policy: IdlePolicy) -> Self {
        let flagged = Arc::new(Flagged {
            woken: AtomicBool::new(false),
            watching: AtomicBool::new(false),
            parker: Mutex::new(None),
        });
        Self {
            inner,
            spin: match policy {
                IdlePolicy::Park | IdlePolicy::ParkOutsidePoller => Duration::ZERO,
                IdlePolicy::Spin(spin) => spin,
            },
            waker: Waker::from(flagged.clone()),
            flagged,
        }
    }
}

impl<F: Future + Unpin> Future for Idle<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if this.spin.is_zero() {
            return Pin::new(&mut this.inner).poll(cx);
        }
        super::remember_waker(&this.flagged.parker, cx.waker());
        for _ in 0..IN_PLACE {
            this.flagged.woken.store(false, Ordering::Release);
            let polled = Pin::new(&mut this.inner).poll(&mut Context::from_waker(&this.waker));
            if polled.is_ready() {
                return polled;
            }
            // Nothing to run: watch for a wake-up before letting the thread park. The
            // flag is looked at after every pause, so a wake-up is seen within one
            // pause (some tens of cycles to a few hundred, by CPU), and the clock only
            // every 64: a clock read costs more than the pauses between two looks.
            this.flagged.watching.store(true, Ordering::SeqCst);
            let start = Instant::now();
            'watch: loop {
                for _ in 0..64 {
                    if this.flagged.woken.load(Ordering::Acquire) {
                        break 'watch;
                    }
                    std::hint::spin_loop();
                }
                if start.elapsed() >= this.spin {
                    break;
                }
            }
            this.flagged.watching.store(false, Ordering::SeqCst);
            // A wake-up that came in the watch, or as it ended, did not wake the parker
            // (see `Flagged::wake_by_ref`): poll again here. Only the top of this loop
            // lowers the flag, so one seen in the watch is still up.
            if !this.flagged.woken.load(Ordering::SeqCst) {
                // The watch ran out: park (a wake-up from now on wakes the parker).
                return Poll::Pending;
            }
        }
        // Woken over and over: back to `block_on` for a look at async-io's poller, and
        // straight back here (the parker is told, so the thread does not park).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spinning_reactor_still_finishes_its_work() {
        let (tx, rx) = flume::bounded::<u32>(1);
        let helper = std::thread::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        let received = crate::rt::block_on(Idle::new(
            Box::pin(async {
                let mut sum = 0;
                while let Ok(i) = rx.recv_async().await {
                    sum += i;
                }
                sum
            }),
            IdlePolicy::Spin(Duration::from_micros(50)),
        ));
        assert_eq!(received, (0..100).sum::<u32>());
        helper.join().unwrap();
    }

    /// A wake-up ends the watch: a reactor that may spin for a minute still runs each
    /// message as it comes, not when its watch runs out.
    #[test]
    fn a_wake_up_ends_the_watch() {
        let (tx, rx) = flume::bounded::<Instant>(1);
        let helper = std::thread::spawn(move || {
            for _ in 0..20 {
                tx.send(Instant::now()).unwrap();
            }
        });
        let started = Instant::now();
        let slowest = crate::rt::block_on(Idle::new(
            Box::pin(async {
                let mut slowest = Duration::ZERO;
                while let Ok(sent) = rx.recv_async().await {
                    slowest = slowest.max(sent.elapsed());
                }
                slowest
            }),
            IdlePolicy::Spin(Duration::from_secs(60)),
        ));
        helper.join().unwrap();
        // Generous bounds: a watch that ran out would take a minute per message.
        assert!(slowest < Duration::from_secs(10), "{slowest:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    /// Watches of a microsecond, so wake-ups land in a watch, as it ends, and after it
    /// (on the parker): none is lost, or the reactor would park for good and the
    /// receiver below never finish.
    #[test]
    fn no_wake_up_is_lost_as_a_watch_ends() {
        const MESSAGES: u32 = 20_000;
        let (tx, rx) = flume::bounded::<u32>(1);
        let (done_tx, done) = flume::bounded::<u32>(1);
        let receiver = std::thread::spawn(move || {
            let received = crate::rt::block_on(Idle::new(
                Box::pin(async {
                    let mut count = 0;
                    while rx.recv_async().await.is_ok() {
                        count += 1;
                    }
                    count
                }),
                IdlePolicy::Spin(Duration::from_micros(1)),
            ));
            let _ = done_tx.send(received);
        });
        for i in 0..MESSAGES {
            // Now and then a pause, so the receiver's watch runs out and it parks.
            if i % 64 == 0 {
                std::thread::sleep(Duration::from_micros(50));
            } else if i % 7 == 0 {
                std::thread::yield_now();
            }
            tx.send_timeout(i, Duration::from_secs(60))
                .expect("the reactor parked with a wake-up pending");
        }
        drop(tx);
        let received = done
            .recv_timeout(Duration::from_secs(60))
            .expect("the reactor parked with a wake-up pending");
        assert_eq!(received, MESSAGES);
        receiver.join().unwrap();
    }
}
