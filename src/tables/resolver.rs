//! How a table's rows are fetched and filled: the half of a table's
//! declaration that is not its columns.
//!
//! Owns [`Resolver`] and the contexts a resolver reads. A resolver says which
//! documents hold the rows, how a document becomes rows and how rows find
//! their partition; `crate::collect` runs every resolver of the registry the
//! same way, and never names a table.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::calls::ApiCall;
use crate::documents::{AccountInputs, Naming, ScopeInputs};
use crate::error::Error;

/// How a table is filled.
pub enum Resolver {
    /// Rows are the elements of API pages, streamed into Arrow without a
    /// DOM. `path` leads from a page to its rows: `["Reservations",
    /// "Instances"]` reads `{"Reservations": [{"Instances": [row, …]}]}`.
    Pages {
        /// The call whose pages hold the rows.
        call: &'static ApiCall,
        path: &'static [&'static str],
        route: Route,
    },
    /// The items of one DynamoDB table per group, named by a [`Naming`]
    /// template, as key/value rows, from its scan
    /// ([`SCAN`](crate::calls::dynamodb::SCAN)). These are also what group
    /// backups hold.
    GroupItems {
        template: fn(&Naming) -> &str,
        /// Further attributes, as `(attribute, column)`: typed values read
        /// as JSON (`ExpirationTime` → `expirationtime`).
        extra: &'static [(&'static str, &'static str)],
    },
    /// Rows made for each group once the pages are read. `prepare` runs once
    /// per account/region (its errors fail the account/region); the rows of
    /// each group come from what it returns (their errors fail the group).
    PerGroup {
        prepare: for<'a> fn(&ScopeContext<'a>) -> Result<Box<dyn GroupRows + 'a>, Error>,
        /// The calls whose answers it reads.
        reads: &'static [&'static ApiCall],
    },
    /// Rows made once per account, after every region of it is collected.
    PerAccount {
        rows: fn(&AccountContext) -> Result<Vec<Value>, Error>,
    },
}

impl Resolver {
    /// The calls whose answers the table is filled from.
    pub fn reads(&self) -> Vec<&'static ApiCall> {
        match self {
            Resolver::Pages { call, .. } => vec![*call],
            Resolver::GroupItems { .. } => vec![&crate::calls::dynamodb::SCAN],
            Resolver::PerGroup { reads, .. } => reads.to_vec(),
            Resolver::PerAccount { .. } => Vec::new(),
        }
    }
}

/// How a row read from pages finds its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// By the group tag of the row (an instance): the row's id (its
    /// `instanceid` column) is indexed for the tables routed through it.
    GroupTag,
    /// By the first instance in `Attachments[].InstanceId` that was routed
    /// by its tag earlier in the same account/region.
    AttachedInstance,
    /// By the groups of the instances, routed by their tag earlier in the
    /// same account/region, that name the row's id (its call's
    /// [`ApiCall::id`] member) in their `column` (a list of structs) at
    /// `field`: `securitygroups`, `groupid`. A row used by several groups
    /// is written to each.
    UsedByInstances {
        column: &'static str,
        field: &'static str,
    },
}

/// What a per-group resolver can read about an account/region.
pub struct ScopeContext<'a> {
    pub inputs: &'a dyn ScopeInputs,
    pub naming: &'a Naming,
    /// The deployment stacks of the account/region, by group.
    pub stacks: &'a BTreeMap<String, Value>,
    /// The time of the run, in Unix milliseconds.
    pub now_ms: i64,
    /// The groups' backups so far, where the run writes them.
    pub backups: Option<&'a dyn BackupHistory>,
}

/// The backups of the groups of one account/region, as the destination holds them.
pub trait BackupHistory {
    /// The schedule of a group that sets none.
    fn default_schedule(&self) -> &str;
    /// When the group's newest backup before `before_ms` was taken (Unix
    /// milliseconds): a re-run at the same time sees what the first saw.
    fn newest(&self, group: &str, before_ms: i64) -> Result<Option<i64>, Error>;
}

/// One group, as collected so far.
pub struct GroupContext<'a> {
    pub name: &'a str,
    /// Subfleet names seen on the group's instances, sorted.
    pub subfleets: &'a [String],
    /// The rows of the group's key/value tables ([`Resolver::GroupItems`]),
    /// by table name.
    pub key_values: &'a BTreeMap<&'static str, Vec<Value>>,
}

/// The rows of each group of one account/region.
pub trait GroupRows {
    fn rows(&self, ctx: &ScopeContext, group: &GroupContext) -> Result<Vec<Value>, Error>;
}

/// One group found in an account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FoundGroup {
    pub region: String,
    pub groupname: String,
}

/// What a per-account resolver can read.
pub struct AccountContext<'a> {
    pub inputs: &'a dyn AccountInputs,
    /// Every group found in the account's regions, sorted.
    pub groups: &'a [FoundGroup],
    /// The regions collected.
    pub regions: &'a [String],
    pub now_ms: i64,
}
