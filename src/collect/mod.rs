//! From AWS API documents to table rows, for one account/region.
//!
//! Owns the logic shared by every source: which groups exist in a scope,
//! which instances and volumes belong to which group, how DynamoDB items,
//! CloudFormation stacks, Organizations accounts and SSM windows become rows.
//! Sources only provide the documents, shaped as the AWS CLI prints them,
//! through [`ScopeInputs`]; this module never does I/O of its own.

pub mod discovery;
pub mod dynamodb;
pub mod windows;

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::Error;
use crate::partition::Scope;
use crate::record::{format_path, PathSeg, RowError};
use crate::sink::scope::{Route, ScopeWriter};
use crate::tables::TableId;

/// A document as an AWS API or the AWS CLI returns it.
pub struct Doc {
    /// Where it came from (a file path, or `api:Operation`), for error messages.
    pub origin: String,
    pub body: Body,
}

pub enum Body {
    /// JSON text, parsed without building a DOM where it matters.
    Bytes(Vec<u8>),
    Value(Value),
}

impl Doc {
    pub fn value(origin: impl Into<String>, v: Value) -> Self {
        Doc {
            origin: origin.into(),
            body: Body::Value(v),
        }
    }

    /// The whole document as a JSON value (small documents only).
    pub fn into_value(self) -> Result<Value, Error> {
        match self.body {
            Body::Value(v) => Ok(v),
            Body::Bytes(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::input(&self.origin, "$", format!("malformed JSON: {e}"))),
        }
    }
}

/// The documents of one account/region, as the AWS CLI prints them.
pub trait ScopeInputs {
    fn scope(&self) -> &Scope;
    /// `organizations describe-account` (`{"Account": {...}}`), if known.
    fn account(&self) -> Result<Option<Doc>, Error>;
    /// `cloudformation describe-stacks` pages (`{"Stacks": [...]}`).
    fn stacks(&self) -> Result<Vec<Doc>, Error>;
    /// Names of the DynamoDB tables that can be scanned.
    fn dynamodb_tables(&self) -> Result<Vec<String>, Error>;
    /// `dynamodb scan` of `table` (`{"Items": [...]}`), None if the table does not exist.
    fn scan(&self, table: &str) -> Result<Option<Doc>, Error>;
    /// `ec2 describe-instances` pages (`{"Reservations": [...]}`).
    fn instance_pages(&self, f: &mut dyn FnMut(Doc) -> Result<(), Error>) -> Result<(), Error>;
    /// `ec2 describe-volumes` pages (`{"Volumes": [...]}`).
    fn volume_pages(&self, f: &mut dyn FnMut(Doc) -> Result<(), Error>) -> Result<(), Error>;
    /// `ssm describe-maintenance-windows` pages (`{"WindowIdentities": [...]}`).
    fn maintenance_windows(&self) -> Result<Vec<Doc>, Error>;
    /// `ssm list-tags-for-resource` of one window (`{"TagList": [...]}`).
    fn window_tags(&self, window_id: &str) -> Result<Option<Doc>, Error>;
    /// `dynamodb describe-continuous-backups` of `table`
    /// (`{"ContinuousBackupsDescription": {...}}`), None when unknown.
    fn continuous_backups(&self, _table: &str) -> Result<Option<Doc>, Error> {
        Ok(None)
    }
}

/// The field `name` of a JSON object, matched as AWS's own SDKs match
/// member names: exactly, else ignoring ASCII case (the AWS documentation
/// prints `JoinedTimeStamp` beside `JoinedTimestamp`).
pub fn field<'v>(obj: &'v Value, name: &str) -> Option<&'v Value> {
    let m = obj.as_object()?;
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Whether a DescribeContinuousBackups answer says PITR is on.
pub fn pitr_status(doc: Option<Doc>) -> Result<Option<bool>, Error> {
    let Some(doc) = doc else { return Ok(None) };
    let v = doc.into_value()?;
    Ok(v.pointer(
        "/ContinuousBackupsDescription/PointInTimeRecoveryDescription/PointInTimeRecoveryStatus",
    )
    .and_then(serde_json::Value::as_str)
    .map(|s| s == "ENABLED"))
}

/// Names of a group's resources, from templates where `{group}` stands for the name.
#[derive(Debug, Clone)]
pub struct Naming {
    pub group_tag: String,
    pub configuration_table: String,
    pub scheduler_table: String,
    pub stack: String,
}

impl Default for Naming {
    fn default() -> Self {
        Naming {
            group_tag: "clonesquad:group-name".into(),
            configuration_table: "CloneSquad-{group}-Configuration".into(),
            scheduler_table: "CloneSquad-{group}-Scheduler".into(),
            stack: "CloneSquad-{group}".into(),
        }
    }
}

impl Naming {
    pub fn expand(template: &str, group: &str) -> String {
        template.replace("{group}", group)
    }

    /// The group whose name fills `template` to give `name`, if any.
    pub fn match_template<'n>(template: &str, name: &'n str) -> Option<&'n str> {
        let (pre, post) = template.split_once("{group}")?;
        let g = name.strip_prefix(pre)?.strip_suffix(post)?;
        (!g.is_empty()).then_some(g)
    }

    pub fn check(&self) -> Result<(), Error> {
        for (what, t) in [
            ("--configuration-table-template", &self.configuration_table),
            ("--scheduler-table-template", &self.scheduler_table),
            ("--stack-template", &self.stack),
        ] {
            if t.matches("{group}").count() != 1 {
                return Err(Error::Usage(format!(
                    "{what} {t:?} must contain {{group}} exactly once"
                )));
            }
        }
        if self.group_tag.is_empty() {
            return Err(Error::Usage("--group-tag must not be empty".into()));
        }
        Ok(())
    }
}

fn backup_kind(t: TableId) -> crate::backup::Kind {
    match t {
        TableId::Scheduler => crate::backup::Kind::Scheduler,
        _ => crate::backup::Kind::Configuration,
    }
}

/// key → value of configuration or scheduler rows, for the YAML backup.
fn backup_items(rows: &[serde_json::Value]) -> std::collections::BTreeMap<String, Option<String>> {
    rows.iter()
        .filter_map(|r| {
            let k = r.get("key")?.as_str()?.to_string();
            let v = r.get("value").and_then(|v| v.as_str()).map(str::to_string);
            Some((k, v))
        })
        .collect()
}

/// Collects one scope into `w`, and returns each group's configuration and
/// scheduler items when `backups` is set (for [`crate::backup`] to write once
/// the group has committed). Errors confined to a group fail that group;
/// anything else fails the scope. Never returns early with partial commits:
/// the caller's [`ScopeWriter::finish`] decides what becomes visible.
pub fn collect_scope(
    inputs: &dyn ScopeInputs,
    w: &mut ScopeWriter,
    naming: &Naming,
    now_ms: i64,
    backups: bool,
) -> Vec<crate::backup::GroupItems> {
    let mut items = Vec::new();
    if let Err(e) = collect_inner(inputs, w, naming, now_ms, backups.then_some(&mut items)) {
        w.fail_scope(e);
    }
    items
}

fn collect_inner(
    inputs: &dyn ScopeInputs,
    w: &mut ScopeWriter,
    naming: &Naming,
    now_ms: i64,
    mut backups: Option<&mut Vec<crate::backup::GroupItems>>,
) -> Result<(), Error> {
    let stacks = discovery::stacks_by_group(inputs.stacks()?, naming)?;
    for g in stacks.keys() {
        w.group(
            g,
            &format!(
                "CloudFormation stack name {}",
                Naming::expand(&naming.stack, g)
            ),
        );
    }
    let tables = inputs.dynamodb_tables()?;
    for t in &tables {
        if let Some(g) = Naming::match_template(&naming.configuration_table, t) {
            w.group(g, &format!("DynamoDB table name {t}"));
        }
    }
    let only_backups = !w.writes_tables();
    if !only_backups {
        inputs.instance_pages(&mut |doc| stream_page(w, TableId::Instances, doc))?;
        // Volumes are routed through the instances they are attached to.
        w.flush_routed();
        inputs.volume_pages(&mut |doc| stream_page(w, TableId::Volumes, doc))?;
        w.flush_routed();
    }
    let (account, windows) = if only_backups {
        (None, Default::default())
    } else {
        (
            inputs.account()?.map(Doc::into_value).transpose()?,
            windows::load(inputs)?,
        )
    };
    let groups: Vec<(usize, String)> = w.groups().map(|(i, g)| (i, g.to_string())).collect();
    for (gi, g) in groups {
        for (table, template) in [
            (TableId::Configuration, &naming.configuration_table),
            (TableId::Scheduler, &naming.scheduler_table),
        ] {
            let name = Naming::expand(template, &g);
            match inputs.scan(&name) {
                Ok(Some(doc)) => {
                    let origin = doc.origin.clone();
                    match doc
                        .into_value()
                        .and_then(|v| dynamodb::key_value_rows(&origin, &v, table))
                    {
                        Ok(rows) => {
                            if let Some(b) = backups.as_deref_mut() {
                                b.push(crate::backup::GroupItems {
                                    group: g.clone(),
                                    kind: backup_kind(table),
                                    items: backup_items(&rows),
                                });
                            }
                            if !only_backups {
                                w.append_group(table, gi, &origin, &rows)
                            }
                        }
                        Err(e) => w.fail_group(gi, e),
                    }
                }
                Ok(None) => w.fail_group(
                    gi,
                    Error::input(
                        format!("{}/DynamoDB", w.scope()),
                        name.clone(),
                        "table not found",
                    ),
                ),
                Err(e) => w.fail_group(gi, e),
            }
        }
        if only_backups {
            continue;
        }
        let subfleets = w.subfleets(gi);
        match windows::fleet_rows(&windows, naming, &g, &subfleets, now_ms) {
            Ok(rows) => w.append_group(
                TableId::MaintenanceWindows,
                gi,
                "ssm:DescribeMaintenanceWindows",
                &rows,
            ),
            Err(e) => w.fail_group(gi, e),
        }
        let mut row = discovery::row(stacks.get(&g), account.as_ref(), &subfleets);
        for (col, template) in [
            ("configurationtablepitr", &naming.configuration_table),
            ("schedulertablepitr", &naming.scheduler_table),
        ] {
            let status = pitr_status(inputs.continuous_backups(&Naming::expand(template, &g))?)?;
            row[col] = status.map(serde_json::Value::Bool).unwrap_or_default();
        }
        w.append_group(
            TableId::Discovery,
            gi,
            "discovery",
            std::slice::from_ref(&row),
        );
    }
    Ok(())
}

/// Streams one describe-instances or describe-volumes page into the writer.
pub(crate) fn stream_page(w: &mut ScopeWriter, table: TableId, doc: Doc) -> Result<(), Error> {
    let origin = doc.origin;
    w.begin_file(&origin);
    let raw = matches!(doc.body, Body::Bytes(_));
    let mut state = PageState {
        w,
        table,
        path: Vec::new(),
        row_error: None,
        raw,
        page_addr: match &doc.body {
            Body::Bytes(b) => b.as_ptr() as usize,
            Body::Value(_) => 0,
        },
        row_start: None,
    };
    let result = match &doc.body {
        // UTF-8 is checked once over the page rather than string by string
        // (5% of a conversion); bad UTF-8 is parsed as bytes so the error
        // says where it is.
        Body::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => parse_page(serde_json::Deserializer::from_str(text), &mut state),
            Err(_) => parse_page(serde_json::Deserializer::from_slice(b), &mut state),
        },
        Body::Value(v) => PageSeed { s: &mut state }.deserialize(v),
    };
    result.map_err(|e| {
        let msg = e.to_string();
        match state.row_error.take() {
            Some(row) => {
                let (message, at) = split_position(&row.message);
                let at = match (at, state.row_start, &doc.body) {
                    // A volume parsed again from its own slice counts from there.
                    (Some((line, col)), Some(start), Body::Bytes(b)) => {
                        Some(page_position(b, start, line, col))
                    }
                    (Some(at), _, _) => Some(at),
                    (None, _, _) => (e.line() > 0).then(|| (e.line(), e.column())),
                };
                let message = match at {
                    Some((line, col)) => format!("{message} (line {line}, column {col})"),
                    None => message.to_string(),
                };
                Error::input(&origin, row.path, message)
            }
            None => Error::input(&origin, format_path(&state.path), msg),
        }
    })
}

/// `msg` split from the " at line L column C" serde_json ends its errors with.
fn split_position(msg: &str) -> (&str, Option<(usize, usize)>) {
    let Some(at) = msg.rfind(" at line ") else {
        return (msg, None);
    };
    let numbers = msg[at + " at line ".len()..]
        .split_once(" column ")
        .and_then(|(l, c)| Some((l.parse().ok()?, c.parse().ok()?)));
    match numbers {
        Some(lc) => (&msg[..at], Some(lc)),
        None => (msg, None),
    }
}

/// Where `line`:`col` of a row parsed from its own slice, which starts at
/// byte `start` of `page`, is in the page.
fn page_position(page: &[u8], start: usize, line: usize, col: usize) -> (usize, usize) {
    let before = &page[..start.min(page.len())];
    let lines = before.iter().filter(|&&b| b == b'\n').count();
    if line == 1 {
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        (lines + 1, before.len() - line_start + col)
    } else {
        (lines + line, col)
    }
}

fn parse_page<'de, R: serde_json::de::Read<'de>>(
    mut de: serde_json::Deserializer<R>,
    state: &mut PageState,
) -> Result<(), serde_json::Error> {
    PageSeed { s: state }
        .deserialize(&mut de)
        .and_then(|_| de.end())
}

struct PageState<'w, 'a> {
    w: &'w mut ScopeWriter<'a>,
    table: TableId,
    path: Vec<PathSeg>,
    row_error: Option<RowError>,
    /// The page is JSON text: rows can be borrowed as raw slices.
    raw: bool,
    /// Where the page's text starts in memory, to place a raw slice in it.
    page_addr: usize,
    /// Byte offset in the page of the raw row that failed, whose error
    /// positions count from its own start.
    row_start: Option<usize>,
}

/// `{"Reservations": [{"Instances": [..]}]}` or `{"Volumes": [..]}`.
struct PageSeed<'s, 'w, 'a> {
    s: &'s mut PageState<'w, 'a>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AWS CLI response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let list = match (self.s.table, key.as_ref()) {
                (TableId::Instances, "Reservations") => Some(ListKind::Reservations),
                (TableId::Instances, "Instances") => Some(ListKind::Rows),
                (TableId::Volumes, "Volumes") => Some(ListKind::Rows),
                _ => None,
            };
            match list {
                Some(kind) => {
                    self.s.path.push(PathSeg::Owned(key.into_owned()));
                    map.next_value_seed(ListSeed {
                        s: &mut *self.s,
                        kind,
                    })?;
                    self.s.path.pop();
                }
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum ListKind {
    Reservations,
    Rows,
}

struct ListSeed<'s, 'w, 'a> {
    s: &'s mut PageState<'w, 'a>,
    kind: ListKind,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.s.path.push(PathSeg::Index(i));
            let more = match self.kind {
                ListKind::Reservations => seq.next_element_seed(PageSeed { s: &mut *self.s })?,
                ListKind::Rows => seq.next_element_seed(RowSeed { s: &mut *self.s })?,
            };
            self.s.path.pop();
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// One instance (appended with no DOM) or one volume (routed by its attachments).
struct RowSeed<'s, 'w, 'a> {
    s: &'s mut PageState<'w, 'a>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let s = self.s;
        let r = match s.table {
            TableId::Volumes if s.raw => {
                // JSON text: borrow the volume's bytes, find its instance
                // without building a DOM, then append from the same bytes.
                let raw = <&serde_json::value::RawValue>::deserialize(d)?;
                let start = (raw.get().as_ptr() as usize).checked_sub(s.page_addr);
                let r = match raw_volume_group(s.w, raw.get()) {
                    Ok(Some(g)) => {
                        let mut de = serde_json::Deserializer::from_str(raw.get());
                        s.w.append_routed(s.table, Route::Group(g), &s.path, &mut de)
                    }
                    Ok(None) => Ok(()),
                    Err(e) => Err(RowError {
                        path: format!("{}.Attachments", format_path(&s.path)),
                        message: e.to_string(),
                    }),
                };
                if r.is_err() {
                    s.row_start = start;
                }
                r
            }
            TableId::Volumes => {
                let v = Value::deserialize(d)?;
                match volume_group(s.w, &v) {
                    Some(g) => s.w.append_routed(s.table, Route::Group(g), &s.path, &v),
                    None => Ok(()),
                }
            }
            _ => s.w.append_routed(s.table, Route::ByGroupTag, &s.path, d),
        };
        r.map_err(|e| {
            let err = de::Error::custom(&e);
            s.row_error = Some(e);
            err
        })
    }
}

use serde::Deserialize as _;

/// [`volume_group`] for a volume given as JSON text, without a DOM.
fn raw_volume_group(w: &ScopeWriter, text: &str) -> Result<Option<usize>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Attachment<'a> {
        #[serde(borrow, rename = "InstanceId")]
        instance_id: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Volume<'a> {
        #[serde(borrow, rename = "Attachments", default)]
        attachments: Vec<Attachment<'a>>,
    }
    let v: Volume = serde_json::from_str(text)?;
    Ok(v.attachments
        .iter()
        .filter_map(|a| a.instance_id.as_deref())
        .find_map(|id| w.instance_group(id)))
}

/// A volume belongs to the group of the first attached instance we routed.
fn volume_group(w: &ScopeWriter, v: &Value) -> Option<usize> {
    v.get("Attachments")?
        .as_array()?
        .iter()
        .filter_map(|a| a.get("InstanceId")?.as_str())
        .find_map(|id| w.instance_group(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::PartitionValue;
    use crate::sink::local::LocalDestination;
    use crate::sink::parquet::WriterOptions;

    #[test]
    fn row_errors_give_their_position_in_the_page_once() {
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let opts = WriterOptions::default();
        let scope = Scope {
            accountid: PartitionValue::parse("111111111111", "account", "test").unwrap(),
            region: PartitionValue::parse("eu-west-1", "region", "test").unwrap(),
        };
        let mut w = ScopeWriter::new(scope, &dest, &opts, 0, "clonesquad:group-name");
        let page = |origin: &str, text: &str| Doc {
            origin: origin.into(),
            body: Body::Bytes(text.as_bytes().to_vec()),
        };
        let instances = r#"{"Reservations": [{"Instances": [
  {"InstanceId": "i-1", "Tags": [{"Key": "clonesquad:group-name", "Value": "web"}]}]}]}"#;
        stream_page(&mut w, TableId::Instances, page("i.json", instances)).unwrap();
        w.flush_routed();
        // A volume is parsed again from its own slice, where it starts at line 1.
        let volumes = r#"{"Volumes": [
  {"VolumeId": "vol-1",
   "Attachments": [{"InstanceId": "i-1"}],
   "Size": "big"}]}"#;
        let e = stream_page(&mut w, TableId::Volumes, page("v.json", volumes))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("v.json") && e.contains("Volumes[0].size") && e.contains("(line 4, column"),
            "{e}"
        );
        assert_eq!(e.matches("line ").count(), 1, "{e}");
        let bad = r#"{"Reservations": [{"Instances": [
  {"InstanceId": "i-2",
   "State": {"Code": "sixteen"}}]}]}"#;
        let e = stream_page(&mut w, TableId::Instances, page("i2.json", bad))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(".state.code") && e.contains("(line 3, column"),
            "{e}"
        );
        assert_eq!(e.matches("line ").count(), 1, "{e}");
    }

    #[test]
    fn only_a_trailing_serde_position_is_split_off() {
        assert_eq!(
            split_position("expected `,` at line 4 column 12"),
            ("expected `,`", Some((4, 12)))
        );
        assert_eq!(split_position("no position"), ("no position", None));
        let quoted = "name \"x at line 1 column y\"";
        assert_eq!(split_position(quoted), (quoted, None));
    }

    #[test]
    fn a_slice_position_is_placed_in_its_page() {
        let page = b"{\"Volumes\": [\n  {\"a\": 1,\n   \"b\": 2}]}";
        let start = 16; // the `{` of the volume, line 2 column 3
        assert_eq!(page[start], b'{');
        assert_eq!(page_position(page, start, 1, 1), (2, 3));
        assert_eq!(page_position(page, start, 2, 5), (3, 5));
    }

    #[test]
    fn templates_match_and_expand() {
        let n = Naming::default();
        assert_eq!(
            Naming::match_template(&n.configuration_table, "CloneSquad-web-Configuration"),
            Some("web")
        );
        assert_eq!(
            Naming::match_template(&n.configuration_table, "CloneSquad--Configuration"),
            None
        );
        assert_eq!(
            Naming::match_template(&n.configuration_table, "Other-web-Configuration"),
            None
        );
        assert_eq!(Naming::expand(&n.stack, "web"), "CloneSquad-web");
        n.check().unwrap();
        let bad = Naming {
            stack: "no-placeholder".into(),
            ..Naming::default()
        };
        assert!(bad
            .check()
            .unwrap_err()
            .to_string()
            .contains("--stack-template"));
    }
}
