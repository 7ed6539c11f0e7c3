//! Classic BPF -> eBPF, in the manner of the kernel's `bpf_convert_filter()`, with libpcap's
//! `bpf_filter()` semantics (see DESIGN.md "Semantics we commit to").
//!
//! Register mapping (the kernel's): A = r0, X = r7, the context pointer = r6 (LD_ABS/LD_IND need
//! it there in the kernel), r2 a scratch register. `M[k]` is the 32-bit stack slot at
//! `r10 - 4 * (16 - k)`. The program's context is `__sk_buff`-shaped: `len` (the wire length) is
//! the 32-bit word at offset 0, so the same code runs in our VM (see [`super::FilterContext`]) and
//! as a Linux tc classifier.
//!
//! What differs from a one-to-one translation, and why:
//! - A, X and every `M[k]` that is read are set to 0 first: libpcap starts them at 0, and the
//!   kernel's verifier refuses reads of uninitialised registers and stack.
//! - Immediates with bit 31 set are compared through a register loaded with `mov32` (zero
//!   extension): a 64-bit jump sign-extends its immediate, so `jgt r0, 0x80000000` would compare
//!   against 0xffffffff80000000.
//! - `div`/`mod` by X check X first and return 0 when it is 0 (libpcap rejects the packet; eBPF
//!   would yield 0 or leave A unchanged and go on).
//! - Shifts by X >= 32 give 0 (eBPF masks the count to 5 bits; libpcap's C shift is undefined,
//!   DESIGN.md fixes it as 0); constant shifts >= 32 become `A = 0`.
//! - A conditional jump whose both branches leave the fall-through becomes a conditional jump and a
//!   `ja`; one whose true branch falls through is inverted where eBPF has the inverse (jeq/jne,
//!   jgt/jle, jge/jlt).
//! - Packet loads become LD_ABS/LD_IND, which are bounds-checked: out of range ends the program
//!   with r0 = 0, which is libpcap's "reject".

use super::insn::{build, op, reg, Insn};
use crate::cbpf;

/// A: the accumulator.
pub const REG_A: u8 = reg::R0;
/// X: the index register.
pub const REG_X: u8 = reg::R7;
/// The context pointer, kept where the kernel wants it for LD_ABS/LD_IND.
pub const REG_CTX: u8 = reg::R6;
/// Scratch for constants compared without sign extension and for `ldx msh`.
pub const REG_TMP: u8 = reg::R2;

/// Why a classic program could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the classic program is empty")]
    Empty,
    #[error("instruction {index}: unknown opcode {code:#06x}")]
    UnknownOpcode { index: usize, code: u16 },
    #[error("instruction {index}: jump target {target} is past the end of the program")]
    JumpOutOfRange { index: usize, target: u64 },
    #[error("instruction {index}: scratch memory index {k} is not below 16")]
    BadMemIndex { index: usize, k: u32 },
    #[error("the converted program is too long for eBPF's 16-bit jump offsets")]
    TooLong,
}

/// How converted programs read the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketAccess {
    /// LD_ABS/LD_IND, as the kernel converts: the engine checks bounds and byte order. Context:
    /// `__sk_buff`-shaped, `len` at offset 0 ([`super::filter::FILTER_CTX_SIZE`] bytes).
    LdAbs,
    /// Plain loads through `data`/`data_end` pointers with explicit checks in the program and
    /// explicit byte swaps: for VMs whose LD_ABS differs (rbpf's reads little-endian, unchecked).
    /// Context: [`DirectContext`].
    Direct,
}

/// The context of [`PacketAccess::Direct`] programs: r1 points to these 20 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DirectContext {
    /// Address of the first packet byte.
    pub data: u64,
    /// Address just past the last captured byte.
    pub data_end: u64,
    /// The packet's length on the wire.
    pub len: u32,
}

impl DirectContext {
    pub fn new(packet: &[u8], wire_len: u32) -> Self {
        let data = packet.as_ptr() as u64;
        DirectContext {
            data,
            data_end: data + packet.len() as u64,
            len: wire_len,
        }
    }
    /// The 20 bytes r1 points to.
    pub fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.data.to_le_bytes());
        b[8..16].copy_from_slice(&self.data_end.to_le_bytes());
        b[16..].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

/// Where a converted jump goes.
#[derive(Clone, Copy)]
enum Target {
    /// The first instruction of classic instruction n.
    Classic(usize),
    /// The shared `return 0` block at the end (direct access only).
    Reject,
}

/// One converted instruction, with where it jumps if it is a jump whose offset is fixed up once
/// every block has its final position.
struct Pending {
    insn: Insn,
    target: Option<Target>,
}

fn plain(insn: Insn) -> Pending {
    Pending { insn, target: None }
}

fn jump_to(insn: Insn, target: usize) -> Pending {
    Pending {
        insn,
        target: Some(Target::Classic(target)),
    }
}

fn reject_if(insn: Insn) -> Pending {
    Pending {
        insn,
        target: Some(Target::Reject),
    }
}

/// Direct access keeps `data` in r8 and `data_end` in r9.
const REG_DATA: u8 = 8;
const REG_DATA_END: u8 = 9;

/// The stack offset of scratch cell `M[k]` (k < 16).
pub fn mem_slot(k: u32) -> i16 {
    -((cbpf::op::MEMWORDS as i16 - k as i16) * 4)
}

/// Converts a classic BPF program (validated or not: anything we cannot convert is an error) to an
/// eBPF program that takes an `__sk_buff`-shaped context in r1 and reads the packet with
/// LD_ABS/LD_IND.
pub fn convert(prog: &[cbpf::Insn]) -> Result<Vec<Insn>, ConvertError> {
    convert_with(prog, PacketAccess::LdAbs)
}

/// Converts with the chosen packet access.
pub fn convert_with(prog: &[cbpf::Insn], access: PacketAccess) -> Result<Vec<Insn>, ConvertError> {
    if prog.is_empty() {
        return Err(ConvertError::Empty);
    }
    let mut blocks: Vec<Vec<Pending>> = Vec::with_capacity(prog.len() + 1);

    // Prologue: ctx in r6, A = X = 0, every scratch cell that is read = 0.
    let mut prologue = vec![
        plain(build::alu64_reg(op::MOV, REG_CTX, reg::R1)),
        plain(build::alu32_imm(op::MOV, REG_A, 0)),
        plain(build::alu32_imm(op::MOV, REG_X, 0)),
    ];
    if access == PacketAccess::Direct {
        prologue.push(plain(build::ldx(op::DW, REG_DATA, REG_CTX, 0)));
        prologue.push(plain(build::ldx(op::DW, REG_DATA_END, REG_CTX, 8)));
    }
    let mut read_cells = [false; cbpf::op::MEMWORDS];
    for (index, i) in prog.iter().enumerate() {
        let mode = i.code & 0xe0;
        let class = i.class();
        if (class == cbpf::op::LD || class == cbpf::op::LDX) && mode == cbpf::op::MEM {
            let cell = read_cells
                .get_mut(i.k as usize)
                .ok_or(ConvertError::BadMemIndex { index, k: i.k })?;
            *cell = true;
        }
    }
    for (k, _) in read_cells.iter().enumerate().filter(|(_, r)| **r) {
        prologue.push(plain(build::st(op::W, reg::R10, mem_slot(k as u32), 0)));
    }
    blocks.push(prologue);

    for (index, &i) in prog.iter().enumerate() {
        let block = match access {
            PacketAccess::LdAbs => convert_one(index, i, prog.len())?,
            PacketAccess::Direct => match direct_load(i) {
                Some(block) => block,
                None => convert_one(index, i, prog.len())?,
            },
        };
        blocks.push(block);
    }
    if access == PacketAccess::Direct {
        blocks.push(ret_k(0));
    }
    layout(blocks)
}

/// Packet loads and `len` for [`PacketAccess::Direct`]; `None` for every other instruction.
fn direct_load(i: cbpf::Insn) -> Option<Vec<Pending>> {
    use cbpf::op as c;
    let (size, dst, swap) = match i.code {
        x if x == c::LD | c::W | c::LEN => {
            return Some(vec![plain(build::ldx(op::W, REG_A, REG_CTX, 16))])
        }
        x if x == c::LDX | c::W | c::LEN => {
            return Some(vec![plain(build::ldx(op::W, REG_X, REG_CTX, 16))])
        }
        x if x == c::LD | c::B | c::ABS || x == c::LD | c::B | c::IND => (op::B, REG_A, 0),
        x if x == c::LD | c::H | c::ABS || x == c::LD | c::H | c::IND => (op::H, REG_A, 16),
        x if x == c::LD | c::W | c::ABS || x == c::LD | c::W | c::IND => (op::W, REG_A, 32),
        x if x == c::LDX | c::B | c::MSH => (op::B, REG_X, 0),
        _ => return None,
    };
    let bytes = match size {
        op::B => 1,
        op::H => 2,
        _ => 4,
    };
    let indexed = i.code & 0xe0 == c::IND;
    let mut out = Vec::new();
    // r2 = offset (X + k for indexed loads: 33 bits at most, no wrap), then r2 = data + offset.
    if indexed {
        out.push(plain(build::alu64_reg(op::MOV, REG_TMP, REG_X)));
    } else {
        out.push(plain(build::alu64_imm(op::MOV, REG_TMP, 0)));
    }
    if i.k > i32::MAX as u32 {
        out.push(plain(mov_k(3, i.k)));
        out.push(plain(build::alu64_reg(op::ADD, REG_TMP, 3)));
    } else if i.k != 0 {
        out.push(plain(build::alu64_imm(op::ADD, REG_TMP, i.k as i32)));
    }
    out.push(plain(build::alu64_reg(op::ADD, REG_TMP, REG_DATA)));
    // if r2 + size > data_end: return 0
    out.push(plain(build::alu64_reg(op::MOV, 3, REG_TMP)));
    out.push(plain(build::alu64_imm(op::ADD, 3, bytes)));
    out.push(reject_if(build::jmp_reg(op::JGT, 3, REG_DATA_END, 0)));
    out.push(plain(build::ldx(size, dst, REG_TMP, 0)));
    if swap != 0 {
        out.push(plain(Insn::new(op::ALU | op::END | op::X, dst, 0, 0, swap)));
    }
    if i.code == c::LDX | c::B | c::MSH {
        out.push(plain(build::alu32_imm(op::AND, REG_X, 0xf)));
        out.push(plain(build::alu32_imm(op::LSH, REG_X, 2)));
    }
    Some(out)
}

/// `A = k` or `X = k`: a 32-bit move zero-extends, whatever bit 31 is.
fn mov_k(dst: u8, k: u32) -> Insn {
    build::alu32_imm(op::MOV, dst, k as i32)
}

fn ret_k(k: u32) -> Vec<Pending> {
    vec![plain(mov_k(REG_A, k)), plain(build::exit())]
}

fn convert_one(index: usize, i: cbpf::Insn, len: usize) -> Result<Vec<Pending>, ConvertError> {
    use cbpf::op as c;
    let unknown = || ConvertError::UnknownOpcode {
        index,
        code: i.code,
    };
    let k = i.k;
    let size = |code: u16| match code & 0x18 {
        c::W => Some(op::W),
        c::H => Some(op::H),
        c::B => Some(op::B),
        _ => None,
    };
    let mem_index = || {
        if (k as usize) < c::MEMWORDS {
            Ok(mem_slot(k))
        } else {
            Err(ConvertError::BadMemIndex { index, k })
        }
    };
    let out = match i.class() {
        c::LD => match i.code & 0xe0 {
            c::ABS => vec![plain(build::ld_abs(
                size(i.code).ok_or_else(unknown)?,
                k as i32,
            ))],
            c::IND => vec![plain(build::ld_ind(
                size(i.code).ok_or_else(unknown)?,
                REG_X,
                k as i32,
            ))],
            c::IMM if i.code == c::LD | c::IMM => vec![plain(mov_k(REG_A, k))],
            c::MEM if i.code == c::LD | c::MEM => {
                vec![plain(build::ldx(op::W, REG_A, reg::R10, mem_index()?))]
            }
            c::LEN if i.code == c::LD | c::W | c::LEN => {
                vec![plain(build::ldx(op::W, REG_A, REG_CTX, 0))]
            }
            _ => return Err(unknown()),
        },
        c::LDX => match i.code {
            x if x == c::LDX | c::W | c::IMM => vec![plain(mov_k(REG_X, k))],
            x if x == c::LDX | c::W | c::MEM => {
                vec![plain(build::ldx(op::W, REG_X, reg::R10, mem_index()?))]
            }
            x if x == c::LDX | c::W | c::LEN => {
                vec![plain(build::ldx(op::W, REG_X, REG_CTX, 0))]
            }
            x if x == c::LDX | c::B | c::MSH => vec![
                // X = 4 * (P[k] & 0xf), keeping A: the load result lands in r0 (= A), so A waits
                // in X, which is overwritten anyway (the kernel's trick).
                plain(build::alu64_reg(op::MOV, REG_X, REG_A)),
                plain(build::ld_abs(op::B, k as i32)),
                plain(build::alu32_imm(op::AND, REG_A, 0xf)),
                plain(build::alu32_imm(op::LSH, REG_A, 2)),
                plain(build::alu64_reg(op::MOV, REG_TMP, REG_X)),
                plain(build::alu64_reg(op::MOV, REG_X, REG_A)),
                plain(build::alu64_reg(op::MOV, REG_A, REG_TMP)),
            ],
            _ => return Err(unknown()),
        },
        c::ST if i.code == c::ST => vec![plain(build::stx(op::W, reg::R10, REG_A, mem_index()?))],
        c::STX if i.code == c::STX => {
            vec![plain(build::stx(op::W, reg::R10, REG_X, mem_index()?))]
        }
        c::ALU => convert_alu(i).ok_or_else(unknown)?,
        c::JMP => convert_jump(index, i, len)?,
        c::RET => match i.code & 0x18 {
            c::K => ret_k(k),
            c::A => vec![plain(build::exit())],
            c::X => vec![
                plain(build::alu32_reg(op::MOV, REG_A, REG_X)),
                plain(build::exit()),
            ],
            _ => return Err(unknown()),
        },
        c::MISC => match i.code {
            x if x == c::MISC | c::TAX => vec![plain(build::alu32_reg(op::MOV, REG_X, REG_A))],
            x if x == c::MISC | c::TXA => vec![plain(build::alu32_reg(op::MOV, REG_A, REG_X))],
            _ => return Err(unknown()),
        },
        _ => return Err(unknown()),
    };
    Ok(out)
}

fn convert_alu(i: cbpf::Insn) -> Option<Vec<Pending>> {
    use cbpf::op as c;
    let operation = match i.code & 0xf0 {
        c::ADD => op::ADD,
        c::SUB => op::SUB,
        c::MUL => op::MUL,
        c::DIV => op::DIV,
        c::OR => op::OR,
        c::AND => op::AND,
        c::LSH => op::LSH,
        c::RSH => op::RSH,
        c::NEG => op::NEG,
        c::MOD => op::MOD,
        c::XOR => op::XOR,
        _ => return None,
    };
    let from_x = i.code & c::X != 0;
    if operation == op::NEG {
        return (i.code == c::ALU | c::NEG)
            .then(|| vec![plain(build::alu32_imm(op::NEG, REG_A, 0))]);
    }
    let out = match (operation, from_x) {
        (op::DIV | op::MOD, true) => vec![
            // if X != 0 goto op; return 0
            plain(build::jmp_imm(op::JNE, REG_X, 0, 2)),
            plain(mov_k(REG_A, 0)),
            plain(build::exit()),
            plain(build::alu32_reg(operation, REG_A, REG_X)),
        ],
        // Division by a constant 0 is refused by validators; if it gets here, it rejects.
        (op::DIV | op::MOD, false) if i.k == 0 => ret_k(0),
        (op::LSH | op::RSH, true) => vec![
            plain(build::jmp_imm(op::JLT, REG_X, 32, 2)),
            plain(mov_k(REG_A, 0)),
            plain(build::ja(1)),
            plain(build::alu32_reg(operation, REG_A, REG_X)),
        ],
        (op::LSH | op::RSH, false) if i.k >= 32 => vec![plain(mov_k(REG_A, 0))],
        (_, true) => vec![plain(build::alu32_reg(operation, REG_A, REG_X))],
        (_, false) => vec![plain(build::alu32_imm(operation, REG_A, i.k as i32))],
    };
    Some(out)
}

fn convert_jump(index: usize, i: cbpf::Insn, len: usize) -> Result<Vec<Pending>, ConvertError> {
    use cbpf::op as c;
    let target = |offset: u64| {
        let t = index as u64 + 1 + offset;
        if t < len as u64 {
            Ok(t as usize)
        } else {
            Err(ConvertError::JumpOutOfRange { index, target: t })
        }
    };
    if i.code == c::JMP | c::JA {
        return Ok(vec![jump_to(build::ja(0), target(i.k as u64)?)]);
    }
    let operation = match i.code & 0xf0 {
        c::JEQ => op::JEQ,
        c::JGT => op::JGT,
        c::JGE => op::JGE,
        c::JSET => op::JSET,
        _ => {
            return Err(ConvertError::UnknownOpcode {
                index,
                code: i.code,
            })
        }
    };
    let to_true = target(i.jt as u64)?;
    let to_false = target(i.jf as u64)?;
    if i.jt == i.jf {
        return Ok(vec![jump_to(build::ja(0), to_true)]);
    }
    let inverse = match operation {
        op::JEQ => Some(op::JNE),
        op::JGT => Some(op::JLE),
        op::JGE => Some(op::JLT),
        _ => None,
    };
    // (condition, where it jumps, where the other branch goes if it does not fall through)
    let (cond, taken, other) = match inverse {
        Some(inv) if i.jt == 0 => (inv, to_false, None),
        _ if i.jf == 0 => (operation, to_true, None),
        _ => (operation, to_true, Some(to_false)),
    };
    let mut out = Vec::new();
    let from_x = i.code & c::X != 0;
    let compare = if from_x {
        build::jmp_reg(cond, REG_A, REG_X, 0)
    } else if (i.k as i32) < 0 && cond != op::JSET {
        out.push(plain(mov_k(REG_TMP, i.k)));
        build::jmp_reg(cond, REG_A, REG_TMP, 0)
    } else {
        // jset with a sign-extended immediate is still right: A's upper 32 bits are 0.
        build::jmp_imm(cond, REG_A, i.k as i32, 0)
    };
    out.push(jump_to(compare, taken));
    if let Some(other) = other {
        out.push(jump_to(build::ja(0), other));
    }
    Ok(out)
}

/// Places the blocks one after another and turns classic jump targets into eBPF offsets.
/// `blocks[0]` is the prologue; `blocks[n + 1]` is classic instruction n; with direct access the
/// last block is the shared reject.
fn layout(blocks: Vec<Vec<Pending>>) -> Result<Vec<Insn>, ConvertError> {
    let mut start = Vec::with_capacity(blocks.len());
    let mut at = 0usize;
    for b in &blocks {
        start.push(at);
        at += b.len();
    }
    if at > i16::MAX as usize {
        return Err(ConvertError::TooLong);
    }
    let mut out = Vec::with_capacity(at);
    for b in blocks {
        for p in b {
            let mut insn = p.insn;
            if let Some(t) = p.target {
                let to = match t {
                    Target::Classic(n) => start[n + 1],
                    Target::Reject => *start.last().expect("the reject block exists"),
                };
                let here = out.len() as isize;
                insn.off = (to as isize - (here + 1)) as i16;
            }
            out.push(insn);
        }
    }
    Ok(out)
}
