//! The places where user code runs outside a job body: dropping user values and waking
//! user wakers. A panic there must not take a worker (or a reactor) down with it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

/// Drops `value`, swallowing a panic from its destructor.
pub(crate) fn drop_quietly<V>(value: V) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
        tracing::warn!(
            panic.message = %panic_message(payload.as_ref()),
            "worker.unwind: a destructor panicked"
        );
        // Dropping the payload could panic again; leaking one box is the safe choice.
        std::mem::forget(payload);
    }
}

/// Wakes `waker`, swallowing a panic from its `wake`.
pub(crate) fn wake_quietly(waker: Waker) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        tracing::warn!(
            panic.message = %panic_message(payload.as_ref()),
            "worker.unwind: a waker panicked"
        );
        std::mem::forget(payload);
    }
}

/// The text of a panic payload, as the default panic hook would print it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        String::from("Box<dyn Any>")
    }
}
