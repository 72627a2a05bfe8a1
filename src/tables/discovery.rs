//! `discovery`: one row per group, from its CloudFormation stack and its account.
//!
//! The deployment columns keep the original system's names (its stack
//! parameters and outputs, lowercased) so that its documented views keep
//! working. Every parameter and output is also in `parameters`.

use crate::schema::dsl::*;
mod row;

use serde_json::Value;

use super::resolver::*;
use super::Table;
use crate::schema::TableDef;

pub static DISCOVERY: Table = Table {
    def: TableDef {
        name: "discovery",
        doc: "Deployment parameters and account context of each group.",
        grain: "group",
        partitioning: Partitioning::Group,
        calls: &[Call::caller("organizations:DescribeAccount").on(Resource::OrgAccounts)],
        identity: &[],
        columns: &[
            s("clonesquadversion", "Deployed CloneSquad version."),
            c("installtime", Timestamp, "When the group was deployed."),
            s("interactapigwurl", "URL of the Interact API Gateway."),
            s("interactapi", "Interact API id."),
            s("interactqueue", "URL of the Interact SQS queue."),
            s(
                "configurationtable",
                "Name of the configuration DynamoDB table.",
            ),
            s("schedulertable", "Name of the scheduler DynamoDB table."),
            s("statetable", "Name of the state DynamoDB table."),
            s("eventtable", "Name of the event DynamoDB table."),
            s(
                "longtermeventtable",
                "Name of the long-term event DynamoDB table.",
            ),
            s(
                "alarmstateec2table",
                "Name of the EC2 alarm state DynamoDB table.",
            ),
            s("apigwconfiguration", "API Gateway configuration parameter."),
            s(
                "apigwvpcendpointdnsentry",
                "DNS entry of the private API Gateway VPC endpoint.",
            ),
            s("configurationurls", "Configuration URLs parameter."),
            s(
                "customizationzipparameters",
                "Customization zip parameters.",
            ),
            s("dynamodbconfiguration", "DynamoDB configuration parameter."),
            s("loglevels", "Log levels parameter."),
            s("logretentionduration", "Log retention in days."),
            s("loggings3path", "S3 path for logs."),
            s(
                "metadataandbackups3path",
                "S3 path for metadata and backups.",
            ),
            s("lambdamemorysize", "Lambda memory size in MB."),
            s("permissionsboundary", "IAM permissions boundary ARN."),
            s("timezone", "Time zone of the group."),
            s(
                "usersuppliedjsonmetadata",
                "User-supplied JSON metadata, verbatim.",
            ),
            s("xraydiagnosis", "Whether X-Ray diagnosis is enabled."),
            s(
                "discoverylambdaiamrolearn",
                "IAM role of the discovery Lambda.",
            ),
            s(
                "interactlambdaiamrolearn",
                "IAM role of the interact Lambda.",
            ),
            s("mainlambdaiamrolearn", "IAM role of the main Lambda."),
            s(
                "internalerrorinteractalarmarn",
                "ARN of the interact internal-error alarm.",
            ),
            s(
                "internalerrormainalarmarn",
                "ARN of the main internal-error alarm.",
            ),
            s(
                "internalwarninginteractalarmarn",
                "ARN of the interact internal-warning alarm.",
            ),
            s(
                "internalwarningmainalarmarn",
                "ARN of the main internal-warning alarm.",
            ),
            s(
                "lackofcpucreditalarmarn",
                "ARN of the lack-of-CPU-credit alarm.",
            ),
            s(
                "stackname",
                "CloudFormation stack of the group, when found.",
            ),
            s("stackstatus", "Status of that stack."),
            s("accountarn", "ARN of the account in AWS Organizations."),
            s("accountemail", "Email of the account."),
            s("accountname", "Name of the account."),
            s(
                "accountstatus",
                "Status of the account as Organizations reported it (retired on 2026-09-09 in favour of State).",
            ),
            s(
                "accountstate",
                "State of the account (ACTIVE, SUSPENDED, PENDING_CLOSURE or CLOSED), from State, else Status.",
            ),
            s(
                "accountjoinedmethod",
                "How the account joined the organization.",
            ),
            c(
                "accountjoinedtimestamp",
                Timestamp,
                "When the account joined the organization.",
            ),
            c(
                "subfleets",
                STRING_ARRAY,
                "Subfleet names seen on the instances of the group.",
            ),
            c(
                "configurationtablepitr",
                Boolean,
                "Whether point-in-time recovery is on for the configuration table (null: unknown).",
            ),
            c(
                "schedulertablepitr",
                Boolean,
                "Whether point-in-time recovery is on for the scheduler table (null: unknown).",
            ),
            c(
                "parameters",
                Map,
                "Every stack parameter and output, by name.",
            ),
            c(
                "usermetadata",
                Map,
                "Keys of the user-supplied JSON metadata, when it is an object.",
            ),
            s(
                "backupschedule",
                "The backup schedule in force: the group backup.cron key, else the default.",
            ),
            s(
                "backuptimezone",
                "Time zone of a localcron() backup schedule: TimeZone, else the region zone.",
            ),
            c(
                "lastbackuptime",
                Timestamp,
                "When the newest backup of the group was taken, before this run.",
            )
            .volatile(),
            c(
                "nextbackuptime",
                Timestamp,
                "When the backup schedule next falls after this run (null: disabled).",
            )
            .volatile(),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::PerGroup {
        prepare,
        reads: &[
            &crate::calls::cloudformation::DESCRIBE_STACKS,
            &crate::calls::dynamodb::DESCRIBE_CONTINUOUS_BACKUPS,
        ],
    },
};

/// The account's Organizations record, read once per account/region.
struct Discovery {
    account: Option<Value>,
}

fn prepare<'a>(ctx: &ScopeContext<'a>) -> Result<Box<dyn GroupRows + 'a>, crate::error::Error> {
    Ok(Box::new(Discovery {
        account: ctx
            .inputs
            .account()?
            .map(crate::documents::Doc::into_value)
            .transpose()?,
    }))
}

impl GroupRows for Discovery {
    fn rows(
        &self,
        ctx: &ScopeContext,
        group: &GroupContext,
    ) -> Result<Vec<Value>, crate::error::Error> {
        let mut r = row::row(
            ctx.stacks.get(group.name),
            self.account.as_ref(),
            group.subfleets,
        );
        for (col, template) in [
            ("configurationtablepitr", &ctx.naming.configuration_table),
            ("schedulertablepitr", &ctx.naming.scheduler_table),
        ] {
            let table = crate::documents::Naming::expand(template, group.name);
            let answer = ctx
                .inputs
                .answer(&crate::calls::dynamodb::DESCRIBE_CONTINUOUS_BACKUPS, &table)?;
            let status = row::pitr_status(answer)?;
            r[col] = status.map(Value::Bool).unwrap_or_default();
        }
        if let Some(h) = ctx.backups {
            backup_columns(&mut r, ctx, group, h)?;
        }
        Ok(vec![r])
    }
}

/// The group's backup schedule, its zone, its last and next backups.
fn backup_columns(
    r: &mut Value,
    ctx: &ScopeContext,
    group: &GroupContext,
    history: &dyn BackupHistory,
) -> Result<(), crate::error::Error> {
    use crate::backup::policy::{backup_cron, group_time_zone, next_backup};
    use chrono::{DateTime, SecondsFormat, Utc};
    let config = group
        .key_values
        .get(super::CONFIGURATION.name)
        .map_or(&[][..], Vec::as_slice);
    let (items, expires) = (super::key_value_items(config), super::expirations(config));
    let expr = backup_cron(&items, &expires, ctx.now_ms, history.default_schedule());
    let region = ctx.inputs.scope().region.to_string();
    let tz = group_time_zone(r["timezone"].as_str(), &region);
    let time = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms);
    let newest = history.newest(group.name, ctx.now_ms)?.and_then(time);
    let next = time(ctx.now_ms).and_then(|now| next_backup(&expr, &tz, newest, now));
    let text = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true));
    r["backupschedule"] = Value::String(expr);
    r["backuptimezone"] = Value::String(tz);
    r["lastbackuptime"] = newest.map(text).unwrap_or_default();
    r["nextbackuptime"] = next.map(text).unwrap_or_default();
    Ok(())
}
