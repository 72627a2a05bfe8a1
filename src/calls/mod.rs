//! The AWS API calls whose pages hold table rows, each declared once.
//!
//! Owns [`ApiCall`]: one value per call, naming its IAM action and resource,
//! its file stem in a snapshot, the member of each page that lists its rows,
//! what it takes as input, whether backups-only runs make it, how the live
//! source makes it (the SDK call, paginated to the end, with its answer
//! converted to the JSON the AWS CLI prints) and how the demo organisation
//! answers it. A table names its call in its [`Resolver::Pages`]
//! (`crate::tables::Resolver`); the live, demo and snapshot sources,
//! `gen-snapshot`, `iam-policy` and the summary's call counts read the
//! declaration and nothing else, so a new call is one value here and its
//! table.

pub mod cloudformation;
pub mod dynamodb;
pub mod ec2;
pub mod ssm;

use aws_config::Region;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::aws::AccountClients;
use crate::documents::Naming;
use crate::error::Error;
use crate::partition::Scope;
use crate::schema::Call;

/// An API call whose pages hold rows.
pub struct ApiCall {
    /// The IAM action and the resources it is granted on.
    pub call: Call,
    /// The file stem in a snapshot (`aws ec2 describe-volumes` →
    /// `ec2-describe-volumes`): pages are `{stem}.json` or `{stem}-….json`.
    pub stem: &'static str,
    /// The member of a page that lists its rows (`Volumes`).
    pub page_key: &'static str,
    /// The member that tells one row from another (`VolumeId`).
    pub id: &'static str,
    pub input: Input,
    /// Made in backups-only runs too (they need its answers to find groups
    /// or to back them up).
    pub for_backups: bool,
    /// The live call: every page, as the AWS CLI prints it.
    pub live: Live,
    /// The demo organisation's answer.
    pub demo: Demo,
}

impl std::fmt::Debug for ApiCall {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.call.action)
    }
}

impl PartialEq for ApiCall {
    fn eq(&self, other: &Self) -> bool {
        self.call.action == other.call.action
    }
}

/// What a call takes.
pub enum Input {
    /// Every resource of the account/region that a group could own.
    Region,
    /// The ids that the pages of `from` name (`ids` collects them from one
    /// page; each is asked for once, in the order first named), at most
    /// `chunk` per request. Nothing is called when there is none.
    Referenced {
        from: &'static ApiCall,
        ids: fn(&Value, &mut Vec<String>),
        chunk: usize,
    },
    /// One request per id, each answered by one document (`{stem}-{id}.json`
    /// in a snapshot), or by none when the resource is not there.
    Each(Ids),
}

/// The ids an [`Input::Each`] call is made for.
pub enum Ids {
    /// Those the pages of a call name, each once, in the order first named.
    From(&'static ApiCall, fn(&Value, &mut Vec<String>)),
    /// The configuration and scheduler tables of every group found that
    /// exist ([`group_tables`]).
    GroupTables,
}

/// The calls whose answers name the groups of an account/region: its
/// DynamoDB tables, its deployment stacks and its tagged instances.
pub static GROUP_FINDERS: [&ApiCall; 3] = [
    &dynamodb::LIST_TABLES,
    &cloudformation::DESCRIBE_STACKS,
    &ec2::DESCRIBE_INSTANCES,
];

/// The ids `call` is made for, each once, in the order first named, from
/// the pages of the calls made before it (`pages(c)` lists those of `c`).
/// Empty for an [`Input::Region`] call.
pub fn ids_for<'v>(
    call: &ApiCall,
    pages: &dyn Fn(&'static ApiCall) -> Vec<&'v Value>,
    naming: &Naming,
) -> Vec<String> {
    let mut ids = Vec::new();
    match &call.input {
        Input::Referenced { from, ids: f, .. } | Input::Each(Ids::From(from, f)) => {
            pages(from).into_iter().for_each(|p| f(p, &mut ids))
        }
        Input::Each(Ids::GroupTables) => ids = group_tables(pages, naming),
        Input::Region => {}
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

/// The configuration and scheduler tables of the groups that the pages of
/// [`GROUP_FINDERS`] name (a configuration table, a stack, an instance's
/// group tag), that the table list holds; by group, then configuration
/// before scheduler.
pub fn group_tables<'v>(
    pages: &dyn Fn(&'static ApiCall) -> Vec<&'v Value>,
    naming: &Naming,
) -> Vec<String> {
    let mut tables = Vec::new();
    for p in pages(&dynamodb::LIST_TABLES) {
        ids_at(p, &["TableNames"], &mut tables);
    }
    let mut groups = std::collections::BTreeSet::new();
    for t in &tables {
        if let Some(g) = Naming::match_template(&naming.configuration_table, t) {
            groups.insert(g.to_string());
        }
    }
    let mut stacks = Vec::new();
    for p in pages(&cloudformation::DESCRIBE_STACKS) {
        ids_at(p, &["Stacks", "StackName"], &mut stacks);
    }
    for s in &stacks {
        if let Some(g) = Naming::match_template(&naming.stack, s) {
            groups.insert(g.to_string());
        }
    }
    for p in pages(&ec2::DESCRIBE_INSTANCES) {
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
    let mut out = Vec::new();
    for g in &groups {
        for template in [&naming.configuration_table, &naming.scheduler_table] {
            let name = Naming::expand(template, g);
            if tables.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// What a live call needs: the account's clients and where it runs.
pub struct Fetch<'a> {
    pub clients: &'a AccountClients,
    pub region: Region,
    /// `--page-size`: the most rows per page, where the call takes a limit.
    pub page: Option<i32>,
    pub scope: &'a Scope,
    /// How a group's resources are named.
    pub naming: &'a Naming,
}

impl Fetch<'_> {
    /// An error of this account/region.
    pub fn err(&self, message: String) -> Error {
        Error::Aws {
            scope: self.scope.to_string(),
            message,
        }
    }
}

/// Makes a call: `ids` is empty for [`Input::Region`], else one chunk, or
/// the one id of an [`Input::Each`] call (no page: the resource is not
/// there).
pub type Live = for<'a> fn(&'a Fetch<'a>, &'a [String]) -> BoxFuture<'a, Result<Vec<Value>, Error>>;

/// How the demo organisation answers a call.
pub enum Demo {
    /// From the organisation's model itself (the demo source holds its
    /// instances, groups, tables and windows).
    Model,
    /// With rows made from each instance of the account/region, in order,
    /// from one random stream per account/region; rows with an id already
    /// given are left out.
    PerInstance(fn(&Value, &Scope, &mut DemoRng) -> Vec<Value>),
}

/// Calls `page(token)` until it returns no next token; an empty token ends too.
///
/// Hand-written on purpose: the regional calls set their region per call
/// (`customize().config_override(…)`, so that an account holds one set of
/// clients, not one per region), and the SDK's paginators are only on the
/// plain fluent builders, before `customize()`.
pub async fn paginate<F, Fut>(mut page: F) -> Result<Vec<Value>, Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Value, Option<String>), Error>>,
{
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let (p, next) = page(token.take()).await?;
        pages.push(p);
        token = next.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(pages);
        }
    }
}

/// Sets the region of one request, on clients shared by every region.
macro_rules! in_region {
    ($f:expr, $svc:ident, $req:expr) => {
        $req.customize()
            .config_override($svc::config::Builder::default().region($f.region.clone()))
    };
}
pub(crate) use in_region;

/// SplitMix64: small, fast and the same everywhere; the demo's only randomness.
#[derive(Clone)]
pub struct DemoRng(u64);

impl DemoRng {
    /// The stream of `seed`, salted by a name (FNV-1a over its bytes).
    pub fn new(seed: u64, salt: &str) -> Self {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for b in salt.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
        DemoRng(h)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// The ids at `path` under every row of a page: `["Reservations",
/// "Instances", "InstanceId"]` lists each instance's id. A list on the way
/// is walked element by element.
pub fn ids_at(v: &Value, path: &[&str], out: &mut Vec<String>) {
    match (v, path.split_first()) {
        (Value::Array(xs), _) => xs.iter().for_each(|x| ids_at(x, path, out)),
        (Value::String(s), None) => out.push(s.clone()),
        (Value::Object(_), Some((k, rest))) => {
            if let Some(x) = v.get(*k) {
                ids_at(x, rest, out)
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_found_through_lists() {
        let page = json!({"Reservations": [
            {"Instances": [{"InstanceId": "i-1", "SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]}]},
            {"Instances": [{"InstanceId": "i-2"}, {"NoId": 1}]}]});
        let mut ids = Vec::new();
        ids_at(
            &page,
            &["Reservations", "Instances", "InstanceId"],
            &mut ids,
        );
        assert_eq!(ids, ["i-1", "i-2"]);
        ids.clear();
        ids_at(
            &page,
            &["Reservations", "Instances", "SecurityGroups", "GroupId"],
            &mut ids,
        );
        assert_eq!(ids, ["sg-1", "sg-2"]);
    }

    #[test]
    fn a_call_is_made_for_each_id_once_in_the_order_first_named() {
        let page = json!({"Reservations": [
            {"Instances": [{"InstanceId": "i-2"}, {"InstanceId": "i-1"}]},
            {"Instances": [{"InstanceId": "i-2"}]}]});
        let of = |c: &'static ApiCall| -> Vec<&Value> {
            if c == &ec2::DESCRIBE_INSTANCES {
                vec![&page, &page]
            } else {
                Vec::new()
            }
        };
        let naming = Naming::default();
        assert_eq!(
            ids_for(&ec2::DESCRIBE_VOLUMES, &of, &naming),
            ["i-2", "i-1"]
        );
        assert!(ids_for(&ec2::DESCRIBE_INSTANCES, &of, &naming).is_empty());
    }
}
