//! Writing pcap files: the output keeps the input's link type, snapshot length and timestamp
//! precision, and records are copied unchanged.
//!
//! - pcap input: the file header and every record's bytes are copied as they are (same byte
//!   order, same magic). Records that sit next to each other in the input are written as one
//!   slice, and slices go to the output with vectored writes straight from the input's memory
//!   (no copy in user space), so writing most of a mapped capture costs less than `cat`.
//! - pcapng input: a pcap file in this machine's byte order, with the first interface's link
//!   type and snapshot length (as libpcap reports them), nanosecond precision when that interface
//!   records finer than microseconds, and each packet's timestamp, captured bytes and wire length.
//!   Packets from interfaces with another link type cannot go into one pcap file: that is the
//!   caller's check (see `Record::link_type`).

use std::io::{self, BufWriter, IoSlice, Write};

use crate::capture::CaptureReader;
use crate::pcap::{FILE_HEADER_LEN, MAGIC_MICRO, MAGIC_NANO};
use crate::record::{Precision, Record};
use crate::tail::OutputTail;

/// Output buffer size for rebuilt (pcapng) records.
const BUFFER: usize = 1 << 20;
/// Raw ranges gathered before one `writev` (the kernel's IOV_MAX is 1024).
const MAX_RANGES: usize = 1024;
/// Bytes gathered before one `writev`.
const MAX_PENDING: usize = 8 << 20;

/// How records reach the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    /// Copy `Record::raw` (pcap input).
    Raw,
    /// Build a native-order 16-byte record header (pcapng input).
    Rebuild(Precision),
}

/// A pcap writer for the records of one capture.
///
/// Raw records are not copied in user space: the writer keeps a list of input byte ranges
/// (adjacent records merged into one range) and hands them to the kernel with vectored writes
/// (`writev`) straight from the input's memory.
pub struct PcapWriter<'a, W: Write> {
    out: BufWriter<W>,
    encoding: Encoding,
    /// The input file, whose ranges are written.
    source: &'a [u8],
    /// Input byte ranges accepted but not written yet, in output order.
    pending: Vec<(usize, usize)>,
    pending_bytes: usize,
    /// Bytes accepted so far, the file header included (raw records only).
    accepted: u64,
    /// A handle for another thread to write the output's end (see [`PcapWriter::with_tail`]).
    tail: Option<OutputTail>,
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
            pending: Vec::with_capacity(MAX_RANGES),
            pending_bytes: 0,
            accepted: FILE_HEADER_LEN as u64,
            tail: None,
        })
    }

    /// Lets [`crate::select::select`] have another thread write the end of the output through
    /// `tail` (a handle on the same file as `out`) when that is faster, for pcap input.
    pub fn with_tail(mut self, tail: Option<OutputTail>) -> Self {
        self.tail = tail.filter(|_| self.encoding == Encoding::Raw);
        self
    }

    /// The tail handle, for the thread that will write the output's end.
    pub(crate) fn take_tail(&mut self) -> Option<OutputTail> {
        self.tail.take()
    }

    /// Bytes accepted so far, the file header included (pcap input).
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted
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
    /// input only). A range that continues the previous one is merged with it.
    #[inline]
    pub fn write_range(&mut self, start: usize, end: usize) -> io::Result<()> {
        debug_assert_eq!(self.encoding, Encoding::Raw);
        self.accepted += (end - start) as u64;
        self.pending_bytes += end - start;
        match self.pending.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => {
                if self.pending.len() == MAX_RANGES {
                    self.flush_pending()?;
                    self.pending_bytes = end - start;
                }
                self.pending.push((start, end));
            }
        }
        if self.pending_bytes >= MAX_PENDING {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Hands everything accepted so far to the underlying writer now instead of gathering more
    /// first: a caller about to wait for more records keeps the output moving meanwhile.
    pub fn write_pending(&mut self) -> io::Result<()> {
        self.flush_pending()?;
        self.out.flush()
    }

    /// Writes the gathered ranges with as few `writev` calls as the kernel allows.
    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.out.flush()?;
        let source = self.source;
        let mut slices: Vec<IoSlice> = self
            .pending
            .iter()
            .map(|&(s, e)| IoSlice::new(&source[s..e]))
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.out.get_mut().write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.pending_bytes = 0;
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
