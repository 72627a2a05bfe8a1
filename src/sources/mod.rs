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

/// Where [`Source::stream`] sends each fetched scope.
pub type Fetched = tokio::sync::mpsc::Sender<(usize, Result<Box<dyn ScopeInputs + Send>, Error>)>;

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
    /// Fetches every scope (`scopes[i]`) with bounded concurrency and sends
    /// `(i, inputs)` as each is ready; the bounded channel holds fetching
    /// back while conversion is behind. Only called when
    /// [`Source::fetch_concurrency`] is `Some`.
    fn stream(&self, _scopes: &[Scope], _tx: Fetched) {}
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
