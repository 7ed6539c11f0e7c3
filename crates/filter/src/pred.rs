//! Predicates: what code generation builds before control flow is laid out.
//!
//! A [`Pred`] is a boolean formula whose leaves are [`Test`]s: straight-line statements followed
//! by one conditional jump. libpcap's "blocks" are the same idea. Keeping the formula separate
//! from the flow graph lets `and`/`or`/`not` be plain tree nodes here and become jump targets
//! only when the graph is built (see `graph.rs`).

use jitkit_bpf::cbpf::{op, Insn};

/// Straight-line statements, then `if A <jump> k` (or `X` when the jump uses `op::X`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Test {
    pub stmts: Vec<Insn>,
    /// A jump opcode: `JMP | JEQ/JGT/JGE/JSET | K/X`.
    pub jump: u16,
    pub k: u32,
}

/// A boolean formula over tests. `And`/`Or` are flat lists, evaluated left to right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    True,
    False,
    Test(Test),
    /// The value `stmts` leave in A is one of `values` (sorted, distinct): emitted as a balanced
    /// comparison tree, O(log n) jumps.
    InSet {
        stmts: Vec<Insn>,
        values: Vec<u32>,
    },
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
}

/// The size field of a load (`op::B`, `op::H` or `op::W`) for a width in bytes.
pub fn size_code(bytes: u32) -> u16 {
    match bytes {
        1 => op::B,
        2 => op::H,
        _ => op::W,
    }
}

pub fn ld_abs(size: u32, k: u32) -> Insn {
    Insn::stmt(op::LD | size_code(size) | op::ABS, k)
}
pub fn ld_ind(size: u32, k: u32) -> Insn {
    Insn::stmt(op::LD | size_code(size) | op::IND, k)
}
pub fn alu_k(alu: u16, k: u32) -> Insn {
    Insn::stmt(op::ALU | alu | op::K, k)
}
pub fn ldx_msh(k: u32) -> Insn {
    Insn::stmt(op::LDX | op::B | op::MSH, k)
}

impl Pred {
    pub fn or(items: Vec<Pred>) -> Pred {
        Pred::Or(items)
    }
    pub fn and2(a: Pred, b: Pred) -> Pred {
        Pred::And(vec![a, b])
    }
    pub fn or2(a: Pred, b: Pred) -> Pred {
        Pred::Or(vec![a, b])
    }
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Pred {
        Pred::Not(Box::new(self))
    }
    /// `stmts; jump k`.
    pub fn test(stmts: Vec<Insn>, jump: u16, k: u32) -> Pred {
        Pred::Test(Test {
            stmts,
            jump: op::JMP | jump,
            k,
        })
    }
    /// `ld size [k]; jeq v` (libpcap's gen_cmp with an absolute offset).
    pub fn cmp(size: u32, offset: u32, v: u32) -> Pred {
        Pred::test(vec![ld_abs(size, offset)], op::JEQ, v)
    }
    /// `ld size [k]; and mask; jeq v` (gen_mcmp); a full mask is a plain compare.
    pub fn mcmp(size: u32, offset: u32, v: u32, mask: u32) -> Pred {
        let full = match size {
            1 => 0xff,
            2 => 0xffff,
            _ => 0xffff_ffff,
        };
        if mask & full == full {
            return Pred::cmp(size, offset, v);
        }
        Pred::test(vec![ld_abs(size, offset), alu_k(op::AND, mask)], op::JEQ, v)
    }
    /// `ld size [k]; jgt v`.
    pub fn cmp_gt(size: u32, offset: u32, v: u32) -> Pred {
        Pred::test(vec![ld_abs(size, offset)], op::JGT, v)
    }
    /// `ld size [k]; jge v`.
    pub fn cmp_ge(size: u32, offset: u32, v: u32) -> Pred {
        Pred::test(vec![ld_abs(size, offset)], op::JGE, v)
    }
    /// `ld size [k]; jset bits`.
    pub fn jset(size: u32, offset: u32, bits: u32) -> Pred {
        Pred::test(vec![ld_abs(size, offset)], op::JSET, bits)
    }
    /// Compares `bytes` at `offset` with the packet, in 4-, 2- and 1-byte pieces from the end,
    /// like libpcap's gen_bcmp.
    pub fn bytes_eq(offset: u32, bytes: &[u8]) -> Pred {
        let mut size = bytes.len();
        let mut parts = Vec::new();
        while size >= 4 {
            let p = &bytes[size - 4..size];
            let v = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            parts.push(Pred::cmp(4, offset + size as u32 - 4, v));
            size -= 4;
        }
        while size >= 2 {
            let p = &bytes[size - 2..size];
            parts.push(Pred::cmp(
                2,
                offset + size as u32 - 2,
                u16::from_be_bytes([p[0], p[1]]) as u32,
            ));
            size -= 2;
        }
        if size > 0 {
            parts.push(Pred::cmp(1, offset, bytes[0] as u32));
        }
        Pred::And(parts)
    }
}
