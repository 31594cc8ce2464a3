//! The supervision tree, and starting and stopping the whole service.
//!
//! ```text
//! root (one-for-one; 10 restarts in 10 s; backoff 10 ms doubling to 1 s)
//! ├── sales (rest-for-one; its own reactor; 5 restarts in 10 s; backoff 10 ms to 500 ms)
//! │   ├── inventory      stock and reservations
//! │   └── orders         depends on inventory: restarted whenever inventory is
//! ├── pricing × 2        stateless, two instances
//! ├── audit              subscribers of orders.placed
//! ├── stats
//! └── http               the HTTP adapter, started last: the service is up when it listens
//! ```

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use reactree::prelude::*;
use reactree::{Backoff, Intensity, PoolConfig, Strategy};

use super::chaos::Chaos;
use super::http::HttpAdapter;
use super::inventory::Inventory;
use super::journal::Journal;
use super::notifications::{Audit, StatsKeeper};
use super::orders::Orders;
use super::pricing::Pricing;
use super::settings::Settings;

/// A running order service.
#[derive(Debug)]
pub struct Service {
    runtime: Runtime,
    addr: SocketAddr,
    journal: Journal,
    chaos: Arc<Chaos>,
}

impl Service {
    /// Binds the address, opens the journal and starts the tree; returns once every
    /// component has started (so once the HTTP adapter listens).
    pub fn start(settings: &Settings) -> Result<Self, Box<dyn std::error::Error>> {
        let listener = TcpListener::bind(settings.addr)?;
        let addr = listener.local_addr()?;
        let listener = Arc::new(listener);
        let journal = Journal::open(&settings.journal)?;
        let chaos = Arc::new(Chaos::from_list(&settings.chaos));

        // Inventory before orders, rest-for-one: orders holds reservations made at
        // inventory, so when inventory restarts (losing them) orders restarts too, and
        // both rebuild from the journal. Orders may fail alone without touching
        // inventory. Five restarts within ten seconds is a crash loop, and `sales` gives
        // up to the root; the short exponential backoff keeps a flapping dependency from
        // spinning the reactor.
        let (j, c) = (journal.clone(), chaos.clone());
        let inventory = ChildSpec::new("inventory", move || Inventory::new(j.clone(), c.clone()));
        let (j, c) = (journal.clone(), chaos.clone());
        let orders = ChildSpec::new("orders", move || Orders::new(j.clone(), c.clone()))
            .mailbox_capacity(settings.orders_mailbox);
        let sales = Supervisor::builder("sales")
            .strategy(Strategy::RestForOne)
            .reactors(1)
            .intensity(Intensity::new(5, Duration::from_secs(10))?)
            .backoff(Backoff::exponential(
                Duration::from_millis(10),
                Duration::from_millis(500),
                0.1,
                Duration::from_secs(30),
            )?)
            .child(inventory)
            .child(orders);

        let c = chaos.clone();
        let pricing = ChildSpec::new("pricing", move || Pricing::new(c.clone())).instances(2);
        let c = chaos.clone();
        let audit = ChildSpec::new("audit", move || Audit::new(c.clone()));
        let c = chaos.clone();
        let stats = ChildSpec::new("stats", move || StatsKeeper::new(c.clone()));
        let (c, path) = (chaos.clone(), journal.path().to_owned());
        let http = ChildSpec::new("http", move || {
            HttpAdapter::new(listener.clone(), c.clone(), path.clone())
        })
        .reactor(0);

        // The root: independent services, one-for-one. Ten restarts in ten seconds
        // lets a chaos run go on; past that the runtime ends, as OTP's would.
        let runtime = Runtime::builder()
            .reactors(settings.reactors)
            .mailbox_capacity(settings.mailbox)
            .request_timeout(Duration::from_secs(2))
            .worker_pool(PoolConfig::new().threads(settings.workers))
            .strategy(Strategy::OneForOne)
            .intensity(Intensity::new(10, Duration::from_secs(10))?)
            .backoff(Backoff::exponential(
                Duration::from_millis(10),
                Duration::from_secs(1),
                0.1,
                Duration::from_secs(30),
            )?)
            .supervisor(sales)
            .child(pricing)
            .child(audit)
            .child(stats)
            .child(http)
            .build()?;
        Ok(Self {
            runtime,
            addr,
            journal,
            chaos,
        })
    }

    /// Where the HTTP adapter listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The chaos switch.
    pub fn chaos(&self) -> &Chaos {
        &self.chaos
    }

    /// The runtime (for the inspector, say).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Runs until the runtime ends (the root gave up, or a shutdown was requested).
    pub fn wait(self) -> Result<(), reactree::Failure> {
        self.runtime.wait()
    }

    /// Stops every component (the HTTP adapter first) and joins every thread.
    pub fn shutdown(self) {
        self.runtime.shutdown();
    }
}
