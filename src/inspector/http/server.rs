//! The accept loop, the connections and the routes, all on one reactor.
//!
//! Invariant: every future here is polled by the local executor of the accept task, which
//! is itself one task on reactor 0; nothing blocks, and a panic in a connection is caught
//! and logged instead of unwinding into the reactor.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use crate::rt::Async;
use bytes::Bytes;
use futures_lite::FutureExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use smol_hyper::rt::{FuturesIo, SmolTimer};

use super::{HEAD_TIMEOUT, MAX_CONNECTIONS, MAX_HEAD_BYTES, metrics};
use crate::Handle;
use crate::rt::{LocalExecutor, Timer};

/// The page served at `/`.
const PAGE: &str = include_str!("page.html");

/// The Prometheus text exposition format's content type.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A pause after a failed accept (out of file descriptors, say), so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The accept task: runs until `stop` is dropped (or the reactor drops the task).
///
/// `ended` is held, never used: its receiver sees it disconnect once this task is gone.
pub(super) async fn run(
    handle: Handle,
    listener: TcpListener,
    stop: flume::Receiver<()>,
    ended: flume::Sender<()>,
) {
    let _ended = ended;
    let listener = match Async::new(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, "inspector.http.listener_failed");
            return;
        }
    };
    let executor = LocalExecutor::new();
    executor
        .run(accept_loop(&executor, &handle, listener, stop))
        .await;
    tracing::debug!("inspector.http.stopped");
}

enum Event {
    Accepted(std::io::Result<(Async<TcpStream>, SocketAddr)>),
    Stop,
}

async fn accept_loop(
    executor: &LocalExecutor<'_>,
    handle: &Handle,
    listener: Async<TcpListener>,
    stop: flume::Receiver<()>,
) {
    let open = Rc::new(Cell::new(0_usize));
    loop {
        let event = async { Event::Accepted(listener.accept().await) }
            .or(async {
                let _ = stop.recv_async().await;
                Event::Stop
            })
            .await;
        match event {
            Event::Stop => return,
            Event::Accepted(Ok((stream, peer))) => admit(executor, handle, &open, stream, peer),
            Event::Accepted(Err(error)) => {
                tracing::debug!(%error, "inspector.http.accept_failed");
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves a new connection on the local executor, unless too many are open already.
fn admit(
    executor: &LocalExecutor<'_>,
    handle: &Handle,
    open: &Rc<Cell<usize>>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
) {
    if open.get() >= MAX_CONNECTIONS {
        tracing::debug!(%peer, "inspector.http.too_many_connections");
        return;
    }
    open.set(open.get() + 1);
    let guard = OpenGuard(open.clone());
    let handle = handle.clone();
    executor
        .spawn(async move {
            let _guard = guard;
            let served = AssertUnwindSafe(serve(handle, stream)).catch_unwind().await;
            match served {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%peer, %error, "inspector.http.connection_error"),
                Err(_) => tracing::warn!(%peer, "inspector.http.connection_panicked"),
            }
        })
        .detach();
}

/// Counts an open connection until dropped.
struct OpenGuard(Rc<Cell<usize>>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

async fn serve(handle: Handle, stream: Async<TcpStream>) -> Result<(), hyper::Error> {
    let service = service_fn(move |request: Request<Incoming>| {
        let response = respond(&handle, &request)
            .unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "not found\n"));
        async move { Ok::<_, Infallible>(response) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(SmolTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(FuturesIo::new(stream), service)
        .await
}

/// What a known path serves.
#[derive(Clone, Copy)]
enum Route {
    Page,
    Inspect,
    Metrics,
}

fn route(path: &str) -> Option<Route> {
    match path {
        "/" | "/index.html" => Some(Route::Page),
        "/inspect" => Some(Route::Inspect),
        "/metrics" => Some(Route::Metrics),
        _ => None,
    }
}

/// The answer to a request for one of the inspector's paths; `None` for any other path.
pub(super) fn respond<B>(handle: &Handle, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
    let route = route(request.uri().path())?;
    if request.method() != Method::GET {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return Some(response);
    }
    Some(match route {
        Route::Page => body(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        Route::Metrics => body(
            StatusCode::OK,
            METRICS_TYPE,
            metrics::render(&handle.inspect()),
        ),
        Route::Inspect => match serde_json::to_vec(&handle.inspect()) {
            Ok(json) => body(StatusCode::OK, "application/json", json),
            Err(error) => {
                tracing::warn!(%error, "inspector.http.serialize_failed");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "could not serialize\n")
            }
        },
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", text)
}

fn body(
    status: StatusCode,
    content_type: &'static str,
    content: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(content.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
