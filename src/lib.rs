//! reactree: a supervision tree of single-threaded reactors (Vert.x event loops with
//! Erlang/OTP supervisors), built on the smol crates.

mod worker;

pub use worker::{
    CancellationToken, JobError, JobFuture, PoolConfig, PoolHandle, PoolStats, SerialQueue,
    ShutdownReport, StartError, TryExecuteError, WorkerPool,
};
