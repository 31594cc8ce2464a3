//! `pricing`: a price table and a quote per order.

use std::collections::HashMap;
use std::sync::Arc;

use reactree::prelude::*;

use super::chaos::Chaos;
use super::orders::Line;

/// Asks for the total of some order lines, in cents.
pub struct Quote(pub Vec<Line>);
impl Message for Quote {
    /// The total, or the first SKU without a price.
    type Reply = Result<u64, String>;
}

/// Where `pricing` listens.
pub const QUOTE: Address<Quote> = Address::new("pricing.quote");

/// The catalogue: SKU and price in cents. `inventory` stocks the same SKUs.
pub const CATALOGUE: [(&str, u64); 6] = [
    ("apple", 30),
    ("pear", 45),
    ("plum", 25),
    ("fig", 80),
    ("kiwi", 35),
    ("mango", 120),
];

/// The price table.
pub struct Pricing {
    prices: HashMap<&'static str, u64>,
    chaos: Arc<Chaos>,
}

impl Pricing {
    /// A fresh price table.
    pub fn new(chaos: Arc<Chaos>) -> Self {
        Self {
            prices: CATALOGUE.into_iter().collect(),
            chaos,
        }
    }
}

impl Component for Pricing {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&QUOTE)?;
        Ok(())
    }
}

impl Handler<Quote> for Pricing {
    async fn handle(
        &mut self,
        Quote(lines): Quote,
        ctx: &mut Context<Self>,
    ) -> Result<u64, String> {
        self.chaos.strike(ctx.name());
        lines.iter().try_fold(0_u64, |total, line| {
            let price = self
                .prices
                .get(line.sku.as_str())
                .ok_or_else(|| format!("no price for SKU {:?}", line.sku))?;
            Ok(total + price * u64::from(line.quantity))
        })
    }
}
