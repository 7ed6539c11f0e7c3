//! The filters every engine benchmark measures (BENCHMARKS.md, "Filter engines": the JIT, LLVM
//! and eBPF tables and the compiler's), kept in one place so their rows line up. Every one is
//! also in `filter_expressions::ETHERNET`, which the engines' differential tests run (checked
//! there).

/// The everyday filters, in table order.
pub const EVERYDAY: &[&str] = &[
    "ip",
    "tcp port 80",
    "host 10.0.0.1",
    "udp and dst port 53",
    "ip and tcp[tcpflags] & tcp-syn != 0",
    "net 192.168.0.0/16 and not port 22",
    "vlan and tcp",
    "ip6 and udp",
    "icmp or arp",
];

/// `host A or host B ...` over `n` distinct addresses in 10.0.0.0/8.
pub fn hosts(n: usize) -> String {
    (0..n)
        .map(|i| format!("host 10.{}.{}.{}", i / 200, i % 200, 1 + i % 7))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// (expression, label): the everyday filters, a variable-offset payload match, the source
/// document's expression and a 50-host list.
pub fn engine_filters() -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = EVERYDAY
        .iter()
        .map(|e| (e.to_string(), e.to_string()))
        .collect();
    list.push((
        "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420".into(),
        "HTTP GET (payload at tcp[12]>>2)".into(),
    ));
    list.push((
        "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)".into(),
        "tcp port 80 with payload (source's)".into(),
    ));
    list.push((hosts(50), "host A or host B ... (50 hosts)".into()));
    list
}
