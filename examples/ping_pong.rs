//! Two components on two reactors play ping-pong over the bus, a timer reports progress,
//! and `main` talks to them from outside: the smallest complete reactree program.
//!
//! `main` serves each ball to `ping` (reactor 0), whose handler passes it on to `pong`
//! (reactor 1) by request-reply and returns pong's answer. It shows a component
//! consuming an address, a handler that awaits its own request, a periodic timer,
//! request-reply from `main`, and a clean shutdown. (A handler awaits with its component
//! busy: had `pong` requested back to `ping`, both would wait for each other until the
//! request timeout. Chains of requests must not loop back.)
//!
//! Execute with `cargo run --example ping_pong`.

use std::time::Duration;

use reactree::prelude::*;

/// A ball with the number of hits so far; the reply is the count after the rally.
struct Ball(u32);
impl Message for Ball {
    type Reply = u32;
}

const PING: Address<Ball> = Address::new("game.ping");
const PONG: Address<Ball> = Address::new("game.pong");

/// Counts each ball and passes it on to `to`, if any.
struct Player {
    name: &'static str,
    to: Option<Address<Ball>>,
    listen: Address<Ball>,
    hits: u64,
}

impl Component for Player {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&self.listen)?;
        ctx.run_periodic(Duration::from_millis(200), |player, ctx| {
            say(&format!(
                "{} on reactor {} has hit {} balls",
                player.name,
                ctx.reactor(),
                player.hits
            ));
        });
        Ok(())
    }

    async fn stop(&mut self, _ctx: &mut Context<Self>) {
        say(&format!("{} stops after {} hits", self.name, self.hits));
    }
}

impl Handler<Ball> for Player {
    async fn handle(&mut self, Ball(n): Ball, ctx: &mut Context<Self>) -> u32 {
        self.hits += 1;
        let Some(to) = &self.to else {
            return n + 1;
        };
        // Pass it on and wait for the answer; this instance handles nothing meanwhile.
        match ctx.bus().request(to, Ball(n + 1)).await {
            Ok(count) => count,
            Err(error) => {
                say(&format!("{}: {error}", self.name));
                n + 1
            }
        }
    }
}

/// The example prints; the library never does (it reports through `tracing`).
fn say(line: &str) {
    println!("{line}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder().reactors(2).build()?;
    runtime.block_on(async {
        let ping = ChildSpec::new("ping", || Player {
            name: "ping",
            to: Some(PONG),
            listen: PING,
            hits: 0,
        })
        .reactor(0);
        let pong = ChildSpec::new("pong", || Player {
            name: "pong",
            to: None,
            listen: PONG,
            hits: 0,
        })
        .reactor(1);
        runtime.deploy(ping).await?;
        runtime.deploy(pong).await?;
        let mut total = 0;
        for serve in 0..20_000 {
            total += runtime.bus().request(&PING, Ball(serve % 7)).await?;
        }
        println!("20000 balls went ping-pong; checksum {total}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    runtime.shutdown();
    println!("shut down cleanly");
    Ok(())
}
