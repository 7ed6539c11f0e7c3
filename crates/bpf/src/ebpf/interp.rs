//! The eBPF interpreter: the reference our JIT is checked against, with the kernel's semantics
//! (32-bit results zero-extended, division by 0 gives 0, modulo by 0 leaves the dividend, shift
//! counts masked) and every memory access checked against the three regions a program may touch.
//! No `unsafe`: addresses are host addresses (programs do pointer arithmetic on them), but every
//! access is turned back into an index of one of the regions before it happens.

use super::insn::{op, Insn};
use super::verify::Verified;
use super::{Memory, RunError, STACK_SIZE};

/// The registers at entry: r1 = the context, r10 = the top of the stack, the rest 0.
fn initial_registers(ctx: &[u8], stack: &[u8]) -> [u64; 11] {
    let mut reg = [0u64; 11];
    reg[1] = ctx.as_ptr() as u64;
    reg[10] = stack.as_ptr() as u64 + STACK_SIZE as u64;
    reg
}

/// A region a program may read (and maybe write).
struct Region<'a> {
    base: u64,
    bytes: Region_<'a>,
}

enum Region_<'a> {
    Writable(&'a mut [u8]),
    ReadOnly(&'a [u8]),
}

impl Region<'_> {
    fn len(&self) -> u64 {
        match &self.bytes {
            Region_::Writable(b) => b.len() as u64,
            Region_::ReadOnly(b) => b.len() as u64,
        }
    }
    /// The index range of `size` bytes at `addr`, if they are all inside this region.
    fn index(&self, addr: u64, size: usize) -> Option<usize> {
        let at = addr.wrapping_sub(self.base);
        (at <= self.len() && self.len() - at >= size as u64).then_some(at as usize)
    }
}

struct Regions<'a> {
    list: [Region<'a>; 3],
}

impl Regions<'_> {
    fn load(&self, pc: usize, addr: u64, size: usize) -> Result<u64, RunError> {
        for r in &self.list {
            if let Some(at) = r.index(addr, size) {
                let bytes = match &r.bytes {
                    Region_::Writable(b) => &b[at..at + size],
                    Region_::ReadOnly(b) => &b[at..at + size],
                };
                let mut v = [0u8; 8];
                v[..size].copy_from_slice(bytes);
                return Ok(u64::from_le_bytes(v));
            }
        }
        Err(RunError::OutOfBounds {
            pc,
            addr,
            size,
            write: false,
        })
    }

    fn store(&mut self, pc: usize, addr: u64, size: usize, value: u64) -> Result<(), RunError> {
        for r in &mut self.list {
            if let Some(at) = r.index(addr, size) {
                if let Region_::Writable(b) = &mut r.bytes {
                    b[at..at + size].copy_from_slice(&value.to_le_bytes()[..size]);
                    return Ok(());
                }
            }
        }
        Err(RunError::OutOfBounds {
            pc,
            addr,
            size,
            write: true,
        })
    }
}

/// Runs a verified program. `memory.ctx` is what r1 points to; `memory.packet` is what
/// LD_ABS/LD_IND read (read-only; a program may also reach it through a pointer it is given).
pub fn run(prog: &Verified, memory: Memory<'_>) -> Result<u64, RunError> {
    let mut stack = [0u8; STACK_SIZE];
    let mut reg = initial_registers(memory.ctx, &stack);
    let packet = memory.packet;
    let mut regions = Regions {
        list: [
            Region {
                base: stack.as_ptr() as u64,
                bytes: Region_::Writable(&mut stack),
            },
            Region {
                base: memory.ctx.as_ptr() as u64,
                bytes: Region_::Writable(memory.ctx),
            },
            Region {
                base: packet.as_ptr() as u64,
                bytes: Region_::ReadOnly(packet),
            },
        ],
    };
    let insns: &[Insn] = &prog.insns;
    let mut budget = prog.budget;
    let mut pc = 0usize;
    loop {
        if let Some(b) = budget.as_mut() {
            if *b == 0 {
                return Err(RunError::BudgetExhausted);
            }
            *b -= 1;
        }
        let i = insns[pc];
        let dst = i.dst as usize;
        let src = i.src as usize;
        let imm = i.imm;
        pc += 1;
        match i.class() {
            op::ALU64 => {
                let b = if i.uses_src_reg() {
                    reg[src]
                } else {
                    imm as i64 as u64
                };
                reg[dst] = alu64(i.op(), reg[dst], b);
            }
            op::ALU => {
                if i.op() == op::END {
                    reg[dst] = byte_swap(reg[dst], imm, i.uses_src_reg());
                } else {
                    let b = if i.uses_src_reg() {
                        reg[src] as u32
                    } else {
                        imm as u32
                    };
                    reg[dst] = alu32(i.op(), reg[dst] as u32, b) as u64;
                }
            }
            op::JMP | op::JMP32 => match i.op() {
                op::EXIT if i.class() == op::JMP => return Ok(reg[0]),
                op::CALL if i.class() == op::JMP => {
                    let helper = prog
                        .helpers
                        .get(imm as u32)
                        .ok_or(RunError::UnknownHelper(imm as u32))?;
                    reg[0] = (helper.func)(reg[1], reg[2], reg[3], reg[4], reg[5]);
                }
                op::JA => pc = (pc as isize + i.off as isize) as usize,
                operation => {
                    let taken = if i.class() == op::JMP {
                        let b = if i.uses_src_reg() {
                            reg[src]
                        } else {
                            imm as i64 as u64
                        };
                        condition64(operation, reg[dst], b)
                    } else {
                        let b = if i.uses_src_reg() {
                            reg[src] as u32
                        } else {
                            imm as u32
                        };
                        condition32(operation, reg[dst] as u32, b)
                    };
                    if taken {
                        pc = (pc as isize + i.off as isize) as usize;
                    }
                }
            },
            op::LD => {
                if i.is_lddw() {
                    reg[dst] = (imm as u32 as u64) | ((insns[pc].imm as u32 as u64) << 32);
                    pc += 1;
                } else {
                    let offset = imm as u32 as u64
                        + if i.code & 0xe0 == op::IND {
                            reg[src] as u32 as u64
                        } else {
                            0
                        };
                    match load_packet(packet, offset, i.mem_size()) {
                        Some(v) => reg[0] = v,
                        None => return Ok(0),
                    }
                }
            }
            op::LDX => {
                let addr = reg[src].wrapping_add(i.off as i64 as u64);
                reg[dst] = regions.load(pc - 1, addr, i.mem_size())?;
            }
            op::ST => {
                let addr = reg[dst].wrapping_add(i.off as i64 as u64);
                regions.store(pc - 1, addr, i.mem_size(), imm as i64 as u64)?;
            }
            op::STX => {
                let addr = reg[dst].wrapping_add(i.off as i64 as u64);
                let size = i.mem_size();
                if i.code & 0xe0 == op::ATOMIC {
                    let old = regions.load(pc - 1, addr, size)?;
                    let (new, result) = atomic(imm, old, reg[src], reg[0], size);
                    regions.store(pc - 1, addr, size, new)?;
                    match imm {
                        op::CMPXCHG => reg[0] = result,
                        x if x & op::FETCH != 0 => reg[src] = result,
                        _ => {}
                    }
                } else {
                    regions.store(pc - 1, addr, size, reg[src])?;
                }
            }
            _ => unreachable!("the verifier refuses unknown classes"),
        }
    }
}

/// A big-endian packet load for LD_ABS/LD_IND, `None` when any byte is past the end.
pub(crate) fn load_packet(packet: &[u8], offset: u64, size: usize) -> Option<u64> {
    let end = offset.checked_add(size as u64)?;
    if end > packet.len() as u64 {
        return None;
    }
    let bytes = &packet[offset as usize..end as usize];
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// `dst OP= b` on 64 bits.
pub fn alu64(operation: u8, a: u64, b: u64) -> u64 {
    match operation {
        op::ADD => a.wrapping_add(b),
        op::SUB => a.wrapping_sub(b),
        op::MUL => a.wrapping_mul(b),
        op::DIV => a.checked_div(b).unwrap_or(0),
        op::OR => a | b,
        op::AND => a & b,
        op::LSH => a << (b & 63),
        op::RSH => a >> (b & 63),
        op::NEG => a.wrapping_neg(),
        op::MOD => a.checked_rem(b).unwrap_or(a),
        op::XOR => a ^ b,
        op::MOV => b,
        op::ARSH => ((a as i64) >> (b & 63)) as u64,
        _ => unreachable!("the verifier refuses unknown ALU operations"),
    }
}

/// `dst OP= b` on 32 bits (the caller zero-extends the result).
pub fn alu32(operation: u8, a: u32, b: u32) -> u32 {
    match operation {
        op::ADD => a.wrapping_add(b),
        op::SUB => a.wrapping_sub(b),
        op::MUL => a.wrapping_mul(b),
        op::DIV => a.checked_div(b).unwrap_or(0),
        op::OR => a | b,
        op::AND => a & b,
        op::LSH => a << (b & 31),
        op::RSH => a >> (b & 31),
        op::NEG => a.wrapping_neg(),
        op::MOD => a.checked_rem(b).unwrap_or(a),
        op::XOR => a ^ b,
        op::MOV => b,
        op::ARSH => ((a as i32) >> (b & 31)) as u32,
        _ => unreachable!("the verifier refuses unknown ALU operations"),
    }
}

/// `le16/le32/le64` (truncate on this little-endian VM) and `be16/be32/be64` (swap).
pub fn byte_swap(v: u64, width: i32, to_big: bool) -> u64 {
    match (width, to_big) {
        (16, false) => v as u16 as u64,
        (32, false) => v as u32 as u64,
        (16, true) => (v as u16).swap_bytes() as u64,
        (32, true) => (v as u32).swap_bytes() as u64,
        (_, false) => v,
        (_, true) => v.swap_bytes(),
    }
}

pub fn condition64(operation: u8, a: u64, b: u64) -> bool {
    match operation {
        op::JEQ => a == b,
        op::JGT => a > b,
        op::JGE => a >= b,
        op::JSET => a & b != 0,
        op::JNE => a != b,
        op::JSGT => (a as i64) > (b as i64),
        op::JSGE => (a as i64) >= (b as i64),
        op::JLT => a < b,
        op::JLE => a <= b,
        op::JSLT => (a as i64) < (b as i64),
        op::JSLE => (a as i64) <= (b as i64),
        _ => unreachable!("the verifier refuses unknown jumps"),
    }
}

pub fn condition32(operation: u8, a: u32, b: u32) -> bool {
    match operation {
        op::JEQ => a == b,
        op::JGT => a > b,
        op::JGE => a >= b,
        op::JSET => a & b != 0,
        op::JNE => a != b,
        op::JSGT => (a as i32) > (b as i32),
        op::JSGE => (a as i32) >= (b as i32),
        op::JLT => a < b,
        op::JLE => a <= b,
        op::JSLT => (a as i32) < (b as i32),
        op::JSLE => (a as i32) <= (b as i32),
        _ => unreachable!("the verifier refuses unknown jumps"),
    }
}

/// An atomic read-modify-write on a value of `size` bytes: (value to store, value to return).
fn atomic(operation: i32, old: u64, src: u64, r0: u64, size: usize) -> (u64, u64) {
    let mask = if size == 4 { u32::MAX as u64 } else { u64::MAX };
    let new = match operation & !op::FETCH {
        op::ATOMIC_ADD => old.wrapping_add(src),
        op::ATOMIC_OR => old | src,
        op::ATOMIC_AND => old & src,
        op::ATOMIC_XOR => old ^ src,
        0xe0 => src,
        _ => {
            // cmpxchg: store src if the old value equals r0; r0 gets the old value.
            if old == r0 & mask {
                src
            } else {
                old
            }
        }
    };
    (new & mask, old)
}
