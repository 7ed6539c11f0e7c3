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

/// Expressions run on every capture (those libpcap refuses for a link type are left out there):
/// the engines' shared list, the benchmarks' filters and more protocols, all valid on Ethernet.
pub const FILTERS: &[&str] = jitkit_testkit::filter_expressions::ETHERNET;

pub fn to_cbpf(prog: &[RawInsn]) -> Vec<cbpf::Insn> {
    libpcap::from_raw(prog)
}
