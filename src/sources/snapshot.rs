//! A directory of what the AWS CLI printed (`--snapshot DIR`).
//!
//! Owns the snapshot layout, and writing it ([`write_scope`], used by
//! `fleetcmdb gen-snapshot`). One folder per account, one per region inside:
//!
//! ```text
//! DIR/{accountid}/organizations-describe-account.json          aws organizations describe-account
//! DIR/{accountid}/organizations-list-parents-{id}.json         --child-id {id} (the account, then each OU up to the root)
//! DIR/{accountid}/organizations-describe-organizational-unit-{ouid}.json
//! DIR/{accountid}/organizations-list-tags-for-resource.json    --resource-id {accountid}
//! DIR/{accountid}/{region}/{stem}*.json                         the pages of each call of the region
//!                                                              (`crate::calls`: `ec2-describe-instances`
//!                                                              for `aws ec2 describe-instances`), one
//!                                                              file per page, or one
//! DIR/{accountid}/{region}/{stem}-{id}.json                     the answer of a call made per id
//!                                                              (`dynamodb-scan-{table}.json` for
//!                                                              `aws dynamodb scan --table-name {table}`)
//! ```
//! The stems are the calls' own (`tables::regional_calls`): nothing here
//! names one but `dynamodb-list-tables`, which older snapshots lack: without
//! it, the tables are those the snapshot has scans of. Every file is
//! optional except that a group's two DynamoDB scans must be there for the
//! group to export.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{push_scope, Source};
use serde_json::Value;

use crate::calls::dynamodb::{LIST_TABLES, SCAN};
use crate::calls::{self, ApiCall, Input};
use crate::documents::{AccountInputs, Body, Doc, Naming, ScopeInputs};
use crate::error::Error;
use crate::partition::Failure;
use crate::partition::{PartitionValue, Scope};
use crate::tables;

pub const ACCOUNT_FILE: &str = "organizations-describe-account.json";
pub const PARENTS: &str = "organizations-list-parents-";
pub const OU: &str = "organizations-describe-organizational-unit-";
pub const ACCOUNT_TAGS: &str = "organizations-list-tags-for-resource.json";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct Snapshot {
    root: PathBuf,
    max_page_bytes: u64,
}

impl Snapshot {
    pub fn new(root: impl Into<PathBuf>, max_page_bytes: u64) -> Result<Self, Error> {
        let root = root.into();
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "--snapshot {}: not a directory",
                root.display()
            )));
        }
        Ok(Snapshot {
            root,
            max_page_bytes,
        })
    }
}

/// The folders of `dir`, sorted, and the entries that are symbolic links
/// (never followed: a link could lead anywhere on the machine).
fn subdirs(dir: &Path) -> Result<(Vec<String>, Vec<String>), Error> {
    let (mut dirs, mut links) = (Vec::new(), Vec::new());
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let ft = e.file_type().map_err(|err| Error::io(e.path(), err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ft.is_dir() {
            dirs.push(name);
        } else if ft.is_symlink() {
            links.push(name);
        }
    }
    dirs.sort();
    links.sort();
    Ok((dirs, links))
}

fn link_failure(scope: String, path: &Path) -> Failure {
    Failure {
        scope,
        group: None,
        error: Error::input(
            path.display().to_string(),
            "the folder",
            "a symbolic link: not followed (copy the folder into the snapshot instead)",
        ),
    }
}

impl Source for Snapshot {
    fn describe(&self) -> String {
        format!("snapshot {}", self.root.display())
    }

    fn scopes(&self) -> Result<(Vec<Scope>, Vec<Failure>), Error> {
        let mut scopes = Vec::new();
        let mut failures = Vec::new();
        let (accounts, links) = subdirs(&self.root)?;
        for l in links {
            failures.push(link_failure(l.clone(), &self.root.join(&l)));
        }
        for a in accounts {
            let adir = self.root.join(&a);
            if !crate::partition::is_account_id(&a) {
                failures.push(Failure {
                    scope: a.clone(),
                    group: None,
                    error: Error::input(
                        adir.display().to_string(),
                        "the folder name",
                        format!("{a:?} is not an account id: a snapshot holds one folder per 12-digit account id"),
                    ),
                });
                continue;
            }
            let accountid = PartitionValue::parse(
                &a,
                "account id",
                &format!("snapshot folder {}", adir.display()),
            )?;
            let (regions, links) = subdirs(&adir)?;
            for l in links {
                failures.push(link_failure(format!("{a}/{l}"), &adir.join(&l)));
            }
            for r in regions {
                let origin = format!("snapshot folder {}", adir.join(&r).display());
                push_scope(&mut scopes, &mut failures, &accountid, &r, &origin);
            }
        }
        Ok((scopes, failures))
    }

    fn account_inputs<'s>(
        &'s self,
        account: &PartitionValue,
    ) -> Result<Box<dyn AccountInputs + 's>, Error> {
        Ok(Box::new(SnapshotAccount {
            accountid: account.clone(),
            dir: self.root.join(account.as_str()),
            max_page_bytes: self.max_page_bytes,
        }))
    }

    fn inputs<'s>(&'s self, scope: &Scope) -> Result<Box<dyn ScopeInputs + 's>, Error> {
        let account_dir = self.root.join(scope.accountid.as_str());
        let dir = account_dir.join(scope.region.as_str());
        let mut files: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        files.sort();
        Ok(Box::new(SnapshotScope {
            scope: scope.clone(),
            account_dir,
            dir,
            files,
            max_page_bytes: self.max_page_bytes,
        }))
    }
}

struct SnapshotScope {
    scope: Scope,
    account_dir: PathBuf,
    dir: PathBuf,
    files: Vec<String>,
    max_page_bytes: u64,
}

/// Reads one document of at most `max` bytes.
fn read_doc(path: &Path, max: u64) -> Result<Doc, Error> {
    // Regular files only (a FIFO would block forever), size checked first.
    let mut bytes = crate::input::read_file(path, max)?;
    // Windows PowerShell writes a UTF-8 byte-order mark; JSON has none.
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    Ok(Doc {
        origin: path.display().to_string(),
        body: Body::Bytes(bytes),
    })
}

/// The Organizations files of one account folder.
struct SnapshotAccount {
    accountid: PartitionValue,
    dir: PathBuf,
    max_page_bytes: u64,
}

impl SnapshotAccount {
    /// `name`, if the account folder has it. `id` (an Organizations id)
    /// becomes part of a file name only once checked.
    fn optional(&self, name: &str, id: Option<&str>) -> Result<Option<Doc>, Error> {
        let name = match id {
            Some(id) => {
                let id =
                    PartitionValue::parse(id, "Organizations id", &self.dir.display().to_string())?;
                format!("{name}{id}.json")
            }
            None => name.to_string(),
        };
        let p = self.dir.join(name);
        if p.exists() {
            read_doc(&p, self.max_page_bytes).map(Some)
        } else {
            Ok(None)
        }
    }
}

impl AccountInputs for SnapshotAccount {
    fn accountid(&self) -> &PartitionValue {
        &self.accountid
    }
    fn account(&self) -> Result<Option<Doc>, Error> {
        self.optional(ACCOUNT_FILE, None)
    }
    fn parents(&self, child_id: &str) -> Result<Option<Doc>, Error> {
        self.optional(PARENTS, Some(child_id))
    }
    fn organizational_unit(&self, ou_id: &str) -> Result<Option<Doc>, Error> {
        self.optional(OU, Some(ou_id))
    }
    fn tags(&self) -> Result<Option<Doc>, Error> {
        self.optional(ACCOUNT_TAGS, None)
    }
}

impl SnapshotScope {
    fn read(&self, path: &Path) -> Result<Doc, Error> {
        read_doc(path, self.max_page_bytes)
    }

    /// Files `{prefix}.json` or `{prefix}-….json`, in name order.
    fn pages(&self, prefix: &str) -> impl Iterator<Item = PathBuf> + '_ {
        let exact = format!("{prefix}.json");
        let paged = format!("{prefix}-");
        self.files
            .iter()
            .filter(move |f| **f == exact || f.starts_with(&paged))
            .map(|f| self.dir.join(f))
    }

    fn each(&self, prefix: &str, f: &mut dyn FnMut(Doc) -> Result<(), Error>) -> Result<(), Error> {
        for p in self.pages(prefix) {
            f(self.read(&p)?)?;
        }
        Ok(())
    }
}

impl ScopeInputs for SnapshotScope {
    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn account(&self) -> Result<Option<Doc>, Error> {
        let p = self.account_dir.join(ACCOUNT_FILE);
        if p.exists() {
            self.read(&p).map(Some)
        } else {
            Ok(None)
        }
    }

    fn pages(
        &self,
        call: &'static ApiCall,
        f: &mut dyn FnMut(Doc) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if call == &LIST_TABLES && self.pages(call.stem).next().is_none() {
            // A snapshot without the listing: the tables it has scans of.
            let prefix = format!("{}-", SCAN.stem);
            let names: Vec<&str> = self
                .files
                .iter()
                .filter_map(|f| f.strip_prefix(&prefix)?.strip_suffix(".json"))
                .collect();
            let origin = self.dir.join(format!("{prefix}*.json"));
            return f(Doc::value(
                origin.display().to_string(),
                serde_json::json!({ "TableNames": names }),
            ));
        }
        self.each(call.stem, f)
    }

    fn answer(&self, call: &'static ApiCall, id: &str) -> Result<Option<Doc>, Error> {
        // Only a file the folder lists is read: an id names no other path.
        let name = format!("{}-{id}.json", call.stem);
        if self.files.contains(&name) {
            self.read(&self.dir.join(name)).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn write_json(path: &Path, doc: Doc) -> Result<(), Error> {
    let v = doc.into_value()?;
    let mut f = std::io::BufWriter::new(fs::File::create(path).map_err(|e| Error::io(path, e))?);
    serde_json::to_writer_pretty(&mut f, &v).map_err(|e| Error::io(path, e.into()))?;
    f.write_all(b"\n")
        .and_then(|_| f.flush())
        .map_err(|e| Error::io(path, e))
}

/// Writes the Organizations documents of one account into `root` with the
/// snapshot layout: the account, its parents up to the root, their units
/// and the account's tags.
pub fn write_account(inputs: &dyn AccountInputs, root: &Path) -> Result<(), Error> {
    let dir = root.join(inputs.accountid().as_str());
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    if let Some(a) = inputs.account()? {
        write_json(&dir.join(ACCOUNT_FILE), a)?;
    }
    if let Some(t) = inputs.tags()? {
        write_json(&dir.join(ACCOUNT_TAGS), t)?;
    }
    let mut child = inputs.accountid().to_string();
    // An organization is at most 5 levels of units deep under its root.
    for _ in 0..8 {
        let Some(doc) = inputs.parents(&child)? else {
            break;
        };
        let v = doc.into_value()?;
        write_json(
            &dir.join(format!("{PARENTS}{child}.json")),
            Doc::value("", v.clone()),
        )?;
        let parent = v["Parents"][0].clone();
        let (Some(id), Some(kind)) = (parent["Id"].as_str(), parent["Type"].as_str()) else {
            break;
        };
        if kind != "ORGANIZATIONAL_UNIT" {
            break;
        }
        if let Some(ou) = inputs.organizational_unit(id)? {
            write_json(&dir.join(format!("{OU}{id}.json")), ou)?;
        }
        child = id.to_string();
    }
    Ok(())
}

/// Writes every document of one scope into `root` with the snapshot layout,
/// pretty-printed as the AWS CLI prints it: the pages of every call of the
/// region, then the answer of each call made per id, for the ids the pages
/// before it name.
pub fn write_scope(inputs: &dyn ScopeInputs, naming: &Naming, root: &Path) -> Result<(), Error> {
    let scope = inputs.scope();
    let adir = root.join(scope.accountid.as_str());
    let dir = adir.join(scope.region.as_str());
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    if let Some(a) = inputs.account()? {
        write_json(&adir.join(ACCOUNT_FILE), a)?;
    }
    let mut pages: Vec<(&'static ApiCall, Value)> = Vec::new();
    for call in tables::regional_calls() {
        if let Input::Each(_) = call.input {
            let of = |c: &'static ApiCall| {
                pages
                    .iter()
                    .filter(|(p, _)| *p == c)
                    .map(|(_, v)| v)
                    .collect()
            };
            for id in calls::ids_for(call, &of, naming) {
                // An id becomes part of a file name only once checked.
                PartitionValue::parse(&id, "id", call.stem)?;
                if let Some(d) = inputs.answer(call, &id)? {
                    write_json(&dir.join(format!("{}-{id}.json", call.stem)), d)?;
                }
            }
            continue;
        }
        // The table list is not written: the scans name the tables, so a
        // group leaves a snapshot with its files.
        let write = call != &LIST_TABLES;
        let mut n = 0;
        inputs.pages(call, &mut |d: Doc| {
            n += 1;
            let v = d.into_value()?;
            if write {
                write_json(
                    &dir.join(format!("{}-{n:04}.json", call.stem)),
                    Doc::value("", v.clone()),
                )?;
            }
            pages.push((call, v));
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::demo::Demo;

    /// The table names a snapshot gives, sorted.
    fn tables(snap: &Snapshot, scope: &Scope) -> Vec<String> {
        let inputs = snap.inputs(scope).unwrap();
        let mut names = Vec::new();
        for (_, v) in inputs.values(&LIST_TABLES).unwrap() {
            calls::ids_at(&v, &["TableNames"], &mut names);
        }
        names.sort();
        names
    }

    #[test]
    fn every_call_written_is_read_back_and_old_snapshots_list_their_scans() {
        let naming = Naming::default();
        let demo = Demo::one_region(2, 3);
        let (scopes, _) = demo.scopes().unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_scope(
            demo.inputs(&scopes[0]).unwrap().as_ref(),
            &naming,
            dir.path(),
        )
        .unwrap();
        let snap = Snapshot::new(dir.path(), 1 << 20).unwrap();
        let (read, _) = snap.scopes().unwrap();
        assert_eq!(read, scopes);
        let from_demo = demo.inputs(&scopes[0]).unwrap();
        let from_snap = snap.inputs(&scopes[0]).unwrap();
        for call in tables::regional_calls() {
            if matches!(call.input, Input::Each(_)) || call == &LIST_TABLES {
                continue;
            }
            let values = |i: &dyn ScopeInputs| -> Vec<Value> {
                i.values(call)
                    .unwrap()
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect()
            };
            assert_eq!(
                values(from_snap.as_ref()),
                values(from_demo.as_ref()),
                "{call:?}"
            );
        }
        let listed = tables(&snap, &scopes[0]);
        assert_eq!(listed.len(), 4, "the scans name the tables: {listed:?}");
        // A listing, when the folder has one, is what names them: the
        // aws-cli example of `aws dynamodb list-tables`
        // (awscli/examples/dynamodb/list-tables.rst).
        let region = dir
            .path()
            .join(scopes[0].accountid.as_str())
            .join("eu-west-1");
        let file = region.join(format!("{}.json", LIST_TABLES.stem));
        let published = concat!(
            "{\n",
            "    \"TableNames\": [\n",
            "        \"Forum\", \n",
            "        \"ProductCatalog\", \n",
            "        \"Reply\", \n",
            "        \"Thread\", \n",
            "    ]\n",
            "}\n",
        );
        // As printed there it ends its list with a comma, which is not
        // JSON: the error names the file.
        fs::write(&file, published).unwrap();
        let snap = Snapshot::new(dir.path(), 1 << 20).unwrap();
        let inputs = snap.inputs(&scopes[0]).unwrap();
        let e = inputs.values(&LIST_TABLES).unwrap_err().to_string();
        assert!(
            e.contains("dynamodb-list-tables.json") && e.contains("malformed JSON"),
            "{e}"
        );
        fs::write(&file, published.replace("\"Thread\", ", "\"Thread\"")).unwrap();
        assert_eq!(
            tables(&snap, &scopes[0]),
            ["Forum", "ProductCatalog", "Reply", "Thread"]
        );
    }
}
