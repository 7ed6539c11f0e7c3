//! Capture files for the differential tests, read with jitkit-pcap: (captured bytes, wire
//! length) per record, and the link type.

use std::path::Path;

use jitkit_pcap::CaptureReader;

pub struct Packet {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// Link type and packets of a capture file, or None when it is not a readable pcap/pcapng file.
/// pcapng files with interfaces of different link types are skipped; a damaged record ends the
/// packets (the ones before it are kept).
pub fn read(path: &Path) -> Option<(u32, Vec<Packet>)> {
    let bytes = std::fs::read(path).ok()?;
    let reader = CaptureReader::new(&bytes).ok()?;
    let linktype = reader.link_type();
    let mut out = Vec::new();
    for record in reader.records() {
        let Ok(r) = record else { break };
        if r.link_type != linktype {
            return None;
        }
        out.push(Packet {
            data: r.data.to_vec(),
            wire_len: r.wire_len.max(r.data.len() as u32),
        });
    }
    Some((linktype, out))
}
