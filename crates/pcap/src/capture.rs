//! Format detection: one reader for pcap and pcapng files.

use crate::error::{FormatError, FormatErrorKind};
use crate::pcap::{PcapReader, PcapRecords};
use crate::pcapng::{PcapNgReader, PcapNgRecords, BLOCK_SHB};
use crate::record::{Precision, Record};

/// A capture of either format, read in place from `bytes`.
#[derive(Clone, Debug)]
pub enum CaptureReader<'a> {
    Pcap(PcapReader<'a>),
    PcapNg(PcapNgReader<'a>),
}

impl<'a> CaptureReader<'a> {
    /// Recognizes the format from the first bytes and checks the file header.
    pub fn new(bytes: &'a [u8]) -> Result<CaptureReader<'a>, FormatError> {
        if bytes.is_empty() {
            return Err(FormatError::header(0, 0, FormatErrorKind::Empty));
        }
        if bytes.len() >= 4
            && u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == BLOCK_SHB
        {
            return Ok(CaptureReader::PcapNg(PcapNgReader::new(bytes)?));
        }
        Ok(CaptureReader::Pcap(PcapReader::new(bytes)?))
    }

    /// The capture's link type: the pcap header's, or the first pcapng interface's.
    pub fn link_type(&self) -> u32 {
        match self {
            CaptureReader::Pcap(r) => r.header().link_type(),
            CaptureReader::PcapNg(r) => r.first_interface().link_type,
        }
    }

    /// The snapshot length libpcap works with (what a filter is compiled with).
    pub fn snaplen(&self) -> u32 {
        match self {
            CaptureReader::Pcap(r) => r.header().effective_snaplen(),
            CaptureReader::PcapNg(r) => r.first_interface().effective_snaplen(),
        }
    }

    /// The timestamp precision of the file (pcapng: of its first interface).
    pub fn precision(&self) -> Precision {
        match self {
            CaptureReader::Pcap(r) => r.header().precision,
            CaptureReader::PcapNg(r) => r.first_interface().precision(),
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            CaptureReader::Pcap(r) => r.bytes(),
            CaptureReader::PcapNg(r) => r.bytes(),
        }
    }

    pub fn records(&self) -> Records<'a> {
        match self {
            CaptureReader::Pcap(r) => Records::Pcap(r.records()),
            CaptureReader::PcapNg(r) => Records::PcapNg(r.records()),
        }
    }
}

/// The records of a capture of either format. After an error the iterator ends.
#[derive(Clone, Debug)]
pub enum Records<'a> {
    Pcap(PcapRecords<'a>),
    PcapNg(PcapNgRecords<'a>),
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, FormatError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Records::Pcap(r) => r.next(),
            Records::PcapNg(r) => r.next(),
        }
    }
}

impl std::iter::FusedIterator for Records<'_> {}
