//! Every handled request is traced in a `bus.handle` span that records its correlation id,
//! inside the component's `component.lifecycle` span (issue: core runtime, point 5); a
//! supervisor is in its `supervisor` span only while it works.

#[path = "support/common.rs"]
mod common;
#[path = "support/driver.rs"]
mod driver;

use std::sync::{Arc, Mutex};

use common::*;
use reactree::prelude::*;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A captured span: its name, its fields, and its parent's name.
type Captured = (String, Vec<(String, String)>, Option<String>);

/// Captures every new span.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<Captured>>>,
}

struct Fields(Vec<(String, String)>);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        self.spans
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields.0, parent));
    }
}

#[test]
fn a_request_span_records_its_correlation_id() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    // Reactor threads report to the global dispatcher.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let log = log();
    let runtime = runtime(1);
    let reply = runtime.block_on(async {
        runtime
            .deploy(Probe::spec("traced", "trace.probe", &log))
            .await
            .unwrap();
        runtime
            .deploy(driver::Driver::<Reply>::spec())
            .await
            .unwrap();
        runtime
            .bus()
            .request(&Address::new("trace.probe"), Cmd::Correlation)
            .await
            .unwrap()
    });
    let Reply::Correlation(Some(id)) = reply else {
        panic!("no correlation id");
    };
    // A component deployed by a handler on the root's reactor (done inside the
    // handler's poll) still has a lifecycle of its own: a root span.
    let spec = Probe::spec("inner", "trace.inner", &log);
    let reply = runtime.block_on(driver::ask(runtime.bus(), GENEROUS, |handle| async move {
        handle.deploy(spec).await.unwrap();
        handle
            .bus()
            .request(&Address::new("trace.inner"), Cmd::Echo(7))
            .await
            .unwrap()
    }));
    assert_eq!(reply.ok(), Some(Reply::Number(7)));
    // A task a component spawns on the root supervisor's reactor is polled outside the
    // supervisor's span: the supervisor is in its span only while it works.
    let (done_tx, done) = flume::bounded(1);
    runtime
        .block_on(runtime.deploy(ChildSpec::new("spawner", move || Spawner {
            done: done_tx.clone(),
        })))
        .unwrap();
    done.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the spawned task ran");
    runtime.shutdown();
    let spans = capture.spans.lock().unwrap();
    let handled = spans
        .iter()
        .find(|(name, fields, _)| {
            name == "bus.handle" && fields.contains(&("correlation_id".into(), id.to_string()))
        })
        .unwrap_or_else(|| panic!("no bus.handle span with correlation id {id}: {spans:?}"));
    assert!(
        handled.1.contains(&("component".into(), "traced".into())),
        "{handled:?}"
    );
    assert_eq!(handled.2.as_deref(), Some("component.lifecycle"));
    let inner = spans
        .iter()
        .find(|(name, fields, _)| {
            name == "component.lifecycle" && fields.contains(&("component".into(), "inner".into()))
        })
        .unwrap_or_else(|| panic!("no lifecycle span of the inner component: {spans:?}"));
    assert_eq!(inner.2, None, "{inner:?}");
    let task = spans
        .iter()
        .find(|(name, _, _)| name == "user.task")
        .unwrap_or_else(|| panic!("no span of the spawned task: {spans:?}"));
    assert_eq!(task.2.as_deref(), Some("reactor.run"), "{task:?}");
    let supervisor = spans
        .iter()
        .find(|(name, _, _)| name == "supervisor")
        .unwrap_or_else(|| panic!("no supervisor span: {spans:?}"));
    assert_eq!(supervisor.2, None, "{supervisor:?}");
}

/// Spawns a task that, in a later poll, opens a span and says it has.
struct Spawner {
    done: flume::Sender<()>,
}
impl Component for Spawner {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let done = self.done.clone();
        ctx.spawn(async move {
            futures_lite::future::yield_now().await;
            let _span = tracing::debug_span!("user.task").entered();
            let _ = done.send(());
        })?;
        Ok(())
    }
}
