//! Names that resolve, against libpcap: `ether host NAME` (/etc/ethers, glibc's
//! `ether_hostton`), `net NAME` (/etc/networks, `getnetbyname`), `host NAME` (/etc/hosts,
//! `getaddrinfo`). The machine has no such entries, and the test must
//! not change its /etc, so the outer test re-runs this test binary in a private mount namespace
//! (`unshare --mount`) in which a tmpfs copy of /etc with the entries added is mounted over /etc;
//! the inner test (ignored when run directly) then compiles each expression with jitkit and with
//! libpcap (in this process, so both resolve through the same files) and compares verdicts on
//! packets that do and do not match.

use std::path::Path;
use std::process::Command;

use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap;

/// Marks the copy of /etc, so the inner test knows it runs in the namespace.
const MARKER: &str = "# jitkit names_resolved test entries";

const ETHERS: &str = "\
02:00:00:00:00:01 mybox
2:0:0:0:0:aa mygw
0:16:3e:1:2:3 OtherCase
";

const NETWORKS: &str = "\
mynet 10.20
mynet8 10 net-ten
mynet24 192.168.7
";

const HOSTS: &str = "\
10.1.2.3 myhost
10.1.2.4 myhost
fe80::1 myhost6
10.9.9.9 mygw
";

/// Expressions whose names come from the entries above (EN10MB).
const EXPRESSIONS: &[&str] = &[
    "ether host mybox",
    "ether src mybox",
    "ether dst mybox",
    "ether host othercase",
    "ether src mybox and net mynet",
    "net mynet",
    "src net mynet",
    "dst net mynet8",
    "net net-ten",
    "ip and net mynet24",
    "host myhost",
    "src host myhost",
    "ip host myhost",
    "arp host myhost",
    "host myhost6",
    "ip6 dst host myhost6",
    "host myhost or host myhost6",
    "ether src mybox and not host myhost",
];

/// Expressions libpcap rejects even with the entries (unknown names; `gateway`, which libpcap
/// built with IPv6 does not support): ours must reject them too.
const REJECTED: &[&str] = &["ether host nobody-here", "net no-such-net", "gateway mygw"];

#[test]
fn names_resolve_like_libpcap() {
    jitkit_testkit::require_tool("unshare", "util-linux");
    jitkit_testkit::require_tool("mount", "mount");
    let dir = std::env::temp_dir().join(format!("jitkit-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    for (name, text) in [("ethers", ETHERS), ("networks", NETWORKS), ("hosts", HOSTS)] {
        std::fs::write(dir.join(name), format!("{MARKER}\n{text}")).expect("write entries");
    }
    // In a private mount namespace: a tmpfs copy of /etc with the entries added (appended to
    // the machine's hosts and networks, so that localhost and the like stay), mounted over /etc.
    let script = r#"set -e
etc="$1/etc"
mkdir -p "$etc"
mount -t tmpfs jitkit-names "$etc"
cp -a /etc/. "$etc"/
cp "$1/ethers" "$etc/ethers"
cat "$1/networks" >> "$etc/networks"
cat "$1/hosts" >> "$etc/hosts"
mount --bind "$etc" /etc
exec "$2" --ignored --exact inner_compare_in_namespace --nocapture --test-threads 1
"#;
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&dir)
        .arg(&exe)
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the comparison in a mount namespace failed (unshare --mount and mount need root)\n\
         status: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
}

#[test]
#[ignore = "run by names_resolve_like_libpcap inside a mount namespace with the entries in /etc"]
fn inner_compare_in_namespace() {
    for file in ["/etc/ethers", "/etc/networks", "/etc/hosts"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(
            text.contains(MARKER),
            "{file} lacks the test entries: this test runs only inside names_resolve_like_libpcap"
        );
    }
    assert!(Path::new("/etc/ethers").exists());
    let packets = packets();
    let mut failures = Vec::new();
    for expr in EXPRESSIONS {
        let theirs = libpcap::compile(expr, 1, 262144, true)
            .unwrap_or_else(|e| panic!("libpcap rejects `{expr}` with the entries present: {e}"));
        let ours = match compile(expr, 1, &Options::default()) {
            Ok(p) => libpcap::to_raw(&p),
            Err(e) => {
                failures.push(format!("`{expr}`: ours fails ({e}), libpcap compiles it"));
                continue;
            }
        };
        let (mut accepted, mut rejected) = (0, 0);
        for (what, p) in &packets {
            let want = libpcap::bpf_filter(&theirs, p, p.len() as u32);
            let got = libpcap::bpf_filter(&ours, p, p.len() as u32);
            if (want != 0) != (got != 0) {
                failures.push(format!(
                    "`{expr}` on {what}: libpcap {want}, ours {got}\n{p:02x?}"
                ));
            }
            if want != 0 {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        // The packets must tell the name's value apart from others, or the test proves nothing.
        if accepted == 0 || rejected == 0 {
            failures.push(format!(
                "`{expr}`: libpcap accepts {accepted} and rejects {rejected} of the test packets"
            ));
        }
    }
    for expr in REJECTED {
        let theirs = libpcap::compile(expr, 1, 262144, true);
        let ours = compile(expr, 1, &Options::default());
        if theirs.is_ok() || ours.is_ok() {
            failures.push(format!("`{expr}`: libpcap {theirs:?}, ours {ours:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} expressions with names compared on {} packets",
        EXPRESSIONS.len(),
        packets.len()
    );
}

const MYBOX: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MYGW: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const OTHERCASE: [u8; 6] = [0, 0x16, 0x3e, 1, 2, 3];
const STRANGER: [u8; 6] = [2, 0, 0, 0, 0, 9];

fn ether(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(14 + payload.len());
    p.extend_from_slice(&dst);
    p.extend_from_slice(&src);
    p.extend_from_slice(&ethertype.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// IPv4 + UDP (ports 1234 -> 53).
fn ipv4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 8, 0, 0]);
    p
}

/// IPv6 + UDP.
fn ipv6(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 8, 0, 0]);
    p
}

/// An ARP request from `spa` for `tpa`.
fn arp(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&tpa);
    p
}

/// Frames with every mix of the named and unnamed addresses, labelled for messages.
fn packets() -> Vec<(String, Vec<u8>)> {
    let macs = [
        ("mybox", MYBOX),
        ("mygw", MYGW),
        ("othercase", OTHERCASE),
        ("stranger", STRANGER),
    ];
    let v4 = [
        [10, 1, 2, 3],
        [10, 1, 2, 4],
        [10, 1, 2, 5],
        [10, 20, 0, 0],
        [10, 20, 5, 6],
        [10, 0, 0, 0],
        [10, 200, 1, 1],
        [192, 168, 7, 9],
        [192, 168, 8, 9],
        [10, 9, 9, 9],
        [172, 16, 0, 1],
    ];
    let fe80_1 = {
        let mut a = [0u8; 16];
        a[0] = 0xfe;
        a[1] = 0x80;
        a[15] = 1;
        a
    };
    let fe80_2 = {
        let mut a = fe80_1;
        a[15] = 2;
        a
    };
    let mut out = Vec::new();
    for (dn, dmac) in macs {
        for (sn, smac) in macs {
            for s in v4 {
                for d in [
                    [10, 1, 2, 3],
                    [192, 168, 7, 1],
                    [172, 16, 0, 2],
                    [10, 0, 0, 0],
                    [192, 168, 7, 0],
                    [10, 20, 0, 0],
                ] {
                    out.push((
                        format!("{sn}->{dn} ip {s:?}->{d:?}"),
                        ether(dmac, smac, 0x0800, &ipv4(s, d)),
                    ));
                }
            }
            for (s, d) in [(fe80_1, fe80_2), (fe80_2, fe80_1), (fe80_2, fe80_2)] {
                out.push((
                    format!("{sn}->{dn} ip6 {s:02x?}->{d:02x?}"),
                    ether(dmac, smac, 0x86dd, &ipv6(s, d)),
                ));
            }
            for (s, d) in [
                ([10, 1, 2, 3], [172, 16, 0, 1]),
                ([172, 16, 0, 1], [10, 1, 2, 4]),
            ] {
                out.push((
                    format!("{sn}->{dn} arp {s:?}->{d:?}"),
                    ether(dmac, smac, 0x0806, &arp(smac, s, d)),
                ));
            }
        }
    }
    out
}
