//! `jitkit filter` as a user runs it (the real binary) against `tcpdump -r IN -w OUT EXPR`:
//! the output files must hold the same records (byte for byte for ordinary pcap input), on
//! corpus captures of several formats and on a capture big enough to be filtered in parallel.
//! Also: damaged input, pcapng with two link types, the count-only mode, stdin, stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jitkit_pcap::{CaptureReader, MappedFile};

const JITKIT: &str = env!("CARGO_BIN_EXE_jitkit");

fn corpus(name: &str) -> PathBuf {
    jitkit_testkit::corpus_dir()
        .join("tcpdump-tests")
        .join(name)
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitkit-e2e-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tcpdump(args: &[&std::ffi::OsStr]) -> Output {
    let output = Command::new("tcpdump")
        .args(args)
        .output()
        .expect("tcpdump runs");
    assert!(
        output.status.success(),
        "tcpdump {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `tcpdump -ddd -r IN EXPR` into `prog`.
fn program_file(input: &Path, expr: &str, prog: &Path) {
    let output = tcpdump(&[
        "-ddd".as_ref(),
        "-r".as_ref(),
        input.as_os_str(),
        expr.as_ref(),
    ]);
    std::fs::write(prog, output.stdout).unwrap();
}

fn jitkit(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(JITKIT)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("jitkit runs")
}

/// Each record as libpcap delivers it: (seconds, microseconds, bytes, wire length).
fn records(path: &Path) -> Vec<(u64, u32, Vec<u8>, u32)> {
    let map = MappedFile::open(path).unwrap();
    let reader = CaptureReader::new(&map).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r.timestamp.secs & 0xffff_ffff,
                r.timestamp.micros(),
                r.data.to_vec(),
                r.wire_len,
            )
        })
        .collect()
}

/// Filters `input` with tcpdump and with `jitkit filter --cbpf` (tcpdump's program) and checks
/// the outputs: identical bytes when `same_bytes`, else identical records.
fn compare(dir: &Path, input: &Path, expr: &str, same_bytes: bool) {
    let (prog, ours, theirs) = (
        dir.join("prog.txt"),
        dir.join("ours.pcap"),
        dir.join("theirs.pcap"),
    );
    program_file(input, expr, &prog);
    let output = jitkit(&[
        "filter".as_ref(),
        "--engine".as_ref(),
        "interp".as_ref(),
        "--cbpf".as_ref(),
        prog.as_os_str(),
        "-r".as_ref(),
        input.as_os_str(),
        "-w".as_ref(),
        ours.as_os_str(),
    ]);
    assert!(
        output.status.success(),
        "{}: {}",
        input.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    tcpdump(&[
        "-r".as_ref(),
        input.as_os_str(),
        "-w".as_ref(),
        theirs.as_os_str(),
        expr.as_ref(),
    ]);
    let want = records(&theirs);
    assert_eq!(records(&ours), want, "{} `{expr}`", input.display());
    if same_bytes {
        assert!(
            std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
            "{} `{expr}`: bytes differ",
            input.display()
        );
    }
    // The summary line counts what was written.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(", {} matched", want.len())),
        "{stderr}"
    );
}

#[test]
fn corpus_captures_of_every_format_filter_like_tcpdump() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("formats");
    // (capture, what it exercises, output identical byte for byte)
    let cases = [
        ("afs.pcap", true),                     // little-endian microseconds, Ethernet
        ("arp-oobr.pcap", true),                // Ethernet, 2509 packets
        ("pptp.pcap", false),                   // big-endian
        ("tcp-handshake-nano.pcap", false),     // nanoseconds, LINUX_SLL
        ("of13_ericsson.pcapng", false),        // pcapng
        ("ospf6_print_lshdr-oobr.pcap", false), // records longer than the snapshot length
        ("aarp-heapoverflow-1.pcap", true),     // FCS bits above the link type
    ];
    for (name, same_bytes) in cases {
        let input = corpus(name);
        assert!(
            input.exists(),
            "{} is missing from the corpus",
            input.display()
        );
        for expr in ["ip", "tcp", "not udp", "ip6 or arp", "len > 100"] {
            compare(&dir, &input, expr, same_bytes);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// About 48 MB: big enough for the parallel path (several windows on several threads).
fn big_capture(path: &Path) {
    // Little-endian microsecond Ethernet captures with no record over their snapshot length.
    let mut chunk = Vec::new();
    for name in [
        "afs.pcap",
        "arp-oobr.pcap",
        "AoE_Linux.pcap",
        "huge-tipc-messages.pcap",
    ] {
        let bytes = std::fs::read(corpus(name)).unwrap();
        chunk.extend_from_slice(&bytes[24..]);
    }
    let mut file = jitkit_pcap::native_header(jitkit_pcap::Precision::Micro, 262_144, 1).to_vec();
    while file.len() < 48 << 20 {
        file.extend_from_slice(&chunk);
    }
    std::fs::write(path, file).unwrap();
}

#[test]
fn big_capture_filtered_in_parallel_is_tcpdumps_output_byte_for_byte() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("big");
    let big = dir.join("big.pcap");
    big_capture(&big);
    for expr in [
        "udp port 53",
        "not udp port 53",
        "tcp[tcpflags] & tcp-syn != 0",
    ] {
        compare(&dir, &big, expr, true);
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Keeping most of a big capture: into a file on the temporary directory's file system (where
/// a second thread may write the file's end through a mapping), to standard output (a pipe),
/// to /dev/null and to tmpfs (where it may not): tcpdump's bytes every time.
#[test]
fn keeping_most_packets_gives_tcpdumps_bytes_wherever_they_go() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("keep-most");
    let big = dir.join("big.pcap");
    big_capture(&big);
    let expr = "not udp port 53";
    let theirs = dir.join("theirs.pcap");
    tcpdump(&[
        "-r".as_ref(),
        big.as_os_str(),
        "-w".as_ref(),
        theirs.as_os_str(),
        expr.as_ref(),
    ]);
    let want = std::fs::read(&theirs).unwrap();
    assert!(want.len() > 40 << 20, "most packets kept");
    let filter = |out: &std::ffi::OsStr| {
        let output = jitkit(&[
            "filter".as_ref(),
            expr.as_ref(),
            "-r".as_ref(),
            big.as_os_str(),
            "-w".as_ref(),
            out,
        ]);
        assert!(
            output.status.success(),
            "-w {out:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let ours = dir.join("ours.pcap");
    filter(ours.as_os_str());
    assert!(std::fs::read(&ours).unwrap() == want, "file: bytes differ");
    assert!(filter("-".as_ref()).stdout == want, "stdout: bytes differ");
    let null = filter("/dev/null".as_ref());
    let stderr = String::from_utf8_lossy(&null.stderr);
    assert!(
        stderr.contains(&format!(", {} matched", records(&theirs).len())),
        "{stderr}"
    );
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let on_tmpfs = shm.join(format!("jitkit-e2e-keep-most-{}.pcap", std::process::id()));
        filter(on_tmpfs.as_os_str());
        let got = std::fs::read(&on_tmpfs).unwrap();
        std::fs::remove_file(&on_tmpfs).unwrap();
        assert!(got == want, "tmpfs: bytes differ");
    }
    // Cut inside the last record: every complete record is written, then the error.
    let cut = dir.join("cut.pcap");
    let bytes = std::fs::read(&big).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let status = Command::new("tcpdump")
        .args([
            "-r".as_ref(),
            cut.as_os_str(),
            "-w".as_ref(),
            theirs.as_os_str(),
            expr.as_ref(),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let output = jitkit(&[
        "filter".as_ref(),
        expr.as_ref(),
        "-r".as_ref(),
        cut.as_os_str(),
        "-w".as_ref(),
        ours.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("truncated"));
    assert!(
        std::fs::read(&ours).unwrap() == std::fs::read(&theirs).unwrap(),
        "truncated input: bytes differ"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_input_writes_every_complete_record_and_fails() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("truncated");
    let whole = std::fs::read(corpus("afs.pcap")).unwrap();
    let input = dir.join("cut.pcap");
    std::fs::write(&input, &whole[..whole.len() - 7]).unwrap();
    let (ours, theirs) = (dir.join("ours.pcap"), dir.join("theirs.pcap"));
    let output = jitkit(&[
        "filter".as_ref(),
        "-r".as_ref(),
        input.as_os_str(),
        "-w".as_ref(),
        ours.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let n = records(&ours).len();
    assert!(
        stderr.contains(&format!("record {} at byte offset", n + 1))
            && stderr.contains("truncated"),
        "{stderr}"
    );
    // tcpdump also fails, having written the same complete records.
    let status = Command::new("tcpdump")
        .args([
            "-r".as_ref(),
            input.as_os_str(),
            "-w".as_ref(),
            theirs.as_os_str(),
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// How many records `tcpdump -r IN -w OUT EXPR` writes.
fn tcpdump_count(input: &Path, expr: &str, dir: &Path) -> usize {
    let out = dir.join("count.pcap");
    tcpdump(&[
        "-r".as_ref(),
        input.as_os_str(),
        "-w".as_ref(),
        out.as_os_str(),
        expr.as_ref(),
    ]);
    records(&out).len()
}

#[test]
fn count_only_without_output_file() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let input = corpus("afs.pcap");
    let dir = temp_dir("count");
    let prog = dir.join("prog.txt");
    program_file(&input, "tcp", &prog);
    let output = jitkit(&[
        "filter".as_ref(),
        "--engine".as_ref(),
        "interp".as_ref(),
        "--cbpf".as_ref(),
        prog.as_os_str(),
        "-r".as_ref(),
        input.as_os_str(),
    ]);
    assert!(output.status.success());
    let want = tcpdump_count(&input, "tcp", &dir);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        want.to_string()
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn program_from_standard_input() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let input = corpus("afs.pcap");
    let program = tcpdump(&[
        "-dd".as_ref(),
        "-r".as_ref(),
        input.as_os_str(),
        "udp".as_ref(),
    ])
    .stdout;
    let mut child = Command::new(JITKIT)
        .args(["filter", "--engine", "interp", "--cbpf", "-", "-r"])
        .arg(&input)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &program).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let want = String::from_utf8_lossy(
        &tcpdump(&["-r".as_ref(), input.as_os_str(), "udp".as_ref()]).stdout,
    )
    .lines()
    .count();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        want.to_string()
    );
    // Piped stderr: the summary line and nothing else (no progress bar).
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

#[test]
fn refusals_are_one_clear_line() {
    let dir = temp_dir("refusals");
    let input = corpus("afs.pcap");
    // A program that fails validation names the instruction.
    let prog = dir.join("bad.txt");
    std::fs::write(&prog, "2\n40 0 0 12\n21 0 0 2048\n").unwrap();
    let output = jitkit(&[
        "filter".as_ref(),
        "--cbpf".as_ref(),
        prog.as_os_str(),
        "-r".as_ref(),
        input.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("jitkit: ")
            && stderr.contains("instruction 1")
            && stderr.lines().count() == 1,
        "{stderr}"
    );

    // Not a capture.
    let output = jitkit(&["filter".as_ref(), "-r".as_ref(), prog.as_os_str()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a pcap or pcapng capture"));

    // A pcapng whose second interface has another link type: the first packets are written,
    // then a clear error.
    let mut ng = Vec::new();
    let block = |ng: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        ng.extend_from_slice(&kind.to_le_bytes());
        ng.extend_from_slice(&len.to_le_bytes());
        ng.extend_from_slice(body);
        ng.extend_from_slice(&len.to_le_bytes());
    };
    block(
        &mut ng,
        0x0a0d0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    block(&mut ng, 1, &[1, 0, 0, 0, 0, 0, 0, 0]); // Ethernet
    block(&mut ng, 1, &[101, 0, 0, 0, 0, 0, 0, 0]); // raw IP
    let packet = |interface: u8| {
        [
            &[interface, 0, 0, 0][..],
            &[0; 8],
            &[4, 0, 0, 0, 4, 0, 0, 0],
            &[1, 2, 3, 4],
        ]
        .concat()
    };
    block(&mut ng, 6, &packet(0));
    block(&mut ng, 6, &packet(1));
    let input = dir.join("two-link-types.pcapng");
    std::fs::write(&input, ng).unwrap();
    let out = dir.join("out.pcap");
    let output = jitkit(&[
        "filter".as_ref(),
        "-r".as_ref(),
        input.as_os_str(),
        "-w".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("record 2") && stderr.contains("link type 101"),
        "{stderr}"
    );
    assert_eq!(records(&out).len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// The expression path with the default engine, in both argument orders tcpdump users write:
/// `jitkit filter EXPR -r IN -w OUT` and `jitkit filter -r IN -w OUT WORDS...`.
#[test]
fn expressions_with_the_default_engine_write_tcpdumps_bytes() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = temp_dir("expressions");
    let (ours, theirs) = (dir.join("ours.pcap"), dir.join("theirs.pcap"));
    for name in ["afs.pcap", "arp-oobr.pcap"] {
        let input = corpus(name);
        for expr in [
            "udp port 7000 or udp port 7001",
            "arp",
            "not ip",
            "ip and len > 300",
        ] {
            tcpdump(&[
                "-r".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                theirs.as_os_str(),
                expr.as_ref(),
            ]);
            let want = std::fs::read(&theirs).unwrap();
            let before = jitkit(&[
                "filter".as_ref(),
                expr.as_ref(),
                "-r".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                ours.as_os_str(),
            ]);
            assert!(
                before.status.success(),
                "{name} `{expr}`: {}",
                String::from_utf8_lossy(&before.stderr)
            );
            assert!(
                std::fs::read(&ours).unwrap() == want,
                "{name} `{expr}`: bytes differ"
            );
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "filter".as_ref(),
                "-r".as_ref(),
                input.as_os_str(),
                "-w".as_ref(),
                ours.as_os_str(),
            ];
            args.extend(expr.split(' ').map(std::ffi::OsStr::new));
            let after = jitkit(&args);
            assert!(
                after.status.success(),
                "{name} `{expr}`: {}",
                String::from_utf8_lossy(&after.stderr)
            );
            assert!(
                std::fs::read(&ours).unwrap() == want,
                "{name} `{expr}` (words after -w): bytes differ"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
