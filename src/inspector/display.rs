//! `Display` for a snapshot: the tree as a terminal shows it, readable at 80 columns.

use std::fmt;

use super::{ComponentSnapshot, Snapshot, SupervisorSnapshot};

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for supervisor in self.supervisors.iter().filter(|s| !s.path.contains('/')) {
            self.supervisor(f, supervisor, "", "")?;
        }
        writeln!(f, "reactors")?;
        for r in &self.reactors {
            writeln!(
                f,
                "  r{:<3} {:<20} cmds {:>4}/{:<5} comps {:<4} busy {}ms blocked {}",
                r.index,
                r.thread,
                r.mailbox_len,
                r.mailbox_capacity,
                r.components,
                r.busy_ms,
                r.blocked_events,
            )?;
        }
        if !self.bus.is_empty() {
            writeln!(f, "bus")?;
        }
        for a in &self.bus {
            writeln!(
                f,
                "  {:<24} c{} sent {} pub {} req {}/{} t/o {} refused {}",
                clip(&a.address, 24),
                a.counters.consumers,
                a.counters.sent,
                a.counters.published,
                a.counters.replied,
                a.counters.requested,
                a.counters.timed_out,
                a.counters.refused,
            )?;
        }
        writeln!(f, "pools")?;
        for p in &self.pools {
            writeln!(
                f,
                "  {:<10} threads {} queue {}/{} active {} done {} rej {} canc {} pan {}",
                clip(&p.name, 10),
                p.stats.threads,
                p.stats.queue_len,
                p.stats.queue_capacity,
                p.stats.active,
                p.stats.completed,
                p.stats.rejected,
                p.stats.cancelled,
                p.stats.panicked,
            )?;
        }
        Ok(())
    }
}

impl Snapshot {
    fn supervisor(
        &self,
        f: &mut fmt::Formatter<'_>,
        node: &SupervisorSnapshot,
        lead: &str,
        branch: &str,
    ) -> fmt::Result {
        let name = node.path.rsplit('/').next().unwrap_or(&node.path);
        writeln!(
            f,
            "{lead}{branch}{name} [{}] {} restarts {}",
            node.strategy, node.state, node.restarts
        )?;
        let inner = format!(
            "{lead}{}",
            match branch {
                "" => "",
                "└─ " => "   ",
                _ => "│  ",
            }
        );
        let count = node.children.len();
        for (i, child) in node.children.iter().enumerate() {
            let branch = if i + 1 == count { "└─ " } else { "├─ " };
            let path = format!("{}/{child}", node.path);
            if let Some(nested) = self.supervisors.iter().find(|s| s.path == path) {
                self.supervisor(f, nested, &inner, branch)?;
                continue;
            }
            let instances: Vec<_> = self.components.iter().filter(|c| c.path == path).collect();
            for (j, c) in instances.iter().enumerate() {
                let last = i + 1 == count && j + 1 == instances.len();
                component(f, c, &inner, if last { "└─ " } else { "├─ " })?;
            }
        }
        Ok(())
    }
}

fn component(
    f: &mut fmt::Formatter<'_>,
    c: &ComponentSnapshot,
    lead: &str,
    branch: &str,
) -> fmt::Result {
    let label = format!("{lead}{branch}{}#{}", c.name, c.instance);
    let fill = format!("{}/{}", c.mailbox_len, c.mailbox_capacity);
    writeln!(
        f,
        "{:<32} {:<10} r{:<2} {:>11} handled {} restarts {}",
        clip(&label, 32),
        c.state,
        c.reactor,
        fill,
        c.handled,
        c.restarts
    )
}

/// At most `width` characters, an ellipsis marking a cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
