//! The table registry: the tables users query, each declared once.
//!
//! Owns the list [`ALL`]. A table is one value, [`Table`], in one file: its
//! columns and partitioning ([`TableDef`]) and its [`Resolver`] (the
//! documents its rows come from, how they become rows, how rows find their
//! partition, and the API calls that `iam-policy` grants). One line in
//! [`registry!`] gives it an Arrow schema, Parquet files, DDL in `ddl/`, a
//! section of `docs/columns.md` and a place in every export.
//!
//! This module must not know how rows reach files (that is
//! `crate::collect` and `crate::sink`).

mod key_value;
pub mod resolver;

// The tables' modules, declared here rather than inside `registry!` so that
// rustfmt and every other tool sees them.
mod accounts;
mod configuration;
mod discovery;
mod instances;
mod maintenance_windows;
mod scheduler;
mod security_groups;
mod volumes;

pub(crate) use key_value::{expirations, items as key_value_items, key_value_rows};
pub(crate) use maintenance_windows::periods::MAIN_FLEET;
pub use resolver::Resolver;

use crate::schema::TableDef;

/// A table: what users query, and how it is filled.
pub struct Table {
    pub def: TableDef,
    pub resolver: Resolver,
}

impl std::ops::Deref for Table {
    type Target = TableDef;
    fn deref(&self) -> &TableDef {
        &self.def
    }
}

impl crate::schema::Calls for Table {
    /// The calls the rows are read from, then the others the table declares.
    fn calls(&self) -> Vec<crate::schema::Call> {
        let own = self.resolver.reads().into_iter().map(|c| c.call);
        own.chain(self.def.calls.iter().copied()).collect()
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.def.name)
            .finish()
    }
}

/// Declares the registry from one line per table: its id, module and
/// declaration. The id enum, [`ALL`] and [`COUNT`] come from the same list,
/// so they cannot disagree, and nothing else has a size of its own.
macro_rules! registry {
    ($($id:ident => $module:ident :: $def:ident),* $(,)?) => {
        $(pub use $module::$def;)*

        /// A table's index in [`ALL`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum TableId {
            $($id),*
        }

        /// How many tables there are.
        pub const COUNT: usize = [$(stringify!($id)),*].len();

        /// Every table, in the order they are collected, written and documented.
        pub const ALL: [&Table; COUNT] = [$(&$def),*];

        impl TableId {
            pub const ALL: [TableId; COUNT] = [$(TableId::$id),*];
        }
    };
}

registry! {
    Discovery => discovery::DISCOVERY,
    Configuration => configuration::CONFIGURATION,
    Scheduler => scheduler::SCHEDULER,
    Instances => instances::INSTANCES,
    Volumes => volumes::VOLUMES,
    SecurityGroups => security_groups::SECURITY_GROUPS,
    MaintenanceWindows => maintenance_windows::MAINTENANCE_WINDOWS,
    Accounts => accounts::ACCOUNTS,
}

impl TableId {
    pub fn def(self) -> &'static Table {
        ALL[self as usize]
    }

    /// Its columns and partitioning alone: how the writer knows it.
    pub fn schema(self) -> &'static TableDef {
        &ALL[self as usize].def
    }
}

/// Every table's schema, in [`ALL`]'s order (what a partition writer of
/// every table is made with).
pub fn schemas() -> impl Iterator<Item = &'static TableDef> {
    TableId::ALL.into_iter().map(TableId::schema)
}

/// The calls the tables read pages of, in registry order (a call that
/// takes another's ids comes after it), each once.
pub fn page_calls() -> Vec<&'static crate::calls::ApiCall> {
    let mut calls: Vec<&'static crate::calls::ApiCall> = Vec::new();
    for t in ALL {
        if let Resolver::Pages { call, .. } = t.resolver {
            if !calls.contains(&call) {
                calls.push(call);
            }
        }
    }
    calls
}

/// Every call of an account/region: those that find the groups
/// ([`GROUP_FINDERS`](crate::calls::GROUP_FINDERS)), then those the tables
/// read, each after the calls whose answers give its ids, each once. The
/// live source makes these and no other; `gen-snapshot` writes them.
pub fn regional_calls() -> Vec<&'static crate::calls::ApiCall> {
    use crate::calls::{ApiCall, Ids, Input, GROUP_FINDERS};
    fn needs(c: &'static ApiCall) -> Vec<&'static ApiCall> {
        match &c.input {
            Input::Region => Vec::new(),
            Input::Referenced { from, .. } | Input::Each(Ids::From(from, _)) => vec![*from],
            Input::Each(Ids::GroupTables) => GROUP_FINDERS.to_vec(),
        }
    }
    fn add(c: &'static ApiCall, out: &mut Vec<&'static ApiCall>) {
        if out.contains(&c) {
            return;
        }
        for n in needs(c) {
            add(n, out);
        }
        out.push(c);
    }
    let mut out = Vec::new();
    for c in GROUP_FINDERS {
        add(c, &mut out);
    }
    for t in ALL {
        for c in t.resolver.reads() {
            add(c, &mut out);
        }
    }
    out
}

/// Table `t`'s files under an export, each with its partition (read from
/// its folder names), in partition order; files of another partitioning
/// are left out.
pub fn live_files(
    dest: &dyn crate::sink::Destination,
    t: &TableDef,
) -> Result<Vec<(crate::partition::PartitionKey, String)>, crate::error::Error> {
    let mut files: Vec<(crate::partition::PartitionKey, String)> = dest
        .list(&crate::partition::table_dir(t))?
        .into_iter()
        .filter_map(|p| {
            let key = crate::partition::partition_of_file(&p)?;
            (key.partitioning() == t.partitioning).then_some((key, p))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Partitions present under an export, from the folder names of each table.
pub fn live_partitions(
    dest: &dyn crate::sink::Destination,
) -> Result<Vec<crate::partition::PartitionKey>, crate::error::Error> {
    let mut set = std::collections::BTreeSet::new();
    for t in ALL {
        set.extend(live_files(dest, t)?.into_iter().map(|(key, _)| key));
    }
    Ok(set.into_iter().collect())
}

pub fn by_name(name: &str) -> Option<&'static Table> {
    ALL.iter().copied().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ColumnSource, ColumnType, PARTITION_COLUMNS};

    fn walk(path: &str, cols: &[Column], problems: &mut Vec<String>) {
        let mut seen = std::collections::HashSet::new();
        for c in cols {
            let p = format!("{path}.{}", c.name);
            let name_ok = !c.name.is_empty()
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                problems.push(format!("{p}: name must be lowercase [a-z0-9_]"));
            }
            if !seen.insert(c.name) {
                problems.push(format!("{p}: duplicate column"));
            }
            check_doc(&p, c.doc, problems);
            if PARTITION_COLUMNS.contains(&c.name) && path.matches('.').count() == 0 {
                problems.push(format!(
                    "{p}: partition columns are not declared as columns"
                ));
            }
            if path.contains('.') && c.source != ColumnSource::Field {
                problems.push(format!("{p}: derived columns are top-level only"));
            }
            match c.ty {
                ColumnType::Struct(ch) => walk(&p, ch, problems),
                ColumnType::Array(ColumnType::Struct(ch)) => walk(&p, ch, problems),
                _ => {}
            }
        }
    }

    fn check_doc(p: &str, doc: &str, problems: &mut Vec<String>) {
        if doc.trim().len() < 3 || !doc.ends_with('.') {
            problems.push(format!("{p}: doc must be a sentence ending with '.'"));
        }
        if doc.contains('\'') || doc.contains('\n') || doc.contains('|') {
            problems.push(format!(
                "{p}: doc must not contain quotes, newlines or pipes (DDL COMMENT, Markdown)"
            ));
        }
    }

    #[test]
    fn every_table_is_named_and_documented() {
        let mut problems = Vec::new();
        let mut names = std::collections::HashSet::new();
        for t in ALL {
            assert!(names.insert(t.name), "duplicate table {}", t.name);
            assert!(
                t.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "table name {} must be lowercase with underscores (Athena cannot parse '-')",
                t.name
            );
            check_doc(t.name, t.doc, &mut problems);
            assert!(!t.grain.is_empty());
            walk(t.name, t.columns, &mut problems);
            let last = t.columns.last().unwrap();
            assert_eq!(
                last.name, "metadatarecordlastupdatedat",
                "{} must end with the run time",
                t.name
            );
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn regional_calls_come_after_those_that_give_their_ids() {
        use crate::calls::{Ids, Input, GROUP_FINDERS};
        let calls = regional_calls();
        let at = |c: &crate::calls::ApiCall| calls.iter().position(|x| *x == c);
        for (i, c) in calls.iter().copied().enumerate() {
            assert_eq!(at(c), Some(i), "{c:?} is listed once");
            let needs = match &c.input {
                Input::Region => vec![],
                Input::Referenced { from, .. } | Input::Each(Ids::From(from, _)) => vec![*from],
                Input::Each(Ids::GroupTables) => GROUP_FINDERS.to_vec(),
            };
            for n in needs {
                assert!(at(n).is_some_and(|j| j < i), "{c:?} comes after {n:?}");
            }
        }
        for t in ALL {
            for c in t.resolver.reads() {
                assert!(at(c).is_some(), "{}: {c:?} is made", t.name);
            }
        }
        assert!(GROUP_FINDERS.iter().all(|c| at(c).is_some()));
        // Every call of a region is in exactly one table's or the finders'.
        let stems: std::collections::HashSet<_> = calls.iter().map(|c| c.stem).collect();
        assert_eq!(stems.len(), calls.len(), "each call has its own stem");
    }

    #[test]
    fn table_ids_match_registry_order() {
        for id in TableId::ALL {
            assert_eq!(ALL[id as usize].name, id.def().name);
        }
        assert_eq!(by_name("instances").unwrap().name, "instances");
        assert!(by_name("maintenance-windows").is_none());
    }

    #[test]
    fn required_instance_fields_are_declared() {
        for f in "amilaunchindex architecture blockdevicemappings capacityreservationspecification clienttoken cpuoptions ebsoptimized enasupport enclaveoptions hibernationoptions hypervisor iaminstanceprofile imageid instanceid instancelifecycle instancetype keyname launchtime metadataoptions monitoring networkinterfaces placement platform platformdetails privatednsname privateipaddress productcodes publicdnsname publicipaddress rootdevicename rootdevicetype securitygroups sourcedestcheck spotinstancerequestid state statereason statetransitionreason subnetid virtualizationtype vpcid tags _hostname _subfleetname".split(' ') {
            assert!(INSTANCES.column(f).is_some(), "instances.{f} missing");
        }
        assert_eq!(INSTANCES.column("tags").unwrap().ty, ColumnType::Map);
    }

    #[test]
    fn discovery_keeps_the_original_column_names() {
        for f in "clonesquadversion installtime interactapigwurl interactapi interactqueue configurationtable schedulertable statetable eventtable longtermeventtable alarmstateec2table apigwconfiguration apigwvpcendpointdnsentry configurationurls customizationzipparameters dynamodbconfiguration loglevels logretentionduration loggings3path metadataandbackups3path lambdamemorysize permissionsboundary timezone usersuppliedjsonmetadata xraydiagnosis discoverylambdaiamrolearn interactlambdaiamrolearn mainlambdaiamrolearn internalerrorinteractalarmarn internalerrormainalarmarn internalwarninginteractalarmarn internalwarningmainalarmarn lackofcpucreditalarmarn accountarn accountemail accountname accountstatus accountjoinedmethod accountjoinedtimestamp subfleets parameters usermetadata".split(' ') {
            assert!(DISCOVERY.column(f).is_some(), "discovery.{f} missing");
        }
    }
}
