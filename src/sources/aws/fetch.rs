//! One account/region's documents: every call the tables declare, plus the
//! calls that find the groups, each paginated to the end and held in
//! memory ([`MemInputs`]) for `collect`.

use std::collections::{BTreeSet, HashMap};

use aws_config::Region;
use serde_json::{json, Value};

use crate::aws::convert::ToJson;
use crate::aws::sdk_error;
use crate::calls::ec2::DESCRIBE_INSTANCES;
use crate::calls::{self, in_region, paginate, ApiCall, Input};
use crate::documents::{Doc, Naming, ScopeInputs};
use crate::dynamo::typed::item_to_json;
use crate::error::Error;
use crate::partition::Scope;
use crate::tables;

use super::{aws_err, AwsSource};

impl AwsSource {
    /// The documents of one account/region. What Organizations says of the
    /// account is fetched alongside the regional calls, not after them: it
    /// would otherwise add its round trips to every region's latency.
    pub(super) async fn fetch(&self, scope: &Scope) -> Result<MemInputs, Error> {
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

    pub(super) async fn fetch_regional(&self, scope: &Scope) -> Result<MemInputs, Error> {
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
pub(super) fn region_partition(region: &str) -> &'static str {
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
