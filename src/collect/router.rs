//! Routing the rows of one account/region to their groups' partitions.
//!
//! Owns [`Router`]: resolvers hand it rows for one account/region; it
//! appends them into Arrow builders, finds each row's group (by its group
//! tag, or through the instance it is attached to), registers groups as they
//! are found, notes subfleets, checks that no instance is listed twice, and
//! hands batches tagged with their partition to the sink's
//! [`PartitionWriter`]. It writes no file itself.

use std::collections::{BTreeSet, HashMap};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, UInt32Array};
use serde::Deserializer;

use crate::error::Error;
use crate::partition::{Failure, PartitionKey, PartitionValue, Scope};
use crate::record::{format_path, PathSeg, RowBuilder, RowError};
use crate::sink::partitions::{PartId, PartitionWriter, Written};
use crate::tables::resolver::Route;
use crate::tables::{self, TableId};

/// Rows buffered in Arrow builders before they are split and written.
pub const BATCH_ROWS: usize = 4096;

/// Below this many rows per run on average, a batch's rows are copied out
/// group by group rather than written as one slice per run.
const MIN_RUN_ROWS: usize = 64;

/// What one account/region produced.
#[derive(Debug, Default)]
pub struct ScopeReport {
    pub partitions: Vec<crate::partition::Partition>,
    pub rows: [u64; tables::COUNT],
    pub bytes: u64,
    pub files: u64,
    /// Every group found, failed or not.
    pub groups: Vec<String>,
    /// Groups that finished without failure (their backups may be written).
    pub ok_groups: Vec<String>,
    /// The account/region as a whole failed: nothing of it is known.
    pub scope_failed: bool,
    pub failures: Vec<Failure>,
}

struct GroupState {
    name: PartitionValue,
    part: PartId,
    subfleets: BTreeSet<String>,
}

/// How a routed row finds its group.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// From the group tag captured while the row was read.
    ByGroupTag,
    /// A group already registered with [`Router::group`].
    Group(usize),
}

/// Rows of one table whose group is known only row by row.
struct RoutedLane {
    builder: RowBuilder,
    row_groups: Vec<Option<u32>>,
    /// The file each row came from (an index in `Router::origins`).
    row_origins: Vec<u32>,
    /// Rows whose group tag is not a valid group name: (row, name, path).
    /// Reported at flush, when the row's instance id is known.
    bad_tags: Vec<(usize, String, String)>,
}

pub struct Router<'a> {
    scope: Scope,
    sink: PartitionWriter<'a>,
    run_time_ms: i64,
    group_tag: String,
    groups: Vec<GroupState>,
    index: HashMap<String, Option<usize>>,
    lanes: HashMap<TableId, RoutedLane>,
    builders: HashMap<TableId, RowBuilder>,
    /// Group and file of every instance routed so far: an instance id is
    /// listed once per account/region.
    instance_groups: HashMap<String, (usize, u32)>,
    /// The groups whose instances name each id, by the instances' column
    /// that names it: what [`Route::UsedByInstances`] routes by.
    used_by: HashMap<&'static str, HashMap<String, BTreeSet<usize>>>,
    /// Files read so far, for messages; the last is the current one.
    origins: Vec<String>,
    scope_failed: Option<Error>,
    failures: Vec<Failure>,
    /// Whether table files are written (false for backup-only runs).
    tables: bool,
    /// Only this group is collected; rows of others are dropped.
    only_group: Option<String>,
}

/// Capture slots of a routed [`RowBuilder`].
const SLOT_GROUP: usize = 0;
const SLOT_SUBFLEET: usize = 1;

impl<'a> Router<'a> {
    pub fn new(scope: Scope, sink: PartitionWriter<'a>, run_time_ms: i64, group_tag: &str) -> Self {
        Router {
            scope,
            sink,
            run_time_ms,
            group_tag: group_tag.to_string(),
            groups: Vec::new(),
            index: HashMap::new(),
            lanes: HashMap::new(),
            builders: HashMap::new(),
            instance_groups: HashMap::new(),
            used_by: HashMap::new(),
            origins: Vec::new(),
            scope_failed: None,
            failures: Vec::new(),
            tables: true,
            only_group: None,
        }
    }

    /// Collects only the group `name`: other groups are not registered, so
    /// their rows (and the rows routed through them) are dropped.
    pub fn only_group(mut self, name: &str) -> Self {
        self.only_group = Some(name.to_string());
        self
    }

    /// Writes no table files: groups are only tracked (a backup-only run).
    pub fn without_tables(mut self) -> Self {
        self.tables = false;
        self
    }

    pub fn writes_tables(&self) -> bool {
        self.tables
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Registers a group (checked), returning its index. A group that is
    /// registered gets one file per table, empty if it has no rows.
    pub fn group(&mut self, name: &str, origin: &str) -> Option<usize> {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        if self.only_group.as_deref().is_some_and(|g| g != name) {
            self.index.insert(name.to_string(), None);
            return None;
        }
        let r = match PartitionValue::parse(name, "group name", origin) {
            Ok(v) => {
                let part = self
                    .sink
                    .open(PartitionKey::Group(self.scope.partition(&v)));
                self.groups.push(GroupState {
                    name: v,
                    part,
                    subfleets: BTreeSet::new(),
                });
                Some(self.groups.len() - 1)
            }
            Err(e) => {
                self.failures.push(Failure {
                    scope: self.scope.to_string(),
                    group: Some(name.to_string()),
                    error: e,
                });
                None
            }
        };
        self.index.insert(name.to_string(), r);
        r
    }

    /// Registered groups, by index.
    pub fn groups(&self) -> impl Iterator<Item = (usize, &str)> {
        self.groups
            .iter()
            .enumerate()
            .map(|(i, g)| (i, g.name.as_str()))
    }

    /// Subfleet names seen on the group's instances, sorted.
    pub fn subfleets(&self, group: usize) -> Vec<String> {
        self.groups[group].subfleets.iter().cloned().collect()
    }

    /// Rows appended from now on come from `origin` (a file, or an API call).
    pub fn begin_file(&mut self, origin: &str) {
        if self.origins.last().map(String::as_str) != Some(origin) {
            self.origins.push(origin.to_string());
        }
    }

    fn origin(&self, i: u32) -> &str {
        self.origins.get(i as usize).map_or("?", String::as_str)
    }

    /// The group of an instance routed earlier in this account/region.
    pub fn instance_group(&self, instance_id: &str) -> Option<usize> {
        self.instance_groups.get(instance_id).map(|(g, _)| *g)
    }

    /// The groups whose instances name `id` in their `column`
    /// ([`Route::UsedByInstances`]), in order.
    pub fn groups_using(&self, column: &str, id: &str) -> Vec<usize> {
        self.used_by
            .get(column)
            .and_then(|ids| ids.get(id))
            .map(|gs| gs.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Notes, for each column that a table routes by
    /// ([`Route::UsedByInstances`]), which groups' instances name which ids.
    fn index_uses(&mut self, batch: &RecordBatch, row_groups: &[Option<u32>]) {
        for t in tables::ALL {
            let crate::tables::Resolver::Pages {
                route: Route::UsedByInstances { column, field },
                ..
            } = t.resolver
            else {
                continue;
            };
            let Some(list) = batch
                .column_by_name(column)
                .and_then(|c| c.as_list_opt::<i32>())
            else {
                continue;
            };
            let Some(ids) = list
                .values()
                .as_struct_opt()
                .and_then(|s| s.column_by_name(field))
                .and_then(|c| c.as_string_opt::<i32>())
            else {
                continue;
            };
            let index = self.used_by.entry(column).or_default();
            for (row, g) in row_groups.iter().enumerate() {
                let Some(g) = g else { continue };
                if !list.is_valid(row) {
                    continue;
                }
                let offsets = list.value_offsets();
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    if ids.is_valid(i) {
                        let groups = index.entry(ids.value(i).to_string()).or_default();
                        groups.insert(*g as usize);
                    }
                }
            }
        }
    }

    pub fn is_failed(&self, group: usize) -> bool {
        self.scope_failed.is_some() || self.sink.is_failed(self.groups[group].part)
    }

    /// Marks a group failed: none of its files will be committed. The
    /// first error is the one reported.
    pub fn fail_group(&mut self, group: usize, error: Error) {
        self.sink.fail(self.groups[group].part, error);
    }

    /// Marks the whole account/region failed: nothing of it will be committed.
    pub fn fail_scope(&mut self, error: Error) {
        if self.scope_failed.is_none() {
            self.scope_failed = Some(error);
        }
        self.lanes.clear();
        // Drops every open file; the partitions' own errors are not reported.
        for g in &self.groups {
            self.sink
                .fail(g.part, Error::Internal("account/region failed".into()));
        }
    }

    /// Appends all records of `table` for one group. On a bad record the
    /// group fails with an error naming `file` and the JSON path.
    pub fn append_group<'v>(
        &mut self,
        table: TableId,
        group: usize,
        file: &str,
        records: impl IntoIterator<Item = &'v serde_json::Value>,
    ) {
        if self.is_failed(group) {
            return;
        }
        let run_time = self.run_time_ms;
        let builder = self
            .builders
            .entry(table)
            .or_insert_with(|| RowBuilder::new(table.def(), run_time, &[]));
        for (i, v) in records.into_iter().enumerate() {
            if let Err(e) = builder.append_value(v) {
                self.builders.remove(&table);
                // The record is element i of the file's list: $.x -> $[i].x
                let path = format!("$[{i}]{}", &e.path[1..]);
                self.fail_group(group, Error::input(file, path, e.message));
                return;
            }
        }
        let batch = builder.finish();
        let whole = Some(crate::sink::parquet::data_len(&batch));
        let part = self.groups[group].part;
        self.sink.write(part, table.schema(), &batch, whole);
        self.sink.close(part, table.schema());
    }
    /// Appends one row of a routed table from any serde deserializer.
    /// `path` is where the record sits in its file, for error messages.
    pub fn append_routed<'de, D: Deserializer<'de>>(
        &mut self,
        table: TableId,
        route: Target,
        path: &[PathSeg],
        d: D,
    ) -> Result<(), RowError> {
        if self.scope_failed.is_some() {
            return Ok(());
        }
        let run_time = self.run_time_ms;
        let lane = self.lanes.entry(table).or_insert_with(|| RoutedLane {
            builder: RowBuilder::new(
                table.def(),
                run_time,
                &[&self.group_tag, crate::documents::SUBFLEET_TAG],
            ),
            row_groups: Vec::with_capacity(BATCH_ROWS),
            row_origins: Vec::with_capacity(BATCH_ROWS),
            bad_tags: Vec::new(),
        });
        lane.builder.ctx.path.clear();
        lane.builder.ctx.path.extend_from_slice(path);
        if let Err(e) = lane.builder.append(d) {
            let err = RowError {
                path: format_path(&lane.builder.ctx.path),
                message: e.to_string(),
            };
            // A row that failed half-way leaves its builders misaligned:
            // drop the lane, so nothing can ever finish it. The caller fails
            // the scope, which loses nothing else.
            self.lanes.remove(&table);
            return Err(err);
        }
        let group = match route {
            Target::Group(g) => Some(g),
            Target::ByGroupTag => self.route_by_tag(table, path),
        };
        let origin = self.origins.len().saturating_sub(1) as u32;
        let lane = self.lanes.get_mut(&table).expect("created above");
        lane.row_groups.push(group.map(|g| g as u32));
        lane.row_origins.push(origin);
        if lane.row_groups.len() >= BATCH_ROWS {
            self.flush_lane(table).map_err(|e| RowError {
                path: format_path(path),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The group named by the tag captured on the lane's last row; notes its
    /// subfleet. Allocates only the first time a group or subfleet is seen.
    fn route_by_tag(&mut self, table: TableId, path: &[PathSeg]) -> Option<usize> {
        let captured = &self.lanes[&table].builder;
        let g = match captured.captured(SLOT_GROUP) {
            None => None,
            Some(name) => match self.index.get(name) {
                Some(known) => *known,
                None if PartitionValue::parse(name, "group name", "").is_err() => {
                    // Reported at flush, with the instance id and the file.
                    let name = name.to_string();
                    let lane = self.lanes.get_mut(&table).expect("a lane");
                    let row = lane.row_groups.len();
                    lane.bad_tags.push((row, name.clone(), format_path(path)));
                    self.index.insert(name, None);
                    None
                }
                None => {
                    let name = name.to_string();
                    let origin = format!("tag {} at {}", self.group_tag, format_path(path));
                    self.group(&name, &origin)
                }
            },
        }?;
        let captured = &self.lanes[&table].builder;
        if let Some(sub) = captured.captured(SLOT_SUBFLEET).filter(|s| !s.is_empty()) {
            if !self.groups[g].subfleets.contains(sub) {
                self.groups[g].subfleets.insert(sub.to_string());
            }
        }
        Some(g)
    }

    fn flush_lane(&mut self, table: TableId) -> Result<(), Error> {
        let Some(lane) = self.lanes.get_mut(&table) else {
            return Ok(());
        };
        if lane.builder.is_empty() {
            return Ok(());
        }
        let batch = lane.builder.finish();
        let row_groups = std::mem::take(&mut lane.row_groups);
        let row_origins = std::mem::take(&mut lane.row_origins);
        let bad_tags = std::mem::take(&mut lane.bad_tags);
        let indexed = matches!(
            table.def().resolver,
            crate::tables::Resolver::Pages {
                route: crate::tables::resolver::Route::GroupTag,
                ..
            }
        );
        if indexed {
            let ids = batch
                .column_by_name("instanceid")
                .expect("declared")
                .as_string::<i32>();
            for (row, name, path) in bad_tags {
                let id = if ids.is_valid(row) {
                    ids.value(row)
                } else {
                    "?"
                };
                self.failures.push(Failure {
                    scope: self.scope.to_string(),
                    group: Some(name.clone()),
                    error: Error::BadPartitionValue {
                        what: "group name".into(),
                        value: name,
                        origin: format!(
                            "tag {} of instance {id} at {path} in {}",
                            self.group_tag,
                            self.origin(row_origins[row])
                        ),
                    },
                });
            }
            for (row, g) in row_groups.iter().enumerate() {
                if let (Some(g), true) = (g, ids.is_valid(row)) {
                    let id = ids.value(row);
                    let here = (*g as usize, row_origins[row]);
                    // One hash per instance: the entry both checks and records.
                    let (g0, o0) = match self.instance_groups.entry(id.to_string()) {
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(here);
                            continue;
                        }
                        std::collections::hash_map::Entry::Occupied(o) => *o.get(),
                    };
                    return Err(Error::input(
                        self.origin(here.1),
                        "$",
                        format!(
                            "instance {id} (group {}) was already listed in {} (group {}): \
                             an instance appears once per account/region, so these pages overlap",
                            self.groups[here.0].name,
                            self.origin(o0),
                            self.groups[g0].name
                        ),
                    ));
                }
            }
        }
        if indexed {
            self.index_uses(&batch, &row_groups);
        }
        // Rows usually arrive group by group (a page lists one group's
        // instances together): write each run as a zero-copy slice, and copy
        // rows out group by group only when the groups are interleaved.
        let mut runs: Vec<(usize, usize, u32)> = Vec::new();
        let mut start = 0;
        for (row, g) in row_groups.iter().enumerate() {
            if row + 1 == row_groups.len() || row_groups[row + 1] != *g {
                if let Some(g) = g {
                    runs.push((start, row + 1 - start, *g));
                }
                start = row + 1;
            }
        }
        if runs.len() * MIN_RUN_ROWS <= row_groups.len() {
            for (start, len, g) in runs {
                self.write_batch(table, g as usize, &batch.slice(start, len));
            }
            return Ok(());
        }
        let mut by_group: HashMap<u32, Vec<u32>> = HashMap::new();
        for (row, g) in row_groups.iter().enumerate() {
            if let Some(g) = g {
                by_group.entry(*g).or_default().push(row as u32);
            }
        }
        let mut keys: Vec<u32> = by_group.keys().copied().collect();
        keys.sort_unstable();
        for g in keys {
            let idx = UInt32Array::from(std::mem::take(by_group.get_mut(&g).unwrap()));
            let part = arrow_select::take::take_record_batch(&batch, &idx)
                .map_err(|e| Error::Internal(format!("splitting a batch: {e}")))?;
            self.write_batch(table, g as usize, &part);
        }
        Ok(())
    }

    fn write_batch(&mut self, table: TableId, group: usize, batch: &RecordBatch) {
        if self.scope_failed.is_none() {
            self.sink
                .write(self.groups[group].part, table.schema(), batch, None);
        }
    }

    /// Flushes routed rows and closes their files; the source is done with
    /// those tables.
    pub fn flush_routed(&mut self) {
        let mut tables: Vec<TableId> = self.lanes.keys().copied().collect();
        tables.sort();
        for t in tables {
            if let Err(e) = self.flush_lane(t) {
                self.fail_scope(e);
            }
            self.sink.close_table(t.schema());
        }
        self.lanes.clear();
    }

    /// Hands every partition that did not fail to the sink to commit.
    pub fn finish(mut self) -> ScopeReport {
        self.flush_routed();
        let mut report = ScopeReport {
            failures: std::mem::take(&mut self.failures),
            groups: self.groups.iter().map(|g| g.name.to_string()).collect(),
            ..Default::default()
        };
        if let Some(e) = self.scope_failed.take() {
            report.failures.push(Failure {
                scope: self.scope.to_string(),
                group: None,
                error: e,
            });
            report.scope_failed = true;
            return report;
        }
        let Written {
            partitions,
            rows,
            bytes,
            files,
            failed,
        } = if self.tables {
            self.sink.commit()
        } else {
            self.sink.abandon()
        };
        // The writer was made with every table, in registry order.
        for (total, n) in report.rows.iter_mut().zip(rows) {
            *total += n;
        }
        (report.bytes, report.files) = (bytes, files);
        for key in partitions {
            if let PartitionKey::Group(p) = key {
                report.partitions.push(p);
            }
        }
        let failed: std::collections::HashSet<String> = failed
            .into_iter()
            .map(|(key, error)| {
                let group = key.values().last().map(|g| g.to_string());
                report.failures.push(Failure {
                    scope: self.scope.to_string(),
                    group: group.clone(),
                    error,
                });
                group.unwrap_or_default()
            })
            .collect();
        report.ok_groups = report
            .groups
            .iter()
            .filter(|g| !failed.contains(*g))
            .cloned()
            .collect();
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::local::LocalDestination;
    use crate::sink::parquet::WriterOptions;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::collections::BTreeMap;

    const TAG: &str = "clonesquad:group-name";

    fn scope() -> Scope {
        Scope {
            accountid: PartitionValue::parse("111111111111", "account", "test").unwrap(),
            region: PartitionValue::parse("eu-west-1", "region", "test").unwrap(),
        }
    }

    /// An instance of `group` (untagged when None), with a distinct bulky name.
    fn instance(i: usize, group: Option<&str>) -> serde_json::Value {
        let tags = match group {
            Some(g) => serde_json::json!([{"Key": TAG, "Value": g}]),
            None => serde_json::json!([]),
        };
        serde_json::json!({
            "InstanceId": format!("i-{i:017x}"),
            "PrivateDnsName": format!("ip-{i}-{}.internal", "x".repeat(200)),
            "Tags": tags,
        })
    }

    /// Routes one instance per entry of `order` (its group) through a
    /// scope, flushing the lane every `batch` rows; `check` sees the writer
    /// after each flush. Returns each group's instance ids as committed, and
    /// its file's row-group count.
    fn route(
        order: &[Option<&str>],
        batch: usize,
        opts: &WriterOptions,
        mut check: impl FnMut(&Router),
    ) -> BTreeMap<String, (Vec<String>, usize)> {
        let dir = tempfile::tempdir().unwrap();
        let dest = LocalDestination::new(dir.path()).unwrap();
        let sink = PartitionWriter::new(&dest, opts, crate::tables::schemas());
        let mut w = Router::new(scope(), sink, 1_700_000_000_000, TAG);
        for (i, g) in order.iter().enumerate() {
            let doc = instance(i, *g);
            w.append_routed(TableId::Instances, Target::ByGroupTag, &[], &doc)
                .unwrap();
            if (i + 1) % batch == 0 {
                w.flush_lane(TableId::Instances).unwrap();
                check(&w);
            }
        }
        let report = w.finish();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        let mut out = BTreeMap::new();
        for p in &report.partitions {
            let path = dir.path().join(p.table_file(TableId::Instances.def()));
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
                    .unwrap();
            let row_groups = reader.metadata().num_row_groups();
            let mut ids = Vec::new();
            for b in reader.build().unwrap() {
                let b = b.unwrap();
                let col = b.column_by_name("instanceid").unwrap().as_string::<i32>();
                ids.extend(col.iter().map(|v| v.unwrap().to_string()));
            }
            out.insert(p.groupname.to_string(), (ids, row_groups));
        }
        out
    }

    fn ids_of(order: &[Option<&str>], group: &str) -> Vec<String> {
        (0..order.len())
            .filter(|&i| order[i] == Some(group))
            .map(|i| format!("i-{i:017x}"))
            .collect()
    }

    #[test]
    fn rows_reach_their_group_in_runs_or_interleaved() {
        let runs: Vec<Option<&str>> = [("web", 300), ("api", 200), ("web", 100)]
            .iter()
            .flat_map(|&(g, n)| std::iter::repeat_n(Some(g), n))
            .collect();
        let interleaved: Vec<Option<&str>> = (0..600)
            .map(|i| match i % 3 {
                0 => Some("web"),
                1 => Some("api"),
                _ => None,
            })
            .collect();
        let opts = WriterOptions::default();
        for (what, order) in [("runs", &runs), ("interleaved", &interleaved)] {
            for batch in [7, 250, 1000] {
                let got = route(order, batch, &opts, |_| {});
                let names: Vec<&String> = got.keys().collect();
                assert_eq!(
                    names,
                    ["api", "web"],
                    "{what}/{batch}: untagged rows have no group"
                );
                for g in ["api", "web"] {
                    assert_eq!(got[g].0, ids_of(order, g), "{what}/{batch}: rows of {g}");
                }
            }
        }
    }

    #[test]
    fn open_files_of_a_scope_stay_within_its_budget() {
        let groups = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];
        let order: Vec<Option<&str>> = (0..4000).map(|i| Some(groups[i % 8])).collect();
        let unbounded = WriterOptions {
            row_group_bytes: 1 << 30,
            scope_bytes: 1 << 30,
            ..Default::default()
        };
        let budget = WriterOptions {
            scope_bytes: 256 << 10,
            ..unbounded.clone()
        };
        let open_bytes = |w: &Router| -> usize { w.sink.open_bytes() };
        let mut peak = 0;
        let free = route(&order, 100, &unbounded, |w| peak = peak.max(open_bytes(w)));
        assert!(
            peak > budget.scope_bytes,
            "the test writes more than the budget: {peak}"
        );
        let mut peak = 0;
        let held = route(&order, 100, &budget, |w| peak = peak.max(open_bytes(w)));
        assert!(peak <= budget.scope_bytes, "{peak} bytes held");
        for g in groups {
            assert_eq!(free[g].1, 1, "{g}: one row group without a budget");
            assert!(held[g].1 > 1, "{g}: row groups closed early: {}", held[g].1);
            assert_eq!(held[g].0, ids_of(&order, g), "{g}: every row, in order");
        }
    }

    #[test]
    fn small_batches_count_their_data_not_their_builders_capacity() {
        let mut rb = crate::record::RowBuilder::new(TableId::Instances.def(), 0, &[]);
        rb.append_value(&instance(1, Some("web"))).unwrap();
        let one = rb.finish();
        let small = crate::sink::parquet::data_len(&one);
        assert!(small < 4096, "one row holds {small} bytes of data");
        assert!(one.get_array_memory_size() > WriterOptions::default().small_file_bytes);
        for i in 2..50 {
            rb.append_value(&instance(i, Some("web"))).unwrap();
        }
        let more = crate::sink::parquet::data_len(&rb.finish());
        assert!(more > 49 * 200, "49 names of 200+ bytes: {more}");
    }
}
