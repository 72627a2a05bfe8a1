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

use super::restore::open_file;
use crate::backup::timestamp;
use crate::cli::{TableBackupArgs, TableRestoreArgs};
use crate::dynamo::{self, Dynamo};
use crate::error::{Error, ExitCode};
use crate::settings::connection;
use crate::sink::{self, Destination};

pub const FORMAT: &str = "fleetcmdb-dynamodb-dump/1";

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

fn parse_tag(s: &str) -> Result<(String, String), Error> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| Error::Usage(format!("--select-tag {s:?}: expected KEY=VALUE")))
}

pub fn backup(a: &TableBackupArgs) -> Result<ExitCode, Error> {
    let conn = connection(&a.conn);
    let dest = sink::open(&a.out, &conn)?;
    dest.healthcheck()?;
    let db = Dynamo::new(&conn.aws)?;
    let mut tables = a.table.clone();
    if let Some(tag) = &a.select_tag {
        let (k, v) = parse_tag(tag)?;
        tables.extend(db.tables_with_tag(&k, &v)?);
    }
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Err(Error::Usage(
            "no table to back up (none carries that tag)".into(),
        ));
    }
    let ts = timestamp(chrono::Utc::now().timestamp_millis());
    let mut report = Vec::new();
    let mut failed = 0;
    for t in &tables {
        match backup_one(&db, dest.as_ref(), t, &ts, a) {
            Ok(r) => report.push(r),
            Err(e) => {
                failed += 1;
                report.push(json!({"table": t, "error": e.to_string()}));
            }
        }
    }
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"tables": report})).expect("json")
        );
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
    Ok(match (failed, report.len()) {
        (0, _) => ExitCode::Success,
        (f, n) if f < n => ExitCode::Partial,
        _ => ExitCode::Failed,
    })
}

fn backup_one(
    db: &Dynamo,
    dest: &dyn Destination,
    table: &str,
    ts: &str,
    a: &TableBackupArgs,
) -> Result<Value, Error> {
    crate::sink::partition::PartitionValue::parse(table, "table name", "--table")?;
    let desc = db
        .describe(table)?
        .ok_or_else(|| Error::NotFound(format!("dynamodb table {table} ({})", db.region)))?;
    let mut pitr = db.pitr(table)?;
    if a.enable_pitr && !pitr {
        db.enable_pitr(table)?;
        pitr = db.pitr(table)?;
    }
    let dir = format!("backups/tables/{table}/{ts}");
    let segments = a.segments.clamp(1, 1000);
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

pub fn restore(a: &TableRestoreArgs) -> Result<ExitCode, Error> {
    let conn = connection(&a.conn);
    let (parent, name) = open_file(&a.dump, &conn)?;
    let bad =
        |what: &str, m: String| Error::input(format!("{}/{name}/{what}", parent.url()), "$", m);
    let manifest: Value =
        serde_json::from_slice(&parent.read(&format!("{name}/manifest.json")).map_err(
            |e| match e {
                Error::NotFound(p) => Error::input(
                    p,
                    "manifest.json",
                    "no manifest: the dump is incomplete or this is not a dump folder",
                ),
                e => e,
            },
        )?)
        .map_err(|e| bad("manifest.json", format!("not valid JSON: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(bad(
            "manifest.json",
            format!("format {} is not {FORMAT}", manifest["format"]),
        ));
    }
    // Read and verify every file before touching the table.
    let mut files = Vec::new();
    for f in manifest["files"].as_array().into_iter().flatten() {
        let file = f["file"].as_str().unwrap_or_default();
        crate::sink::check_rel_path(file)?;
        let data = parent.read(&format!("{name}/{file}"))?;
        let got = hex::encode(Sha256::digest(&data));
        if Some(got.as_str()) != f["sha256"].as_str() {
            return Err(bad(
                file,
                format!(
                    "checksum mismatch: manifest says {}, file has {got}",
                    f["sha256"]
                ),
            ));
        }
        files.push((file.to_string(), data));
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
    for (file, data) in files {
        let mut batch = Vec::new();
        for (n, line) in std::io::BufReader::new(GzDecoder::new(&data[..]))
            .lines()
            .enumerate()
        {
            let line = line.map_err(|e| bad(&file, format!("not gzip JSON Lines: {e}")))?;
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| bad(&file, format!("line {}: {e}", n + 1)))?;
            let item = dynamo::typed::item_from_json(&v)
                .map_err(|m| bad(&file, format!("line {}: {m}", n + 1)))?;
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
                written += db.batch_write(&a.table, std::mem::take(&mut batch))?;
            }
        }
        written += db.batch_write(&a.table, batch)?;
    }
    let want = manifest["items"].as_u64().unwrap_or(0) as usize;
    if written != want {
        return Err(Error::input(
            "manifest.json",
            "$.items",
            format!("the manifest lists {want} items but the files hold {written}"),
        ));
    }
    eprintln!("restored {written} items into {} ({})", a.table, db.region);
    Ok(ExitCode::Success)
}
