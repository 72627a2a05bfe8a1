//! Athena: runs statements, one per StartQueryExecution, and waits for each.
//!
//! Owns the query lifecycle: start in a workgroup (with an optional result
//! location and the database as context), poll GetQueryExecution with a
//! growing delay until SUCCEEDED, FAILED or CANCELLED (or a timeout, after
//! which the query is stopped), and read results page by page. A failed
//! statement is reported with Athena's reason and the statement itself.

use std::time::{Duration, Instant};

use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};

use crate::aws::{connect, sdk_error, AwsSettings};
use crate::error::Error;

/// `ddl --apply`: where and how the statements run in Athena.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub workgroup: String,
    pub output_location: Option<String>,
    pub catalog: String,
    pub timeout: std::time::Duration,
    pub dry_run: bool,
}

pub struct Athena {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_athena::Client,
    s: ApplySettings,
}

impl Athena {
    pub fn new(aws: &AwsSettings, s: &ApplySettings) -> Result<Self, Error> {
        let (rt, conf) = connect(aws)?;
        let client = aws_sdk_athena::Client::new(&conf);
        Ok(Athena {
            rt,
            client,
            s: s.clone(),
        })
    }

    fn fail(&self, sql: &str, message: String) -> Error {
        Error::Aws {
            scope: format!("athena workgroup {}", self.s.workgroup),
            message: format!("{message}\n  statement: {}", sql.replace('\n', "\n    ")),
        }
    }

    /// Runs one statement with `database` as its context; returns the query id.
    pub fn run(&self, sql: &str, database: Option<&str>) -> Result<String, Error> {
        self.rt.block_on(self.run_async(sql, database))
    }

    async fn run_async(&self, sql: &str, database: Option<&str>) -> Result<String, Error> {
        let mut ctx = QueryExecutionContext::builder().catalog(&self.s.catalog);
        if let Some(db) = database {
            ctx = ctx.database(db);
        }
        let mut req = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.s.workgroup)
            .query_execution_context(ctx.build());
        if let Some(o) = &self.s.output_location {
            req =
                req.result_configuration(ResultConfiguration::builder().output_location(o).build());
        }
        let id = req
            .send()
            .await
            .map_err(|e| self.fail(sql, sdk_error("athena:StartQueryExecution", &e)))?
            .query_execution_id()
            .ok_or_else(|| self.fail(sql, "StartQueryExecution returned no id".into()))?
            .to_string();
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let out = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| self.fail(sql, sdk_error("athena:GetQueryExecution", &e)))?;
            let status = out.query_execution().and_then(|q| q.status());
            let state = status.and_then(|s| s.state()).cloned();
            let reason = status
                .and_then(|s| s.state_change_reason())
                .unwrap_or("no reason given");
            match state {
                Some(QueryExecutionState::Succeeded) => return Ok(id),
                Some(QueryExecutionState::Failed) => {
                    return Err(self.fail(sql, format!("query {id} FAILED: {reason}")))
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(self.fail(sql, format!("query {id} was CANCELLED: {reason}")))
                }
                _ => {}
            }
            if started.elapsed() > self.s.timeout {
                let _ = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await;
                return Err(self.fail(
                    sql,
                    format!(
                        "query {id} did not finish within {} s; stopped",
                        self.s.timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(2));
        }
    }

    /// Runs a query and returns its rows (without the header row), as text.
    pub fn rows(&self, sql: &str, database: Option<&str>) -> Result<Vec<Vec<String>>, Error> {
        let id = self.run(sql, database)?;
        self.rt.block_on(async {
            let mut rows = Vec::new();
            let mut token: Option<String> = None;
            let mut first = true;
            loop {
                let page = self
                    .client
                    .get_query_results()
                    .query_execution_id(&id)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| self.fail(sql, sdk_error("athena:GetQueryResults", &e)))?;
                let names: Vec<String> = page
                    .result_set()
                    .and_then(|r| r.result_set_metadata())
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| c.name().to_ascii_lowercase())
                            .collect()
                    })
                    .unwrap_or_default();
                for row in page.result_set().map(|r| r.rows()).unwrap_or_default() {
                    let vals: Vec<String> = row
                        .data()
                        .iter()
                        .map(|d| d.var_char_value().unwrap_or("").to_string())
                        .collect();
                    // Athena's first row of a SELECT repeats the column names.
                    let header = first
                        && !names.is_empty()
                        && vals
                            .iter()
                            .map(|v| v.to_ascii_lowercase())
                            .eq(names.iter().cloned());
                    first = false;
                    if !header {
                        rows.push(vals);
                    }
                }
                match page.next_token() {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            Ok(rows)
        })
    }
}
