//! Records → Arrow, driven by the table declaration.
//!
//! Owns [`RowBuilder`]: it appends one JSON record at a time straight into
//! Arrow builders, walking the declared columns with a serde
//! [`DeserializeSeed`]. It reads from any serde deserializer (JSON text with no
//! DOM, or a `serde_json::Value`), matches AWS field names case-insensitively
//! (`InstanceId` fills `instanceid`), turns AWS tag lists into maps, and fills
//! derived columns (`_hostname`, run time). It knows nothing of files or
//! partitions.

use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, MapArray, RecordBatch, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{FieldRef, Fields, SchemaRef};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::schema::{
    map_entries_field, struct_fields, Column, ColumnSource, ColumnType, TableDef, LIST_ITEM,
};
use crate::time::{epoch_seconds_to_ms, parse_timestamp_ms, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

/// One step of the path to a value, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(&'static str),
    Owned(String),
    Index(usize),
}

/// `$.Reservations[0].Instances[3].state.code`
pub fn format_path(path: &[PathSeg]) -> String {
    let mut s = String::from("$");
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            PathSeg::Owned(k) => {
                s.push('.');
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A record that could not be appended: where in it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// JSON path of the offending value, e.g. `$.Reservations[0].Instances[1].state.code`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "at {}: {}", self.path, self.message)
    }
}

/// State shared by every level while one row is appended.
#[derive(Debug, Default)]
pub struct RowCtx {
    /// Where we are; left as is when an error unwinds, so it names the culprit.
    pub path: Vec<PathSeg>,
    /// Tag keys whose values are captured from the row's top-level `tags`.
    capture_keys: Vec<String>,
    /// Captured values for the current row, by index in `capture_keys`.
    pub captured: Vec<Option<String>>,
    capturing: bool,
    run_time_ms: i64,
}

/// Appends rows of one table into Arrow builders.
pub struct RowBuilder {
    schema: SchemaRef,
    root: StructB,
    pub ctx: RowCtx,
    rows: usize,
    /// Capture index of each `ColumnSource::Tag` column, by column index.
    tag_slots: Vec<Option<usize>>,
}

impl RowBuilder {
    /// `extra_capture` tag keys are captured too (for example the group tag), readable
    /// with [`RowBuilder::captured`] after each row.
    pub fn new(table: &'static TableDef, run_time_ms: i64, extra_capture: &[&str]) -> Self {
        let mut capture_keys: Vec<String> = extra_capture.iter().map(|s| s.to_string()).collect();
        let mut tag_slots = Vec::new();
        for c in table.columns {
            tag_slots.push(match c.source {
                ColumnSource::Tag(t) => Some(match capture_keys.iter().position(|k| k == t) {
                    Some(i) => i,
                    None => {
                        capture_keys.push(t.to_string());
                        capture_keys.len() - 1
                    }
                }),
                _ => None,
            });
        }
        let n = capture_keys.len();
        RowBuilder {
            schema: table.arrow_schema(),
            root: StructB::new(table.columns),
            ctx: RowCtx {
                capture_keys,
                captured: vec![None; n],
                run_time_ms,
                ..Default::default()
            },
            rows: 0,
            tag_slots,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The captured value of the `i`-th `extra_capture` key for the last row.
    pub fn captured(&self, i: usize) -> Option<&str> {
        self.ctx.captured.get(i).and_then(|v| v.as_deref())
    }

    /// Appends one record. On error the builder is left inconsistent and must
    /// be dropped; the error names the JSON path (see [`RowCtx::path`]).
    pub fn append<'de, D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
        self.ctx.captured.iter_mut().for_each(|c| *c = None);
        let seed = RowSeed {
            b: &mut self.root,
            ctx: &mut self.ctx,
            tag_slots: &self.tag_slots,
        };
        seed.deserialize(d)?;
        self.rows += 1;
        Ok(())
    }

    /// Appends a record given as a JSON value.
    pub fn append_value(&mut self, v: &serde_json::Value) -> Result<(), RowError> {
        let depth = self.ctx.path.len();
        let r = self.append(v).map_err(|e| RowError {
            path: format_path(&self.ctx.path),
            message: e.to_string(),
        });
        self.ctx.path.truncate(depth);
        r
    }

    /// Takes the rows appended so far as a batch; the builder starts again empty.
    pub fn finish(&mut self) -> RecordBatch {
        let cols = self.root.finish_children();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), cols).expect("builders follow the schema")
    }
}

enum ColBuilder {
    Str(StringBuilder),
    I64(Int64Builder),
    I32(Int32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMillisecondBuilder),
    List(Box<ListB>),
    Struct(Box<StructB>),
    Map(Box<MapB>),
}

struct ListB {
    field: FieldRef,
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    child: ColBuilder,
}

struct StructB {
    cols: &'static [Column],
    fields: Fields,
    children: Vec<ColBuilder>,
    validity: NullBufferBuilder,
    seen: Vec<bool>,
    len: usize,
    /// Keys as spelled in the input, matched to columns.
    keys: std::cell::RefCell<KeyCache>,
}

struct MapB {
    offsets: Vec<i32>,
    keys: StringBuilder,
    values: StringBuilder,
    validity: NullBufferBuilder,
}

impl ColBuilder {
    fn new(ty: &ColumnType) -> Self {
        match ty {
            ColumnType::String => ColBuilder::Str(StringBuilder::new()),
            ColumnType::Bigint => ColBuilder::I64(Int64Builder::new()),
            ColumnType::Int => ColBuilder::I32(Int32Builder::new()),
            ColumnType::Double => ColBuilder::F64(Float64Builder::new()),
            ColumnType::Boolean => ColBuilder::Bool(BooleanBuilder::new()),
            ColumnType::Timestamp => {
                ColBuilder::Ts(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
            ColumnType::Array(item) => ColBuilder::List(Box::new(ListB {
                field: Arc::new(arrow_schema::Field::new(LIST_ITEM, item.arrow_type(), true)),
                offsets: vec![0],
                validity: NullBufferBuilder::new(0),
                child: ColBuilder::new(item),
            })),
            ColumnType::Struct(cols) => ColBuilder::Struct(Box::new(StructB::new(cols))),
            ColumnType::Map => ColBuilder::Map(Box::new(MapB {
                offsets: vec![0],
                keys: StringBuilder::new(),
                values: StringBuilder::new(),
                validity: NullBufferBuilder::new(0),
            })),
        }
    }

    fn append_null(&mut self) {
        match self {
            ColBuilder::Str(b) => b.append_null(),
            ColBuilder::I64(b) => b.append_null(),
            ColBuilder::I32(b) => b.append_null(),
            ColBuilder::F64(b) => b.append_null(),
            ColBuilder::Bool(b) => b.append_null(),
            ColBuilder::Ts(b) => b.append_null(),
            ColBuilder::List(l) => {
                let last = *l.offsets.last().unwrap();
                l.offsets.push(last);
                l.validity.append_null();
            }
            ColBuilder::Struct(s) => {
                s.children.iter_mut().for_each(ColBuilder::append_null);
                s.validity.append_null();
                s.len += 1;
            }
            ColBuilder::Map(m) => {
                let last = *m.offsets.last().unwrap();
                m.offsets.push(last);
                m.validity.append_null();
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColBuilder::Str(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::I32(b) => Arc::new(b.finish()),
            ColBuilder::F64(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Ts(b) => Arc::new(b.finish()),
            ColBuilder::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                Arc::new(ListArray::new(
                    l.field.clone(),
                    offsets,
                    l.child.finish(),
                    l.validity.finish(),
                ))
            }
            ColBuilder::Struct(s) => {
                let nulls = s.validity.finish();
                let len = std::mem::take(&mut s.len);
                let children = s.finish_children();
                Arc::new(
                    StructArray::try_new_with_length(s.fields.clone(), children, nulls, len)
                        .expect("struct children align"),
                )
            }
            ColBuilder::Map(m) => {
                let offsets = std::mem::replace(&mut m.offsets, vec![0]);
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                let entries_field = map_entries_field();
                let entry_fields = match entries_field.data_type() {
                    arrow_schema::DataType::Struct(f) => f.clone(),
                    _ => unreachable!(),
                };
                let entries = StructArray::new(
                    entry_fields,
                    vec![Arc::new(m.keys.finish()), Arc::new(m.values.finish())],
                    None,
                );
                Arc::new(MapArray::new(
                    entries_field,
                    offsets,
                    entries,
                    m.validity.finish(),
                    false,
                ))
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ColBuilder::Str(_) => "a string",
            ColBuilder::I64(_) | ColBuilder::I32(_) => "an integer",
            ColBuilder::F64(_) => "a number",
            ColBuilder::Bool(_) => "a boolean",
            ColBuilder::Ts(_) => "a timestamp (ISO 8601 string or epoch seconds)",
            ColBuilder::List(_) => "an array",
            ColBuilder::Struct(_) => "an object",
            ColBuilder::Map(_) => "an object or a [{Key, Value}] tag list",
        }
    }
}

impl StructB {
    fn new(cols: &'static [Column]) -> Self {
        StructB {
            cols,
            fields: struct_fields(cols),
            children: cols.iter().map(|c| ColBuilder::new(&c.ty)).collect(),
            validity: NullBufferBuilder::new(0),
            seen: vec![false; cols.len()],
            len: 0,
            keys: Default::default(),
        }
    }

    fn finish_children(&mut self) -> Vec<ArrayRef> {
        self.children.iter_mut().map(ColBuilder::finish).collect()
    }

    fn child_index(&self, key: &str) -> Option<usize> {
        let mut k = self.keys.borrow_mut();
        if let Some((name, hit)) = k.order.get(k.next) {
            if **name == *key {
                let hit = *hit;
                k.next += 1;
                return hit;
            }
        }
        if let Some(&pos) = k.index.get(key) {
            k.next = pos + 1;
            return k.order[pos].1;
        }
        let found = self.cols.iter().position(|c| match c.source {
            ColumnSource::Field => c.name.len() == key.len() && c.name.eq_ignore_ascii_case(key),
            ColumnSource::Member(m) => m.eq_ignore_ascii_case(key),
            _ => false,
        });
        if k.order.len() < KeyCache::MAX {
            let pos = k.order.len();
            k.order.push((key.into(), found));
            k.index.insert(key.into(), pos);
            k.next = pos + 1;
        }
        found
    }
}

/// Object keys seen by one struct column, in the order first seen, each with
/// its column (None for keys we do not declare). AWS prints every object of
/// a kind with its keys in the same order, so the next key is almost always
/// the one after the last: one short compare instead of a hash and a compare.
#[derive(Default)]
struct KeyCache {
    order: Vec<(Box<str>, Option<usize>)>,
    /// Position in `order` by key; AWS uses a bounded set of keys.
    index: std::collections::HashMap<Box<str>, usize, KeyHash>,
    /// Where the next key of the current object is expected.
    next: usize,
}

impl KeyCache {
    const MAX: usize = 4096;
}

/// The key cache's hasher (see [`crate::stable_hash`]).
type KeyHash = std::hash::BuildHasherDefault<crate::stable_hash::Fnv1a>;

/// The top-level seed: a struct over the table's columns, plus derived columns.
struct RowSeed<'a> {
    b: &'a mut StructB,
    ctx: &'a mut RowCtx,
    tag_slots: &'a [Option<usize>],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one record)")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let RowSeed { b, ctx, tag_slots } = self;
        visit_struct(b, ctx, map, Some(tag_slots))
    }
}

/// Appends one object into a struct builder. `tag_slots` is given at the row level only.
fn visit_struct<'de, A: MapAccess<'de>>(
    b: &mut StructB,
    ctx: &mut RowCtx,
    mut map: A,
    tag_slots: Option<&[Option<usize>]>,
) -> Result<(), A::Error> {
    b.seen.iter_mut().for_each(|s| *s = false);
    b.keys.get_mut().next = 0;
    while let Some(idx) = map.next_key_seed(KeySeed { b })? {
        match idx {
            Some(i) if !b.seen[i] => {
                b.seen[i] = true;
                ctx.path.push(PathSeg::Key(b.cols[i].name));
                let capture = tag_slots.is_some() && matches!(b.cols[i].ty, ColumnType::Map);
                ctx.capturing = capture;
                map.next_value_seed(ValueSeed {
                    b: &mut b.children[i],
                    ctx,
                })?;
                ctx.capturing = false;
                ctx.path.pop();
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    for i in 0..b.cols.len() {
        if b.seen[i] {
            continue;
        }
        let col = &b.cols[i];
        let child = &mut b.children[i];
        match (col.source, child) {
            (ColumnSource::RunTime, ColBuilder::Ts(t)) => t.append_value(ctx.run_time_ms),
            (ColumnSource::Tag(_), ColBuilder::Str(s)) => {
                let slot = tag_slots.and_then(|t| t[i]);
                match slot.and_then(|s| ctx.captured[s].as_deref()) {
                    Some(v) => s.append_value(v),
                    None => s.append_null(),
                }
            }
            (_, child) => child.append_null(),
        }
    }
    b.validity.append_non_null();
    b.len += 1;
    Ok(())
}

/// Matches an object key to a child column without allocating.
struct KeySeed<'a> {
    b: &'a StructB,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.b.child_index(v))
    }
}

/// Appends one value of any declared type.
struct ValueSeed<'a> {
    b: &'a mut ColBuilder,
    ctx: &'a mut RowCtx,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

fn mismatch<E: de::Error>(b: &ColBuilder, found: &str) -> E {
    E::custom(format!("expected {}, found {found}", b.kind()))
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.b.kind())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.b {
            ColBuilder::Str(b) => b.append_value(v),
            ColBuilder::I64(b) => b.append_value(
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected an integer, found {v:?}")))?,
            ),
            ColBuilder::I32(b) => b.append_value(
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected an integer, found {v:?}")))?,
            ),
            ColBuilder::F64(b) => b.append_value(
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected a number, found {v:?}")))?,
            ),
            ColBuilder::Bool(b) => match v {
                "true" | "True" | "TRUE" => b.append_value(true),
                "false" | "False" | "FALSE" => b.append_value(false),
                _ => return Err(E::custom(format!("expected a boolean, found {v:?}"))),
            },
            ColBuilder::Ts(b) => match parse_timestamp_ms(v) {
                Some(ms) => b.append_value(ms),
                None => return Err(E::custom(format!("expected a timestamp, found {v:?}"))),
            },
            other => return Err(mismatch(other, "a string")),
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.b {
            ColBuilder::Bool(b) => b.append_value(v),
            ColBuilder::Str(b) => b.append_value(if v { "true" } else { "false" }),
            other => return Err(mismatch(other, "a boolean")),
        }
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        match self.b {
            ColBuilder::I64(b) => b.append_value(v),
            ColBuilder::I32(b) => b.append_value(
                i32::try_from(v)
                    .map_err(|_| E::custom(format!("integer {v} is out of range for int")))?,
            ),
            ColBuilder::F64(b) => b.append_value(v as f64),
            ColBuilder::Str(b) => b.append_value(itoa::Buffer::new().format(v)),
            ColBuilder::Ts(b) => match v
                .checked_mul(1000)
                .filter(|ms| (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(ms))
            {
                Some(ms) => b.append_value(ms),
                None => return Err(E::custom(format!("epoch seconds {v} out of range"))),
            },
            other => return Err(mismatch(other, "a number")),
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(i) => self.visit_i64(i),
            Err(_) => match self.b {
                ColBuilder::Str(b) => {
                    b.append_value(itoa::Buffer::new().format(v));
                    Ok(())
                }
                ColBuilder::F64(b) => {
                    b.append_value(v as f64);
                    Ok(())
                }
                _ => Err(E::custom(format!("integer {v} is out of range for bigint"))),
            },
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.b {
            ColBuilder::F64(b) => b.append_value(v),
            ColBuilder::Str(b) => b.append_value(v.to_string()),
            ColBuilder::Ts(b) => match epoch_seconds_to_ms(v) {
                Some(ms) => b.append_value(ms),
                None => return Err(E::custom(format!("epoch seconds {v} out of range"))),
            },
            ColBuilder::I64(b) if v.fract() == 0.0 && v.abs() < 9.0e18 => b.append_value(v as i64),
            ColBuilder::I32(b) if v.fract() == 0.0 && v.abs() < 2.0e9 => b.append_value(v as i32),
            other => return Err(mismatch(other, &format!("the number {v}"))),
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.b.append_null();
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        match self.b {
            ColBuilder::List(l) => {
                let mut n = 0usize;
                loop {
                    ctx.path.push(PathSeg::Index(n));
                    let more = seq.next_element_seed(ValueSeed {
                        b: &mut l.child,
                        ctx: &mut *ctx,
                    })?;
                    ctx.path.pop();
                    if more.is_none() {
                        break;
                    }
                    n += 1;
                }
                let last = *l.offsets.last().unwrap();
                l.offsets.push(last + n as i32);
                l.validity.append_non_null();
            }
            ColBuilder::Map(m) => {
                let mut n = 0usize;
                loop {
                    ctx.path.push(PathSeg::Index(n));
                    let more = seq.next_element_seed(TagSeed {
                        m: &mut *m,
                        ctx: &mut *ctx,
                    })?;
                    ctx.path.pop();
                    if more.is_none() {
                        break;
                    }
                    n += 1;
                }
                let last = *m.offsets.last().unwrap();
                m.offsets.push(last + n as i32);
                m.validity.append_non_null();
            }
            other => return Err(mismatch(other, "an array")),
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        match self.b {
            ColBuilder::Struct(s) => visit_struct(s, ctx, map, None),
            ColBuilder::Map(m) => {
                let mut n = 0i32;
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let slot = capture_slot(ctx, &key.0);
                    m.keys.append_value(&key.0);
                    map.next_value_seed(MapValueSeed {
                        m: &mut *m,
                        ctx: &mut *ctx,
                        slot,
                    })?;
                    n += 1;
                }
                let last = *m.offsets.last().unwrap();
                m.offsets.push(last + n);
                m.validity.append_non_null();
                Ok(())
            }
            other => Err(mismatch(other, "an object")),
        }
    }
}

fn capture_slot(ctx: &RowCtx, key: &str) -> Option<usize> {
    if ctx.capturing {
        ctx.capture_keys.iter().position(|k| k == key)
    } else {
        None
    }
}

/// Appends one map value (a scalar, rendered as a string) and captures it if asked.
struct MapValueSeed<'a> {
    m: &'a mut MapB,
    ctx: &'a mut RowCtx,
    slot: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for MapValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let v: Option<Text<'de>> = de::Deserialize::deserialize(d)?;
        match &v {
            Some(s) => self.m.values.append_value(&s.0),
            None => self.m.values.append_null(),
        }
        if let Some(slot) = self.slot {
            self.ctx.captured[slot] = v.map(|s| s.0.into_owned());
        }
        Ok(())
    }
}

/// A JSON scalar rendered as text: strings as is (borrowed from the input
/// when they have no escapes), numbers and booleans printed.
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de: 'a, 'a> de::Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use std::borrow::Cow;
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(if v { "true" } else { "false" })))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Appends one `{"Key": …, "Value": …}` entry of an AWS tag list into a map.
struct TagSeed<'a> {
    m: &'a mut MapB,
    ctx: &'a mut RowCtx,
}

impl<'de> DeserializeSeed<'de> for TagSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        #[derive(serde::Deserialize)]
        struct Tag<'a> {
            #[serde(borrow, alias = "key", rename = "Key")]
            key: Text<'a>,
            #[serde(borrow, alias = "value", rename = "Value", default)]
            value: Option<Text<'a>>,
        }
        let t = Tag::deserialize(d)?;
        self.m.keys.append_value(&t.key.0);
        match &t.value {
            Some(v) => self.m.values.append_value(&v.0),
            None => self.m.values.append_null(),
        }
        if let Some(slot) = capture_slot(self.ctx, &t.key.0) {
            self.ctx.captured[slot] = t.value.map(|v| v.0.into_owned());
        }
        Ok(())
    }
}

use serde::Deserialize as _;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::dsl::*;
    use crate::schema::TableDef;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
    use arrow_array::Array;

    static INNER: [Column; 2] = [c("code", Int, "x."), s("name", "x.")];
    static ITEM: [Column; 2] = [s("devicename", "x."), c("ebs", Struct(&INNER), "x.")];
    static T: TableDef = TableDef {
        name: "t",
        doc: "x.",
        grain: "x",
        partitioning: crate::schema::Partitioning::Group,
        calls: &[],
        identity: &[],
        columns: &[
            s("instanceid", "x."),
            c("count", Bigint, "x."),
            c("state", Struct(&INNER), "x."),
            c("items", Array(&Struct(&ITEM)), "x."),
            c("names", Array(&String), "x."),
            c("launchtime", Timestamp, "x."),
            c("tags", Map, "x."),
            Column::from_tag("_hostname", "Name", "x."),
            Column::last_updated(),
        ],
    };

    fn rb() -> RowBuilder {
        RowBuilder::new(&T, 1_700_000_000_000, &["group"])
    }

    #[test]
    fn a_column_from_another_member_takes_that_member_only() {
        static R: TableDef = TableDef {
            name: "r",
            doc: "x.",
            grain: "x",
            partitioning: crate::schema::Partitioning::Group,
            calls: &[],
            identity: &[],
            columns: &[
                s("securitygroupname", "x.").from_member("GroupName"),
                s("groupid", "x."),
                Column::last_updated(),
            ],
        };
        let mut b = RowBuilder::new(&R, 0, &[]);
        b.append_value(&serde_json::json!({"groupName": "web", "GroupId": "sg-1"}))
            .unwrap();
        b.append_value(&serde_json::json!({"SecurityGroupName": "no", "GroupId": "sg-2"}))
            .unwrap();
        let batch = b.finish();
        let names = batch.column(0).as_string::<i32>();
        assert_eq!(names.value(0), "web");
        assert!(names.is_null(1), "the column's own name is not its member");
        assert_eq!(batch.column(1).as_string::<i32>().value(1), "sg-2");
    }

    #[test]
    fn appends_nested_records_from_text_and_value_alike() {
        let text = r#"{"InstanceId":"i-1","Count":3,"State":{"Code":16,"Name":"running"},
            "Items":[{"DeviceName":"/dev/xvda","Ebs":{"Code":"7","Name":"e"}},{"DeviceName":null}],
            "Names":["a","b"],"LaunchTime":"2024-01-02T03:04:05.000Z",
            "Tags":[{"Key":"Name","Value":"web-1"},{"Key":"group","Value":"g1"},{"Key":"π","Value":"ünï"}],
            "Unknown":{"deep":[1,2,3]}}"#;
        let mut a = rb();
        a.append(&mut serde_json::Deserializer::from_str(text))
            .unwrap();
        assert_eq!(a.captured(0), Some("g1"));
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut b = rb();
        b.append_value(&v).unwrap();
        b.append_value(&serde_json::json!({"instanceid": "i-2"}))
            .unwrap();
        assert_eq!(b.captured(0), None);
        let (ba, bb) = (a.finish(), b.finish());
        assert_eq!(ba.num_rows(), 1);
        assert_eq!(bb.num_rows(), 2);
        assert_eq!(ba, bb.slice(0, 1), "text and Value give the same row");

        let ids = bb.column(0).as_string::<i32>();
        assert_eq!(ids.value(1), "i-2");
        assert_eq!(bb.column(1).as_primitive::<Int64Type>().value(0), 3);
        let state = bb.column(2).as_struct();
        assert_eq!(state.column(0).as_primitive::<Int32Type>().value(0), 16);
        assert!(state.is_null(1));
        let items = bb.column(3).as_list::<i32>();
        assert_eq!(items.value(0).len(), 2);
        let item0 = items.value(0);
        let ebs = item0.as_struct().column(1).as_struct();
        assert_eq!(
            ebs.column(0).as_primitive::<Int32Type>().value(0),
            7,
            "numeric strings coerce"
        );
        assert!(ebs.is_null(1), "missing struct is null");
        let ts = bb.column(5).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_704_164_645_000);
        let tags = bb.column(6).as_map();
        assert_eq!(tags.value(0).len(), 3);
        assert!(tags.is_null(1));
        let host = bb.column(7).as_string::<i32>();
        assert_eq!(host.value(0), "web-1");
        assert!(host.is_null(1));
        let upd = bb.column(8).as_primitive::<TimestampMillisecondType>();
        assert_eq!(upd.value(1), 1_700_000_000_000);
    }

    #[test]
    fn keys_land_in_their_columns_whatever_their_order() {
        // The key cache predicts each key from the previous object's order;
        // reordered, missing, unknown and late-first-seen keys must resync.
        let rows = [
            r#"{"InstanceId":"i-1","Count":1,"State":{"Code":1,"Name":"a"}}"#,
            r#"{"State":{"Name":"b","Code":2},"Extra":0,"InstanceId":"i-2"}"#,
            r#"{"Count":3,"instanceid":"i-3"}"#,
            r#"{"InstanceId":"i-4","Count":4,"State":{"Code":4,"Name":"d"}}"#,
        ];
        let mut a = rb();
        for r in rows {
            a.append(&mut serde_json::Deserializer::from_str(r))
                .unwrap();
        }
        let b = a.finish();
        let ids = b.column(0).as_string::<i32>();
        let counts = b.column(1).as_primitive::<Int64Type>();
        let state = b.column(2).as_struct();
        let codes = state.column(0).as_primitive::<Int32Type>();
        let names = state.column(1).as_string::<i32>();
        assert_eq!(
            (0..4).map(|i| ids.value(i)).collect::<Vec<_>>(),
            ["i-1", "i-2", "i-3", "i-4"]
        );
        assert_eq!(
            (0..4)
                .map(|i| counts.is_valid(i).then(|| counts.value(i)))
                .collect::<Vec<_>>(),
            [Some(1), None, Some(3), Some(4)]
        );
        assert!(state.is_null(2));
        assert_eq!((codes.value(1), names.value(1)), (2, "b"));
        assert_eq!((codes.value(3), names.value(3)), (4, "d"));
    }

    #[test]
    fn maps_accept_plain_objects() {
        let mut a = rb();
        a.append_value(&serde_json::json!({"tags": {"Name": "h", "n": 5, "b": true, "z": null}}))
            .unwrap();
        let batch = a.finish();
        let tags = batch.column(6).as_map();
        let entries = tags.value(0);
        let vals = entries.column(1).as_string::<i32>();
        // serde_json objects iterate in key order: Name, b, n, z
        assert_eq!(vals.value(1), "true");
        assert_eq!(vals.value(2), "5");
        assert!(vals.is_null(3));
        assert_eq!(batch.column(7).as_string::<i32>().value(0), "h");
    }

    #[test]
    fn type_errors_name_the_path() {
        let mut a = rb();
        let err = a
            .append_value(
                &serde_json::json!({"items": [{"ebs": {"code": 1}}, {"ebs": {"code": "x"}}]}),
            )
            .unwrap_err();
        assert_eq!(err.path, "$.items[1].ebs.code", "{err}");
        assert!(err.message.contains("expected an integer"), "{err}");

        let mut a = rb();
        let err = a
            .append_value(&serde_json::json!({"state": "running"}))
            .unwrap_err();
        assert_eq!(err.path, "$.state", "{err}");
        assert!(err.message.contains("expected an object"), "{err}");

        let mut a = rb();
        let err = a
            .append_value(&serde_json::json!({"launchtime": "yesterday"}))
            .unwrap_err();
        assert!(err.message.contains("expected a timestamp"), "{err}");
    }

    #[test]
    fn int_range_is_checked() {
        let mut a = rb();
        let err = a
            .append_value(&serde_json::json!({"state": {"code": 1_i64 << 40}}))
            .unwrap_err();
        assert!(err.message.contains("out of range"), "{err}");
    }
}
