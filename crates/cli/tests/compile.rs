//! `jitkit compile` against `tcpdump -d/-dd/-ddd`: where our program is the same as libpcap's
//! (most everyday filters), the printed text must be byte-for-byte tcpdump's.

use std::process::Command;

fn jitkit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jitkit"))
        .args(args)
        .output()
        .expect("jitkit runs")
}

/// tcpdump's text for an expression, compiled for a capture of the sample's link type (EN10MB)
/// with snap length 262144 (the sample's is smaller; the return value is rewritten).
fn tcpdump(flag: &str, expr: &str) -> String {
    jitkit_testkit::require_tool("tcpdump", "tcpdump");
    let sample = jitkit_testkit::repo_root().join("samples/sample.pcap");
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(&sample)
        .arg(flag)
        .arg(expr)
        .output()
        .expect("tcpdump runs");
    assert!(out.status.success(), "tcpdump {flag} {expr}: {out:?}");
    let snap = snaplen(&sample);
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(&format!("ret      #{snap}\n"), "ret      #262144\n")
        .replace(&format!("0x{snap:08x} }}"), "0x00040000 }")
        .replace(&format!("6 0 0 {snap}\n"), "6 0 0 262144\n")
}

fn snaplen(path: &std::path::Path) -> u32 {
    let b = std::fs::read(path).unwrap();
    u32::from_le_bytes(b[16..20].try_into().unwrap())
}

const SAME_AS_TCPDUMP: &[&str] = &[
    "ip",
    "tcp",
    "udp",
    "arp",
    "ip6",
    "not ip",
    "tcp port 80",
    "port 53",
    "host 1.2.3.4",
    "ip host 10.0.0.1 and tcp port 22",
    "icmp or arp",
    "less 100",
    "tcp[13] & 2 != 0",
    "vlan 10 and ip",
    "ether broadcast",
    "udp port 53 or udp port 123",
];

#[test]
fn listings_match_tcpdump() {
    for expr in SAME_AS_TCPDUMP {
        for (ours, theirs) in [("-d", "-d"), ("--dd", "-dd"), ("--ddd", "-ddd")] {
            let out = jitkit(&["compile", ours, expr]);
            assert!(out.status.success(), "{expr}: {out:?}");
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                tcpdump(theirs, expr),
                "jitkit compile {ours} '{expr}'"
            );
        }
    }
}

#[test]
fn link_types_files_and_errors() {
    // -y: SLL puts the protocol at 14.
    let out = jitkit(&["compile", "-y", "LINUX_SLL", "ip"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("(000) ldh      [14]\n"));
    // -F reads the expression from a file, '#' comments removed.
    let dir = std::env::temp_dir().join(format!("jitkit-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("expr.txt");
    std::fs::write(&file, "tcp # web\n and port 80\n").unwrap();
    let from_file = jitkit(&["compile", "-F", file.to_str().unwrap()]);
    let inline = jitkit(&["compile", "tcp and port 80"]);
    assert_eq!(from_file.stdout, inline.stdout);
    std::fs::remove_dir_all(&dir).ok();
    // -O0: libpcap's unoptimized shape is longer.
    let o0 = jitkit(&["compile", "-O0", "tcp port 80"]);
    let o1 = jitkit(&["compile", "tcp port 80"]);
    assert!(o0.stdout.len() > o1.stdout.len());
    // Errors: one line with the position, exit code 1; a bad link type is a usage error.
    let bad = jitkit(&["compile", "tcp and 80"]);
    assert_eq!(bad.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(msg.contains("syntax error at offset 8"), "{msg}");
    assert_eq!(msg.lines().count(), 1);
    let bad = jitkit(&["compile", "port 99999"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("illegal port number 99999 > 65535"));
    let bad = jitkit(&["compile", "-y", "NOPE", "ip"]);
    assert_eq!(bad.status.code(), Some(2));
}
