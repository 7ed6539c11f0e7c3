//! Shared by the cbpf_* integration tests: a tiny capture reader (pcap and pcapng) for the
//! tcpdump test corpus.

#![allow(dead_code)]

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
