//! The inspector in a terminal: a small supervision tree under load, a component that
//! panics and is restarted, and the live snapshot printed as a tree, the way `pstree` or
//! Erlang's observer would show it.
//!
//! With the `http` feature it then serves the inspector over HTTP while the load goes on:
//! open the printed address in a browser for the live page, or fetch `/inspect` (JSON) and
//! `/metrics` (Prometheus). Optional arguments: the address to bind (default
//! `127.0.0.1:0`, any free port) and how many seconds to serve (default 60).
//!
//! Execute with `cargo run --example inspector`, or
//! `cargo run --example inspector --features http -- 127.0.0.1:8080 300`.

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
    #[cfg(feature = "http")]
    serve(&runtime)?;
    runtime.shutdown();
    Ok(())
}

/// Serves the inspector while a steady load runs, with an unlucky 13 every few seconds.
#[cfg(feature = "http")]
fn serve(runtime: &Runtime) -> Result<(), Box<dyn std::error::Error>> {
    use std::time::Instant;

    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let seconds: u64 = args.next().map_or(Ok(60), |s| s.parse())?;
    let server = runtime.handle().serve_inspector(address.as_str())?;
    let at = server.local_addr();
    println!(
        "inspector: open http://{at}/ in a browser (JSON at /inspect, Prometheus at /metrics)"
    );
    println!("serving for {seconds} s");
    let until = Instant::now() + Duration::from_secs(seconds);
    runtime.block_on(async {
        let mut n = 0_u32;
        while Instant::now() < until {
            n = n.wrapping_add(1);
            let unlucky = if n.is_multiple_of(100) {
                13
            } else {
                n % 1000 + 14
            };
            let _ = runtime.bus().request(&ORDERS, Work(unlucky)).await;
            let _ = runtime.bus().request(&STOCK, Work(n % 1000)).await;
            let _ = runtime.bus().request(&PRICES, Work(n % 1000)).await;
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
    });
    server.stop();
    Ok(())
}
