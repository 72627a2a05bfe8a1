//! The domain of an export: scopes, partitions, their checked values and
//! failures, and the output layout built from them.
//!
//! Owns two rules. No path is ever built from an unchecked value: a
//! [`PartitionValue`] can only be made by [`PartitionValue::parse`], which
//! accepts `[A-Za-z0-9._-]+` except `.` and `..`. And the layout under a
//! destination is spelled out here and nowhere else:
//!
//! ```text
//! metadata/{table}/accountid={a}/region={r}/groupname={g}/{table}-{a}-{r}-{g}.parquet   (per group)
//! metadata/{table}/accountid={a}/{table}-{a}.parquet                                   (per account)
//! backups/accountid={a}/region={r}/groupname={g}/…            (see crate::backup)
//! backups/tables/{table}/{time}/…                               (table dumps, see table-backup)
//! history/{table}/snapshot={id}/…                               (see crate::history)
//! query/version={v}/…, query/current.json                      (the query-ready copy, see crate::consolidated)
//! runs/{run id}.json                                            (what each run did)
//! report.html                                                   (the governance page, see crate::report)
//! ```
//!
//! Each root folder is a constant below; the modules named build the paths
//! inside their own folder from it, and parse them back.
//!
//! Sources, collection, schema, backups and sinks all use these types; this
//! module depends on none of them.

use std::fmt;

use crate::error::Error;
use crate::schema::{Partitioning, TableDef};

/// The folder of every table, under the destination root.
pub const METADATA: &str = "metadata";
/// The folder of group backups, under the destination root.
pub const BACKUPS: &str = "backups";
/// The folder of whole-table dumps (`table-backup`), inside [`BACKUPS`]
/// (`tables` is not a partition value's form, `accountid=…`, so the two never meet).
pub const TABLE_DUMPS: &str = "backups/tables";
/// The folder of history snapshots, under the destination root.
pub const HISTORY: &str = "history";
/// The folder of the query-ready copy, under the destination root.
pub const QUERY: &str = "query";
/// The folder of the run records, under the destination root.
pub const RUNS: &str = "runs";
/// The governance page, under the destination root.
pub const REPORT_PAGE: &str = "report.html";

/// This machine's host name (empty when the kernel does not say): it names
/// the holder of a lock or a lease, and tells processes apart.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Eight hex digits that differ between processes (a hash of the process
/// id, the host, the moment it was first asked and the kernel's random
/// uuid): the part of run ids and query-copy versions that keeps two
/// processes writing to one destination apart.
pub fn process_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(std::process::id().to_le_bytes());
        h.update(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_le_bytes(),
        );
        h.update(host_name().as_bytes());
        h.update(std::fs::read("/proc/sys/kernel/random/uuid").unwrap_or_default());
        hex::encode(&h.finalize()[..4])
    })
}

/// Whether `s` is an AWS account id: exactly twelve ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `metadata/{table}`: the folder of one table (its Athena LOCATION).
pub fn table_dir(table: &TableDef) -> String {
    format!("{METADATA}/{}", table.name)
}

/// `metadata/{table}/accountid=…/region=…`: one scope's partitions of a table.
pub fn scope_dir(table: &TableDef, scope: &Scope) -> String {
    format!(
        "{}/accountid={}/region={}",
        table_dir(table),
        scope.accountid,
        scope.region
    )
}

/// The partition of any path in a partition folder
/// (`metadata/{table}/{partition}/{file}`), and the file's name.
pub fn partition_of_path(path: &str) -> Option<(PartitionKey, &str)> {
    let rest = path.strip_prefix(METADATA)?.strip_prefix('/')?;
    let (_table, rest) = rest.split_once('/')?;
    let (dir, file) = rest.rsplit_once('/')?;
    Some((PartitionKey::from_rel_dir(dir)?, file))
}

/// The partition of a table file that readers see (`….parquet`, not hidden
/// or temporary), or None for anything else.
pub fn partition_of_file(path: &str) -> Option<PartitionKey> {
    let (p, file) = partition_of_path(path)?;
    (file.ends_with(".parquet") && !file.starts_with('.') && !file.starts_with('_')).then_some(p)
}

/// The file of `table` in partition `key`.
pub fn table_file(table: &TableDef, key: &PartitionKey) -> String {
    format!(
        "{}/{}/{}-{}.parquet",
        table_dir(table),
        key.rel_dir(),
        table.name,
        key.values().join("-")
    )
}

/// `accountid={a}/region={r}/groupname={g}`: the Hive folders of a
/// partition, under a table (`metadata/{table}/`) or the backups (`backups/`).
pub fn hive_dir(accountid: &str, region: &str, group: &str) -> String {
    format!("accountid={accountid}/region={region}/groupname={group}")
}

/// Shard `index` (0-based) of `count`: the accounts whose id hashes to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `K/N`, with 1 <= K <= N <= 10,000.
    pub fn parse(s: &str) -> Result<Shard, Error> {
        let bad = || {
            Error::Usage(format!(
                "--shard {s:?}: expected K/N with 1 <= K <= N <= 10000, for example 3/8"
            ))
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if !(1..=10_000).contains(&n) || !(1..=n).contains(&k) {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// Whether the account belongs to this shard. FNV-1a of the id: the
    /// same on every machine and in every version, unlike std's hasher.
    pub fn holds(&self, accountid: &str) -> bool {
        let h = crate::stable_hash::fnv1a(accountid.as_bytes());
        h % u64::from(self.count) == u64::from(self.index)
    }
}

/// A failure confined to one group (or a whole scope when `group` is None).
#[derive(Debug)]
pub struct Failure {
    pub scope: String,
    pub group: Option<String>,
    pub error: Error,
}

/// A checked Hive partition value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionValue(String);

impl PartitionValue {
    /// Checks `value`; `what` names it and `origin` says where it came from, for the error.
    pub fn parse(value: &str, what: &str, origin: &str) -> Result<Self, Error> {
        let ok = !value.is_empty()
            && value != "."
            && value != ".."
            && value.len() <= 255
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(PartitionValue(value.to_string()))
        } else {
            Err(Error::BadPartitionValue {
                what: what.to_string(),
                value: value.to_string(),
                origin: origin.to_string(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartitionValue {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account and region: the unit a source collects at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub accountid: PartitionValue,
    pub region: PartitionValue,
}

impl Scope {
    pub fn partition(&self, group: &PartitionValue) -> Partition {
        Partition {
            accountid: self.accountid.clone(),
            region: self.region.clone(),
            groupname: group.clone(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.accountid, self.region)
    }
}

/// `accountid/region/groupname`: one Hive partition of every table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub accountid: PartitionValue,
    pub region: PartitionValue,
    pub groupname: PartitionValue,
}

impl Partition {
    pub fn new(accountid: &str, region: &str, groupname: &str) -> Result<Self, Error> {
        Ok(Partition {
            accountid: PartitionValue::parse(accountid, "account id", "argument")?,
            region: PartitionValue::parse(region, "region", "argument")?,
            groupname: PartitionValue::parse(groupname, "group name", "argument")?,
        })
    }

    pub fn values(&self) -> [&str; 3] {
        [
            self.accountid.as_str(),
            self.region.as_str(),
            self.groupname.as_str(),
        ]
    }

    /// `accountid=…/region=…/groupname=…`
    pub fn rel_dir(&self) -> String {
        hive_dir(
            self.accountid.as_str(),
            self.region.as_str(),
            self.groupname.as_str(),
        )
    }

    /// `metadata/{table}/accountid=…/region=…/groupname=…/{table}-{acct}-{region}-{group}.parquet`
    pub fn table_file(&self, table: &TableDef) -> String {
        table_file(table, &PartitionKey::Group(self.clone()))
    }

    /// Parses `accountid=…/region=…/groupname=…` as found under a table folder.
    pub fn from_rel_dir(dir: &str) -> Option<Self> {
        let mut it = dir.trim_matches('/').split('/');
        let mut take = |key: &str| {
            it.next()?
                .strip_prefix(key)?
                .strip_prefix('=')
                .map(str::to_string)
        };
        let (a, r, g) = (take("accountid")?, take("region")?, take("groupname")?);
        if it.next().is_some() {
            return None;
        }
        Partition::new(&a, &r, &g).ok()
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}/{}", self.accountid, self.region, self.groupname)
    }
}

/// One Hive partition of a table, whatever its [`Partitioning`]: the
/// values of the table's partition columns, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionKey {
    /// `accountid/region/groupname`
    Group(Partition),
    /// `accountid`
    Account(PartitionValue),
}

impl PartitionKey {
    pub fn partitioning(&self) -> Partitioning {
        match self {
            PartitionKey::Group(_) => Partitioning::Group,
            PartitionKey::Account(_) => Partitioning::Account,
        }
    }

    pub fn accountid(&self) -> &PartitionValue {
        match self {
            PartitionKey::Group(p) => &p.accountid,
            PartitionKey::Account(a) => a,
        }
    }

    /// The values, in the order of [`Partitioning::columns`].
    pub fn values(&self) -> Vec<&str> {
        match self {
            PartitionKey::Group(p) => p.values().to_vec(),
            PartitionKey::Account(a) => vec![a.as_str()],
        }
    }

    /// `accountid=…[/region=…/groupname=…]`
    pub fn rel_dir(&self) -> String {
        match self {
            PartitionKey::Group(p) => p.rel_dir(),
            PartitionKey::Account(a) => format!("accountid={a}"),
        }
    }

    /// Parses a partition folder as found under a table folder.
    pub fn from_rel_dir(dir: &str) -> Option<Self> {
        if let Some(p) = Partition::from_rel_dir(dir) {
            return Some(PartitionKey::Group(p));
        }
        let a = dir.trim_matches('/').strip_prefix("accountid=")?;
        PartitionValue::parse(a, "account id", "folder")
            .ok()
            .map(PartitionKey::Account)
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.values().join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_values_that_could_escape_their_folder() {
        for bad in [
            "",
            ".",
            "..",
            "../etc",
            "a/b",
            "a\\b",
            "web group",
            "grp\0",
            "é",
            "a=b",
            "x%2F",
        ] {
            let e = PartitionValue::parse(bad, "group name", "tag clonesquad:group-name of i-1")
                .unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("group name") && msg.contains("i-1"), "{msg}");
        }
        for good in ["web", "my-group_2.prod", "123456789012", "eu-west-1", "..."] {
            PartitionValue::parse(good, "x", "y").unwrap();
        }
    }

    #[test]
    fn shards_split_accounts_into_disjoint_parts_that_cover_them_all() {
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i * 7919))
            .collect();
        let shards: Vec<Shard> = (1..=4)
            .map(|k| Shard::parse(&format!("{k}/4")).unwrap())
            .collect();
        let mut sizes = Vec::new();
        for id in &ids {
            assert_eq!(shards.iter().filter(|s| s.holds(id)).count(), 1, "{id}");
        }
        for s in &shards {
            sizes.push(ids.iter().filter(|id| s.holds(id)).count());
        }
        assert!(sizes.iter().all(|&n| (150..350).contains(&n)), "{sizes:?}");
        // Stable: a known id always lands in the same shard.
        assert!(Shard::parse("1/1").unwrap().holds("123456789012"));
        for bad in ["0/4", "5/4", "4", "1/0", "a/b", "1/10001"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout_is_deterministic_and_round_trips() {
        let p = Partition::new("111111111111", "eu-west-1", "web").unwrap();
        assert_eq!(
            p.table_file(&crate::tables::INSTANCES),
            "metadata/instances/accountid=111111111111/region=eu-west-1/groupname=web/instances-111111111111-eu-west-1-web.parquet"
        );
        assert_eq!(Partition::from_rel_dir(&p.rel_dir()), Some(p));
        assert_eq!(
            Partition::from_rel_dir("accountid=1/region=r/groupname=../x"),
            None
        );
        assert_eq!(Partition::from_rel_dir("accountid=1/region=r"), None);
        let a = PartitionKey::Account(PartitionValue::parse("111111111111", "a", "t").unwrap());
        assert_eq!(a.rel_dir(), "accountid=111111111111");
        assert_eq!(PartitionKey::from_rel_dir(&a.rel_dir()), Some(a.clone()));
        assert_eq!(PartitionKey::from_rel_dir("accountid=1/region=r"), None);
        assert_eq!(PartitionKey::from_rel_dir("accountid=.."), None);
        assert_eq!(
            partition_of_file(
                "metadata/accounts/accountid=111111111111/accounts-111111111111.parquet"
            ),
            Some(a)
        );
    }
}
