//! `orders`: validates an order, asks `pricing` and `inventory` concurrently, writes the
//! order to the journal (fsync, on the worker pool) and only then answers with its id and
//! total; then tells `inventory` to confirm and publishes `orders.placed`.
//!
//! On (re)start it reads the whole journal back, so a restart loses no order that was
//! ever acknowledged. It keeps the latest [`RECENT`] orders in memory, so its memory does
//! not grow with the journal; older ones are found in the journal (a binary search on the
//! worker pool).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reactree::prelude::*;
use serde::{Deserialize, Serialize};

use super::chaos::Chaos;
use super::inventory::{CONFIRM, Confirm, RELEASE, RESERVE, Release, Reserve, ReserveError};
use super::journal::Journal;
use super::notifications::{OrderPlaced, PLACED};
use super::pricing::{QUOTE, Quote};

/// Most lines in one order.
pub const MAX_LINES: usize = 50;
/// Most units of one line.
pub const MAX_QUANTITY: u32 = 1000;
/// How many of the latest orders `orders` keeps in memory.
pub const RECENT: usize = 10_000;
/// How long `orders` waits for `pricing` and `inventory`.
pub const DEPENDENCY_TIMEOUT: Duration = Duration::from_millis(300);

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// What.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// An accepted order, as the journal and `GET /orders/{id}` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: u64,
    /// Who placed it.
    pub customer: String,
    /// What was ordered.
    pub lines: Vec<Line>,
    /// The price, in cents.
    pub total_cents: u64,
    /// When it was accepted (ms since the Unix epoch).
    pub placed_at_ms: u64,
}

/// Places an order.
#[derive(Debug, Clone, Deserialize)]
pub struct PlaceOrder {
    /// Who orders.
    pub customer: String,
    /// What.
    pub lines: Vec<Line>,
}
impl Message for PlaceOrder {
    type Reply = Result<Placed, OrderError>;
}

/// What `POST /orders` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// The order's id.
    pub id: u64,
    /// Its price, in cents.
    pub total_cents: u64,
}

/// Why an order was not placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderError {
    /// The order itself is wrong (HTTP 400).
    Invalid(String),
    /// Not enough stock (HTTP 409).
    OutOfStock(String),
    /// A service it needs did not answer (HTTP 503).
    Unavailable(String),
}

/// Looks an order up.
pub struct GetOrder(pub u64);
impl Message for GetOrder {
    type Reply = Option<Order>;
}

/// Where `orders` takes new orders.
pub const PLACE: Address<PlaceOrder> = Address::new("orders.place");
/// Where `orders` answers lookups.
pub const GET: Address<GetOrder> = Address::new("orders.get");

/// The orders accepted so far.
pub struct Orders {
    /// The latest orders, by id, at most [`RECENT`].
    recent: HashMap<u64, Order>,
    /// Their ids, oldest first.
    ages: VecDeque<u64>,
    next: u64,
    journal: Journal,
    chaos: Arc<Chaos>,
}

impl Orders {
    /// Empty until `start` reads the journal.
    pub fn new(journal: Journal, chaos: Arc<Chaos>) -> Self {
        Self {
            recent: HashMap::new(),
            ages: VecDeque::new(),
            next: 1,
            journal,
            chaos,
        }
    }
}

impl Component for Orders {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let journal = self.journal.clone();
        let latest = ctx
            .execute_blocking(move |_| {
                let mut latest = VecDeque::new();
                journal.for_each(|order| {
                    if latest.len() == RECENT {
                        latest.pop_front();
                    }
                    latest.push_back(order);
                })?;
                Ok::<_, std::io::Error>(latest)
            })
            .await??;
        self.next = latest.back().map_or(0, |o: &Order| o.id) + 1;
        for order in latest {
            self.remember(order);
        }
        ctx.consume(&PLACE)?;
        ctx.consume(&GET)?;
        Ok(())
    }
}

impl Orders {
    fn remember(&mut self, order: Order) {
        if self.ages.len() == RECENT
            && let Some(oldest) = self.ages.pop_front()
        {
            self.recent.remove(&oldest);
        }
        self.ages.push_back(order.id);
        self.recent.insert(order.id, order);
    }
}

fn validate(order: &PlaceOrder) -> Result<(), OrderError> {
    let invalid = |why: &str| Err(OrderError::Invalid(why.to_owned()));
    if order.customer.trim().is_empty() || order.customer.len() > 200 {
        return invalid("customer must be 1 to 200 characters");
    }
    if order.lines.is_empty() || order.lines.len() > MAX_LINES {
        return invalid("an order has 1 to 50 lines");
    }
    if let Some(line) = order
        .lines
        .iter()
        .find(|l| l.quantity == 0 || l.quantity > MAX_QUANTITY)
    {
        return Err(OrderError::Invalid(format!(
            "quantity of {:?} must be 1 to {MAX_QUANTITY}",
            line.sku
        )));
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Handler<PlaceOrder> for Orders {
    async fn handle(
        &mut self,
        order: PlaceOrder,
        ctx: &mut Context<Self>,
    ) -> Result<Placed, OrderError> {
        self.chaos.strike(ctx.name());
        validate(&order)?;
        let bus = ctx.bus().clone();
        // Price and reserve at once: two requests in flight, to two other components.
        // Their timeout is well under the HTTP adapter's (the runtime's 2 s): when
        // inventory is down, rest-for-one is stopping this very component to restart
        // both, and this handler had better give up (503) than hold the restart up.
        let (quote, reservation) = futures_lite::future::zip(
            bus.request_timeout(&QUOTE, Quote(order.lines.clone()), DEPENDENCY_TIMEOUT),
            bus.request_timeout(&RESERVE, Reserve(order.lines.clone()), DEPENDENCY_TIMEOUT),
        )
        .await;
        let reservation = match reservation {
            Ok(Ok(id)) => id,
            Ok(Err(ReserveError::Unknown(sku))) => {
                return Err(OrderError::Invalid(format!("unknown SKU {sku:?}")));
            }
            Ok(Err(ReserveError::OutOfStock(sku))) => return Err(OrderError::OutOfStock(sku)),
            Err(error) => return Err(OrderError::Unavailable(format!("inventory: {error}"))),
        };
        let total_cents = match quote {
            Ok(Ok(total)) => total,
            failed => {
                let _ = bus.try_send(&RELEASE, Release(reservation));
                return Err(match failed {
                    Ok(Err(why)) => OrderError::Invalid(why),
                    Err(error) => OrderError::Unavailable(format!("pricing: {error}")),
                    Ok(Ok(_)) => unreachable!(),
                });
            }
        };
        let accepted = Order {
            id: self.next,
            customer: order.customer,
            lines: order.lines,
            total_cents,
            placed_at_ms: now_ms(),
        };
        // Durable before acknowledged: the fsync runs on the worker pool, in order.
        let journal = self.journal.clone();
        let line = accepted.clone();
        match ctx
            .execute_blocking_ordered(move |_| journal.append(std::slice::from_ref(&line)))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                let _ = bus.try_send(&RELEASE, Release(reservation));
                return Err(OrderError::Unavailable(format!("journal: {error}")));
            }
            Err(error) => {
                let _ = bus.try_send(&RELEASE, Release(reservation));
                return Err(OrderError::Unavailable(format!("journal: {error}")));
            }
        }
        self.next += 1;
        let placed = Placed {
            id: accepted.id,
            total_cents,
        };
        // The order stands now. A lost confirmation only lets the reservation expire,
        // and the stock is rebuilt from the journal on inventory's next start.
        let _ = bus.send(&CONFIRM, Confirm(reservation)).await;
        let event = OrderPlaced {
            id: accepted.id,
            customer: accepted.customer.clone(),
            total_cents,
            units: accepted.lines.iter().map(|l| u64::from(l.quantity)).sum(),
        };
        let _ = bus.publish(&PLACED, event).await;
        self.remember(accepted);
        Ok(placed)
    }
}

impl Handler<GetOrder> for Orders {
    async fn handle(&mut self, GetOrder(id): GetOrder, ctx: &mut Context<Self>) -> Option<Order> {
        self.chaos.strike(ctx.name());
        if let Some(order) = self.recent.get(&id) {
            return Some(order.clone());
        }
        if id == 0 || id >= self.next {
            return None;
        }
        // Older than what is kept in memory: look in the journal, off the reactor.
        let journal = self.journal.clone();
        match ctx.execute_blocking(move |_| journal.find(id)).await {
            Ok(Ok(found)) => found,
            _ => None,
        }
    }
}
