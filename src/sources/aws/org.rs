//! Which accounts: the Organizations listings (`ListAccounts`, by unit,
//! every page), the walk of the tree, and each account's own documents
//! (`DescribeAccount`, `ListParents`, `ListTagsForResource`, its units),
//! each fetched once and prefetched with the account's first region.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aws_smithy_runtime_api::client::result::SdkError;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::aws::convert::ToJson;
use crate::aws::sdk_error;
use crate::documents::{AccountInputs, Doc};
use crate::error::Error;
use crate::partition::PartitionValue;

use super::{aws_err, Accounts, AwsSource};

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

impl AwsSource {
    /// Keeps what a listing said of an account: its `DescribeAccount`
    /// would say the same (the same `Account` structure).
    pub(super) fn known_account(&self, id: &str, account: Value) {
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
                self.list_accounts(Some(&parent), &mut |page| {
                    for id in page.iter().filter_map(|a| a.id()) {
                        tree.accounts.insert(id.to_string(), parents.clone());
                    }
                })
                .await?;
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
            let mut all = Vec::new();
            self.list_accounts(None, &mut |page| all.extend_from_slice(page))
                .await?;
            // Checked whole: what is not listed here may be deleted.
            all.iter()
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

    /// The accounts to collect, sorted.
    pub(super) async fn accounts(&self) -> Result<Vec<String>, Error> {
        let mut list = Vec::new();
        self.each_account(&mut |a| list.push(a)).await?;
        list.sort();
        Ok(list)
    }

    /// Hands each account to collect to `on`, once, as soon as it is known:
    /// a whole-organization listing hands over each page's accounts as the
    /// page arrives, so that collection starts with the first page rather
    /// than after the last. Exclusions and the shard apply first.
    pub(super) async fn each_account(&self, on: &mut dyn FnMut(String)) -> Result<(), Error> {
        let mut excluded = BTreeSet::new();
        for ou in &self.s.exclude_ous {
            excluded.extend(self.ou_accounts(ou).await?);
        }
        let mut seen = BTreeSet::new();
        let mut pass = |a: String| {
            let keep = !self.s.exclude_accounts.contains(&a)
                && !excluded.contains(&a)
                && self.s.shard.is_none_or(|s| s.holds(&a));
            if keep && seen.insert(a.clone()) {
                on(a);
            }
        };
        match &self.s.accounts {
            Accounts::Caller => pass(self.caller_account().await?),
            Accounts::List(l) => l.iter().cloned().for_each(&mut pass),
            Accounts::Org if self.s.include_ous.is_empty() => {
                self.org_accounts(None, &mut pass).await?
            }
            Accounts::Org => {
                for ou in &self.s.include_ous {
                    self.ou_accounts(ou).await?.into_iter().for_each(&mut pass);
                }
            }
        }
        Ok(())
    }

    /// The ACTIVE accounts of `parent` (the whole organization when None),
    /// handed to `on` page by page; the others are noted. A listing of the
    /// whole organization also records every member, once complete.
    pub(super) async fn org_accounts(
        &self,
        parent: Option<&str>,
        on: &mut dyn FnMut(String),
    ) -> Result<(), Error> {
        let mut members = BTreeSet::new();
        self.list_accounts(parent, &mut |page| {
            for a in page {
                let Some(id) = a.id() else { continue };
                members.insert(id.to_string());
                // State replaced Status on 2026-09-09; either may be absent.
                let state = a
                    .state()
                    .map(|s| s.as_str())
                    .or_else(|| a.status().map(|s| s.as_str()));
                match state {
                    Some("ACTIVE") => {
                        self.known_account(id, a.to_json());
                        on(id.to_string())
                    }
                    Some(other) => self.note(format!(
                        "account {id}: skipped, its state is {other} (only ACTIVE accounts are collected)"
                    )),
                    None => self.note(format!(
                        "account {id}: skipped, Organizations gave neither State nor Status"
                    )),
                }
            }
        })
        .await?;
        if parent.is_none() {
            *self.members.lock().unwrap() = Some(members);
        }
        Ok(())
    }

    /// `ListAccounts` (or `ListAccountsForParent`), every page, each handed
    /// to `on_page` as it arrives.
    pub(super) async fn list_accounts(
        &self,
        parent: Option<&str>,
        on_page: &mut dyn FnMut(&[aws_sdk_organizations::types::Account]),
    ) -> Result<(), Error> {
        // The caller's Organizations client has no per-call region, so the
        // SDK's own paginators apply here (the regional calls below cannot
        // use them: see `paginate`).
        match parent {
            None => {
                let mut stream = self
                    .caller
                    .organizations
                    .list_accounts()
                    .set_max_results(self.s.page_size.map(|p| p.clamp(1, 20)))
                    .into_paginator()
                    .send();
                while let Some(r) = stream.next().await {
                    let r = r.map_err(|e| {
                        aws_err("organization", sdk_error("organizations:ListAccounts", &e))
                    })?;
                    on_page(r.accounts());
                }
            }
            Some(p) => {
                let mut stream = self
                    .caller
                    .organizations
                    .list_accounts_for_parent()
                    .parent_id(p)
                    .set_max_results(self.s.page_size.map(|p| p.clamp(1, 20)))
                    .into_paginator()
                    .send();
                while let Some(r) = stream.next().await {
                    let r = r.map_err(|e| {
                        aws_err(p, sdk_error("organizations:ListAccountsForParent", &e))
                    })?;
                    on_page(r.accounts());
                }
            }
        }
        Ok(())
    }

    /// Accounts under an OU and its children.
    pub(super) async fn ou_accounts(&self, ou: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut stack = vec![ou.to_string()];
        while let Some(p) = stack.pop() {
            self.org_accounts(Some(&p), &mut |a| out.push(a)).await?;
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
    pub(super) async fn child_units(
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

    /// `DescribeAccount`, once per account however many of its regions ask
    /// at the same time.
    pub(super) async fn account_doc(&self, account: &str) -> Option<Value> {
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

    pub(super) async fn describe_account(&self, account: &str) -> Option<Value> {
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
    pub(super) fn optional<T, E>(
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

    pub(super) async fn parents(&self, child: &str) -> Option<Value> {
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

    pub(super) async fn organizational_unit(&self, id: &str) -> Option<Value> {
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

    pub(super) async fn account_tags(&self, account: &str) -> Option<Value> {
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
    pub(super) async fn prefetch_org(&self, account: &str) {
        let cell = self
            .org_docs
            .lock()
            .unwrap()
            .entry(account.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| self.fetch_org(account)).await;
    }

    pub(super) async fn fetch_org(&self, account: &str) -> OrgDocs {
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
    pub(super) async fn ou_doc(&self, kind: &'static str, id: &str) -> Option<Value> {
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
}

/// An account's own Organizations documents, as prefetched.
#[derive(Clone)]
pub(super) struct OrgDocs {
    parents: Option<Value>,
    tags: Option<Value>,
}

/// The Organizations documents of one account: prefetched with its first
/// region, else fetched on demand.
pub(super) struct AwsAccount<'s> {
    pub(super) src: &'s AwsSource,
    pub(super) accountid: PartitionValue,
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
