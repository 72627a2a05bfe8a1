//! Where records come from.
//!
//! Owns the [`Source`] trait: a source names the scopes (account/region) it
//! covers and hands out, per scope, the AWS documents of that scope
//! ([`crate::collect::ScopeInputs`]). Sources do no conversion; `collect`
//! does it the same way for all of them.

pub mod demo;
pub mod snapshot;

use crate::collect::ScopeInputs;
use crate::error::Error;
use crate::sink::partition::Scope;
use crate::sink::scope::Failure;

pub trait Source: Sync {
    /// For the summary, e.g. `demo(seed=42)` or `snapshot ./dir`.
    fn describe(&self) -> String;
    /// The scopes to collect, and failures for scopes that could not even be named.
    fn scopes(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error>;
    /// The documents of one scope.
    fn inputs<'s>(&'s self, scope: &Scope) -> Result<Box<dyn ScopeInputs + 's>, Error>;
}
