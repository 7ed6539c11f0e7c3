//! The optimizer never changes a verdict, checked strictly (no tolerance for libpcap's own
//! optimizer artifacts) on expressions that exercise each of its transformations: for every
//! packet of the corpus and the synthetic sets, and for every truncation of the packets the
//! filter is interested in, our optimized program gives what our unoptimized one gives.
//! Both programs run in libpcap's `bpf_filter`.
//!
//! The expressions avoid `or` runs of hosts and ports: those become set tests in code
//! generation when optimizing, in libpcap's optimized order (see `compile_vs_libpcap.rs`).

mod common;

use jitkit_filter::{compile, Options};
use jitkit_testkit::libpcap;

/// Expression, and what in the optimizer it exercises.
const CASES: &[(&str, &str)] = &[
    // Pull-ups: tests of the value A holds move ahead of tests of another value.
    (
        "(tcp or udp) and not port 53 and not port 22",
        "or-chain pull-up, rejecting target",
    ),
    (
        "tcp and not port 22 and not port 80 and not port 443",
        "repeated pull-ups",
    ),
    ("ip host 10.0.0.1 and ip host 10.0.0.2", "and-chain pull-up"),
    (
        "tcp[13] = 2 or tcp[40] = 5 or tcp[13] = 18",
        "or-chain, accepting target: loads stay",
    ),
    (
        "tcp[13] != 2 and tcp[40] != 5 and tcp[13] != 18",
        "and-chain over a far load",
    ),
    (
        "ip[9] = 6 or ip[60] = 1 or ip[9] = 17",
        "absolute far load in an accepting chain",
    ),
    (
        "ether[100] = 1 or ether[200] = 2 or ether[100] = 3",
        "far loads, accepting",
    ),
    (
        "not (ether[100] = 1 or ether[200] = 2 or ether[100] = 3)",
        "far loads, rejecting",
    ),
    (
        "udp and (udp[8] = 1 or udp[30] = 2 or udp[8] = 3)",
        "indexed loads",
    ),
    // Dead loads: dropped only where a failing load could not change the verdict.
    (
        "net fe80::/10",
        "masked-out address words: the furthest load stays",
    ),
    ("ip6 net ::/0", "all words masked out"),
    ("net 0.0.0.0/0", "IPv4 and ARP words masked out"),
    ("ip[100] = 0 or ip", "a load before acceptance stays"),
    ("ip[100] = 0 and not ip", "a load before rejection goes"),
    (
        "host 10.0.0.1 and port 22",
        "ARP branch rejected whatever it loads",
    ),
    (
        "tcp dst port 80 and tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
        "IPv6 branch",
    ),
    ("(tcp or udp) and ip6", "IPv4 branch"),
    // Constants, scratch cells and peephole rules.
    ("1000 / ip[8] > 10", "scratch cell holding a constant"),
    ("2 + ip[8] > 10", "constant through M[]"),
    ("ip[0] - 0x40 = 5", "sub #k; jeq"),
    ("ip[2:2] / ip[8] = 3", "division by X that may be zero"),
    ("tcp[0] - udp[0] = 0", "sub x; jeq #0"),
    ("byte 3 & 1", "and #k; jeq #0 is jset"),
    ("ip[2:2] > 2 * tcp[13]", "arithmetic with X"),
    (
        "tcp[tcpflags] & tcp-rst != 0 or tcp[tcpflags] & tcp-fin != 0",
        "relation values",
    ),
    (
        "ip and ip[9] = 6 and tcp[13] = 18",
        "relation and protocol test share a value",
    ),
    ("mpls and udp", "threading over a covered load"),
    ("vlan and ip[100] = 1", "moved offsets"),
    ("icmp or (tcp and tcp[13] & 2 != 0)", "dead paths"),
];

/// A few packets of interest (accepted by the unoptimized program, or any when none is) and
/// every length they can be cut to.
fn truncations(plain: &[libpcap::RawInsn], link: &str) -> Vec<(Vec<u8>, u32)> {
    let packets = common::packets(link);
    let mut picked: Vec<_> = packets
        .iter()
        .filter(|p| libpcap::bpf_filter(plain, &p.data, p.wire_len) != 0)
        .take(40)
        .collect();
    if picked.is_empty() {
        picked = packets.iter().step_by(97).take(40).collect();
    }
    let mut out = Vec::new();
    for p in picked {
        for cut in 0..p.data.len().min(160) {
            out.push((p.data[..cut].to_vec(), p.wire_len));
        }
    }
    out
}

#[test]
fn optimizer_keeps_every_verdict_on_its_edge_cases() {
    let mut failures = Vec::new();
    for &(expr, what) in CASES {
        for link in ["EN10MB", "LINUX_SLL", "RAW", "IPV6", "PPP"] {
            let lt = common::our_linktype(link);
            let opt = compile(expr, lt, &Options::default());
            let plain = compile(
                expr,
                lt,
                &Options {
                    optimize: false,
                    ..Options::default()
                },
            );
            let (opt, plain) = match (opt, plain) {
                (Ok(o), Ok(p)) => (common::raw(&o), common::raw(&p)),
                (Err(_), Err(_)) => continue,
                // The optimizer may find that nothing is accepted; then nothing may be.
                (Err(_), Ok(p)) => {
                    let p = common::raw(&p);
                    if let Some(pkt) = common::packets(link)
                        .iter()
                        .find(|pkt| libpcap::bpf_filter(&p, &pkt.data, pkt.wire_len) != 0)
                    {
                        failures.push(format!(
                            "{link}: `{expr}` ({what}): rejected as matching nothing, but the \
                             unoptimized program accepts {:02x?}",
                            &pkt.data[..pkt.data.len().min(64)]
                        ));
                    }
                    continue;
                }
                (Ok(_), Err(e)) => {
                    failures.push(format!("{link}: `{expr}`: only -O0 fails: {e}"));
                    continue;
                }
            };
            let whole = common::packets(link)
                .iter()
                .map(|p| (p.data.clone(), p.wire_len));
            for (data, wire) in whole.chain(truncations(&plain, link)) {
                let a = libpcap::bpf_filter(&opt, &data, wire);
                let b = libpcap::bpf_filter(&plain, &data, wire);
                if a != b {
                    failures.push(format!(
                        "{link}: `{expr}` ({what}): optimized {a} != unoptimized {b} on {} bytes {:02x?}",
                        data.len(),
                        &data[..data.len().min(64)]
                    ));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
