//! A component that runs a test's scripts in its handler, on reactor 0 (the root
//! supervisor's): code that must run where a component runs, with the runtime's handle.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use reactree::prelude::*;
use reactree::{Handle, RequestError};

/// A script, and what it returns.
pub type Script<T> = Box<dyn FnOnce(Handle) -> Pin<Box<dyn Future<Output = T>>> + Send>;

/// Asks the driver to run a script.
pub struct Run<T>(pub Script<T>);
impl<T: Send + 'static> Message for Run<T> {
    type Reply = T;
}

const DRIVER: &str = "test.driver";

/// The driver, for scripts returning `T`.
pub struct Driver<T>(PhantomData<fn() -> T>);

impl<T: Send + 'static> Driver<T> {
    /// Its spec: one instance, pinned to reactor 0.
    pub fn spec() -> ChildSpec {
        ChildSpec::new("driver", || Self(PhantomData)).reactor(0)
    }
}

impl<T: Send + 'static> Component for Driver<T> {
    async fn start(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.consume(&Address::<Run<T>>::new(DRIVER))?;
        Ok(())
    }
}

impl<T: Send + 'static> Handler<Run<T>> for Driver<T> {
    async fn handle(&mut self, Run(script): Run<T>, ctx: &mut Context<Self>) -> T {
        script(ctx.runtime().clone()).await
    }
}

/// Has the driver run `script`, waiting for it up to `within`.
pub async fn ask<T, F>(
    bus: &Bus,
    within: Duration,
    script: impl FnOnce(Handle) -> F + Send + 'static,
) -> Result<T, RequestError<Run<T>>>
where
    T: Send + 'static,
    F: Future<Output = T> + 'static,
{
    let script: Script<T> = Box::new(move |handle| Box::pin(script(handle)));
    bus.request_timeout(&Address::new(DRIVER), Run(script), within)
        .await
}
