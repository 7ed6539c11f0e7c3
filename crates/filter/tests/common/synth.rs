//! Synthetic packets for the differential tests: random frames built from the values the
//! expression list mentions (addresses, ports, protocols, VLAN ids...), so that rarely captured
//! protocols are exercised, with some captures cut short to test out-of-bounds loads.

use jitkit_testkit::rng::Rng;

use super::capture::Packet;

const ADDRS4: &[[u8; 4]] = &[
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 1, 2, 3],
    [192, 168, 1, 1],
    [192, 168, 1, 255],
    [1, 2, 3, 4],
    [127, 0, 0, 1],
    [172, 16, 0, 5],
    [224, 0, 0, 1],
    [255, 255, 255, 255],
    [0, 0, 0, 0],
    [0, 0, 0, 10],
    [8, 8, 8, 8],
];

const PORTS: &[u16] = &[
    20, 21, 22, 23, 25, 53, 67, 68, 80, 110, 123, 137, 161, 443, 514, 1024, 1900, 5353, 8080, 0,
    65535,
];

const IPPROTOS: &[u8] = &[6, 17, 132, 1, 2, 103, 112, 51, 50, 9, 47, 41, 4, 58, 89];

const MACS: &[[u8; 6]] = &[
    [0xff; 6],
    [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01],
    [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
    [0x01, 0x02, 0x03, 0x04, 0x05, 0x06],
    [0x33, 0x33, 0x00, 0x00, 0x00, 0x01],
];

fn addr4(r: &mut Rng) -> [u8; 4] {
    if r.chance(80) {
        r.pick(ADDRS4)
    } else {
        [r.byte(), r.byte(), r.byte(), r.byte()]
    }
}

fn addr6(r: &mut Rng) -> [u8; 16] {
    let mut a = [0u8; 16];
    match r.below(6) {
        0 => a[15] = 1,
        1 => {
            a[0] = 0xfe;
            a[1] = 0x80;
            a[15] = 1;
        }
        2 => {
            a[0] = 0x20;
            a[1] = 0x01;
            a[2] = 0x0d;
            a[3] = 0xb8;
            a[15] = r.pick(&[1u8, 2]);
        }
        3 => {
            a[0] = 0xff;
            a[1] = 0x02;
            a[15] = 1;
        }
        _ => a.iter_mut().for_each(|b| *b = r.byte()),
    }
    a
}

fn port(r: &mut Rng) -> u16 {
    if r.chance(80) {
        r.pick(PORTS)
    } else {
        r.next_u64() as u16
    }
}

/// How deep tunnels nest (Geneve inside Geneve...).
const MAX_TUNNEL_DEPTH: u32 = 2;

fn transport(r: &mut Rng, proto: u8, depth: u32) -> Vec<u8> {
    let mut t = Vec::new();
    match proto {
        17 if depth < MAX_TUNNEL_DEPTH && r.chance(15) => {
            // Geneve (UDP port 6081): version (mostly 0), option length, protocol type, VNI,
            // options, then an Ethernet frame (type 0x6558) or a bare IP packet.
            let sport = port(r);
            t.extend(sport.to_be_bytes());
            t.extend(r.pick(&[6081u16, 6081, 6081, 4789]).to_be_bytes());
            t.extend([0, 0, 0, 0]);
            let opt_words = r.pick(&[0u8, 0, 1, 2, 5]);
            let version = r.pick(&[0u8, 0, 0, 0x40, 0x80]);
            t.push(version | opt_words);
            t.push(r.pick(&[0u8, 0x80, 0x40]));
            let inner: u16 = r.pick(&[0x6558, 0x6558, 0x6558, 0x0800, 0x86dd, 0x8847]);
            t.extend(inner.to_be_bytes());
            let vni: u32 = r.pick(&[10u32, 100, 0, 0xffffff, 5000]);
            t.extend((vni << 8).to_be_bytes());
            for _ in 0..opt_words as usize * 4 {
                t.push(r.byte());
            }
            match inner {
                0x6558 => t.extend(ethernet_at(r, depth + 1)),
                0x0800 => t.extend(ipv4_at(r, depth + 1)),
                0x86dd => t.extend(ipv6_at(r, depth + 1)),
                _ => t.extend((0..r.below(30)).map(|_| r.byte())),
            }
        }
        6 | 17 | 132 => {
            t.extend(port(r).to_be_bytes());
            t.extend(port(r).to_be_bytes());
            for _ in 0..16 {
                t.push(r.byte());
            }
            if proto == 6 {
                // Flags at offset 13: often a recognisable combination.
                let any = r.byte();
                t[13] = r.pick(&[0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x01, any]);
                t[12] = 0x50;
            }
        }
        1 | 58 => {
            let any = r.byte();
            t.push(r.pick(&[0, 3, 8, 11, 128, 129, 133, 135, any]));
            t.push(r.pick(&[0, 1, 3]));
            for _ in 0..10 {
                t.push(r.byte());
            }
        }
        _ => {
            for _ in 0..r.below(20) {
                t.push(r.byte());
            }
        }
    }
    t
}

/// IPv6 extension headers (hop-by-hop 0, destination options 60, routing 43, fragment 44) and
/// AH (51), chained from `first` to `last`: what `protochain` walks.
fn extension_chain(r: &mut Rng, last: u8) -> (u8, Vec<u8>) {
    let n = r.below(7) as usize;
    let kinds: Vec<u8> = (0..n).map(|_| r.pick(&[0u8, 60, 43, 44, 51, 60])).collect();
    let mut out = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        let next = kinds.get(i + 1).copied().unwrap_or(last);
        match kind {
            51 => {
                // AH: length in 4-byte words minus 2.
                let len = r.pick(&[4u8, 4, 1, 6]);
                out.extend([next, len]);
                out.extend((0..(len as usize + 2) * 4 - 2).map(|_| r.byte()));
            }
            44 => {
                out.extend([next, 0]);
                out.extend(r.pick(&[[0u8, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 2]]));
            }
            _ => {
                // Length in 8-byte units minus 1.
                let len = r.pick(&[0u8, 0, 1, 2]);
                out.extend([next, len]);
                out.extend((0..(len as usize + 1) * 8 - 2).map(|_| r.byte()));
            }
        }
    }
    (kinds.first().copied().unwrap_or(last), out)
}

pub fn ipv4(r: &mut Rng) -> Vec<u8> {
    ipv4_at(r, 0)
}

fn ipv4_at(r: &mut Rng, depth: u32) -> Vec<u8> {
    let mut proto = if r.chance(85) {
        r.pick(IPPROTOS)
    } else {
        r.byte()
    };
    let ihl = if r.chance(85) {
        5
    } else {
        r.pick(&[6u8, 15, 4])
    };
    // AH before the transport header (protochain's IPv4 case).
    let ah = if r.chance(8) {
        let last = proto;
        proto = 51;
        let len = r.pick(&[4u8, 4, 1, 3]);
        let mut h = vec![r.pick(&[last, last, 51, 59]), len];
        h.extend((0..(len as usize + 2) * 4 - 2).map(|_| r.byte()));
        h
    } else {
        Vec::new()
    };
    let final_proto = if ah.is_empty() { proto } else { ah[0] };
    let mut p = vec![0x40 | ihl, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
    // Fragment field: mostly unfragmented, sometimes first fragment or later fragment.
    let frag: u16 = r.pick(&[0, 0, 0, 0x4000, 0x2000, 0x0010, 0x2010]);
    p[6..8].copy_from_slice(&frag.to_be_bytes());
    p.extend(addr4(r));
    p.extend(addr4(r));
    for _ in 20..(ihl.max(5) as usize * 4) {
        p.push(r.byte());
    }
    p.extend(ah);
    p.extend(transport(r, final_proto, depth));
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

pub fn ipv6(r: &mut Rng) -> Vec<u8> {
    ipv6_at(r, 0)
}

fn ipv6_at(r: &mut Rng, depth: u32) -> Vec<u8> {
    let mut next = r.pick(&[6u8, 17, 58, 44, 132, 0, 103, 50, 51, 6, 17]);
    if r.chance(10) {
        next = r.byte();
    }
    let chain = if r.chance(25) {
        let last = r.pick(&[6u8, 17, 58, 59, 50, 17]);
        let (first, headers) = extension_chain(r, last);
        next = first;
        Some((last, headers))
    } else {
        None
    };
    let mut p = vec![0x60, 0, 0, 0, 0, 0, next, 64];
    p.extend(addr6(r));
    p.extend(addr6(r));
    let mut final_proto = next;
    if let Some((last, headers)) = chain {
        p.extend(headers);
        final_proto = last;
    } else if next == 44 {
        final_proto = r.pick(&[6u8, 17, 58]);
        p.extend([final_proto, 0, 0, 0, 0, 0, 0, 1]);
    }
    p.extend(transport(r, final_proto, depth));
    let len = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&len.to_be_bytes());
    p
}

fn arp(r: &mut Rng) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, r.pick(&[1u8, 2, 3, 4])];
    p.extend(r.pick(MACS));
    p.extend(addr4(r));
    p.extend(r.pick(MACS));
    p.extend(addr4(r));
    p
}

/// A network-layer packet and its Ethernet type.
pub fn network(r: &mut Rng) -> (u16, Vec<u8>) {
    network_at(r, 0)
}

fn network_at(r: &mut Rng, depth: u32) -> (u16, Vec<u8>) {
    match r.below(12) {
        0..=4 => (0x0800, ipv4_at(r, depth)),
        5..=7 => (0x86dd, ipv6_at(r, depth)),
        8 => (0x0806, arp(r)),
        9 => (0x8035, arp(r)),
        10 => (
            r.pick(&[0x809b, 0x80f3, 0x6003, 0x6004, 0x8137, 0x9000, 0x88cc]),
            (0..r.below(40)).map(|_| r.byte()).collect(),
        ),
        _ => (
            r.next_u64() as u16,
            (0..r.below(40)).map(|_| r.byte()).collect(),
        ),
    }
}

fn ethernet(r: &mut Rng) -> Vec<u8> {
    ethernet_at(r, 0)
}

fn ethernet_at(r: &mut Rng, depth: u32) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(if r.chance(70) {
        r.pick(MACS)
    } else {
        [r.byte(); 6]
    });
    f.extend(if r.chance(70) {
        r.pick(MACS)
    } else {
        [r.byte(); 6]
    });
    if r.chance(12) {
        // 802.3 with LLC: DSAP/SSAP/control (and SNAP).
        let body: Vec<u8> = match r.below(6) {
            0 => vec![0x42, 0x42, 0x03, 0, 0, 0, 0],
            1 => vec![
                0xfe,
                0xfe,
                0x03,
                r.pick(&[0x81u8, 0x82, 0x83]),
                0,
                0,
                0,
                r.pick(&[15u8, 16, 17, 18, 20, 24, 25, 26, 27]),
            ],
            2 => vec![0xe0, 0xe0, 0x03, 0xff, 0xff],
            3 => vec![0xff, 0xff, 0, 0],
            4 => {
                let (ty, payload) = r.pick(&[
                    (0x809bu16, 0x080007u32),
                    (0x80f3, 0),
                    (0x8137, 0),
                    (0x0800, 0),
                ]);
                let mut v = vec![
                    0xaa,
                    0xaa,
                    0x03,
                    (payload >> 16) as u8,
                    (payload >> 8) as u8,
                    payload as u8,
                ];
                v.extend(ty.to_be_bytes());
                v.extend([0u8; 10]);
                v
            }
            _ => vec![0xf0, 0xf0, r.pick(&[0x03u8, 0x01, 0x00, 0xe3, 0x43])],
        };
        f.extend((body.len() as u16).to_be_bytes());
        f.extend(body);
        return f;
    }
    let tags = if r.chance(15) { 1 + r.below(2) } else { 0 };
    for _ in 0..tags {
        f.extend(r.pick(&[0x8100u16, 0x88a8, 0x9100]).to_be_bytes());
        let any = r.next_u64() as u16;
        let vid: u16 = r.pick(&[10, 100, 0, 4095, 1, any]);
        f.extend(vid.to_be_bytes());
    }
    match r.below(12) {
        0 => {
            // MPLS, one or two labels.
            f.extend(0x8847u16.to_be_bytes());
            let n = 1 + r.below(2);
            for i in 0..n {
                let label: u32 = r.pick(&[16, 100, 1024, 100000]);
                let bos = u32::from(i == n - 1 || r.chance(10));
                f.extend(((label << 12) | (bos << 8) | 64).to_be_bytes());
            }
            f.extend(if r.chance(60) { ipv4(r) } else { ipv6(r) });
        }
        1 => {
            // PPPoE session or discovery.
            let session = r.chance(70);
            f.extend(if session { 0x8864u16 } else { 0x8863 }.to_be_bytes());
            f.extend([0x11, if session { 0 } else { 0x09 }]);
            f.extend(r.pick(&[1u16, 0x1234, 0]).to_be_bytes());
            let (proto, body) = if r.chance(60) {
                (0x21u16, ipv4(r))
            } else {
                (0x57, ipv6(r))
            };
            f.extend(((body.len() + 2) as u16).to_be_bytes());
            f.extend(proto.to_be_bytes());
            f.extend(body);
        }
        _ => {
            let (ty, body) = network_at(r, depth);
            f.extend(ty.to_be_bytes());
            f.extend(body);
        }
    }
    f
}

fn sll_protocol(r: &mut Rng) -> (u16, Vec<u8>) {
    if r.chance(10) {
        let sap = r.pick(&[0x42u8, 0xfe, 0xe0, 0xaa, 0xf0]);
        return (
            r.pick(&[0x0004u16, 0x0001]),
            vec![sap, sap, 3, 0, 0, 0, 0x81, 0x37],
        );
    }
    network(r)
}

fn ip_any(r: &mut Rng) -> Vec<u8> {
    match r.below(10) {
        0..=5 => ipv4(r),
        6..=8 => ipv6(r),
        _ => (0..r.below(50)).map(|_| r.byte()).collect(),
    }
}

/// An 802.11 frame: management, control or data (QoS or not, any To DS / From DS bits), with
/// an LLC/SNAP payload in data frames. `pad` aligns the payload to 4 bytes (radiotap DATAPAD).
fn wlan(r: &mut Rng, pad: bool) -> Vec<u8> {
    let mac = |r: &mut Rng| {
        if r.chance(75) {
            r.pick(MACS)
        } else {
            [r.byte(); 6]
        }
    };
    let (fc0, ctl) = match r.below(20) {
        // Data: plain, QoS, null, QoS null, any subtype.
        0..=6 => (0x08, false),
        7..=11 => (0x88, false),
        12 => (r.pick(&[0x48u8, 0xc8, 0x28, 0x98]), false),
        // Management: beacon, probe request/response, auth, deauth, any.
        13..=15 => (
            r.pick(&[0x80u8, 0x40, 0x50, 0xb0, 0xc0, 0x00, 0x10, 0xa0]),
            false,
        ),
        // Control: RTS, CTS, ACK, PS-poll, block ack.
        16 | 17 => (r.pick(&[0xb4u8, 0xc4, 0xd4, 0xa4, 0x94, 0xe4]), true),
        _ => (r.byte(), r.chance(50)),
    };
    let fc1 = if r.chance(85) {
        r.pick(&[0u8, 1, 2, 3, 1, 2])
    } else {
        r.byte()
    };
    let mut f = vec![fc0, fc1, r.byte(), r.byte()];
    f.extend(mac(r));
    if ctl {
        if fc0 & 0xf0 != 0xc0 && fc0 & 0xf0 != 0xd0 {
            f.extend(mac(r));
        }
        f.extend([r.byte(), r.byte()]);
        return f;
    }
    f.extend(mac(r));
    f.extend(mac(r));
    f.extend([r.byte(), r.byte()]);
    if fc1 & 3 == 3 {
        f.extend(mac(r));
    }
    if fc0 & 0x8c == 0x88 {
        f.extend([r.byte(), 0]);
    }
    if pad {
        while f.len() % 4 != 0 {
            f.push(0);
        }
    }
    if fc0 & 0x0c != 0x08 || fc0 & 0x40 != 0 {
        // Management frame body or no-data frame: a few bytes.
        for _ in 0..r.below(24) {
            f.push(r.byte());
        }
        return f;
    }
    match r.below(10) {
        0 => {
            let sap = r.pick(&[0x42u8, 0xe0, 0xfe, 0xf0, 0x06]);
            f.extend([sap, sap, 0x03]);
            for _ in 0..r.below(30) {
                f.push(r.byte());
            }
        }
        1 => {
            f.extend([0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b]);
            f.extend([0u8; 12]);
        }
        2 => {
            // An 802.1Q tag in SNAP, then IP.
            f.extend([0xaa, 0xaa, 0x03, 0, 0, 0]);
            f.extend(r.pick(&[0x8100u16, 0x88a8, 0x9100]).to_be_bytes());
            let vid: u16 = r.pick(&[10, 100, 0, 4095]);
            f.extend(vid.to_be_bytes());
            f.extend(0x0800u16.to_be_bytes());
            f.extend(ipv4(r));
        }
        _ => {
            let (ty, body) = network(r);
            f.extend([0xaa, 0xaa, 0x03, 0, 0, 0]);
            f.extend(ty.to_be_bytes());
            f.extend(body);
        }
    }
    f
}

/// A radiotap header (TSFT, flags with or without DATAPAD, extended presence words, other
/// fields, sometimes a wrong length) and an 802.11 frame.
fn radiotap(r: &mut Rng) -> Vec<u8> {
    let tsft = r.chance(40);
    let flags = r.chance(80);
    let ext = r.chance(10);
    let mut present: u32 = u32::from(tsft) | u32::from(flags) << 1;
    if r.chance(50) {
        present |= 1 << 2 | 1 << 3; // rate, channel
    }
    if ext {
        present |= 1 << 31;
    }
    let mut h = vec![0, 0, 0, 0];
    h.extend(present.to_le_bytes());
    if ext {
        h.extend(r.pick(&[0u32, 0x20, 0x8000_0000]).to_le_bytes());
    }
    let pad = flags && r.chance(40);
    if tsft {
        while h.len() % 8 != 0 {
            h.push(0);
        }
        for _ in 0..8 {
            h.push(r.byte());
        }
    }
    if flags {
        let any = r.byte();
        h.push(r.pick(&[0x00u8, 0x10, 0x02, any]) | if pad { 0x20 } else { 0 });
    }
    if present & 4 != 0 {
        h.push(r.byte());
        while h.len() % 2 != 0 {
            h.push(0);
        }
        h.extend([r.byte(), r.byte(), r.byte(), r.byte()]);
    }
    let len = if r.chance(5) {
        r.below(64) as u16
    } else {
        h.len() as u16
    };
    h[2..4].copy_from_slice(&len.to_le_bytes());
    h.extend(wlan(r, pad));
    h
}

/// One frame for a link type named as libpcap names it.
pub fn frame(r: &mut Rng, link: &str) -> Vec<u8> {
    match link {
        "IEEE802_11" => wlan(r, false),
        "IEEE802_11_RADIO" => radiotap(r),
        "PPI" => {
            // Version, flags, little-endian length, little-endian link type (802.11 or not).
            let extra = r.pick(&[0usize, 0, 8, 20]);
            let mut h = vec![0, 0];
            h.extend(((8 + extra) as u16).to_le_bytes());
            h.extend(r.pick(&[105u32, 105, 105, 1, 127]).to_le_bytes());
            h.extend((0..extra).map(|_| r.byte()));
            h.extend(wlan(r, false));
            h
        }
        "IEEE802_11_RADIO_AVS" | "PRISM_HEADER" => {
            // AVS: cookie 0x8021100x and big-endian length; Prism: 144 bytes.
            let avs = link == "IEEE802_11_RADIO_AVS" || r.chance(40);
            let mut h = if avs {
                let mut h = vec![0x80, 0x21, 0x10, r.pick(&[0x01u8, 0x02])];
                h.extend(r.pick(&[64u32, 64, 64, 72, 8]).to_be_bytes());
                h
            } else {
                vec![0x44, 0, 0, 0, 144, 0, 0, 0]
            };
            let len = if avs {
                u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize
            } else {
                144
            };
            while h.len() < len {
                h.push(r.byte());
            }
            h.extend(wlan(r, false));
            h
        }
        "EN10MB" => ethernet(r),
        "LINUX_SLL" => {
            let (proto, body) = sll_protocol(r);
            let mut f = vec![0, r.pick(&[0u8, 1, 2, 3, 4]), 0, 1, 0, 6];
            f.extend(r.pick(MACS));
            f.extend([0, 0]);
            f.extend(proto.to_be_bytes());
            f.extend(body);
            f
        }
        "LINUX_SLL2" => {
            let (proto, body) = sll_protocol(r);
            let mut f = proto.to_be_bytes().to_vec();
            f.extend([0, 0]);
            f.extend(r.pick(&[1u32, 2, 7]).to_be_bytes());
            f.extend([0, 1, r.pick(&[0u8, 1, 2, 3, 4]), 6]);
            f.extend(r.pick(MACS));
            f.extend([0, 0]);
            f.extend(body);
            f
        }
        "RAW" => ip_any(r),
        "IPV4" => ipv4(r),
        "IPV6" => ipv6(r),
        "NULL" | "LOOP" => {
            let (af, body) = match r.below(6) {
                0..=2 => (2u32, ipv4(r)),
                3 => (r.pick(&[24u32, 28, 30]), ipv6(r)),
                4 => (r.pick(&[24u32, 28, 30, 10]), ipv6(r)),
                _ => (r.next_u64() as u32 % 40, ip_any(r)),
            };
            let mut f = if link == "NULL" {
                if r.chance(80) {
                    af.to_le_bytes()
                } else {
                    af.to_be_bytes()
                }
            } else {
                af.to_be_bytes()
            }
            .to_vec();
            f.extend(body);
            f
        }
        "PPP" => {
            let (proto, body) = match r.below(8) {
                0..=3 => (0x0021u16, ipv4(r)),
                4 | 5 => (0x0057, ipv6(r)),
                6 => {
                    let mut b = Vec::new();
                    b.extend(((100u32 << 12) | (1 << 8) | 64).to_be_bytes());
                    b.extend(ipv4(r));
                    (0x0281, b)
                }
                _ => (
                    r.pick(&[0x002bu16, 0x0029, 0x0027, 0x0023, 0xc021, 0x8021]),
                    vec![0; 20],
                ),
            };
            let mut f = vec![0xff, 0x03];
            f.extend(proto.to_be_bytes());
            f.extend(body);
            f
        }
        other => panic!("no synthetic frames for {other}"),
    }
}

/// `count` frames for `link`; about a fifth are captured short of their wire length.
pub fn packets(link: &str, count: usize, seed: u64) -> Vec<Packet> {
    let mut r = Rng::from_any_seed(seed ^ link.len() as u64 ^ (link.as_bytes()[0] as u64) << 8);
    (0..count)
        .map(|_| {
            let mut data = frame(&mut r, link);
            let wire_len = data.len() as u32;
            if r.chance(20) {
                let cut = r.below(data.len() as u64 + 1) as usize;
                data.truncate(cut);
            }
            Packet { data, wire_len }
        })
        .collect()
}
