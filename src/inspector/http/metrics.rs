//! A [`Snapshot`] in the Prometheus text exposition format, version 0.0.4.
//!
//! Every family gets its `# HELP` and `# TYPE` lines, even with no sample, and its samples
//! follow them at once. Label values are escaped (`\\`, `\"`, `\n`) as the format asks.
//! `docs/inspector.md` lists the families.

use std::fmt::{Display, Write};

use crate::inspector::{
    AddressSnapshot, ComponentSnapshot, PoolSnapshot, ReactorSnapshot, Snapshot,
};

/// The kind of a metric family.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    const fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// Renders the snapshot.
pub(crate) fn render(snapshot: &Snapshot) -> String {
    let mut out = Exposition(String::with_capacity(4096));
    components(&mut out, &snapshot.components);
    supervisors(&mut out, snapshot);
    reactors(&mut out, snapshot);
    bus(&mut out, &snapshot.bus);
    pools(&mut out, &snapshot.pools);
    out.0
}

/// A family of one metric per item: its name, kind, help and how to read the value.
type Family<'a, T, V = u64> = (&'a str, Kind, &'a str, fn(&T) -> V);

fn components(out: &mut Exposition, components: &[ComponentSnapshot]) {
    let families: [Family<'_, ComponentSnapshot>; 7] = [
        (
            "reactree_component_mailbox_depth",
            Kind::Gauge,
            "Messages waiting in the component instance's mailbox.",
            |c| c.mailbox_len as u64,
        ),
        (
            "reactree_component_mailbox_capacity",
            Kind::Gauge,
            "Capacity of the component instance's mailbox.",
            |c| c.mailbox_capacity as u64,
        ),
        (
            "reactree_component_handled_total",
            Kind::Counter,
            "Messages whose handler ran.",
            |c| c.handled,
        ),
        (
            "reactree_component_expired_total",
            Kind::Counter,
            "Requests shed unhandled because their deadline had passed.",
            |c| c.expired,
        ),
        (
            "reactree_component_failures_total",
            Kind::Counter,
            "Failures of the component instance.",
            |c| c.failures,
        ),
        (
            "reactree_component_restarts_total",
            Kind::Counter,
            "Restarts of the component instance by its supervisor.",
            |c| c.restarts,
        ),
        (
            "reactree_component_blocked_total",
            Kind::Counter,
            "Times the watchdog saw the instance hold its reactor past the threshold.",
            |c| c.blocked,
        ),
    ];
    for (name, kind, help, value) in families {
        out.header(name, kind, help);
        for c in components {
            let instance = c.instance.to_string();
            let labels = [
                ("component", c.name.as_str()),
                ("instance", &instance),
                ("path", &c.path),
            ];
            out.sample(name, &labels, value(c));
        }
    }
}

fn supervisors(out: &mut Exposition, snapshot: &Snapshot) {
    let name = "reactree_supervisor_restarts_total";
    out.header(
        name,
        Kind::Counter,
        "Restarts made by the supervisor since it (last) started.",
    );
    for s in &snapshot.supervisors {
        out.sample(
            name,
            &[("path", &s.path), ("strategy", &s.strategy)],
            s.restarts,
        );
    }
}

fn reactors(out: &mut Exposition, snapshot: &Snapshot) {
    let reactors = &snapshot.reactors;
    let families: [Family<'_, ReactorSnapshot, f64>; 5] = [
        (
            "reactree_reactor_mailbox_depth",
            Kind::Gauge,
            "Commands waiting in the reactor's mailbox.",
            |r| r.mailbox_len as f64,
        ),
        (
            "reactree_reactor_components",
            Kind::Gauge,
            "Component instances placed on the reactor.",
            |r| r.components as f64,
        ),
        (
            "reactree_reactor_busy_seconds_total",
            Kind::Counter,
            "Time the reactor spent in component code (sampled by the watchdog).",
            |r| r.busy_ms as f64 / 1000.0,
        ),
        (
            "reactree_reactor_blocked_events_total",
            Kind::Counter,
            "Blocked episodes seen by the watchdog.",
            |r| r.blocked_events as f64,
        ),
        (
            "reactree_reactor_longest_block_seconds",
            Kind::Gauge,
            "The longest blocked episode.",
            |r| r.longest_block_ms as f64 / 1000.0,
        ),
    ];
    for (name, kind, help, value) in families {
        out.header(name, kind, help);
        for r in reactors {
            let index = r.index.to_string();
            out.sample(
                name,
                &[("reactor", &index), ("thread", &r.thread)],
                value(r),
            );
        }
    }
}

fn bus(out: &mut Exposition, addresses: &[AddressSnapshot]) {
    let families: [Family<'_, AddressSnapshot>; 7] = [
        (
            "reactree_bus_consumers",
            Kind::Gauge,
            "Consumers registered at the address.",
            |a| a.counters.consumers as u64,
        ),
        (
            "reactree_bus_sent_total",
            Kind::Counter,
            "Messages sent to the address and accepted.",
            |a| a.counters.sent,
        ),
        (
            "reactree_bus_published_total",
            Kind::Counter,
            "Publications to the address.",
            |a| a.counters.published,
        ),
        (
            "reactree_bus_requested_total",
            Kind::Counter,
            "Requests delivered to the address.",
            |a| a.counters.requested,
        ),
        (
            "reactree_bus_replied_total",
            Kind::Counter,
            "Requests to the address replied to.",
            |a| a.counters.replied,
        ),
        (
            "reactree_bus_timed_out_total",
            Kind::Counter,
            "Requests to the address that timed out.",
            |a| a.counters.timed_out,
        ),
        (
            "reactree_bus_refused_total",
            Kind::Counter,
            "Messages to the address refused by a full mailbox.",
            |a| a.counters.refused,
        ),
    ];
    for (name, kind, help, value) in families {
        out.header(name, kind, help);
        for a in addresses {
            out.sample(name, &[("address", &a.address)], value(a));
        }
    }
}

fn pools(out: &mut Exposition, pools: &[PoolSnapshot]) {
    let families: [Family<'_, PoolSnapshot>; 9] = [
        (
            "reactree_pool_threads",
            Kind::Gauge,
            "Threads of the worker pool.",
            |p| p.stats.threads as u64,
        ),
        (
            "reactree_pool_queue_length",
            Kind::Gauge,
            "Jobs waiting in the pool's queue.",
            |p| p.stats.queue_len as u64,
        ),
        (
            "reactree_pool_queue_capacity",
            Kind::Gauge,
            "Capacity of the pool's queue.",
            |p| p.stats.queue_capacity as u64,
        ),
        (
            "reactree_pool_active",
            Kind::Gauge,
            "Jobs running now.",
            |p| p.stats.active as u64,
        ),
        (
            "reactree_pool_submitted_total",
            Kind::Counter,
            "Jobs submitted to the pool.",
            |p| p.stats.submitted,
        ),
        (
            "reactree_pool_completed_total",
            Kind::Counter,
            "Jobs completed.",
            |p| p.stats.completed,
        ),
        (
            "reactree_pool_rejected_total",
            Kind::Counter,
            "Jobs refused (full queue or shut down).",
            |p| p.stats.rejected,
        ),
        (
            "reactree_pool_cancelled_total",
            Kind::Counter,
            "Jobs cancelled before they ran.",
            |p| p.stats.cancelled,
        ),
        (
            "reactree_pool_panicked_total",
            Kind::Counter,
            "Jobs that panicked.",
            |p| p.stats.panicked,
        ),
    ];
    for (name, kind, help, value) in families {
        out.header(name, kind, help);
        for p in pools {
            out.sample(name, &[("pool", &p.name)], value(p));
        }
    }
}

/// The text being written.
struct Exposition(String);

impl Exposition {
    fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {}", kind.name());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        self.0.push('{');
        for (i, (label, text)) in labels.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{label}=\"{}\"", escape_label(text));
        }
        let _ = writeln!(self.0, "}} {value}");
    }
}

/// A label value with `\`, `"` and line feeds escaped.
pub(crate) fn escape_label(text: &str) -> String {
    escape(text, true)
}

/// Help text with `\` and line feeds escaped.
fn escape_help(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out
}
