//! Capture I/O throughput: read a large pcap and write every record back, against `cat` copying
//! the same file, in the same run (interleaved, medians). Goal: within 1.5x of `cat`.
//!
//! `cargo bench -p jitkit-pcap --bench io` (JITKIT_BENCH_MB sets the size, default 300). The
//! capture is generated in the temporary directory from the corpus's Ethernet captures (packets
//! repeated) and is not committed. Outputs are deleted before every run, so every run writes a
//! fresh file (as a first run of either tool would).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use jitkit_pcap::{CaptureReader, MappedFile, PcapWriter};

const RUNS: usize = 7;

fn main() {
    let megabytes: usize = std::env::var("JITKIT_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = std::env::temp_dir();
    let big = dir.join(format!("jitkit-bench-{megabytes}mb.pcap"));
    make_big_capture(&big, megabytes << 20);
    let out = dir.join("jitkit-bench-io-out.pcap");
    let size = std::fs::metadata(&big).unwrap().len();
    // Warm the page cache for the input.
    std::io::copy(&mut File::open(&big).unwrap(), &mut std::io::sink()).unwrap();

    let variants: [(&str, &dyn Fn()); 4] = [
        ("cat IN > OUT", &|| {
            let status = Command::new("cat")
                .arg(&big)
                .stdout(File::create(&out).unwrap())
                .status()
                .unwrap();
            assert!(status.success());
        }),
        ("read + write every record (1 thread)", &|| {
            copy_records(&big, &out)
        }),
        ("select all, 2 threads (jitkit filter's path)", &|| {
            select_all(&big, &out, 2)
        }),
        ("read only: iterate every record", &|| {
            let map = MappedFile::open(&big).unwrap();
            let n = CaptureReader::new(&map)
                .unwrap()
                .records()
                .filter(|r| r.is_ok())
                .count();
            assert!(n > 0);
        }),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..RUNS {
        for (i, (_, run)) in variants.iter().enumerate() {
            std::fs::remove_file(&out).ok();
            let t = Instant::now();
            run();
            times[i].push(t.elapsed());
        }
    }
    std::fs::remove_file(&out).ok();
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect();
    println!(
        "capture I/O, {} MB input, median of {RUNS} interleaved runs",
        size >> 20
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let m = medians[i];
        println!(
            "  {name:46} {:8.1} ms  {:6.0} MB/s  {:5.2}x cat",
            m.as_secs_f64() * 1e3,
            size as f64 / m.as_secs_f64() / 1e6,
            m.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}

fn copy_records(input: &Path, output: &Path) {
    let map = MappedFile::open(input).unwrap();
    let reader = CaptureReader::new(&map).unwrap();
    let mut writer = PcapWriter::for_capture(File::create(output).unwrap(), &reader).unwrap();
    for record in reader.records() {
        writer.write(&record.unwrap()).unwrap();
    }
    writer.finish().unwrap();
}

fn select_all(input: &Path, output: &Path, threads: usize) {
    let map = MappedFile::open(input).unwrap();
    let reader = CaptureReader::new(&map).unwrap();
    let mut writer = PcapWriter::for_capture(File::create(output).unwrap(), &reader).unwrap();
    let progress = AtomicU64::new(0);
    let all = |_: &jitkit_pcap::Record| true;
    let selection = jitkit_pcap::select::select(
        &reader,
        Some(&mut writer),
        all,
        || Some(all),
        threads,
        &progress,
    )
    .unwrap();
    assert!(selection.error.is_none());
    writer.finish().unwrap();
}

/// Writes a little-endian microsecond Ethernet pcap of about `size` bytes by repeating the
/// records of the corpus's ordinary Ethernet captures (skipped when it already exists).
fn make_big_capture(path: &PathBuf, size: usize) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() as usize >= size) {
        return;
    }
    let mut chunk = Vec::new();
    for capture in jitkit_testkit::corpus_captures() {
        if capture.linktype != "EN10MB" {
            continue;
        }
        let bytes = std::fs::read(&capture.path).unwrap();
        let Ok(CaptureReader::Pcap(reader)) = CaptureReader::new(&bytes) else {
            continue;
        };
        let h = reader.header();
        if h.swapped
            || h.modified
            || h.precision != jitkit_pcap::Precision::Micro
            || (h.version_major, h.version_minor) != (2, 4)
        {
            continue;
        }
        for record in reader.records() {
            let Ok(r) = record else { break };
            if r.data.len() == r.raw.len() - 16
                && r.timestamp.frac < 1_000_000
                && r.data.len() as u32 <= r.wire_len
            {
                chunk.extend_from_slice(r.raw);
            }
        }
    }
    let mut file = jitkit_pcap::native_header(jitkit_pcap::Precision::Micro, 262_144, 1).to_vec();
    while file.len() < size {
        file.extend_from_slice(&chunk);
    }
    std::fs::write(path, file).unwrap();
}
