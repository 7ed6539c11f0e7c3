//! The classic BPF instruction: `struct bpf_insn { u16 code; u8 jt; u8 jf; u32 k; }`.

/// One classic BPF instruction, laid out as the kernel and libpcap lay it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Insn { code, jt, jf, k }
    }
    /// A non-jump instruction `code k`.
    pub const fn stmt(code: u16, k: u32) -> Self {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }
    /// A conditional jump `code k, jt, jf`.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Self {
        Insn { code, jt, jf, k }
    }
    pub const fn class(self) -> u16 {
        self.code & 0x07
    }
}

/// The opcode fields, named as in `<pcap/bpf.h>` (`BPF_LD`, `BPF_H`, `BPF_ABS`, ...).
pub mod op {
    // Instruction classes.
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;

    // ld/ldx sizes.
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;

    // ld/ldx addressing modes.
    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xa0;

    // alu operations.
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;

    // jmp operations.
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;

    // Operand source for alu/jmp: the constant k or the X register.
    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;

    // ret value source (K and X as above, or A).
    pub const A: u16 = 0x10;

    // misc operations.
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;

    /// Number of scratch memory cells `M[]`.
    pub const MEMWORDS: usize = 16;
    /// The kernel's limit on program length.
    pub const MAXINSNS: usize = 4096;
}
