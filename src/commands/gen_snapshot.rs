//! `fleetcmdb gen-snapshot`: the demo organisation written as a snapshot
//! directory of AWS CLI JSON (the benchmark input, and a test fixture).

use std::path::Path;

use rayon::prelude::*;

use crate::documents::Naming;
use crate::error::{Error, ExitCode};
use crate::sources::demo::{Demo, DemoOptions};
use crate::sources::{snapshot, Source};

pub fn run(dir: &Path, opts: DemoOptions, naming: Naming) -> Result<ExitCode, Error> {
    let demo = Demo::new(opts, naming.clone())?;
    let (scopes, _) = demo.scopes()?;
    scopes
        .par_iter()
        .try_for_each(|s| snapshot::write_scope(demo.inputs(s)?.as_ref(), &naming, dir))?;
    let mut accounts: Vec<_> = scopes.iter().map(|s| &s.accountid).collect();
    accounts.dedup();
    accounts
        .par_iter()
        .try_for_each(|a| snapshot::write_account(demo.account_inputs(a)?.as_ref(), dir))?;
    eprintln!(
        "fleetcmdb gen-snapshot: {} -> {} ({} account/regions)",
        demo.describe(),
        dir.display(),
        scopes.len()
    );
    Ok(ExitCode::Success)
}
