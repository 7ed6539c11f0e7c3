//! The eBPF -> x86-64 JIT, through `jitkit_x86`'s builder and W^X executable memory.
//!
//! Register mapping (the kernel's, so helper calls need no shuffling: eBPF r1-r5 are the System V
//! argument registers and r0 is rax): r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx, r5 r8, r6 rbx,
//! r7 r13, r8 r14, r9 r15, r10 rbp. r12 holds the run's [`Env`]; r9, r10 and r11 are scratch.
//! The 512-byte eBPF stack lives in the native frame, [rbp - 512, rbp).
//!
//! Memory safety is ours, not the program's (ubpf and rbpf JITs check nothing):
//! - accesses through r10 with a constant offset were proven in range by the verifier;
//! - every other load/store checks its address against the stack, the context and (loads only)
//!   the packet, and leaves with [`RunError::OutOfBounds`] otherwise;
//! - LD_ABS/LD_IND compare offset + size with the packet length and end the program with r0 = 0
//!   when it does not fit, like the interpreter and the kernel;
//! - programs with loops count every instruction against their budget.

use super::insn::{op, Insn};
use super::verify::Verified;
use super::{Memory, RunError, STACK_SIZE};
use jitkit_x86::{
    byte_ptr, dword_ptr, qword_ptr, word_ptr, Assembler, Cond, ExecutableMemory, Label, Mem, Reg,
    Size, R10, R11, R12, R9, RAX, RBP, RSP,
};

/// Why a program could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    #[error("x86 encoding failed: {0}")]
    Encode(#[from] jitkit_x86::EncodeError),
    #[error("cannot map the code executable: {0}")]
    Load(#[from] jitkit_x86::LoadError),
}

/// What the generated code reads and reports, passed in r12 (`#[repr(C)]`, offsets below).
#[repr(C)]
#[derive(Default)]
struct Env {
    ctx_ptr: u64,
    ctx_len: u64,
    pkt_ptr: u64,
    pkt_len: u64,
    budget: u64,
    error: u64,
    error_pc: u64,
    error_addr: u64,
}

const CTX_PTR: i32 = 0;
const CTX_LEN: i32 = 8;
const PKT_PTR: i32 = 16;
const PKT_LEN: i32 = 24;
const BUDGET: i32 = 32;
const ERROR: i32 = 40;
const ERROR_PC: i32 = 48;
const ERROR_ADDR: i32 = 56;

const ERR_BOUNDS_LOAD: u64 = 1;
const ERR_BOUNDS_STORE: u64 = 2;
const ERR_BUDGET: u64 = 3;

/// x86 register numbers for eBPF r0..r10.
const MAP: [u8; 11] = [0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5];
/// rcx: shift counts must be in cl.
const RCX_NUM: u8 = 1;

fn q(r: u8) -> Reg {
    Reg::from_num(MAP[r as usize], Size::Qword)
}
fn d(r: u8) -> Reg {
    Reg::from_num(MAP[r as usize], Size::Dword)
}
fn sized(r: u8, size: usize) -> Reg {
    let s = match size {
        1 => Size::Byte,
        2 => Size::Word,
        4 => Size::Dword,
        _ => Size::Qword,
    };
    Reg::from_num(MAP[r as usize], s)
}
fn mem_of(size: usize, m: Mem) -> Mem {
    match size {
        1 => byte_ptr(m),
        2 => word_ptr(m),
        4 => dword_ptr(m),
        _ => qword_ptr(m),
    }
}
fn env(field: i32) -> Mem {
    qword_ptr(Mem::base_disp(R12, field))
}

/// Native code for one verified program.
pub struct JitProgram {
    code: ExecutableMemory,
    /// The instruction budget of programs with loops (`None`: the code does not count).
    budget: Option<u64>,
}

type Entry = extern "C" fn(*mut Env) -> u64;

/// Compiles a verified program.
pub fn compile(prog: &Verified) -> Result<JitProgram, JitError> {
    let mut a = Assembler::with_capacity(prog.insns.len() * 16 + 256);
    let insns = &prog.insns;
    let labels: Vec<Label> = (0..insns.len()).map(|_| a.new_label()).collect();
    let exit = a.new_label();
    let ret_zero = a.new_label();
    let fail = a.new_label();
    let frame = STACK_SIZE as i32 + 8; // keeps rsp 16-byte aligned at helper calls

    // Prologue: save callee-saved registers, make the eBPF frame, load r1 = ctx.
    for r in [5u8, 3, 12, 13, 14, 15] {
        a.push(Reg::from_num(r, Size::Qword));
    }
    a.sub(RSP, frame);
    a.lea(RBP, Mem::base_disp(RSP, STACK_SIZE as i32));
    a.mov(R12, jitkit_x86::RDI);
    a.mov(q(1), env(CTX_PTR));

    let mut pc = 0;
    while pc < insns.len() {
        let i = insns[pc];
        a.bind(labels[pc]);
        if prog.budget.is_some() {
            a.sub(env(BUDGET), 1);
            let ok = a.new_label();
            a.jcc(Cond::Ae, ok);
            a.mov(env(ERROR), ERR_BUDGET as i32);
            a.jmp(fail);
            a.bind(ok);
        }
        let target = |off: i16| labels[(pc as isize + 1 + off as isize) as usize];
        match i.class() {
            op::ALU64 | op::ALU => alu(&mut a, i),
            op::JMP | op::JMP32 => match i.op() {
                op::EXIT if i.class() == op::JMP => {
                    a.jmp(exit);
                }
                op::CALL if i.class() == op::JMP => {
                    let helper = prog
                        .helpers
                        .get(i.imm as u32)
                        .expect("the verifier checked helper ids");
                    a.call_indirect_abs(R11, helper.func as usize as u64);
                }
                op::JA => a.jmp(target(i.off)),
                operation => {
                    let wide = i.class() == op::JMP;
                    let dst = if wide { q(i.dst) } else { d(i.dst) };
                    if operation == op::JSET {
                        if i.uses_src_reg() {
                            a.test(dst, if wide { q(i.src) } else { d(i.src) });
                        } else {
                            a.test(dst, i.imm);
                        }
                    } else if i.uses_src_reg() {
                        a.cmp(dst, if wide { q(i.src) } else { d(i.src) });
                    } else {
                        a.cmp(dst, i.imm);
                    }
                    a.jcc(condition(operation), target(i.off));
                }
            },
            op::LD if i.is_lddw() => {
                let v = (i.imm as u32 as u64) | ((insns[pc + 1].imm as u32 as u64) << 32);
                if v as i64 == v as i32 as i64 {
                    a.mov(q(i.dst), v as i64);
                } else if v <= u32::MAX as u64 {
                    a.mov(d(i.dst), v as i64);
                } else {
                    a.movabs(q(i.dst), v as i64);
                }
                pc += 1;
            }
            op::LD => packet_load(&mut a, i, ret_zero),
            op::LDX => {
                let m = address(&mut a, pc, i.src, i.off, i.mem_size(), false, fail);
                let size = i.mem_size();
                match size {
                    1 => a.movzx(d(i.dst), byte_ptr(m)),
                    2 => a.movzx(d(i.dst), word_ptr(m)),
                    4 => a.mov(d(i.dst), dword_ptr(m)),
                    _ => a.mov(q(i.dst), qword_ptr(m)),
                }
            }
            op::ST => {
                let m = address(&mut a, pc, i.dst, i.off, i.mem_size(), true, fail);
                let imm = match i.mem_size() {
                    1 => i.imm as i8 as i64,
                    2 => i.imm as i16 as i64,
                    _ => i.imm as i64,
                };
                a.mov(mem_of(i.mem_size(), m), imm);
            }
            op::STX if i.code & 0xe0 == op::ATOMIC => {
                let m = address(&mut a, pc, i.dst, i.off, i.mem_size(), true, fail);
                atomic(&mut a, i, m);
            }
            op::STX => {
                let m = address(&mut a, pc, i.dst, i.off, i.mem_size(), true, fail);
                a.mov(mem_of(i.mem_size(), m), sized(i.src, i.mem_size()));
            }
            _ => unreachable!("the verifier refuses unknown classes"),
        }
        pc += 1;
    }

    // LD_ABS/LD_IND past the packet: r0 = 0 and leave.
    a.bind(ret_zero);
    a.xor(jitkit_x86::EAX, jitkit_x86::EAX);
    a.jmp(exit);
    // A run-time error: the code is in env.error; r0 = 0.
    a.bind(fail);
    a.xor(jitkit_x86::EAX, jitkit_x86::EAX);
    a.bind(exit);
    a.add(RSP, frame);
    for r in [15u8, 14, 13, 12, 3, 5] {
        a.pop(Reg::from_num(r, Size::Qword));
    }
    a.ret();
    let code = a.finish()?;
    Ok(JitProgram {
        code: ExecutableMemory::new(code.bytes())?,
        budget: prog.budget,
    })
}

fn condition(operation: u8) -> Cond {
    match operation {
        op::JEQ => Cond::E,
        op::JGT => Cond::A,
        op::JGE => Cond::Ae,
        op::JSET | op::JNE => Cond::Ne,
        op::JSGT => Cond::G,
        op::JSGE => Cond::Ge,
        op::JLT => Cond::B,
        op::JLE => Cond::Be,
        op::JSLT => Cond::L,
        op::JSLE => Cond::Le,
        _ => unreachable!("the verifier refuses unknown jumps"),
    }
}

fn alu(a: &mut Assembler, i: Insn) {
    let wide = i.class() == op::ALU64;
    let dst = if wide { q(i.dst) } else { d(i.dst) };
    let src = if wide { q(i.src) } else { d(i.src) };
    let x = i.uses_src_reg();
    match i.op() {
        op::ADD if x => a.add(dst, src),
        op::ADD => a.add(dst, i.imm),
        op::SUB if x => a.sub(dst, src),
        op::SUB => a.sub(dst, i.imm),
        op::OR if x => a.or(dst, src),
        op::OR => a.or(dst, i.imm),
        op::AND if x => a.and(dst, src),
        op::AND => a.and(dst, i.imm),
        op::XOR if x => a.xor(dst, src),
        op::XOR => a.xor(dst, i.imm),
        op::MUL if x => a.imul(dst, src),
        op::MUL => a.imul3(dst, dst, i.imm),
        op::MOV if x => a.mov(dst, src),
        op::MOV if wide => a.mov(dst, i.imm as i64),
        op::MOV => a.mov(dst, i.imm as u32 as i64),
        op::NEG => a.neg(dst),
        op::LSH | op::RSH | op::ARSH => shift(a, i, wide),
        op::DIV | op::MOD => divide(a, i, wide),
        op::END => match (i.imm, i.uses_src_reg()) {
            (16, false) => a.movzx(d(i.dst), sized(i.dst, 2)),
            (32, false) => a.mov(d(i.dst), d(i.dst)),
            (64, false) => {}
            (16, true) => {
                a.rol(sized(i.dst, 2), 8);
                a.movzx(d(i.dst), sized(i.dst, 2));
            }
            (32, true) => a.bswap(d(i.dst)),
            _ => a.bswap(q(i.dst)),
        },
        _ => unreachable!("the verifier refuses unknown ALU operations"),
    }
}

fn shift(a: &mut Assembler, i: Insn, wide: bool) {
    let size = if wide { 8 } else { 4 };
    let emit = |a: &mut Assembler, target: Reg, count: jitkit_x86::Operand| match i.op() {
        op::LSH => a.shl(target, count),
        op::RSH => a.shr(target, count),
        _ => a.sar(target, count),
    };
    if !i.uses_src_reg() {
        emit(a, sized(i.dst, size), (i.imm as u8).into());
        return;
    }
    let cl = jitkit_x86::CL;
    if MAP[i.src as usize] == RCX_NUM {
        // The count is already in cl (x86 masks it to 5 or 6 bits, as eBPF does).
        emit(a, sized(i.dst, size), cl.into());
    } else if MAP[i.dst as usize] == RCX_NUM {
        let r11 = if wide { R11 } else { jitkit_x86::R11D };
        a.mov(R11, jitkit_x86::RCX);
        a.mov(jitkit_x86::RCX, q(i.src));
        emit(a, r11, cl.into());
        a.mov(jitkit_x86::RCX, R11);
    } else {
        a.mov(R11, jitkit_x86::RCX);
        a.mov(jitkit_x86::RCX, q(i.src));
        emit(a, sized(i.dst, size), cl.into());
        a.mov(jitkit_x86::RCX, R11);
    }
}

/// Unsigned division and modulo; by 0: quotient 0, remainder the dividend (zero-extended for
/// 32-bit), as the kernel defines it.
fn divide(a: &mut Assembler, i: Insn, wide: bool) {
    let (rax, rdx, r11) = if wide {
        (RAX, jitkit_x86::RDX, R11)
    } else {
        (jitkit_x86::EAX, jitkit_x86::EDX, jitkit_x86::R11D)
    };
    let dst = if wide { q(i.dst) } else { d(i.dst) };
    let done = a.new_label();
    if i.uses_src_reg() {
        a.mov(r11, if wide { q(i.src) } else { d(i.src) });
        let nonzero = a.new_label();
        a.test(r11, r11);
        a.jcc(Cond::Ne, nonzero);
        if i.op() == op::DIV {
            a.xor(d(i.dst), d(i.dst));
        } else if !wide {
            a.mov(d(i.dst), d(i.dst));
        }
        a.jmp(done);
        a.bind(nonzero);
    } else if wide {
        a.mov(R11, i.imm as i64);
    } else {
        a.mov(r11, i.imm as u32 as i64);
    }
    a.mov(R9, RAX);
    a.mov(R10, jitkit_x86::RDX);
    a.mov(rax, dst);
    a.xor(jitkit_x86::EDX, jitkit_x86::EDX);
    a.div(r11);
    a.mov(r11, if i.op() == op::DIV { rax } else { rdx });
    a.mov(RAX, R9);
    a.mov(jitkit_x86::RDX, R10);
    a.mov(dst, r11);
    a.bind(done);
}

/// Bounds-checks `base + off` for `size` bytes and returns the memory operand to use.
/// r10-based accesses were proven in range by the verifier; others are checked against the
/// stack, the context and (for loads) the packet.
fn address(
    a: &mut Assembler,
    pc: usize,
    base: u8,
    off: i16,
    size: usize,
    write: bool,
    fail: Label,
) -> Mem {
    if base == 10 {
        return Mem::base_disp(RBP, off as i32);
    }
    let ok = a.new_label();
    a.lea(R11, Mem::base_disp(q(base), off as i32));
    // Stack: addr - (rbp - 512) <= 512 - size.
    a.lea(R10, Mem::base_disp(RBP, -(STACK_SIZE as i32)));
    a.mov(R9, R11);
    a.sub(R9, R10);
    a.cmp(R9, (STACK_SIZE - size) as i32);
    a.jcc(Cond::Be, ok);
    let regions: &[(i32, i32)] = if write {
        &[(CTX_PTR, CTX_LEN)]
    } else {
        &[(CTX_PTR, CTX_LEN), (PKT_PTR, PKT_LEN)]
    };
    for &(ptr, len) in regions {
        // offset = addr - base; in range if offset < len and offset + size <= len.
        let next = a.new_label();
        a.mov(R9, R11);
        a.sub(R9, env(ptr));
        a.cmp(R9, env(len));
        a.jcc(Cond::Ae, next);
        a.add(R9, size as i32);
        a.cmp(R9, env(len));
        a.jcc(Cond::Be, ok);
        a.bind(next);
    }
    let code = if write {
        ERR_BOUNDS_STORE
    } else {
        ERR_BOUNDS_LOAD
    };
    a.mov(env(ERROR), (code | (size as u64) << 8) as i32);
    a.mov(env(ERROR_PC), pc as i32);
    a.mov(env(ERROR_ADDR), R11);
    a.jmp(fail);
    a.bind(ok);
    Mem::base(R11)
}

/// LD_ABS / LD_IND: big-endian load from the packet into r0, or end the program with 0.
fn packet_load(a: &mut Assembler, i: Insn, ret_zero: Label) {
    let size = i.mem_size();
    let k = i.imm as u32 as u64;
    let m = if i.code & 0xe0 == op::IND {
        // r11 = (u32)src + (u32)imm: at most 33 bits, no wrap (libpcap's rule).
        a.mov(jitkit_x86::R11D, d(i.src));
        if k != 0 {
            a.mov(jitkit_x86::R10D, k as i64);
            a.add(R11, R10);
        }
        a.lea(R10, Mem::base_disp(R11, size as i32));
        a.cmp(R10, env(PKT_LEN));
        a.jcc(Cond::A, ret_zero);
        a.mov(R10, env(PKT_PTR));
        Mem::base_index(R10, R11, 1, 0)
    } else {
        let end = k + size as u64;
        if end > i32::MAX as u64 {
            a.jmp(ret_zero);
            return;
        }
        a.cmp(env(PKT_LEN), end as i32);
        a.jcc(Cond::B, ret_zero);
        a.mov(R10, env(PKT_PTR));
        Mem::base_disp(R10, k as i32)
    };
    match size {
        1 => a.movzx(jitkit_x86::EAX, byte_ptr(m)),
        2 => {
            a.movzx(jitkit_x86::EAX, word_ptr(m));
            a.rol(jitkit_x86::AX, 8);
        }
        _ => {
            a.mov(jitkit_x86::EAX, dword_ptr(m));
            a.bswap(jitkit_x86::EAX);
        }
    }
}

/// `lock`-prefixed read-modify-write at [r11] (the checked address).
fn atomic(a: &mut Assembler, i: Insn, m: Mem) {
    let size = i.mem_size();
    let wide = size == 8;
    let src = sized(i.src, size);
    // The checked address is always [r11] or [rbp + off]; put it in r11 for the raw encodings.
    a.lea(R11, m);
    let at = mem_of(size, Mem::base(R11));
    let lock = |a: &mut Assembler| a.bytes_raw(&[0xF0]);
    // REX + 0F xx + ModRM(00, reg, r11) for xadd/cmpxchg, which the builder does not have.
    let raw = |a: &mut Assembler, opcode: u8, reg: u8| {
        let rex = 0x40 | if wide { 8 } else { 0 } | if reg >= 8 { 4 } else { 0 } | 1;
        a.bytes_raw(&[0xF0, rex, 0x0F, opcode, ((reg & 7) << 3) | 3]);
    };
    let src_num = MAP[i.src as usize];
    match i.imm {
        op::ATOMIC_ADD => {
            lock(a);
            a.add(at, src);
        }
        op::ATOMIC_OR => {
            lock(a);
            a.or(at, src);
        }
        op::ATOMIC_AND => {
            lock(a);
            a.and(at, src);
        }
        op::ATOMIC_XOR => {
            lock(a);
            a.xor(at, src);
        }
        0x01 => raw(a, 0xC1, src_num), // lock xadd [r11], src
        op::XCHG => a.xchg(at, src),
        op::CMPXCHG => {
            raw(a, 0xB1, src_num); // lock cmpxchg [r11], src (compares with rax = r0)
            if !wide {
                a.mov(jitkit_x86::EAX, jitkit_x86::EAX);
            }
        }
        fetch => {
            // fetch_or/and/xor: a cmpxchg loop. r10 = old value, r9 = new value.
            let (r9, r10) = if wide {
                (R9, R10)
            } else {
                (jitkit_x86::R9D, jitkit_x86::R10D)
            };
            a.mov(r10, at);
            let retry = a.label_here();
            a.mov(r9, r10);
            match fetch & !op::FETCH {
                op::ATOMIC_OR => a.or(r9, src),
                op::ATOMIC_AND => a.and(r9, src),
                _ => a.xor(r9, src),
            }
            a.xchg(RAX, R10);
            raw(a, 0xB1, 9); // lock cmpxchg [r11], r9
            a.xchg(RAX, R10);
            a.jcc(Cond::Ne, retry);
            a.mov(src, r10);
        }
    }
    if i.imm & op::FETCH != 0 && i.imm != op::CMPXCHG && !wide {
        // 32-bit fetches zero-extend the old value (xchg/xadd on r32 already do).
        a.mov(d(i.src), d(i.src));
    }
}

impl JitProgram {
    /// Runs the program on `memory`.
    pub fn run(&self, memory: Memory<'_>) -> Result<u64, RunError> {
        let mut env = Env {
            ctx_ptr: memory.ctx.as_mut_ptr() as u64,
            ctx_len: memory.ctx.len() as u64,
            pkt_ptr: memory.packet.as_ptr() as u64,
            pkt_len: memory.packet.len() as u64,
            budget: self.budget.unwrap_or(0),
            ..Env::default()
        };
        // SAFETY: the code was generated by `compile` as a System V function taking one pointer
        // to an `Env` and returning u64. It reads and writes only its own frame, `env`, and the
        // context and packet slices whose bounds `env` carries (every access is bounds-checked
        // or proven in range by the verifier); `memory` is borrowed mutably for the call, so the
        // context is not aliased. Helpers are `extern "C"` functions from the verified table.
        let f = unsafe { self.code.function::<Entry>(0) }.expect("offset 0 is inside the code");
        let r0 = f.get()(&mut env);
        match env.error & 0xff {
            0 => Ok(r0),
            ERR_BUDGET => Err(RunError::BudgetExhausted),
            code => Err(RunError::OutOfBounds {
                pc: env.error_pc as usize,
                addr: env.error_addr,
                size: (env.error >> 8) as usize,
                write: code == ERR_BOUNDS_STORE,
            }),
        }
    }
}
