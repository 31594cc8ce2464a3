//! The cost of an inspector snapshot with 10,000 components deployed over two reactors
//! (each consuming one address of its own), taken from the bench thread while the
//! runtime runs: `Handle::inspect()` alone, and with its `Display` rendering.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use reactree::prelude::*;

struct Ping;
impl Message for Ping {
    type Reply = ();
}

struct Idle;
impl Component for Idle {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let address = Address::<Ping>::from_string(format!("bench.{}", ctx.instance()));
        ctx.consume(&address)?;
        Ok(())
    }
}
impl Handler<Ping> for Idle {
    async fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

fn inspector_snapshot(c: &mut Criterion) {
    let runtime = Runtime::builder()
        .reactors(2)
        .worker_pool(reactree::PoolConfig::new().threads(1))
        .build()
        .expect("runtime");
    runtime
        .block_on(
            runtime.deploy(
                ChildSpec::new("idle", || Idle)
                    .instances(10_000)
                    .mailbox_capacity(16),
            ),
        )
        .expect("deploy");
    let handle = runtime.handle().clone();
    assert_eq!(handle.inspect().components.len(), 10_000);
    let mut group = c.benchmark_group("inspector_snapshot");
    group.bench_function("inspect_10k_components", |b| b.iter(|| handle.inspect()));
    group.bench_function("inspect_and_render_10k_components", |b| {
        b.iter(|| handle.inspect().to_string())
    });
    group.finish();
    runtime.shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    targets = inspector_snapshot
}
criterion_main!(benches);
