//! `inventory`: stock per SKU and reservations.
//!
//! `orders` reserves the lines of an order before writing it to the journal, then
//! confirms the reservation (or releases it if the write failed). A periodic timer
//! releases reservations that were never confirmed (their order never made it), so
//! stock cannot leak. On (re)start the stock is rebuilt from the journal: the initial
//! stock minus every journaled order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactree::prelude::*;

use super::chaos::Chaos;
use super::journal::Journal;
use super::orders::Line;
use super::pricing::CATALOGUE;

/// Units of each SKU at the very start.
pub const INITIAL_STOCK: u32 = 10_000_000;

/// How long a reservation waits for its confirmation.
pub const RESERVATION_TTL: Duration = Duration::from_secs(5);

/// How often unconfirmed reservations are looked for, at most.
const SWEEP: Duration = Duration::from_secs(1);

/// Reserves the lines of an order.
pub struct Reserve(pub Vec<Line>);
impl Message for Reserve {
    /// A reservation id, or why not (unknown SKU, not enough stock).
    type Reply = Result<u64, ReserveError>;
}

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveError {
    /// No such SKU.
    Unknown(String),
    /// Not enough units left.
    OutOfStock(String),
}

/// Makes a reservation final (its order is in the journal).
pub struct Confirm(pub u64);
impl Message for Confirm {
    type Reply = ();
}

/// Gives a reservation's units back (its order was not written).
pub struct Release(pub u64);
impl Message for Release {
    type Reply = ();
}

/// Asks for the units left of a SKU.
pub struct StockOf(pub String);
impl Message for StockOf {
    type Reply = Option<u32>;
}

/// Where `inventory` listens.
pub const RESERVE: Address<Reserve> = Address::new("inventory.reserve");
/// Confirmations.
pub const CONFIRM: Address<Confirm> = Address::new("inventory.confirm");
/// Releases.
pub const RELEASE: Address<Release> = Address::new("inventory.release");
/// Stock queries.
pub const STOCK: Address<StockOf> = Address::new("inventory.stock");

struct Reservation {
    lines: Vec<Line>,
    expires: Instant,
}

/// Stock and reservations.
pub struct Inventory {
    stock: HashMap<String, u32>,
    reservations: HashMap<u64, Reservation>,
    next: u64,
    journal: Journal,
    chaos: Arc<Chaos>,
    /// How long a reservation waits for its confirmation.
    ttl: Duration,
    /// Reservations released by the timer since start.
    pub expired: u64,
}

impl Inventory {
    /// Empty until `start` reads the journal.
    pub fn new(journal: Journal, chaos: Arc<Chaos>) -> Self {
        Self::with_ttl(journal, chaos, RESERVATION_TTL)
    }

    /// With reservations that expire after `ttl` (the tests use a short one).
    pub fn with_ttl(journal: Journal, chaos: Arc<Chaos>, ttl: Duration) -> Self {
        Self {
            stock: HashMap::new(),
            reservations: HashMap::new(),
            next: 1,
            journal,
            chaos,
            ttl,
            expired: 0,
        }
    }

    fn give_back(&mut self, lines: &[Line]) {
        for line in lines {
            if let Some(units) = self.stock.get_mut(&line.sku) {
                *units += line.quantity;
            }
        }
    }
}

impl Component for Inventory {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        // Reading the journal is blocking I/O: the worker pool does it.
        let journal = self.journal.clone();
        self.stock = ctx
            .execute_blocking(move |_| {
                let mut stock: HashMap<String, u32> = CATALOGUE
                    .iter()
                    .map(|(sku, _)| ((*sku).to_owned(), INITIAL_STOCK))
                    .collect();
                journal.for_each(|order| {
                    for line in &order.lines {
                        if let Some(units) = stock.get_mut(&line.sku) {
                            *units = units.saturating_sub(line.quantity);
                        }
                    }
                })?;
                Ok::<_, std::io::Error>(stock)
            })
            .await??;
        ctx.consume(&RESERVE)?;
        ctx.consume(&CONFIRM)?;
        ctx.consume(&RELEASE)?;
        ctx.consume(&STOCK)?;
        ctx.run_periodic(SWEEP.min(self.ttl), |inventory, _ctx| {
            let now = Instant::now();
            let stale: Vec<u64> = inventory
                .reservations
                .iter()
                .filter(|(_, r)| r.expires <= now)
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                if let Some(reservation) = inventory.reservations.remove(&id) {
                    inventory.give_back(&reservation.lines);
                    inventory.expired += 1;
                }
            }
        });
        Ok(())
    }
}

impl Handler<Reserve> for Inventory {
    async fn handle(
        &mut self,
        Reserve(lines): Reserve,
        ctx: &mut Context<Self>,
    ) -> Result<u64, ReserveError> {
        self.chaos.strike(ctx.name());
        // Check every line before taking anything.
        let mut wanted: HashMap<&str, u32> = HashMap::new();
        for line in &lines {
            *wanted.entry(line.sku.as_str()).or_default() += line.quantity;
        }
        for (sku, units) in &wanted {
            match self.stock.get(*sku) {
                None => return Err(ReserveError::Unknown((*sku).to_owned())),
                Some(left) if left < units => {
                    return Err(ReserveError::OutOfStock((*sku).to_owned()));
                }
                Some(_) => {}
            }
        }
        for (sku, units) in wanted {
            if let Some(left) = self.stock.get_mut(sku) {
                *left -= units;
            }
        }
        let id = self.next;
        self.next += 1;
        self.reservations.insert(
            id,
            Reservation {
                lines,
                expires: Instant::now() + self.ttl,
            },
        );
        Ok(id)
    }
}

impl Handler<Confirm> for Inventory {
    async fn handle(&mut self, Confirm(id): Confirm, ctx: &mut Context<Self>) {
        self.chaos.strike(ctx.name());
        self.reservations.remove(&id);
    }
}

impl Handler<Release> for Inventory {
    async fn handle(&mut self, Release(id): Release, ctx: &mut Context<Self>) {
        self.chaos.strike(ctx.name());
        if let Some(reservation) = self.reservations.remove(&id) {
            self.give_back(&reservation.lines);
        }
    }
}

impl Handler<StockOf> for Inventory {
    async fn handle(&mut self, StockOf(sku): StockOf, _: &mut Context<Self>) -> Option<u32> {
        self.stock.get(&sku).copied()
    }
}
