//! What must hold for any bytes: no panic, no endless loop, records inside the file in order,
//! and writing a pcap file's records back reproduces its bytes up to the first error.

use jitkit_pcap::{CaptureReader, PcapWriter};

pub fn check(bytes: &[u8]) {
    let Ok(reader) = CaptureReader::new(bytes) else { return };
    let _ = (reader.link_type(), reader.snaplen(), reader.precision());
    let mut writer = PcapWriter::for_capture(Vec::new(), &reader).unwrap();
    let mut last_end = 0usize;
    let mut count = 0u64;
    for record in reader.records() {
        let Ok(record) = record else { break };
        let start = record.offset as usize;
        assert!(start >= last_end && start + record.raw.len() <= bytes.len());
        assert!(record.data.len() <= record.raw.len());
        assert_eq!(record.index, count);
        last_end = start + record.raw.len();
        count += 1;
        writer.write(&record).unwrap();
    }
    let out = writer.finish().unwrap();
    if let CaptureReader::Pcap(_) = reader {
        let end = if count == 0 { 24 } else { last_end };
        assert_eq!(out, bytes[..end]);
    } else {
        // pcapng becomes pcap: it must read back with as many records.
        let back = CaptureReader::new(&out).unwrap();
        assert_eq!(back.records().filter(|r| r.is_ok()).count() as u64, count);
    }
}
