//! A small pcap/pcapng reader for the differential tests (jitkit-pcap is developed in parallel;
//! the tests only need (captured bytes, wire length) per record and the link type).

use std::path::Path;

pub struct Packet {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// Link type and packets of a capture file, or None when it is not a readable pcap/pcapng file.
/// pcapng files with several interfaces of different link types are skipped.
pub fn read(path: &Path) -> Option<(u32, Vec<Packet>)> {
    let b = std::fs::read(path).ok()?;
    if b.len() < 24 {
        return None;
    }
    let magic = u32::from_le_bytes(b[0..4].try_into().ok()?);
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d => pcap(&b, false),
        0xd4c3b2a1 | 0x4d3cb2a1 => pcap(&b, true),
        0x0a0d0d0a => pcapng(&b),
        _ => None,
    }
}

fn u32_at(b: &[u8], at: usize, swap: bool) -> Option<u32> {
    let v = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
    Some(if swap { v.swap_bytes() } else { v })
}

fn u16_at(b: &[u8], at: usize, swap: bool) -> Option<u16> {
    let v = u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?);
    Some(if swap { v.swap_bytes() } else { v })
}

fn pcap(b: &[u8], swap: bool) -> Option<(u32, Vec<Packet>)> {
    let linktype = u32_at(b, 20, swap)? & 0x0fff_ffff;
    let mut pos = 24;
    let mut out = Vec::new();
    while pos + 16 <= b.len() {
        let incl = u32_at(b, pos + 8, swap)? as usize;
        let orig = u32_at(b, pos + 12, swap)?;
        pos += 16;
        if pos + incl > b.len() {
            break;
        }
        out.push(Packet {
            data: b[pos..pos + incl].to_vec(),
            wire_len: orig.max(incl as u32),
        });
        pos += incl;
    }
    Some((linktype, out))
}

fn pcapng(b: &[u8]) -> Option<(u32, Vec<Packet>)> {
    let mut pos = 0;
    let mut swap = false;
    let mut linktypes: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    while pos + 12 <= b.len() {
        let ty = u32_at(b, pos, swap)?;
        if ty == 0x0a0d0d0a {
            let bom = u32::from_le_bytes(b.get(pos + 8..pos + 12)?.try_into().ok()?);
            swap = bom != 0x1a2b3c4d;
            linktypes.clear();
        }
        let len = u32_at(b, pos + 4, swap)? as usize;
        if len < 12 || pos + len > b.len() {
            break;
        }
        match ty {
            1 => linktypes.push(u16_at(b, pos + 8, swap)? as u32),
            6 => {
                let incl = u32_at(b, pos + 20, swap)? as usize;
                let orig = u32_at(b, pos + 24, swap)?;
                let data = b.get(pos + 28..pos + 28 + incl)?.to_vec();
                out.push(Packet {
                    data,
                    wire_len: orig.max(incl as u32),
                });
            }
            3 => {
                let orig = u32_at(b, pos + 8, swap)?;
                let incl = (orig as usize).min(len - 16);
                let data = b.get(pos + 12..pos + 12 + incl)?.to_vec();
                out.push(Packet {
                    data,
                    wire_len: orig,
                });
            }
            _ => {}
        }
        pos += len;
    }
    let first = *linktypes.first()?;
    if linktypes.iter().any(|&l| l != first) {
        return None;
    }
    Some((first, out))
}
