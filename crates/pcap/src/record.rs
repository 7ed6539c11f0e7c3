//! One packet record as read from a capture: borrowed bytes, never copied.

/// The unit of a timestamp's fraction of a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Micro,
    Nano,
}

/// When a packet was captured: seconds since the epoch and a fraction in `precision` units.
///
/// pcap fractions are kept exactly as stored (even when out of range, so that writing them back
/// gives the same bytes); pcapng timestamps are converted from the interface's resolution to
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub secs: u64,
    pub frac: u32,
    pub precision: Precision,
}

impl Timestamp {
    /// The fraction in microseconds, converted as libpcap converts it (truncating, and holding
    /// the stored fraction in a signed 32-bit field, which matters only for invalid fractions).
    pub fn micros(&self) -> u32 {
        match self.precision {
            Precision::Micro => self.frac,
            Precision::Nano => ((self.frac as i32) / 1000) as u32,
        }
    }
    /// The fraction in nanoseconds.
    pub fn nanos(&self) -> u64 {
        match self.precision {
            Precision::Micro => u64::from(self.frac) * 1000,
            Precision::Nano => u64::from(self.frac),
        }
    }
}

/// One packet: where it is in the file and the bytes a filter sees.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Record number in the file, counting from 0.
    pub index: u64,
    /// Byte offset of the record (pcap record header or pcapng block) in the file.
    pub offset: u64,
    pub timestamp: Timestamp,
    /// The captured bytes as libpcap hands them to a filter: the stored bytes, cut to the file's
    /// (interface's) snapshot length when a record claims more.
    pub data: &'a [u8],
    /// The packet's length on the wire (what a filter's `len` loads).
    pub wire_len: u32,
    /// The link-layer type (`LINKTYPE_*`) of the packet's interface.
    pub link_type: u32,
    /// pcapng interface number within its section; 0 for pcap.
    pub interface: u32,
    /// The whole record exactly as stored: pcap record header plus stored bytes, or the whole
    /// pcapng block.
    pub raw: &'a [u8],
}
