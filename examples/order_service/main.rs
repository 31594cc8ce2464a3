//! The flagship example: an order microservice on reactree.
//!
//! An HTTP adapter turns requests into bus messages; `orders` validates each order, asks
//! `pricing` and `inventory` at once by request-reply, writes it to a journal (fsync on
//! the worker pool) and answers; `audit` and `stats` receive every `orders.placed`
//! event. A supervision tree restarts whatever fails; the inspector shows it all live.
//!
//! Execute with `cargo run --features http --example order_service`, then:
//!
//! ```text
//! curl -si localhost:8080/orders -d '{"customer":"ada","lines":[{"sku":"apple","quantity":3}]}'
//! curl -s  localhost:8080/orders/1
//! curl -s  localhost:8080/stats
//! curl -si -X POST localhost:8080/chaos/panic/orders     # then watch the inspector
//! open     http://localhost:8080/                          # the inspector's live page
//! ```
//!
//! Flags and environment variables: see `app/settings.rs` (`--addr`, `--journal`,
//! `--reactors`, `--workers`, `--mailbox`, `--orders-mailbox`, `--chaos`). Load it with
//! `cargo run --release --features http --example order_load -- --clients 200 --seconds 60`.

mod app;

use app::service::Service;
use app::settings::Settings;

fn main() {
    let settings = match Settings::from_args_and_env(std::env::args().skip(1), |var| {
        std::env::var(var).ok()
    }) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let service = match Service::start(&settings) {
        Ok(service) => service,
        Err(error) => {
            eprintln!("order_service: could not start: {error}");
            std::process::exit(1);
        }
    };
    let addr = service.addr();
    println!("order_service listening on http://{addr}");
    println!("  orders:    POST http://{addr}/orders   GET http://{addr}/orders/{{id}}");
    println!("  inspector: http://{addr}/  (JSON: /inspect, Prometheus: /metrics)");
    println!("  journal:   {}", service.journal().path().display());
    println!(
        "  chaos:     POST http://{addr}/chaos/panic/{{orders|inventory|pricing|audit|stats|http}}"
    );
    if let Err(failure) = service.wait() {
        eprintln!("order_service: the root supervisor gave up: {failure}");
        std::process::exit(1);
    }
}
