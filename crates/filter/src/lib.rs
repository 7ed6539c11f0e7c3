//! The pcap-filter language (tcpdump expressions) compiled to classic BPF in pure Rust.
//!
//! This crate never prints and never exits; every failure is a typed error.
