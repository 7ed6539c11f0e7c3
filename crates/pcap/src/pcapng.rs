//! The pcapng format: a sequence of blocks. Section Header Blocks set the byte order and reset
//! the interface list; Interface Description Blocks give each interface's link type, snapshot
//! length and timestamp resolution; Enhanced, Simple and (obsolete) Packet Blocks carry packets.
//! Every other block type is skipped. Checks follow libpcap's reader (sf-pcapng.c).

use crate::error::{FormatError, FormatErrorKind};
use crate::linktype;
use crate::record::{Precision, Record, Timestamp};

pub const BLOCK_SHB: u32 = 0x0a0d_0d0a;
pub const BLOCK_IDB: u32 = 0x0000_0001;
pub const BLOCK_PB: u32 = 0x0000_0002;
pub const BLOCK_SPB: u32 = 0x0000_0003;
pub const BLOCK_EPB: u32 = 0x0000_0006;
pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;

const OPT_ENDOFOPT: u16 = 0;
const IF_TSRESOL: u16 = 9;
const IF_TSOFFSET: u16 = 14;

/// One interface of a section, from its Interface Description Block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub link_type: u32,
    /// The snapshot length as stored (0 = no limit).
    pub snaplen: u32,
    /// Timestamp units per second (10^n or 2^n; 10^6 when the IDB does not say).
    pub units_per_second: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    pub ts_offset: i64,
}

impl Interface {
    /// libpcap's snapshot length for this interface (0 or too large -> the link type's maximum).
    pub fn effective_snaplen(&self) -> u32 {
        linktype::effective_snaplen(self.link_type, self.snaplen)
    }

    /// The precision a pcap file needs to keep this interface's timestamps.
    pub fn precision(&self) -> Precision {
        if self.units_per_second > 1_000_000 {
            Precision::Nano
        } else {
            Precision::Micro
        }
    }

    /// Converts a raw 64-bit timestamp the way libpcap does: seconds = t / units + offset, and
    /// the remainder scaled to nanoseconds (truncating).
    fn timestamp(&self, t: u64) -> Timestamp {
        let units = self.units_per_second;
        let secs = (t / units).wrapping_add(self.ts_offset as u64);
        let rest = t % units;
        let nanos = (u128::from(rest) * 1_000_000_000 / u128::from(units)) as u32;
        Timestamp {
            secs,
            frac: nanos,
            precision: Precision::Nano,
        }
    }
}

/// A pcapng file's records, read in place.
#[derive(Clone, Debug)]
pub struct PcapNgReader<'a> {
    bytes: &'a [u8],
    first_interface: Interface,
}

impl<'a> PcapNgReader<'a> {
    /// Checks the first Section Header Block and finds the first interface (the capture's link
    /// type), as libpcap does when it opens a file.
    pub fn new(bytes: &'a [u8]) -> Result<PcapNgReader<'a>, FormatError> {
        let mut blocks = PcapNgRecords::new(bytes);
        loop {
            match blocks.next_block()? {
                None => {
                    return Err(FormatError::header(
                        bytes.len(),
                        0,
                        FormatErrorKind::NoInterface,
                    ))
                }
                Some(Block::Packet(_)) => {
                    return Err(FormatError::header(
                        blocks.block_start,
                        0,
                        FormatErrorKind::PacketBeforeInterface,
                    ))
                }
                Some(Block::Other) => {
                    if let Some(first) = blocks.interfaces.first() {
                        return Ok(PcapNgReader {
                            bytes,
                            first_interface: first.clone(),
                        });
                    }
                }
            }
        }
    }

    /// The first interface of the first section.
    pub fn first_interface(&self) -> &Interface {
        &self.first_interface
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn records(&self) -> PcapNgRecords<'a> {
        PcapNgRecords::new(self.bytes)
    }
}

/// Iterator over the packets of a pcapng file. After an error it ends.
#[derive(Clone, Debug)]
pub struct PcapNgRecords<'a> {
    bytes: &'a [u8],
    offset: usize,
    block_start: usize,
    index: u64,
    swapped: bool,
    /// Interfaces of the current section, in IDB order.
    interfaces: Vec<Interface>,
    done: bool,
}

enum Block<'a> {
    Packet(Record<'a>),
    /// SHB, IDB or a block we skip.
    Other,
}

/// A cursor over a block's body, reading in the section's byte order.
struct Body<'a> {
    bytes: &'a [u8],
    swapped: bool,
}

impl<'a> Body<'a> {
    fn u16(&self, at: usize) -> u16 {
        let v = u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]]);
        if self.swapped {
            v.swap_bytes()
        } else {
            v
        }
    }
    fn u64(&self, at: usize) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.bytes[at..at + 8]);
        let v = u64::from_ne_bytes(word);
        if self.swapped {
            v.swap_bytes()
        } else {
            v
        }
    }
    fn u32(&self, at: usize) -> u32 {
        let v = u32::from_ne_bytes([
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ]);
        if self.swapped {
            v.swap_bytes()
        } else {
            v
        }
    }
}

impl<'a> PcapNgRecords<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        PcapNgRecords {
            bytes,
            offset: 0,
            block_start: 0,
            index: 0,
            swapped: false,
            interfaces: Vec::new(),
            done: false,
        }
    }

    /// Byte offset of the next block.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The interfaces of the current section.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    fn header_error(&self, kind: FormatErrorKind) -> FormatError {
        FormatError::header(self.block_start, self.index, kind)
    }
    fn record_error(&self, kind: FormatErrorKind) -> FormatError {
        FormatError::record(self.block_start, self.index, kind)
    }

    /// Reads the block at `offset`: `Ok(None)` at the end of the file.
    fn next_block(&mut self) -> Result<Option<Block<'a>>, FormatError> {
        let bytes = self.bytes;
        let at = self.offset;
        self.block_start = at;
        let left = bytes.len() - at;
        if left == 0 {
            return Ok(None);
        }
        if left < 8 {
            return Err(self.header_error(FormatErrorKind::TruncatedBlockHeader { have: left }));
        }
        let mut head = Body {
            bytes: &bytes[at..],
            swapped: self.swapped,
        };
        let block_type = head.u32(0);
        // The section header's type reads the same in both byte orders.
        if block_type == BLOCK_SHB {
            // A new section: its byte-order magic decides how everything in it is read.
            if left < 12 {
                return Err(self.header_error(FormatErrorKind::TruncatedBlock {
                    length: 12,
                    have: left,
                }));
            }
            let magic =
                u32::from_ne_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]]);
            self.swapped = if magic == BYTE_ORDER_MAGIC {
                false
            } else if magic.swap_bytes() == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(self.header_error(FormatErrorKind::BadByteOrderMagic(magic)));
            };
            head.swapped = self.swapped;
        }
        let length = head.u32(4);
        let bad_length = |why| FormatErrorKind::BadBlockLength { length, why };
        if length < 12 {
            return Err(self.header_error(bad_length("shorter than 12 bytes")));
        }
        if !length.is_multiple_of(4) {
            return Err(self.header_error(bad_length("not a multiple of 4")));
        }
        if length as usize > left {
            return Err(self.header_error(FormatErrorKind::TruncatedBlock { length, have: left }));
        }
        let block = &bytes[at..at + length as usize];
        let trailing = Body {
            bytes: block,
            swapped: self.swapped,
        }
        .u32(length as usize - 4);
        if trailing != length {
            return Err(self.header_error(FormatErrorKind::BlockLengthMismatch {
                leading: length,
                trailing,
            }));
        }
        let body = Body {
            bytes: &block[8..length as usize - 4],
            swapped: self.swapped,
        };
        let parsed = match block_type {
            BLOCK_SHB => {
                self.section_header(&body)?;
                Block::Other
            }
            BLOCK_IDB => {
                self.interface(&body)?;
                Block::Other
            }
            BLOCK_EPB | BLOCK_PB | BLOCK_SPB => {
                Block::Packet(self.packet(block_type, &body, block)?)
            }
            _ => Block::Other,
        };
        self.offset = at + length as usize;
        Ok(Some(parsed))
    }

    fn section_header(&mut self, body: &Body<'a>) -> Result<(), FormatError> {
        if body.bytes.len() < 16 {
            return Err(self.header_error(FormatErrorKind::BlockTooShort {
                block: "section header",
            }));
        }
        let (major, minor) = (body.u16(4), body.u16(6));
        if !(major == 1 && (minor == 0 || minor == 2)) {
            return Err(
                self.header_error(FormatErrorKind::UnsupportedPcapngVersion { major, minor })
            );
        }
        self.interfaces.clear();
        Ok(())
    }

    fn interface(&mut self, body: &Body<'a>) -> Result<(), FormatError> {
        if body.bytes.len() < 8 {
            return Err(self.header_error(FormatErrorKind::BlockTooShort {
                block: "interface description",
            }));
        }
        let mut interface = Interface {
            link_type: u32::from(body.u16(0)),
            snaplen: body.u32(4),
            units_per_second: 1_000_000,
            ts_offset: 0,
        };
        let (mut saw_resolution, mut saw_offset) = (false, false);
        let mut at = 8;
        let bad = |what| self.header_error(FormatErrorKind::BadInterfaceOption(what));
        while at < body.bytes.len() {
            if body.bytes.len() - at < 4 {
                return Err(self.header_error(FormatErrorKind::BlockTooShort {
                    block: "interface description",
                }));
            }
            let (code, len) = (body.u16(at), body.u16(at + 2) as usize);
            let value_at = at + 4;
            let padded = len.div_ceil(4) * 4;
            if body.bytes.len() - value_at < padded {
                return Err(self.header_error(FormatErrorKind::BlockTooShort {
                    block: "interface description",
                }));
            }
            match code {
                OPT_ENDOFOPT => {
                    if len != 0 {
                        return Err(bad("opt_endofopt with a non-zero length"));
                    }
                    break;
                }
                IF_TSRESOL => {
                    if len != 1 {
                        return Err(bad("if_tsresol whose length is not 1"));
                    }
                    if std::mem::replace(&mut saw_resolution, true) {
                        return Err(bad("more than one if_tsresol"));
                    }
                    let resolution = body.bytes[value_at];
                    interface.units_per_second = if resolution & 0x80 != 0 {
                        let shift = resolution & 0x7f;
                        if shift > 63 {
                            return Err(bad("if_tsresol finer than 2^-63"));
                        }
                        1u64 << shift
                    } else {
                        if resolution > 19 {
                            return Err(bad("if_tsresol finer than 10^-19"));
                        }
                        10u64.pow(u32::from(resolution))
                    };
                }
                IF_TSOFFSET => {
                    if len != 8 {
                        return Err(bad("if_tsoffset whose length is not 8"));
                    }
                    if std::mem::replace(&mut saw_offset, true) {
                        return Err(bad("more than one if_tsoffset"));
                    }
                    interface.ts_offset = body.u64(value_at) as i64;
                }
                _ => {}
            }
            at = value_at + padded;
        }
        self.interfaces.push(interface);
        Ok(())
    }

    fn packet(
        &self,
        block_type: u32,
        body: &Body<'a>,
        block: &'a [u8],
    ) -> Result<Record<'a>, FormatError> {
        let (name, fixed) = match block_type {
            BLOCK_EPB => ("enhanced packet", 20),
            BLOCK_PB => ("packet", 20),
            _ => ("simple packet", 4),
        };
        if body.bytes.len() < fixed {
            return Err(self.record_error(FormatErrorKind::BlockTooShort { block: name }));
        }
        if self.interfaces.is_empty() {
            return Err(self.record_error(FormatErrorKind::PacketBeforeInterface));
        }
        let room = body.bytes.len() - fixed;
        let (interface_id, t, caplen, wire_len) = match block_type {
            BLOCK_EPB | BLOCK_PB => {
                let id = if block_type == BLOCK_EPB {
                    body.u32(0)
                } else {
                    u32::from(body.u16(0))
                };
                let t = (u64::from(body.u32(4)) << 32) | u64::from(body.u32(8));
                (id, t, body.u32(12), body.u32(16))
            }
            _ => {
                // No captured length and no timestamp: the packet is cut to the snapshot length
                // and to what the block holds.
                let wire = body.u32(0);
                let snap = self
                    .interfaces
                    .first()
                    .map_or(u32::MAX, Interface::effective_snaplen);
                (0, 0, wire.min(snap).min(room as u32), wire)
            }
        };
        let Some(interface) = self.interfaces.get(interface_id as usize) else {
            return Err(self.record_error(FormatErrorKind::UnknownInterface {
                id: interface_id,
                count: self.interfaces.len(),
            }));
        };
        let snaplen = interface.effective_snaplen();
        if caplen > snaplen {
            return Err(
                self.record_error(FormatErrorKind::CapturedLengthOverSnaplen { caplen, snaplen })
            );
        }
        if caplen as usize > room {
            return Err(self.record_error(FormatErrorKind::PacketOverrunsBlock { caplen }));
        }
        Ok(Record {
            index: self.index,
            offset: self.block_start as u64,
            timestamp: interface.timestamp(t),
            data: &body.bytes[fixed..fixed + caplen as usize],
            wire_len,
            link_type: interface.link_type,
            interface: interface_id,
            raw: block,
        })
    }
}

impl<'a> Iterator for PcapNgRecords<'a> {
    type Item = Result<Record<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_block() {
                Ok(None) => self.done = true,
                Ok(Some(Block::Other)) => {}
                Ok(Some(Block::Packet(record))) => {
                    self.index += 1;
                    return Some(Ok(record));
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
        None
    }
}

impl std::iter::FusedIterator for PcapNgRecords<'_> {}
