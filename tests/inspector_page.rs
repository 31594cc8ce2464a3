//! The inspector's live page in a real browser: headless Chromium loads `/`, the inline
//! script polls `/inspect` and draws the tree, so the rendered DOM names every deployed
//! component, the nested supervisor, the bus address and the default pool (issue:
//! inspector over HTTP). Without a browser the test is skipped, except under CI (the `CI`
//! variable set), where it fails: `.ci/run` installs Debian's `chromium`.
#![cfg(feature = "http")]

#[path = "support/common.rs"]
mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use reactree::prelude::*;

/// The longest the browser may take to load, run the page for its virtual 5 s and dump.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// The first of the usual Chromium names found on `PATH`.
fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `url` and returns the DOM it dumps.
fn dump_dom(browser: &PathBuf, url: &str) -> String {
    let profile = std::env::temp_dir().join(format!(
        "reactree-inspector-page-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&profile).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the browser starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        dom
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            panic!("the browser did not finish within {BROWSER_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "the browser failed: {status}");
    dom
}

#[test]
fn the_page_draws_the_live_tree_in_a_browser() {
    let Some(browser) = find_browser() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium, chromium-browser or google-chrome on PATH, and CI is set: \
             install Debian's chromium (as .ci/run does)"
        );
        eprintln!("skipped: no chromium, chromium-browser or google-chrome on PATH");
        return;
    };
    let log = log();
    let sales = Supervisor::builder("sales")
        .reactors(1)
        .child(Probe::spec("inventory-keeper", "page.inventory", &log).mailbox_capacity(8));
    let runtime = Runtime::builder()
        .reactors(1)
        .child(Probe::spec("pricing-engine", "page.pricing", &log))
        .supervisor(sales)
        .build()
        .unwrap();
    let server = runtime.handle().serve_inspector("127.0.0.1:0").unwrap();

    let dom = dump_dom(&browser, &format!("http://{}/", server.local_addr()));

    for drawn in [
        "pricing-engine#0",
        "inventory-keeper#0",
        "root/sales",
        "one-for-one",
        "0/8",
        "page.pricing",
        "reactree-reactor-1",
        "default",
        "live · updated",
    ] {
        assert!(dom.contains(drawn), "{drawn:?} is not in the page:\n{dom}");
    }
    server.stop();
    runtime.shutdown();
}
