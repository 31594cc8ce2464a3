//! The load generator's engine: N keep-alive HTTP/1.1 clients for T seconds against a
//! running order service, with the service's threads and RSS sampled from
//! `/proc/PID/status` meanwhile (its pid comes from `GET /health`).
//!
//! Each client places orders (`POST /orders`), and every fifth request reads back one
//! it placed (`GET /orders/{id}`). Clients run as tasks on a few client threads, each a
//! local executor over async-io, with hyper's client over smol-hyper.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_io::Async;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use smol_hyper::rt::FuturesIo;

use super::pricing::CATALOGUE;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The service.
    pub addr: SocketAddr,
    /// Concurrent keep-alive clients.
    pub clients: usize,
    /// How long.
    pub duration: Duration,
    /// Client threads the clients are spread over.
    pub threads: usize,
    /// Arm the chaos switch of a component (in turn: orders, inventory, pricing, audit,
    /// stats) this often.
    pub chaos_every: Option<Duration>,
}

/// The service's threads and resident memory at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub second: u64,
    /// Its thread count.
    pub threads: u64,
    /// Its resident set, KiB.
    pub rss_kib: u64,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Report {
    /// How long it ran.
    pub elapsed: Duration,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connection errors).
    pub transport_errors: u64,
    /// Every response's latency, sorted.
    pub latencies: Vec<Duration>,
    /// The ids of every order acknowledged with 201.
    pub placed: Vec<u64>,
    /// Samples of the service process, one a second (first at the start, last at the end).
    pub samples: Vec<Sample>,
    /// Chaos strikes armed.
    pub chaos_strikes: u64,
    /// The service's pid and journal, from `/health`.
    pub pid: u32,
    /// The journal's path, from `/health`.
    pub journal: String,
}

impl Report {
    /// Responses per second.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0 to 1).
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[at]
    }

    /// Responses other than 2xx and 503 (explicit backpressure), plus transport errors.
    pub fn errors(&self) -> u64 {
        let bad: u64 = self
            .statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status) && **status != 503)
            .map(|(_, n)| n)
            .sum();
        bad + self.transport_errors
    }

    /// A human summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let first = self.samples.first().copied();
        let last = self.samples.last().copied();
        out += &format!(
            "{} responses in {:.1} s: {:.0} requests/s\n",
            self.latencies.len(),
            self.elapsed.as_secs_f64(),
            self.per_second()
        );
        out += &format!(
            "latency p50 {:?}  p99 {:?}  max {:?}\n",
            self.latency(0.5),
            self.latency(0.99),
            self.latency(1.0)
        );
        out += &format!(
            "statuses {:?}, transport errors {}\n",
            self.statuses, self.transport_errors
        );
        if let (Some(first), Some(last)) = (first, last) {
            out += &format!(
                "service pid {}: threads {} -> {}, RSS {} KiB -> {} KiB\n",
                self.pid, first.threads, last.threads, first.rss_kib, last.rss_kib
            );
        }
        out
    }
}

/// Threads and resident memory of `pid`, from `/proc/PID/status`.
pub fn process_sample(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("Threads:")?, field("VmRSS:")?))
}

/// One exchange on a connection: status, body.
pub async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), hyper::Error> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a well-formed request");
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// A keep-alive connection to `addr`, its driver spawned on `executor`.
pub async fn connect(
    executor: &async_executor::LocalExecutor<'_>,
    addr: SocketAddr,
) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = Async::<TcpStream>::connect(addr).await?;
    let _ = stream.get_ref().set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(FuturesIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    executor
        .spawn(async move {
            let _ = connection.await;
        })
        .detach();
    Ok(sender)
}

/// One request from outside the clients (health, chaos, inspect), on a fresh connection.
pub fn one_off(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<String>,
) -> Option<(u16, Bytes)> {
    let executor = async_executor::LocalExecutor::new();
    async_io::block_on(executor.run(async {
        let mut sender = connect(&executor, addr).await.ok()?;
        exchange(&mut sender, addr, method, path, body).await.ok()
    }))
}

#[derive(Default)]
struct Tally {
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    latencies: Vec<Duration>,
    placed: Vec<u64>,
}

fn order_body(client: usize, n: u64) -> String {
    let lines: Vec<String> = (0..1 + (n % 3) as usize)
        .map(|i| {
            let (sku, _) = CATALOGUE[(client + i + n as usize) % CATALOGUE.len()];
            format!(r#"{{"sku":"{sku}","quantity":{}}}"#, 1 + (n + i as u64) % 5)
        })
        .collect();
    format!(
        r#"{{"customer":"client-{client}","lines":[{}]}}"#,
        lines.join(",")
    )
}

async fn client(
    index: usize,
    addr: SocketAddr,
    deadline: Instant,
    executor: &async_executor::LocalExecutor<'_>,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = None;
    let mut n = 0_u64;
    while Instant::now() < deadline {
        let mut connected = match sender.take() {
            Some(sender) => sender,
            None => match connect(executor, addr).await {
                Ok(sender) => sender,
                Err(_) => {
                    tally.transport_errors += 1;
                    async_io::Timer::after(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        n += 1;
        let read_back = n.is_multiple_of(5) && !tally.placed.is_empty();
        let start = Instant::now();
        let result = if read_back {
            let id = tally.placed[(n as usize / 5) % tally.placed.len()];
            exchange(
                &mut connected,
                addr,
                Method::GET,
                &format!("/orders/{id}"),
                None,
            )
            .await
        } else {
            exchange(
                &mut connected,
                addr,
                Method::POST,
                "/orders",
                Some(order_body(index, n)),
            )
            .await
        };
        match result {
            Ok((status, body)) => {
                tally.latencies.push(start.elapsed());
                *tally.statuses.entry(status).or_default() += 1;
                if status == 201
                    && let Ok(placed) = serde_json::from_slice::<super::orders::Placed>(&body)
                {
                    tally.placed.push(placed.id);
                }
                if status == 503 {
                    // Backpressure: honour a short Retry-After before trying again.
                    async_io::Timer::after(Duration::from_millis(5)).await;
                }
                sender = Some(connected);
            }
            Err(_) => tally.transport_errors += 1,
        }
    }
    tally
}

/// Runs the load; blocks for `config.duration` (plus a little).
pub fn run(config: &LoadConfig) -> Report {
    let health = one_off(config.addr, Method::GET, "/health", None)
        .and_then(|(_, body)| serde_json::from_slice::<serde_json::Value>(&body).ok());
    let pid = health
        .as_ref()
        .and_then(|h| h["pid"].as_u64())
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(0);
    let journal = health
        .as_ref()
        .and_then(|h| h["journal"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let start = Instant::now();
    let deadline = start + config.duration;
    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (done, samples) = (done.clone(), samples.clone());
        std::thread::spawn(move || {
            let mut second = 0;
            loop {
                if let Some((threads, rss_kib)) = process_sample(pid) {
                    samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Sample {
                            second,
                            threads,
                            rss_kib,
                        });
                }
                if done.load(Ordering::Relaxed) {
                    return;
                }
                let next = start + Duration::from_secs(second + 1);
                while Instant::now() < next && !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                second = start.elapsed().as_secs();
            }
        })
    };
    let strikes = Arc::new(AtomicU64::new(0));
    let chaos = config.chaos_every.map(|every| {
        let (done, strikes, addr) = (done.clone(), strikes.clone(), config.addr);
        std::thread::spawn(move || {
            let targets = ["orders", "inventory", "pricing", "audit", "stats"];
            let mut next = Instant::now() + every;
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let path = format!("/chaos/panic/{}", targets[i % targets.len()]);
                    if one_off(addr, Method::POST, &path, None).is_some_and(|(s, _)| s == 202) {
                        strikes.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                    next += every;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    });
    let threads = config.threads.max(1);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let mine: Vec<usize> = (0..config.clients).filter(|c| c % threads == t).collect();
            let addr = config.addr;
            std::thread::spawn(move || {
                // Connections' drivers on one executor, the clients on another that
                // borrows it (declared after, so dropped first).
                let drivers = async_executor::LocalExecutor::new();
                let clients = async_executor::LocalExecutor::new();
                async_io::block_on(drivers.run(clients.run(async {
                    let tasks: Vec<_> = mine
                        .into_iter()
                        .map(|c| clients.spawn(client(c, addr, deadline, &drivers)))
                        .collect();
                    let mut tallies = Vec::new();
                    for task in tasks {
                        tallies.push(task.await);
                    }
                    tallies
                })))
            })
        })
        .collect();
    let mut report = Report {
        pid,
        journal,
        ..Report::default()
    };
    for worker in workers {
        for tally in worker.join().unwrap_or_default() {
            for (status, n) in tally.statuses {
                *report.statuses.entry(status).or_default() += n;
            }
            report.transport_errors += tally.transport_errors;
            report.latencies.extend(tally.latencies);
            report.placed.extend(tally.placed);
        }
    }
    report.elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    if let Some(chaos) = chaos {
        let _ = chaos.join();
    }
    report.chaos_strikes = strikes.load(Ordering::Relaxed);
    report.samples = std::mem::take(&mut *samples.lock().unwrap_or_else(PoisonError::into_inner));
    report.latencies.sort();
    report
}
