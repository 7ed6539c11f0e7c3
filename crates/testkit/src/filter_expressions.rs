//! The filter expressions the engines' differential tests run against libpcap, kept in one place
//! so that every engine is checked on the same programs.
//!
//! - [`EVERYDAY`]: protocols, hosts, ports, networks, link-level tests. The whole-corpus
//!   comparison with `tcpdump -r -w` (`crates/cli/tests/corpus_filter.rs`) runs these; it spawns
//!   tcpdump once per (capture group, expression), so this list stays short.
//! - [`OPCODES`]: expressions chosen for the cBPF libpcap compiles them to.
//! - [`BENCHMARKED`]: the benchmarks' filters the two lists above lack.
//! - [`ALL`]: the three; the LLVM tests run it.
//! - [`ETHERNET`]: [`ALL`], the benchmarks' 50-host list ([`FIFTY_HOSTS`]) and [`MORE`] (more
//!   protocols and qualifiers); every one compiles for Ethernet to a program every validator
//!   accepts. The eBPF tests run it, where an expression costs milliseconds.
//! - [`CLASSIC`]: [`ETHERNET`] and [`NOT_EVERYWHERE`] (expressions some link types or every
//!   validator refuses): the classic-BPF interpreter, JIT and text-form tests run it on every link
//!   type, skipping what libpcap refuses there.
//!
//! (The benchmarks' own table is `bench_filters`; every one of its filters is in [`ETHERNET`],
//! all but [`FIFTY_HOSTS`] in [`ALL`].)

/// Everyday expressions, as someone would type them to tcpdump.
pub const EVERYDAY: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "tcp port 80",
    "tcp port 80 or tcp port 443",
    "udp port 53",
    "port 53 or port 123",
    "not port 22",
    "host 10.0.0.1",
    "src net 192.168.0.0/16",
    "dst net 10.0.0.0/8",
    "portrange 1-1023",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "icmp[icmptype] == icmp-echo",
    "ip[6:2] & 0x1fff != 0",
    "ip[8] < 64",
    "len > 500",
    "less 100",
    "greater 1000",
    "vlan",
    "mpls",
    "ether broadcast",
    "ether multicast",
    "ip multicast",
    "ip proto 47",
    "ip6 and tcp",
    "udp and not port 53",
    "pppoes",
    "ether proto 0x88cc",
    "(tcp or udp) and ip6 multicast",
];

/// With [`EVERYDAY`], every kind of cBPF libpcap generates: absolute, indirect and `ldx msh`
/// loads of every size, `len`, scratch memory, every ALU operation with a constant and with X
/// (division and modulo by zero, shifts by packet data with counts of 32 and more), every jump
/// with constants with and without bit 31, returns of K and A, and long `jeq` runs on one value.
/// Every one compiles for Ethernet.
pub const OPCODES: &[&str] = &[
    // Protocol, host, port and network combinations.
    "not ip",
    "ip and not tcp",
    "port 53",
    "udp port 53 or tcp port 53",
    "udp and (port 67 or port 68)",
    "tcp dst portrange 6000-6010",
    "host 192.168.1.1",
    "ip host 127.0.0.1",
    "ip host 10.0.0.1 and tcp port 22",
    "net 10.0.0.0/8",
    "net 10.0.0.0/8 or net 192.168.0.0/16",
    "ip6 host ::1",
    "tcp dst port 22 and ip6",
    "ip6 and tcp port 443",
    "ip6 proto 58",
    "vlan and ip",
    "ether broadcast or ether multicast",
    // Lengths.
    "len > 100",
    "len <= 64",
    "len > 1000 and ip",
    "greater 200",
    // Packet bytes of every size, at fixed and at computed offsets, and bit tests.
    "ether[0] & 1 != 0",
    "tcp[13] & 2 != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[0] & 0xf > 5",
    "ip[0] & 0xf != 5",
    "ip[2:2] > 576",
    "ip[6:2] & 0x1fff = 0",
    "udp[8:4] = 0",
    "udp[8:4] = 0 or icmp[0] = 8",
    "ip[1] & 0xfc != 0 or ip6[1] & 0xf0 != 0",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024",
    "tcp[2:2] > 1023 and tcp[2:2] < 49152",
    "ip[12:4] = ip[16:4]",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    // Constants with bit 31 set (unsigned comparisons).
    "ip[12:4] >= 0x80000000",
    "ip[16:4] = 0xffffffff",
    "(ip[12:4] ^ ip[16:4]) & 0xffffffff > 0x80000000",
    // Arithmetic with constants.
    "ip[2:2] + 4 > 100",
    "ip[1] | 0x10 = 0x10 and ip[9] << 2 > 20 and ip[9] >> 1 < 5",
    "ip[2:2] / 4 > 10",
    "ip[2:2] % 7 = 0",
    "ip[2:2] * 3 > 1000",
    "ip[2:2] - 20 > 1000",
    "ip[2:2] ^ 0xff != 0",
    "(ip[2:2] << 2) > 1000",
    "-ip[8] > 100",
    "-ip[0] & 0xff > 0x40",
    "ip[8] * 3 + ip[9] / 2 - 7 > 100",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
    // Arithmetic with X from packet data: zero divisors, shift counts of 32 and more.
    "1000 / ip[8] > 10",
    "ip[2:2] / ip[9] > 100",
    "ip[2:2] / (ip[9] - 6) > 100",
    "ip[2:2] % (ip[9] & 3) = 1",
    "ip[2:2] % ((ip[8] & 3) + 0) = 1",
    "ip[2:2] << (ip[8] & 63) != 0",
    "ip[2:2] << (ip[9] & 63) > 4096",
    "ip[2:2] >> (ip[8] & 63) != 0",
    "ip[2:2] >> (ip[8] & 0x3f) = 0",
    // Runs of `jeq` on one value (set tests in LLVM's native code).
    "host 192.168.1.1 or host 10.0.0.1 or host 10.0.0.2 or host 192.168.1.2 or host 127.0.0.1",
    "port 53 or port 80 or port 443 or port 22 or port 25 or port 123",
];

/// The benchmarks' filters (`bench_filters::engine_filters`) that the lists above do not have, so
/// that the filters whose speed BENCHMARKS.md reports are checked against libpcap by every
/// engine's tests (a testkit test keeps it so). The one not here is [`FIFTY_HOSTS`].
pub const BENCHMARKED: &[&str] = &[
    "udp and dst port 53",
    "ip and tcp[tcpflags] & tcp-syn != 0",
    "net 192.168.0.0/16 and not port 22",
    "vlan and tcp",
    "ip6 and udp",
    "icmp or arp",
];

/// The benchmarks' 50-host list (`bench_filters::hosts(50)`): 161 instructions for Ethernet,
/// long `jeq` runs on the addresses (the JIT's vector compare, LLVM's set tests). Not in
/// [`ALL`]: the LLVM tests' check of the unoptimized control-flow graph (`llvm_emit`: at least
/// one edge per instruction) fails on it. The classic and eBPF engines' tests run it
/// ([`ETHERNET`]).
pub const FIFTY_HOSTS: &str = concat!(
    "host 10.0.0.1 or host 10.0.1.2 or host 10.0.2.3 or host 10.0.3.4 or ",
    "host 10.0.4.5 or host 10.0.5.6 or host 10.0.6.7 or host 10.0.7.1 or ",
    "host 10.0.8.2 or host 10.0.9.3 or host 10.0.10.4 or host 10.0.11.5 or ",
    "host 10.0.12.6 or host 10.0.13.7 or host 10.0.14.1 or host 10.0.15.2 or ",
    "host 10.0.16.3 or host 10.0.17.4 or host 10.0.18.5 or host 10.0.19.6 or ",
    "host 10.0.20.7 or host 10.0.21.1 or host 10.0.22.2 or host 10.0.23.3 or ",
    "host 10.0.24.4 or host 10.0.25.5 or host 10.0.26.6 or host 10.0.27.7 or ",
    "host 10.0.28.1 or host 10.0.29.2 or host 10.0.30.3 or host 10.0.31.4 or ",
    "host 10.0.32.5 or host 10.0.33.6 or host 10.0.34.7 or host 10.0.35.1 or ",
    "host 10.0.36.2 or host 10.0.37.3 or host 10.0.38.4 or host 10.0.39.5 or ",
    "host 10.0.40.6 or host 10.0.41.7 or host 10.0.42.1 or host 10.0.43.2 or ",
    "host 10.0.44.3 or host 10.0.45.4 or host 10.0.46.5 or host 10.0.47.6 or ",
    "host 10.0.48.7 or host 10.0.49.1",
);

/// More of the language, every one compiling for Ethernet: further protocols (RARP, IGMP, SCTP,
/// STP, LLC, DECnet, AppleTalk, IPX, ISO, PPPoE discovery), `src`/`dst` qualifiers, Ethernet
/// addresses, VLAN and MPLS IDs, nested VLANs, chains of arithmetic on packet bytes.
/// Not in [`ALL`], which would add them to the LLVM tests too (not tried); the classic and eBPF
/// engines' tests run them ([`ETHERNET`]).
pub const MORE: &[&str] = &[
    "rarp",
    "igmp",
    "sctp",
    "ip or ip6",
    "portrange 1-1024",
    "tcp portrange 6000-6010",
    "src port 22",
    "dst port 22",
    "src host 192.168.1.1",
    "dst host 192.168.1.1",
    "net 192.168.0.0/16 and not host 192.168.1.1",
    "src net 172.16.0.0/12",
    "ip6 net fe80::/10",
    "ip broadcast or ip multicast",
    "ether host ff:ff:ff:ff:ff:ff",
    "ether src 00:11:22:33:44:55",
    "ether[0:4] & 0xffffff00 = 0",
    "len <= 100",
    "len > 1000",
    "less 64",
    "ip[2:2] / 3 > ip[4] % 5",
    "ip[0] % 3 = 1 and ip[1] ^ 7 = 3 and ip[2] * ip[3] = 4 and ip[4] - 3 = 2",
    "ip[5] / ip[6] = 2 and (ip[7] & ip[8]) = 0 and -ip[9] = 1",
    "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
    "tcp[13] = 18",
    "udp[8:2] = 0x1234",
    "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply",
    "ip6[6] = 58",
    "udp and ip6 dst net ff00::/8",
    "vlan 100",
    "vlan and vlan",
    "mpls 100",
    "pppoed",
    "pppoes 3",
    "ip proto \\esp or ip proto \\ah",
    "ip and not tcp and not udp and not icmp",
    "(tcp and src port 80) or (udp and dst port 53) or icmp",
    "stp",
    "llc",
    "decnet",
    "atalk",
    "ipx",
    "iso",
    "link[0] = 0x45",
];

/// Expressions libpcap refuses on some link types (802.11 frame types: 802.11 link types only)
/// or compiles to programs no validator accepts (`protochain` is a loop: a backward jump, which
/// the kernel's rules and ours refuse).
pub const NOT_EVERYWHERE: &[&str] = &[
    "wlan type data",
    "type mgt",
    "ip6 protochain 6",
    "ip protochain 17",
];

/// [`EVERYDAY`], [`OPCODES`], [`BENCHMARKED`].
pub const ALL: &[&str] = &concat::<{ EVERYDAY.len() + OPCODES.len() + BENCHMARKED.len() }>(&[
    EVERYDAY,
    OPCODES,
    BENCHMARKED,
]);

/// [`ALL`], [`FIFTY_HOSTS`], [`MORE`]: every one compiles for Ethernet to a program every
/// validator accepts. The eBPF tests run these.
pub const ETHERNET: &[&str] =
    &concat::<{ ALL.len() + 1 + MORE.len() }>(&[ALL, &[FIFTY_HOSTS], MORE]);

/// [`ETHERNET`], [`NOT_EVERYWHERE`]: what the classic-BPF tests (interpreter, JIT, text forms)
/// run on every link type, skipping what libpcap refuses there.
pub const CLASSIC: &[&str] =
    &concat::<{ ETHERNET.len() + NOT_EVERYWHERE.len() }>(&[ETHERNET, NOT_EVERYWHERE]);

/// The `parts` one after another as one array of `N` strings (checked when the constant is
/// built).
const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut part = 0;
    while part < parts.len() {
        let mut i = 0;
        while i < parts[part].len() {
            assert!(n < N, "more strings than N");
            out[n] = parts[part][i];
            n += 1;
            i += 1;
        }
        part += 1;
    }
    assert!(n == N, "fewer strings than N");
    out
}

#[cfg(test)]
mod tests {
    use super::{
        ALL, BENCHMARKED, CLASSIC, ETHERNET, EVERYDAY, FIFTY_HOSTS, MORE, NOT_EVERYWHERE, OPCODES,
    };

    #[test]
    fn the_combined_lists_are_their_parts_without_repeats() {
        assert_eq!(ALL, [EVERYDAY, OPCODES, BENCHMARKED].concat());
        assert_eq!(ETHERNET, [ALL, &[FIFTY_HOSTS], MORE].concat());
        assert_eq!(CLASSIC, [ETHERNET, NOT_EVERYWHERE].concat());
        let mut seen = std::collections::HashSet::new();
        for expr in CLASSIC {
            assert!(seen.insert(expr), "{expr:?} is listed twice");
        }
    }

    /// What the lists' documentation promises: [`ETHERNET`] compiles for Ethernet (optimized and
    /// not) to programs our validator (the kernel's rules) accepts; each of [`NOT_EVERYWHERE`] is
    /// refused on Ethernet by libpcap or by the validator.
    #[test]
    fn ethernet_compiles_and_validates_exactly_what_the_lists_say() {
        use crate::libpcap;
        let ethernet = libpcap::linktype_from_name("EN10MB").unwrap();
        let accepted = |expr: &str, optimize: bool| {
            libpcap::compile(expr, ethernet, 262144, optimize)
                .map(|raw| jitkit_bpf::cbpf::validate(&libpcap::from_raw(&raw)).is_ok())
                .unwrap_or(false)
        };
        for expr in ETHERNET {
            for optimize in [true, false] {
                assert!(accepted(expr, optimize), "{expr:?} (optimize {optimize})");
            }
        }
        for expr in NOT_EVERYWHERE {
            assert!(!accepted(expr, true), "{expr:?} runs on Ethernet");
        }
    }

    /// [`OPCODES`]' promise for arithmetic: libpcap's programs for [`ALL`] on Ethernet (optimized
    /// and not) hold every ALU operation, with K and with X, and `neg`.
    #[test]
    fn all_has_every_alu_operation() {
        use crate::libpcap;
        use jitkit_bpf::cbpf::op;
        let ethernet = libpcap::linktype_from_name("EN10MB").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for expr in ALL {
            for optimize in [true, false] {
                let raw = libpcap::compile(expr, ethernet, 262144, optimize).unwrap();
                seen.extend(raw.iter().map(|insn| insn.code));
            }
        }
        let alu: Vec<u16> = op::ALL
            .into_iter()
            .filter(|&code| code & 0x07 == op::ALU)
            .collect();
        assert_eq!(alu.len(), 21, "10 operations with K and X, and neg");
        let missing: Vec<String> = alu
            .iter()
            .filter(|code| !seen.contains(code))
            .map(|code| format!("{code:#04x}"))
            .collect();
        assert!(missing.is_empty(), "no program of ALL has {missing:?}");
    }

    /// Every filter a benchmark measures is one the engines' differential tests run: all in
    /// [`ETHERNET`] (classic and eBPF engines), all but the 50-host list in [`ALL`] (LLVM).
    #[test]
    fn every_benchmarked_filter_is_tested() {
        assert_eq!(crate::bench_filters::hosts(50), FIFTY_HOSTS);
        for (expr, label) in crate::bench_filters::engine_filters() {
            let expr = expr.as_str();
            assert!(ETHERNET.contains(&expr), "`{label}` is not in ETHERNET");
            if expr != FIFTY_HOSTS {
                assert!(ALL.contains(&expr), "`{label}` is not in ALL");
            }
        }
    }
}
