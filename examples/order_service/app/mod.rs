//! The order service as a library of its own, so that `main.rs`, the load generator and
//! the integration tests all start the very same service.
//!
//! - [`settings`]: flags and environment variables, with defaults that just work.
//! - [`service`]: builds the supervision tree and starts the runtime.
//! - [`http`]: the HTTP adapter component (hyper on a reactor), the only trigger.
//! - [`orders`], [`inventory`], [`pricing`], [`notifications`]: the domain components.
//! - [`journal`]: the append-only JSON-lines journal (fsync through the worker pool).
//! - [`chaos`]: the switch that makes a component panic on its next message.
//! - [`load`]: the load generator's engine (used by `order_load` and the tests).
#![allow(clippy::mod_module_files)]
#![allow(dead_code)]
// An example shared by a binary and tests: `pub` here means "used by a sibling".
#![allow(unreachable_pub)]

pub mod chaos;
pub mod http;
pub mod inventory;
pub mod journal;
pub mod load;
pub mod notifications;
pub mod orders;
pub mod pricing;
pub mod service;
pub mod settings;
