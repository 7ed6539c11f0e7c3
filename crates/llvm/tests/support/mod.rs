//! Shared by the llvm crate's tests and benchmark: programs from libpcap (the oracle's own
//! compiler), the corpus, the list of expressions.
#![allow(dead_code)]

pub mod capture;
pub mod kernel;

use jitkit_testkit::libpcap::{self, RawInsn};

/// The snap length tcpdump uses by default; what accepting programs return.
pub const SNAPLEN: i32 = 262144;

/// Expressions covering every kind of cBPF the compiler emits: absolute and indexed loads of
/// every size, `ldx msh`, scratch memory, every ALU operation including division, modulo and
/// shifts by packet data (zero divisors, counts >= 32), `len`, and every jump.
pub const EXPRESSIONS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "not ip",
    "ip and not tcp",
    "tcp port 80",
    "udp port 53",
    "port 53",
    "tcp port 80 or tcp port 443",
    "udp and (port 67 or port 68)",
    "portrange 1-1023",
    "tcp dst portrange 6000-6010",
    "host 192.168.1.1",
    "ip host 10.0.0.1 and tcp port 22",
    "net 10.0.0.0/8",
    "src net 192.168.0.0/16",
    "ip6 and tcp",
    "ip6 host ::1",
    "tcp dst port 22 and ip6",
    "ether broadcast",
    "ether multicast",
    "ip multicast",
    "ether[0] & 1 != 0",
    "ether proto 0x88cc",
    "vlan",
    "vlan and ip",
    "mpls",
    "pppoes",
    "ip proto 47",
    "ip6 proto 58",
    "icmp[icmptype] == icmp-echo",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "tcp[13] & 2 != 0",
    "ip[8] < 64",
    "ip[6:2] & 0x1fff != 0",
    "ip[0] & 0xf > 5",
    "ip[2:2] > 576",
    "len > 100",
    "len <= 64",
    "greater 200",
    "less 100",
    "udp[8:4] = 0",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
    "ip[2:2] / 4 > 10",
    "ip[2:2] % 7 = 0",
    "ip[2:2] * 3 > 1000",
    "ip[2:2] - 20 > 1000",
    "ip[2:2] ^ 0xff != 0",
    "-ip[8] > 100",
    "1000 / ip[8] > 10",
    "ip[2:2] % (ip[9] & 3) = 1",
    "ip[2:2] << (ip[8] & 63) != 0",
    "ip[2:2] >> (ip[8] & 63) != 0",
    "(ip[2:2] << 2) > 1000",
    "ip[1] & 0xfc != 0 or ip6[1] & 0xf0 != 0",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024",
    "ip[12:4] = ip[16:4]",
    // Runs of jeq on one value (set tests in the native code).
    "host 192.168.1.1 or host 10.0.0.1 or host 10.0.0.2 or host 192.168.1.2 or host 127.0.0.1",
    "port 53 or port 80 or port 443 or port 22 or port 25 or port 123",
];

/// libpcap's program for `expr` on the link type `dlt` (a DLT number), optimized as tcpdump does.
pub fn libpcap_program(expr: &str, dlt: i32) -> Result<Vec<RawInsn>, String> {
    libpcap::compile(expr, dlt, SNAPLEN, true)
}

/// libpcap's DLT number for a corpus link-type name (a name, or a number when libpcap has none).
pub fn dlt_of(name: &str) -> Option<i32> {
    libpcap::linktype_from_name(name).or_else(|| name.parse().ok())
}

/// CPU time this thread has used: compile times measured with it are not inflated by other
/// processes on the (two-core, shared) machine the way wall time is.
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
