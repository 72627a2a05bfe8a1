//! One account/region's documents: every call the tables declare, plus the
//! calls that find the groups (`tables::regional_calls`), each paginated to
//! the end and held in memory ([`MemInputs`]) for `collect`.

use std::collections::HashMap;

use aws_config::Region;
use serde_json::Value;

use crate::calls::{self, ApiCall, Input};
use crate::documents::{Doc, ScopeInputs};
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

    /// Every call of the account/region (`tables::regional_calls`), in
    /// order, each paginated to the end; a backups-only run makes only
    /// those that backups need.
    pub(super) async fn fetch_regional(&self, scope: &Scope) -> Result<MemInputs, Error> {
        let account = scope.accountid.as_str();
        let c = self.clients(account).await.map_err(|m| aws_err(scope, m))?;
        let naming = &self.s.naming;
        let f = calls::Fetch {
            clients: &c,
            region: Region::new(scope.region.to_string()),
            page: self.s.page_size,
            scope,
            naming,
        };
        let mut pages: Vec<(&'static ApiCall, Vec<Value>)> = Vec::new();
        let mut answers = HashMap::new();
        for call in tables::regional_calls() {
            if self.s.backups_only && !call.for_backups {
                continue;
            }
            let of = |c: &'static ApiCall| -> Vec<&Value> {
                pages
                    .iter()
                    .filter(|(p, _)| *p == c)
                    .flat_map(|(_, v)| v)
                    .collect()
            };
            let got = match &call.input {
                Input::Region => (call.live)(&f, &[]).await?,
                Input::Referenced { chunk, .. } => {
                    let mut got = Vec::new();
                    for chunk in calls::ids_for(call, &of, naming).chunks(*chunk) {
                        got.extend((call.live)(&f, chunk).await?);
                    }
                    got
                }
                Input::Each(_) => {
                    for id in calls::ids_for(call, &of, naming) {
                        let got = (call.live)(&f, std::slice::from_ref(&id)).await?;
                        if let Some(v) = got.into_iter().next() {
                            answers.insert((call.call.action, id), v);
                        }
                    }
                    continue;
                }
            };
            pages.push((call, got));
        }
        Ok(MemInputs {
            scope: scope.clone(),
            origin: format!("aws:{scope}"),
            account: None,
            pages,
            answers,
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

/// Documents of one scope, held in memory (live collection).
pub struct MemInputs {
    scope: Scope,
    origin: String,
    account: Option<Value>,
    /// The pages of each call made once for the region.
    pages: Vec<(&'static ApiCall, Vec<Value>)>,
    /// The answer of each call made per id, by action and id.
    answers: HashMap<(&'static str, String), Value>,
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
    fn answer(&self, call: &'static ApiCall, id: &str) -> Result<Option<Doc>, Error> {
        let key = (call.call.action, id.to_string());
        Ok(self
            .answers
            .get(&key)
            .map(|v| self.doc(&format!("{} {id}", call.call.action), v.clone())))
    }
}
