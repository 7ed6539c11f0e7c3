//! The packets of a corpus capture, read by jitkit-pcap: shared by the cBPF and eBPF tests
//! (`ebpf_support` wraps it) and the cBPF and eBPF benchmarks (which include this file by path).

#![allow(dead_code)]

/// One packet of a capture: the captured bytes libpcap hands a filter (cut to the file's snapshot
/// length, as libpcap cuts records that claim more) and the length on the wire.
pub struct Packet<'a> {
    pub data: &'a [u8],
    pub wire_len: u32,
}

/// Every packet of a pcap or pcapng `file` (pcapng: of every interface). Panics on a file or a
/// record jitkit-pcap refuses: the corpus reads cleanly, so a refusal is a reader regression.
pub fn packets(file: &[u8]) -> Vec<Packet<'_>> {
    let reader = jitkit_pcap::CaptureReader::new(file)
        .unwrap_or_else(|e| panic!("a corpus capture jitkit-pcap cannot open: {e}"));
    reader
        .records()
        .map(|record| {
            let record =
                record.unwrap_or_else(|e| panic!("a corpus capture jitkit-pcap cannot read: {e}"));
            Packet {
                data: record.data,
                wire_len: record.wire_len,
            }
        })
        .collect()
}
