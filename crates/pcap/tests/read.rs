//! The readers on hand-made files, as data: each case is a file built in either byte order, the
//! records we must deliver, and the error (where and what) that must end it. Every case libpcap
//! can read is also run through `tcpdump -r FILE -w OUT`, and OUT's records must equal ours.

mod build;

use build::{hex, opt_u64, pcap, pcap_version, Ng, Rec};
use jitkit_pcap::{CaptureReader, FormatErrorKind, PcapWriter, Record};

const MICRO: u32 = 0xa1b2c3d4;
const NANO: u32 = 0xa1b23c4d;
const KUZNETSOV: u32 = 0xa1b2cd34;

/// What one record must look like.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Want {
    secs: u64,
    nanos: u64,
    data: Vec<u8>,
    wire: u32,
    link: u32,
    interface: u32,
}

fn want(secs: u64, nanos: u64, data: &str, wire: u32, link: u32, interface: u32) -> Want {
    Want {
        secs,
        nanos,
        data: hex(data),
        wire,
        link,
        interface,
    }
}

fn seen(r: &Record) -> Want {
    Want {
        secs: r.timestamp.secs,
        nanos: r.timestamp.nanos(),
        data: r.data.to_vec(),
        wire: r.wire_len,
        link: r.link_type,
        interface: r.interface,
    }
}

/// The error that must end a case: byte offset, complete records before it, and what.
struct WantErr {
    offset: u64,
    records_before: u64,
    kind: fn(&FormatErrorKind) -> bool,
}

struct Case {
    name: &'static str,
    file: Vec<u8>,
    records: Vec<Want>,
    /// Error from opening the file (no records at all).
    open_error: Option<fn(&FormatErrorKind) -> bool>,
    /// Error after the records.
    error: Option<WantErr>,
    /// libpcap reads it the same way (checked through tcpdump).
    libpcap: bool,
}

fn ok(name: &'static str, file: Vec<u8>, records: Vec<Want>) -> Case {
    Case {
        name,
        file,
        records,
        open_error: None,
        error: None,
        libpcap: true,
    }
}

const ETH: &str = "ffffffffffff 001122334455 0800 4500";
const SHORT: &str = "0102030405";

fn cases() -> Vec<Case> {
    let eth = hex(ETH);
    let short = hex(SHORT);
    let two = |be, magic| {
        pcap(
            be,
            magic,
            65535,
            1,
            &[
                Rec(1_000_000_000, 123_456, &eth, 60),
                Rec(1_000_000_001, 999, &short, 5),
            ],
        )
    };
    let mut cases = vec![
        ok(
            "pcap little-endian microseconds",
            two(false, MICRO),
            vec![
                want(1_000_000_000, 123_456_000, ETH, 60, 1, 0),
                want(1_000_000_001, 999_000, SHORT, 5, 1, 0),
            ],
        ),
        ok(
            "pcap big-endian microseconds",
            two(true, MICRO),
            vec![
                want(1_000_000_000, 123_456_000, ETH, 60, 1, 0),
                want(1_000_000_001, 999_000, SHORT, 5, 1, 0),
            ],
        ),
        ok(
            "pcap little-endian nanoseconds",
            two(false, NANO),
            vec![
                want(1_000_000_000, 123_456, ETH, 60, 1, 0),
                want(1_000_000_001, 999, SHORT, 5, 1, 0),
            ],
        ),
        ok(
            "pcap big-endian nanoseconds",
            two(true, NANO),
            vec![
                want(1_000_000_000, 123_456, ETH, 60, 1, 0),
                want(1_000_000_001, 999, SHORT, 5, 1, 0),
            ],
        ),
        ok(
            "pcap with no records",
            pcap(false, MICRO, 65535, 1, &[]),
            vec![],
        ),
        ok(
            "pcap records longer than the snapshot length are cut to it",
            pcap(false, MICRO, 4, 101, &[Rec(7, 8, &short, 9)]),
            vec![want(7, 8000, "01020304", 9, 101, 0)],
        ),
        ok(
            "pcap snapshot length 0 means the maximum",
            pcap(true, MICRO, 0, 1, &[Rec(7, 8, &eth, 60)]),
            vec![want(7, 8000, ETH, 60, 1, 0)],
        ),
        ok(
            "pcap FCS bits above the link type",
            pcap(false, MICRO, 65535, 0x3000_0001, &[Rec(7, 8, &eth, 60)]),
            vec![want(7, 8000, ETH, 60, 1, 0)],
        ),
        ok(
            "pcap version 2.2 has wire length before captured length",
            {
                let mut f = pcap_version(false, MICRO, (2, 2), 65535, 1, &[Rec(7, 8, &short, 5)]);
                // Put the lengths in the old order: len (9), then caplen (5).
                f[24 + 8..24 + 12].copy_from_slice(&9u32.to_le_bytes());
                f[24 + 12..24 + 16].copy_from_slice(&5u32.to_le_bytes());
                f
            },
            vec![want(7, 8000, SHORT, 9, 1, 0)],
        ),
        ok(
            "pcap Kuznetsov modified format (24-byte record headers)",
            {
                let mut f = build::Out::new(false);
                f.u32(KUZNETSOV)
                    .u16(2)
                    .u16(4)
                    .u32(0)
                    .u32(0)
                    .u32(65535)
                    .u32(1);
                for (secs, data) in [(5u32, &eth), (6, &short)] {
                    f.u32(secs)
                        .u32(1)
                        .u32(data.len() as u32)
                        .u32(data.len() as u32);
                    f.u32(2).u16(0x0800).bytes(&[0, 0]).bytes(data);
                }
                f.buf
            },
            vec![want(5, 1000, ETH, 16, 1, 0), want(6, 1000, SHORT, 5, 1, 0)],
        ),
        Case {
            error: Some(WantErr {
                offset: 24 + 16 + 16 + 16 + 5,
                records_before: 2,
                kind: |k| {
                    matches!(
                        k,
                        FormatErrorKind::TruncatedRecordHeader { have: 7, need: 16 }
                    )
                },
            }),
            ..ok(
                "pcap truncated record header",
                {
                    let mut f = two(false, MICRO);
                    f.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
                    f
                },
                vec![
                    want(1_000_000_000, 123_456_000, ETH, 60, 1, 0),
                    want(1_000_000_001, 999_000, SHORT, 5, 1, 0),
                ],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 24 + 16 + 16,
                records_before: 1,
                kind: |k| matches!(k, FormatErrorKind::TruncatedPacket { caplen: 5, have: 3 }),
            }),
            ..ok(
                "pcap truncated packet data",
                {
                    let mut f = two(true, NANO);
                    f.truncate(f.len() - 2);
                    f
                },
                vec![want(1_000_000_000, 123_456, ETH, 60, 1, 0)],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 24,
                records_before: 0,
                kind: |k| {
                    matches!(
                        k,
                        FormatErrorKind::CapturedLengthTooLarge {
                            caplen: 300_000,
                            max: 262_144
                        }
                    )
                },
            }),
            ..ok(
                "pcap captured length beyond any snapshot length",
                {
                    let mut f = pcap(false, MICRO, 65535, 1, &[]);
                    f.extend_from_slice(&[0; 8]);
                    f.extend_from_slice(&300_000u32.to_le_bytes());
                    f.extend_from_slice(&300_000u32.to_le_bytes());
                    f.extend_from_slice(&[0; 64]);
                    f
                },
                vec![],
            )
        },
        Case {
            open_error: Some(|k| {
                matches!(
                    k,
                    FormatErrorKind::TruncatedFileHeader { have: 10, need: 24 }
                )
            }),
            ..ok(
                "pcap truncated file header",
                two(false, MICRO)[..10].to_vec(),
                vec![],
            )
        },
        Case {
            open_error: Some(|k| {
                matches!(
                    k,
                    FormatErrorKind::UnsupportedPcapVersion { major: 3, minor: 0 }
                )
            }),
            ..ok(
                "pcap unknown version",
                pcap_version(false, MICRO, (3, 0), 65535, 1, &[]),
                vec![],
            )
        },
        Case {
            open_error: Some(|k| matches!(k, FormatErrorKind::NotACapture(b) if b == b"GET ")),
            ..ok(
                "garbage",
                b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
                vec![],
            )
        },
        Case {
            open_error: Some(|k| matches!(k, FormatErrorKind::Empty)),
            ..ok("empty file", vec![], vec![])
        },
    ];

    // pcapng.
    let one_interface = |be: bool| {
        let mut ng = Ng::new(be);
        ng.shb(be)
            .idb(1, 0, &[])
            .epb(0, 1_500_000_123_456, &eth, 60)
            .epb(0, 1_500_000_000_001, &short, 300);
        ng.bytes()
    };
    let one_interface_records = vec![
        want(1_500_000, 123_456_000, ETH, 60, 1, 0),
        want(1_500_000, 1000, SHORT, 300, 1, 0),
    ];
    cases.extend([
        ok("pcapng little-endian", one_interface(false), one_interface_records.clone()),
        ok("pcapng big-endian", one_interface(true), one_interface_records.clone()),
        ok(
            "pcapng nanosecond and binary resolutions, timestamp offset, two interfaces of one link type",
            {
                let mut ng = Ng::new(false);
                ng.shb(false)
                    .idb(1, 65535, &[(9, vec![9])])
                    .idb(1, 65535, &[(9, vec![0x80 | 20]), (14, opt_u64(false, 100))])
                    .epb(0, 1_700_000_000_123_456_789, &eth, 60)
                    .epb(1, (5 << 20) | (1 << 19), &short, 5);
                ng.bytes()
            },
            vec![want(1_700_000_000, 123_456_789, ETH, 60, 1, 0), want(105, 500_000_000, SHORT, 5, 1, 1)],
        ),
        ok(
            "pcapng simple and obsolete packet blocks, unknown blocks skipped",
            {
                let mut ng = Ng::new(true);
                ng.shb(true)
                    .block(0x0bad_0bad, |b| {
                        b.bytes(b"whatever");
                    })
                    .idb(1, 8, &[])
                    .block(5, |b| {
                        b.u32(0).u64(0);
                    })
                    .spb(&eth[..8], 60)
                    .pb(0, 2_000_000, &short, 5)
                    .block(4, |b| {
                        b.u32(0);
                    });
                ng.bytes()
            },
            vec![want(0, 0, "ffffffffffff0011", 60, 1, 0), want(2, 0, SHORT, 5, 1, 0)],
        ),
        ok(
            "pcapng with two sections",
            {
                let mut ng = Ng::new(false);
                ng.shb(false).idb(1, 0, &[]).epb(0, 1, &short, 5);
                ng.shb(false).idb(1, 0, &[(9, vec![3])]).epb(0, 2_500, &eth, 60);
                ng.bytes()
            },
            vec![want(0, 1000, SHORT, 5, 1, 0), want(2, 500_000_000, ETH, 60, 1, 0)],
        ),
        Case {
            libpcap: false, // libpcap refuses a second link type and a byte-order change
            ..ok(
                "pcapng two link types and sections in both byte orders",
                {
                    let mut ng = Ng::new(false);
                    ng.shb(false).idb(1, 0, &[]).idb(101, 0, &[(9, vec![9])]).epb(1, 3_000_000_007, &short, 5);
                    ng.shb(true).idb(113, 0, &[]).epb(0, 4_000_001, &eth, 60).epb(0, 5, &short, 5);
                    ng.bytes()
                },
                vec![
                    want(3, 7, SHORT, 5, 101, 1),
                    want(4, 1000, ETH, 60, 113, 0),
                    want(0, 5000, SHORT, 5, 113, 0),
                ],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 28 + 20 + 40,
                records_before: 1,
                kind: |k| matches!(k, FormatErrorKind::UnknownInterface { id: 3, count: 1 }),
            }),
            ..ok(
                "pcapng packet on an interface never described",
                {
                    let mut ng = Ng::new(false);
                    ng.shb(false).idb(1, 0, &[]).epb(0, 1, &short, 5).epb(3, 1, &short, 5);
                    ng.bytes()
                },
                vec![want(0, 1000, SHORT, 5, 1, 0)],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 28 + 20 + 48,
                records_before: 1,
                kind: |k| matches!(k, FormatErrorKind::TruncatedBlock { length: 40, have: 39 }),
            }),
            ..ok(
                "pcapng truncated block",
                {
                    let mut f = one_interface(false);
                    f.pop();
                    f
                },
                vec![want(1_500_000, 123_456_000, ETH, 60, 1, 0)],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 28 + 20 + 48,
                records_before: 1,
                kind: |k| matches!(k, FormatErrorKind::BlockLengthMismatch { leading: 40, trailing: 33 }),
            }),
            ..ok(
                "pcapng block lengths disagree",
                {
                    let mut f = one_interface(true);
                    let end = f.len();
                    f[end - 4..].copy_from_slice(&33u32.to_be_bytes());
                    f
                },
                vec![want(1_500_000, 123_456_000, ETH, 60, 1, 0)],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 28 + 20,
                records_before: 0,
                kind: |k| matches!(k, FormatErrorKind::BadBlockLength { length: 49, .. }),
            }),
            ..ok(
                "pcapng block length not a multiple of 4",
                {
                    let mut f = one_interface(false);
                    f[28 + 20 + 4..28 + 20 + 8].copy_from_slice(&49u32.to_le_bytes());
                    f
                },
                vec![],
            )
        },
        Case {
            error: Some(WantErr {
                offset: 28 + 20,
                records_before: 0,
                kind: |k| matches!(k, FormatErrorKind::CapturedLengthOverSnaplen { caplen: 16, snaplen: 10 }),
            }),
            ..ok(
                "pcapng captured length over the interface's snapshot length",
                {
                    let mut ng = Ng::new(false);
                    ng.shb(false).idb(1, 10, &[]).epb(0, 1, &eth, 60);
                    ng.bytes()
                },
                vec![],
            )
        },
        Case {
            open_error: Some(|k| matches!(k, FormatErrorKind::NoInterface)),
            ..ok(
                "pcapng without interfaces",
                {
                    let mut ng = Ng::new(false);
                    ng.shb(false);
                    ng.bytes()
                },
                vec![],
            )
        },
        Case {
            open_error: Some(|k| matches!(k, FormatErrorKind::PacketBeforeInterface)),
            ..ok(
                "pcapng packet before any interface",
                {
                    let mut ng = Ng::new(false);
                    ng.shb(false).epb(0, 1, &short, 5).idb(1, 0, &[]);
                    ng.bytes()
                },
                vec![],
            )
        },
        Case {
            open_error: Some(|k| matches!(k, FormatErrorKind::BadByteOrderMagic(0x0102_0304))),
            ..ok("pcapng bad byte-order magic", hex("0a0d0d0a 1c000000 04030201 0100 0000"), vec![])
        },
    ]);
    cases
}

#[test]
fn hand_made_files_read_as_expected() {
    let mut failures = Vec::new();
    for case in cases() {
        let reader = match (CaptureReader::new(&case.file), case.open_error) {
            (Ok(reader), None) => reader,
            (Err(err), Some(check)) if check(&err.kind) => continue,
            (result, _) => {
                failures.push(format!("{}: open gave {:?}", case.name, result.err()));
                continue;
            }
        };
        let mut got = Vec::new();
        let mut error = None;
        for record in reader.records() {
            match record {
                Ok(r) => got.push(seen(&r)),
                Err(e) => error = Some(e),
            }
        }
        if got != case.records {
            failures.push(format!(
                "{}: records\n  got  {got:?}\n  want {:?}",
                case.name, case.records
            ));
        }
        match (&error, &case.error) {
            (None, None) => {}
            (Some(e), Some(w))
                if e.offset == w.offset
                    && e.records_before == w.records_before
                    && (w.kind)(&e.kind) => {}
            (e, w) => failures.push(format!(
                "{}: error {e:?}, wanted {:?}",
                case.name,
                w.as_ref().map(|w| (w.offset, w.records_before))
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// libpcap (through tcpdump) must deliver the same records from the same files, and stop at
/// the same place.
#[test]
fn hand_made_files_read_as_libpcap_reads_them() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = std::env::temp_dir().join(format!("jitkit-pcap-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        if !case.libpcap || case.open_error.is_some() {
            continue;
        }
        let input = dir.join(format!("{i}.cap"));
        let output = dir.join(format!("{i}.out.pcap"));
        std::fs::write(&input, &case.file).unwrap();
        let status = std::process::Command::new("tcpdump")
            .arg("-r")
            .arg(&input)
            .arg("-w")
            .arg(&output)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        if status.success() == case.error.is_some() {
            failures.push(format!("{}: tcpdump exit status {status}", case.name));
        }
        let written = std::fs::read(&output).unwrap();
        let theirs: Vec<_> = CaptureReader::new(&written)
            .unwrap()
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r.timestamp.secs,
                    r.timestamp.micros(),
                    r.data.to_vec(),
                    r.wire_len,
                )
            })
            .collect();
        let ours: Vec<_> = case
            .records
            .iter()
            .map(|w| {
                (
                    w.secs & 0xffff_ffff,
                    (w.nanos / 1000) as u32,
                    w.data.clone(),
                    w.wire,
                )
            })
            .collect();
        if theirs != ours {
            failures.push(format!(
                "{}:\n  libpcap {theirs:?}\n  ours    {ours:?}",
                case.name
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Writing every record of a pcap file back gives the same bytes, for every hand-made pcap case;
/// pcapng input becomes pcap in this machine's byte order with each packet's fields.
#[test]
fn writing_all_records_back() {
    for case in cases() {
        let Ok(reader) = CaptureReader::new(&case.file) else {
            continue;
        };
        let mut writer = PcapWriter::for_capture(Vec::new(), &reader).unwrap();
        let mut end = 0;
        for record in reader.records() {
            let Ok(record) = record else { break };
            end = record.offset as usize + record.raw.len();
            writer.write(&record).unwrap();
        }
        let out = writer.finish().unwrap();
        match reader {
            CaptureReader::Pcap(_) => {
                let complete = if case.records.is_empty() { 24 } else { end };
                assert_eq!(out, case.file[..complete], "{}", case.name);
            }
            CaptureReader::PcapNg(_) => {
                let back = CaptureReader::new(&out).unwrap();
                let precision = reader.precision();
                let again: Vec<_> = back.records().map(|r| seen(&r.unwrap())).collect();
                let want: Vec<_> = case
                    .records
                    .iter()
                    .map(|w| {
                        let nanos = match precision {
                            jitkit_pcap::Precision::Micro => w.nanos / 1000 * 1000,
                            jitkit_pcap::Precision::Nano => w.nanos,
                        };
                        Want {
                            secs: w.secs & 0xffff_ffff,
                            nanos,
                            link: reader.link_type(),
                            interface: 0,
                            ..w.clone()
                        }
                    })
                    .collect();
                assert_eq!(again, want, "{}", case.name);
            }
        }
    }
}

/// A writer that takes at most 7 bytes per call (and is interrupted now and then), so that
/// vectored writes are split everywhere.
struct Trickle {
    out: Vec<u8>,
    calls: usize,
}

impl std::io::Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(5) {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(7);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn short_and_interrupted_writes_lose_nothing() {
    for case in cases() {
        let Ok(reader @ CaptureReader::Pcap(_)) = CaptureReader::new(&case.file) else {
            continue;
        };
        let mut writer = PcapWriter::for_capture(
            Trickle {
                out: Vec::new(),
                calls: 0,
            },
            &reader,
        )
        .unwrap();
        // Every other record, so that ranges are not merged.
        let mut want = case.file[..24].to_vec();
        for (i, record) in reader.records().map_while(Result::ok).enumerate() {
            if i % 2 == 0 {
                writer.write(&record).unwrap();
                want.extend_from_slice(record.raw);
            }
        }
        assert_eq!(writer.finish().unwrap().out, want, "{}", case.name);
    }
}
