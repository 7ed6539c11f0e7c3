//! Random expressions (proptest) compiled by jitkit and libpcap: same acceptance, same verdicts
//! on every corpus and synthetic packet; and the optimizer never changes a verdict.

mod common;

use proptest::prelude::*;

fn primitive() -> impl Strategy<Value = String> {
    let addr = prop::sample::select(vec![
        "10.0.0.1",
        "10.0.0.2",
        "192.168.1.1",
        "1.2.3.4",
        "127.0.0.1",
        "10.1",
        "224.0.0.1",
    ]);
    let port = prop::sample::select(vec!["22", "53", "80", "123", "443", "1024", "8080", "0"]);
    let proto = prop::sample::select(vec![
        "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "igmp", "sctp", "pim", "vrrp",
        "ah", "esp", "stp", "ipx", "iso", "atalk", "decnet", "netbeui",
    ]);
    let dir = prop::sample::select(vec!["", "src ", "dst ", "src or dst ", "src and dst "]);
    let tproto = prop::sample::select(vec!["", "tcp ", "udp ", "sctp "]);
    let hproto = prop::sample::select(vec!["", "ip ", "arp ", "rarp "]);
    let field = prop::sample::select(vec![
        "ip[0]",
        "ip[9]",
        "ip[2:2]",
        "ip[6:2] & 0x1fff",
        "tcp[13]",
        "tcp[0:2]",
        "udp[2:2]",
        "icmp[0]",
        "ip6[6]",
        "ether[12:2]",
        "ether[0] & 1",
        "len",
        "ip[0] & 0xf",
        "tcp[12] >> 4",
        "arp[7]",
    ]);
    let rel = prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="]);
    let num = prop::sample::select(vec![
        "0", "1", "2", "4", "5", "6", "17", "64", "0x45", "100", "1500",
    ]);
    prop_oneof![
        proto.prop_map(str::to_string),
        (hproto.clone(), dir.clone(), addr.clone()).prop_map(|(p, d, a)| format!("{p}{d}host {a}")),
        (dir.clone(), addr).prop_map(|(d, a)| format!("{d}net {a}")),
        (tproto.clone(), dir.clone(), port.clone()).prop_map(|(p, d, n)| format!("{p}{d}port {n}")),
        (tproto, dir, port.clone(), port)
            .prop_map(|(p, d, a, b)| format!("{p}{d}portrange {a}-{b}")),
        (field, rel, num.clone()).prop_map(|(f, r, n)| format!("{f} {r} {n}")),
        num.clone().prop_map(|n| format!("less {n}")),
        num.prop_map(|n| format!("greater {n}")),
        prop::sample::select(vec![
            "vlan",
            "vlan 10",
            "mpls",
            "mpls 100",
            "pppoes",
            "pppoed",
            "ether broadcast",
            "ether multicast",
            "ip multicast",
            "ip6 multicast",
            "llc",
            "inbound",
            "outbound",
            "ether host 1:2:3:4:5:6",
            "ether proto \\arp",
            "ip proto 17",
            "ip6 proto 6",
            "proto 132",
            "geneve",
            "geneve 10",
            "ip6 protochain 6",
            "protochain 17",
            "ip protochain 51",
            "host localhost",
            "net loopback",
            "wlan type data",
            "type mgt subtype beacon",
            "type ctl",
            "dir tods",
            "dir fromds",
            "wlan addr1 ff:ff:ff:ff:ff:ff",
            "wlan addr2 00:11:22:33:44:55",
            "wlan src 00:11:22:33:44:55",
            "wlan dst 01:00:5e:00:00:01",
            "wlan ra 01:02:03:04:05:06",
            "link[0] & 0xfc = 0x88",
            "radio[2:2] > 20",
        ])
        .prop_map(str::to_string),
    ]
}

fn expression() -> impl Strategy<Value = String> {
    primitive().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) && ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_expressions_match_libpcap(expr in expression()) {
        for link in common::LINKS {
            if let Err(e) = common::check_with(&expr, link, true, true) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    #[test]
    fn generated_expressions_match_libpcap_unoptimized(expr in expression()) {
        for link in ["EN10MB", "LINUX_SLL", "RAW"] {
            if let Err(e) = common::check(&expr, link, false) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
