//! The benchmark's packets: every Ethernet packet of the test corpus, loaded into one buffer.

use std::ops::Range;

/// Captured bytes of many packets, back to back, with each packet's range and wire length.
pub struct Packets {
    bytes: Vec<u8>,
    records: Vec<(Range<usize>, u32)>,
}

impl Packets {
    /// Every packet of every classic-pcap Ethernet capture in the corpus.
    pub fn ethernet_corpus() -> Packets {
        let mut packets = Packets {
            bytes: Vec::new(),
            records: Vec::new(),
        };
        for capture in jitkit_testkit::corpus_captures() {
            if capture.linktype != "EN10MB" {
                continue;
            }
            let data = std::fs::read(&capture.path)
                .unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
            packets.add_pcap(&data);
        }
        assert!(
            packets.len() > 1000,
            "too few corpus packets ({}) to benchmark",
            packets.len()
        );
        packets
    }

    /// Appends the records of a classic pcap file (either byte order). pcapng files are skipped:
    /// the classic files alone give thousands of packets.
    fn add_pcap(&mut self, data: &[u8]) {
        let Some(magic) = data.get(..4) else { return };
        let read: fn([u8; 4]) -> u32 = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => u32::from_le_bytes,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => u32::from_be_bytes,
            _ => return,
        };
        let word = |at: usize| data.get(at..at + 4).map(|b| read([b[0], b[1], b[2], b[3]]));
        let mut at = 24;
        while let (Some(caplen), Some(wire_len)) = (word(at + 8), word(at + 12)) {
            let start = at + 16;
            let Some(bytes) = data.get(start..start + caplen as usize) else {
                break;
            };
            let from = self.bytes.len();
            self.bytes.extend_from_slice(bytes);
            self.records.push((from..self.bytes.len(), wire_len));
            at = start + caplen as usize;
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Each packet's captured bytes and wire length.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        self.records
            .iter()
            .map(|(range, wire_len)| (&self.bytes[range.clone()], *wire_len))
    }
}
