//! Streaming API pages into rows, without a DOM.
//!
//! Owns [`stream_page`]: it walks a page (`{"Reservations": [{"Instances":
//! [...]}]}`) along the path a [`Resolver::Pages`](crate::tables::Resolver)
//! declares, appends each row straight from the parser into the router, and
//! turns any error into one naming the file, the JSON path and the line.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::router::{Router, Target};
use crate::documents::{Body, Doc};
use crate::error::Error;
use crate::record::{format_path, PathSeg, RowError};
use crate::tables::resolver::Route;
use crate::tables::{Resolver, TableId};

/// Streams one page of `table` (filled by [`Resolver::Pages`]) into the router.
pub(crate) fn stream_page(w: &mut Router, table: TableId, doc: Doc) -> Result<(), Error> {
    let Resolver::Pages { path, route, .. } = table.def().resolver else {
        return Err(Error::Internal(format!(
            "{} is not read from pages",
            table.def().name
        )));
    };
    let origin = doc.origin;
    w.begin_file(&origin);
    let raw = matches!(doc.body, Body::Bytes(_));
    let mut state = PageState {
        w,
        table,
        lists: path,
        route,
        depth: 0,
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
    w: &'w mut Router<'a>,
    table: TableId,
    /// The members that lead from a page to its rows.
    lists: &'static [&'static str],
    route: Route,
    /// How many lists deep the parser is.
    depth: usize,
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
            // The rows' own list is taken at any depth (a page may hold it
            // directly); the lists around it only where the path has them.
            let lists = self.s.lists;
            let list = if lists.last() == Some(&key.as_ref()) {
                Some(ListKind::Rows)
            } else if lists.get(self.s.depth) == Some(&key.as_ref()) {
                Some(ListKind::Outer)
            } else {
                None
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
    /// A list of objects that hold the next list of the path.
    Outer,
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
                ListKind::Outer => {
                    self.s.depth += 1;
                    let more = seq.next_element_seed(PageSeed { s: &mut *self.s });
                    self.s.depth -= 1;
                    more?
                }
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

/// One row: routed by its group tag (appended with no DOM), or by the
/// instance it is attached to.
struct RowSeed<'s, 'w, 'a> {
    s: &'s mut PageState<'w, 'a>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let s = self.s;
        let r = match s.route {
            Route::AttachedInstance if s.raw => {
                // JSON text: borrow the volume's bytes, find its instance
                // without building a DOM, then append from the same bytes.
                let raw = <&serde_json::value::RawValue>::deserialize(d)?;
                let start = (raw.get().as_ptr() as usize).checked_sub(s.page_addr);
                let r = match raw_volume_group(s.w, raw.get()) {
                    Ok(Some(g)) => {
                        let mut de = serde_json::Deserializer::from_str(raw.get());
                        s.w.append_routed(s.table, Target::Group(g), &s.path, &mut de)
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
            Route::AttachedInstance => {
                let v = Value::deserialize(d)?;
                match volume_group(s.w, &v) {
                    Some(g) => s.w.append_routed(s.table, Target::Group(g), &s.path, &v),
                    None => Ok(()),
                }
            }
            Route::GroupTag => s.w.append_routed(s.table, Target::ByGroupTag, &s.path, d),
            Route::UsedByInstances { column, .. } => {
                let v = Value::deserialize(d)?;
                let id = match &s.table.def().resolver {
                    Resolver::Pages { call, .. } => v.get(call.id).and_then(Value::as_str),
                    _ => None,
                };
                let groups = id.map_or_else(Vec::new, |id| s.w.groups_using(column, id));
                groups
                    .into_iter()
                    .try_for_each(|g| s.w.append_routed(s.table, Target::Group(g), &s.path, &v))
            }
        };
        r.map_err(|e| {
            let err = de::Error::custom(&e);
            s.row_error = Some(e);
            err
        })
    }
}

use serde::Deserialize as _;

/// [`volume_group`] for a row given as JSON text, without a DOM.
fn raw_volume_group(w: &Router, text: &str) -> Result<Option<usize>, serde_json::Error> {
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

/// A row (a volume) belongs to the group of the first attached instance routed.
fn volume_group(w: &Router, v: &Value) -> Option<usize> {
    v.get("Attachments")?
        .as_array()?
        .iter()
        .filter_map(|a| a.get("InstanceId")?.as_str())
        .find_map(|id| w.instance_group(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::{PartitionValue, Scope};
    use crate::sink::local::LocalDestination;
    use crate::sink::parquet::WriterOptions;
    use crate::sink::partitions::PartitionWriter;

    #[test]
    fn row_errors_give_their_position_in_the_page_once() {
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let opts = WriterOptions::default();
        let scope = Scope {
            accountid: PartitionValue::parse("111111111111", "account", "test").unwrap(),
            region: PartitionValue::parse("eu-west-1", "region", "test").unwrap(),
        };
        let sink = PartitionWriter::new(&dest, &opts, crate::tables::schemas());
        let mut w = Router::new(scope, sink, 0, "clonesquad:group-name");
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
}
