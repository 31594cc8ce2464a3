//! How much an idle component costs: deploys N idle components (default 1,000,000),
//! prints the deploy rate and the resident memory per component (RSS from
//! `/proc/self/status`, before and with all of them alive), then undeploys them all and
//! prints that rate too.
//!
//! The deploys are issued one after another by a component on reactor 0, the root
//! supervisor's reactor, and the components are pinned there: the fastest placement.
//!
//! Execute with `cargo run --release --example million` (about a minute on 2 cores), or
//! `cargo run --release --example million -- --count 100000`.

use std::time::{Duration, Instant};

use reactree::prelude::*;

/// An idle component: no state, no consumers, no timers.
struct Idle;
impl Component for Idle {}

/// Asks the deployer to deploy `count` idle components, then undeploy them.
struct Run(usize);
impl Message for Run {
    type Reply = Report;
}

/// What the deployer measured.
struct Report {
    deployed: usize,
    deploying: Duration,
    undeploying: Duration,
    rss_before: u64,
    rss_alive: u64,
}

const DEPLOYER: Address<Run> = Address::new("million.deployer");

struct Deployer;
impl Component for Deployer {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&DEPLOYER)?;
        Ok(())
    }
}
impl Handler<Run> for Deployer {
    async fn handle(&mut self, Run(count): Run, ctx: &mut Context<Self>) -> Report {
        let runtime = ctx.runtime().clone();
        let rss_before = rss_kib();
        let start = Instant::now();
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let spec = ChildSpec::new(format!("idle-{i}"), || Idle).reactor(0);
            match runtime.deploy(spec).await {
                Ok(id) => ids.push(id),
                Err(error) => {
                    say(&format!("deploy {i} failed: {error}"));
                    break;
                }
            }
            if (i + 1) % 100_000 == 0 {
                say(&format!("  {} deployed, {} KiB resident", i + 1, rss_kib()));
            }
        }
        let deploying = start.elapsed();
        let rss_alive = rss_kib();
        let deployed = ids.len();
        let start = Instant::now();
        for id in ids {
            let _ = runtime.undeploy(id).await;
        }
        Report {
            deployed,
            deploying,
            undeploying: start.elapsed(),
            rss_before,
            rss_alive,
        }
    }
}

/// This process's resident set, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn say(line: &str) {
    println!("{line}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut count = 1_000_000;
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--count", Some(n)) => count = n,
            _ => {
                eprintln!("usage: million [--count N]");
                std::process::exit(2);
            }
        }
    }
    let runtime = Runtime::builder()
        .reactors(2)
        .request_timeout(Duration::from_secs(3600))
        .child(ChildSpec::new("deployer", || Deployer).reactor(0))
        .build()?;
    say(&format!("deploying {count} idle components..."));
    let report = runtime.block_on(runtime.bus().request(&DEPLOYER, Run(count)))?;
    let per = |d: Duration| report.deployed as f64 / d.as_secs_f64();
    let bytes =
        (report.rss_alive.saturating_sub(report.rss_before) * 1024) / report.deployed.max(1) as u64;
    say(&format!(
        "deployed {} in {:.1?} ({:.0}/s); RSS {} KiB -> {} KiB: {} bytes per idle component",
        report.deployed,
        report.deploying,
        per(report.deploying),
        report.rss_before,
        report.rss_alive,
        bytes
    ));
    say(&format!(
        "undeployed them in {:.1?} ({:.0}/s)",
        report.undeploying,
        per(report.undeploying)
    ));
    runtime.shutdown();
    Ok(())
}
