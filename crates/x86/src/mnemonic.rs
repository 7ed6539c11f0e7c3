//! Mnemonics chosen at run time: the names GNU as accepts, mapped to the encoder families, and
//! the dispatch from a mnemonic and an operand list to the encoder (what the text assembler
//! and the differential tests use).

use crate::assembler::Assembler;
use crate::error::EncodeError;
use crate::insns::{AluOp, BitOp, ShiftOp, UnaryOp, FIXED};
use crate::operand::{Cond, Operand};

/// An instruction family with everything but the operands decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mnemonic {
    Alu(AluOp),
    Shift(ShiftOp),
    Unary(UnaryOp),
    Bit(BitOp),
    Mov,
    Movabs,
    Movzx,
    Movsx,
    Movsxd,
    Lea,
    Xchg,
    Test,
    /// One, two or three operands.
    Imul,
    Bswap,
    Push,
    Pop,
    Jcc(Cond),
    Jmp,
    Call,
    /// `ret` or `ret imm16`.
    Ret,
    Setcc(Cond),
    Cmovcc(Cond),
    Int,
    /// `nop` or `nop r/m`.
    Nop,
    /// An operand-less instruction: index into the table of fixed encodings.
    Fixed(u8),
    /// An SSE/SSE2 instruction: index into the SSE table (`movsd` without operands is the
    /// string move).
    Sse(u8),
}

impl Mnemonic {
    /// Looks up a mnemonic by its (lower-case) Intel-syntax name.
    pub fn from_name(name: &str) -> Option<Mnemonic> {
        use Mnemonic::*;
        Some(match name {
            "mov" => Mov,
            "movabs" => Movabs,
            "movzx" => Movzx,
            "movsx" => Movsx,
            "movsxd" => Movsxd,
            "lea" => Lea,
            "xchg" => Xchg,
            "test" => Test,
            "imul" => Imul,
            "bswap" => Bswap,
            "push" => Push,
            "pop" => Pop,
            "jmp" => Jmp,
            "call" => Call,
            "ret" => Ret,
            "int" => Int,
            "nop" => Nop,
            "sal" => Shift(ShiftOp::Shl),
            _ => {
                if let Some(op) = AluOp::ALL.iter().find(|o| o.name() == name) {
                    return Some(Alu(*op));
                }
                if let Some(op) = ShiftOp::ALL.iter().find(|o| o.name() == name) {
                    return Some(Shift(*op));
                }
                if let Some(op) = UnaryOp::ALL.iter().find(|o| o.name() == name) {
                    return Some(Unary(*op));
                }
                if let Some(op) = BitOp::ALL.iter().find(|o| o.name() == name) {
                    return Some(Bit(*op));
                }
                if let Some(i) = FIXED.iter().position(|(n, _)| *n == name) {
                    return Some(Fixed(i as u8));
                }
                if let Some((i, _)) = crate::sse::by_name(name) {
                    return Some(Sse(i));
                }
                if let Some(cc) = name.strip_prefix("set").and_then(Cond::from_suffix) {
                    return Some(Setcc(cc));
                }
                if let Some(cc) = name.strip_prefix("cmov").and_then(Cond::from_suffix) {
                    return Some(Cmovcc(cc));
                }
                if let Some(cc) = name.strip_prefix('j').and_then(Cond::from_suffix) {
                    return Some(Jcc(cc));
                }
                return None;
            }
        })
    }

    /// Whether a `lock` prefix is allowed (with a memory destination).
    pub fn lockable(self) -> bool {
        match self {
            Mnemonic::Alu(op) => op != AluOp::Cmp,
            Mnemonic::Unary(op) => matches!(
                op,
                UnaryOp::Not | UnaryOp::Neg | UnaryOp::Inc | UnaryOp::Dec
            ),
            Mnemonic::Bit(op) => op != BitOp::Bt,
            Mnemonic::Xchg => true,
            _ => false,
        }
    }
}

fn count_error(insn: &'static str) -> EncodeError {
    EncodeError::InvalidOperands {
        insn,
        why: "wrong number of operands",
    }
}

fn name_of(m: Mnemonic) -> &'static str {
    match m {
        Mnemonic::Alu(op) => op.name(),
        Mnemonic::Shift(op) => op.name(),
        Mnemonic::Unary(op) => op.name(),
        Mnemonic::Bit(op) => op.name(),
        Mnemonic::Mov => "mov",
        Mnemonic::Movabs => "movabs",
        Mnemonic::Movzx => "movzx",
        Mnemonic::Movsx => "movsx",
        Mnemonic::Movsxd => "movsxd",
        Mnemonic::Lea => "lea",
        Mnemonic::Xchg => "xchg",
        Mnemonic::Test => "test",
        Mnemonic::Imul => "imul",
        Mnemonic::Bswap => "bswap",
        Mnemonic::Push => "push",
        Mnemonic::Pop => "pop",
        Mnemonic::Jcc(_) => "jcc",
        Mnemonic::Jmp => "jmp",
        Mnemonic::Call => "call",
        Mnemonic::Ret => "ret",
        Mnemonic::Setcc(_) => "setcc",
        Mnemonic::Cmovcc(_) => "cmovcc",
        Mnemonic::Int => "int",
        Mnemonic::Nop => "nop",
        Mnemonic::Fixed(i) => FIXED[i as usize].0,
        Mnemonic::Sse(i) => crate::sse::table::ALL[i as usize].name,
    }
}

/// Encodes `m` with `ops`.
pub(crate) fn emit(a: &mut Assembler, m: Mnemonic, ops: &[Operand]) -> Result<(), EncodeError> {
    use Mnemonic::*;
    let insn = name_of(m);
    match (m, ops) {
        (Alu(op), [d, s]) => a.enc_alu(op, *d, *s),
        (Shift(op), [d, s]) => a.enc_shift(op, *d, *s),
        (Shift(op), [d]) => a.enc_shift(op, *d, Operand::Imm(1)),
        (Unary(UnaryOp::Imul), [_, ..]) | (Imul, [_]) => match ops {
            [o] => a.enc_unary(UnaryOp::Imul, *o),
            [d, s] => a.enc_imul(*d, *s, None),
            [d, s, i] => a.enc_imul(*d, *s, Some(*i)),
            _ => Err(count_error(insn)),
        },
        (Imul, [d, s]) => a.enc_imul(*d, *s, None),
        (Imul, [d, s, i]) => a.enc_imul(*d, *s, Some(*i)),
        (Unary(op), [o]) => a.enc_unary(op, *o),
        (Bit(op), [d, s]) => a.enc_bit(op, *d, *s),
        (Mov, [d, s]) => a.enc_mov(*d, *s),
        (Movabs, [d, s]) => a.enc_movabs(*d, *s),
        (Movzx, [d, s]) => a.enc_movx(false, *d, *s),
        (Movsx, [d, s]) => a.enc_movx(true, *d, *s),
        (Movsxd, [d, s]) => a.enc_movsxd(*d, *s),
        (Lea, [d, s]) => a.enc_lea(*d, *s),
        (Xchg, [d, s]) => a.enc_xchg(*d, *s),
        (Test, [d, s]) => a.enc_test(*d, *s),
        (Bswap, [o]) => a.enc_bswap(*o),
        (Push, [o]) => a.enc_push(*o),
        (Pop, [o]) => a.enc_pop(*o),
        (Jcc(cc), [t]) => a.enc_jcc(cc, *t),
        (Jmp, [t]) => a.enc_jmp(*t),
        (Call, [t]) => a.enc_call(*t),
        (Ret, []) => {
            a.ret();
            Ok(())
        }
        (Ret, [n]) => a.enc_ret_imm(*n),
        (Setcc(cc), [d]) => a.enc_setcc(cc, *d),
        (Cmovcc(cc), [d, s]) => a.enc_cmovcc(cc, *d, *s),
        (Int, [n]) => a.enc_int(*n),
        (Nop, []) => {
            a.nop();
            Ok(())
        }
        (Nop, [o]) => a.enc_nop_rm(*o),
        (Fixed(i), []) => {
            a.bytes_raw(FIXED[i as usize].1);
            Ok(())
        }
        (Sse(i), [d, s]) => a.enc_sse(crate::sse::table::ALL[i as usize], *d, *s, None),
        (Sse(i), [d, s, n]) => a.enc_sse(crate::sse::table::ALL[i as usize], *d, *s, Some(*n)),
        (Sse(_), []) if insn == "movsd" => {
            a.movsd_string();
            Ok(())
        }
        _ => Err(count_error(insn)),
    }
}
