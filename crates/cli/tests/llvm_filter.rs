//! `jitkit filter --engine llvm` end to end: the program tcpdump prints (`tcpdump -ddd -r IN
//! EXPR`) run by LLVM's code selects exactly the records `tcpdump -r IN -w OUT EXPR` writes.
//! Both outputs are pcap files of the same input; their records must be byte-identical.

use std::path::{Path, PathBuf};
use std::process::Command;

const EXPRESSIONS: &[&str] = &[
    "tcp port 80 or tcp port 443",
    "udp",
    "ip and not tcp",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip[2:2] > 200",
    "ip6 or arp",
];

fn sample() -> PathBuf {
    jitkit_testkit::repo_root().join("samples/sample.pcap")
}

/// The records of a pcap file: everything after the 24-byte file header.
fn records(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes[24..].to_vec()
}

#[test]
fn llvm_engine_writes_exactly_tcpdumps_records() {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let dir = std::env::temp_dir().join(format!("jitkit-llvm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = sample();
    for (n, expr) in EXPRESSIONS.iter().enumerate() {
        let program = Command::new("tcpdump")
            .arg("-ddd")
            .arg("-r")
            .arg(&input)
            .arg(expr)
            .output()
            .unwrap();
        assert!(program.status.success(), "tcpdump -ddd {expr:?}");
        let prog_path = dir.join(format!("{n}.txt"));
        std::fs::write(&prog_path, &program.stdout).unwrap();

        let theirs = dir.join(format!("{n}.tcpdump.pcap"));
        let status = Command::new("tcpdump")
            .arg("-r")
            .arg(&input)
            .arg("-w")
            .arg(&theirs)
            .arg(expr)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "tcpdump -r -w {expr:?}");

        let ours = dir.join(format!("{n}.jitkit.pcap"));
        let out = Command::new(env!("CARGO_BIN_EXE_jitkit"))
            .args(["filter", "--engine", "llvm", "--cbpf"])
            .arg(&prog_path)
            .arg("-r")
            .arg(&input)
            .arg("-w")
            .arg(&ours)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{expr:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ours, theirs) = (records(&ours), records(&theirs));
        assert!(
            !theirs.is_empty() || *expr == "ip6 or arp",
            "{expr:?} selects nothing"
        );
        assert!(
            ours == theirs,
            "{expr:?}: jitkit --engine llvm and tcpdump wrote different records"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
