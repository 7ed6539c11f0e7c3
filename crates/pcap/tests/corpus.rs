//! Every capture of the shared corpus: writing all records back reproduces a pcap file byte for
//! byte, and our reader delivers exactly the records libpcap delivers (through
//! `tcpdump -r CAPTURE -w OUT`, which writes every record libpcap reads).

use std::path::Path;
use std::process::{Command, Stdio};

use jitkit_pcap::{CaptureReader, MappedFile, PcapWriter};

#[test]
fn every_pcap_capture_round_trips_byte_for_byte() {
    let captures = jitkit_testkit::corpus_captures();
    assert!(
        captures.len() > 800,
        "corpus has {} captures",
        captures.len()
    );
    let mut pcap_files = 0;
    for capture in &captures {
        let file = MappedFile::open(&capture.path).unwrap();
        let reader =
            CaptureReader::new(&file).unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
        let CaptureReader::Pcap(_) = reader else {
            continue;
        };
        let mut writer = PcapWriter::for_capture(Vec::new(), &reader).unwrap();
        for record in reader.records() {
            let record = record.unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
            writer.write(&record).unwrap();
        }
        assert!(
            writer.finish().unwrap() == *file,
            "{} changed on the way",
            capture.path.display()
        );
        pcap_files += 1;
    }
    assert!(pcap_files > 750);
}

/// (seconds, microseconds, captured bytes, wire length) of every record, as libpcap's offline
/// reader hands them to tcpdump (microsecond precision, 32-bit seconds).
type Seen = Vec<(u64, u32, Vec<u8>, u32)>;

fn ours(path: &Path) -> Result<Seen, String> {
    let file = MappedFile::open(path).map_err(|e| e.to_string())?;
    let reader = CaptureReader::new(&file).map_err(|e| e.to_string())?;
    reader
        .records()
        .map(|r| {
            r.map(|r| {
                (
                    r.timestamp.secs & 0xffff_ffff,
                    r.timestamp.micros(),
                    r.data.to_vec(),
                    r.wire_len,
                )
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

fn libpcap(path: &Path, out: &Path) -> Seen {
    let status = Command::new("tcpdump")
        .arg("-r")
        .arg(path)
        .arg("-w")
        .arg(out)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "tcpdump -r {} failed", path.display());
    ours(out).unwrap()
}

#[test]
fn every_capture_reads_as_libpcap_reads_it() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let captures = jitkit_testkit::corpus_captures();
    let dir = std::env::temp_dir().join(format!("jitkit-pcap-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (captures, dir) = (&captures, &dir);
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (i, capture) in captures.iter().enumerate().skip(t).step_by(threads) {
                        let out = dir.join(format!("{i}.pcap"));
                        let theirs = libpcap(&capture.path, &out);
                        match ours(&capture.path) {
                            Ok(mine) if mine == theirs => {}
                            Ok(mine) => failures.push(format!(
                                "{}: {} records, libpcap {}; first difference at {:?}",
                                capture.path.display(),
                                mine.len(),
                                theirs.len(),
                                mine.iter().zip(&theirs).position(|(a, b)| a != b)
                            )),
                            Err(e) => failures.push(format!("{}: {e}", capture.path.display())),
                        }
                        std::fs::remove_file(&out).ok();
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        failures.is_empty(),
        "{} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
