//! The inspector in a terminal: a small supervision tree under load, a component that
//! panics and is restarted, and the live snapshot printed as a tree, the way `pstree` or
//! Erlang's observer would show it.
//!
//! Execute with `cargo run --example inspector`.

use std::time::Duration;

use reactree::prelude::*;
use reactree::{Backoff, Strategy};

struct Work(u32);
impl Message for Work {
    type Reply = u32;
}

const STOCK: Address<Work> = Address::new("demo.stock");
const ORDERS: Address<Work> = Address::new("demo.orders");
const PRICES: Address<Work> = Address::new("demo.prices");

/// Doubles its input; panics on 13, to show a restart.
struct Worker;
impl Component for Worker {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let address = match ctx.name() {
            "stock" => STOCK,
            "orders" => ORDERS,
            _ => PRICES,
        };
        ctx.consume(&address)?;
        Ok(())
    }
}
impl Handler<Work> for Worker {
    async fn handle(&mut self, Work(n): Work, _: &mut Context<Self>) -> u32 {
        assert!(n != 13, "unlucky number");
        n * 2
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sales = Supervisor::builder("sales")
        .strategy(Strategy::RestForOne)
        .backoff(Backoff::Fixed(Duration::from_millis(50)))
        .reactors(1)
        .child(ChildSpec::new("stock", || Worker).mailbox_capacity(64))
        .child(ChildSpec::new("orders", || Worker).instances(2));
    let runtime = Runtime::builder()
        .reactors(2)
        .supervisor(sales)
        .child(ChildSpec::new("pricing", || Worker))
        .build()?;
    runtime.block_on(async {
        for n in 0..1_000u32 {
            let a = runtime.bus().request(&ORDERS, Work(n)).await;
            if n == 13 {
                eprintln!("orders 13: {:?}", a.is_ok());
                eprintln!("{}", runtime.handle().inspect());
            }
            let _ = runtime.bus().request(&STOCK, Work(n)).await;
            let _ = runtime.bus().request(&PRICES, Work(n + 100)).await;
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    println!("{}", runtime.handle().inspect());
    runtime.shutdown();
    Ok(())
}
