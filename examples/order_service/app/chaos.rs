//! The chaos switch: arm a component by name, and it panics on its next message.
//!
//! Armed from `POST /chaos/panic/{component}` or, at start, from the environment variable
//! `ORDER_CHAOS` (a comma-separated list of names). Each component calls
//! [`Chaos::strike`] first thing in its handlers, so the panic happens inside the
//! runtime's handler and its supervisor restarts it while traffic continues.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// The components that can be armed.
pub const TARGETS: [&str; 6] = ["orders", "inventory", "pricing", "audit", "stats", "http"];

/// Which components panic on their next message.
#[derive(Debug, Default)]
pub struct Chaos {
    armed: Mutex<HashSet<String>>,
}

impl Chaos {
    /// Armed with the names in `list` (comma-separated; unknown names are ignored).
    pub fn from_list(list: &str) -> Self {
        let chaos = Self::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            chaos.arm(name);
        }
        chaos
    }

    /// Arms `component`; `false` if no component has that name.
    pub fn arm(&self, component: &str) -> bool {
        if !TARGETS.contains(&component) {
            return false;
        }
        self.lock().insert(component.to_owned());
        true
    }

    /// Whether `component` is armed now.
    pub fn is_armed(&self, component: &str) -> bool {
        self.lock().contains(component)
    }

    /// Panics, once, if `component` is armed.
    pub fn strike(&self, component: &str) {
        if self.lock().remove(component) {
            panic!("chaos: {component} was told to panic on its next message");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
