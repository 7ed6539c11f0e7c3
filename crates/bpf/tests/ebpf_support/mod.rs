//! Shared by the eBPF tests (and benches/ebpf.rs): the corpus's packets, owned, and the classic
//! filters the differential tests run.

#![allow(dead_code)]

// Relative to this file's directory, so that the benchmark's `#[path]` include finds it too.
#[path = "../cbpf_common/mod.rs"]
mod cbpf_common;

/// One packet: captured bytes and length on the wire.
pub struct Packet {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// Every packet of a pcap or pcapng file (pcapng: of every interface), read by jitkit-pcap.
/// Panics on a file it cannot read: the corpus is known good.
pub fn read_packets(path: &std::path::Path) -> Vec<Packet> {
    let file = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    cbpf_common::packets(&file)
        .into_iter()
        .map(|p| Packet {
            data: p.data.to_vec(),
            wire_len: p.wire_len,
        })
        .collect()
}

use jitkit_bpf::cbpf;
use jitkit_testkit::libpcap::{self, RawInsn};

/// Expressions run on every capture (those libpcap refuses for a link type are left out there):
/// the engines' shared list, the benchmarks' filters and more protocols, all valid on Ethernet.
pub const FILTERS: &[&str] = jitkit_testkit::filter_expressions::ETHERNET;

pub fn to_cbpf(prog: &[RawInsn]) -> Vec<cbpf::Insn> {
    libpcap::from_raw(prog)
}
