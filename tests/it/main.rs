//! End-to-end tests: the real binary on real files. One test binary, themed modules.

mod common;
mod export;
mod fuzz_corpus;
mod generated;
mod iam;
mod input;
mod schedule;
mod snapshot;
