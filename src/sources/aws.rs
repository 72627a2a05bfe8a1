//! Live collection from AWS (`--aws`).
//!
//! Owns which accounts and regions are collected (the caller's account, an
//! explicit list, or the ACTIVE accounts of the Organization, narrowed by OU
//! and exclusions; a region list or every enabled region), and fetching one
//! account/region's documents with every call paginated to the end. The
//! documents are shaped as the AWS CLI prints them and handed to `collect`
//! like a snapshot's. Clients are made once per account and dropped when the
//! account's last region is done, so memory does not grow with the org.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use aws_config::{Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::{push_scope, Source};
use crate::aws::convert::ToJson;
use crate::aws::{
    assume_role, connect, sdk_error, AccountClients, AwsSettings, CallCounter, CallerClients,
};
use crate::calls::ec2::DESCRIBE_INSTANCES;
use crate::calls::{self, in_region, paginate, ApiCall, Input};
use crate::documents::{AccountInputs, Doc, Naming, ScopeInputs};
use crate::dynamo::typed::item_to_json;
use crate::error::Error;
use crate::partition::Failure;
use crate::partition::{PartitionValue, Scope};
use crate::tables;

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
    /// The accounts of a plan's batch, as `ListAccounts` gave them
    /// (`fleetcmdb plan`): their `DescribeAccount` is not called, nor
    /// their `ListParents` when the plan walked the tree.
    pub planned: Vec<Value>,
    /// The units above the planned accounts, from the plan's walk of the
    /// tree: unit id → `{"Parents", "OrganizationalUnit"}`.
    pub planned_units: Vec<(String, Value)>,
}

/// Organizations allows 2,000 units; the walk stops past that.
const MAX_UNITS: usize = 2_000;

/// What a walk of the organization's tree found ([`AwsSource::tree`]).
#[derive(Debug, Default)]
pub struct OrgTree {
    /// Account id → its `ListParents` answer.
    pub accounts: HashMap<String, Value>,
    /// Unit id → `{"Parents": …, "OrganizationalUnit": …}`.
    pub units: HashMap<String, Value>,
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
    pub fn new(s: AwsSourceSettings) -> Result<Self, Error> {
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

    /// Keeps what a listing said of an account: its `DescribeAccount`
    /// would say the same (the same `Account` structure).
    fn known_account(&self, id: &str, account: Value) {
        self.account_docs
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_insert_with(|| {
                Arc::new(OnceCell::new_with(Some(Some(
                    json!({ "Account": account }),
                ))))
            });
    }

    /// The accounts a collection would cover, each as `ListAccounts` (or,
    /// for accounts named on the command line, `DescribeAccount`) gives it.
    pub fn listing(&self) -> Result<Vec<Value>, Error> {
        self.rt.block_on(async {
            let ids = self.accounts().await?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let doc = self.account_doc(&id).await;
                out.push(
                    doc.and_then(|d| d.get("Account").cloned())
                        .unwrap_or_else(|| json!({ "Id": id })),
                );
            }
            Ok(out)
        })
    }

    /// The organization's tree, walked once from its roots: each account's
    /// `ListParents` answer, and each unit's (with its
    /// `DescribeOrganizationalUnit` answer, from the listing of its parent).
    /// Two calls per unit (and root) instead of one or more per account.
    pub fn tree(&self) -> Result<OrgTree, Error> {
        self.rt.block_on(async {
            let mut tree = OrgTree::default();
            let roots = self
                .caller
                .organizations
                .list_roots()
                .send()
                .await
                .map_err(|e| aws_err("organization", sdk_error("organizations:ListRoots", &e)))?;
            let mut stack: Vec<(String, &'static str)> = roots
                .roots()
                .iter()
                .filter_map(|r| r.id().map(|id| (id.to_string(), "ROOT")))
                .collect();
            while let Some((parent, kind)) = stack.pop() {
                let parents = json!({"Parents": [{"Id": parent, "Type": kind}]});
                for a in self.list_accounts(Some(&parent)).await?.iter().flatten() {
                    if let Some(id) = a.id() {
                        tree.accounts.insert(id.to_string(), parents.clone());
                    }
                }
                for ou in self.child_units(&parent).await? {
                    let Some(id) = ou.id() else { continue };
                    tree.units.insert(
                        id.to_string(),
                        json!({"Parents": parents["Parents"], "OrganizationalUnit": ou.to_json()}),
                    );
                    stack.push((id.to_string(), "ORGANIZATIONAL_UNIT"));
                }
                if tree.units.len() > MAX_UNITS {
                    return Err(aws_err(
                        "organization",
                        format!(
                            "more than {MAX_UNITS} organizational units: refusing to walk further"
                        ),
                    ));
                }
            }
            Ok(tree)
        })
    }

    /// Every member of the organization, whatever its state, when a listing
    /// of the whole organization was made (by [`AwsSource::listing`] with `--org`).
    pub fn members_listed(&self) -> Option<BTreeSet<String>> {
        self.members.lock().unwrap().clone()
    }

    /// Every account of the organization, whatever its state: a complete
    /// `ListAccounts`, or an error (never a partial list).
    pub fn org_members(&self) -> Result<BTreeSet<String>, Error> {
        self.rt.block_on(async {
            let pages = self.list_accounts(None).await?;
            // Checked whole: what is not listed here may be deleted.
            pages
                .iter()
                .flatten()
                .map(|a| match a.id() {
                    Some(id) if crate::partition::is_account_id(id) => Ok(id.to_string()),
                    other => Err(Error::Aws {
                        scope: "organization".into(),
                        message: format!(
                            "ListAccounts gave {:?}, not a 12-digit account id: refusing the listing",
                            other.map(|s| crate::output::escape_controls(s).into_owned())
                        ),
                    }),
                })
                .collect()
        })
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

    async fn accounts(&self) -> Result<Vec<String>, Error> {
        let mut list = match &self.s.accounts {
            Accounts::Caller => vec![self.caller_account().await?],
            Accounts::List(l) => l.clone(),
            Accounts::Org if self.s.include_ous.is_empty() => self.org_accounts(None).await?,
            Accounts::Org => {
                let mut all = Vec::new();
                for ou in &self.s.include_ous {
                    all.extend(self.ou_accounts(ou).await?);
                }
                all
            }
        };
        list.retain(|a| !self.s.exclude_accounts.contains(a));
        if !self.s.exclude_ous.is_empty() {
            let mut excluded = BTreeSet::new();
            for ou in &self.s.exclude_ous {
                excluded.extend(self.ou_accounts(ou).await?);
            }
            list.retain(|a| !excluded.contains(a));
        }
        if let Some(shard) = self.s.shard {
            list.retain(|a| shard.holds(a));
        }
        list.sort();
        list.dedup();
        Ok(list)
    }

    async fn org_accounts(&self, parent: Option<&str>) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let pages = self.list_accounts(parent).await?;
        if parent.is_none() {
            let all = pages
                .iter()
                .flatten()
                .filter_map(|a| a.id().map(str::to_string));
            *self.members.lock().unwrap() = Some(all.collect());
        }
        for a in pages.iter().flatten() {
            let Some(id) = a.id() else { continue };
            // State replaced Status on 2026-09-09; either may be absent.
            let state = a
                .state()
                .map(|s| s.as_str())
                .or_else(|| a.status().map(|s| s.as_str()));
            match state {
                    Some("ACTIVE") => {
                        self.known_account(id, a.to_json());
                        out.push(id.to_string())
                    }
                    Some(other) => self.note(format!(
                        "account {id}: skipped, its state is {other} (only ACTIVE accounts are collected)"
                    )),
                    None => self.note(format!(
                        "account {id}: skipped, Organizations gave neither State nor Status"
                    )),
                }
        }
        Ok(out)
    }

    /// `ListAccounts` (or `ListAccountsForParent`), every page.
    async fn list_accounts(
        &self,
        parent: Option<&str>,
    ) -> Result<Vec<Vec<aws_sdk_organizations::types::Account>>, Error> {
        // The caller's Organizations client has no per-call region, so the
        // SDK's own paginators apply here (the regional calls below cannot
        // use them: see `paginate`).
        let mut pages: Vec<Vec<aws_sdk_organizations::types::Account>> = Vec::new();
        match parent {
            None => {
                let mut stream = self
                    .caller
                    .organizations
                    .list_accounts()
                    .into_paginator()
                    .send();
                while let Some(r) = stream.next().await {
                    let r = r.map_err(|e| {
                        aws_err("organization", sdk_error("organizations:ListAccounts", &e))
                    })?;
                    pages.push(r.accounts().to_vec());
                }
            }
            Some(p) => {
                let mut stream = self
                    .caller
                    .organizations
                    .list_accounts_for_parent()
                    .parent_id(p)
                    .into_paginator()
                    .send();
                while let Some(r) = stream.next().await {
                    let r = r.map_err(|e| {
                        aws_err(p, sdk_error("organizations:ListAccountsForParent", &e))
                    })?;
                    pages.push(r.accounts().to_vec());
                }
            }
        }
        Ok(pages)
    }

    /// Accounts under an OU and its children.
    async fn ou_accounts(&self, ou: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut stack = vec![ou.to_string()];
        while let Some(p) = stack.pop() {
            out.extend(self.org_accounts(Some(&p)).await?);
            stack.extend(
                self.child_units(&p)
                    .await?
                    .iter()
                    .filter_map(|o| o.id().map(str::to_string)),
            );
        }
        Ok(out)
    }

    /// The organizational units directly under `parent`, every page.
    async fn child_units(
        &self,
        parent: &str,
    ) -> Result<Vec<aws_sdk_organizations::types::OrganizationalUnit>, Error> {
        let mut out = Vec::new();
        let mut pages = self
            .caller
            .organizations
            .list_organizational_units_for_parent()
            .parent_id(parent)
            .into_paginator()
            .send();
        while let Some(r) = pages.next().await {
            let r = r.map_err(|e| {
                aws_err(
                    parent,
                    sdk_error("organizations:ListOrganizationalUnitsForParent", &e),
                )
            })?;
            out.extend_from_slice(r.organizational_units());
        }
        Ok(out)
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
            let accountid = match PartitionValue::parse(&a, "account id", "the account list") {
                Ok(v) => v,
                Err(e) => {
                    failures.push(Failure {
                        scope: a,
                        group: None,
                        error: e,
                    });
                    continue;
                }
            };
            match r {
                Ok(regions) => {
                    for r in regions {
                        push_scope(
                            &mut scopes,
                            &mut failures,
                            &accountid,
                            &r,
                            "ec2:DescribeRegions",
                        );
                    }
                }
                Err(m) => failures.push(Failure {
                    scope: a.clone(),
                    group: None,
                    error: aws_err(&a, m),
                }),
            }
        }
        let mut rem = self.remaining.lock().unwrap();
        for s in &scopes {
            *rem.entry(s.accountid.to_string()).or_default() += 1;
        }
        Ok((scopes, failures))
    }

    /// `DescribeAccount`, once per account however many of its regions ask
    /// at the same time.
    async fn account_doc(&self, account: &str) -> Option<Value> {
        let cell = self
            .account_docs
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| self.describe_account(account))
            .await
            .clone()
    }

    async fn describe_account(&self, account: &str) -> Option<Value> {
        match self
            .caller
            .organizations
            .describe_account()
            .account_id(account)
            .send()
            .await
        {
            Ok(r) => r.account().map(|a| json!({ "Account": a.to_json() })),
            Err(e) => {
                self.note(format!(
                    "account {account}: {}; its account columns are null",
                    sdk_error("organizations:DescribeAccount", &e)
                ));
                None
            }
        }
    }

    /// An optional Organizations look-up: a refusal or an error becomes a
    /// note, and the columns it fills are null.
    fn optional<T, E>(
        &self,
        what: &str,
        action: &str,
        r: Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
    ) -> Option<T>
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.note(format!(
                    "{what}: {}; the columns it fills are null",
                    sdk_error(action, &e)
                ));
                None
            }
        }
    }

    async fn parents(&self, child: &str) -> Option<Value> {
        let r = self
            .caller
            .organizations
            .list_parents()
            .child_id(child)
            .send()
            .await;
        let r = self.optional(child, "organizations:ListParents", r)?;
        Some(json!({ "Parents": r.parents().iter().map(ToJson::to_json).collect::<Vec<_>>() }))
    }

    async fn organizational_unit(&self, id: &str) -> Option<Value> {
        let r = self
            .caller
            .organizations
            .describe_organizational_unit()
            .organizational_unit_id(id)
            .send()
            .await;
        let r = self.optional(id, "organizations:DescribeOrganizationalUnit", r)?;
        r.organizational_unit()
            .map(|ou| json!({ "OrganizationalUnit": ou.to_json() }))
    }

    async fn account_tags(&self, account: &str) -> Option<Value> {
        let mut tags = Vec::new();
        let mut pages = self
            .caller
            .organizations
            .list_tags_for_resource()
            .resource_id(account)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = self.optional(account, "organizations:ListTagsForResource", page)?;
            tags.extend(page.tags().iter().map(ToJson::to_json));
        }
        Some(json!({ "Tags": tags }))
    }

    /// Fetches, once per account, what Organizations says of where it sits
    /// and how it is tagged: its parents up to the root (each unit fetched
    /// once per run) and its tags.
    async fn prefetch_org(&self, account: &str) {
        let cell = self
            .org_docs
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| self.fetch_org(account)).await;
    }

    async fn fetch_org(&self, account: &str) -> OrgDocs {
        let planned = self.planned_parents.lock().unwrap().get(account).cloned();
        let parents = match planned {
            Some(p) => Some(p),
            None => self.parents(account).await,
        };
        let mut next = parents.clone();
        // Units nest at most five deep; the walk stops at the root or the
        // first unknown step (the table resolver bounds it again).
        for _ in 0..8 {
            let Some(p) = next.as_ref().and_then(|v| v["Parents"].get(0)) else {
                break;
            };
            let (Some(id), Some("ORGANIZATIONAL_UNIT")) = (p["Id"].as_str(), p["Type"].as_str())
            else {
                break;
            };
            let id = id.to_string();
            self.ou_doc("ou", &id).await;
            next = self.ou_doc("parents", &id).await;
        }
        let tags = self.account_tags(account).await;
        OrgDocs { parents, tags }
    }

    /// An organizational unit's document of `kind`, fetched once per run
    /// (the accounts under it wait for the one call in flight).
    async fn ou_doc(&self, kind: &'static str, id: &str) -> Option<Value> {
        let cell = self
            .ou_docs
            .lock()
            .unwrap()
            .entry((kind, id.to_string()))
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            match kind {
                "parents" => self.parents(id).await,
                _ => self.organizational_unit(id).await,
            }
        })
        .await
        .clone()
    }

    /// The documents of one account/region. What Organizations says of the
    /// account is fetched alongside the regional calls, not after them: it
    /// would otherwise add its round trips to every region's latency.
    async fn fetch(&self, scope: &Scope) -> Result<MemInputs, Error> {
        let account = scope.accountid.as_str();
        let org = async {
            if self.s.backups_only {
                return None;
            }
            let (doc, ()) =
                futures_util::future::join(self.account_doc(account), self.prefetch_org(account))
                    .await;
            doc
        };
        let (account_doc, inputs) =
            futures_util::future::join(org, self.fetch_regional(scope)).await;
        let mut inputs = inputs?;
        inputs.account = account_doc;
        Ok(inputs)
    }

    async fn fetch_regional(&self, scope: &Scope) -> Result<MemInputs, Error> {
        let account = scope.accountid.as_str();
        let c = self.clients(account).await.map_err(|m| aws_err(scope, m))?;
        let naming = &self.s.naming;
        let f = calls::Fetch {
            clients: &c,
            region: Region::new(scope.region.to_string()),
            page: self.s.page_size,
            scope,
            group_tag: &naming.group_tag,
        };
        let tables = f.tables().await?;
        let only = self.s.backups_only;
        let mut pages: Vec<(&'static ApiCall, Vec<Value>)> = Vec::new();
        for call in tables::page_calls() {
            if only && !call.for_backups {
                continue;
            }
            let got = match &call.input {
                Input::Region => (call.live)(&f, &[]).await?,
                Input::Referenced { from, ids, chunk } => {
                    let mut all = Vec::new();
                    for (_, p) in pages.iter().filter(|(c, _)| c == from) {
                        p.iter().for_each(|p| ids(p, &mut all));
                    }
                    let mut seen = std::collections::HashSet::new();
                    all.retain(|id| seen.insert(id.clone()));
                    let mut got = Vec::new();
                    for chunk in all.chunks(*chunk) {
                        got.extend((call.live)(&f, chunk).await?);
                    }
                    got
                }
            };
            pages.push((call, got));
        }
        let stacks = f.stacks(naming).await?;
        let windows = if only { Vec::new() } else { f.windows().await? };
        let mut window_tags = HashMap::new();
        for w in windows.iter().flat_map(|p| {
            p["WindowIdentities"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        }) {
            if let Some(id) = w["WindowId"].as_str() {
                window_tags.insert(id.to_string(), f.window_tags(id).await?);
            }
        }
        // Groups: tables, stacks, instance tags; their two tables are scanned.
        let mut groups = BTreeSet::new();
        for t in &tables {
            if let Some(g) = Naming::match_template(&naming.configuration_table, t) {
                groups.insert(g.to_string());
            }
        }
        for s in stacks["Stacks"].as_array().into_iter().flatten() {
            if let Some(g) = s["StackName"]
                .as_str()
                .and_then(|n| Naming::match_template(&naming.stack, n))
            {
                groups.insert(g.to_string());
            }
        }
        let instance_pages = pages.iter().filter(|(c, _)| *c == &DESCRIBE_INSTANCES);
        for p in instance_pages.flat_map(|(_, p)| p) {
            for r in p["Reservations"].as_array().into_iter().flatten() {
                for i in r["Instances"].as_array().into_iter().flatten() {
                    for t in i["Tags"].as_array().into_iter().flatten() {
                        if t["Key"] == naming.group_tag.as_str() {
                            if let Some(v) = t["Value"].as_str() {
                                groups.insert(v.to_string());
                            }
                        }
                    }
                }
            }
        }
        let mut scans = HashMap::new();
        let mut pitr = HashMap::new();
        for g in &groups {
            for template in [&naming.configuration_table, &naming.scheduler_table] {
                let name = Naming::expand(template, g);
                if tables.contains(&name) {
                    if let Some(v) = f.scan(&name).await? {
                        scans.insert(name.clone(), v);
                    }
                    if only {
                        continue;
                    }
                    if let Some(v) = f.continuous_backups(&name).await {
                        pitr.insert(name, v);
                    }
                }
            }
        }
        Ok(MemInputs {
            scope: scope.clone(),
            origin: format!("aws:{scope}"),
            account: None,
            stacks,
            tables,
            scans,
            pitr,
            pages,
            windows,
            window_tags,
        })
    }
}

/// The partition a region belongs to (`--regions all` stays in the caller's).
fn region_partition(region: &str) -> &'static str {
    match region {
        r if r.starts_with("us-gov-") => "aws-us-gov",
        r if r.starts_with("cn-") => "aws-cn",
        r if r.starts_with("us-isob-") => "aws-iso-b",
        r if r.starts_with("us-iso-") => "aws-iso",
        r if r.starts_with("eu-isoe-") => "aws-iso-e",
        r if r.starts_with("us-isof-") => "aws-iso-f",
        _ => "aws",
    }
}

/// The calls of one account/region that feed no table of pages (they find
/// the groups and fill the per-group tables), each paginated to the end.
impl calls::Fetch<'_> {
    async fn tables(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let r = in_region!(
                self,
                aws_sdk_dynamodb,
                self.clients
                    .dynamodb
                    .list_tables()
                    .set_exclusive_start_table_name(start)
                    .set_limit(self.page)
            )
            .send()
            .await
            .map_err(|e| self.err(sdk_error("dynamodb:ListTables", &e)))?;
            out.extend(r.table_names().iter().cloned());
            start = r.last_evaluated_table_name().map(str::to_string);
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    async fn stacks(&self, naming: &Naming) -> Result<Value, Error> {
        let mut stacks = Vec::new();
        let mut token = None;
        loop {
            let r = in_region!(
                self,
                aws_sdk_cloudformation,
                self.clients
                    .cloudformation
                    .describe_stacks()
                    .set_next_token(token)
            )
            .send()
            .await
            .map_err(|e| self.err(sdk_error("cloudformation:DescribeStacks", &e)))?;
            for s in r.stacks() {
                if s.stack_name()
                    .and_then(|n| Naming::match_template(&naming.stack, n))
                    .is_some()
                {
                    stacks.push(s.to_json());
                }
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(json!({ "Stacks": stacks }));
            }
        }
    }

    async fn windows(&self) -> Result<Vec<Value>, Error> {
        paginate(|token| async {
            let req = self.clients.ssm.describe_maintenance_windows().set_next_token(token).set_max_results(self.page.map(|p| p.clamp(10, 100)));
            let r = in_region!(self, aws_sdk_ssm, req).send().await.map_err(|e| self.err(sdk_error("ssm:DescribeMaintenanceWindows", &e)))?;
            let page = json!({ "WindowIdentities": r.window_identities().iter().map(ToJson::to_json).collect::<Vec<_>>() });
            Ok((page, r.next_token().map(str::to_string)))
        })
        .await
    }

    async fn window_tags(&self, id: &str) -> Result<Value, Error> {
        let req = self
            .clients
            .ssm
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::MaintenanceWindow)
            .resource_id(id);
        let r = in_region!(self, aws_sdk_ssm, req)
            .send()
            .await
            .map_err(|e| self.err(sdk_error("ssm:ListTagsForResource", &e)))?;
        Ok(json!({ "TagList": r.tag_list().iter().map(ToJson::to_json).collect::<Vec<_>>() }))
    }

    /// A full scan, or None when the table does not exist.
    /// DescribeContinuousBackups in CLI JSON; None (unknown) if refused.
    async fn continuous_backups(&self, table: &str) -> Option<Value> {
        let req = self
            .clients
            .dynamodb
            .describe_continuous_backups()
            .table_name(table);
        let out = in_region!(self, aws_sdk_dynamodb, req).send().await.ok()?;
        let on = crate::dynamo::pitr_enabled(out.continuous_backups_description());
        let status = if on { "ENABLED" } else { "DISABLED" };
        Some(json!({"ContinuousBackupsDescription": {
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": status}
        }}))
    }

    async fn scan(&self, table: &str) -> Result<Option<Value>, Error> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let req = self
                .clients
                .dynamodb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .set_limit(self.page);
            let r = match in_region!(self, aws_sdk_dynamodb, req).send().await {
                Ok(r) => r,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(self.err(sdk_error("dynamodb:Scan", &e))),
            };
            items.extend(r.items().iter().map(item_to_json));
            start = r.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(Some(json!({ "Items": items, "Count": items.len() })));
            }
        }
    }
}

/// Documents of one scope, held in memory (live collection).
pub struct MemInputs {
    scope: Scope,
    origin: String,
    account: Option<Value>,
    stacks: Value,
    tables: Vec<String>,
    scans: HashMap<String, Value>,
    pitr: HashMap<String, Value>,
    /// The pages of each call the tables read.
    pages: Vec<(&'static ApiCall, Vec<Value>)>,
    windows: Vec<Value>,
    window_tags: HashMap<String, Value>,
}

impl MemInputs {
    fn doc(&self, what: &str, v: Value) -> Doc {
        Doc::value(format!("{}/{what}", self.origin), v)
    }
}

impl ScopeInputs for MemInputs {
    fn scope(&self) -> &Scope {
        &self.scope
    }
    fn account(&self) -> Result<Option<Doc>, Error> {
        Ok(self
            .account
            .clone()
            .map(|v| self.doc("organizations:DescribeAccount", v)))
    }
    fn stacks(&self) -> Result<Vec<Doc>, Error> {
        Ok(vec![
            self.doc("cloudformation:DescribeStacks", self.stacks.clone())
        ])
    }
    fn dynamodb_tables(&self) -> Result<Vec<String>, Error> {
        Ok(self.tables.clone())
    }
    fn scan(&self, table: &str) -> Result<Option<Doc>, Error> {
        Ok(self
            .scans
            .get(table)
            .map(|v| self.doc(&format!("dynamodb:Scan {table}"), v.clone())))
    }
    fn pages(
        &self,
        call: &'static ApiCall,
        f: &mut dyn FnMut(Doc) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let of_call = self.pages.iter().filter(|(c, _)| *c == call);
        for (i, p) in of_call.flat_map(|(_, p)| p).enumerate() {
            let what = format!("{} page {}", call.call.action, i + 1);
            f(self.doc(&what, p.clone()))?;
        }
        Ok(())
    }
    fn maintenance_windows(&self) -> Result<Vec<Doc>, Error> {
        Ok(self
            .windows
            .iter()
            .map(|w| self.doc("ssm:DescribeMaintenanceWindows", w.clone()))
            .collect())
    }
    fn window_tags(&self, window_id: &str) -> Result<Option<Doc>, Error> {
        Ok(self
            .window_tags
            .get(window_id)
            .map(|v| self.doc(&format!("ssm:ListTagsForResource {window_id}"), v.clone())))
    }
    fn continuous_backups(&self, table: &str) -> Result<Option<Doc>, Error> {
        Ok(self.pitr.get(table).map(|v| {
            self.doc(
                &format!("dynamodb:DescribeContinuousBackups {table}"),
                v.clone(),
            )
        }))
    }
}

/// An account's own Organizations documents, as prefetched.
#[derive(Clone)]
struct OrgDocs {
    parents: Option<Value>,
    tags: Option<Value>,
}

/// The Organizations documents of one account: prefetched with its first
/// region, else fetched on demand.
struct AwsAccount<'s> {
    src: &'s AwsSource,
    accountid: PartitionValue,
}

impl AwsAccount<'_> {
    fn doc(&self, what: &str, v: Option<Value>) -> Option<Doc> {
        v.map(|v| Doc::value(format!("aws:{}/{what}", self.accountid), v))
    }
}

impl AwsAccount<'_> {
    fn prefetched(&self) -> Option<OrgDocs> {
        let docs = self.src.org_docs.lock().unwrap();
        docs.get(self.accountid.as_str())?.get().cloned()
    }
}

impl Drop for AwsAccount<'_> {
    fn drop(&mut self) {
        let a = self.accountid.as_str();
        self.src.account_docs.lock().unwrap().remove(a);
        self.src.org_docs.lock().unwrap().remove(a);
    }
}

impl AccountInputs for AwsAccount<'_> {
    fn accountid(&self) -> &PartitionValue {
        &self.accountid
    }
    fn account(&self) -> Result<Option<Doc>, Error> {
        let v = self
            .src
            .rt
            .block_on(self.src.account_doc(self.accountid.as_str()));
        Ok(self.doc("organizations:DescribeAccount", v))
    }
    fn parents(&self, child_id: &str) -> Result<Option<Doc>, Error> {
        let v = if child_id == self.accountid.as_str() {
            match self.prefetched() {
                Some(d) => d.parents,
                None => self.src.rt.block_on(self.src.parents(child_id)),
            }
        } else {
            self.src.rt.block_on(self.src.ou_doc("parents", child_id))
        };
        Ok(self.doc(&format!("organizations:ListParents {child_id}"), v))
    }
    fn organizational_unit(&self, ou_id: &str) -> Result<Option<Doc>, Error> {
        let v = self.src.rt.block_on(self.src.ou_doc("ou", ou_id));
        Ok(self.doc(
            &format!("organizations:DescribeOrganizationalUnit {ou_id}"),
            v,
        ))
    }
    fn tags(&self) -> Result<Option<Doc>, Error> {
        let v = match self.prefetched() {
            Some(d) => d.tags,
            None => self
                .src
                .rt
                .block_on(self.src.account_tags(self.accountid.as_str())),
        };
        Ok(self.doc("organizations:ListTagsForResource", v))
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

    fn stream(&self, scopes: &[Scope], tx: super::Fetched) {
        use futures_util::StreamExt;
        self.rt.block_on(
            futures_util::stream::iter(scopes.iter().enumerate())
                .map(|(i, scope)| async move {
                    let r = self.fetch(scope).await;
                    self.scope_done(scope.accountid.as_str());
                    (i, r)
                })
                .buffer_unordered(self.s.concurrency.max(1))
                .for_each(|(i, r)| {
                    let tx = tx.clone();
                    async move {
                        let r = r.map(|m| Box::new(m) as Box<dyn ScopeInputs + Send>);
                        let _ = tx.send((i, r)).await;
                    }
                }),
        );
    }

    fn notes(&self) -> Vec<String> {
        AwsSource::notes(self)
    }

    fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.calls.snapshot()
    }
}
