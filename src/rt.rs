//! The one seam to the smol crates: executor, timers, blocking on a future.
//!
//! Everything else in the crate reaches `async-executor` and `async-io` through here, so a
//! change of the underlying stack (or a virtual clock for tests) touches one file.

use std::future::Future;
use std::time::Instant;

use futures_lite::FutureExt;

pub(crate) use async_executor::{LocalExecutor, Task};
#[cfg(feature = "http")]
pub(crate) use async_io::Async;
pub(crate) use async_io::Timer;

/// Runs a future to completion on the current thread, driving timers and I/O meanwhile.
pub(crate) fn block_on<T>(future: impl Future<Output = T>) -> T {
    async_io::block_on(future)
}

/// Resolves to `Some(output)`, or `None` once `deadline` passes first.
pub(crate) async fn deadline<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    async { Some(future.await) }
        .or(async {
            Timer::at(deadline).await;
            None
        })
        .await
}
