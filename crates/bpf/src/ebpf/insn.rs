//! The eBPF instruction: `struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }`,
//! eight bytes, little-endian. `lddw` (a 64-bit immediate) takes two slots; the second slot has
//! code 0 and carries the upper 32 bits in its `imm`.

/// One eBPF instruction slot, as the kernel lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

/// The size in bytes of one instruction slot.
pub const INSN_SIZE: usize = 8;

impl Insn {
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction class (`code & 7`).
    pub const fn class(self) -> u8 {
        self.code & 0x07
    }

    /// The ALU or JMP operation (`code & 0xf0`).
    pub const fn op(self) -> u8 {
        self.code & 0xf0
    }

    /// Whether an ALU/JMP instruction takes its operand from `src` (`BPF_X`) or `imm` (`BPF_K`).
    pub const fn uses_src_reg(self) -> bool {
        self.code & op::X != 0
    }

    /// The access size in bytes of a load or store (`BPF_B/H/W/DW`).
    pub const fn mem_size(self) -> usize {
        match self.code & 0x18 {
            op::B => 1,
            op::H => 2,
            op::W => 4,
            _ => 8,
        }
    }

    /// Whether this is the first slot of a two-slot `lddw`.
    pub const fn is_lddw(self) -> bool {
        self.code == op::LD | op::IMM | op::DW
    }

    /// The eight bytes of this slot.
    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let mut b = [0u8; INSN_SIZE];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Decodes one slot from eight bytes.
    pub fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Insn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Decodes a program from its bytes (a multiple of eight).
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, super::Error> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(super::Error::BadLength(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| Insn::from_bytes(c.try_into().expect("chunks of eight")))
        .collect())
}

/// Encodes a program to bytes.
pub fn encode(prog: &[Insn]) -> Vec<u8> {
    prog.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Opcode fields, named as in `<linux/bpf.h>` without the `BPF_` prefix.
pub mod op {
    // Classes.
    pub const LD: u8 = 0x00;
    pub const LDX: u8 = 0x01;
    pub const ST: u8 = 0x02;
    pub const STX: u8 = 0x03;
    pub const ALU: u8 = 0x04;
    pub const JMP: u8 = 0x05;
    pub const JMP32: u8 = 0x06;
    pub const ALU64: u8 = 0x07;

    // Load/store sizes.
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;

    // Load/store modes.
    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const ATOMIC: u8 = 0xc0;

    // Operand source.
    pub const K: u8 = 0x00;
    pub const X: u8 = 0x08;

    // ALU operations.
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    /// Byte swap; `X` means to big-endian (`BPF_TO_BE`), `K` to little-endian.
    pub const END: u8 = 0xd0;

    // Jump operations.
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;

    // Atomic operations (in `imm` of `STX | ATOMIC`).
    pub const ATOMIC_ADD: i32 = 0x00;
    pub const ATOMIC_OR: i32 = 0x40;
    pub const ATOMIC_AND: i32 = 0x50;
    pub const ATOMIC_XOR: i32 = 0xa0;
    /// Or'ed into an atomic operation: the old value is returned in `src`.
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;

    /// `lddw` source value meaning "map by fd" in objects loaded by libbpf (not supported here).
    pub const PSEUDO_MAP_FD: u8 = 1;
}

/// Registers.
pub mod reg {
    pub const R0: u8 = 0;
    pub const R1: u8 = 1;
    pub const R2: u8 = 2;
    pub const R6: u8 = 6;
    pub const R7: u8 = 7;
    /// The read-only frame pointer.
    pub const R10: u8 = 10;
}

/// Constructors for the instructions the converter and tests build, named like the kernel's
/// `BPF_ALU32_IMM`-style macros.
pub mod build {
    use super::{op, Insn};

    pub const fn alu32_imm(operation: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(op::ALU | operation | op::K, dst, 0, 0, imm)
    }
    pub const fn alu32_reg(operation: u8, dst: u8, src: u8) -> Insn {
        Insn::new(op::ALU | operation | op::X, dst, src, 0, 0)
    }
    pub const fn alu64_imm(operation: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(op::ALU64 | operation | op::K, dst, 0, 0, imm)
    }
    pub const fn alu64_reg(operation: u8, dst: u8, src: u8) -> Insn {
        Insn::new(op::ALU64 | operation | op::X, dst, src, 0, 0)
    }
    pub const fn jmp_imm(operation: u8, dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(op::JMP | operation | op::K, dst, 0, off, imm)
    }
    pub const fn jmp_reg(operation: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::JMP | operation | op::X, dst, src, off, 0)
    }
    pub const fn ja(off: i16) -> Insn {
        Insn::new(op::JMP | op::JA, 0, 0, off, 0)
    }
    pub const fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::LDX | op::MEM | size, dst, src, off, 0)
    }
    pub const fn stx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::STX | op::MEM | size, dst, src, off, 0)
    }
    pub const fn st(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(op::ST | op::MEM | size, dst, 0, off, imm)
    }
    pub const fn ld_abs(size: u8, imm: i32) -> Insn {
        Insn::new(op::LD | op::ABS | size, 0, 0, 0, imm)
    }
    pub const fn ld_ind(size: u8, src: u8, imm: i32) -> Insn {
        Insn::new(op::LD | op::IND | size, 0, src, 0, imm)
    }
    /// The two slots of `lddw dst, value`.
    pub const fn lddw(dst: u8, value: u64) -> [Insn; 2] {
        [
            Insn::new(op::LD | op::IMM | op::DW, dst, 0, 0, value as u32 as i32),
            Insn::new(0, 0, 0, 0, (value >> 32) as u32 as i32),
        ]
    }
    pub const fn exit() -> Insn {
        Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)
    }
    pub const fn call(helper: i32) -> Insn {
        Insn::new(op::JMP | op::CALL, 0, 0, 0, helper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_like_the_kernel_layout() {
        // `r2 = *(u32 *)(r1 + 4)`: 61 12 04 00 00 00 00 00
        let i = build::ldx(op::W, 2, 1, 4);
        assert_eq!(i.to_bytes(), [0x61, 0x12, 4, 0, 0, 0, 0, 0]);
        assert_eq!(Insn::from_bytes(i.to_bytes()), i);
        // `r1 += -1`: 07 01 00 00 ff ff ff ff
        let j = build::alu64_imm(op::ADD, 1, -1);
        assert_eq!(j.to_bytes(), [0x07, 0x01, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            decode(&[0; 7]),
            Err(crate::ebpf::Error::BadLength(7))
        ));
    }
}
