//! Every fuzz target over its committed corpus (`fuzz/corpus/<target>/`), its regressions
//! (`fuzz/regressions/<target>/`: inputs that once crashed it, kept after the fix) and a
//! bounded, seeded set of mutations of them: the part of fuzzing the test command runs on the
//! stable toolchain. The campaigns themselves are libFuzzer's (`make fuzz`, RELIABILITY.md).
//!
//! A target that panics fails the test, which names the input and writes it to
//! `target/fuzz-failures/` for `cargo fuzz run <target> <file>`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mutations per target (seeded; each is one execution).
const MUTATIONS_PER_TARGET: usize = 20_000;
/// No single input may take longer than this (libFuzzer's `-timeout` in `make fuzz` is 10 s
/// too): a decoder whose work is not bounded by its input shows up here.
const MAX_EXEC: Duration = Duration::from_secs(10);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return vec![] };
    let mut v: Vec<(String, Vec<u8>)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| (e.path().display().to_string(), std::fs::read(e.path()).expect("corpus file")))
        .collect();
    v.sort();
    v
}

/// Seeds have names; libFuzzer names what it adds by its SHA-1 (40 hex digits).
fn is_seed(path: &str) -> bool {
    let file = Path::new(path).file_name().and_then(|f| f.to_str()).unwrap_or("");
    !(file.len() == 40 && file.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// splitmix64: a fixed sequence, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The interesting bytes of JSON, CBOR and borsh inputs.
const DICT: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"]", b":", b",", b"null", b"-1", b"1e400", b"18446744073709551616",
    b"\\u0000", b"\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"0x", b"\"\"",
];

fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(at),
            3 if at < v.len() => {
                let n = 1 + rng.below(16.min(v.len() - at));
                v.drain(at..at + n);
            }
            4 => {
                let d = DICT[rng.below(DICT.len())];
                v.splice(at..at, d.iter().copied());
            }
            5 if !other.is_empty() => {
                // Splice a piece of another input in.
                let s = rng.below(other.len());
                let n = 1 + rng.below(other.len() - s);
                v.splice(at..at, other[s..s + n].iter().copied());
            }
            _ if at < v.len() => {
                // Repeat a piece (deep nesting, long arrays).
                let n = 1 + rng.below(8.min(v.len() - at));
                let piece = v[at..at + n].to_vec();
                for _ in 0..1 + rng.below(64) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn run_one(name: &str, f: fn(&[u8]) -> bool, label: &str, input: &[u8]) -> Result<bool, String> {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| f(input)));
    let took = start.elapsed();
    let failure = match outcome {
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            format!("panicked: {}", msg.unwrap_or_default())
        }
        Ok(_) if took > MAX_EXEC => format!("took {took:?} (limit {MAX_EXEC:?})"),
        Ok(decoded) => return Ok(decoded),
    };
    let dir = root().join("../target/fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join(format!("{name}-{}", hex::encode(&cpc_primitives::sha256(input).0[..8])));
    let _ = std::fs::write(&file, input);
    Err(format!("{name}: {label} {failure}; input written to {}", file.display()))
}

#[test]
fn every_target_has_a_corpus_and_survives_it_and_its_mutations() {
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for &(name, f) in cpc_fuzz::TARGETS {
        let corpus = inputs(&root().join("corpus").join(name));
        assert!(!corpus.is_empty(), "target {name} has no committed corpus under fuzz/corpus/{name}/");
        let regressions = inputs(&root().join("regressions").join(name));
        let start = Instant::now();
        for (label, input) in corpus.iter().chain(&regressions) {
            match run_one(name, f, label, input) {
                Err(e) => failures.push(e),
                // The seeds fuzz-seeds wrote (named, unlike libFuzzer's hash-named finds)
                // must still decode: a format change that leaves them stale fails here.
                Ok(false) if is_seed(label) => failures.push(format!("{name}: seed {label} no longer decodes")),
                Ok(_) => {}
            }
        }
        let mut decoded = 0usize;
        let mut rng = Rng(0xc0ffee ^ name.len() as u64 ^ cpc_primitives::sha256(name.as_bytes()).0[0] as u64);
        for i in 0..MUTATIONS_PER_TARGET {
            let base = &corpus[rng.below(corpus.len())].1;
            let other = &corpus[rng.below(corpus.len())].1;
            let m = mutate(&mut rng, base, other);
            match run_one(name, f, &format!("mutation {i}"), &m) {
                Ok(d) => decoded += d as usize,
                Err(e) => {
                    failures.push(e);
                    break;
                }
            }
        }
        report.push(format!(
            "{name}: {} corpus + {} regression inputs, {MUTATIONS_PER_TARGET} mutations ({decoded} decoded) in {:?}",
            corpus.len(),
            regressions.len(),
            start.elapsed()
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "fuzz targets failed:\n{}", failures.join("\n"));
}

#[test]
fn targets_are_listed_once_and_each_has_a_libfuzzer_binary() {
    let manifest = std::fs::read_to_string(root().join("libfuzzer/Cargo.toml")).expect("fuzz/libfuzzer/Cargo.toml");
    let mut seen = std::collections::BTreeSet::new();
    for &(name, _) in cpc_fuzz::TARGETS {
        assert!(seen.insert(name), "target {name} listed twice");
        assert!(cpc_fuzz::target(name).is_some());
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/libfuzzer/Cargo.toml has no [[bin]] for target {name}"
        );
        let src = root().join(format!("libfuzzer/fuzz_targets/{name}.rs"));
        let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(text.contains(&format!("cpc_fuzz::{name}(")), "{} does not call cpc_fuzz::{name}", src.display());
    }
}
