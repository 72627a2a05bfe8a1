//! `fleetcmdb backup-table` and `restore-table`: lossless dumps of any
//! DynamoDB table.
//!
//! Owns the dump format: under `{out}/backups/tables/{table}/{timestamp}/`,
//! one `items-{segment}.jsonl.gz` per parallel Scan segment (one item per
//! line in typed DynamoDB JSON: S, N, B, BOOL, NULL, M, L, SS, NS, BS, so
//! numbers keep all 38 digits and binary stays exact), then `manifest.json`
//! with the key schema, table settings, item counts and a SHA-256 per file.
//! The manifest is written last: a dump without one is incomplete, and
//! `restore-table` refuses it, as it refuses any file whose checksum differs.

use std::io::{BufRead, Write};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::dynamo::{self, Dynamo};
use crate::error::{Error, ExitCode};
use crate::settings::{TableBackupSettings, TableRestoreFrom, TableRestoreSettings};
use crate::sink::{self, Destination};
use crate::time::file_stamp as timestamp;

pub const FORMAT: &str = "fleetcmdb-dynamodb-dump/1";

/// The largest manifest read.
const MAX_MANIFEST: u64 = 64 << 20;

/// The longest line of a dump: one item is at most 400 KB in DynamoDB, and
/// its typed JSON at most a few times that even when every byte is escaped.
const MAX_LINE: usize = 4 << 20;

/// One dump file, size-limited and checked against its manifest entry.
fn read_dump_file(
    parent: &dyn Destination,
    dump: &str,
    file: &str,
    entry: &Value,
    max_bytes: u64,
) -> Result<Vec<u8>, Error> {
    let data = parent.read(&format!("{dump}/{file}"), max_bytes)?;
    let got = hex::encode(Sha256::digest(&data));
    if Some(got.as_str()) != entry["sha256"].as_str() {
        return Err(Error::input(
            format!("{}/{dump}/{file}", parent.url()),
            "$",
            format!(
                "checksum mismatch: manifest says {}, file has {got}",
                entry["sha256"]
            ),
        ));
    }
    Ok(data)
}

/// Decodes the gzip JSON Lines of one dump file in bounded memory and calls
/// `f` with each item. Stops, with an error naming the line, at a line over
/// [`MAX_LINE`], at anything that is not a typed item, and as soon as the
/// file holds more than `max_items` (so a decompression bomb costs at most
/// `max_items` lines of work). Returns how many items it holds.
fn each_item(
    file: &str,
    gz: &[u8],
    max_items: usize,
    f: &mut dyn FnMut(dynamo::Item) -> Result<(), String>,
) -> Result<usize, String> {
    use std::io::Read;
    let mut r = std::io::BufReader::new(GzDecoder::new(gz));
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let got = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("{file}: not gzip JSON Lines after line {n}: {e}"))?;
        if got == 0 {
            return Ok(n);
        }
        n += 1;
        if line.len() > MAX_LINE {
            return Err(format!("line {n} is longer than {MAX_LINE} bytes"));
        }
        if n > max_items {
            return Err(format!(
                "holds more items than the {max_items} its manifest lists (line {n})"
            ));
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let v: Value = serde_json::from_slice(text).map_err(|e| format!("line {n}: {e}"))?;
        let item = dynamo::typed::item_from_json(&v).map_err(|m| format!("line {n}: {m}"))?;
        f(item)?;
    }
}

fn keys_json(k: &[KeySchemaElement]) -> Value {
    k.iter()
        .map(|e| json!({"AttributeName": e.attribute_name(), "KeyType": e.key_type().as_str()}))
        .collect()
}

fn projection_json(p: Option<&Projection>) -> Value {
    json!({
        "ProjectionType": p.and_then(|p| p.projection_type()).map(|t| t.as_str()).unwrap_or("ALL"),
        "NonKeyAttributes": p.map(|p| p.non_key_attributes().to_vec()).unwrap_or_default(),
    })
}

/// The table settings a restore needs, from DescribeTable.
fn settings_json(d: &aws_sdk_dynamodb::types::TableDescription) -> Value {
    let billing = d
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    let tp = |p: Option<&aws_sdk_dynamodb::types::ProvisionedThroughputDescription>| {
        json!({
            "ReadCapacityUnits": p.and_then(|p| p.read_capacity_units()).unwrap_or(0).max(1),
            "WriteCapacityUnits": p.and_then(|p| p.write_capacity_units()).unwrap_or(0).max(1),
        })
    };
    json!({
        "KeySchema": keys_json(d.key_schema()),
        "AttributeDefinitions": d.attribute_definitions().iter().map(|a| json!({
            "AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str()
        })).collect::<Vec<_>>(),
        "BillingMode": billing,
        "ProvisionedThroughput": tp(d.provisioned_throughput()),
        "GlobalSecondaryIndexes": d.global_secondary_indexes().iter().map(|g| json!({
            "IndexName": g.index_name(),
            "KeySchema": keys_json(g.key_schema()),
            "Projection": projection_json(g.projection()),
            "ProvisionedThroughput": tp(g.provisioned_throughput()),
        })).collect::<Vec<_>>(),
        "LocalSecondaryIndexes": d.local_secondary_indexes().iter().map(|l| json!({
            "IndexName": l.index_name(),
            "KeySchema": keys_json(l.key_schema()),
            "Projection": projection_json(l.projection()),
        })).collect::<Vec<_>>(),
    })
}

pub fn backup(a: &TableBackupSettings) -> Result<ExitCode, Error> {
    if a.native || a.list_native {
        return native(a);
    }
    let conn = &a.conn;
    let dest = sink::open(&a.out, conn)?;
    dest.healthcheck()?;
    let db = Dynamo::new(&conn.aws)?;
    let tables = selected_tables(&db, a)?;
    let ts = timestamp(chrono::Utc::now().timestamp_millis());
    let report = each_table(&tables, |t| backup_one(&db, dest.as_ref(), t, &ts, a));
    if a.json {
        print_json(&report)?;
    } else {
        for r in &report {
            match r.get("error") {
                Some(e) => eprintln!("FAILED {}: {}", r["table"], e.as_str().unwrap_or("")),
                None => eprintln!(
                    "{}: {} items -> {} (point-in-time recovery: {})",
                    r["table"].as_str().unwrap_or(""),
                    r["items"],
                    r["dump"].as_str().unwrap_or(""),
                    if r["pitr"] == json!(true) {
                        "on"
                    } else {
                        "OFF"
                    }
                ),
            }
        }
    }
    Ok(exit_code(&report))
}

/// `--table` and the tables carrying `--select-tag`, once each, sorted.
fn selected_tables(db: &Dynamo, a: &TableBackupSettings) -> Result<Vec<String>, Error> {
    let mut tables = a.tables.clone();
    if let Some((k, v)) = &a.select_tag {
        tables.extend(db.tables_with_tag(k, v)?);
    }
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Err(Error::Usage(
            "no table to back up (none carries that tag)".into(),
        ));
    }
    Ok(tables)
}

/// `work` on every table, in order: its report, or `{table, error}`.
fn each_table(tables: &[String], mut work: impl FnMut(&str) -> Result<Value, Error>) -> Vec<Value> {
    tables
        .iter()
        .map(|t| work(t).unwrap_or_else(|e| json!({"table": t, "error": e.to_string()})))
        .collect()
}

fn print_json(report: &[Value]) -> Result<(), Error> {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&json!({ "tables": report })).expect("json")
    );
    Ok(())
}

/// Success when no table failed, partial when some did, failed when all did.
fn exit_code(report: &[Value]) -> ExitCode {
    let failed = report.iter().filter(|r| r.get("error").is_some()).count();
    match (failed, report.len()) {
        (0, _) => ExitCode::Success,
        (f, n) if f < n => ExitCode::Partial,
        _ => ExitCode::Failed,
    }
}

fn backup_one(
    db: &Dynamo,
    dest: &dyn Destination,
    table: &str,
    ts: &str,
    a: &TableBackupSettings,
) -> Result<Value, Error> {
    crate::partition::PartitionValue::parse(table, "table name", "--table")?;
    let desc = db
        .describe(table)?
        .ok_or_else(|| Error::NotFound(format!("dynamodb table {table} ({})", db.region)))?;
    let mut pitr = db.pitr(table)?;
    if a.enable_pitr && !pitr {
        db.enable_pitr(table)?;
        pitr = db.pitr(table)?;
    }
    let dir = format!("{}/{table}/{ts}", crate::partition::TABLE_DUMPS);
    let segments = a.segments;
    let items = db.scan_all_segments(table, segments)?;
    let mut files = Vec::new();
    let mut total = 0usize;
    for (seg, seg_items) in items.into_iter().enumerate() {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        for it in &seg_items {
            let line = serde_json::to_string(&dynamo::typed::item_to_json(it)).expect("json");
            gz.write_all(line.as_bytes())
                .and_then(|_| gz.write_all(b"\n"))
                .map_err(|e| Error::io(&dir, e))?;
        }
        let data = gz.finish().map_err(|e| Error::io(&dir, e))?;
        let name = format!("items-{seg:04}.jsonl.gz");
        dest.put(&format!("{dir}/{name}"), &data)?;
        total += seg_items.len();
        files.push(json!({
            "file": name,
            "items": seg_items.len(),
            "sha256": hex::encode(Sha256::digest(&data)),
        }));
    }
    let manifest = json!({
        "format": FORMAT,
        "table": table,
        "region": db.region,
        "table_arn": desc.table_arn(),
        "created_at": ts,
        "items": total,
        "files": files,
        "point_in_time_recovery": pitr,
        "settings": settings_json(&desc),
    });
    dest.put(
        &format!("{dir}/manifest.json"),
        serde_json::to_string_pretty(&manifest)
            .expect("json")
            .as_bytes(),
    )?;
    Ok(
        json!({"table": table, "items": total, "dump": format!("{}/{dir}", dest.url()), "pitr": pitr}),
    )
}

fn keys_of(v: &Value) -> Vec<KeySchemaElement> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str()?)
                .key_type(KeyType::from(k["KeyType"].as_str()?))
                .build()
                .ok()
        })
        .collect()
}

fn projection_of(v: &Value) -> Projection {
    let mut p = Projection::builder().projection_type(ProjectionType::from(
        v["ProjectionType"].as_str().unwrap_or("ALL"),
    ));
    for a in v["NonKeyAttributes"].as_array().into_iter().flatten() {
        if let Some(a) = a.as_str() {
            p = p.non_key_attributes(a);
        }
    }
    p.build()
}

fn throughput_of(v: &Value) -> Option<ProvisionedThroughput> {
    ProvisionedThroughput::builder()
        .read_capacity_units(v["ReadCapacityUnits"].as_i64()?)
        .write_capacity_units(v["WriteCapacityUnits"].as_i64()?)
        .build()
        .ok()
}

fn create_like(db: &Dynamo, table: &str, s: &Value) -> Result<(), Error> {
    let provisioned = s["BillingMode"].as_str() != Some("PAY_PER_REQUEST");
    let mut req = db
        .client
        .create_table()
        .table_name(table)
        .set_key_schema(Some(keys_of(&s["KeySchema"])))
        .billing_mode(if provisioned {
            BillingMode::Provisioned
        } else {
            BillingMode::PayPerRequest
        });
    for a in s["AttributeDefinitions"].as_array().into_iter().flatten() {
        if let (Some(n), Some(t)) = (a["AttributeName"].as_str(), a["AttributeType"].as_str()) {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::from(t))
                    .build()
                    .expect("complete"),
            );
        }
    }
    if provisioned {
        req = req.set_provisioned_throughput(throughput_of(&s["ProvisionedThroughput"]));
    }
    for g in s["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let mut b = GlobalSecondaryIndex::builder()
            .index_name(g["IndexName"].as_str().unwrap_or_default())
            .set_key_schema(Some(keys_of(&g["KeySchema"])))
            .projection(projection_of(&g["Projection"]));
        if provisioned {
            b = b.set_provisioned_throughput(throughput_of(&g["ProvisionedThroughput"]));
        }
        req = req.global_secondary_indexes(
            b.build()
                .map_err(|e| Error::Internal(format!("index of the manifest: {e}")))?,
        );
    }
    for l in s["LocalSecondaryIndexes"].as_array().into_iter().flatten() {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(l["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(keys_of(&l["KeySchema"])))
                .projection(projection_of(&l["Projection"]))
                .build()
                .map_err(|e| Error::Internal(format!("index of the manifest: {e}")))?,
        );
    }
    db.rt.block_on(req.send()).map_err(|e| Error::Aws {
        scope: format!("dynamodb table {table}"),
        message: crate::aws::sdk_error("dynamodb:CreateTable", &e),
    })?;
    db.wait_active(table)
}

/// `backup-table --native` and `--list-native`: DynamoDB's own on-demand
/// backups, one per table, named `fleetcmdb-{table}-{time}`.
fn native(a: &TableBackupSettings) -> Result<ExitCode, Error> {
    let db = Dynamo::new(&a.conn.aws)?;
    let tables = selected_tables(&db, a)?;
    let ts = timestamp(chrono::Utc::now().timestamp_millis());
    let report = each_table(&tables, |t| {
        if a.list_native {
            db.list_backups(t)
                .map(|b| json!({"table": t, "backups": b}))
        } else {
            // Backup names are [a-zA-Z0-9_.-]{3,255}.
            let name: String = format!("fleetcmdb-{t}-{ts}").chars().take(255).collect();
            db.create_backup(t, &name)
        }
    });
    if a.json {
        print_json(&report)?;
    } else {
        for r in &report {
            if let Some(e) = r.get("error") {
                eprintln!("FAILED {}: {}", r["table"], e.as_str().unwrap_or(""));
            } else if let Some(list) = r["backups"].as_array() {
                for b in list {
                    crate::outln!(
                        "{}\t{}\t{}\t{}",
                        b["table"].as_str().unwrap_or(""),
                        b["created"].as_str().unwrap_or(""),
                        b["status"].as_str().unwrap_or(""),
                        b["arn"].as_str().unwrap_or("")
                    );
                }
            } else {
                crate::outln!(
                    "{}\t{}",
                    r["table"].as_str().unwrap_or(""),
                    r["arn"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(exit_code(&report))
}

pub fn restore(a: &TableRestoreSettings) -> Result<ExitCode, Error> {
    let dump = match &a.from {
        TableRestoreFrom::Dump(d) => d,
        TableRestoreFrom::Backup(arn) => {
            Dynamo::new(&a.conn.aws)?.restore_from_backup(arn, &a.table)?;
            eprintln!("{}: restored from {arn}", a.table);
            return Ok(ExitCode::Success);
        }
        TableRestoreFrom::PointInTime { source, at } => {
            Dynamo::new(&a.conn.aws)?.restore_to_point_in_time(source, &a.table, *at)?;
            let when = at.map_or("its latest restorable time".to_string(), |t| t.to_rfc3339());
            eprintln!("{}: restored from {source} as of {when}", a.table);
            return Ok(ExitCode::Success);
        }
    };
    let conn = &a.conn;
    let (parent, name) = crate::sink::open_file(dump, conn)?;
    let bad =
        |what: &str, m: String| Error::input(format!("{}/{name}/{what}", parent.url()), "$", m);
    let manifest: Value = serde_json::from_slice(
        &parent
            .read(&format!("{name}/manifest.json"), MAX_MANIFEST)
            .map_err(|e| match e {
                Error::NotFound(p) => Error::input(
                    p,
                    "manifest.json",
                    "no manifest: the dump is incomplete or this is not a dump folder",
                ),
                e => e,
            })?,
    )
    .map_err(|e| bad("manifest.json", format!("not valid JSON: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(bad(
            "manifest.json",
            format!("format {} is not {FORMAT}", manifest["format"]),
        ));
    }
    // Read, verify, decode and count every item of every file before the
    // table is touched; nothing is held but one compressed file and one line.
    let mut files = Vec::new();
    let mut total = 0usize;
    for (i, f) in manifest["files"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let file = f["file"].as_str().unwrap_or_default();
        crate::sink::check_rel_path(file)?;
        let want = f["items"].as_u64().ok_or_else(|| {
            bad(
                "manifest.json",
                format!("$.files[{i}].items: expected the item count of {file}"),
            )
        })? as usize;
        let data = read_dump_file(parent.as_ref(), &name, file, f, a.max_file_bytes)?;
        let got = each_item(file, &data, want, &mut |_| Ok(())).map_err(|m| bad(file, m))?;
        if got != want {
            return Err(bad(
                file,
                format!("holds {got} items but the manifest lists {want}"),
            ));
        }
        total += got;
        files.push((file.to_string(), f.clone()));
    }
    let listed = manifest["items"].as_u64().unwrap_or(0) as usize;
    if total != listed {
        return Err(bad(
            "manifest.json",
            format!("$.items is {listed} but its files hold {total} items"),
        ));
    }
    let db = Dynamo::new(&conn.aws)?;
    match db.describe(&a.table)? {
        Some(d) => {
            let want = keys_json(&keys_of(&manifest["settings"]["KeySchema"]));
            if keys_json(d.key_schema()) != want {
                return Err(Error::Usage(format!(
                    "table {} exists with another key schema ({} instead of {want}); nothing was changed",
                    a.table,
                    keys_json(d.key_schema())
                )));
            }
            let page = db
                .rt
                .block_on(db.client.scan().table_name(&a.table).limit(1).send())
                .map_err(|e| Error::Aws {
                    scope: format!("dynamodb table {}", a.table),
                    message: crate::aws::sdk_error("dynamodb:Scan", &e),
                })?;
            if page.count() > 0 {
                return Err(Error::Usage(format!(
                    "table {} exists and is not empty; restore into a new or empty table. Nothing was changed.",
                    a.table
                )));
            }
        }
        None => create_like(&db, &a.table, &manifest["settings"])?,
    }
    let mut written = 0usize;
    for (file, f) in &files {
        // Read again, and checked again: the files may have changed since.
        let data = read_dump_file(parent.as_ref(), &name, file, f, a.max_file_bytes)?;
        let want = f["items"].as_u64().unwrap_or(0) as usize;
        let mut batch = Vec::new();
        let mut failed = None;
        let decoded = each_item(file, &data, want, &mut |item| {
            batch.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item"),
                    )
                    .build(),
            );
            if batch.len() >= 1000 {
                match db.batch_write(&a.table, std::mem::take(&mut batch)) {
                    Ok(n) => written += n,
                    Err(e) => {
                        failed = Some(e);
                        return Err("a write failed".into());
                    }
                }
            }
            Ok(())
        });
        decoded
            .map_err(|m| failed.take().unwrap_or_else(|| bad(file, m)))
            .and_then(|_| db.batch_write(&a.table, std::mem::take(&mut batch)))
        .map(|n| written += n)
        .map_err(|e| Error::Aws {
            scope: format!("dynamodb table {}", a.table),
            message: format!(
                "{e}; {written} of {total} items were written before it (from the files before {file} \
                 and the first batches of {file}); the rest were not. Re-run into an empty table."
            ),
        })?;
    }
    if written != total {
        return Err(Error::Aws {
            scope: format!("dynamodb table {}", a.table),
            message: format!("wrote {written} of {total} items"),
        });
    }
    eprintln!("restored {written} items into {} ({})", a.table, db.region);
    Ok(ExitCode::Success)
}
