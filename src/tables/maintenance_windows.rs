//! `maintenance_windows`: the SSM maintenance windows that apply to each fleet of a group.
//!
//! The original system called this table `maintenance-windows`, a name Athena
//! cannot parse; ours is `maintenance_windows`.

use crate::schema::dsl::*;
pub(crate) mod periods;

use crate::calls::ssm::{DESCRIBE_MAINTENANCE_WINDOWS, LIST_WINDOW_TAGS};
use serde_json::Value;

use super::resolver::*;
use super::Table;
use crate::schema::TableDef;

static WINDOW: [Column; 14] = [
    s("windowid", "SSM maintenance window id."),
    s("name", "Window name, for example CS-mygroup-Mainfleet."),
    s("description", "Window description, as given to SSM."),
    s("schedule", "cron() or rate() expression."),
    s(
        "scheduletimezone",
        "IANA time zone of the schedule (UTC when empty).",
    ),
    c("duration", Bigint, "Window length in hours."),
    c(
        "cutoff",
        Bigint,
        "Hours before the end when no new task starts.",
    ),
    c(
        "scheduleoffset",
        Int,
        "Days SSM waits after each cron occurrence before the window starts.",
    ),
    c(
        "startdate",
        Timestamp,
        "When the window becomes active (no period starts before it).",
    ),
    c(
        "enddate",
        Timestamp,
        "When the window becomes inactive (no period runs after it).",
    ),
    c("enabled", Boolean, "Whether the window is enabled."),
    c(
        "nextexecutiontime",
        Timestamp,
        "Next start as SSM reported it (null when SSM gave none).",
    )
    .volatile(),
    c(
        "computednextexecutiontime",
        Timestamp,
        "Next start computed by fleetcmdb from the schedule, offset and active dates; SSM reported one when SSM gave no schedule; null when inactive or disabled.",
    )
    .volatile(),
    c("tags", Map, "Window tags."),
];

static NEXT: [Column; 5] = [
    c(
        "starttime",
        Timestamp,
        "Start of the current or next maintenance period.",
    ),
    c("endtime", Timestamp, "End of that period."),
    c(
        "matchingwindow",
        Struct(&WINDOW),
        "The window that defines that period.",
    ),
    s(
        "matchingwindowmessage",
        "Why that window applies to this fleet.",
    ),
    s(
        "nextwindowmessage",
        "Human-readable summary of the next period.",
    ),
];

pub static MAINTENANCE_WINDOWS: Table = Table {
    def: TableDef {
        name: "maintenance_windows",
        doc: "SSM maintenance windows that apply to each fleet of a group.",
        grain: "fleet (the main fleet __main__ and each subfleet)",
        partitioning: Partitioning::Group,
        calls: &[],
        identity: &["fleet"],
        columns: &[
            s(
                "fleet",
                "__main__ for the main fleet, else the subfleet name.",
            ),
            c(
                "maintenancewindows",
                Array(&Struct(&WINDOW)),
                "Every window that applies to the fleet; periods are cumulative.",
            ),
            c(
                "ismaintenancetime",
                Boolean,
                "Whether the fleet was in a maintenance period at collection time.",
            )
            .volatile(),
            c(
                "nextmaintenancewindowdetails",
                Struct(&NEXT),
                "The current or next maintenance period, if any.",
            )
            .volatile(),
            Column::last_updated(),
        ],
    },
    resolver: Resolver::PerGroup {
        prepare,
        reads: &[&DESCRIBE_MAINTENANCE_WINDOWS, &LIST_WINDOW_TAGS],
    },
};

/// Every window of the account/region with its tags, read once.
struct Windows(Vec<periods::Window>);

fn prepare<'a>(ctx: &ScopeContext<'a>) -> Result<Box<dyn GroupRows + 'a>, crate::error::Error> {
    Ok(Box::new(Windows(periods::load(ctx.inputs)?)))
}

impl GroupRows for Windows {
    fn rows(
        &self,
        ctx: &ScopeContext,
        group: &GroupContext,
    ) -> Result<Vec<Value>, crate::error::Error> {
        periods::fleet_rows(&self.0, ctx.naming, group.name, group.subfleets, ctx.now_ms)
    }
}
