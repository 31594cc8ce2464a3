//! Anonymous deployments (`ChildSpec::anonymous`): their supervisor names each `$` and a
//! number no other deployment of the runtime has had; callers' names starting with `$`
//! are refused. Deployed by request (from the test thread) and in place (from a
//! component on the root supervisor's reactor).

#[path = "support/common.rs"]
mod common;
#[path = "support/driver.rs"]
mod driver;

use std::collections::HashSet;

use common::*;
use driver::Driver;
use reactree::prelude::*;
use reactree::{BuildError, LifecycleEvent, SpecError, TreeError};

/// Reports its name (and its instance number) from each start; fails its start when
/// told to, panics on `Cmd::Panic` at `address`.
struct Reporter {
    names: flume::Sender<(String, usize)>,
    address: Option<&'static str>,
    fail_start: bool,
}

impl Component for Reporter {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        if self.fail_start {
            return Err("refused to start".into());
        }
        if let Some(address) = self.address {
            ctx.consume(&Address::<Cmd>::new(address))?;
        }
        let _ = self.names.send((ctx.name().to_owned(), ctx.instance()));
        Ok(())
    }
}

impl Reporter {
    /// One that reports to no one.
    fn quiet(fail_start: bool) -> Self {
        Self {
            names: flume::unbounded().0,
            address: None,
            fail_start,
        }
    }
}

impl Handler<Cmd> for Reporter {
    async fn handle(&mut self, cmd: Cmd, _: &mut Context<Self>) -> Reply {
        match cmd {
            Cmd::Panic => panic!("handler exploded"),
            _ => Reply::Done,
        }
    }
}

/// Builds a `Reporter` that reports to `names` and consumes `address`, if any.
fn reporter(
    names: &flume::Sender<(String, usize)>,
    address: Option<&'static str>,
) -> impl Fn() -> Reporter + Send + Sync + 'static {
    let names = names.clone();
    move || Reporter {
        names: names.clone(),
        address,
        fail_start: false,
    }
}

fn anonymous(names: &flume::Sender<(String, usize)>) -> ChildSpec {
    ChildSpec::anonymous(reporter(names, None))
}

/// Deploys `spec` from the driver, on the root supervisor's reactor: done in its poll.
fn deploy_in_place(runtime: &Runtime, spec: ChildSpec) -> Result<DeploymentId, DeployError> {
    runtime
        .block_on(driver::ask(
            runtime.bus(),
            GENEROUS,
            move |handle| async move { handle.deploy(spec).await },
        ))
        .unwrap()
}

/// `$` and decimal digits.
fn is_given(name: &str) -> bool {
    name.strip_prefix('$')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn component_names(runtime: &Runtime) -> Vec<(String, String)> {
    let snapshot = runtime.handle().inspect();
    snapshot
        .components
        .into_iter()
        .map(|c| (c.name, c.path))
        .collect()
}

#[test]
fn each_anonymous_deployment_gets_a_name_of_its_own() {
    let runtime = runtime(2);
    let (names, started) = flume::unbounded();
    let ids: Vec<DeploymentId> = (0..3)
        .map(|_| runtime.block_on(runtime.deploy(anonymous(&names))).unwrap())
        .collect();
    let first: Vec<String> = (0..3)
        .map(|_| started.recv_timeout(GENEROUS).unwrap().0)
        .collect();
    assert!(first.iter().all(|n| is_given(n)), "{first:?}");
    assert_eq!(first.iter().collect::<HashSet<_>>().len(), 3, "{first:?}");
    // The inspector shows them under their given names, at `root/$n`.
    let shown = component_names(&runtime);
    for name in &first {
        assert!(
            shown.contains(&(name.clone(), format!("root/{name}"))),
            "{name} in {shown:?}"
        );
    }
    // Undeployed, they are gone; deployed again, they get names never given before.
    for id in ids {
        runtime.block_on(runtime.undeploy(id)).unwrap();
    }
    assert!(component_names(&runtime).is_empty());
    for _ in 0..3 {
        runtime.block_on(runtime.deploy(anonymous(&names))).unwrap();
    }
    for _ in 0..3 {
        let (name, _) = started.recv_timeout(GENEROUS).unwrap();
        assert!(
            is_given(&name) && !first.contains(&name),
            "{name} after {first:?}"
        );
    }
    runtime.shutdown();
}

#[test]
fn the_instances_of_one_anonymous_deployment_share_its_name() {
    let runtime = runtime(2);
    let (names, started) = flume::unbounded();
    runtime
        .block_on(runtime.deploy(anonymous(&names).instances(3)))
        .unwrap();
    let mut seen: Vec<(String, usize)> = (0..3)
        .map(|_| started.recv_timeout(GENEROUS).unwrap())
        .collect();
    seen.sort_by_key(|(_, instance)| *instance);
    assert!(is_given(&seen[0].0), "{seen:?}");
    assert!(seen.iter().all(|(name, _)| *name == seen[0].0), "{seen:?}");
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), [0, 1, 2]);
    runtime.shutdown();
}

#[test]
fn names_starting_with_a_dollar_are_refused_to_callers() {
    let runtime = runtime(1);
    let deploy = |name: &str| {
        runtime.block_on(runtime.deploy(ChildSpec::new(name, || Reporter::quiet(false))))
    };
    for name in ["$1", "$", "$anything"] {
        assert_eq!(
            deploy(name),
            Err(DeployError::InvalidSpec(SpecError::ReservedName(
                name.to_owned()
            ))),
            "{name}"
        );
    }
    // Only at the start: elsewhere `$` is an ordinary character.
    assert!(deploy("price$").is_ok());
    assert!(deploy("a$1").is_ok());
    runtime.shutdown();

    // In a static tree too, for components and supervisors alike.
    let built = Runtime::builder()
        .reactors(1)
        .child(ChildSpec::new("$7", || Reporter::quiet(false)))
        .build();
    assert!(
        matches!(
            built,
            Err(BuildError::Tree(TreeError::InvalidName { ref name, .. })) if name == "$7"
        ),
        "{built:?}"
    );
    let built = Runtime::builder()
        .reactors(1)
        .supervisor(Supervisor::builder("$sup"))
        .build();
    assert!(
        matches!(
            built,
            Err(BuildError::Tree(TreeError::InvalidName { ref name, .. })) if name == "$sup"
        ),
        "{built:?}"
    );
}

#[test]
fn anonymous_children_of_a_static_tree_are_never_duplicates() {
    let (names, started) = flume::unbounded();
    let runtime = Runtime::builder()
        .reactors(1)
        .child(anonymous(&names))
        .child(anonymous(&names))
        .build()
        .expect("two anonymous children are not two children of one name");
    let a = started.recv_timeout(GENEROUS).unwrap().0;
    let b = started.recv_timeout(GENEROUS).unwrap().0;
    assert!(is_given(&a) && is_given(&b) && a != b, "{a} {b}");
    runtime.shutdown();
}

#[test]
fn an_anonymous_child_deployed_in_place_keeps_its_name_across_a_restart() {
    let runtime = runtime(1);
    let (names, started) = flume::unbounded();
    runtime
        .block_on(runtime.deploy(Driver::<Result<DeploymentId, DeployError>>::spec()))
        .unwrap();
    let spec = ChildSpec::anonymous(reporter(&names, Some("anonymous.restarted"))).reactor(0);
    let id = deploy_in_place(&runtime, spec).unwrap();
    let (name, _) = started.recv_timeout(GENEROUS).unwrap();
    assert!(is_given(&name), "{name}");
    // A panic: restarted by its supervisor, under the same name.
    let _ = runtime.block_on(
        runtime
            .bus()
            .request(&Address::<Cmd>::new("anonymous.restarted"), Cmd::Panic),
    );
    let (again, _) = started.recv_timeout(GENEROUS).unwrap();
    assert_eq!(again, name);
    let shown = component_names(&runtime);
    assert!(
        shown.contains(&(name.clone(), format!("root/{name}"))),
        "{shown:?}"
    );
    runtime.block_on(runtime.undeploy(id)).unwrap();
    assert!(!component_names(&runtime).iter().any(|(n, _)| *n == name));
    runtime.shutdown();
}

#[test]
fn a_failed_anonymous_start_names_the_deployment_it_gave_up() {
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Driver::<Result<DeploymentId, DeployError>>::spec()))
        .unwrap();
    let failing = || ChildSpec::anonymous(|| Reporter::quiet(true)).reactor(0);
    // By request, and in place.
    let requested = runtime.block_on(runtime.deploy(failing()));
    let in_place = deploy_in_place(&runtime, failing());
    for outcome in [requested, in_place] {
        match outcome {
            Err(DeployError::StartFailed {
                name, instance: 0, ..
            }) => {
                assert!(is_given(&name), "{name}");
            }
            other => panic!("expected a failed start, got {other:?}"),
        }
    }
    // Nothing of them is left: only the driver runs.
    let shown = component_names(&runtime);
    assert_eq!(shown, [("driver".to_owned(), "root/driver".to_owned())]);
    runtime.shutdown();
}

#[test]
fn the_deployed_event_gives_the_path_its_supervisor_gave() {
    let runtime = runtime(1);
    runtime
        .block_on(runtime.deploy(Driver::<Result<DeploymentId, DeployError>>::spec()))
        .unwrap();
    let events = runtime.handle().events(64);
    let (names, started) = flume::unbounded();
    // By request, then in place (from the driver, on the root supervisor's reactor),
    // anonymous and named.
    runtime.block_on(runtime.deploy(anonymous(&names))).unwrap();
    for spec in [
        anonymous(&names).reactor(0),
        ChildSpec::new("named", reporter(&names, None)).reactor(0),
    ] {
        deploy_in_place(&runtime, spec).unwrap();
    }
    let given: Vec<String> = (0..3)
        .map(|_| format!("root/{}", started.recv_timeout(GENEROUS).unwrap().0))
        .collect();
    assert!(given[2] == "root/named", "{given:?}");
    let mut deployed = Vec::new();
    while deployed.len() < 3 {
        match events.next_timeout(GENEROUS) {
            Some(LifecycleEvent::Deployed { path }) => deployed.push(path),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(deployed, given);
    runtime.shutdown();
}
