//! A small pcap / pcapng reader for the tests (the corpus files are read whole; they are small).
//! Kept here so these tests depend only on libpcap as an oracle, not on another jitkit crate.

/// One packet: captured bytes and wire length, with the link type of its interface (LINKTYPE_*).
pub struct Packet {
    pub linktype: u32,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(raw)
    } else {
        u16::from_le_bytes(raw)
    })
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    })
}

/// Every packet of the corpus's Ethernet captures (`EN10MB`), in corpus order: what the
/// benchmarks time and the kernel test runs.
pub fn ethernet_packets() -> Vec<Packet> {
    jitkit_testkit::corpus_captures()
        .into_iter()
        .filter(|c| c.linktype == "EN10MB")
        .flat_map(|c| read(&c.path))
        .collect()
}

/// Every packet of a pcap or pcapng file. Truncated trailing records are dropped, as tcpdump
/// stops at them.
pub fn read(path: &std::path::Path) -> Vec<Packet> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    match bytes.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => read_pcapng(&bytes),
        _ => read_pcap(&bytes).unwrap_or_else(|| panic!("{}: not a capture", path.display())),
    }
}

fn read_pcap(b: &[u8]) -> Option<Vec<Packet>> {
    let magic = u32_at(b, 0, false)?;
    let big = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => false,
        0xd4c3b2a1 | 0x4d3cb2a1 => true,
        _ => return None,
    };
    let linktype = u32_at(b, 20, big)? & 0x0fff_ffff;
    let mut packets = Vec::new();
    let mut at = 24;
    while let (Some(caplen), Some(wire_len)) = (u32_at(b, at + 8, big), u32_at(b, at + 12, big)) {
        let start = at + 16;
        let Some(data) = b.get(start..start + caplen as usize) else {
            break;
        };
        packets.push(Packet {
            linktype,
            data: data.to_vec(),
            wire_len,
        });
        at = start + caplen as usize;
    }
    Some(packets)
}

fn read_pcapng(b: &[u8]) -> Vec<Packet> {
    let mut packets = Vec::new();
    let mut big = false;
    let mut interfaces: Vec<u32> = Vec::new();
    let mut at = 0;
    while at + 12 <= b.len() {
        if b[at..at + 4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            big = u32_at(b, at + 8, false) != Some(0x1a2b3c4d);
            interfaces.clear();
        }
        let (Some(kind), Some(len)) = (u32_at(b, at, big), u32_at(b, at + 4, big)) else {
            break;
        };
        let len = len as usize;
        if len < 12 || at + len > b.len() {
            break;
        }
        let body = &b[at + 8..at + len - 4];
        match kind {
            1 => interfaces.push(u32::from(u16_at(body, 0, big).unwrap_or(0))),
            6 | 2 => {
                // Enhanced packet block, or the obsolete packet block (u16 interface + u16 drops).
                let interface = if kind == 6 {
                    u32_at(body, 0, big).unwrap_or(0)
                } else {
                    u32::from(u16_at(body, 0, big).unwrap_or(0))
                };
                let caplen = u32_at(body, 12, big).unwrap_or(0) as usize;
                let wire_len = u32_at(body, 16, big).unwrap_or(0);
                if let Some(data) = body.get(20..20 + caplen) {
                    let linktype = interfaces.get(interface as usize).copied().unwrap_or(1);
                    packets.push(Packet {
                        linktype,
                        data: data.to_vec(),
                        wire_len,
                    });
                }
            }
            3 => {
                let wire_len = u32_at(body, 0, big).unwrap_or(0);
                let caplen = (wire_len as usize).min(body.len().saturating_sub(4));
                let linktype = interfaces.first().copied().unwrap_or(1);
                packets.push(Packet {
                    linktype,
                    data: body[4..4 + caplen].to_vec(),
                    wire_len,
                });
            }
            _ => {}
        }
        at += len;
    }
    packets
}
