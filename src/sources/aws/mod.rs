//! Live collection from AWS (`--aws`).
//!
//! Owns which accounts and regions are collected (the caller's account, an
//! explicit list, or the ACTIVE accounts of the Organization, narrowed by OU
//! and exclusions; a region list or every enabled region), and fetching one
//! account/region's documents with every call paginated to the end. The
//! documents are shaped as the AWS CLI prints them and handed to `collect`
//! like a snapshot's. Clients are made once per account and dropped when the
//! account's last region is done, so memory does not grow with the org.
//!
//! The parts: [`org`] (which accounts: Organizations listings, the tree,
//! each account's own documents) and [`fetch`] (one account/region's
//! documents); this file holds the source itself, its clients and the plan
//! of scopes.

mod fetch;
mod org;

use fetch::region_partition;
pub use org::OrgTree;
use org::{AwsAccount, OrgDocs};

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::{push_scope, Source};
use crate::aws::{
    assume_role, connect, sdk_error, AccountClients, AwsSettings, CallCounter, CallerClients,
};
use crate::documents::{AccountInputs, Naming, ScopeInputs};
use crate::error::Error;
use crate::partition::Failure;
use crate::partition::{PartitionValue, Scope};

#[derive(Debug, Clone, PartialEq)]
pub enum Accounts {
    Caller,
    Org,
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Regions {
    All,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct AwsSourceSettings {
    pub aws: AwsSettings,
    pub accounts: Accounts,
    pub regions: Regions,
    pub include_ous: Vec<String>,
    pub exclude_ous: Vec<String>,
    pub exclude_accounts: Vec<String>,
    /// Page size asked of paginated APIs (None: the API default).
    pub page_size: Option<i32>,
    pub concurrency: usize,
    pub naming: Naming,
    /// Only the group backups are wanted: skip instances, volumes, windows
    /// and the account (groups still come from tables and stacks).
    pub backups_only: bool,
    /// Only the accounts of this shard: the others are not even planned.
    pub shard: Option<crate::partition::Shard>,
    /// A plan's batch file to collect (`export --plan`), and how to
    /// reach it: read when the source is made, not when settings are.
    pub plan: Option<(String, crate::sink::Connection)>,
    /// The accounts of a plan's batch, as `ListAccounts` gave them
    /// (`fleetcmdb plan`): their `DescribeAccount` is not called, nor
    /// their `ListParents` when the plan walked the tree.
    pub planned: Vec<Value>,
    /// The units above the planned accounts, from the plan's walk of the
    /// tree: unit id → `{"Parents", "OrganizationalUnit"}`.
    pub planned_units: Vec<(String, Value)>,
}

/// An account's configuration (its assumed-role credentials), made once.
type ConfCell = Arc<OnceCell<Result<SdkConfig, String>>>;
/// A document fetched once, whoever asks first.
type DocCell = Arc<OnceCell<Option<Value>>>;

pub struct AwsSource {
    rt: tokio::runtime::Runtime,
    s: AwsSourceSettings,
    base: SdkConfig,
    caller: CallerClients,
    pub calls: CallCounter,
    /// The caller's account id, asked once however many accounts start at once.
    caller_account: OnceCell<String>,
    caller_partition: Mutex<String>,
    /// Each account's configuration, from planning until its last region
    /// is collected: a few hundred bytes, where its clients are ~60 KB.
    configs: Mutex<HashMap<String, ConfCell>>,
    /// The clients of the accounts being collected: made at an account's
    /// first fetch, dropped after its last.
    clients: Mutex<HashMap<String, Arc<AccountClients>>>,
    /// Each account's `DescribeAccount`, kept until its own tables are written.
    account_docs: Mutex<HashMap<String, DocCell>>,
    /// `ListParents` and `DescribeOrganizationalUnit` of organizational
    /// units, shared by the accounts under them (at most 2,000 per organization).
    ou_docs: Mutex<HashMap<(&'static str, String), DocCell>>,
    /// Each account's own `ListParents` and `ListTagsForResource`, fetched
    /// with its first region (on the fetch stream's bounded concurrency,
    /// not on the conversion threads) and kept until its tables are written.
    org_docs: Mutex<HashMap<String, Arc<OnceCell<OrgDocs>>>>,
    remaining: Mutex<HashMap<String, usize>>,
    notes: Mutex<Vec<String>>,
    /// Every account a whole-organization `ListAccounts` gave, whatever its state.
    members: Mutex<Option<BTreeSet<String>>>,
    /// Accounts' `ListParents` answers from a plan.
    planned_parents: Mutex<HashMap<String, Value>>,
}

fn aws_err(scope: impl std::fmt::Display, message: String) -> Error {
    Error::Aws {
        scope: scope.to_string(),
        message,
    }
}

impl AwsSource {
    pub fn new(mut s: AwsSourceSettings) -> Result<Self, Error> {
        if let Some((url, conn)) = &s.plan {
            (s.planned, s.planned_units) = crate::plans::read_batch(url, conn)?;
            s.accounts = Accounts::List(
                s.planned
                    .iter()
                    .filter_map(|d| d.get("Id").and_then(Value::as_str).map(str::to_string))
                    .collect(),
            );
        }
        let (rt, base) = connect(&s.aws)?;
        let calls = CallCounter::default();
        let caller = CallerClients::new(&base, &calls);
        let source = AwsSource {
            rt,
            s,
            base,
            caller,
            calls,
            caller_account: OnceCell::new(),
            caller_partition: Mutex::new("aws".into()),
            configs: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            account_docs: Mutex::new(HashMap::new()),
            ou_docs: Mutex::new(HashMap::new()),
            org_docs: Mutex::new(HashMap::new()),
            remaining: Mutex::new(HashMap::new()),
            notes: Mutex::new(Vec::new()),
            members: Mutex::new(None),
            planned_parents: Mutex::new(HashMap::new()),
        };
        for a in &source.s.planned {
            let Some(id) = a.get("Id").and_then(Value::as_str) else {
                continue;
            };
            let mut account = a.clone();
            // What the plan's walk of the tree adds to the listing.
            if let Some(o) = account.as_object_mut() {
                if let Some(p) = o.remove("Parents") {
                    source
                        .planned_parents
                        .lock()
                        .unwrap()
                        .insert(id.to_string(), json!({ "Parents": p }));
                }
                o.remove("OuPath");
            }
            source.known_account(id, account);
        }
        for (id, unit) in &source.s.planned_units {
            let mut docs = source.ou_docs.lock().unwrap();
            let cell = |v: Option<&Value>, key: &str| {
                Arc::new(OnceCell::new_with(Some(v.map(|x| json!({ key: x })))))
            };
            docs.insert(
                ("parents", id.clone()),
                cell(unit.get("Parents"), "Parents"),
            );
            docs.insert(
                ("ou", id.clone()),
                cell(unit.get("OrganizationalUnit"), "OrganizationalUnit"),
            );
        }
        Ok(source)
    }

    /// Notes for the summary (skipped regions, denied look-ups).
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn note(&self, n: String) {
        if let Ok(mut v) = self.notes.lock() {
            v.push(n);
        }
    }

    async fn caller_account(&self) -> Result<String, Error> {
        // One GetCallerIdentity: the first caller asks, the others wait for
        // its answer (a failure is not kept: the next caller asks again).
        self.caller_account
            .get_or_try_init(|| async {
                let id = self
                    .caller
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_err("caller", sdk_error("sts:GetCallerIdentity", &e)))?;
                if let Some(p) = id.arn().and_then(|arn| arn.split(':').nth(1)) {
                    *self.caller_partition.lock().unwrap() = p.to_string();
                }
                Ok::<_, Error>(id.account().unwrap_or_default().to_string())
            })
            .await
            .cloned()
    }

    /// The configuration of `account`, made once (assuming the member role
    /// for other accounts).
    async fn config(&self, account: &str) -> Result<SdkConfig, String> {
        let cell = self
            .configs
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let caller = self.caller_account().await.map_err(|e| e.to_string())?;
            Ok(if account == caller {
                self.base.clone()
            } else {
                let role = self.s.aws.member_role.as_deref().ok_or_else(|| {
                    format!("account {account} is not the caller's ({caller}): --member-role is needed to enter it")
                })?;
                assume_role(&self.base, &self.caller.sts, account, role, self.s.aws.external_id.as_deref())
            })
        })
        .await
        .clone()
    }

    /// The clients of `account`, made once while its regions are collected.
    async fn clients(&self, account: &str) -> Result<Arc<AccountClients>, String> {
        let conf = self.config(account).await?;
        Ok(self
            .clients
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_insert_with(|| Arc::new(AccountClients::new(&conf, &self.calls, account)))
            .clone())
    }

    /// Drops an account's clients once its last scope is collected.
    fn scope_done(&self, account: &str) {
        let mut rem = self.remaining.lock().unwrap();
        if let Some(n) = rem.get_mut(account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                rem.remove(account);
                self.clients.lock().unwrap().remove(account);
                self.configs.lock().unwrap().remove(account);
            }
        }
    }

    /// The regions enabled in `account`.
    async fn enabled_regions(&self, ec2: &aws_sdk_ec2::Client) -> Result<BTreeSet<String>, String> {
        let r = ec2
            .describe_regions()
            .all_regions(true)
            .send()
            .await
            .map_err(|e| sdk_error("ec2:DescribeRegions", &e))?;
        Ok(r.regions()
            .iter()
            .filter(|r| {
                matches!(
                    r.opt_in_status(),
                    None | Some("opt-in-not-required") | Some("opted-in")
                )
            })
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect())
    }

    async fn plan_account(&self, account: &str) -> Result<Vec<String>, String> {
        // Planning every account before collecting any keeps only their
        // configurations: an EC2 client for this one call, then dropped.
        let conf = self.config(account).await?;
        let ec2 = AccountClients::ec2(&conf, &self.calls, account);
        let enabled = self.enabled_regions(&ec2).await?;
        let partition = self.caller_partition.lock().unwrap().clone();
        Ok(match &self.s.regions {
            Regions::All => enabled
                .into_iter()
                .filter(|r| region_partition(r) == partition)
                .collect(),
            Regions::List(l) => l
                .iter()
                .filter(|r| {
                    let ok = enabled.contains(*r);
                    if !ok {
                        self.note(format!(
                            "region {r} is not enabled in account {account}: skipped"
                        ));
                    }
                    ok
                })
                .cloned()
                .collect(),
        })
    }

    async fn plan(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error> {
        use futures_util::StreamExt;
        let accounts = self.accounts().await?;
        let mut scopes = Vec::new();
        let mut failures = Vec::new();
        // At most --concurrency accounts planned at once, results in account order.
        let results: Vec<(String, Result<Vec<String>, String>)> =
            futures_util::stream::iter(&accounts)
                .map(|a| async move { (a.clone(), self.plan_account(a).await) })
                .buffered(self.s.concurrency.max(1))
                .collect()
                .await;
        for (a, r) in results {
            account_scopes(a, r, &mut scopes, &mut failures);
        }
        let mut rem = self.remaining.lock().unwrap();
        for s in &scopes {
            *rem.entry(s.accountid.to_string()).or_default() += 1;
        }
        Ok((scopes, failures))
    }
}

/// The scopes of account `a` from its planning's answer `r` (its regions),
/// or the failures that name it.
fn account_scopes(
    a: String,
    r: Result<Vec<String>, String>,
    scopes: &mut Vec<Scope>,
    failures: &mut Vec<Failure>,
) {
    let accountid = match PartitionValue::parse(&a, "account id", "the account list") {
        Ok(v) => v,
        Err(error) => {
            return failures.push(Failure {
                scope: a,
                group: None,
                error,
            })
        }
    };
    match r {
        Ok(regions) => {
            for r in regions {
                push_scope(scopes, failures, &accountid, &r, "ec2:DescribeRegions");
            }
        }
        Err(m) => failures.push(Failure {
            error: aws_err(&a, m),
            scope: a,
            group: None,
        }),
    }
}

impl AwsSource {
    /// The scopes of a planned account that `keep` keeps, each with their
    /// number; its failures are sent at once.
    async fn planned(
        &self,
        a: String,
        r: Result<Vec<String>, String>,
        keep: super::Keep<'_>,
        tx: &super::Fetched,
    ) -> Vec<(Scope, usize)> {
        let mut scopes = Vec::new();
        let mut failures = Vec::new();
        account_scopes(a, r, &mut scopes, &mut failures);
        for f in failures {
            let _ = tx.send(super::Streamed::Failure(f)).await;
        }
        scopes.retain(|s| keep(s));
        if let Some(s) = scopes.first() {
            let mut rem = self.remaining.lock().unwrap();
            rem.insert(s.accountid.to_string(), scopes.len());
        }
        let of = scopes.len();
        scopes.into_iter().map(|s| (s, of)).collect()
    }
}

impl Source for AwsSource {
    fn describe(&self) -> String {
        let who = match &self.s.accounts {
            Accounts::Caller => "caller account".to_string(),
            Accounts::Org => "organization".to_string(),
            Accounts::List(l) => format!("{} accounts", l.len()),
        };
        let regions = match &self.s.regions {
            Regions::All => "all enabled regions".to_string(),
            Regions::List(l) => l.join(","),
        };
        format!("aws ({who}; {regions})")
    }

    fn scopes(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error> {
        self.rt.block_on(self.plan())
    }

    fn inputs<'s>(&'s self, scope: &Scope) -> Result<Box<dyn ScopeInputs + 's>, Error> {
        let r = self.rt.block_on(self.fetch(scope));
        self.scope_done(scope.accountid.as_str());
        Ok(Box::new(r?))
    }

    fn account_inputs<'s>(
        &'s self,
        account: &PartitionValue,
    ) -> Result<Box<dyn AccountInputs + 's>, Error> {
        Ok(Box::new(AwsAccount {
            src: self,
            accountid: account.clone(),
        }))
    }

    fn fetch_concurrency(&self) -> Option<usize> {
        Some(self.s.concurrency)
    }

    fn stream(&self, keep: super::Keep, tx: super::Fetched) {
        use futures_util::StreamExt;
        self.rt.block_on(async {
            // Accounts flow from the listing as its pages arrive; at most
            // --concurrency are planned (DescribeRegions) ahead of the
            // collection, and at most --concurrency scopes fetched at once.
            let (atx, arx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let listing = async move {
                let r = self
                    .each_account(&mut |a| {
                        let _ = atx.send(a);
                    })
                    .await;
                drop(atx);
                r
            };
            let accounts = futures_util::stream::unfold(arx, |mut rx| async move {
                rx.recv().await.map(|a| (a, rx))
            });
            let c = self.s.concurrency.max(1);
            let tx = &tx;
            let work = accounts
                .map(|a| async move {
                    let r = self.plan_account(&a).await;
                    (a, r)
                })
                .buffer_unordered(c)
                .then(|(a, r)| self.planned(a, r, keep, tx))
                .flat_map(futures_util::stream::iter)
                .map(|(scope, of)| async move {
                    let r = self.fetch(&scope).await;
                    self.scope_done(scope.accountid.as_str());
                    (scope, of, r)
                })
                .buffer_unordered(c)
                .for_each(|(scope, of, r)| async move {
                    let inputs = r.map(|m| Box::new(m) as Box<dyn ScopeInputs + Send>);
                    let _ = tx.send(super::Streamed::Scope { scope, of, inputs }).await;
                });
            let (listed, ()) = futures_util::future::join(listing, work).await;
            if let Err(error) = listed {
                let failure = Failure {
                    scope: "organization".into(),
                    group: None,
                    error,
                };
                let _ = tx.send(super::Streamed::Failure(failure)).await;
            }
        });
    }

    fn notes(&self) -> Vec<String> {
        AwsSource::notes(self)
    }

    fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.calls.snapshot()
    }
}
