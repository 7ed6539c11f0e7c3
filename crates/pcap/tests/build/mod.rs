//! Builders for hand-made capture files in either byte order (test data, kept readable).
#![allow(dead_code)]

/// Bytes in one byte order.
pub struct Out {
    pub big_endian: bool,
    pub buf: Vec<u8>,
}

impl Out {
    pub fn new(big_endian: bool) -> Out {
        Out {
            big_endian,
            buf: Vec::new(),
        }
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn pad4(&mut self) -> &mut Self {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
        self
    }
}

/// Hex digits (spaces allowed) to bytes.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A pcap record: seconds, fraction, stored bytes, wire length (caplen = data length).
pub struct Rec<'a>(pub u32, pub u32, pub &'a [u8], pub u32);

/// A pcap file: magic (e.g. 0xa1b2c3d4), version 2.4, snaplen, link type, records.
pub fn pcap(
    big_endian: bool,
    magic: u32,
    snaplen: u32,
    link_type: u32,
    records: &[Rec],
) -> Vec<u8> {
    pcap_version(big_endian, magic, (2, 4), snaplen, link_type, records)
}

pub fn pcap_version(
    big_endian: bool,
    magic: u32,
    version: (u16, u16),
    snaplen: u32,
    link_type: u32,
    records: &[Rec],
) -> Vec<u8> {
    let mut o = Out::new(big_endian);
    o.u32(magic)
        .u16(version.0)
        .u16(version.1)
        .u32(0)
        .u32(0)
        .u32(snaplen)
        .u32(link_type);
    for Rec(secs, frac, data, wire) in records {
        o.u32(*secs)
            .u32(*frac)
            .u32(data.len() as u32)
            .u32(*wire)
            .bytes(data);
    }
    o.buf
}

/// pcapng blocks, appended one after the other.
pub struct Ng {
    pub out: Out,
}

impl Ng {
    pub fn new(big_endian: bool) -> Ng {
        Ng {
            out: Out::new(big_endian),
        }
    }
    /// A block of `block_type` whose body is built by `body` (lengths and padding are added).
    pub fn block(&mut self, block_type: u32, body: impl FnOnce(&mut Out)) -> &mut Self {
        let mut inner = Out::new(self.out.big_endian);
        body(&mut inner);
        inner.pad4();
        let len = inner.buf.len() as u32 + 12;
        self.out.u32(block_type).u32(len).bytes(&inner.buf).u32(len);
        self
    }
    /// A section header (version 1.0), switching to `big_endian` for this section.
    pub fn shb(&mut self, big_endian: bool) -> &mut Self {
        self.out.big_endian = big_endian;
        self.block(0x0a0d0d0a, |b| {
            b.u32(0x1a2b3c4d).u16(1).u16(0).u64(u64::MAX);
        })
    }
    /// An interface: link type, snaplen, options as (code, value).
    pub fn idb(&mut self, link_type: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> &mut Self {
        let big = self.out.big_endian;
        self.block(1, |b| {
            b.u16(link_type).u16(0).u32(snaplen);
            for (code, value) in options {
                b.u16(*code).u16(value.len() as u16).bytes(value).pad4();
            }
            if !options.is_empty() {
                b.u16(0).u16(0);
            }
            let _ = big;
        })
    }
    /// An enhanced packet block: interface, 64-bit timestamp, stored bytes, wire length.
    pub fn epb(&mut self, interface: u32, t: u64, data: &[u8], wire: u32) -> &mut Self {
        self.block(6, |b| {
            b.u32(interface)
                .u32((t >> 32) as u32)
                .u32(t as u32)
                .u32(data.len() as u32)
                .u32(wire)
                .bytes(data);
        })
    }
    /// A simple packet block: wire length and bytes.
    pub fn spb(&mut self, data: &[u8], wire: u32) -> &mut Self {
        self.block(3, |b| {
            b.u32(wire).bytes(data);
        })
    }
    /// The obsolete packet block (16-bit interface id).
    pub fn pb(&mut self, interface: u16, t: u64, data: &[u8], wire: u32) -> &mut Self {
        self.block(2, |b| {
            b.u16(interface)
                .u16(0)
                .u32((t >> 32) as u32)
                .u32(t as u32)
                .u32(data.len() as u32)
                .u32(wire)
                .bytes(data);
        })
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.out.buf.clone()
    }
}

/// An option value in the current section's byte order.
pub fn opt_u64(big_endian: bool, v: u64) -> Vec<u8> {
    if big_endian {
        v.to_be_bytes().to_vec()
    } else {
        v.to_le_bytes().to_vec()
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A little-endian microsecond pcap of at least `size` bytes; `payload` makes each packet.
pub fn big_capture(size: usize, mut payload: impl FnMut(&mut Rng, u64) -> Vec<u8>) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut file = pcap(false, 0xa1b2c3d4, 65535, 1, &[]);
    let mut n = 0u64;
    while file.len() < size {
        let data = payload(&mut rng, n);
        let wire = data.len() as u32 + rng.below(2) as u32 * 100;
        for v in [
            1_600_000_000 + n as u32,
            (n % 1_000_000) as u32,
            data.len() as u32,
            wire,
        ] {
            file.extend_from_slice(&v.to_le_bytes());
        }
        file.extend_from_slice(&data);
        n += 1;
    }
    file
}

pub fn random_payload(rng: &mut Rng, _n: u64) -> Vec<u8> {
    let len = 14 + rng.below(1500) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

/// Packets whose payloads are runs of valid-looking pcap records (about 60 KB each), so that
/// guesses of where records start land inside them.
pub fn fake_records_payload(rng: &mut Rng, n: u64) -> Vec<u8> {
    let mut payload = vec![0u8; 14];
    payload[13] = n as u8;
    while payload.len() < 60_000 {
        let len = 20 + rng.below(40) as u32;
        for v in [1u32, 2, len, len] {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        payload.extend((0..len).map(|_| rng.next() as u8));
    }
    payload
}

/// What a plain sequential pass over `file` (a pcap capture) gives when `keep` judges its records,
/// written one by one: the output file, records read, records kept, and the error that ended the
/// pass (its offset and the records before it). The reference the parallel selector must equal.
pub fn sequential_selection(
    file: &[u8],
    keep: impl Fn(&jitkit_pcap::Record) -> bool,
) -> (Vec<u8>, u64, u64, Option<(u64, u64)>) {
    let capture = jitkit_pcap::CaptureReader::new(file).unwrap();
    let mut out = file[..24].to_vec();
    let (mut read, mut matched, mut error) = (0, 0, None);
    for record in capture.records() {
        match record {
            Ok(r) => {
                read += 1;
                if keep(&r) {
                    matched += 1;
                    out.extend_from_slice(r.raw);
                }
            }
            Err(e) => error = Some((e.offset, e.records_before)),
        }
    }
    (out, read, matched, error)
}
