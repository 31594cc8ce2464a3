//! Collecting a [`Snapshot`]: counters read in place, tables locked briefly, no reactor
//! asked anything.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use crate::inspector::{
    AddressSnapshot, ComponentSnapshot, PoolSnapshot, ReactorSnapshot, Snapshot, SupervisorSnapshot,
};
use crate::reactor::COMMAND_CAPACITY;
use crate::runtime::split_path;
use crate::supervisor::Strategy;
use crate::{ComponentState, Handle};

fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::OneForOne => "one-for-one",
        Strategy::OneForAll => "one-for-all",
        Strategy::RestForOne => "rest-for-one",
    }
}

pub(crate) fn state_name(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Starting => "starting",
        ComponentState::Running => "running",
        ComponentState::Stopping => "stopping",
        ComponentState::Stopped => "stopped",
        ComponentState::Failed => "failed",
        ComponentState::Restarting => "restarting",
    }
}

impl Handle {
    /// A snapshot of the whole runtime: supervisors, components, reactors, bus addresses
    /// and worker pools. It reads counters in place and never waits for a reactor.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    ///
    /// struct Idle;
    /// impl Component for Idle {}
    ///
    /// let runtime = Runtime::builder().reactors(1).child(ChildSpec::new("idle", || Idle)).build()?;
    /// let snapshot = runtime.handle().inspect();
    /// assert_eq!(snapshot.components[0].path, "root/idle");
    /// assert_eq!(snapshot.components[0].state, "running");
    /// println!("{snapshot}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inspect(&self) -> Snapshot {
        let components = self.component_snapshots();
        Snapshot {
            supervisors: self.supervisor_snapshots(),
            reactors: self.reactor_snapshots(&components),
            components,
            bus: self
                .bus()
                .registry()
                .snapshot()
                .into_iter()
                .map(|(address, message_type, counters)| AddressSnapshot {
                    address,
                    message_type: message_type.to_owned(),
                    counters,
                })
                .collect(),
            pools: self
                .shared
                .pools
                .iter()
                .map(|pool| PoolSnapshot {
                    name: pool.name().to_owned(),
                    stats: pool.stats(),
                })
                .collect(),
        }
    }

    fn supervisor_snapshots(&self) -> Vec<SupervisorSnapshot> {
        // Each supervisor's children are the deployments under its path, in start
        // order (their first keys come from one counter, as they were added).
        let deployed: Vec<(u64, Arc<str>)> = self
            .deployments()
            .values()
            .map(|d| (d.instances.first_key().unwrap_or(u64::MAX), d.path.clone()))
            .collect();
        let mut children: HashMap<&str, Vec<(u64, &str)>> = HashMap::new();
        for (key, path) in &deployed {
            let (parent, name) = split_path(path);
            children.entry(parent).or_default().push((*key, name));
        }
        let nodes = self
            .shared
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        nodes
            .iter()
            .map(|(path, stats)| SupervisorSnapshot {
                path: path.to_string(),
                strategy: strategy_name(stats.strategy).to_owned(),
                state: if stats.escalated.load(Ordering::Relaxed) {
                    "escalated"
                } else {
                    "running"
                }
                .to_owned(),
                restarts: stats.restarts.load(Ordering::Relaxed),
                children: children.get_mut(&**path).map_or_else(Vec::new, |named| {
                    named.sort_unstable();
                    named.iter().map(|(_, name)| (*name).to_owned()).collect()
                }),
            })
            .collect()
    }

    fn component_snapshots(&self) -> Vec<ComponentSnapshot> {
        let table = self.deployments();
        let mut all = Vec::new();
        for (id, record) in table.iter().filter(|(_, r)| r.supervisor().is_none()) {
            for i in record.instances.as_slice() {
                let (mailbox_len, mailbox_capacity) = i.stats.mailbox();
                all.push(ComponentSnapshot {
                    name: record.name().to_owned(),
                    id: format!("{id:?}"),
                    instance: i.index as usize,
                    path: record.path.to_string(),
                    state: state_name(i.stats.state()).to_owned(),
                    reactor: i.reactor as usize,
                    mailbox_len,
                    mailbox_capacity,
                    handled: i.stats.handled.load(Ordering::Relaxed),
                    expired: i.stats.expired.load(Ordering::Relaxed),
                    failures: i.stats.failures.load(Ordering::Relaxed),
                    restarts: u64::from(i.stats.restarts.load(Ordering::Relaxed)),
                    blocked: u64::from(i.stats.blocked.load(Ordering::Relaxed)),
                    last_failure: i.stats.last_failure(),
                });
            }
        }
        all.sort_by(|a, b| (&a.path, a.instance).cmp(&(&b.path, b.instance)));
        all
    }

    fn reactor_snapshots(&self, components: &[ComponentSnapshot]) -> Vec<ReactorSnapshot> {
        let shared = &self.shared;
        (0..shared.reactors.len())
            .map(|index| {
                let probe = shared.probes.get(index);
                let millis =
                    |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                ReactorSnapshot {
                    index,
                    thread: format!("reactree-reactor-{index}"),
                    mailbox_len: shared.reactors[index].commands.len(),
                    mailbox_capacity: COMMAND_CAPACITY,
                    components: components.iter().filter(|c| c.reactor == index).count(),
                    busy_ms: probe.map_or(0, |p| millis(p.busy())),
                    blocked_events: probe.map_or(0, |p| p.blocked_events()),
                    longest_block_ms: probe.map_or(0, |p| millis(p.longest_block())),
                }
            })
            .collect()
    }
}
