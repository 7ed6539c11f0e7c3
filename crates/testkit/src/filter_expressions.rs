//! The filter expressions the engines' differential tests run against libpcap, kept in one place
//! so that every engine is checked on the same programs.
//!
//! - [`EVERYDAY`]: protocols, hosts, ports, networks, link-level tests. The whole-corpus
//!   comparison with `tcpdump -r -w` (`crates/cli/tests/corpus_filter.rs`) runs these; it spawns
//!   tcpdump once per (capture group, expression), so this list stays short.
//! - [`OPCODES`]: expressions chosen for the cBPF libpcap compiles them to.
//! - [`ALL`]: both; the in-process engine tests (LLVM, eBPF) run it, where an expression costs
//!   milliseconds.
//!
//! (The benchmarks' filters are `bench_filters`: a fixed table, not a coverage list.)

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

/// [`EVERYDAY`] then [`OPCODES`].
pub const ALL: &[&str] = &concat::<{ EVERYDAY.len() + OPCODES.len() }>(EVERYDAY, OPCODES);

/// `a` then `b` as one array of `N` = `a.len() + b.len()` (checked when the constant is built).
const fn concat<const N: usize>(a: &[&'static str], b: &[&'static str]) -> [&'static str; N] {
    assert!(a.len() + b.len() == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < a.len() {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - a.len()];
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{ALL, EVERYDAY, OPCODES};

    #[test]
    fn all_is_everyday_then_opcodes_without_repeats() {
        assert_eq!(ALL, [EVERYDAY, OPCODES].concat());
        let mut seen = std::collections::HashSet::new();
        for expr in ALL {
            assert!(seen.insert(expr), "{expr:?} is listed twice");
        }
    }
}
