//! Shared by the cbpf_* integration tests: a broad list of tcpdump expressions and a tiny
//! capture reader (pcap and pcapng) for the tcpdump test corpus.

#![allow(dead_code)]

/// Expressions covering the code libpcap generates: protocols, hosts, nets, ports, ranges, byte
/// and word loads with arithmetic, lengths, flags, VLAN/MPLS/PPPoE, IPv6, negations, and an
/// expression that needs scratch memory. Some do not compile for some link types; tests skip
/// those (libpcap refuses them too).
pub const EXPRESSIONS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "igmp",
    "sctp",
    "not ip",
    "ip or ip6",
    "tcp port 80",
    "tcp port 80 or tcp port 443",
    "udp port 53",
    "port 53 or port 123",
    "portrange 1-1024",
    "tcp portrange 6000-6010",
    "src port 22",
    "dst port 22",
    "host 10.0.0.1",
    "src host 192.168.1.1",
    "dst host 192.168.1.1",
    "net 10.0.0.0/8",
    "net 192.168.0.0/16 and not host 192.168.1.1",
    "src net 172.16.0.0/12",
    "ip6 host ::1",
    "ip6 net fe80::/10",
    "ip host 10.0.0.1 and tcp port 22",
    "ip broadcast or ip multicast",
    "ether broadcast",
    "ether multicast",
    "ether host ff:ff:ff:ff:ff:ff",
    "ether src 00:11:22:33:44:55",
    "ether proto 0x88cc",
    "ether[0] & 1 != 0",
    "ether[0:4] & 0xffffff00 = 0",
    "len <= 100",
    "len > 1000",
    "greater 200",
    "less 64",
    "ip[0] & 0xf != 5",
    "ip[2:2] > 576",
    "ip[6:2] & 0x1fff != 0",
    "ip[8] < 64",
    "ip[2:2] / 3 > ip[4] % 5",
    "ip[0] % 3 = 1 and ip[1] ^ 7 = 3 and ip[2] * ip[3] = 4 and ip[4] - 3 = 2",
    "ip[5] / ip[6] = 2 and (ip[7] & ip[8]) = 0 and -ip[9] = 1",
    "ip[1] | 0x10 = 0x10 and ip[9] << 2 > 20 and ip[9] >> 1 < 5",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack = 0",
    "tcp[13] = 18",
    "tcp[0:2] > 1023 and tcp[2:2] < 1024",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "udp[8:2] = 0x1234",
    "icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply",
    "ip6[6] = 58",
    "ip6 and tcp port 443",
    "udp and ip6 dst net ff00::/8",
    "vlan",
    "vlan and tcp",
    "vlan 100",
    "vlan and vlan",
    "mpls",
    "mpls 100",
    "pppoed",
    "pppoes",
    "pppoes 3",
    "ip proto 47",
    "ip proto \\esp or ip proto \\ah",
    "ip and not tcp and not udp and not icmp",
    "(tcp and src port 80) or (udp and dst port 53) or icmp",
    "stp",
    "llc",
    "decnet",
    "atalk",
    "ipx",
    "iso",
    "wlan type data",
    "type mgt",
    "link[0] = 0x45",
    // libpcap compiles protochain to a loop (backward jumps): the kernel and we refuse it.
    "ip6 protochain 6",
    "ip protochain 17",
];

/// One packet of a capture: link type, captured bytes, wire length.
pub struct Packet<'a> {
    pub linktype: u32,
    pub data: &'a [u8],
    pub wire_len: u32,
}

fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    })
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

/// Every complete packet of a pcap or pcapng file (stops quietly at a truncated or corrupt
/// record: the corpus has a few on purpose, and what matters here is the packets).
pub fn packets(file: &[u8]) -> Vec<Packet<'_>> {
    let mut out = Vec::new();
    match file.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => read_pcapng(file, &mut out),
        Some(_) => read_pcap(file, &mut out),
        None => {}
    }
    out
}

fn read_pcap<'a>(file: &'a [u8], out: &mut Vec<Packet<'a>>) {
    let big = match u32_at(file, 0, true) {
        Some(0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34) => true,
        Some(0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1) => false,
        _ => return,
    };
    let modified = matches!(u32_at(file, 0, true), Some(0xa1b2_cd34 | 0x34cd_b2a1));
    let Some(linktype) = u32_at(file, 20, big) else {
        return;
    };
    let record_header = if modified { 24 } else { 16 };
    let mut at = 24;
    while let (Some(caplen), Some(wire_len)) =
        (u32_at(file, at + 8, big), u32_at(file, at + 12, big))
    {
        let start = at + record_header;
        let Some(data) = file.get(start..start + caplen as usize) else {
            return;
        };
        out.push(Packet {
            linktype: linktype & 0x03ff_ffff,
            data,
            wire_len,
        });
        at = start + caplen as usize;
    }
}

fn read_pcapng<'a>(file: &'a [u8], out: &mut Vec<Packet<'a>>) {
    let mut at = 0;
    let mut big = false;
    let mut linktypes: Vec<u32> = Vec::new();
    loop {
        let Some(block) = file.get(at..at + 12) else {
            return;
        };
        let block_type = u32::from_le_bytes(block[..4].try_into().unwrap());
        if block_type == 0x0a0d_0d0a {
            big = match u32_at(file, at + 8, true) {
                Some(0x1a2b_3c4d) => true,
                Some(0x4d3c_2b1a) => false,
                _ => return,
            };
            linktypes.clear();
        }
        let block_type = u32_at(file, at, big).unwrap_or(0);
        let Some(len) = u32_at(file, at + 4, big).map(|l| l as usize) else {
            return;
        };
        if len < 12 || file.len() < at + len {
            return;
        }
        let body = &file[at + 8..at + len - 4];
        match block_type {
            1 => linktypes.push(u32::from(u16_at(body, 0, big).unwrap_or(0))),
            // Enhanced packet block.
            6 => {
                let (Some(iface), Some(caplen), Some(wire_len)) = (
                    u32_at(body, 0, big),
                    u32_at(body, 12, big),
                    u32_at(body, 16, big),
                ) else {
                    return;
                };
                let (Some(&linktype), Some(data)) = (
                    linktypes.get(iface as usize),
                    body.get(20..20 + caplen as usize),
                ) else {
                    return;
                };
                out.push(Packet {
                    linktype,
                    data,
                    wire_len,
                });
            }
            // Simple packet block: interface 0, data up to the block's end.
            3 => {
                let (Some(wire_len), Some(&linktype)) = (u32_at(body, 0, big), linktypes.first())
                else {
                    return;
                };
                let caplen = (wire_len as usize).min(body.len() - 4);
                out.push(Packet {
                    linktype,
                    data: &body[4..4 + caplen],
                    wire_len,
                });
            }
            _ => {}
        }
        at += len;
    }
}
