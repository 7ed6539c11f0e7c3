//! The classic pcap format: a 24-byte file header, then records of a 16-byte header (24 bytes in
//! Kuznetsov's modified format) and the captured bytes. Both byte orders, micro- and nanosecond
//! timestamps, and the historical quirks libpcap accepts (versions 2.0-2.4 and 543.0 with swapped
//! length fields).

use std::ops::Range;

use crate::error::{FormatError, FormatErrorKind};
use crate::linktype;
use crate::record::{Precision, Record, Timestamp};

/// Microsecond timestamps (`TCPDUMP_MAGIC`).
pub const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
/// Nanosecond timestamps (`NSEC_TCPDUMP_MAGIC`).
pub const MAGIC_NANO: u32 = 0xa1b2_3c4d;
/// Alexey Kuznetsov's modified format: 8 more bytes per record header (ifindex, protocol, type).
pub const MAGIC_KUZNETSOV: u32 = 0xa1b2_cd34;

pub const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
const KUZNETSOV_RECORD_HEADER_LEN: usize = 24;
/// The largest wire length a plausible record header has (for guessing record boundaries).
const MAX_WIRE_LEN: u32 = 0x0100_0000;

/// How the caplen and len fields are ordered in record headers (libpcap's `lengths_swapped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LengthOrder {
    Normal,
    /// Before version 2.3 (and DG/UX's 543.0) len came before caplen.
    Swapped,
    /// Version 2.3 files were written both ways: swap when caplen > len.
    Maybe,
}

/// The pcap file header, decoded, plus its raw bytes (written back unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapHeader {
    /// Whether the file's byte order differs from this machine's.
    pub swapped: bool,
    pub precision: Precision,
    /// Kuznetsov's modified format (24-byte record headers).
    pub modified: bool,
    pub version_major: u16,
    pub version_minor: u16,
    /// The snapshot length as stored.
    pub snaplen: u32,
    /// The link-type field as stored; the upper 6 bits can carry FCS information.
    pub link_type_field: u32,
    pub raw: [u8; FILE_HEADER_LEN],
}

impl PcapHeader {
    /// Decodes the file header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<PcapHeader, FormatError> {
        let head_err = |kind| FormatError::header(0, 0, kind);
        if bytes.len() < 4 {
            return Err(head_err(FormatErrorKind::NotACapture(bytes.to_vec())));
        }
        let magic_ne = u32::from_ne_bytes(bytes[..4].try_into().unwrap_or_default());
        let (magic, swapped) = match magic_ne {
            MAGIC_MICRO | MAGIC_NANO | MAGIC_KUZNETSOV => (magic_ne, false),
            m if matches!(m.swap_bytes(), MAGIC_MICRO | MAGIC_NANO | MAGIC_KUZNETSOV) => {
                (m.swap_bytes(), true)
            }
            _ => return Err(head_err(FormatErrorKind::NotACapture(bytes[..4].to_vec()))),
        };
        if bytes.len() < FILE_HEADER_LEN {
            return Err(head_err(FormatErrorKind::TruncatedFileHeader {
                have: bytes.len(),
                need: FILE_HEADER_LEN,
            }));
        }
        let raw: [u8; FILE_HEADER_LEN] = bytes[..FILE_HEADER_LEN].try_into().unwrap_or_default();
        let u16_at = |at: usize| {
            let v = u16::from_ne_bytes([raw[at], raw[at + 1]]);
            if swapped {
                v.swap_bytes()
            } else {
                v
            }
        };
        let u32_at = |at: usize| read_u32(&raw, at, swapped);
        let (version_major, version_minor) = (u16_at(4), u16_at(6));
        let supported = (version_major == 2 && version_minor <= 4)
            || (version_major == 543 && version_minor == 0);
        if !supported {
            return Err(head_err(FormatErrorKind::UnsupportedPcapVersion {
                major: version_major,
                minor: version_minor,
            }));
        }
        Ok(PcapHeader {
            swapped,
            precision: if magic == MAGIC_NANO {
                Precision::Nano
            } else {
                Precision::Micro
            },
            modified: magic == MAGIC_KUZNETSOV,
            version_major,
            version_minor,
            snaplen: u32_at(16),
            link_type_field: u32_at(20),
            raw,
        })
    }

    /// The link type without the FCS bits (`LT_LINKTYPE`).
    pub fn link_type(&self) -> u32 {
        self.link_type_field & 0x03FF_FFFF
    }

    /// The snapshot length libpcap works with: 0 or too large means the link type's maximum, and
    /// Kuznetsov Ethernet captures get 14 more bytes (their cooked-mode fake header).
    pub fn effective_snaplen(&self) -> u32 {
        let snap = linktype::effective_snaplen(self.link_type(), self.snaplen);
        if self.modified && self.link_type() == linktype::ETHERNET {
            snap.saturating_add(14).min(i32::MAX as u32)
        } else {
            snap
        }
    }

    fn record_header_len(&self) -> usize {
        if self.modified {
            KUZNETSOV_RECORD_HEADER_LEN
        } else {
            RECORD_HEADER_LEN
        }
    }

    fn length_order(&self) -> LengthOrder {
        match (self.version_major, self.version_minor) {
            (2, minor) if minor < 3 => LengthOrder::Swapped,
            (2, 3) => LengthOrder::Maybe,
            (543, _) => LengthOrder::Swapped,
            _ => LengthOrder::Normal,
        }
    }
}

#[inline(always)]
fn read_u32(bytes: &[u8], at: usize, swapped: bool) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    let v = u32::from_ne_bytes(word);
    if swapped {
        v.swap_bytes()
    } else {
        v
    }
}

/// A pcap file's records, read in place from `bytes` (usually a mapped file).
#[derive(Clone, Debug)]
pub struct PcapReader<'a> {
    bytes: &'a [u8],
    header: PcapHeader,
    layout: Layout,
}

/// What the record loop needs to know, copied into each iterator.
#[derive(Clone, Copy, Debug)]
struct Layout {
    swapped: bool,
    header_len: usize,
    lengths: LengthOrder,
    snaplen: u32,
    max_caplen: u32,
    link_type: u32,
    precision: Precision,
}

impl<'a> PcapReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<PcapReader<'a>, FormatError> {
        let header = PcapHeader::parse(bytes)?;
        let layout = Layout {
            swapped: header.swapped,
            header_len: header.record_header_len(),
            lengths: header.length_order(),
            snaplen: header.effective_snaplen(),
            max_caplen: linktype::max_snaplen(header.link_type()),
            link_type: header.link_type(),
            precision: header.precision,
        };
        Ok(PcapReader {
            bytes,
            header,
            layout,
        })
    }

    pub fn header(&self) -> &PcapHeader {
        &self.header
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Every record, from the first.
    pub fn records(&self) -> PcapRecords<'a> {
        self.records_at(FILE_HEADER_LEN, 0)
    }

    /// The records from byte `offset` on, numbered from `first_index`. `offset` must be where a
    /// record starts for the result to mean anything; bad guesses only produce format errors.
    pub fn records_at(&self, offset: usize, first_index: u64) -> PcapRecords<'a> {
        PcapRecords {
            bytes: self.bytes,
            layout: self.layout,
            offset,
            index: first_index,
            done: false,
        }
    }

    /// Whether a record header at `offset` looks real: a plausible captured length that fits in
    /// the file, a wire length not below it, and the next `confirm` records just as plausible (or
    /// the end of the file exactly). Used to guess where to split a file for parallel work; the
    /// guess is always verified afterwards. The first record must not be empty: 16 zero bytes
    /// (the padding at the end of many packets) look like an empty record, and they would make
    /// every offset just before a real record a plausible start.
    pub fn plausible_record_at(&self, offset: usize, confirm: usize) -> bool {
        let l = self.layout;
        let mut at = offset;
        for _ in 0..=confirm {
            if at == self.bytes.len() {
                return true;
            }
            if at + l.header_len > self.bytes.len() {
                return false;
            }
            let caplen = read_u32(self.bytes, at + 8, l.swapped);
            let wire = read_u32(self.bytes, at + 12, l.swapped);
            let frac = read_u32(self.bytes, at + 4, l.swapped);
            let frac_limit = match l.precision {
                Precision::Micro => 1_000_000,
                Precision::Nano => 1_000_000_000,
            };
            if l.lengths != LengthOrder::Normal
                || (at == offset && caplen == 0)
                || caplen > l.snaplen
                || caplen > wire
                || wire > MAX_WIRE_LEN
                || frac >= frac_limit
            {
                return false;
            }
            at += l.header_len + caplen as usize;
        }
        at <= self.bytes.len()
    }
}

impl PcapReader<'_> {
    /// The first offset in `range` where [`plausible_record_at`](Self::plausible_record_at)
    /// holds. Fast: most offsets are refused on their length fields alone, which matters when
    /// the range starts inside a large packet (tens of thousands of offsets to try).
    pub fn find_plausible_record(&self, range: Range<usize>, confirm: usize) -> Option<usize> {
        let l = self.layout;
        let bytes = self.bytes;
        range.into_iter().find(|&at| {
            if at + RECORD_HEADER_LEN <= bytes.len() {
                let caplen = read_u32(bytes, at + 8, l.swapped);
                let wire = read_u32(bytes, at + 12, l.swapped);
                if caplen == 0 || caplen > l.snaplen || caplen > wire || wire > MAX_WIRE_LEN {
                    return false;
                }
            }
            self.plausible_record_at(at, confirm)
        })
    }
}

/// Iterator over pcap records. After an error it ends.
#[derive(Clone, Debug)]
pub struct PcapRecords<'a> {
    bytes: &'a [u8],
    layout: Layout,
    offset: usize,
    index: u64,
    done: bool,
}

impl<'a> PcapRecords<'a> {
    /// Byte offset where the next record starts (after the last one delivered).
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Number of the next record (records delivered so far plus the first index).
    pub fn next_index(&self) -> u64 {
        self.index
    }

    #[inline]
    fn fail(&mut self, kind: FormatErrorKind) -> Option<Result<Record<'a>, FormatError>> {
        self.done = true;
        Some(Err(FormatError::record(self.offset, self.index, kind)))
    }
}

impl<'a> Iterator for PcapRecords<'a> {
    type Item = Result<Record<'a>, FormatError>;

    // Always inlined: the record is then built in registers instead of going through memory,
    // and the selector's loop is the hottest code of `jitkit filter`.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let l = self.layout;
        let bytes = self.bytes;
        let at = self.offset;
        let left = bytes.len().saturating_sub(at);
        if left < l.header_len {
            if left == 0 {
                self.done = true;
                return None;
            }
            return self.fail(FormatErrorKind::TruncatedRecordHeader {
                have: left,
                need: l.header_len,
            });
        }
        let secs = read_u32(bytes, at, l.swapped);
        let frac = read_u32(bytes, at + 4, l.swapped);
        let mut caplen = read_u32(bytes, at + 8, l.swapped);
        let mut wire_len = read_u32(bytes, at + 12, l.swapped);
        let swap_lengths = match l.lengths {
            LengthOrder::Normal => false,
            LengthOrder::Swapped => true,
            LengthOrder::Maybe => caplen > wire_len,
        };
        if swap_lengths {
            std::mem::swap(&mut caplen, &mut wire_len);
        }
        if caplen > l.max_caplen {
            return self.fail(FormatErrorKind::CapturedLengthTooLarge {
                caplen,
                max: l.max_caplen,
            });
        }
        let data_start = at + l.header_len;
        let end = data_start + caplen as usize;
        if end > bytes.len() {
            return self.fail(FormatErrorKind::TruncatedPacket {
                caplen,
                have: bytes.len() - data_start,
            });
        }
        // libpcap hands a filter at most the snapshot length (a record claiming more is cut).
        let seen = caplen.min(l.snaplen) as usize;
        let record = Record {
            index: self.index,
            offset: at as u64,
            timestamp: Timestamp {
                secs: u64::from(secs),
                frac,
                precision: l.precision,
            },
            data: &bytes[data_start..data_start + seen],
            wire_len,
            link_type: l.link_type,
            interface: 0,
            raw: &bytes[at..end],
        };
        self.offset = end;
        self.index += 1;
        Some(Ok(record))
    }
}

impl std::iter::FusedIterator for PcapRecords<'_> {}
