//! Writing pcap files: the output keeps the input's link type, snapshot length and timestamp
//! precision, and records are copied unchanged.
//!
//! - pcap input: the file header and every record's bytes are copied as they are (same byte
//!   order, same magic). Records that sit next to each other in the input are written as one
//!   slice, and large slices go to the output straight from the input's memory, so writing most
//!   of a mapped capture costs about what `cat` costs.
//! - pcapng input: a pcap file in this machine's byte order, with the first interface's link
//!   type and snapshot length (as libpcap reports them), nanosecond precision when that interface
//!   records finer than microseconds, and each packet's timestamp, captured bytes and wire length.
//!   Packets from interfaces with another link type cannot go into one pcap file: that is the
//!   caller's check (see `Record::link_type`).

use std::io::{self, BufWriter, Write};

use crate::capture::CaptureReader;
use crate::pcap::{FILE_HEADER_LEN, MAGIC_MICRO, MAGIC_NANO};
use crate::record::{Precision, Record};

/// Output buffer size: big enough that the number of write system calls is negligible.
const BUFFER: usize = 1 << 20;

/// How records reach the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    /// Copy `Record::raw` (pcap input).
    Raw,
    /// Build a native-order 16-byte record header (pcapng input).
    Rebuild(Precision),
}

/// A pcap writer for the records of one capture.
pub struct PcapWriter<'a, W: Write> {
    out: BufWriter<W>,
    encoding: Encoding,
    /// The input file, for writing runs of adjacent raw records in one piece.
    source: &'a [u8],
    /// Input byte range of raw records accepted but not written yet (start..end).
    pending: (usize, usize),
}

impl<'a, W: Write> PcapWriter<'a, W> {
    /// Writes the file header for `capture`'s records to `out`.
    pub fn for_capture(out: W, capture: &CaptureReader<'a>) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(BUFFER, out);
        let encoding = match capture {
            CaptureReader::Pcap(reader) => {
                out.write_all(&reader.header().raw)?;
                Encoding::Raw
            }
            CaptureReader::PcapNg(_) => {
                let precision = capture.precision();
                out.write_all(&native_header(
                    precision,
                    capture.snaplen(),
                    capture.link_type(),
                ))?;
                Encoding::Rebuild(precision)
            }
        };
        Ok(PcapWriter {
            out,
            encoding,
            source: capture.bytes(),
            pending: (0, 0),
        })
    }

    /// Appends one record of the capture this writer was made for.
    #[inline]
    pub fn write(&mut self, record: &Record<'a>) -> io::Result<()> {
        match self.encoding {
            Encoding::Raw => {
                let start = record.offset as usize;
                self.write_range(start, start + record.raw.len())
            }
            Encoding::Rebuild(precision) => {
                let frac = match precision {
                    Precision::Micro => record.timestamp.micros(),
                    Precision::Nano => record.timestamp.nanos() as u32,
                };
                let mut header = [0u8; 16];
                // pcap has 32-bit seconds: later times wrap, as libpcap's writer does.
                header[0..4].copy_from_slice(&(record.timestamp.secs as u32).to_ne_bytes());
                header[4..8].copy_from_slice(&frac.to_ne_bytes());
                header[8..12].copy_from_slice(&(record.data.len() as u32).to_ne_bytes());
                header[12..16].copy_from_slice(&record.wire_len.to_ne_bytes());
                self.out.write_all(&header)?;
                self.out.write_all(record.data)
            }
        }
    }

    /// Appends the input bytes `start..end`, which must be whole raw records of the input (pcap
    /// input only). Adjacent ranges are merged and written together.
    #[inline]
    pub fn write_range(&mut self, start: usize, end: usize) -> io::Result<()> {
        debug_assert_eq!(self.encoding, Encoding::Raw);
        if start == self.pending.1 && self.pending.0 != self.pending.1 {
            self.pending.1 = end;
            return Ok(());
        }
        self.flush_pending()?;
        self.pending = (start, end);
        Ok(())
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        let (start, end) = self.pending;
        if start != end {
            // Slices larger than the buffer bypass it: one write straight from the input map.
            self.out.write_all(&self.source[start..end])?;
            self.pending = (0, 0);
        }
        Ok(())
    }

    /// Writes everything out and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_pending()?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// A pcap file header in this machine's byte order (version 2.4, as libpcap writes it).
pub fn native_header(precision: Precision, snaplen: u32, link_type: u32) -> [u8; FILE_HEADER_LEN] {
    let magic = match precision {
        Precision::Micro => MAGIC_MICRO,
        Precision::Nano => MAGIC_NANO,
    };
    let mut header = [0u8; FILE_HEADER_LEN];
    header[0..4].copy_from_slice(&magic.to_ne_bytes());
    header[4..6].copy_from_slice(&2u16.to_ne_bytes());
    header[6..8].copy_from_slice(&4u16.to_ne_bytes());
    // thiszone and sigfigs stay 0.
    header[16..20].copy_from_slice(&snaplen.to_ne_bytes());
    header[20..24].copy_from_slice(&link_type.to_ne_bytes());
    header
}
