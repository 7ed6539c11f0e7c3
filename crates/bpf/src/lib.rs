//! Classic BPF (cBPF) and extended BPF (eBPF).
//!
//! - [`cbpf`]: the classic instruction model, tcpdump's `-d/-dd/-ddd` text forms, the kernel-style
//!   validator and an interpreter with libpcap's `bpf_filter()` semantics.
//!
//! This crate never prints and never exits; every failure is a typed error.

pub mod cbpf;
pub mod ebpf;

/// An engine that runs a compiled filter over one packet: the interpreter, the JITs, LLVM code.
///
/// `packet` is the captured bytes and `wire_len` the packet's original length (what `len` loads).
/// The result is the filter's return value: the number of bytes to keep, 0 to reject.
pub trait PacketFilter {
    fn run(&self, packet: &[u8], wire_len: u32) -> u32;
}
