//! Where records come from.
//!
//! Owns the [`Source`] trait: a source names the scopes (account/region) it
//! covers and hands out, per scope, the AWS documents of that scope
//! ([`crate::documents::ScopeInputs`]). Sources do no conversion; `collect`
//! does it the same way for all of them.

pub mod aws;
pub mod demo;
pub mod snapshot;

use crate::documents::{AccountInputs, ScopeInputs};
use crate::error::Error;
use crate::partition::Failure;
use crate::partition::{PartitionValue, Scope};

/// What [`Source::stream`] sends.
pub enum Streamed {
    /// One scope, fetched, of an account that has `of` scopes in the run
    /// (all of them kept): the account's scopes are done when `of` have
    /// come.
    Scope {
        scope: Scope,
        of: usize,
        inputs: Result<Box<dyn ScopeInputs + Send>, Error>,
    },
    /// An account or scope that could not even be named.
    Failure(Failure),
}

/// Where [`Source::stream`] sends what it finds.
pub type Fetched = tokio::sync::mpsc::Sender<Streamed>;

/// Which scopes a streamed run keeps (its filter and shard).
pub type Keep<'a> = &'a (dyn Fn(&Scope) -> bool + Sync);

pub trait Source: Sync {
    /// For the summary, e.g. `demo(seed=42)` or `snapshot ./dir`.
    fn describe(&self) -> String;
    /// The scopes to collect, and failures for scopes that could not even be named.
    fn scopes(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error>;
    /// The documents of one scope.
    fn inputs<'s>(&'s self, scope: &Scope) -> Result<Box<dyn ScopeInputs + 's>, Error>;
    /// The Organizations documents of one account.
    fn account_inputs<'s>(
        &'s self,
        account: &PartitionValue,
    ) -> Result<Box<dyn AccountInputs + 's>, Error>;
    /// For network sources: how many scopes to fetch at once. Such a source
    /// fetches asynchronously ([`Source::stream`]) while a pool sized to the
    /// CPUs converts, so concurrency costs open requests, not threads.
    fn fetch_concurrency(&self) -> Option<usize> {
        None
    }
    /// Names the scopes and fetches those `keep` keeps, with bounded
    /// concurrency, sending each as it is ready: naming and fetching
    /// overlap, so the first scope is fetched while the accounts are still
    /// being listed. The bounded channel holds fetching back while
    /// conversion is behind. Only called when [`Source::fetch_concurrency`]
    /// is `Some` (then [`Source::scopes`] is not).
    fn stream(&self, _keep: Keep, _tx: Fetched) {}
    /// Notes for the summary: skipped regions, denied optional look-ups.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// API calls made, by IAM action (`ec2:DescribeInstances`), for the summary.
    fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        Default::default()
    }
}

/// Adds the scope `account/region`, or a failure naming the region and
/// `origin` when the region is not a valid partition value.
pub(crate) fn push_scope(
    scopes: &mut Vec<Scope>,
    failures: &mut Vec<Failure>,
    accountid: &PartitionValue,
    region: &str,
    origin: &str,
) {
    match PartitionValue::parse(region, "region", origin) {
        Ok(region) => scopes.push(Scope {
            accountid: accountid.clone(),
            region,
        }),
        Err(error) => failures.push(Failure {
            scope: format!("{accountid}/{region}"),
            group: None,
            error,
        }),
    }
}
