//! Replays the fuzz corpus (`fuzz/corpus/`) on stable, with deterministic
//! mutations of every seed: truncations, byte flips and splices. Each input
//! must return, never panic; valid seeds must be accepted and their
//! truncations refused. `cargo +nightly fuzz run TARGET` explores further.

use std::fs;
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "{target}: a corpus of a few seeds");
    v
}

/// Deterministic variants of `seed`: prefixes, flipped bytes, inserted
/// structural characters, and the seed spliced into itself.
fn variants(seed: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.len() as u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = seed.len().max(1);
    for _ in 0..n {
        let at = (next() as usize) % len;
        let mut v = seed.to_vec();
        match next() % 5 {
            0 => v.truncate(at),
            1 => {
                if let Some(b) = v.get_mut(at) {
                    *b ^= 1 << (next() % 8);
                }
            }
            2 => {
                let tokens: &[&[u8]] = &[
                    b"[", b"{", b"\"", b"&a ", b"*a", b"\n  ", b"\\u", b",", b"-",
                ];
                let t = tokens[(next() as usize) % tokens.len()];
                v.splice(at.min(v.len())..at.min(v.len()), t.iter().copied());
            }
            3 => {
                let other = (next() as usize) % len;
                let tail = seed[other.min(seed.len())..].to_vec();
                v.truncate(at);
                v.extend(tail);
            }
            _ => v = v.repeat(2),
        }
        out.push(v);
    }
    out
}

fn replay(target: &str, run: fn(&[u8]) -> bool, valid: &[&str]) {
    let mut tried = 0;
    for (name, seed) in seeds(target) {
        let ok = run(&seed);
        if valid.contains(&name.as_str()) {
            assert!(ok, "{target}/{name}: a valid seed is accepted");
        }
        for v in variants(&seed, 200) {
            let _ = run(&v);
            tried += 1;
        }
    }
    assert!(tried >= 800, "{target}: {tried} inputs");
}

#[test]
fn snapshot_page_corpus() {
    replay(
        "snapshot_page",
        fleetcmdb::fuzz::snapshot_page,
        &[
            "published-instances.json",
            "published-volumes.json",
            "demo-instances.json",
        ],
    );
    // A truncated page is refused, not half accepted.
    let (_, page) = &seeds("snapshot_page")[0];
    assert!(!fleetcmdb::fuzz::snapshot_page(&page[..page.len() / 2]));
    assert!(!fleetcmdb::fuzz::snapshot_page(
        &fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus/snapshot_page/duplicate-reservations.json")
        )
        .unwrap()
    ));
}

#[test]
fn backup_yaml_corpus() {
    replay(
        "backup_yaml",
        fleetcmdb::fuzz::backup_yaml,
        &["latest-configuration.yaml", "explicit-and-escapes.yaml"],
    );
    assert!(!fleetcmdb::fuzz::backup_yaml(
        b"\"seed\": &x \"y\"\n\"k\": *x\n"
    ));
}

#[test]
fn schedule_corpus() {
    replay("schedule", fleetcmdb::fuzz::schedule, &["seed-1", "seed-8"]);
    assert!(!fleetcmdb::fuzz::schedule(b"cron(60 2 ? * SUN *)"));
}
