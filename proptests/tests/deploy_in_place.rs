//! Property test of deploys and undeploys done in the caller's poll (a component on the
//! root supervisor's reactor) racing the same operations asked from another thread
//! (requests to the root), with starts and stops that finish at once, wait, or fail,
//! and components crashing (restarted by the root) in between. Whatever the
//! interleaving, each operation gets the answer the sequence calls for, and afterwards
//! the root's children are exactly the deployments alive, every instance that started
//! has stopped once unless it is still deployed, and no record is left behind.

#[path = "../../tests/support/driver.rs"]
mod driver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use reactree::prelude::*;
use reactree::{DeployError, Handle, SpecError};

/// Starts and stops seen per deployment name: (started, stopped).
type Counts = Arc<Mutex<HashMap<String, (u32, u32)>>>;

#[derive(Debug, Clone, Copy)]
enum Start {
    AtOnce,
    Waits(u64),
    /// Instance 0 fails at once.
    Fails,
    /// The last instance fails after waiting.
    WaitsThenFails(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Deploy {
        slot: usize,
        instances: usize,
        start: Start,
        stop_waits: Option<u64>,
    },
    Undeploy(usize),
    Crash(usize),
}

struct Crash;
impl Message for Crash {
    type Reply = ();
}

#[derive(Clone)]
struct Probe {
    name: String,
    instances: usize,
    start: Start,
    stop_waits: Option<u64>,
    counts: Counts,
}

async fn sleep(ms: u64) {
    async_io::Timer::after(Duration::from_millis(ms)).await;
}

impl Probe {
    /// Counts a start or a stop under this probe's name.
    fn tally(&self, count: impl FnOnce(&mut (u32, u32))) {
        count(
            self.counts
                .lock()
                .unwrap()
                .entry(self.name.clone())
                .or_default(),
        );
    }
}

impl Component for Probe {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let last = ctx.instance() + 1 == self.instances;
        match self.start {
            Start::AtOnce => {}
            Start::Waits(ms) => sleep(ms).await,
            Start::Fails if ctx.instance() == 0 => return Err("refused".into()),
            Start::Fails => {}
            Start::WaitsThenFails(ms) => {
                sleep(ms).await;
                if last {
                    return Err("refused after waiting".into());
                }
            }
        }
        ctx.consume(&Address::<Crash>::from_string(format!(
            "prop.{}",
            self.name
        )))?;
        self.tally(|(starts, _)| *starts += 1);
        Ok(())
    }

    async fn stop(&mut self, _: &mut Context<Self>) {
        if let Some(ms) = self.stop_waits {
            sleep(ms).await;
        }
        self.tally(|(_, stops)| *stops += 1);
    }
}

impl Handler<Crash> for Probe {
    async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crash on command");
    }
}

/// The deployments a stream has alive: name -> (id, instances).
type Live = HashMap<String, (DeploymentId, usize)>;

/// What a stream leaves: its deployments alive, and how many of its crashes hit (each
/// one restart of the root's).
type Left = (Live, u64);

/// Runs `ops` in order through `handle`, the names prefixed `prefix`, checking each
/// answer against what the stream has alive; returns what it leaves alive.
async fn stream(
    handle: Handle,
    prefix: &'static str,
    ops: Vec<Op>,
    counts: Counts,
) -> Result<Left, String> {
    let mut live = Live::new();
    let mut crashes = 0;
    for op in ops {
        match op {
            Op::Deploy {
                slot,
                instances,
                start,
                stop_waits,
            } => {
                let name = format!("{prefix}{slot}");
                let probe = Probe {
                    name: name.clone(),
                    instances,
                    start,
                    stop_waits,
                    counts: counts.clone(),
                };
                let spec = ChildSpec::new(name.clone(), move || probe.clone()).instances(instances);
                let fails = matches!(start, Start::Fails | Start::WaitsThenFails(_));
                match (handle.deploy(spec).await, live.contains_key(&name), fails) {
                    (Err(DeployError::InvalidSpec(SpecError::DuplicateName(_))), true, _) => {}
                    (Err(DeployError::StartFailed { name: n, .. }), false, true) if n == name => {}
                    (Ok(id), false, false) => {
                        live.insert(name, (id, instances));
                    }
                    (outcome, alive, fails) => {
                        return Err(format!(
                            "deploy {name} (alive {alive}, failing {fails}): {outcome:?}"
                        ));
                    }
                }
            }
            Op::Undeploy(slot) => {
                let name = format!("{prefix}{slot}");
                if let Some((id, _)) = live.remove(&name)
                    && let Err(error) = handle.undeploy(id).await
                {
                    return Err(format!("undeploy {name}: {error}"));
                }
            }
            Op::Crash(slot) => {
                let name = format!("{prefix}{slot}");
                if live.contains_key(&name) {
                    let address = Address::<Crash>::from_string(format!("prop.{name}"));
                    // The handler panicked (a restart follows), or the crash found no
                    // instance to take it (one is restarting): either is fine here.
                    if let Err(RequestError::RecipientFailure) =
                        handle.bus().request(&address, Crash).await
                    {
                        crashes += 1;
                    }
                }
            }
        }
    }
    Ok((live, crashes))
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![
        4 => Just(Start::AtOnce),
        2 => (1u64..6).prop_map(Start::Waits),
        1 => Just(Start::Fails),
        1 => (1u64..6).prop_map(Start::WaitsThenFails),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..5, 1usize..4, start(), prop::option::weighted(0.3, 1u64..6)).prop_map(
            |(slot, instances, start, stop_waits)| Op::Deploy { slot, instances, start, stop_waits }
        ),
        3 => (0usize..5).prop_map(Op::Undeploy),
        1 => (0usize..5).prop_map(Op::Crash),
    ]
}

fn check(here: Vec<Op>, there: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = Runtime::builder()
        .reactors(2)
        .intensity(reactree::Intensity::new(1_000, Duration::from_secs(1)).unwrap())
        .build()
        .unwrap();
    runtime
        .block_on(runtime.deploy(driver::Driver::<Result<Left, String>>::spec()))
        .unwrap();
    let counts = Counts::default();
    let handle = runtime.handle().clone();
    let c = counts.clone();
    let script = move |handle| stream(handle, "a", here, c);
    let (in_place, requested) = runtime.block_on(futures_lite::future::zip(
        async {
            match driver::ask(runtime.bus(), Duration::from_secs(60), script).await {
                Ok(outcome) => outcome,
                Err(error) => Err(format!("the driver: {error}")),
            }
        },
        stream(handle.clone(), "b", there, counts.clone()),
    ));
    let (mut live, crashes_here) = in_place.map_err(TestCaseError::fail)?;
    let (live_there, crashes_there) = requested.map_err(TestCaseError::fail)?;
    live.extend(live_there);
    let crashes = crashes_here + crashes_there;
    let mut expected: Vec<String> = live.keys().cloned().collect();
    expected.push("driver".to_owned());
    expected.sort();
    // Restarts after the crashes may still be under way (and a crash followed at once
    // by an undeploy of its component may end with none): the tree must settle into
    // what the streams left, every child running.
    let mismatch = || -> Option<String> {
        let root = handle.supervisor("root").unwrap();
        if root.restarts > crashes {
            return Some(format!("{} restarts for {crashes} crashes", root.restarts));
        }
        if let Some((name, _)) = root.children.iter().find(|(_, up)| !up) {
            return Some(format!("{name} is not running"));
        }
        // In start order, a deployment's instances side by side.
        let mut names: Vec<String> = root.children.into_iter().map(|(name, _)| name).collect();
        names.dedup();
        names.sort();
        if names != expected {
            return Some(format!(
                "the root's children {names:?}, expected {expected:?}"
            ));
        }
        if handle.deployment_count() != live.len() + 1 {
            return Some(format!("{} records", handle.deployment_count()));
        }
        for (name, &(started, stopped)) in counts.lock().unwrap().iter() {
            let alive = live.get(name).map_or(0, |&(_, instances)| instances as i64);
            if i64::from(started) - i64::from(stopped) != alive {
                return Some(format!(
                    "{name}: {started} starts, {stopped} stops, {alive} alive"
                ));
            }
        }
        None
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut wrong = mismatch();
    while wrong.is_some() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
        wrong = mismatch();
    }
    prop_assert!(wrong.is_none(), "{}", wrong.unwrap_or_default());
    runtime.shutdown();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn deploys_in_place_and_by_request_keep_the_tree_whole(
        here in prop::collection::vec(op(), 1..40),
        there in prop::collection::vec(op(), 1..40),
    ) {
        check(here, there)?;
    }
}
