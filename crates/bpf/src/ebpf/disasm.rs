//! eBPF to text, in two syntaxes:
//! - [`Syntax::Ubpf`]: ubpf's and rbpf's assembler syntax, `ldxw r0, [r1+4]`, `jeq r1, 0x5, +2`
//!   (immediates in hex as ubpf's disassembler prints them, offsets in decimal);
//! - [`Syntax::Llvm`]: what `llvm-objdump -d` (LLVM 14) prints, `r0 = *(u32 *)(r1 + 4)`,
//!   `if w1 > 5 goto +2`. For the few instructions LLVM 14 cannot print (`%=`, `jset`, `st` with
//!   an immediate, 32-bit atomics other than add) we print the syntax later LLVM versions use.
//!
//! Both forms are read back by [`super::asm::assemble`].

use super::insn::{op, Insn};

/// Which text syntax to print or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Ubpf,
    Llvm,
}

/// One line per instruction (an `lddw` is one line for its two slots).
pub fn disassemble(prog: &[Insn], syntax: Syntax) -> Vec<String> {
    let mut out = Vec::new();
    let mut pc = 0;
    while pc < prog.len() {
        let i = prog[pc];
        let next = prog.get(pc + 1).copied();
        out.push(match syntax {
            Syntax::Ubpf => ubpf(i, next),
            Syntax::Llvm => llvm(i, next),
        });
        pc += if i.is_lddw() && next.is_some() { 2 } else { 1 };
    }
    out
}

/// The text of one instruction (`next` is the following slot, for `lddw`).
pub fn format_insn(i: Insn, next: Option<Insn>, syntax: Syntax) -> String {
    match syntax {
        Syntax::Ubpf => ubpf(i, next),
        Syntax::Llvm => llvm(i, next),
    }
}

fn size_suffix(i: Insn) -> &'static str {
    match i.code & 0x18 {
        op::W => "w",
        op::H => "h",
        op::B => "b",
        _ => "dw",
    }
}

fn alu_name(operation: u8) -> Option<&'static str> {
    Some(match operation {
        op::ADD => "add",
        op::SUB => "sub",
        op::MUL => "mul",
        op::DIV => "div",
        op::OR => "or",
        op::AND => "and",
        op::LSH => "lsh",
        op::RSH => "rsh",
        op::NEG => "neg",
        op::MOD => "mod",
        op::XOR => "xor",
        op::MOV => "mov",
        op::ARSH => "arsh",
        _ => return None,
    })
}

pub(crate) fn jump_name(operation: u8) -> Option<&'static str> {
    Some(match operation {
        op::JEQ => "jeq",
        op::JGT => "jgt",
        op::JGE => "jge",
        op::JSET => "jset",
        op::JNE => "jne",
        op::JSGT => "jsgt",
        op::JSGE => "jsge",
        op::JLT => "jlt",
        op::JLE => "jle",
        op::JSLT => "jslt",
        op::JSLE => "jsle",
        _ => return None,
    })
}

pub(crate) fn atomic_name(imm: i32) -> Option<&'static str> {
    Some(match imm {
        op::ATOMIC_ADD => "add",
        op::ATOMIC_OR => "or",
        op::ATOMIC_AND => "and",
        op::ATOMIC_XOR => "xor",
        0x01 => "fetch_add",
        0x41 => "fetch_or",
        0x51 => "fetch_and",
        0xa1 => "fetch_xor",
        op::XCHG => "xchg",
        op::CMPXCHG => "cmpxchg",
        _ => return None,
    })
}

/// `%#x` of a signed value, as ubpf prints it: `0x5`, `-0x5`.
fn hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

fn signed_off(off: i16) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

fn mem(base: u8, off: i16) -> String {
    format!("[r{base}{}]", signed_off(off))
}

fn lddw_value(i: Insn, next: Option<Insn>) -> Option<u64> {
    next.map(|n| (i.imm as u32 as u64) | ((n.imm as u32 as u64) << 32))
}

fn ubpf(i: Insn, next: Option<Insn>) -> String {
    let unknown = || {
        format!(
            ".insn {:#04x}, r{}, r{}, {}, {}",
            i.code, i.dst, i.src, i.off, i.imm
        )
    };
    let class = i.class();
    match class {
        op::ALU | op::ALU64 => {
            let suffix = if class == op::ALU { "32" } else { "" };
            if i.op() == op::END {
                if class != op::ALU {
                    return unknown();
                }
                let name = if i.uses_src_reg() { "be" } else { "le" };
                return format!("{name}{} r{}", i.imm, i.dst);
            }
            let Some(name) = alu_name(i.op()) else {
                return unknown();
            };
            if i.op() == op::NEG {
                return format!("{name}{suffix} r{}", i.dst);
            }
            if i.uses_src_reg() {
                format!("{name}{suffix} r{}, r{}", i.dst, i.src)
            } else {
                format!("{name}{suffix} r{}, {}", i.dst, hex(i.imm as i64))
            }
        }
        op::JMP | op::JMP32 => {
            let suffix = if class == op::JMP32 { "32" } else { "" };
            match i.op() {
                op::JA if class == op::JMP => format!("ja {}", signed_off(i.off)),
                op::CALL if class == op::JMP => format!("call {}", hex(i.imm as i64)),
                op::EXIT if class == op::JMP => "exit".to_string(),
                operation => match jump_name(operation) {
                    Some(name) if i.uses_src_reg() => format!(
                        "{name}{suffix} r{}, r{}, {}",
                        i.dst,
                        i.src,
                        signed_off(i.off)
                    ),
                    Some(name) => format!(
                        "{name}{suffix} r{}, {}, {}",
                        i.dst,
                        hex(i.imm as i64),
                        signed_off(i.off)
                    ),
                    None => unknown(),
                },
            }
        }
        op::LD => match i.code & 0xe0 {
            op::IMM if i.is_lddw() && i.src == 0 => match lddw_value(i, next) {
                Some(v) => format!("lddw r{}, {v:#x}", i.dst),
                None => unknown(),
            },
            op::ABS => format!("ldabs{} {}", size_suffix(i), hex(i.imm as i64)),
            op::IND => format!("ldind{} r{}, {}", size_suffix(i), i.src, hex(i.imm as i64)),
            _ => unknown(),
        },
        op::LDX if i.code & 0xe0 == op::MEM => {
            format!("ldx{} r{}, {}", size_suffix(i), i.dst, mem(i.src, i.off))
        }
        op::ST if i.code & 0xe0 == op::MEM => {
            format!(
                "st{} {}, {}",
                size_suffix(i),
                mem(i.dst, i.off),
                hex(i.imm as i64)
            )
        }
        op::STX if i.code & 0xe0 == op::MEM => {
            format!("stx{} {}, r{}", size_suffix(i), mem(i.dst, i.off), i.src)
        }
        op::STX if i.code & 0xe0 == op::ATOMIC && i.mem_size() >= 4 => match atomic_name(i.imm) {
            // rbpf's name for the classic atomic add.
            Some("add") => format!(
                "stxxadd{} {}, r{}",
                size_suffix(i),
                mem(i.dst, i.off),
                i.src
            ),
            Some(name) => format!(
                "atomic_{name}{} {}, r{}",
                size_suffix(i),
                mem(i.dst, i.off),
                i.src
            ),
            None => unknown(),
        },
        _ => unknown(),
    }
}

fn llvm_op(operation: u8) -> Option<&'static str> {
    Some(match operation {
        op::ADD => "+=",
        op::SUB => "-=",
        op::MUL => "*=",
        op::DIV => "/=",
        op::OR => "|=",
        op::AND => "&=",
        op::LSH => "<<=",
        op::RSH => ">>=",
        op::MOD => "%=",
        op::XOR => "^=",
        op::MOV => "=",
        op::ARSH => "s>>=",
        _ => return None,
    })
}

pub(crate) fn llvm_cond(operation: u8) -> Option<&'static str> {
    Some(match operation {
        op::JEQ => "==",
        op::JGT => ">",
        op::JGE => ">=",
        op::JSET => "&",
        op::JNE => "!=",
        op::JSGT => "s>",
        op::JSGE => "s>=",
        op::JLT => "<",
        op::JLE => "<=",
        op::JSLT => "s<",
        op::JSLE => "s<=",
        _ => return None,
    })
}

fn llvm_size(i: Insn) -> &'static str {
    match i.code & 0x18 {
        op::W => "u32",
        op::H => "u16",
        op::B => "u8",
        _ => "u64",
    }
}

fn llvm_mem(i: Insn, base: u8) -> String {
    let sign = if i.off < 0 { '-' } else { '+' };
    format!("(r{base} {sign} {})", (i.off as i32).unsigned_abs())
}

fn llvm(i: Insn, next: Option<Insn>) -> String {
    let unknown = || "<unknown>".to_string();
    let class = i.class();
    match class {
        op::ALU | op::ALU64 => {
            let r = if class == op::ALU { 'w' } else { 'r' };
            if i.op() == op::END {
                if class != op::ALU {
                    return unknown();
                }
                let name = if i.uses_src_reg() { "be" } else { "le" };
                return format!("r{} = {name}{} r{}", i.dst, i.imm, i.dst);
            }
            if i.op() == op::NEG {
                if i.uses_src_reg() {
                    return unknown();
                }
                return format!("{r}{} = -{r}{}", i.dst, i.dst);
            }
            let Some(o) = llvm_op(i.op()) else {
                return unknown();
            };
            if i.uses_src_reg() {
                format!("{r}{} {o} {r}{}", i.dst, i.src)
            } else {
                format!("{r}{} {o} {}", i.dst, i.imm)
            }
        }
        op::JMP | op::JMP32 => {
            let r = if class == op::JMP32 { 'w' } else { 'r' };
            match i.op() {
                op::JA if class == op::JMP && !i.uses_src_reg() => {
                    format!("goto {}", signed_off(i.off))
                }
                op::CALL if class == op::JMP => format!("call {}", i.imm),
                op::EXIT if class == op::JMP => "exit".to_string(),
                operation => match llvm_cond(operation) {
                    Some(c) if i.uses_src_reg() => format!(
                        "if {r}{} {c} {r}{} goto {}",
                        i.dst,
                        i.src,
                        signed_off(i.off)
                    ),
                    Some(c) => format!("if {r}{} {c} {} goto {}", i.dst, i.imm, signed_off(i.off)),
                    None => unknown(),
                },
            }
        }
        op::LD => match i.code & 0xe0 {
            op::IMM if i.is_lddw() && i.src == 0 => match lddw_value(i, next) {
                Some(v) => format!("r{} = {} ll", i.dst, v as i64),
                None => unknown(),
            },
            op::ABS if i.mem_size() < 8 => format!("r0 = *({} *)skb[{}]", llvm_size(i), i.imm),
            op::IND if i.mem_size() < 8 => {
                if i.imm == 0 {
                    format!("r0 = *({} *)skb[r{}]", llvm_size(i), i.src)
                } else {
                    format!("r0 = *({} *)skb[r{} + {}]", llvm_size(i), i.src, i.imm)
                }
            }
            _ => unknown(),
        },
        op::LDX if i.code & 0xe0 == op::MEM => {
            format!("r{} = *({} *){}", i.dst, llvm_size(i), llvm_mem(i, i.src))
        }
        op::ST if i.code & 0xe0 == op::MEM => {
            format!("*({} *){} = {}", llvm_size(i), llvm_mem(i, i.dst), i.imm)
        }
        op::STX if i.code & 0xe0 == op::MEM => {
            format!("*({} *){} = r{}", llvm_size(i), llvm_mem(i, i.dst), i.src)
        }
        op::STX if i.code & 0xe0 == op::ATOMIC && i.mem_size() >= 4 => {
            let size = llvm_size(i);
            let m = llvm_mem(i, i.dst);
            let wide = i.mem_size() == 8;
            let r = if wide { 'r' } else { 'w' };
            let (s, d) = (i.src, i.dst);
            let sign = if i.off < 0 { '-' } else { '+' };
            let addr = format!("r{d} {sign} {}", (i.off as i32).unsigned_abs());
            let (xchg, cmpxchg) = if wide {
                ("xchg_64", "cmpxchg_64")
            } else {
                ("xchg32_32", "cmpxchg32_32")
            };
            match i.imm {
                // LLVM 14 prints the 32-bit add with an r register; so do we.
                op::ATOMIC_ADD => format!("lock *({size} *){m} += r{s}"),
                op::ATOMIC_OR => format!("lock *({size} *){m} |= {r}{s}"),
                op::ATOMIC_AND => format!("lock *({size} *){m} &= {r}{s}"),
                op::ATOMIC_XOR => format!("lock *({size} *){m} ^= {r}{s}"),
                op::XCHG => format!("{r}{s} = {xchg}({addr}, {r}{s})"),
                op::CMPXCHG => format!("{r}0 = {cmpxchg}({addr}, {r}0, {r}{s})"),
                x => match atomic_name(x) {
                    Some(name) => format!("{r}{s} = atomic_{name}(({size} *){m}, {r}{s})"),
                    None => unknown(),
                },
            }
        }
        _ => unknown(),
    }
}
