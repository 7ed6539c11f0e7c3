//! The typed builder methods JIT authors call: one per mnemonic, named as in Intel syntax
//! (`mov`, `add`, `jcc`, ...; `and`/`or`/`xor`/`not` are `and_`, `or_`, `xor_`, `not_` only where
//! Rust would otherwise reject the name — here they are all plain). Operands are anything that
//! converts into [`Operand`]: registers, [`Mem`](crate::Mem), integers, labels and symbols.
//! Errors are recorded and returned by [`Assembler::finish`].

use crate::assembler::Assembler;
use crate::insns::{AluOp, BitOp, ShiftOp, UnaryOp, FIXED};
use crate::operand::{Cond, Label, Operand, Target};
use crate::reg::{Reg, Size};

macro_rules! two {
    ($($(#[$doc:meta])* $name:ident => $body:expr;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(&mut self, dst: impl Into<Operand>, src: impl Into<Operand>) {
            #[allow(clippy::redundant_closure_call)]
            let r = ($body)(self, dst.into(), src.into());
            self.record(r);
        }
    )*};
}

macro_rules! one {
    ($($(#[$doc:meta])* $name:ident => $body:expr;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(&mut self, op: impl Into<Operand>) {
            #[allow(clippy::redundant_closure_call)]
            let r = ($body)(self, op.into());
            self.record(r);
        }
    )*};
}

macro_rules! fixed {
    ($($(#[$doc:meta])* $name:ident = [$($b:expr),*];)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(&mut self) {
            self.flush(&crate::encode::fixed_bytes(&[$($b),*]));
        }
    )*};
}

impl Assembler {
    two! {
        /// `mov dst, src` (register, memory, immediate, `OFFSET label`).
        mov => |a: &mut Assembler, d, s| a.enc_mov(d, s);
        /// `movabs r64, imm64`: always the 10-byte form.
        movabs => |a: &mut Assembler, d, s| a.enc_movabs(d, s);
        /// `movzx r, r/m8` or `r/m16`.
        movzx => |a: &mut Assembler, d, s| a.enc_movx(false, d, s);
        /// `movsx r, r/m8` or `r/m16` (and `r64, r/m32`, which is `movsxd`).
        movsx => |a: &mut Assembler, d, s| a.enc_movx(true, d, s);
        /// `movsxd r64, r/m32`.
        movsxd => |a: &mut Assembler, d, s| a.enc_movsxd(d, s);
        /// `lea r, m`.
        lea => |a: &mut Assembler, d, s| a.enc_lea(d, s);
        /// `xchg a, b`.
        xchg => |a: &mut Assembler, d, s| a.enc_xchg(d, s);
        add => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Add, d, s);
        or => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Or, d, s);
        adc => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Adc, d, s);
        sbb => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Sbb, d, s);
        and => |a: &mut Assembler, d, s| a.enc_alu(AluOp::And, d, s);
        sub => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Sub, d, s);
        xor => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Xor, d, s);
        cmp => |a: &mut Assembler, d, s| a.enc_alu(AluOp::Cmp, d, s);
        test => |a: &mut Assembler, d, s| a.enc_test(d, s);
        /// `rol dst, count` where count is an immediate or `CL`.
        rol => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Rol, d, s);
        ror => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Ror, d, s);
        rcl => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Rcl, d, s);
        rcr => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Rcr, d, s);
        shl => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Shl, d, s);
        sal => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Shl, d, s);
        shr => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Shr, d, s);
        sar => |a: &mut Assembler, d, s| a.enc_shift(ShiftOp::Sar, d, s);
        /// `imul r, r/m` (or `imul r, imm`).
        imul => |a: &mut Assembler, d, s| a.enc_imul(d, s, None);
        bt => |a: &mut Assembler, d, s| a.enc_bit(BitOp::Bt, d, s);
        bts => |a: &mut Assembler, d, s| a.enc_bit(BitOp::Bts, d, s);
        btr => |a: &mut Assembler, d, s| a.enc_bit(BitOp::Btr, d, s);
        btc => |a: &mut Assembler, d, s| a.enc_bit(BitOp::Btc, d, s);
    }

    one! {
        /// `not r/m`.
        not => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Not, o);
        neg => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Neg, o);
        /// `mul r/m`: rdx:rax = rax * r/m (unsigned).
        mul => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Mul, o);
        /// `imul r/m`, the one-operand form: rdx:rax = rax * r/m (signed).
        imul1 => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Imul, o);
        /// `div r/m`: rax = rdx:rax / r/m, rdx = remainder (unsigned).
        div => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Div, o);
        idiv => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Idiv, o);
        inc => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Inc, o);
        dec => |a: &mut Assembler, o| a.enc_unary(UnaryOp::Dec, o);
        /// `push r64/r16/imm/m`.
        push => |a: &mut Assembler, o| a.enc_push(o);
        pop => |a: &mut Assembler, o| a.enc_pop(o);
        bswap => |a: &mut Assembler, o| a.enc_bswap(o);
        /// `jmp label` (short when in range), `jmp symbol`, `jmp r64`, `jmp m64`.
        jmp => |a: &mut Assembler, o| a.enc_jmp(o);
        /// `call label`, `call symbol` (rel32, relocated), `call r64`, `call m64`.
        call => |a: &mut Assembler, o| a.enc_call(o);
        /// `ret imm16`.
        ret_imm => |a: &mut Assembler, o| a.enc_ret_imm(o);
        /// `int imm8`.
        int => |a: &mut Assembler, o| a.enc_int(o);
    }

    fixed! {
        ret = [0xC3];
        leave = [0xC9];
        cqo = [0x48, 0x99];
        cdq = [0x99];
        cwd = [0x66, 0x99];
        cdqe = [0x48, 0x98];
        cwde = [0x98];
        cbw = [0x66, 0x98];
        nop = [0x90];
        int3 = [0xCC];
        syscall = [0x0F, 0x05];
        hlt = [0xF4];
        ud2 = [0x0F, 0x0B];
        cpuid = [0x0F, 0xA2];
        rdtsc = [0x0F, 0x31];
        pause = [0xF3, 0x90];
        clc = [0xF8];
        stc = [0xF9];
        cmc = [0xF5];
        cld = [0xFC];
        std = [0xFD];
    }

    /// `imul dst, src, imm`.
    #[inline]
    pub fn imul3(&mut self, dst: impl Into<Operand>, src: impl Into<Operand>, imm: i32) {
        let r = self.enc_imul(dst.into(), src.into(), Some(Operand::Imm(imm as i64)));
        self.record(r);
    }

    /// `jcc target`: a conditional jump to a label (short when in range) or symbol.
    #[inline]
    pub fn jcc(&mut self, cc: Cond, target: impl Into<Operand>) {
        let r = self.enc_jcc(cc, target.into());
        self.record(r);
    }

    /// `setcc r/m8`.
    #[inline]
    pub fn setcc(&mut self, cc: Cond, dst: impl Into<Operand>) {
        let r = self.enc_setcc(cc, dst.into());
        self.record(r);
    }

    /// `cmovcc r, r/m`.
    #[inline]
    pub fn cmovcc(&mut self, cc: Cond, dst: impl Into<Operand>, src: impl Into<Operand>) {
        let r = self.enc_cmovcc(cc, dst.into(), src.into());
        self.record(r);
    }

    /// A NOP of `len` bytes (GNU as's multi-byte NOP patterns).
    pub fn nop_bytes(&mut self, len: usize) {
        crate::assembler::fill_padding(&mut self.buf, len, true);
    }

    /// `call` a host function at a fixed address. Written as `call rel32`; when the code is
    /// loaded ([`Code::load`](crate::Code::load)) the call goes straight to `addr` if it is
    /// within ±2 GiB, and through a stub (`jmp [rip+0]; .quad addr`) placed after the code
    /// otherwise. Caller's duties as for any System V call: 16-byte stack alignment at the call,
    /// arguments in rdi, rsi, rdx, rcx, r8, r9, and `al` = number of vector registers for
    /// variadic functions such as `printf`.
    pub fn call_abs(&mut self, addr: u64) {
        self.flush(&crate::encode::fixed_bytes(&[0xE8]));
        self.rel32_to_address(addr);
    }

    /// `movabs scratch, addr; call scratch`: an absolute call through a register (12-13 bytes),
    /// independent of where the code is loaded.
    pub fn call_indirect_abs(&mut self, scratch: Reg, addr: u64) {
        if scratch.size() != Size::Qword {
            self.record(Err(crate::EncodeError::BadSize {
                insn: "call",
                size: scratch.size(),
            }));
            return;
        }
        self.movabs(scratch, addr as i64);
        self.call(scratch);
    }

    /// `.quad target + addend` (an absolute 64-bit address, relocated at load time).
    pub fn quad_target(&mut self, target: impl Into<Target>, addend: i64) {
        self.ref64(target.into(), addend);
    }

    /// Emits an instruction chosen at run time (what the text assembler calls).
    pub fn emit(&mut self, m: crate::Mnemonic, ops: &[Operand]) -> Result<(), crate::EncodeError> {
        crate::mnemonic::emit(self, m, ops)
    }

    /// A label bound at the current position, for use as a jump target: see [`Label`].
    pub fn here(&mut self) -> Label {
        self.label_here()
    }
}

/// Every fixed (operand-less) encoding, by mnemonic.
pub fn fixed_encoding(name: &str) -> Option<&'static [u8]> {
    FIXED.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
