//! Code generation for one decoded block: guest instructions in, x86-64 bytes out (through
//! `jitkit_x86::Assembler`). Everything here is safe code; it only produces bytes.
//!
//! Conventions of the generated code (set up by the trampoline in `runtime.rs`):
//! - `r15` = `*mut Machine`: guest registers, RIP and lazy flags are read and written in
//!   place at fixed offsets ([`Layout`]); nothing is cached in host registers
//!   across guest instructions, so the guest state is exact whenever a helper runs or a fault
//!   leaves the block.
//! - `r12` = `*mut JitCtx`, `r14` = host address of guest address 0, `r13` = the permission
//!   table (one byte per guest page).
//! - `rbp` counts guest instructions (`JitCtx::icount` while outside generated code).
//! - `rbx` holds a guest address across a slow-path helper call (callee-saved); `rax`, `rcx`,
//!   `rdx`, `rsi`, `rdi`, `r8` are scratch. The stack is 16-byte aligned, so helpers are
//!   called directly.
//!
//! A guest memory access checks, inline, that the access stays in one page below `LIMIT` and
//! that the page's permission byte allows it (stores also require the page to hold no decoded
//! code); only then is `r14 + address` touched. Anything else goes to a helper that does the
//! interpreter's checked access, so faults (address, read or write) are exactly the
//! interpreter's. Instructions the translator does not know run through the interpreter's own
//! handler (`run_insn`).

use jitkit_x86::{Assembler, Cond, Label, Mem, Reg, Size};

use crate::decode::{cond_family, Block, CondFamily, Insn, MemOperand, Opnd, NO_REG};
use crate::flags::Lazy;
use crate::memory::{CODE, LIMIT, PAGE, R, SHARED, W};
use iced_x86::Mnemonic as M;

/// Byte offsets the generated code uses (computed with `offset_of!`, see `runtime.rs`).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// From `r15` (the machine).
    pub gpr: i32,
    pub rip: i32,
    pub fs_base: i32,
    pub gs_base: i32,
    pub flags_dst: i32,
    pub flags_src: i32,
    pub flags_res: i32,
    /// `Flags::bits` (where inc/dec keep CF).
    pub flags_bits: i32,
    /// `Flags::lazy`, immediately followed by `Flags::size` (one 16-bit store sets both).
    pub flags_lazy: i32,
    /// From `r12` (the context).
    pub ctx_exit: i32,
    /// `JitCtx::limit`: every exit compares the instruction counter (rbp) with it.
    pub ctx_limit: i32,
    pub ctx_exit_slot: i32,
    pub ctx_stop_rip: i32,
}

/// Host addresses the generated code calls or reads.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    pub mem_read: u64,
    pub mem_write: u64,
    pub run_insn: u64,
    pub cond: u64,
    /// The jump cache: `JUMP_SLOTS` pairs of (guest address, host entry).
    pub jump_table: u64,
    /// This block's chain slots (one u64 per direct exit, at most [`MAX_EXITS`]).
    pub slots: u64,
    /// Direct exit `n` of this block reports `exit_id_base + n + 1` in `JitCtx::exit_slot`.
    pub exit_id_base: u64,
}

/// Direct exits per block: a jcc has two, a jmp/call/fall-through one.
pub const MAX_EXITS: usize = 2;

/// Entries of the jump cache (a power of two).
pub const JUMP_SLOTS: u64 = 4096;

/// For each direct exit (chain slot), the offset of its stub in the code: the slot's initial
/// value, relative to where the code is mapped.
pub type ExitStubs = Vec<usize>;

fn size_of(bytes: u8) -> Size {
    match bytes {
        1 => Size::Byte,
        2 => Size::Word,
        4 => Size::Dword,
        _ => Size::Qword,
    }
}

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RBX: u8 = 3;
const RBP: u8 = 5;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R8: u8 = 8;
const R12: u8 = 12;
const R13: u8 = 13;
const R14: u8 = 14;
const R15: u8 = 15;

fn q(n: u8) -> Reg {
    Reg::from_num(n, Size::Qword)
}
fn d(n: u8) -> Reg {
    Reg::from_num(n, Size::Dword)
}

/// The ALU operations translated inline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AluKind {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
}

impl AluKind {
    fn of(m: M) -> Option<AluKind> {
        Some(match m {
            M::Add => AluKind::Add,
            M::Sub => AluKind::Sub,
            M::And => AluKind::And,
            M::Or => AluKind::Or,
            M::Xor => AluKind::Xor,
            M::Cmp => AluKind::Cmp,
            M::Test => AluKind::Test,
            _ => return None,
        })
    }
    fn lazy(self) -> Lazy {
        match self {
            AluKind::Add => Lazy::Add,
            AluKind::Sub | AluKind::Cmp => Lazy::Sub,
            _ => Lazy::Logic,
        }
    }
    fn writes(self) -> bool {
        !matches!(self, AluKind::Cmp | AluKind::Test)
    }
}

/// The read-modify-writes of memory that the CPU may do atomically (`lock`, `xchg`), run inline
/// on private memory (see `Emitter::rmw`); the interpreter's `atomic` handlers do the same update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RmwOp {
    /// `lock add/sub/and/or/xor [mem], reg/imm`.
    Alu(AluKind),
    Inc,
    Dec,
    /// `xadd [mem], reg`.
    Xadd,
    /// `cmpxchg [mem], reg`.
    Cmpxchg,
    /// `xchg [mem], reg`.
    Xchg,
}

impl RmwOp {
    fn of(i: &Insn) -> Option<RmwOp> {
        let [o0, o1, o2] = i.op;
        let s0 = i.size[0];
        if o0 != Opnd::Mem || o2 != Opnd::None || !matches!(s0, 1 | 2 | 4 | 8) {
            return None;
        }
        let reg_src = matches!(o1, Opnd::Gpr(_)) && i.size[1] == s0;
        let src = reg_src || matches!(o1, Opnd::Imm(_));
        Some(match i.mnemonic {
            M::Inc if o1 == Opnd::None => RmwOp::Inc,
            M::Dec if o1 == Opnd::None => RmwOp::Dec,
            M::Xadd if reg_src => RmwOp::Xadd,
            M::Cmpxchg if reg_src => RmwOp::Cmpxchg,
            M::Xchg if reg_src => RmwOp::Xchg,
            M::Add | M::Sub | M::And | M::Or | M::Xor if i.lock && src => {
                RmwOp::Alu(AluKind::of(i.mnemonic)?)
            }
            _ => return None,
        })
    }
}

/// How one guest instruction is translated.
#[derive(Clone, Copy, Debug)]
enum Plan {
    Nop,
    /// mov between registers, memory and immediates (no high-byte registers).
    Mov,
    /// movzx/movsx/movsxd into a 32- or 64-bit register.
    Movx {
        signed: bool,
    },
    Lea,
    Alu(AluKind),
    /// add/sub/and/or/xor with a memory destination (load, operate, store).
    AluToMem(AluKind),
    /// A read-modify-write of memory the CPU may make atomic: `lock add/sub/and/or/xor`,
    /// `inc`/`dec`, `xadd`, `cmpxchg`, `xchg` (see [`RmwOp`]).
    Rmw(RmwOp),
    /// not, neg, inc, dec, bswap of a register.
    Unary(M),
    /// shl/shr/sar/rol/ror of a register by an immediate or CL.
    Shift(M),
    /// imul r, r/m (and r, r/m, imm) into a 32- or 64-bit register.
    Imul,
    /// setcc into a low byte register.
    Setcc,
    /// cmovcc between registers.
    Cmovcc,
    Push,
    Pop,
    CallRel(u64),
    Ret,
    JmpRel(u64),
    Jcc(u64),
    /// Run the interpreter's handler.
    Helper,
}

fn simple(o: Opnd) -> bool {
    matches!(o, Opnd::Gpr(_) | Opnd::Mem | Opnd::Imm(_))
}

fn plan(i: &Insn) -> Plan {
    if !i.implemented {
        return Plan::Helper;
    }
    let [o0, o1, o2] = i.op;
    let s0 = i.size[0];
    let sized = matches!(s0, 1 | 2 | 4 | 8);
    let family = cond_family(i.mnemonic);
    if let Some(op) = RmwOp::of(i) {
        return Plan::Rmw(op);
    }
    match i.mnemonic {
        M::Nop | M::Endbr64 | M::Pause | M::Lfence | M::Mfence | M::Sfence => Plan::Nop,
        M::Mov
            if sized
                && o2 == Opnd::None
                && simple(o0)
                && simple(o1)
                && !matches!(o0, Opnd::Imm(_))
                && !(o0 == Opnd::Mem && o1 == Opnd::Mem) =>
        {
            Plan::Mov
        }
        M::Movzx | M::Movsx | M::Movsxd
            if matches!(o0, Opnd::Gpr(_))
                && matches!(s0, 4 | 8)
                && matches!(o1, Opnd::Gpr(_) | Opnd::Mem)
                && matches!(i.size[1], 1 | 2 | 4) =>
        {
            Plan::Movx {
                signed: i.mnemonic != M::Movzx,
            }
        }
        M::Lea if matches!(o0, Opnd::Gpr(_)) && matches!(s0, 4 | 8) && i.mem.seg == 0 => Plan::Lea,
        M::Push if matches!(o0, Opnd::Gpr(_)) && s0 == 8 && o1 == Opnd::None => Plan::Push,
        M::Pop if matches!(o0, Opnd::Gpr(_)) && s0 == 8 && o1 == Opnd::None => Plan::Pop,
        M::Call => match o0 {
            Opnd::Imm(t) => Plan::CallRel(t),
            _ => Plan::Helper,
        },
        M::Ret if o0 == Opnd::None => Plan::Ret,
        M::Jmp => match o0 {
            Opnd::Imm(t) => Plan::JmpRel(t),
            _ => Plan::Helper,
        },
        _ if family == Some(CondFamily::Jcc) => match o0 {
            Opnd::Imm(t) => Plan::Jcc(t),
            _ => Plan::Helper,
        },
        M::Not | M::Neg | M::Inc | M::Dec
            if matches!(o0, Opnd::Gpr(_)) && sized && o1 == Opnd::None =>
        {
            Plan::Unary(i.mnemonic)
        }
        M::Bswap if matches!(o0, Opnd::Gpr(_)) && matches!(s0, 4 | 8) => Plan::Unary(M::Bswap),
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror
            if matches!(o0, Opnd::Gpr(_))
                && sized
                && o2 == Opnd::None
                && (matches!(o1, Opnd::Imm(_)) || o1 == Opnd::Gpr(crate::cpu::RCX as u8)) =>
        {
            Plan::Shift(if i.mnemonic == M::Sal {
                M::Shl
            } else {
                i.mnemonic
            })
        }
        M::Imul
            if matches!(o0, Opnd::Gpr(_))
                && matches!(s0, 4 | 8)
                && matches!(o1, Opnd::Gpr(_) | Opnd::Mem)
                && matches!(o2, Opnd::None | Opnd::Imm(_)) =>
        {
            Plan::Imul
        }
        _ if family == Some(CondFamily::Setcc) && matches!(o0, Opnd::Gpr(_)) => Plan::Setcc,
        _ if family == Some(CondFamily::Cmovcc)
            && matches!(o0, Opnd::Gpr(_))
            && matches!(o1, Opnd::Gpr(_))
            && matches!(s0, 2 | 4 | 8) =>
        {
            Plan::Cmovcc
        }
        mn => match AluKind::of(mn) {
            Some(k)
                if sized
                    && o2 == Opnd::None
                    && matches!(o0, Opnd::Gpr(_) | Opnd::Mem)
                    && matches!(o1, Opnd::Gpr(_) | Opnd::Mem | Opnd::Imm(_))
                    && !(o0 == Opnd::Mem && o1 == Opnd::Mem)
                    && i.size[1] == s0 =>
            {
                if o0 == Opnd::Mem && k.writes() {
                    Plan::AluToMem(k)
                } else {
                    Plan::Alu(k)
                }
            }
            _ => Plan::Helper,
        },
    }
}

/// Whether the translation of `p` may leave the block early (a fault or a helper's stop):
/// the guest flags must then be exact, so earlier flag results count as read.
fn may_stop(p: Plan, i: &Insn) -> bool {
    match p {
        Plan::Nop | Plan::JmpRel(_) | Plan::Jcc(_) | Plan::Lea => false,
        Plan::Mov | Plan::Movx { .. } | Plan::Alu(_) | Plan::Imul => i.op.contains(&Opnd::Mem),
        Plan::AluToMem(_) | Plan::Rmw(_) => true,
        Plan::Unary(_) | Plan::Shift(_) | Plan::Setcc | Plan::Cmovcc => false,
        _ => true,
    }
}

/// Instructions translated natively only when nothing reads the flags they set (their exact
/// flags need the interpreter): shifts and rotates, inc/dec, imul.
fn needs_dead_flags(p: Plan) -> bool {
    matches!(
        p,
        Plan::Shift(_) | Plan::Imul | Plan::Unary(M::Inc) | Plan::Unary(M::Dec)
    )
}

/// Instructions that read the guest flags.
fn reads_flags(p: Plan) -> bool {
    matches!(p, Plan::Jcc(_) | Plan::Setcc | Plan::Cmovcc | Plan::Helper)
}

/// A slow path placed after the block's main code.
enum Slow {
    /// A misaligned access: back to the main path if it stays in one page, else to `slow`.
    Misaligned {
        at: Label,
        back: Label,
        size: u8,
        slow: Label,
    },
    Load {
        at: Label,
        resume: Label,
        size: u8,
        insn: usize,
    },
    Store {
        at: Label,
        resume: Label,
        size: u8,
        insn: usize,
    },
    /// The whole instruction through the interpreter's handler.
    Handler {
        at: Label,
        resume: Label,
        insn: usize,
    },
}

struct Emitter<'a> {
    a: Assembler,
    l: &'a Layout,
    addrs: &'a Addrs,
    block: &'a Block,
    slow: Vec<Slow>,
    /// One fault exit per instruction index that can stop.
    fault: Vec<Option<Label>>,
    /// Direct exits: guest target and the stub that leaves to the dispatcher.
    targets: Vec<(u64, Label)>,
    continue_exit: Label,
    /// The host flags currently equal the guest flags of the last ALU result (kind, size).
    host_flags: Option<(Lazy, u8)>,
    /// The guest's lazy flags are known to hold this kind and size.
    known_flags: Option<(Lazy, u8)>,
    /// The block ends `alu; jcc` and both successors overwrite the flags before anything
    /// reads them: the ALU result stays in rax/rcx/rdx (operands, result) and only the exit
    /// stubs record it (the dispatcher's path, where the successor may be new code).
    elided: Option<(Lazy, u8)>,
}

fn mem_q(base: u8, disp: i32) -> Mem {
    Mem::base_disp(q(base), disp).sized(Size::Qword)
}

impl<'a> Emitter<'a> {
    fn m(&self, off: i32, size: u8) -> Mem {
        Mem::base_disp(q(R15), off).sized(size_of(size))
    }
    fn gpr_mem(&self, r: u8, size: u8) -> Mem {
        self.m(self.l.gpr + 8 * i32::from(r), size)
    }

    fn fault_label(&mut self, insn: usize) -> Label {
        if let Some(l) = self.fault[insn] {
            return l;
        }
        let l = self.a.new_label();
        self.fault[insn] = Some(l);
        l
    }

    /// Loads a 64-bit constant into a register with the shortest form.
    fn imm(&mut self, reg: u8, v: u64) {
        if v <= u64::from(u32::MAX) {
            self.a.mov(d(reg), v as u32 as i64);
        } else if (v as i64) >= i64::from(i32::MIN) && (v as i64) <= i64::from(i32::MAX) {
            self.a.mov(q(reg), v as i64);
        } else {
            self.a.movabs(q(reg), v as i64);
        }
    }

    /// Stores a 64-bit constant at `mem` (through rax when it does not fit in 32 bits).
    fn store_imm64(&mut self, mem: Mem, v: u64) {
        if (v as i64) >= i64::from(i32::MIN) && (v as i64) <= i64::from(i32::MAX) {
            self.a.mov(mem, v as i64);
        } else {
            self.imm(RAX, v);
            self.a.mov(mem, q(RAX));
        }
    }

    /// The guest effective address of the memory operand into rbx.
    fn ea(&mut self, mo: &MemOperand, with_segment: bool) {
        let disp = mo.disp as i64;
        let disp32 = disp >= i64::from(i32::MIN) && disp <= i64::from(i32::MAX);
        let has_base = mo.base != NO_REG;
        let has_index = mo.index != NO_REG;
        if !has_base && !has_index {
            self.imm(RBX, mo.disp);
        } else {
            if has_base {
                self.a.mov(q(RBX), self.gpr_mem(mo.base, 8));
            }
            if has_index {
                self.a.mov(q(RAX), self.gpr_mem(mo.index, 8));
            }
            let scale = 1u8 << mo.scale_shift;
            let d32 = if disp32 { disp as i32 } else { 0 };
            match (has_base, has_index) {
                (true, true) => self
                    .a
                    .lea(q(RBX), Mem::base_index(q(RBX), q(RAX), scale, d32)),
                (false, true) => self.a.lea(q(RBX), Mem::index_only(q(RAX), scale, d32)),
                _ => {
                    if d32 != 0 {
                        self.a.lea(q(RBX), Mem::base_disp(q(RBX), d32));
                    }
                }
            }
            if !disp32 {
                self.imm(RAX, mo.disp);
                self.a.add(q(RBX), q(RAX));
            }
        }
        if mo.addr32 {
            self.a.mov(d(RBX), d(RBX));
        }
        if with_segment {
            match mo.seg {
                1 => self.a.add(q(RBX), self.m(self.l.fs_base, 8)),
                2 => self.a.add(q(RBX), self.m(self.l.gs_base, 8)),
                _ => {}
            }
        }
        self.host_flags = None;
    }

    /// Jumps to `slow` unless `[rbx, rbx+size)` lies in one page below LIMIT; leaves the page
    /// number in rax. An aligned access cannot cross a page, so only a misaligned one takes
    /// the out-of-line page-crossing check.
    fn page_checks(&mut self, size: u8, slow: Label) {
        if size > 1 {
            let misaligned = self.a.new_label();
            let back = self.a.new_label();
            self.a
                .test(Reg::from_num(RBX, Size::Byte), i64::from(size - 1));
            self.a.jcc(Cond::Ne, misaligned);
            self.a.bind(back);
            self.slow.push(Slow::Misaligned {
                at: misaligned,
                back,
                size,
                slow,
            });
        }
        self.a.mov(q(RAX), q(RBX));
        self.a.shr(q(RAX), 12);
        self.a.cmp(q(RAX), (LIMIT / PAGE) as i64);
        self.a.jcc(Cond::Ae, slow);
    }

    fn host_mem(size: u8) -> Mem {
        Mem::base_index(q(R14), q(RBX), 1, 0).sized(size_of(size))
    }

    /// `reg` = the `size` bytes at `src`, zero-extended to 64 bits.
    fn load_zero_extended(&mut self, reg: u8, src: Mem, size: u8) {
        match size {
            1 | 2 => self.a.movzx(d(reg), src),
            4 => self.a.mov(d(reg), src),
            _ => self.a.mov(q(reg), src),
        }
    }

    /// Jumps to `slow` unless the permission byte of page rax (see `page_checks`) has every bit
    /// of `want` and none of `refuse` (clobbers rax).
    fn require_page(&mut self, want: u8, refuse: u8, slow: Label) {
        self.a.movzx(
            d(RAX),
            Mem::base_index(q(R13), q(RAX), 1, 0).sized(Size::Byte),
        );
        self.a.and(d(RAX), i64::from(want | refuse));
        self.a.cmp(d(RAX), i64::from(want));
        self.a.jcc(Cond::Ne, slow);
    }

    /// The slow path of a guest access: calls `helper(machine, ctx, address in rbx, size, ...)`
    /// (the interpreter's checked access), leaves through instruction `insn`'s fault exit when
    /// `fault` is nonzero afterwards, and continues at `resume` otherwise.
    fn call_mem_helper(&mut self, helper: u64, size: u8, fault: Reg, insn: usize, resume: Label) {
        self.a.mov(q(RDI), q(R15));
        self.a.mov(q(RSI), q(R12));
        self.a.mov(q(RDX), q(RBX));
        self.a.mov(d(RCX), i64::from(size));
        self.a.call_indirect_abs(q(RAX), helper);
        self.a.test(fault, fault);
        let f = self.fault_label(insn);
        self.a.jcc(Cond::Ne, f);
        self.a.jmp(resume);
    }

    /// rax = zero-extended `size` bytes at guest address rbx (instruction `insn` faults).
    fn load(&mut self, size: u8, insn: usize) {
        let slow = self.a.new_label();
        let resume = self.a.new_label();
        self.page_checks(size, slow);
        self.a.test(
            Mem::base_index(q(R13), q(RAX), 1, 0).sized(Size::Byte),
            i64::from(R),
        );
        self.a.jcc(Cond::E, slow);
        self.load_zero_extended(RAX, Self::host_mem(size), size);
        self.a.bind(resume);
        self.slow.push(Slow::Load {
            at: slow,
            resume,
            size,
            insn,
        });
        self.fault_label(insn);
        self.host_flags = None;
    }

    /// Stores the low `size` bytes of rcx at guest address rbx.
    fn store(&mut self, size: u8, insn: usize) {
        let slow = self.a.new_label();
        let resume = self.a.new_label();
        self.page_checks(size, slow);
        self.require_page(W, CODE, slow);
        self.a
            .mov(Self::host_mem(size), Reg::from_num(RCX, size_of(size)));
        self.a.bind(resume);
        self.slow.push(Slow::Store {
            at: slow,
            resume,
            size,
            insn,
        });
        self.fault_label(insn);
        self.host_flags = None;
    }

    /// Reads operand `n` of `i` (register, immediate or memory) zero-extended into `reg`
    /// (rax is clobbered by a memory read, so memory operands go to rax first).
    fn read_operand(&mut self, i: &Insn, n: usize, reg: u8, insn: usize) {
        let size = i.size[n];
        match i.op[n] {
            Opnd::Gpr(r) => self.load_zero_extended(reg, self.gpr_mem(r, size), size),
            Opnd::Imm(v) => self.imm(reg, v & crate::flags::mask(size)),
            Opnd::Mem => {
                self.ea(&i.mem, true);
                self.load(size, insn);
                if reg != RAX {
                    self.a.mov(q(reg), q(RAX));
                }
            }
            _ => unreachable!("planned operands are registers, immediates or memory"),
        }
    }

    /// Writes `reg`'s low `size` bytes to guest register `r` with x86-64 semantics (32-bit
    /// writes zero the upper half: `reg` must already be zero-extended).
    fn write_gpr(&mut self, r: u8, size: u8, reg: u8) {
        match size {
            4 => self.a.mov(self.gpr_mem(r, 8), q(reg)),
            s => self
                .a
                .mov(self.gpr_mem(r, s), Reg::from_num(reg, size_of(s))),
        }
    }

    /// Records a result in the lazy flags. For `Logic` only the result matters (CF, OF and AF
    /// are 0); the kind/size word is skipped when it already holds the same kind and size.
    fn store_flags(&mut self, lazy: Lazy, size: u8, dst: u8, src: u8, res: u8) {
        if lazy != Lazy::Logic {
            self.a.mov(self.m(self.l.flags_dst, 8), q(dst));
            self.a.mov(self.m(self.l.flags_src, 8), q(src));
        }
        self.a.mov(self.m(self.l.flags_res, 8), q(res));
        if self.known_flags != Some((lazy, size)) {
            let word = i64::from(lazy as u8) | (i64::from(size) << 8);
            self.a.mov(self.m(self.l.flags_lazy, 2), word);
        }
    }

    /// Makes the host flags decide guest condition `cc`; returns the host condition to test.
    fn condition(&mut self, cc: u8) -> Cond {
        if self.host_flags.is_some() {
            return Cond::from_code(cc);
        }
        match self.known_flags {
            Some((lazy, size)) => {
                let r = Reg::from_num(RAX, size_of(size));
                match lazy {
                    Lazy::Sub => {
                        self.a.mov(q(RAX), self.m(self.l.flags_dst, 8));
                        self.a.cmp(r, self.m(self.l.flags_src, size));
                    }
                    Lazy::Add => {
                        self.a.mov(q(RAX), self.m(self.l.flags_dst, 8));
                        self.a.add(r, self.m(self.l.flags_src, size));
                    }
                    _ => {
                        self.a.mov(q(RAX), self.m(self.l.flags_res, 8));
                        self.a.test(r, r);
                    }
                }
                Cond::from_code(cc)
            }
            None => {
                self.a.mov(q(RDI), q(R15));
                self.a.mov(d(RSI), i64::from(cc));
                self.a.call_indirect_abs(q(RAX), self.addrs.cond);
                self.a.test(d(RAX), d(RAX));
                Cond::Ne
            }
        }
    }

    /// Jumps to `taken` when guest condition `cc` holds.
    fn branch_on(&mut self, cc: u8, taken: Label) {
        let c = self.condition(cc);
        self.a.jcc(c, taken);
    }

    /// Leaves the block for guest address `target` through a chain slot. The slot starts out
    /// pointing at this exit's stub (after the main code), which records RIP and the exit's
    /// identity for the dispatcher; once linked, it points at the target's translation.
    fn direct_exit(&mut self, target: u64) {
        let idx = self.targets.len();
        debug_assert!(idx < MAX_EXITS);
        let stub = self.a.new_label();
        self.targets.push((target, stub));
        self.leave_if_limit_reached(stub);
        // Through rsi: an unlinked slot leads to the stub, which may still need rax/rcx/rdx.
        self.a
            .movabs(q(RSI), (self.addrs.slots + 8 * idx as u64) as i64);
        self.a.jmp(mem_q(RSI, 0));
    }

    /// Leaves the block for the guest address in rax (already stored as RIP): through the jump
    /// cache when the target is translated, else back to the dispatcher.
    fn dynamic_exit(&mut self) {
        // (`JitCtx::exit_slot` is still 0: only exit stubs set it, and they leave at once.)
        self.a.mov(d(RCX), d(RAX));
        self.a.shl(d(RCX), 4);
        self.a.and(d(RCX), ((JUMP_SLOTS - 1) << 4) as i64);
        self.a.movabs(q(RDX), self.addrs.jump_table as i64);
        self.a.cmp(
            Mem::base_index(q(RDX), q(RCX), 1, 0).sized(Size::Qword),
            q(RAX),
        );
        self.a.jcc(Cond::Ne, self.continue_exit);
        self.leave_if_limit_reached(self.continue_exit);
        self.a
            .jmp(Mem::base_index(q(RDX), q(RCX), 1, 8).sized(Size::Qword));
    }

    /// Jumps to `leave` (back to the dispatcher) instead of following a link when the
    /// instruction counter has reached `JitCtx::limit`: the thread's time slice is over, or a
    /// helper saw decoded code written (it then set the limit to 0). One compare on the
    /// chained path, whether or not several guest threads exist.
    fn leave_if_limit_reached(&mut self, leave: Label) {
        self.a.cmp(
            q(RBP),
            Mem::base_disp(q(R12), self.l.ctx_limit).sized(Size::Qword),
        );
        self.a.jcc(Cond::Ae, leave);
    }

    fn call_helper(&mut self, k: usize, i: &Insn) {
        self.run_handler(k, i);
        self.host_flags = None;
        self.known_flags = None;
    }

    /// Calls the interpreter's handler of instruction `k` (leaving through its fault exit
    /// when the handler stops).
    fn run_handler(&mut self, k: usize, i: &Insn) {
        self.store_imm64(self.m(self.l.rip, 8), i.next_rip);
        self.a.mov(q(RDI), q(R15));
        self.a.mov(q(RSI), q(R12));
        self.a
            .movabs(q(RDX), &self.block.insns[k] as *const Insn as usize as i64);
        self.a.call_indirect_abs(q(RAX), self.addrs.run_insn);
        self.a.test(d(RAX), d(RAX));
        let f = self.fault_label(k);
        self.a.jcc(Cond::Ne, f);
    }

    fn alu(&mut self, k: usize, i: &Insn, kind: AluKind, flags_live: bool) {
        let size = i.size[0];
        // rax = destination operand value, rcx = source, rdx = result. `cmp` and `test` are
        // done as `sub` and `and` on the copy in rdx: same host flags, and the result the lazy
        // flags record. 8- and 16-bit operations keep rdx's upper bits, which the 32-bit copy
        // cleared, so rdx is the result truncated to `size`.
        // The memory operand is read first: a load's slow path (a helper call) clobbers rcx.
        if i.op[0] == Opnd::Mem {
            self.read_operand(i, 0, RAX, k);
            self.read_operand(i, 1, RCX, k);
        } else {
            self.read_operand(i, 1, RCX, k);
            self.read_operand(i, 0, RAX, k);
        }
        if size == 8 {
            self.a.mov(q(RDX), q(RAX));
        } else {
            self.a.mov(d(RDX), d(RAX));
        }
        let (rc, rd) = (
            Reg::from_num(RCX, size_of(size)),
            Reg::from_num(RDX, size_of(size)),
        );
        match kind {
            AluKind::Add => self.a.add(rd, rc),
            AluKind::Sub | AluKind::Cmp => self.a.sub(rd, rc),
            AluKind::And | AluKind::Test => self.a.and(rd, rc),
            AluKind::Or => self.a.or(rd, rc),
            AluKind::Xor => self.a.xor(rd, rc),
        }
        if kind.writes() {
            if let Opnd::Gpr(r) = i.op[0] {
                self.write_gpr(r, size, RDX);
            }
        }
        if flags_live {
            self.store_flags(kind.lazy(), size, RAX, RCX, RDX);
            self.known_flags = Some((kind.lazy(), size));
        } else {
            self.known_flags = None;
        }
        // Only `mov`s were emitted after the operation: the host flags are the guest's.
        self.host_flags = Some((kind.lazy(), size));
    }

    /// `op [mem], reg/imm`: the interpreter's order (load, operate, record the flags, store),
    /// so a store that faults leaves the flags as the interpreter leaves them: recorded even
    /// when nothing after the instruction reads them (the fault makes them observable).
    fn alu_to_mem(&mut self, k: usize, i: &Insn, kind: AluKind) {
        let size = i.size[0];
        // rbx = the address, rax = the old value (the load first: its slow path clobbers rcx).
        self.read_operand(i, 0, RAX, k);
        self.read_operand(i, 1, RCX, k);
        let (rc, rd) = (
            Reg::from_num(RCX, size_of(size)),
            Reg::from_num(RDX, size_of(size)),
        );
        if size == 8 {
            self.a.mov(q(RDX), q(RAX));
        } else {
            self.a.mov(d(RDX), d(RAX));
        }
        match kind {
            AluKind::Add => self.a.add(rd, rc),
            AluKind::Sub => self.a.sub(rd, rc),
            AluKind::And => self.a.and(rd, rc),
            AluKind::Or => self.a.or(rd, rc),
            _ => self.a.xor(rd, rc),
        }
        self.store_flags(kind.lazy(), size, RAX, RCX, RDX);
        self.known_flags = Some((kind.lazy(), size));
        self.a.mov(q(RCX), q(RDX));
        self.store(size, k);
        // The store's checks changed the host flags.
        self.host_flags = None;
    }

    /// A read-modify-write of memory ([`RmwOp`]) inline when the operand lies in one private
    /// page that is readable and writable and holds no decoded code: a load, the operation and a
    /// store on the host address. No host `lock` is needed there: guest threads take turns on
    /// this one host thread, and no other process sees private memory. Everything else runs the
    /// interpreter's handler: a page shared with other processes (`MAP_SHARED`, where the
    /// handler does a locked instruction's update as one host atomic operation), another page,
    /// a fault (which then changes nothing), decoded code.
    fn rmw(&mut self, k: usize, i: &Insn, op: RmwOp, flags_live: bool) {
        let size = i.size[0];
        let slow = self.a.new_label();
        let resume = self.a.new_label();
        self.ea(&i.mem, true);
        self.page_checks(size, slow);
        self.require_page(R | W, CODE | SHARED, slow);
        if matches!(op, RmwOp::Inc | RmwOp::Dec) && flags_live {
            // Before anything else: it may call a helper (only rbx survives).
            self.keep_cf();
        }
        let mem = Self::host_mem(size);
        let sized = |n: u8| Reg::from_num(n, size_of(size));
        // rcx = the source operand, rax = the old value, rdx = the new one (all zero-extended).
        if !matches!(op, RmwOp::Inc | RmwOp::Dec) {
            self.read_operand(i, 1, RCX, k);
        }
        self.load_zero_extended(RAX, mem, size);
        self.a.mov(q(RDX), q(RAX));
        let lazy = match op {
            RmwOp::Alu(kind) => {
                match kind {
                    AluKind::Add => self.a.add(sized(RDX), sized(RCX)),
                    AluKind::Sub => self.a.sub(sized(RDX), sized(RCX)),
                    AluKind::And => self.a.and(sized(RDX), sized(RCX)),
                    AluKind::Or => self.a.or(sized(RDX), sized(RCX)),
                    _ => self.a.xor(sized(RDX), sized(RCX)),
                }
                Some(kind.lazy())
            }
            RmwOp::Xadd => {
                self.a.add(sized(RDX), sized(RCX));
                Some(Lazy::Add)
            }
            RmwOp::Inc => {
                self.a.inc(sized(RDX));
                Some(Lazy::Inc)
            }
            RmwOp::Dec => {
                self.a.dec(sized(RDX));
                Some(Lazy::Dec)
            }
            RmwOp::Xchg => {
                self.a.mov(q(RDX), q(RCX));
                None
            }
            RmwOp::Cmpxchg => {
                // Flags of acc - old; equal: the source is stored, else the old value again.
                let acc = crate::cpu::RAX as u8;
                self.load_zero_extended(R8, self.gpr_mem(acc, size), size);
                self.a.cmp(sized(R8), sized(RAX));
                self.a.cmovcc(Cond::E, q(RDX), q(RCX));
                None
            }
        };
        self.a.mov(mem, sized(RDX));
        let mut recorded = None;
        match op {
            RmwOp::Xchg => {
                let Opnd::Gpr(r) = i.op[1] else { return };
                self.write_gpr(r, size, RAX);
                recorded = self.known_flags;
            }
            RmwOp::Cmpxchg => {
                let acc = crate::cpu::RAX as u8;
                // rcx = acc - old, with the host flags of the compare.
                self.a.mov(q(RCX), q(R8));
                self.a.sub(sized(RCX), sized(RAX));
                if flags_live {
                    self.store_flags(Lazy::Sub, size, R8, RAX, RCX);
                    recorded = Some((Lazy::Sub, size));
                }
                if size == 4 {
                    // Only a failed compare writes (and so zero-extends) the accumulator.
                    let equal = self.a.new_label();
                    self.a.jcc(Cond::E, equal);
                    self.write_gpr(acc, 4, RAX);
                    self.a.bind(equal);
                } else {
                    // Equal: the value written is the accumulator's own.
                    self.write_gpr(acc, size, RAX);
                }
            }
            RmwOp::Inc | RmwOp::Dec => {
                if flags_live {
                    self.a.mov(d(RCX), 1);
                    // Never `known_flags` (conditions on them need the kept CF): the kind
                    // word is always written.
                    self.known_flags = None;
                    self.store_flags(lazy.unwrap_or(Lazy::Inc), size, RAX, RCX, RDX);
                }
            }
            _ => {
                if flags_live {
                    let lazy = lazy.unwrap_or(Lazy::Add);
                    self.store_flags(lazy, size, RAX, RCX, RDX);
                    recorded = Some((lazy, size));
                }
                if let (RmwOp::Xadd, Opnd::Gpr(r)) = (op, i.op[1]) {
                    self.write_gpr(r, size, RAX);
                }
            }
        }
        // Whatever the inline path records, the handler records too (same kind and size).
        self.a.bind(resume);
        self.slow.push(Slow::Handler {
            at: slow,
            resume,
            insn: k,
        });
        self.known_flags = recorded;
        self.host_flags = None;
    }

    /// What inc/dec do before recording their lazy flags: the current CF into `Flags::bits`
    /// (`interp::alu::keep_cf`). May call a helper: only rbx survives.
    fn keep_cf(&mut self) {
        let bits = self.m(self.l.flags_bits, 8);
        match self.known_flags {
            Some((Lazy::Logic, _)) => self.a.and(bits, !(crate::flags::CF as i64)),
            _ => {
                let below = self.condition(2);
                self.a.setcc(below, Reg::from_num(RAX, Size::Byte));
                self.a.movzx(d(RAX), Reg::from_num(RAX, Size::Byte));
                self.a.and(bits, !(crate::flags::CF as i64));
                self.a.or(bits, q(RAX));
            }
        }
    }

    fn insn(&mut self, k: usize, p: Plan, flags_live: bool) {
        let i = self.block.insns[k];
        match p {
            Plan::Nop => {}
            Plan::Mov => {
                let size = i.size[0];
                match i.op[0] {
                    Opnd::Gpr(r) => {
                        // A load arrives in rax; anything else goes through rcx.
                        let tmp = if i.op[1] == Opnd::Mem { RAX } else { RCX };
                        self.read_operand(&i, 1, tmp, k);
                        self.write_gpr(r, size, tmp);
                    }
                    _ => {
                        self.read_operand(&i, 1, RCX, k);
                        self.ea(&i.mem, true);
                        self.store(size, k);
                    }
                }
            }
            Plan::Movx { signed } => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                let (ds, ss) = (i.size[0], i.size[1]);
                self.read_operand(&i, 1, RCX, k);
                if signed {
                    match ss {
                        1 => self.a.movsx(q(RCX), Reg::from_num(RCX, Size::Byte)),
                        2 => self.a.movsx(q(RCX), Reg::from_num(RCX, Size::Word)),
                        _ => self.a.movsxd(q(RCX), d(RCX)),
                    }
                    if ds == 4 {
                        self.a.mov(d(RCX), d(RCX));
                    }
                }
                self.write_gpr(r, ds, RCX);
            }
            Plan::Lea => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                self.ea(&i.mem, false);
                if i.size[0] == 4 {
                    self.a.mov(d(RBX), d(RBX));
                }
                self.write_gpr(r, i.size[0], RBX);
            }
            Plan::Alu(kind) => self.alu(k, &i, kind, flags_live),
            Plan::AluToMem(kind) => self.alu_to_mem(k, &i, kind),
            Plan::Rmw(op) => self.rmw(k, &i, op, flags_live),
            Plan::Unary(mn) => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                let size = i.size[0];
                self.read_operand(&i, 0, RAX, k);
                let ra = Reg::from_num(RAX, size_of(size));
                match mn {
                    M::Not => self.a.not(ra),
                    M::Inc => self.a.inc(ra),
                    M::Dec => self.a.dec(ra),
                    M::Bswap => self.a.bswap(ra),
                    _ => {
                        // neg: the lazy flags of 0 - x.
                        self.a.mov(q(RCX), q(RAX));
                        self.a.neg(ra);
                        if flags_live {
                            self.a.xor(d(RDX), d(RDX));
                            self.store_flags(Lazy::Sub, size, RDX, RCX, RAX);
                            self.known_flags = Some((Lazy::Sub, size));
                        } else {
                            self.known_flags = None;
                        }
                    }
                }
                if size < 4 {
                    // 8- and 16-bit results: only the low part is written back.
                } else if size == 4 {
                    self.a.mov(d(RAX), d(RAX));
                }
                self.write_gpr(r, size, RAX);
                if matches!(mn, M::Inc | M::Dec) {
                    self.known_flags = None;
                }
            }
            Plan::Shift(mn) => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                let size = i.size[0];
                self.read_operand(&i, 0, RAX, k);
                let ra = Reg::from_num(RAX, size_of(size));
                let count: jitkit_x86::Operand = match i.op[1] {
                    Opnd::Imm(v) => jitkit_x86::Operand::Imm((v & 0xff) as i64),
                    _ => {
                        self.a.mov(q(RCX), self.gpr_mem(crate::cpu::RCX as u8, 8));
                        Reg::from_num(RCX, Size::Byte).into()
                    }
                };
                match mn {
                    M::Shl => self.a.shl(ra, count),
                    M::Shr => self.a.shr(ra, count),
                    M::Sar => self.a.sar(ra, count),
                    M::Rol => self.a.rol(ra, count),
                    _ => self.a.ror(ra, count),
                }
                if size == 4 {
                    self.a.mov(d(RAX), d(RAX));
                }
                self.write_gpr(r, size, RAX);
                self.known_flags = None;
            }
            Plan::Imul => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                let size = i.size[0];
                let ra = Reg::from_num(RAX, size_of(size));
                let rc = Reg::from_num(RCX, size_of(size));
                match i.op[2] {
                    Opnd::Imm(v) => {
                        self.read_operand(&i, 1, RCX, k);
                        let v = crate::flags::sext(v, size);
                        if v >= i64::from(i32::MIN) && v <= i64::from(i32::MAX) {
                            self.a.imul3(ra, rc, v as i32);
                        } else {
                            self.a.movabs(q(RDX), v);
                            self.a.mov(q(RAX), q(RCX));
                            self.a.imul(ra, Reg::from_num(RDX, size_of(size)));
                        }
                    }
                    _ => {
                        self.read_operand(&i, 1, RCX, k);
                        self.read_operand(&i, 0, RAX, k);
                        self.a.imul(ra, rc);
                    }
                }
                if size == 4 {
                    self.a.mov(d(RAX), d(RAX));
                }
                self.write_gpr(r, size, RAX);
                self.known_flags = None;
            }
            Plan::Setcc => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                let cond = self.condition(i.cc);
                self.a.setcc(cond, Reg::from_num(RCX, Size::Byte));
                self.a
                    .mov(self.gpr_mem(r, 1), Reg::from_num(RCX, Size::Byte));
            }
            Plan::Cmovcc => {
                let (Opnd::Gpr(r), Opnd::Gpr(src)) = (i.op[0], i.op[1]) else {
                    return;
                };
                let size = i.size[0];
                let cond = self.condition(i.cc);
                // movs only: the host flags stay those of the condition.
                self.a.mov(q(RDX), self.gpr_mem(r, 8));
                self.a.mov(q(RCX), self.gpr_mem(src, 8));
                self.a.cmovcc(
                    cond,
                    Reg::from_num(RDX, size_of(size)),
                    Reg::from_num(RCX, size_of(size)),
                );
                self.write_gpr(r, size, RDX);
            }
            Plan::Push => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                self.a.mov(q(RCX), self.gpr_mem(r, 8));
                self.a.mov(q(RBX), self.gpr_mem(crate::cpu::RSP as u8, 8));
                self.a.sub(q(RBX), 8);
                self.store(8, k);
                self.a.mov(self.gpr_mem(crate::cpu::RSP as u8, 8), q(RBX));
            }
            Plan::Pop => {
                let Opnd::Gpr(r) = i.op[0] else { return };
                self.a.mov(q(RBX), self.gpr_mem(crate::cpu::RSP as u8, 8));
                self.load(8, k);
                self.a.add(q(RBX), 8);
                self.a.mov(self.gpr_mem(crate::cpu::RSP as u8, 8), q(RBX));
                self.a.mov(self.gpr_mem(r, 8), q(RAX));
            }
            Plan::CallRel(target) => {
                self.imm(RCX, i.next_rip);
                self.a.mov(q(RBX), self.gpr_mem(crate::cpu::RSP as u8, 8));
                self.a.sub(q(RBX), 8);
                self.store(8, k);
                self.a.mov(self.gpr_mem(crate::cpu::RSP as u8, 8), q(RBX));
                self.direct_exit(target);
            }
            Plan::Ret => {
                self.a.mov(q(RBX), self.gpr_mem(crate::cpu::RSP as u8, 8));
                self.load(8, k);
                self.a.add(q(RBX), 8);
                self.a.mov(self.gpr_mem(crate::cpu::RSP as u8, 8), q(RBX));
                self.a.mov(self.m(self.l.rip, 8), q(RAX));
                self.dynamic_exit();
            }
            Plan::JmpRel(target) => self.direct_exit(target),
            Plan::Jcc(target) => {
                let taken = self.a.new_label();
                self.branch_on(i.cc, taken);
                self.direct_exit(i.next_rip);
                self.a.bind(taken);
                self.direct_exit(target);
            }
            Plan::Helper => {
                self.call_helper(k, &i);
                if k + 1 == self.block.insns.len() {
                    // The handler set RIP (a branch, a syscall, or the next instruction).
                    self.a.mov(q(RAX), self.m(self.l.rip, 8));
                    self.dynamic_exit();
                }
            }
        }
    }

    fn slow_paths(&mut self) {
        let slow = std::mem::take(&mut self.slow);
        for s in slow {
            match s {
                Slow::Misaligned {
                    at,
                    back,
                    size,
                    slow,
                } => {
                    self.a.bind(at);
                    self.a.mov(d(RAX), d(RBX));
                    self.a.and(d(RAX), (PAGE - 1) as i64);
                    self.a.cmp(d(RAX), (PAGE - u64::from(size)) as i64);
                    self.a.jcc(Cond::A, slow);
                    self.a.jmp(back);
                }
                Slow::Load {
                    at,
                    resume,
                    size,
                    insn,
                } => {
                    self.a.bind(at);
                    // mem_read returns the value in rax and a fault flag in rdx.
                    self.call_mem_helper(self.addrs.mem_read, size, q(RDX), insn, resume);
                }
                Slow::Handler { at, resume, insn } => {
                    self.a.bind(at);
                    let i = self.block.insns[insn];
                    self.run_handler(insn, &i);
                    self.a.jmp(resume);
                }
                Slow::Store {
                    at,
                    resume,
                    size,
                    insn,
                } => {
                    self.a.bind(at);
                    self.a.mov(q(R8), q(RCX)); // the value, fifth argument
                                               // mem_write returns a fault flag in eax.
                    self.call_mem_helper(self.addrs.mem_write, size, d(RAX), insn, resume);
                }
            }
        }
        let n = self.block.insns.len();
        for k in 0..n {
            let Some(l) = self.fault[k] else { continue };
            self.a.bind(l);
            let addr = self.block.insns[k].addr();
            self.imm(RAX, addr);
            self.a.mov(
                Mem::base_disp(q(R12), self.l.ctx_stop_rip).sized(Size::Qword),
                q(RAX),
            );
            let not_run = (n - k - 1) as i64;
            if not_run > 0 {
                self.a.sub(q(RBP), not_run);
            }
            self.a.mov(d(RAX), 1);
            self.a
                .jmp(Mem::base_disp(q(R12), self.l.ctx_exit).sized(Size::Qword));
        }
        let exits = self.targets.clone();
        for (idx, (target, stub)) in exits.into_iter().enumerate() {
            self.a.bind(stub);
            if let Some((lazy, size)) = self.elided {
                self.known_flags = None;
                self.store_flags(lazy, size, RAX, RCX, RDX);
            }
            self.store_imm64(self.m(self.l.rip, 8), target);
            // The exit's identity tells the dispatcher which slot to link.
            self.a.mov(
                Mem::base_disp(q(R12), self.l.ctx_exit_slot).sized(Size::Qword),
                (self.addrs.exit_id_base + idx as u64 + 1) as i64,
            );
            self.a.xor(d(RAX), d(RAX));
            self.a
                .jmp(Mem::base_disp(q(R12), self.l.ctx_exit).sized(Size::Qword));
        }
        self.a.bind(self.continue_exit);
        self.a.xor(d(RAX), d(RAX));
        self.a
            .jmp(Mem::base_disp(q(R12), self.l.ctx_exit).sized(Size::Qword));
    }
}

/// For a block ending `alu; jcc` (both translated inline), the jcc's two successors
/// (fall-through, target).
pub fn alu_jcc_tail(block: &Block) -> Option<(u64, u64)> {
    let n = block.insns.len();
    if n < 2 {
        return None;
    }
    match (plan(&block.insns[n - 2]), plan(&block.insns[n - 1])) {
        (Plan::Alu(_), Plan::Jcc(target)) => Some((block.insns[n - 1].next_rip, target)),
        _ => None,
    }
}

/// Whether code starting with `insns` overwrites every arithmetic flag before anything can
/// read or observe them (a flag reader, an instruction that may stop, or the end of the
/// block all count as reading).
pub fn kills_flags(insns: &[Insn]) -> bool {
    for i in insns {
        let p = plan(i);
        if reads_flags(p) || may_stop(p, i) || needs_dead_flags(p) {
            return false;
        }
        if matches!(p, Plan::Alu(_) | Plan::Unary(M::Neg)) {
            return true;
        }
    }
    false
}

/// How many of the block's instructions run inline (the rest call the interpreter).
pub fn inline_count(block: &Block) -> usize {
    block
        .insns
        .iter()
        .filter(|i| !matches!(plan(i), Plan::Helper))
        .count()
}

/// Translates `block`. Returns the code and the initial value of each chain slot (an offset
/// into the code).
pub fn translate(
    block: &Block,
    layout: &Layout,
    addrs: &Addrs,
    successors_kill_flags: bool,
) -> Result<(Vec<u8>, ExitStubs), jitkit_x86::EncodeError> {
    let n = block.insns.len();
    let mut plans: Vec<Plan> = block.insns.iter().map(plan).collect();
    // Flag liveness, backwards: the block's successors may read the flags; an instruction
    // that may stop makes them observable (a signal handler sees them).
    let mut live_after = vec![true; n];
    let mut live = true;
    for k in (0..n).rev() {
        live_after[k] = live;
        let i = &block.insns[k];
        if needs_dead_flags(plans[k]) && live {
            plans[k] = Plan::Helper;
        }
        let p = plans[k];
        live = match p {
            _ if reads_flags(p) || may_stop(p, i) => true,
            Plan::Alu(_) | Plan::Unary(M::Neg) => false,
            _ if needs_dead_flags(p) => false,
            _ => live,
        };
    }
    let elide = successors_kill_flags && alu_jcc_tail(block).is_some();
    let mut elided = None;
    if elide {
        if let Plan::Alu(kind) = plans[n - 2] {
            live_after[n - 2] = false;
            elided = Some((kind.lazy(), block.insns[n - 2].size[0]));
        }
    }
    let mut a = Assembler::with_capacity(64 * n + 64);
    let continue_exit = a.new_label();
    let mut e = Emitter {
        a,
        l: layout,
        addrs,
        block,
        slow: Vec::new(),
        fault: vec![None; n],
        targets: Vec::new(),
        continue_exit,
        host_flags: None,
        known_flags: None,
        elided,
    };
    e.a.add(q(RBP), n as i64);
    let mut ended = false;
    for k in 0..n {
        let p = plans[k];
        // Only adjacent instructions keep the host flags: anything emitted in between may
        // change them (an address computation, a memory check).
        if !matches!(p, Plan::Jcc(_) | Plan::Setcc | Plan::Cmovcc) {
            e.host_flags = None;
        }
        e.insn(k, p, live_after[k]);
        ended = matches!(
            p,
            Plan::Jcc(_) | Plan::JmpRel(_) | Plan::CallRel(_) | Plan::Ret
        ) || (matches!(p, Plan::Helper) && k + 1 == n);
    }
    if !ended {
        let next = block.insns[n - 1].next_rip;
        e.direct_exit(next);
    }
    e.slow_paths();
    let stubs = e.targets.clone();
    let code = e.a.finish()?;
    let stubs = stubs
        .iter()
        .map(|(_, l)| code.label_offset(*l).unwrap_or(0))
        .collect();
    Ok((code.into_bytes(), stubs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_registers_are_distinct_from_the_context_registers() {
        for r in [RAX, RCX, RDX, RBX, RSI, RDI, R8] {
            assert!(![R12, R13, R14, R15].contains(&r));
        }
    }
}
