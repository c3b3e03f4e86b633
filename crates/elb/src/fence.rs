//! Fencing: an operator whose lock was broken while it worked (its laptop
//! slept, someone else ran `--break-lock`) must not change the load balancer
//! again. The state machine reaches the load balancer only through [`Fenced`],
//! whose register and deregister ask the [`Fence`] first, so no change skips it.

use super::error::ElbError;
use super::model::{LbRef, LoadBalancerApi, MemberHealth};

/// Whether the holder of a lock may still change what it locked.
#[allow(async_fn_in_trait)]
pub trait Fence {
    /// `Ok` while the lock is still ours; `LockLost`, naming whoever holds it
    /// now, once it is not. Transient store failures are `Transient`, so the
    /// caller retries the check like any other call.
    async fn check(&self) -> Result<(), ElbError>;
}

/// A load balancer API whose membership changes each check the fence just
/// before they are sent; reads pass straight through. The load balancer itself
/// cannot check a token, so what is left is the time between the check (one
/// read of the lock) and the call: a holder that stalls exactly there can
/// still make that one change.
pub struct Fenced<'a, L, F> {
    api: &'a L,
    fence: &'a F,
}

impl<L, F> Clone for Fenced<'_, L, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L, F> Copy for Fenced<'_, L, F> {}

impl<'a, L: LoadBalancerApi, F: Fence> Fenced<'a, L, F> {
    pub fn new(api: &'a L, fence: &'a F) -> Self {
        Fenced { api, fence }
    }
}

impl<L: LoadBalancerApi, F: Fence> LoadBalancerApi for Fenced<'_, L, F> {
    async fn resolve(&self, name: &str) -> Result<LbRef, ElbError> {
        self.api.resolve(name).await
    }

    async fn health(&self, lb: &LbRef) -> Result<Vec<MemberHealth>, ElbError> {
        self.api.health(lb).await
    }

    async fn register(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.fence.check().await?;
        self.api.register(lb, ids).await
    }

    async fn deregister(&self, lb: &LbRef, ids: &[String]) -> Result<(), ElbError> {
        self.fence.check().await?;
        self.api.deregister(lb, ids).await
    }
}
