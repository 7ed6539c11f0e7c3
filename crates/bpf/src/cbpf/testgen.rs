//! Random valid classic BPF programs and packets, for differential tests and fuzzers of every
//! engine (interpreter, JITs, LLVM, eBPF conversion). Not part of the stable API.
//!
//! Everything is drawn from an [`Entropy`] source, so the same generator serves proptest (feed it
//! a `Vec<u32>` strategy: shrinking the vector shrinks the program), cargo-fuzz (feed it the fuzz
//! input bytes) and plain seeded loops ([`SplitMix64`]).
//!
//! Programs pass [`validate`](crate::cbpf::validate) by construction: every one of the 49 opcodes
//! appears, with edge constants (0, 1, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff, ...), load
//! offsets near the end of short packets and past it, `X + k` sums that overflow 32 bits, early
//! returns, and jumps of every length up to the end of the program. Scratch cells are only read
//! where the kernel's store-before-load rule allows.

use super::insn::{op, Insn};

/// A stream of random words.
pub trait Entropy {
    fn next_u32(&mut self) -> u32;

    /// A value in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.next_u32() % n
        }
    }

    /// True with probability about `num/den`.
    fn chance(&mut self, num: u32, den: u32) -> bool {
        self.below(den) < num
    }
}

/// Words from a slice, then zeros: what proptest's `Vec<u32>` strategies feed in.
pub struct Words<'a> {
    words: &'a [u32],
    pos: usize,
}

impl<'a> Words<'a> {
    pub fn new(words: &'a [u32]) -> Self {
        Words { words, pos: 0 }
    }
}

impl Entropy for Words<'_> {
    fn next_u32(&mut self) -> u32 {
        let w = self.words.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        w
    }
}

/// Little-endian words from bytes, then zeros: what cargo-fuzz feeds in.
pub struct Bytes<'a> {
    bytes: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Bytes { bytes }
    }
}

impl Entropy for Bytes<'_> {
    fn next_u32(&mut self) -> u32 {
        let n = self.bytes.len().min(4);
        let mut word = [0u8; 4];
        word[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        u32::from_le_bytes(word)
    }
}

/// A small seeded generator (SplitMix64) for plain loops.
pub struct SplitMix64(pub u64);

impl Entropy for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

/// Constants where arithmetic, comparisons and bounds checks change behaviour.
pub const EDGE_CONSTANTS: [u32; 16] = [
    0,
    1,
    2,
    3,
    4,
    14,
    31,
    32,
    33,
    0xff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    0xffff_fffe,
    0xffff_ffff,
];

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Longest program (1 to 4096).
    pub max_len: usize,
    /// Typical captured length of the packets the program will see: load offsets cluster around
    /// `0..packet_len + 8` so that both in-range and just-past-the-end loads happen.
    pub packet_len: u32,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            max_len: 64,
            packet_len: 64,
        }
    }
}

/// A constant: an edge constant, a small number or any word.
pub fn constant(e: &mut impl Entropy) -> u32 {
    match e.below(4) {
        0 => EDGE_CONSTANTS[e.below(EDGE_CONSTANTS.len() as u32) as usize],
        1 => e.below(64),
        2 => e.next_u32(),
        _ => e.below(0x1_0000),
    }
}

/// A load offset: mostly around the packet end, sometimes huge.
fn offset(e: &mut impl Entropy, shape: &Shape) -> u32 {
    match e.below(8) {
        0 => constant(e),
        1 => shape.packet_len.saturating_sub(e.below(6)),
        2 => e.below(shape.packet_len + 8),
        // Mostly in range, so that programs run past their first loads.
        _ => e.below(shape.packet_len.max(1)),
    }
}

/// A valid program of 1 to `shape.max_len` instructions (see the module documentation).
pub fn program(e: &mut impl Entropy, shape: &Shape) -> Vec<Insn> {
    let max_len = shape.max_len.clamp(1, op::MAXINSNS) as u32;
    let len = 1 + e.below(max_len) as usize;
    let mut program = Vec::with_capacity(len);
    // The kernel's store-before-load tracking (see validate.rs): `masks[i]` holds the cells
    // stored on every jump into i, `valid` those stored on the path falling through.
    let mut masks = vec![u16::MAX; len];
    let mut valid: u16 = 0; // nothing stored at the start
    for index in 0..len - 1 {
        valid &= masks[index];
        let insn = instruction(e, shape, index, len, valid);
        match insn.code {
            op::ST | op::STX => valid |= 1 << (insn.k & 0xf),
            c if c == op::JMP | op::JA => {
                masks[index + 1 + insn.k as usize] &= valid;
                valid = u16::MAX;
            }
            _ if insn.is_conditional_jump() => {
                masks[index + 1 + usize::from(insn.jt)] &= valid;
                masks[index + 1 + usize::from(insn.jf)] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
        program.push(insn);
    }
    program.push(ret(e));
    program
}

fn ret(e: &mut impl Entropy) -> Insn {
    if e.chance(1, 3) {
        Insn::stmt(op::RET | op::A, 0)
    } else {
        Insn::stmt(op::RET | op::K, constant(e))
    }
}

/// A jump offset from `index` that stays inside a program of `len` instructions; short ones
/// are likelier, but every length up to the end happens.
fn jump_offset(e: &mut impl Entropy, index: usize, len: usize, limit: u32) -> u32 {
    let room = (len - index - 2) as u32; // the last instruction is at len - 1
    let room = room.min(limit);
    if e.chance(3, 4) {
        e.below(room.min(4) + 1)
    } else {
        e.below(room + 1)
    }
}

/// One instruction at `index` (not the last) of a program of `len`; `valid` is the set of scratch
/// cells stored on every path here.
fn instruction(e: &mut impl Entropy, shape: &Shape, index: usize, len: usize, valid: u16) -> Insn {
    use op::*;
    let code = op::ALL[e.below(op::ALL.len() as u32) as usize];
    let k = match code {
        c if c == LD | W | ABS
            || c == LD | H | ABS
            || c == LD | B | ABS
            || c == LD | W | IND
            || c == LD | H | IND
            || c == LD | B | IND
            || c == LDX | B | MSH =>
        {
            offset(e, shape)
        }
        c if c == LD | MEM || c == LDX | MEM => {
            if valid == 0 {
                // Nothing stored yet on some path here: store instead.
                return Insn::stmt(if e.chance(1, 2) { ST } else { STX }, e.below(16));
            }
            // A cell that is stored on every path.
            let cells: Vec<u32> = (0..16).filter(|c| valid & (1 << c) != 0).collect();
            cells[e.below(cells.len() as u32) as usize]
        }
        ST | STX => e.below(16),
        c if c == ALU | DIV | K || c == ALU | MOD | K => constant(e).max(1),
        c if c == ALU | LSH | K || c == ALU | RSH | K => e.below(32),
        c if c == JMP | JA => jump_offset(e, index, len, u32::MAX),
        c if c == RET | K => constant(e),
        _ => constant(e),
    };
    let mut insn = Insn::stmt(code, k);
    if insn.is_conditional_jump() {
        insn.jt = jump_offset(e, index, len, 255) as u8;
        insn.jf = jump_offset(e, index, len, 255) as u8;
    }
    insn
}

/// A packet: captured bytes (0 to `shape.packet_len + 8` of them, often a truncation) and a wire
/// length (often longer than what was captured, as with a snap length).
pub fn packet(e: &mut impl Entropy, shape: &Shape) -> (Vec<u8>, u32) {
    let caplen = match e.below(8) {
        0 => 0,
        1..=4 => shape.packet_len,
        _ => e.below(shape.packet_len + 9),
    };
    let bytes: Vec<u8> = (0..caplen)
        .map(|_| match e.below(4) {
            0 => 0,
            1 => 0xff,
            _ => e.next_u32() as u8,
        })
        .collect();
    let wire_len = match e.below(4) {
        0 => caplen,
        1 => caplen + e.below(1500),
        2 => constant(e),
        _ => caplen.saturating_add(e.below(64)),
    };
    (bytes, wire_len)
}
