//! DynamoDB for restores and table dumps.
//!
//! Owns what fleetcmdb writes to DynamoDB and how it reads whole tables
//! (typed JSON lives in [`typed`]): paginated parallel Scan by segments, batched
//! writes that retry unprocessed items with backoff, table creation and
//! waiting, point-in-time-recovery status, selection of tables by tag, and
//! DynamoDB's own backups (on-demand backups, point-in-time restores).

use std::time::Duration;

use aws_sdk_dynamodb::types::WriteRequest;

use crate::aws::{connect, sdk_error, AwsSettings};
use crate::error::Error;

pub mod typed;

pub use typed::Item;

pub struct Dynamo {
    pub rt: tokio::runtime::Runtime,
    pub client: aws_sdk_dynamodb::Client,
    pub region: String,
}

impl Dynamo {
    pub fn new(aws: &AwsSettings) -> Result<Self, Error> {
        let (rt, conf) = connect(aws)?;
        let region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let client = aws_sdk_dynamodb::Client::new(&conf);
        Ok(Dynamo { rt, client, region })
    }

    fn err(&self, table: &str, m: String) -> Error {
        Error::Aws {
            scope: format!("dynamodb table {table} ({})", self.region),
            message: m,
        }
    }

    /// The table's description, or `None` when it does not exist.
    pub fn describe(
        &self,
        table: &str,
    ) -> Result<Option<aws_sdk_dynamodb::types::TableDescription>, Error> {
        match self
            .rt
            .block_on(self.client.describe_table().table_name(table).send())
        {
            Ok(out) => Ok(out.table),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.err(table, sdk_error("dynamodb:DescribeTable", &e))),
        }
    }

    /// Waits until the table is ACTIVE (after a create).
    pub fn wait_active(&self, table: &str) -> Result<(), Error> {
        for _ in 0..600 {
            if let Some(d) = self.describe(table)? {
                if d.table_status() == Some(&aws_sdk_dynamodb::types::TableStatus::Active) {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(self.err(table, "did not become ACTIVE within 2 minutes".into()))
    }

    /// Creates a CloneSquad key/value table: partition key `Key` (string), on demand.
    pub fn create_key_table(&self, table: &str) -> Result<(), Error> {
        use aws_sdk_dynamodb::types::*;
        let req = self
            .client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("Key")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("complete"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("Key")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("complete"),
            )
            .billing_mode(BillingMode::PayPerRequest);
        self.rt
            .block_on(req.send())
            .map_err(|e| self.err(table, sdk_error("dynamodb:CreateTable", &e)))?;
        self.wait_active(table)
    }

    /// Every item, read by `segments` parallel Scans, page by page.
    pub fn scan_all(&self, table: &str, segments: i32) -> Result<Vec<Item>, Error> {
        Ok(self
            .scan_all_segments(table, segments)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Every item, by segment (strongly consistent, paginated).
    pub fn scan_all_segments(&self, table: &str, segments: i32) -> Result<Vec<Vec<Item>>, Error> {
        let segments = segments.max(1);
        let futs = (0..segments).map(|seg| {
            let c = self.client.clone();
            let table = table.to_string();
            async move {
                let mut out = Vec::new();
                let mut start = None;
                loop {
                    let mut req = c
                        .scan()
                        .table_name(&table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start.take());
                    if segments > 1 {
                        req = req.segment(seg).total_segments(segments);
                    }
                    let page = req
                        .send()
                        .await
                        .map_err(|e| sdk_error("dynamodb:Scan", &e))?;
                    out.extend(page.items.unwrap_or_default());
                    start = page.last_evaluated_key;
                    if start.is_none() {
                        return Ok::<_, String>(out);
                    }
                }
            }
        });
        let handles: Vec<_> = futs.map(|f| self.rt.spawn(f)).collect();
        let mut all = Vec::new();
        for h in handles {
            let part = self
                .rt
                .block_on(h)
                .map_err(|e| Error::Internal(format!("scan task: {e}")))?
                .map_err(|m| self.err(table, m))?;
            all.push(part);
        }
        Ok(all)
    }

    /// Writes `requests` in batches of 25, retrying unprocessed items with
    /// exponential backoff. Returns the number of requests applied.
    pub fn batch_write(&self, table: &str, requests: Vec<WriteRequest>) -> Result<usize, Error> {
        self.batch_write_in_order(table, requests)
            .map_err(|(_, e)| e)
    }

    /// [`Dynamo::batch_write`], in order, 25 at a time; on failure, how many
    /// of the requests (the first ones) were written before it.
    pub fn batch_write_in_order(
        &self,
        table: &str,
        requests: Vec<WriteRequest>,
    ) -> Result<usize, (usize, Error)> {
        let n = requests.len();
        for (i, chunk) in requests.chunks(25).enumerate() {
            self.write_chunk(table, chunk).map_err(|e| (i * 25, e))?;
        }
        Ok(n)
    }

    fn write_chunk(&self, table: &str, chunk: &[WriteRequest]) -> Result<(), Error> {
        {
            let mut pending = chunk.to_vec();
            let mut delay = Duration::from_millis(50);
            for attempt in 0.. {
                let out = self
                    .rt
                    .block_on(
                        self.client
                            .batch_write_item()
                            .request_items(table, pending.clone())
                            .send(),
                    )
                    .map_err(|e| self.err(table, sdk_error("dynamodb:BatchWriteItem", &e)))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt >= 10 {
                    return Err(self.err(
                        table,
                        format!(
                            "{} items still unprocessed after {attempt} retries",
                            pending.len()
                        ),
                    ));
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
        Ok(())
    }

    /// Whether point-in-time recovery is enabled (`None`: unknown).
    pub fn pitr(&self, table: &str) -> Result<bool, Error> {
        let out = self
            .rt
            .block_on(
                self.client
                    .describe_continuous_backups()
                    .table_name(table)
                    .send(),
            )
            .map_err(|e| self.err(table, sdk_error("dynamodb:DescribeContinuousBackups", &e)))?;
        Ok(pitr_enabled(out.continuous_backups_description()))
    }

    pub fn enable_pitr(&self, table: &str) -> Result<(), Error> {
        use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
        self.rt
            .block_on(
                self.client
                    .update_continuous_backups()
                    .table_name(table)
                    .point_in_time_recovery_specification(
                        PointInTimeRecoverySpecification::builder()
                            .point_in_time_recovery_enabled(true)
                            .build()
                            .expect("complete"),
                    )
                    .send(),
            )
            .map(|_| ())
            .map_err(|e| self.err(table, sdk_error("dynamodb:UpdateContinuousBackups", &e)))
    }

    /// Tables of the region carrying tag `key=value`.
    pub fn tables_with_tag(&self, key: &str, value: &str) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let page = self
                .rt
                .block_on(
                    self.client
                        .list_tables()
                        .set_exclusive_start_table_name(start.take())
                        .send(),
                )
                .map_err(|e| self.err("*", sdk_error("dynamodb:ListTables", &e)))?;
            names.extend(page.table_names.unwrap_or_default());
            start = page.last_evaluated_table_name;
            if start.is_none() {
                break;
            }
        }
        let mut out = Vec::new();
        for t in names {
            let Some(d) = self.describe(&t)? else {
                continue;
            };
            let Some(arn) = d.table_arn() else { continue };
            let mut token: Option<String> = None;
            loop {
                let tags = self
                    .rt
                    .block_on(
                        self.client
                            .list_tags_of_resource()
                            .resource_arn(arn)
                            .set_next_token(token.take())
                            .send(),
                    )
                    .map_err(|e| self.err(&t, sdk_error("dynamodb:ListTagsOfResource", &e)))?;
                if tags
                    .tags()
                    .iter()
                    .any(|tag| tag.key() == key && tag.value() == value)
                {
                    out.push(t.clone());
                    break;
                }
                token = tags.next_token;
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// An SDK time as RFC 3339 text.
fn iso(t: Option<&aws_smithy_types::DateTime>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp_millis(crate::aws::convert::millis(t)?))
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

use serde_json::{json, Value};

impl Dynamo {
    fn refuse_existing(&self, target: &str) -> Result<(), Error> {
        match self.describe(target)? {
            Some(_) => Err(Error::Usage(format!(
                "--table {target}: the table exists; a restore creates a new table"
            ))),
            None => Ok(()),
        }
    }

    /// Makes an on-demand backup of `table` named `name`; its details.
    pub fn create_backup(&self, table: &str, name: &str) -> Result<Value, Error> {
        let out = self
            .rt
            .block_on(
                self.client
                    .create_backup()
                    .table_name(table)
                    .backup_name(name)
                    .send(),
            )
            .map_err(|e| self.err(table, sdk_error("dynamodb:CreateBackup", &e)))?;
        let d = out
            .backup_details()
            .ok_or_else(|| self.err(table, "CreateBackup returned no backup".into()))?;
        Ok(json!({
            "table": table, "arn": d.backup_arn(), "name": d.backup_name(),
            "status": d.backup_status().as_str(), "created": iso(Some(d.backup_creation_date_time())),
            "bytes": d.backup_size_bytes(),
        }))
    }

    /// The on-demand backups of `table`, oldest first.
    pub fn list_backups(&self, table: &str) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let mut start: Option<String> = None;
        // ListBackups pages by the last ARN; 10,000 pages is far past any table's backups.
        for _ in 0..10_000 {
            let page = self
                .rt
                .block_on(
                    self.client
                        .list_backups()
                        .table_name(table)
                        .set_exclusive_start_backup_arn(start.take())
                        .send(),
                )
                .map_err(|e| self.err(table, sdk_error("dynamodb:ListBackups", &e)))?;
            for b in page.backup_summaries() {
                out.push(json!({
                    "table": b.table_name(), "arn": b.backup_arn(), "name": b.backup_name(),
                    "status": b.backup_status().map(|s| s.as_str()), "type": b.backup_type().map(|t| t.as_str()),
                    "created": iso(b.backup_creation_date_time()), "bytes": b.backup_size_bytes(),
                }));
            }
            start = page.last_evaluated_backup_arn;
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Creates `target` from an on-demand backup and waits until it is ACTIVE.
    pub fn restore_from_backup(&self, arn: &str, target: &str) -> Result<(), Error> {
        self.refuse_existing(target)?;
        self.rt
            .block_on(
                self.client
                    .restore_table_from_backup()
                    .backup_arn(arn)
                    .target_table_name(target)
                    .send(),
            )
            .map_err(|e| self.err(target, sdk_error("dynamodb:RestoreTableFromBackup", &e)))?;
        self.wait_active(target)
    }

    /// Creates `target` as `source` was at `at` (`None`: the latest
    /// restorable time) and waits until it is ACTIVE. A time outside the
    /// source's recoverable window is refused before anything is created,
    /// with the window in the message.
    pub fn restore_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), Error> {
        let cb = self
            .rt
            .block_on(
                self.client
                    .describe_continuous_backups()
                    .table_name(source)
                    .send(),
            )
            .map_err(|e| self.err(source, sdk_error("dynamodb:DescribeContinuousBackups", &e)))?;
        let desc = cb.continuous_backups_description();
        if !pitr_enabled(desc) {
            return Err(Error::Usage(format!(
                "--source {source}: point-in-time recovery is off for this table, so it has no recoverable window"
            )));
        }
        let p = desc.and_then(|d| d.point_in_time_recovery_description());
        let ms = |t: Option<&aws_smithy_types::DateTime>| t.and_then(crate::aws::convert::millis);
        let (earliest, latest) = (
            ms(p.and_then(|p| p.earliest_restorable_date_time())),
            ms(p.and_then(|p| p.latest_restorable_date_time())),
        );
        if let Some(at) = at {
            let t = at.timestamp_millis();
            if earliest.is_some_and(|e| t < e) || latest.is_some_and(|l| t > l) {
                let window = format!(
                    "{} to {}",
                    iso(p.and_then(|p| p.earliest_restorable_date_time())),
                    iso(p.and_then(|p| p.latest_restorable_date_time()))
                );
                return Err(Error::Usage(format!(
                    "--point-in-time {}: outside the recoverable window of {source}, {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    window.replace('"', "")
                )));
            }
        }
        self.refuse_existing(target)?;
        let req = self
            .client
            .restore_table_to_point_in_time()
            .source_table_name(source)
            .target_table_name(target);
        let req = match at {
            Some(at) => req.restore_date_time(aws_smithy_types::DateTime::from_millis(
                at.timestamp_millis(),
            )),
            None => req.use_latest_restorable_time(true),
        };
        self.rt
            .block_on(req.send())
            .map_err(|e| self.err(target, sdk_error("dynamodb:RestoreTableToPointInTime", &e)))?;
        self.wait_active(target)
    }
}

/// PITR status from a DescribeContinuousBackups answer.
pub fn pitr_enabled(d: Option<&aws_sdk_dynamodb::types::ContinuousBackupsDescription>) -> bool {
    d.and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        == Some(&aws_sdk_dynamodb::types::PointInTimeRecoveryStatus::Enabled)
}
