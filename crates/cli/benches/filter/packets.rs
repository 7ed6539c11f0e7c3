//! The benchmark's packets: every Ethernet packet of the test corpus, read with `jitkit-pcap`
//! (the bytes a filter sees, as libpcap hands them over) and kept in one buffer.

use std::ops::Range;

use jitkit_pcap::{CaptureReader, MappedFile};

/// Captured bytes of many packets, back to back, with each packet's range and wire length.
pub struct Packets {
    bytes: Vec<u8>,
    records: Vec<(Range<usize>, u32)>,
}

impl Packets {
    /// Every packet of every classic-pcap Ethernet capture in the corpus (the pcapng ones are
    /// left out: the classic files alone give thousands of packets). A capture's records are
    /// taken up to the first damaged one, as tcpdump reads them.
    pub fn ethernet_corpus() -> Packets {
        let mut packets = Packets {
            bytes: Vec::new(),
            records: Vec::new(),
        };
        for capture in jitkit_testkit::corpus_captures() {
            if capture.linktype != "EN10MB" {
                continue;
            }
            let file = MappedFile::open(&capture.path)
                .unwrap_or_else(|e| panic!("{}: {e}", capture.path.display()));
            let Ok(reader @ CaptureReader::Pcap(_)) = CaptureReader::new(&file) else {
                continue;
            };
            for record in reader.records().map_while(Result::ok) {
                let from = packets.bytes.len();
                packets.bytes.extend_from_slice(record.data);
                packets
                    .records
                    .push((from..packets.bytes.len(), record.wire_len));
            }
        }
        assert!(
            packets.len() > 1000,
            "too few corpus packets ({}) to benchmark",
            packets.len()
        );
        packets
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Each packet's captured bytes and wire length, ready to hand to a filter (what a program
    /// holding packets in memory has: a slice and a length per packet).
    pub fn list(&self) -> Vec<(&[u8], u32)> {
        self.records
            .iter()
            .map(|(range, wire_len)| (&self.bytes[range.clone()], *wire_len))
            .collect()
    }
}
