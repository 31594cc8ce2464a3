//! `notifications`: `orders.placed` is published, and every subscriber gets every event:
//! `audit` keeps a log of the latest events, `stats` keeps running totals.

use std::collections::VecDeque;
use std::sync::Arc;

use reactree::prelude::*;
use serde::Serialize;

use super::chaos::Chaos;

/// An order was placed (published by `orders` once the order is in the journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderPlaced {
    /// The order's id.
    pub id: u64,
    /// Who placed it.
    pub customer: String,
    /// Its price, in cents.
    pub total_cents: u64,
    /// Units over all its lines.
    pub units: u64,
}
impl Message for OrderPlaced {
    type Reply = ();
}

/// Where `orders.placed` events go: every consumer gets each one.
pub const PLACED: Address<OrderPlaced> = Address::new("orders.placed");

/// Asks `stats` for its totals.
pub struct GetStats;
impl Message for GetStats {
    type Reply = Stats;
}

/// Running totals since `stats` started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Orders seen.
    pub orders: u64,
    /// Their revenue, in cents.
    pub revenue_cents: u64,
    /// Units sold.
    pub units: u64,
    /// The audit log's count of events, and its latest lines.
    pub audited: u64,
    /// The latest audit lines, newest last.
    pub latest: Vec<String>,
}

/// Asks `audit` for its count and latest lines.
pub struct GetAudit;
impl Message for GetAudit {
    type Reply = (u64, Vec<String>);
}

/// Where `stats` answers.
pub const STATS: Address<GetStats> = Address::new("stats.get");
/// Where `audit` answers.
pub const AUDIT: Address<GetAudit> = Address::new("audit.get");

/// How many audit lines are kept.
const AUDIT_LINES: usize = 20;

/// The audit log: one line per placed order (the latest few kept in memory).
pub struct Audit {
    lines: VecDeque<String>,
    count: u64,
    chaos: Arc<Chaos>,
}

impl Audit {
    /// An empty log.
    pub fn new(chaos: Arc<Chaos>) -> Self {
        Self {
            lines: VecDeque::new(),
            count: 0,
            chaos,
        }
    }
}

impl Component for Audit {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&PLACED)?;
        ctx.consume(&AUDIT)?;
        Ok(())
    }
}

impl Handler<OrderPlaced> for Audit {
    async fn handle(&mut self, event: OrderPlaced, ctx: &mut Context<Self>) {
        self.chaos.strike(ctx.name());
        self.count += 1;
        if self.lines.len() == AUDIT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(format!(
            "order {} by {} for {} cents",
            event.id, event.customer, event.total_cents
        ));
    }
}

impl Handler<GetAudit> for Audit {
    async fn handle(&mut self, _: GetAudit, _: &mut Context<Self>) -> (u64, Vec<String>) {
        (self.count, self.lines.iter().cloned().collect())
    }
}

/// Running statistics.
pub struct StatsKeeper {
    stats: Stats,
    chaos: Arc<Chaos>,
}

impl StatsKeeper {
    /// Zero totals.
    pub fn new(chaos: Arc<Chaos>) -> Self {
        Self {
            stats: Stats::default(),
            chaos,
        }
    }
}

impl Component for StatsKeeper {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&PLACED)?;
        ctx.consume(&STATS)?;
        Ok(())
    }
}

impl Handler<OrderPlaced> for StatsKeeper {
    async fn handle(&mut self, event: OrderPlaced, ctx: &mut Context<Self>) {
        self.chaos.strike(ctx.name());
        self.stats.orders += 1;
        self.stats.revenue_cents += event.total_cents;
        self.stats.units += event.units;
    }
}

impl Handler<GetStats> for StatsKeeper {
    async fn handle(&mut self, _: GetStats, ctx: &mut Context<Self>) -> Stats {
        // The audit's side of the story, for one response showing both subscribers.
        let (audited, latest) = ctx
            .bus()
            .request(&AUDIT, GetAudit)
            .await
            .unwrap_or_default();
        Stats {
            audited,
            latest,
            ..self.stats.clone()
        }
    }
}
