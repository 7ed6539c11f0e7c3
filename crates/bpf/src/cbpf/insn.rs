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
    /// Whether `code` is one of the 49 opcodes libpcap's `bpf_filter()` and the kernel run.
    pub fn is_known_opcode(code: u16) -> bool {
        op::ALL.contains(&code)
    }
    /// Whether this is a conditional jump (`jeq`, `jgt`, `jge`, `jset`, with `k` or `x`).
    pub const fn is_conditional_jump(self) -> bool {
        self.class() == op::JMP && self.code & 0xf0 != op::JA
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

    /// Every opcode libpcap's `bpf_filter()` runs (and the kernel's classic checker allows), in
    /// numeric order: 49 in all. Any other code is an unknown opcode.
    pub const ALL: [u16; 49] = [
        LD | W | IMM,   // 0x00 ld #k
        LDX | W | IMM,  // 0x01 ldx #k
        ST,             // 0x02 st M[k]
        STX,            // 0x03 stx M[k]
        ALU | ADD | K,  // 0x04
        JMP | JA,       // 0x05
        RET | K,        // 0x06
        MISC | TAX,     // 0x07
        ALU | ADD | X,  // 0x0c
        ALU | SUB | K,  // 0x14
        JMP | JEQ | K,  // 0x15
        RET | A,        // 0x16
        ALU | SUB | X,  // 0x1c
        JMP | JEQ | X,  // 0x1d
        LD | W | ABS,   // 0x20
        ALU | MUL | K,  // 0x24
        JMP | JGT | K,  // 0x25
        LD | H | ABS,   // 0x28
        ALU | MUL | X,  // 0x2c
        JMP | JGT | X,  // 0x2d
        LD | B | ABS,   // 0x30
        ALU | DIV | K,  // 0x34
        JMP | JGE | K,  // 0x35
        ALU | DIV | X,  // 0x3c
        JMP | JGE | X,  // 0x3d
        LD | W | IND,   // 0x40
        ALU | OR | K,   // 0x44
        JMP | JSET | K, // 0x45
        LD | H | IND,   // 0x48
        ALU | OR | X,   // 0x4c
        JMP | JSET | X, // 0x4d
        LD | B | IND,   // 0x50
        ALU | AND | K,  // 0x54
        ALU | AND | X,  // 0x5c
        LD | W | MEM,   // 0x60
        LDX | W | MEM,  // 0x61
        ALU | LSH | K,  // 0x64
        ALU | LSH | X,  // 0x6c
        ALU | RSH | K,  // 0x74
        ALU | RSH | X,  // 0x7c
        LD | W | LEN,   // 0x80
        LDX | W | LEN,  // 0x81
        ALU | NEG,      // 0x84
        MISC | TXA,     // 0x87
        ALU | MOD | K,  // 0x94
        ALU | MOD | X,  // 0x9c
        ALU | XOR | K,  // 0xa4
        ALU | XOR | X,  // 0xac
        LDX | B | MSH,  // 0xb1
    ];

    /// The kernel's base for "ancillary" loads (`SKF_AD_OFF`, -0x1000): an absolute load at or
    /// above this offset asks the Linux kernel for packet metadata rather than packet bytes.
    pub const SKF_AD_OFF: u32 = 0xffff_f000;

    /// Number of scratch memory cells `M[]`.
    pub const MEMWORDS: usize = 16;
    /// The kernel's limit on program length.
    pub const MAXINSNS: usize = 4096;
}
