//! Typed errors: what went wrong, and where in the file (byte offset and record number).

use std::path::PathBuf;

/// Any failure of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, mapped, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid capture at some point.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// A problem in the capture's bytes. Every complete record before `offset` was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct FormatError {
    /// Byte offset (from the start of the file) of the header, record or block that is bad.
    pub offset: u64,
    /// How many complete records were delivered before the problem (so the bad record, if the
    /// problem is in a record, is record number `records_before + 1`, counting from 1).
    pub records_before: u64,
    /// Whether the problem is inside a packet record (as opposed to a file or block header).
    pub in_record: bool,
    pub kind: FormatErrorKind,
}

impl FormatError {
    fn describe(&self) -> String {
        if self.in_record {
            format!(
                "record {} at byte offset {}: {}",
                self.records_before + 1,
                self.offset,
                self.kind
            )
        } else {
            format!(
                "at byte offset {} (after {} complete records): {}",
                self.offset, self.records_before, self.kind
            )
        }
    }
}

/// What exactly is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatErrorKind {
    #[error("not a pcap or pcapng capture (the file starts with {0:02x?})")]
    NotACapture(Vec<u8>),
    #[error("the file is empty, not a capture")]
    Empty,
    #[error("truncated file header: {have} of {need} bytes")]
    TruncatedFileHeader { have: usize, need: usize },
    #[error("unsupported pcap version {major}.{minor} (2.0 to 2.4 are supported)")]
    UnsupportedPcapVersion { major: u16, minor: u16 },
    #[error("truncated pcapng block header: {have} of 8 bytes before the end of the file")]
    TruncatedBlockHeader { have: usize },
    #[error("the pcapng file has no interface description block, so no link type")]
    NoInterface,
    #[error("pcapng packet block before any interface description block")]
    PacketBeforeInterface,
    #[error("truncated record header: {have} of {need} bytes before the end of the file")]
    TruncatedRecordHeader { have: usize, need: usize },
    #[error("truncated packet data: the record says {caplen} captured bytes, the file has {have}")]
    TruncatedPacket { caplen: u32, have: usize },
    #[error(
        "captured length {caplen} is larger than the maximum of {max} bytes for this link type"
    )]
    CapturedLengthTooLarge { caplen: u32, max: u32 },
    #[error("captured length {caplen} is larger than the snapshot length {snaplen}")]
    CapturedLengthOverSnaplen { caplen: u32, snaplen: u32 },
    #[error("pcapng block length {length} is invalid ({why})")]
    BadBlockLength { length: u32, why: &'static str },
    #[error("truncated pcapng block: its length is {length}, the file has {have} bytes left")]
    TruncatedBlock { length: u32, have: usize },
    #[error("pcapng block length {leading} at the start and {trailing} at the end disagree")]
    BlockLengthMismatch { leading: u32, trailing: u32 },
    #[error("pcapng section header has no valid byte-order magic ({0:#010x})")]
    BadByteOrderMagic(u32),
    #[error("unsupported pcapng version {major}.{minor} (1.0 and 1.2 are supported)")]
    UnsupportedPcapngVersion { major: u16, minor: u16 },
    #[error("pcapng {block} block is too short for its fixed fields or options")]
    BlockTooShort { block: &'static str },
    #[error("packet on interface {id}, but the section describes only {count} interfaces")]
    UnknownInterface { id: u32, count: usize },
    #[error("bad interface option: {0}")]
    BadInterfaceOption(&'static str),
    #[error(
        "packet on interface {interface} has link type {link_type}, but the capture's first \
         interface has {first}: one pcap file (and one filter program) holds one link type"
    )]
    MixedLinkTypes {
        interface: u32,
        link_type: u32,
        first: u32,
    },
    #[error("packet data ({caplen} bytes) runs past the end of its pcapng block")]
    PacketOverrunsBlock { caplen: u32 },
}

impl FormatError {
    pub(crate) fn header(offset: usize, records_before: u64, kind: FormatErrorKind) -> Self {
        FormatError {
            offset: offset as u64,
            records_before,
            in_record: false,
            kind,
        }
    }
    pub(crate) fn record(offset: usize, records_before: u64, kind: FormatErrorKind) -> Self {
        FormatError {
            offset: offset as u64,
            records_before,
            in_record: true,
            kind,
        }
    }
}
