//! The order service's load generator: N concurrent keep-alive HTTP clients for T
//! seconds against a running `order_service`. Prints requests/s, p50 / p99 / max latency,
//! responses by status, and the service's thread count and RSS (from `/proc/PID/status`)
//! at the start, over the run, and at the end; then checks that every order acknowledged
//! with 201 is in the journal, and, with `--chaos-every`, prints the restart counts the
//! inspector shows.
//!
//! ```text
//! cargo run --release --features http --example order_service &
//! cargo run --release --features http --example order_load -- --clients 200 --seconds 60
//! cargo run --release --features http --example order_load -- --chaos-every 5
//! ```
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:8080), `--clients N` (200),
//! `--seconds T` (60), `--threads N` (client threads, 2), `--chaos-every S` (off).

#[path = "order_service/app/mod.rs"]
mod app;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use app::load::{LoadConfig, Report, one_off};
use hyper::Method;

fn main() {
    let mut config = LoadConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        clients: 200,
        duration: Duration::from_secs(60),
        threads: 2,
        chaos_every: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let number = || value.parse::<u64>().ok().filter(|n| *n > 0);
        let ok = match flag.as_str() {
            "--addr" => value.parse().map(|a| config.addr = a).is_ok(),
            "--clients" => number().map(|n| config.clients = n as usize).is_some(),
            "--seconds" => number()
                .map(|n| config.duration = Duration::from_secs(n))
                .is_some(),
            "--threads" => number().map(|n| config.threads = n as usize).is_some(),
            "--chaos-every" => number()
                .map(|n| config.chaos_every = Some(Duration::from_secs(n)))
                .is_some(),
            _ => false,
        };
        if !ok {
            eprintln!(
                "usage: order_load [--addr HOST:PORT] [--clients N] [--seconds T] [--threads N] [--chaos-every S]"
            );
            std::process::exit(2);
        }
    }
    if one_off(config.addr, Method::GET, "/health", None).is_none() {
        eprintln!(
            "order_load: no order_service answers at http://{}/health",
            config.addr
        );
        std::process::exit(1);
    }
    println!(
        "{} clients for {:?} against http://{}{}",
        config.clients,
        config.duration,
        config.addr,
        config
            .chaos_every
            .map_or(String::new(), |e| format!(", chaos every {e:?}"))
    );
    let report = app::load::run(&config);
    print!("{}", report.summary());
    print_memory(&report);
    check_journal(&report);
    if config.chaos_every.is_some() {
        println!("chaos strikes armed: {}", report.chaos_strikes);
        print_restarts(config.addr);
    }
}

/// RSS over the run: the second half should not grow.
fn print_memory(report: &Report) {
    let samples = &report.samples;
    if samples.len() < 4 {
        return;
    }
    let half = samples.len() / 2;
    let threads: HashSet<u64> = samples.iter().map(|s| s.threads).collect();
    let max_first = samples[..half].iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let max_second = samples[half..].iter().map(|s| s.rss_kib).max().unwrap_or(0);
    println!(
        "thread counts seen: {threads:?}; RSS max first half {max_first} KiB, second half {max_second} KiB ({:+.1}%)",
        (max_second as f64 - max_first as f64) * 100.0 / max_first.max(1) as f64
    );
}

/// Every 201 must be a line of the journal.
fn check_journal(report: &Report) {
    let Ok(text) = std::fs::read_to_string(&report.journal) else {
        println!(
            "journal {:?} not readable here: not checked",
            report.journal
        );
        return;
    };
    let ids: HashSet<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_u64())
        .collect();
    let missing = report.placed.iter().filter(|id| !ids.contains(id)).count();
    println!(
        "journal: {} of {} acknowledged orders present, {missing} missing",
        report.placed.len() - missing,
        report.placed.len()
    );
}

/// The restart counts the inspector shows.
fn print_restarts(addr: SocketAddr) {
    let Some((_, body)) = one_off(addr, Method::GET, "/inspect", None) else {
        return;
    };
    let Ok(snapshot) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return;
    };
    let mut restarts = Vec::new();
    for component in snapshot["components"].as_array().into_iter().flatten() {
        let n = component["restarts"].as_u64().unwrap_or(0);
        if n > 0 {
            restarts.push(format!(
                "{} {}",
                component["path"].as_str().unwrap_or("?"),
                n
            ));
        }
    }
    println!("inspector restarts: {}", restarts.join(", "));
}
