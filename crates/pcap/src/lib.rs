//! pcap and pcapng capture files: reading over mmap without copying packets, and writing.
//!
//! This crate never prints and never exits; every failure is a typed error.
