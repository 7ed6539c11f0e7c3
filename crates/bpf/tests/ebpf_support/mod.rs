//! Shared by the eBPF tests: a tiny pcap/pcapng reader (the tests only need captured bytes and
//! wire lengths) and the classic filters the differential tests run.

#![allow(dead_code)]

use jitkit_bpf::cbpf;
use jitkit_testkit::libpcap::{self, RawInsn};

/// One packet: captured bytes and length on the wire.
pub struct Packet {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

/// Every packet of a pcap or pcapng file (pcapng: of every interface). Panics on a broken file:
/// the corpus is known good.
pub fn read_packets(path: &std::path::Path) -> Vec<Packet> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let magic = u32_at(&b, 0, false).expect("capture too short");
    let mut out = Vec::new();
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d | 0xd4c3b2a1 | 0x4d3cb2a1 => {
            let big = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
            let mut at = 24;
            while let (Some(incl), Some(orig)) = (u32_at(&b, at + 8, big), u32_at(&b, at + 12, big))
            {
                let start = at + 16;
                let Some(data) = b.get(start..start + incl as usize) else {
                    break;
                };
                out.push(Packet {
                    data: data.to_vec(),
                    wire_len: orig,
                });
                at = start + incl as usize;
            }
        }
        0x0a0d0d0a => {
            let mut at = 0;
            let mut big = false;
            while let Some(kind) = u32_at(&b, at, big) {
                if kind == 0x0a0d0d0a {
                    big = u32_at(&b, at + 8, false) == Some(0x4d3c2b1a);
                }
                let Some(len) = u32_at(&b, at + 4, big) else {
                    break;
                };
                if len < 12 {
                    break;
                }
                match kind {
                    6 => {
                        let incl = u32_at(&b, at + 20, big).unwrap() as usize;
                        let orig = u32_at(&b, at + 24, big).unwrap();
                        out.push(Packet {
                            data: b[at + 28..at + 28 + incl].to_vec(),
                            wire_len: orig,
                        });
                    }
                    3 => {
                        let orig = u32_at(&b, at + 8, big).unwrap();
                        let incl = (len as usize - 16).min(orig as usize);
                        out.push(Packet {
                            data: b[at + 12..at + 12 + incl].to_vec(),
                            wire_len: orig,
                        });
                    }
                    _ => {}
                }
                at += len as usize;
            }
        }
        other => panic!("{}: unknown capture magic {other:#x}", path.display()),
    }
    out
}

/// Expressions run on every capture (those libpcap refuses for a link type are left out there).
/// They cover every classic opcode libpcap generates: absolute, indirect and `msh` loads, `len`,
/// scratch memory, arithmetic with constants and with X (division and shifts by X included),
/// every jump with constants with and without bit 31, and returns of K and A.
pub const FILTERS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "tcp",
    "udp",
    "icmp",
    "tcp port 80",
    "udp port 53 or tcp port 53",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "ip[6:2] & 0x1fff = 0",
    "greater 200",
    "less 100",
    "len > 1000 and ip",
    "net 10.0.0.0/8 or net 192.168.0.0/16",
    "ip host 127.0.0.1",
    "ether broadcast or ether multicast",
    "vlan and ip",
    "ip[0] & 0xf != 5",
    "ip[8] * 3 + ip[9] / 2 - 7 > 100",
    "ip[2:2] / ip[9] > 100",
    "ip[2:2] / (ip[9] - 6) > 100",
    "ip[2:2] % ((ip[8] & 3) + 0) = 1",
    "ip[2:2] << (ip[9] & 63) > 4096",
    "ip[2:2] >> (ip[8] & 0x3f) = 0",
    "(ip[12:4] ^ ip[16:4]) & 0xffffffff > 0x80000000",
    "ip[12:4] >= 0x80000000",
    "ip[16:4] = 0xffffffff",
    "tcp[2:2] > 1023 and tcp[2:2] < 49152",
    "ip6 and tcp port 443",
    "udp[8:4] = 0 or icmp[0] = 8",
    "-ip[0] & 0xff > 0x40",
];

pub fn to_cbpf(prog: &[RawInsn]) -> Vec<cbpf::Insn> {
    libpcap::from_raw(prog)
}
