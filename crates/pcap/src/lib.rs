//! pcap and pcapng capture files: reading over mmap without copying packets, and writing.
//!
//! - [`MappedFile`] maps a file read-only (`mapped.rs`, `prefetch.rs` (a cache hint),
//!   `output.rs` (`fallocate`) and `tail.rs` (a writable mapping of the output's end) hold the
//!   crate's only `unsafe`).
//! - [`CaptureReader`] recognizes pcap or pcapng and iterates [`Record`]s that borrow from the
//!   file's bytes: timestamp, captured bytes, wire length, link type and the raw stored record.
//!   [`pcap`] and [`pcapng`] are the two formats; both byte orders, microsecond and nanosecond
//!   pcap, Kuznetsov's modified pcap, pcapng with several sections and interfaces.
//! - [`PcapWriter`] writes pcap, copying records unchanged; [`OutputFile`] is a file that reserves
//!   its disk space ahead of the writes and whose end another thread can write ([`OutputTail`]).
//! - [`select`] runs a predicate over every record (pcap files split among threads, output kept in
//!   order) and writes the records it keeps.
//!
//! Bad bytes give a [`FormatError`] saying where (byte offset, record number) and what; every
//! complete record before it has been delivered. This crate never prints and never exits.

mod capture;
mod error;
pub mod linktype;
mod mapped;
mod output;
pub mod pcap;
pub mod pcapng;
mod prefetch;
mod record;
pub mod select;
mod tail;
mod writer;

pub use capture::{CaptureReader, Records};
pub use error::{Error, FormatError, FormatErrorKind};
pub use mapped::MappedFile;
pub use output::OutputFile;
pub use record::{Precision, Record, Timestamp};
pub use tail::OutputTail;
pub use writer::{native_header, PcapWriter};
