//! Helpers shared by tests and benchmarks of the jitkit crates (a dev-dependency only).
//!
//! - where the shared test corpus lives (`../shared/corpus` beside the repository),
//! - which external oracles (tcpdump, GNU as, ...) are installed,
//! - a small median-of-runs timer for in-process benchmarks,
//! - `libpcap`: libpcap's compiler and interpreter in-process (the filter oracle), and the
//!   conversions between its instructions and jitkit-bpf's,
//! - `fuzz_input`: classic BPF programs (and packets) read from raw fuzz input,
//! - `rng`: a seeded xorshift generator with edge-value helpers for differential tests,
//! - `filter_expressions`: the filter expressions the engines' differential tests share.

pub mod bench_filters;
pub mod filter_expressions;
pub mod fuzz_input;
pub mod libpcap;
pub mod rng;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    // crates/testkit -> crates -> root
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives two levels below the repository root")
        .to_path_buf()
}

/// `shared/corpus`, which sits beside the repository (CI clones the project with `shared/` next to
/// it). `JITKIT_CORPUS` overrides the location.
pub fn corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("JITKIT_CORPUS") {
        return PathBuf::from(dir);
    }
    repo_root().join("../shared/corpus")
}

/// One capture of the tcpdump test corpus, as listed in `tcpdump-tests.tsv`.
#[derive(Clone, Debug)]
pub struct CorpusCapture {
    pub path: PathBuf,
    /// libpcap's link-type name (`EN10MB`, `LINUX_SLL`, ...) or the number when it has no name.
    pub linktype: String,
    pub packets: u64,
}

/// Every capture of the tcpdump test corpus. Panics (this is test code) when the corpus is missing:
/// a test that silently skipped its data would prove nothing.
pub fn corpus_captures() -> Vec<CorpusCapture> {
    let dir = corpus_dir();
    let tsv = dir.join("tcpdump-tests.tsv");
    let text = std::fs::read_to_string(&tsv)
        .unwrap_or_else(|e| panic!("test corpus index {} unreadable: {e}", tsv.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut f = line.split('\t');
            let file = f.next().unwrap_or_default();
            let linktype = f.next().unwrap_or_default().to_string();
            let packets = f.next().and_then(|p| p.trim().parse().ok()).unwrap_or(0);
            CorpusCapture {
                path: dir.join("tcpdump-tests").join(file),
                linktype,
                packets,
            }
        })
        .collect()
}

/// Whether `program` can be run (found on PATH and answers `--version` or `-h`).
pub fn have_tool(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program} >/dev/null 2>&1"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Panics with a clear message when an oracle the suite depends on is missing. The setup script
/// installs every oracle, so a missing one is a broken machine, not a reason to skip.
pub fn require_tool(program: &str, package: &str) {
    assert!(
        have_tool(program),
        "`{program}` is not installed: run scripts/setup (Debian package {package})"
    );
}

/// Median wall time of `runs` runs of `f` (after one warm-up run).
pub fn median_time<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Runs `f` repeatedly for about `budget` and returns the median time of one call, measured in
/// batches so that very short calls are timed accurately.
pub fn median_per_call<F: FnMut()>(budget: Duration, mut f: F) -> Duration {
    // Calibrate a batch size that takes about 1/50 of the budget.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() >= budget / 50 || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 101) {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed() / batch as u32);
    }
    samples.sort();
    samples[samples.len() / 2]
}
