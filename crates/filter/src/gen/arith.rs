//! `proto[index:size]`, arithmetic, and relations (libpcap's gen_load, gen_arth, gen_relation).
//!
//! A relation compiles to one test: every load's protocol condition first (`tcp[0]` needs an
//! unfragmented IPv4 TCP packet), then straight-line code that computes both sides, then one
//! comparison. Intermediate values live in scratch memory `M[d]`, `d` being the nesting depth.
//!
//! libpcap allocates a scratch register per pending operand and fails with "too many registers"
//! beyond 16; it also rejects division, modulus and shifts whose right operand's *first
//! statement* loads the constant 0 (or > 31 for shifts) - which includes `ip[0]`, whose code
//! starts by loading the index 0. Both rules are reproduced so that the same expressions fail.

use jitkit_bpf::cbpf::{op, Insn};

use super::{err, Gen};
use crate::ast::{Arith, ArithOp, Proto, RelOp};
use crate::names::{ethertype::*, ipproto};
use crate::pred::{alu_k, ld_abs, ld_ind, ldx_msh, Pred};
use crate::CompileError;

/// BPF_MEMWORDS: libpcap's scratch registers.
const MAX_REGS: u32 = 16;

fn alu_code(o: ArithOp) -> u16 {
    match o {
        ArithOp::Add => op::ADD,
        ArithOp::Sub => op::SUB,
        ArithOp::Mul => op::MUL,
        ArithOp::Div => op::DIV,
        ArithOp::Mod => op::MOD,
        ArithOp::And => op::AND,
        ArithOp::Or => op::OR,
        ArithOp::Xor => op::XOR,
        ArithOp::Shl => op::LSH,
        ArithOp::Shr => op::RSH,
    }
}

/// Scratch registers libpcap holds at the peak while evaluating `a`.
fn peak_regs(a: &Arith) -> u32 {
    match a {
        Arith::Num(_) | Arith::Len => 1,
        Arith::Load { index, .. } => peak_regs(index).max(2),
        Arith::Binary(_, l, r, _) => peak_regs(l).max(1 + peak_regs(r)),
        Arith::Neg(x) => peak_regs(x),
    }
}

/// The constant the first statement of `a`'s code loads, if it starts with `ld #k`: the
/// leftmost leaf, when that leaf is a number.
fn first_constant(a: &Arith) -> Option<u32> {
    match a {
        Arith::Num(k) => Some(*k),
        Arith::Len => None,
        Arith::Load { index, .. } => first_constant(index),
        Arith::Binary(_, l, _, _) => first_constant(l),
        Arith::Neg(x) => first_constant(x),
    }
}

/// The value of `a` when it involves only numbers (folded as libpcap's optimizer folds them;
/// division by zero and shifts by 32 or more are left to run time).
fn const_value(a: &Arith) -> Option<u32> {
    match a {
        Arith::Num(k) => Some(*k),
        Arith::Neg(x) => const_value(x).map(u32::wrapping_neg),
        Arith::Binary(o, l, r, _) => {
            let (x, y) = (const_value(l)?, const_value(r)?);
            Some(match o {
                ArithOp::Add => x.wrapping_add(y),
                ArithOp::Sub => x.wrapping_sub(y),
                ArithOp::Mul => x.wrapping_mul(y),
                ArithOp::Div => x.checked_div(y)?,
                ArithOp::Mod => x.checked_rem(y)?,
                ArithOp::And => x & y,
                ArithOp::Or => x | y,
                ArithOp::Xor => x ^ y,
                ArithOp::Shl if y < 32 => x << y,
                ArithOp::Shr if y < 32 => x >> y,
                _ => return None,
            })
        }
        _ => None,
    }
}

impl Gen {
    /// `lhs op rhs`.
    pub fn relation(
        &mut self,
        rel: RelOp,
        lhs: &Arith,
        rhs: &Arith,
        offset: usize,
    ) -> Result<Pred, CompileError> {
        if peak_regs(lhs).max(1 + peak_regs(rhs)) > MAX_REGS {
            return Err(err(
                "too many registers needed to evaluate expression",
                offset,
            ));
        }
        let mut checks = Vec::new();
        self.checks(lhs, &mut checks)?;
        self.checks(rhs, &mut checks)?;
        let (jump, negate) = match rel {
            RelOp::Gt => (op::JGT, false),
            RelOp::Ge => (op::JGE, false),
            RelOp::Eq => (op::JEQ, false),
            RelOp::Le => (op::JGT, true),
            RelOp::Lt => (op::JGE, true),
            RelOp::Ne => (op::JEQ, true),
        };
        let folded_rhs = const_value(rhs).map(Arith::Num);
        let rhs = folded_rhs.as_ref().unwrap_or(rhs);
        let test = match (lhs, rhs) {
            // `x & m == 0` is `!(x jset m)`.
            (Arith::Binary(ArithOp::And, x, m, _), Arith::Num(0))
                if jump == op::JEQ && const_value(m).is_some() =>
            {
                let m = const_value(m).unwrap_or(0);
                let mut stmts = self.value(x, 0)?;
                stmts.push(crate::graph::VALUE_MARKER);
                let t = Pred::test(stmts, op::JSET, m);
                if negate {
                    t
                } else {
                    t.not()
                }
            }
            (_, Arith::Num(k)) => {
                let mut stmts = self.value(lhs, 0)?;
                stmts.push(crate::graph::VALUE_MARKER);
                let t = Pred::test(stmts, jump, *k);
                if negate {
                    t.not()
                } else {
                    t
                }
            }
            _ => {
                let mut stmts = self.value(lhs, 0)?;
                stmts.push(Insn::stmt(op::ST, 0));
                stmts.extend(self.value(rhs, 1)?);
                stmts.push(Insn::stmt(op::MISC | op::TAX, 0));
                stmts.push(Insn::stmt(op::LD | op::MEM, 0));
                let t = Pred::test(stmts, jump | op::X, 0);
                if negate {
                    t.not()
                } else {
                    t
                }
            }
        };
        checks.push(test);
        Ok(Pred::And(checks))
    }

    /// The protocol conditions of every load in `a`, in libpcap's order.
    fn checks(&mut self, a: &Arith, out: &mut Vec<Pred>) -> Result<(), CompileError> {
        match a {
            Arith::Num(_) | Arith::Len => {}
            Arith::Load {
                proto,
                index,
                offset,
                ..
            } => {
                self.checks(index, out)?;
                if let Some(c) = self.load_check(*proto, *offset)? {
                    out.push(c);
                }
            }
            Arith::Binary(o, l, r, off) => {
                match (o, first_constant(r)) {
                    (ArithOp::Div, Some(0)) => return Err(err("division by zero", *off)),
                    (ArithOp::Mod, Some(0)) => return Err(err("modulus by zero", *off)),
                    (ArithOp::Shl | ArithOp::Shr, Some(k)) if k > 31 => {
                        return Err(err("shift by more than 31 bits", *off))
                    }
                    _ => {}
                }
                // libpcap 1.10's gen_arth keeps only the left operand's protocol conditions:
                // in `2 + ip[8]` or `ip[8] + tcp[0]` the right side's are dropped (its loads
                // still run, and read whatever the packet holds there). The right side is still
                // walked for its errors. A relation keeps both of its sides' conditions.
                self.checks(l, out)?;
                self.checks(r, &mut Vec::new())?;
            }
            Arith::Neg(x) => self.checks(x, out)?,
        }
        Ok(())
    }

    /// What must hold before `proto[...]` may be read.
    fn load_check(&mut self, proto: Proto, offset: usize) -> Result<Option<Pred>, CompileError> {
        Ok(match proto {
            Proto::Link => None,
            Proto::Ip
            | Proto::Arp
            | Proto::Rarp
            | Proto::Atalk
            | Proto::Decnet
            | Proto::Sca
            | Proto::Lat
            | Proto::Moprc
            | Proto::Mopdl
            | Proto::Ip6 => Some(self.proto_abbrev(proto, offset)?),
            Proto::Sctp
            | Proto::Tcp
            | Proto::Udp
            | Proto::Icmp
            | Proto::Igmp
            | Proto::Igrp
            | Proto::Pim
            | Proto::Vrrp
            | Proto::Carp => {
                let p = transport_number(proto);
                let ip = Pred::and2(self.linktype(IP), Pred::cmp(1, self.nl() + 9, p));
                Some(Pred::and2(ip, self.ipfrag()))
            }
            Proto::Icmp6 => Some(Pred::and2(
                self.linktype(IPV6),
                Pred::cmp(1, self.nl() + 6, ipproto::ICMPV6),
            )),
            // `radio[...]` reads the radio header (from the start of the packet), unchecked.
            Proto::Radio if self.has_radio_header() => None,
            Proto::Radio => return Err(err("radio information not present in capture", offset)),
            _ => return Err(err("unsupported index operation", offset)),
        })
    }

    /// Code leaving the value of `a` in A; `depth` is the first free scratch cell.
    pub(super) fn value(&mut self, a: &Arith, depth: u32) -> Result<Vec<Insn>, CompileError> {
        Ok(match a {
            Arith::Num(k) => vec![Insn::stmt(op::LD | op::IMM, *k)],
            Arith::Len => vec![Insn::stmt(op::LD | op::W | op::LEN, 0)],
            Arith::Neg(x) => {
                let mut s = self.value(x, depth)?;
                s.push(Insn::stmt(op::ALU | op::NEG, 0));
                s
            }
            Arith::Binary(..) if const_value(a).is_some() => {
                vec![Insn::stmt(op::LD | op::IMM, const_value(a).unwrap_or(0))]
            }
            Arith::Binary(o, l, r, _) => {
                let mut s = self.value(l, depth)?;
                let k = const_value(r).filter(|&k| match o {
                    ArithOp::Div | ArithOp::Mod => k != 0,
                    ArithOp::Shl | ArithOp::Shr => k < 32,
                    _ => true,
                });
                if let Some(k) = k {
                    s.push(alu_k(alu_code(*o), k));
                } else {
                    s.push(Insn::stmt(op::ST, depth));
                    s.extend(self.value(r, depth + 1)?);
                    s.push(Insn::stmt(op::MISC | op::TAX, 0));
                    s.push(Insn::stmt(op::LD | op::MEM, depth));
                    s.push(Insn::stmt(op::ALU | alu_code(*o) | op::X, 0));
                }
                s
            }
            Arith::Load {
                proto, index, size, ..
            } => {
                let size = *size;
                let nl = self.nl();
                let transport = matches!(
                    proto,
                    Proto::Sctp
                        | Proto::Tcp
                        | Proto::Udp
                        | Proto::Icmp
                        | Proto::Igmp
                        | Proto::Igrp
                        | Proto::Pim
                        | Proto::Vrrp
                        | Proto::Carp
                );
                let base = match proto {
                    Proto::Radio => 0,
                    Proto::Link => self.off_linkhdr,
                    Proto::Icmp6 => nl + 40,
                    _ => nl,
                };
                match (index.as_ref(), transport) {
                    (Arith::Num(k), false) => vec![ld_abs(size, base.wrapping_add(*k))],
                    (Arith::Num(k), true) => vec![ldx_msh(nl), ld_ind(size, base.wrapping_add(*k))],
                    (_, false) => {
                        let mut s = self.value(index, depth)?;
                        s.push(Insn::stmt(op::MISC | op::TAX, 0));
                        s.push(ld_ind(size, base));
                        s
                    }
                    (_, true) => {
                        let mut s = self.value(index, depth)?;
                        s.push(Insn::stmt(op::ST, depth));
                        s.push(ldx_msh(nl));
                        s.push(Insn::stmt(op::LD | op::MEM, depth));
                        s.push(Insn::stmt(op::ALU | op::ADD | op::X, 0));
                        s.push(Insn::stmt(op::MISC | op::TAX, 0));
                        s.push(ld_ind(size, base));
                        s
                    }
                }
            }
        })
    }
}

fn transport_number(p: Proto) -> u32 {
    match p {
        Proto::Sctp => ipproto::SCTP,
        Proto::Tcp => ipproto::TCP,
        Proto::Udp => ipproto::UDP,
        Proto::Icmp => ipproto::ICMP,
        Proto::Igmp => ipproto::IGMP,
        Proto::Igrp => ipproto::IGRP,
        Proto::Pim => ipproto::PIM,
        _ => ipproto::VRRP,
    }
}
