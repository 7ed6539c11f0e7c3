//! Issue 4's differential test: for every capture of the shared corpus and a list of everyday
//! expressions, libpcap's program for that capture, run by each of our engines over our reader's
//! records, selects exactly the records that `tcpdump -r CAPTURE -w OUT EXPR` writes.
//!
//! - The program: libpcap's `pcap_compile` in-process (`jitkit_testkit::libpcap::compile`) with
//!   the capture's link type (the DLT tcpdump reports for it) and libpcap's snapshot length for
//!   the file: what `tcpdump -ddd -r CAPTURE EXPR` prints (`in_process_programs_are_tcpdumps`
//!   checks that on one capture of every link type). For DLT_NULL/LOOP/ENC libpcap compiles
//!   differently when it reads a file, so those programs come from `tcpdump -ddd -r CAPTURE`.
//! - The reference: `tcpdump -r IN -w OUT EXPR`, once per (input, expression), compared with
//!   every engine. Expressions libpcap cannot compile for a link type are skipped (tcpdump
//!   refuses them too). See [`units`] for which captures tcpdump reads together.
//! - The engines: [`ENGINES`]. Adding one is one line.
//!
//! The spawns of tcpdump are the cost; they run on several threads.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use jitkit_bpf::cbpf::{Insn, Interpreter, Rules};
use jitkit_bpf::PacketFilter;
use jitkit_pcap::{CaptureReader, MappedFile, Record};
use jitkit_testkit::libpcap;
use jitkit_testkit::CorpusCapture;

/// Builds an engine for a program libpcap compiled (valid by libpcap's rules).
type EngineCtor = fn(&[Insn]) -> Box<dyn PacketFilter>;

/// Every engine checked against tcpdump. The first is libpcap's own interpreter: it checks the
/// harness itself (our reader's records plus libpcap's `bpf_filter` must reproduce tcpdump).
const ENGINES: &[(&str, EngineCtor)] = &[
    ("libpcap bpf_filter", |p| Box::new(libpcap::Filter::new(p))),
    ("interp", |p| {
        Box::new(Interpreter::with_rules(p, Rules::Libpcap).expect("libpcap's program is valid"))
    }),
    ("jit", |p| {
        Box::new(jitkit_bpf::cbpf::jit::JitFilter::compile_with(p, Rules::Libpcap).unwrap())
    }),
    ("ebpf", |p| {
        Box::new(jitkit_bpf::ebpf::EbpfFilter::jit(p).expect("converts to eBPF"))
    }),
    ("llvm", |p| {
        Box::new(
            jitkit_llvm::compile_filter(p, &jitkit_llvm::Options::default())
                .expect("compiles through LLVM"),
        )
    }),
];

/// Everyday expressions; those that do not compile for a capture's link type are skipped. Each
/// costs a tcpdump run per unit, so this is the short list, not `filter_expressions::ALL`.
const EXPRESSIONS: &[&str] = jitkit_testkit::filter_expressions::EVERYDAY;

/// A record as tcpdump writes it: seconds, microseconds, captured bytes (as libpcap handed them
/// to the filter), wire length.
type Key = (u64, u32, Vec<u8>, u32);

fn key(r: &Record) -> Key {
    (
        r.timestamp.secs & 0xffff_ffff,
        r.timestamp.micros(),
        r.data.to_vec(),
        r.wire_len,
    )
}

/// The DLT libpcap (and so tcpdump) uses for a corpus capture.
fn dlt(capture: &CorpusCapture) -> i32 {
    libpcap::linktype_from_name(&capture.linktype)
        .or_else(|| capture.linktype.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "{}: unknown link type {}",
                capture.path.display(),
                capture.linktype
            )
        })
}

/// DLT_NULL, DLT_LOOP, DLT_ENC: libpcap compiles differently when reading a file (it tests
/// every BSD's AF_INET6 value, byte-swapped for swapped files), so their programs come from
/// `tcpdump -ddd -r CAPTURE`.
fn program_depends_on_file(dlt: i32) -> bool {
    matches!(dlt, 0 | 108 | 109)
}

/// What tcpdump reads for one batch of checks: a corpus capture itself, or the records of
/// several captures of one link type and snapshot length, concatenated.
struct Unit {
    /// The file tcpdump reads.
    file: PathBuf,
    dlt: i32,
    snaplen: u32,
    /// Our reader's records, in order.
    records: Vec<Key>,
    /// Which captures the records come from: (name, number of records).
    sources: Vec<(String, usize)>,
    /// Get the program from `tcpdump -ddd -r file` instead of compiling in-process.
    ask_tcpdump_for_program: bool,
}

impl Unit {
    /// The capture the `n`th record came from.
    fn source_of(&self, mut n: usize) -> &str {
        for (name, count) in &self.sources {
            if n < *count {
                return name;
            }
            n -= count;
        }
        "?"
    }
}

/// Splits the corpus into units. Captures libpcap hands over unchanged (this machine's byte
/// order; programs that do not depend on the file) are grouped by (link type, snapshot length)
/// and concatenated into one pcap in `dir` with exactly the records libpcap reads from them
/// (`crates/pcap/tests/corpus.rs` checks our reader against libpcap on every capture): one
/// tcpdump run then checks them all, with the same program. The others run one by one.
/// `JITKIT_CORPUS_EVERY_CAPTURE=1` runs every capture by itself (about 10x more tcpdump runs).
fn units(dir: &Path) -> Vec<Unit> {
    let every_capture = std::env::var_os("JITKIT_CORPUS_EVERY_CAPTURE").is_some_and(|v| v == "1");
    let mut singles = Vec::new();
    let mut groups: std::collections::BTreeMap<(i32, u32, u32), Unit> = Default::default();
    for capture in jitkit_testkit::corpus_captures() {
        let map = MappedFile::open(&capture.path).unwrap();
        let reader = CaptureReader::new(&map).unwrap();
        let records: Vec<Key> = reader.records().map(|r| key(&r.unwrap())).collect();
        let (dlt, snaplen) = (dlt(&capture), reader.snaplen());
        let name = capture
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let swapped = match &reader {
            CaptureReader::Pcap(r) => r.header().swapped,
            CaptureReader::PcapNg(_) => map[8..12] != 0x1a2b3c4du32.to_ne_bytes(),
        };
        if every_capture || swapped || program_depends_on_file(dlt) {
            singles.push(Unit {
                file: capture.path.clone(),
                dlt,
                snaplen,
                sources: vec![(name, records.len())],
                records,
                ask_tcpdump_for_program: program_depends_on_file(dlt),
            });
            continue;
        }
        let unit = groups
            .entry((dlt, reader.link_type(), snaplen))
            .or_insert_with(|| Unit {
                file: dir.join(format!("group-{dlt}-{snaplen}.pcap")),
                dlt,
                snaplen,
                records: Vec::new(),
                sources: Vec::new(),
                ask_tcpdump_for_program: false,
            });
        unit.sources.push((name, records.len()));
        unit.records.extend(records);
    }
    for ((_, link_type, snaplen), unit) in &groups {
        let mut file =
            jitkit_pcap::native_header(jitkit_pcap::Precision::Micro, *snaplen, *link_type)
                .to_vec();
        for (secs, micros, data, wire) in &unit.records {
            for v in [*secs as u32, *micros, data.len() as u32, *wire] {
                file.extend_from_slice(&v.to_ne_bytes());
            }
            file.extend_from_slice(data);
        }
        std::fs::write(&unit.file, file).unwrap();
    }
    singles.extend(groups.into_values());
    singles
}

/// The records tcpdump writes for `expr` (None if tcpdump refuses the expression).
fn tcpdump_selects(capture: &Path, expr: &str, out: &Path) -> Option<Vec<Key>> {
    let status = Command::new("tcpdump")
        .arg("-r")
        .arg(capture)
        .arg("-w")
        .arg(out)
        .arg(expr)
        .stderr(Stdio::null())
        .status()
        .expect("tcpdump runs");
    if !status.success() {
        return None;
    }
    let file = MappedFile::open(out).unwrap();
    let reader = CaptureReader::new(&file).unwrap();
    Some(reader.records().map(|r| key(&r.unwrap())).collect())
}

/// `tcpdump -ddd -r CAPTURE EXPR` (None if tcpdump refuses the expression).
fn tcpdump_program(capture: &Path, expr: &str) -> Option<Vec<Insn>> {
    let output = Command::new("tcpdump")
        .arg("-ddd")
        .arg("-r")
        .arg(capture)
        .arg(expr)
        .output()
        .expect("tcpdump runs");
    output.status.success().then(|| {
        jitkit_bpf::cbpf::text::parse(&String::from_utf8_lossy(&output.stdout))
            .expect("tcpdump -ddd parses")
    })
}

#[derive(Default)]
struct Outcome {
    pairs: usize,
    verdicts: usize,
    tcpdump_runs: usize,
    failures: Vec<String>,
}

fn check_unit(unit: &Unit, out: &Path, outcome: &Mutex<Outcome>) {
    for expr in EXPRESSIONS {
        let mut tcpdump_runs = 1;
        let program = if unit.ask_tcpdump_for_program {
            tcpdump_runs += 1;
            tcpdump_program(&unit.file, expr)
        } else {
            libpcap::compile(expr, unit.dlt, unit.snaplen as i32, true)
                .ok()
                .map(|p| libpcap::from_raw(&p))
        };
        let Some(program) = program else { continue };
        let want = tcpdump_selects(&unit.file, expr, out).unwrap_or_else(|| {
            panic!(
                "{}: libpcap compiles `{expr}` but tcpdump refuses it",
                unit.file.display()
            )
        });
        let mut failures = Vec::new();
        for (engine_name, build) in ENGINES {
            let engine = build(&program);
            let verdicts: Vec<bool> = unit
                .records
                .iter()
                .map(|(_, _, data, wire)| engine.run(data, *wire) != 0)
                .collect();
            let got: Vec<&Key> = unit
                .records
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| **v)
                .map(|(k, _)| k)
                .collect();
            if got.len() != want.len() || got.iter().zip(&want).any(|(a, b)| *a != b) {
                // Name the first record we decide differently: the first kept record that
                // differs, found back in the unit's records.
                let first = got
                    .iter()
                    .zip(&want)
                    .position(|(a, b)| *a != b)
                    .unwrap_or(got.len().min(want.len()));
                let culprit = got.get(first).copied().or(want.get(first));
                let at = culprit
                    .and_then(|k| unit.records.iter().position(|r| r == k))
                    .unwrap_or(0);
                failures.push(format!(
                    "{} `{expr}` {engine_name}: keeps {} records, tcpdump {}; first difference at record {at} (from {})",
                    unit.file.file_name().unwrap().to_string_lossy(),
                    got.len(),
                    want.len(),
                    unit.source_of(at)
                ));
            }
        }
        let mut outcome = outcome.lock().unwrap();
        outcome.pairs += unit.sources.len();
        outcome.verdicts += unit.records.len();
        outcome.tcpdump_runs += tcpdump_runs;
        outcome.failures.extend(failures);
    }
}

#[test]
fn every_engine_selects_what_tcpdump_selects_on_the_corpus() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("corpus-filter");
    let units = units(&dir);
    let next = AtomicUsize::new(0);
    let outcome = Mutex::new(Outcome::default());
    // Spawning tcpdump is mostly waiting on the kernel: more threads than cores help.
    let threads = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (units, next, outcome, out) =
                (&units, &next, &outcome, dir.join(format!("{t}.out.pcap")));
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(i) else { break };
                check_unit(unit, &out, outcome);
            });
        }
    });
    std::fs::remove_dir_all(&dir).ok();
    let outcome = outcome.into_inner().unwrap();
    let captures: usize = units.iter().map(|u| u.sources.len()).sum();
    eprintln!(
        "{captures} captures in {} tcpdump inputs; {} (capture, expression) pairs; {} verdicts per engine; \
         {} tcpdump runs; {} engines",
        units.len(),
        outcome.pairs,
        outcome.verdicts,
        outcome.tcpdump_runs,
        ENGINES.len()
    );
    assert!(captures > 800, "only {captures} captures");
    assert!(
        outcome.pairs > 10_000,
        "only {} pairs compiled",
        outcome.pairs
    );
    assert!(
        outcome.failures.is_empty(),
        "{} disagreements with tcpdump:\n{}",
        outcome.failures.len(),
        outcome
            .failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The in-process compile is what `tcpdump -ddd -r CAPTURE EXPR` prints, for one capture of
/// every link type in the corpus (but those of `program_depends_on_file`) and a few
/// expressions.
#[test]
fn in_process_programs_are_tcpdumps() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let mut seen = std::collections::HashSet::new();
    let mut compared = 0;
    for capture in jitkit_testkit::corpus_captures() {
        if program_depends_on_file(dlt(&capture)) || !seen.insert(capture.linktype.clone()) {
            continue;
        }
        let file = MappedFile::open(&capture.path).unwrap();
        let reader = CaptureReader::new(&file).unwrap();
        for expr in [
            "ip",
            "tcp port 80",
            "not arp",
            "len > 100",
            "udp and not port 53",
        ] {
            let Ok(program) = libpcap::compile(expr, dlt(&capture), reader.snaplen() as i32, true)
            else {
                continue;
            };
            let output = Command::new("tcpdump")
                .arg("-ddd")
                .arg("-r")
                .arg(&capture.path)
                .arg(expr)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}: tcpdump -ddd {expr}",
                capture.path.display()
            );
            let text = String::from_utf8(output.stdout).unwrap();
            let theirs = jitkit_bpf::cbpf::text::parse(&text).unwrap();
            let ours = libpcap::from_raw(&program);
            assert_eq!(ours, theirs, "{} `{expr}`", capture.path.display());
            compared += 1;
        }
    }
    assert!(compared > 60, "only {compared} programs compared");
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitkit-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
