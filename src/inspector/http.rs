//! The inspector over HTTP (feature `http`): a debug endpoint serving the live snapshot.
//!
//! | Path       | What                                                             |
//! |------------|------------------------------------------------------------------|
//! | `/`        | one self-contained HTML page that polls `/inspect` every second  |
//! | `/inspect` | [`Handle::inspect`] as JSON (`application/json`)                  |
//! | `/metrics` | Prometheus text exposition format 0.0.4                          |
//!
//! Any other path is a 404, any other method than `GET` on these paths a 405.
//!
//! # Implementation
//!
//! [`Handle::serve_inspector`] binds a `std` listener on the caller's thread (so a bind
//! error is returned at once), then sends reactor 0 a spawn command. On the reactor, one
//! task owns a small local executor of its own, runs the accept loop on it, and spawns
//! every connection there, served by hyper's `http1` server over `smol-hyper`. Invariants:
//!
//! - Nothing here blocks the reactor: the listener and streams are `async_io::Async`, and a
//!   request only reads counters ([`Handle::inspect`] never waits for a reactor).
//! - A bad client never disturbs the runtime: every connection's future runs under
//!   `catch_unwind`, its errors are logged at `debug`, request heads are capped at
//!   [`MAX_HEAD_BYTES`], a head must arrive within [`HEAD_TIMEOUT`], and at most
//!   [`MAX_CONNECTIONS`] connections are served at once (more are closed on accept).
//! - Stopping (or dropping the [`InspectorServer`]) ends the accept task: its local
//!   executor, the listener and every open connection are dropped with it. So does the
//!   runtime's shutdown.

mod metrics;
mod server;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use crate::Handle;
use crate::reactor::{self, Command, SpawnCommand};
use crate::rt;

/// At most this many bytes of request head (request line and headers) are read; a
/// larger head is refused with 431.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A request head must arrive in full within this time, or its connection is closed.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many connections are served at once; more are closed as they arrive.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// How long [`InspectorServer::stop`] waits for the reactor to close the listener.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why [`Handle::serve_inspector`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectorError {
    /// The address could not be bound (in use, not local, not resolvable).
    #[error("could not bind the inspector's address")]
    Bind(#[source] io::Error),
    /// The runtime has shut down: no reactor is left to serve on.
    #[error("the runtime has stopped")]
    Stopped,
}

/// The running inspector endpoint. Stop it with [`stop`](Self::stop), or drop it.
///
/// # Examples
///
/// ```
/// use reactree::prelude::*;
///
/// let runtime = Runtime::builder().reactors(1).build()?;
/// let server = runtime.handle().serve_inspector("127.0.0.1:0")?;
/// println!("inspector on http://{}/", server.local_addr());
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the server stops it"]
pub struct InspectorServer {
    local_addr: SocketAddr,
    /// Dropping it tells the accept task to end.
    stop: Option<flume::Sender<()>>,
    /// Disconnected once the accept task (and with it the listener) is gone.
    ended: flume::Receiver<()>,
}

impl fmt::Debug for InspectorServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InspectorServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl InspectorServer {
    /// The address the server listens on (with the port the system chose for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server: closes the listener and every open connection. Called outside
    /// the runtime's reactors, it returns once the listener is closed (waiting at most a
    /// few seconds); on a reactor it only asks, and the listener closes soon after.
    pub fn stop(mut self) {
        self.stop.take();
        if reactor::current().is_none() {
            let _ = self.ended.recv_timeout(STOP_TIMEOUT);
        }
    }
}

impl Drop for InspectorServer {
    fn drop(&mut self) {
        // Dropping the sender is the stop signal; nothing to wait for here.
        self.stop.take();
    }
}

impl Handle {
    /// Serves the inspector over HTTP on `addr` until the returned server is stopped or
    /// dropped, or the runtime shuts down.
    ///
    /// Bind `127.0.0.1` (port `0` lets the system choose): the endpoint has no
    /// authentication, and it shows every component, address and counter of the runtime.
    /// The server runs as tasks on reactor 0. `GET /` is a live page for a browser,
    /// `GET /inspect` the [`Snapshot`](crate::Snapshot) as JSON, and `GET /metrics` the
    /// counters in Prometheus text format; `docs/inspector.md` describes both formats.
    ///
    /// Call it outside the runtime's reactors (from `main` or a test): it hands the
    /// server to reactor 0 through its command mailbox.
    ///
    /// # Errors
    ///
    /// [`InspectorError::Bind`] if the address cannot be bound, and
    /// [`InspectorError::Stopped`] if the runtime has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    ///
    /// struct Idle;
    /// impl Component for Idle {}
    ///
    /// let runtime = Runtime::builder().reactors(1).child(ChildSpec::new("idle", || Idle)).build()?;
    /// let server = runtime.handle().serve_inspector("127.0.0.1:0")?;
    /// assert!(server.local_addr().ip().is_loopback());
    /// assert_ne!(server.local_addr().port(), 0);
    /// server.stop();
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn serve_inspector(
        &self,
        addr: impl ToSocketAddrs,
    ) -> Result<InspectorServer, InspectorError> {
        let listener = TcpListener::bind(addr).map_err(InspectorError::Bind)?;
        let local_addr = listener.local_addr().map_err(InspectorError::Bind)?;
        let (stop, stopped) = flume::bounded(1);
        let (ended_guard, ended) = flume::bounded(1);
        let handle = self.clone();
        let task: SpawnCommand = Box::new(move |executor| {
            executor.spawn_detached(server::run(handle, listener, stopped, ended_guard));
        });
        spawn_on_reactor(self, 0, task)?;
        tracing::info!(address = %local_addr, "inspector.http.listening");
        Ok(InspectorServer {
            local_addr,
            stop: Some(stop),
            ended,
        })
    }
}

impl Handle {
    /// The inspector's answer to `request` when its path is one of the inspector's
    /// (`/`, `/index.html`, `/inspect`, `/metrics`), `None` for any other path: an
    /// application's own HTTP server (hyper 1) mounts the inspector beside its routes
    /// with it. A method other than `GET` on these paths is answered 405.
    ///
    /// # Examples
    ///
    /// ```
    /// use reactree::prelude::*;
    ///
    /// let runtime = Runtime::builder().reactors(1).build()?;
    /// let get = |path: &str| hyper::Request::get(path).body(()).unwrap();
    /// let metrics = runtime.handle().inspector_response(&get("/metrics")).expect("a route");
    /// assert_eq!(metrics.status(), 200);
    /// assert!(runtime.handle().inspector_response(&get("/orders/7")).is_none());
    /// runtime.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inspector_response<B>(
        &self,
        request: &hyper::Request<B>,
    ) -> Option<hyper::Response<http_body_util::Full<bytes::Bytes>>> {
        server::respond(self, request)
    }
}

/// Runs `task` on reactor `index` with its local executor.
pub(crate) fn spawn_on_reactor(
    handle: &Handle,
    index: usize,
    task: SpawnCommand,
) -> Result<(), InspectorError> {
    rt::block_on(handle.send_command(index, Command::Spawn(task)))
        .map_err(|()| InspectorError::Stopped)
}

#[cfg(test)]
mod tests;
