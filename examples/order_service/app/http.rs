//! The HTTP adapter: a component whose `start` spawns an accept loop on its reactor
//! (`ctx.spawn`), serving HTTP/1.1 with hyper over smol-hyper, the same stack as the
//! inspector's endpoint. Every request becomes a bus request; every failure an honest
//! status:
//!
//! | outcome | status |
//! |---|---|
//! | order placed | 201, `Location: /orders/{id}` |
//! | invalid JSON, invalid order, unknown SKU | 400, with a message |
//! | unknown order | 404 |
//! | not enough stock | 409 |
//! | a mailbox full (the bus refused at once) | 503, `Retry-After: 1` |
//! | no handlers (a component down between restarts) | 503, `Retry-After: 1` |
//! | the handler failed (it panicked; it is being restarted) | 503, `Retry-After: 1` |
//! | no reply within the bus timeout | 504 |
//!
//! Routes: `POST /orders`, `GET /orders/{id}`, `GET /stats`, `GET /health`,
//! `POST /chaos/panic/{component}`, and the inspector's `/`, `/inspect` and `/metrics`.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::TcpListener;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use async_executor::LocalExecutor;
use async_io::Async;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use reactree::Handle;
use reactree::prelude::*;
use serde::Serialize;
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::chaos::Chaos;
use super::notifications::STATS;
use super::orders::{GET, GetOrder, OrderError, PLACE, PlaceOrder};

/// Largest request body read.
const MAX_BODY: usize = 64 * 1024;
/// Most connections served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 4096;

/// The HTTP adapter component.
pub struct HttpAdapter {
    listener: Arc<TcpListener>,
    chaos: Arc<Chaos>,
    journal: PathBuf,
}

impl HttpAdapter {
    /// An adapter serving on (a clone of) `listener`, bound once by the service so that
    /// a restart keeps the port.
    pub fn new(listener: Arc<TcpListener>, chaos: Arc<Chaos>, journal: PathBuf) -> Self {
        Self {
            listener,
            chaos,
            journal,
        }
    }
}

/// What every request handler shares; lives on the adapter's reactor.
struct Shared {
    bus: Bus,
    runtime: Handle,
    chaos: Arc<Chaos>,
    journal: PathBuf,
    open: Cell<usize>,
}

impl Component for HttpAdapter {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let listener = Async::new(self.listener.try_clone()?)?;
        let shared = Rc::new(Shared {
            bus: ctx.bus().clone(),
            runtime: ctx.runtime().clone(),
            chaos: self.chaos.clone(),
            journal: self.journal.clone(),
            open: Cell::new(0),
        });
        // The accept loop and its connections run on this component's reactor, for as
        // long as this incarnation lives; a restart drops them and starts afresh.
        ctx.spawn(async move {
            let connections = LocalExecutor::new();
            connections
                .run(accept(&connections, listener, shared))
                .await;
        })?;
        Ok(())
    }
}

async fn accept(connections: &LocalExecutor<'_>, listener: Async<TcpListener>, shared: Rc<Shared>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            async_io::Timer::after(std::time::Duration::from_millis(50)).await;
            continue;
        };
        if shared.open.get() >= MAX_CONNECTIONS {
            continue;
        }
        let _ = stream.get_ref().set_nodelay(true);
        shared.open.set(shared.open.get() + 1);
        let shared = shared.clone();
        connections
            .spawn(async move {
                let service = {
                    let shared = shared.clone();
                    service_fn(move |request: Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(route(&shared, request).await) }
                    })
                };
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(SmolTimer::new())
                    .serve_connection(FuturesIo::new(stream), service)
                    .await;
                shared.open.set(shared.open.get() - 1);
            })
            .detach();
    }
}

type Reply = Response<Full<Bytes>>;

fn json(status: StatusCode, body: &impl Serialize) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn error(status: StatusCode, message: &str) -> Reply {
    json(status, &ErrorBody { error: message })
}

/// 503 with `Retry-After`: backpressure or a component between restarts.
fn unavailable(message: &str) -> Reply {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The status of a failed bus request.
fn bus_failure<M>(failure: &RequestError<M>) -> Reply {
    if failure.is_timeout() {
        error(StatusCode::GATEWAY_TIMEOUT, &failure.to_string())
    } else if failure.is_full() || failure.is_no_handlers() || failure.is_recipient_failure() {
        unavailable(&failure.to_string())
    } else {
        error(StatusCode::INTERNAL_SERVER_ERROR, &failure.to_string())
    }
}

async fn route(shared: &Shared, request: Request<Incoming>) -> Reply {
    // The chaos switch for the adapter itself: this request's task panics, which fails
    // the component, and the root supervisor restarts it.
    shared.chaos.strike("http");
    if let Some(inspector) = shared.runtime.inspector_response(&request) {
        return inspector;
    }
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (request.method(), segments.as_slice()) {
        (&Method::POST, ["orders"]) => place(shared, request).await,
        (&Method::GET, ["orders", id]) => get(shared, id).await,
        (&Method::GET, ["stats"]) => match shared
            .bus
            .try_request(&STATS, super::notifications::GetStats)
            .await
        {
            Ok(stats) => json(StatusCode::OK, &stats),
            Err(failure) => bus_failure(&failure),
        },
        (&Method::GET, ["health"]) => health(shared),
        (&Method::POST, ["chaos", "panic", component]) => {
            if shared.chaos.arm(component) {
                json(
                    StatusCode::ACCEPTED,
                    &ErrorBody {
                        error: "armed: it panics on its next message",
                    },
                )
            } else {
                error(StatusCode::NOT_FOUND, "no such component")
            }
        }
        (_, ["orders"] | ["orders", _] | ["stats"] | ["health"] | ["chaos", "panic", _]) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

async fn place(shared: &Shared, request: Request<Incoming>) -> Reply {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(failure) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("could not read the body: {failure}"),
            );
        }
    };
    let order: PlaceOrder = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(failure) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {failure}")),
    };
    // `try_request`: a full mailbox is refused at once, and becomes a 503.
    match shared.bus.try_request(&PLACE, order).await {
        Ok(Ok(placed)) => {
            let mut response = json(StatusCode::CREATED, &placed);
            if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", placed.id)) {
                response.headers_mut().insert(LOCATION, location);
            }
            response
        }
        Ok(Err(OrderError::Invalid(why))) => error(StatusCode::BAD_REQUEST, &why),
        Ok(Err(OrderError::OutOfStock(sku))) => error(
            StatusCode::CONFLICT,
            &format!("not enough stock of {sku:?}"),
        ),
        Ok(Err(OrderError::Unavailable(why))) => unavailable(&why),
        Err(failure) => bus_failure(&failure),
    }
}

async fn get(shared: &Shared, id: &str) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "an order id is a number");
    };
    match shared.bus.try_request(&GET, GetOrder(id)).await {
        Ok(Some(order)) => json(StatusCode::OK, &order),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such order"),
        Err(failure) => bus_failure(&failure),
    }
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    pid: u32,
    journal: String,
}

fn health(shared: &Shared) -> Reply {
    let serving = shared.bus.consumers(&PLACE) > 0;
    let body = Health {
        status: if serving { "ok" } else { "degraded" },
        pid: std::process::id(),
        journal: shared.journal.display().to_string(),
    };
    let status = if serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &body)
}
