//! Text to eBPF. Reads both syntaxes of [`super::disasm`], line by line and mixed freely:
//! ubpf's (`ldxw r0, [r1+4]`, `jeq r1, 5, +2`, `add32 r1, r2`; `add` and `add64` are the same)
//! and LLVM's (`r0 = *(u32 *)(r1 + 4)`, `if w1 > 5 goto +2`), including whole `llvm-objdump -d`
//! listings (addresses, bytes and symbol lines are skipped).
//!
//! Extras: `name:` defines a label and a jump may name it instead of giving an offset; `#`, `;`
//! and `//` start comments. Integers are decimal or `0x` hex, optionally signed.

use super::disasm::{atomic_name, jump_name, llvm_cond};
use super::insn::{build, op, Insn};
use super::Error;
use std::collections::HashMap;

/// A jump whose offset waits for a label.
struct Fixup {
    slot: usize,
    label: String,
    line: usize,
}

/// Assembles `text` into instruction slots.
pub fn assemble(text: &str) -> Result<Vec<Insn>, Error> {
    let mut out: Vec<Insn> = Vec::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut fixups = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |message: String| Error::Syntax { line, message };
        let Some(stmt) = statement(raw) else { continue };
        let mut stmt = stmt.as_str();
        // `name:` labels, possibly followed by an instruction.
        if let Some((name, rest)) = stmt.split_once(':') {
            if is_ident(name.trim()) {
                if labels.insert(name.trim().to_string(), out.len()).is_some() {
                    return Err(err(format!("label `{}` defined twice", name.trim())));
                }
                stmt = rest.trim();
                if stmt.is_empty() {
                    continue;
                }
            }
        }
        let parsed = if looks_llvm(stmt) {
            parse_llvm(stmt)
        } else {
            parse_ubpf(stmt)
        }
        .map_err(err)?;
        if let Some(label) = parsed.label {
            fixups.push(Fixup {
                slot: out.len(),
                label,
                line,
            });
        }
        out.extend(parsed.insns);
    }
    for f in fixups {
        let target = *labels.get(&f.label).ok_or(Error::Syntax {
            line: f.line,
            message: format!("undefined label `{}`", f.label),
        })?;
        let off = target as i64 - (f.slot as i64 + 1);
        out[f.slot].off = i16::try_from(off).map_err(|_| Error::Syntax {
            line: f.line,
            message: format!("label `{}` is too far away", f.label),
        })?;
    }
    Ok(out)
}

/// Strips comments and `llvm-objdump -d` decorations; `None` for lines with no instruction.
fn statement(raw: &str) -> Option<String> {
    let mut s = raw;
    for c in ["#", ";", "//"] {
        if let Some(at) = s.find(c) {
            s = &s[..at];
        }
    }
    // llvm-objdump: "      12:\tbf 16 00 00 00 00 00 00\tr6 = r1"
    if let Some((addr, rest)) = s.split_once(":\t") {
        if !addr.trim().is_empty() && addr.trim().chars().all(|c| c.is_ascii_digit()) {
            s = rest.rsplit('\t').next().unwrap_or("");
        }
    }
    let s = s.trim();
    // llvm-objdump symbol lines "0000000000000038 <LBB0_2>:", headers.
    if s.is_empty()
        || s.ends_with(">:")
        || s.starts_with("Disassembly of section")
        || s.contains("file format")
    {
        return None;
    }
    // Jump annotations "goto +1 <LBB0_2>".
    let s = match s.rfind(" <") {
        Some(at) if s.ends_with('>') => &s[..at],
        _ => s,
    };
    Some(s.trim().to_string())
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !s.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn looks_llvm(s: &str) -> bool {
    s.contains('=') || s.starts_with("if ") || s.starts_with("goto") || s.starts_with("lock ")
}

struct Parsed {
    insns: Vec<Insn>,
    label: Option<String>,
}

fn one(i: Insn) -> Parsed {
    Parsed {
        insns: vec![i],
        label: None,
    }
}

fn parse_int(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        body.parse::<u64>()
    }
    .map_err(|_| format!("`{s}` is not a number"))?;
    if neg {
        if v > 1 << 63 {
            return Err(format!("`{s}` is out of range"));
        }
        Ok((v as i64).wrapping_neg())
    } else {
        Ok(v as i64)
    }
}

/// A 32-bit immediate: accepts -2^31..2^32 (so `0xffffffff` is -1, as disassemblers print it).
fn imm32(s: &str) -> Result<i32, String> {
    let v = parse_int(s)?;
    if (i32::MIN as i64..=u32::MAX as i64).contains(&v) {
        Ok(v as u32 as i32)
    } else {
        Err(format!("immediate `{s}` does not fit in 32 bits"))
    }
}

fn off16(s: &str) -> Result<i16, String> {
    let v = parse_int(s)?;
    i16::try_from(v).map_err(|_| format!("offset `{s}` does not fit in 16 bits"))
}

/// `r3` or `w3` (when `w_ok`).
fn register(s: &str, w_ok: bool) -> Result<u8, String> {
    let s = s.trim();
    let body = s
        .strip_prefix('r')
        .or_else(|| if w_ok { s.strip_prefix('w') } else { None })
        .ok_or_else(|| format!("expected a register, found `{s}`"))?;
    match body.parse::<u8>() {
        Ok(n) if n <= 10 => Ok(n),
        _ => Err(format!("`{s}` is not a register r0..r10")),
    }
}

fn is_register(s: &str) -> bool {
    register(s, true).is_ok()
}

/// A jump target: `+3`, `-1`, `3` or a label.
fn jump_target(s: &str) -> Result<(i16, Option<String>), String> {
    let s = s.trim();
    if is_ident(s) {
        Ok((0, Some(s.to_string())))
    } else {
        Ok((off16(s)?, None))
    }
}

fn size_code(suffix: &str) -> Option<u8> {
    Some(match suffix {
        "w" => op::W,
        "h" => op::H,
        "b" => op::B,
        "dw" => op::DW,
        _ => return None,
    })
}

fn alu_code(name: &str) -> Option<u8> {
    Some(match name {
        "add" => op::ADD,
        "sub" => op::SUB,
        "mul" => op::MUL,
        "div" => op::DIV,
        "or" => op::OR,
        "and" => op::AND,
        "lsh" => op::LSH,
        "rsh" => op::RSH,
        "neg" => op::NEG,
        "mod" => op::MOD,
        "xor" => op::XOR,
        "mov" => op::MOV,
        "arsh" => op::ARSH,
        _ => return None,
    })
}

fn jump_code(name: &str) -> Option<u8> {
    (0..=15u8)
        .map(|x| x << 4)
        .find(|&c| jump_name(c) == Some(name))
}

/// `[r1+4]`, `[r10-8]`, `[r2]`.
fn ubpf_mem(s: &str) -> Result<(u8, i16), String> {
    let inner = s
        .trim()
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| format!("expected a memory operand like [r1+4], found `{s}`"))?;
    match inner.find(['+', '-']) {
        Some(at) => Ok((register(&inner[..at], false)?, off16(&inner[at..])?)),
        None => Ok((register(inner, false)?, 0)),
    }
}

fn parse_ubpf(s: &str) -> Result<Parsed, String> {
    let (mnemonic, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
    let args: Vec<&str> = if rest.trim().is_empty() {
        Vec::new()
    } else {
        rest.split(',').map(str::trim).collect()
    };
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "`{mnemonic}` takes {n} operand(s), found {}",
                args.len()
            ))
        }
    };
    match mnemonic {
        "exit" => {
            want(0)?;
            return Ok(one(build::exit()));
        }
        "call" => {
            want(1)?;
            return Ok(one(build::call(imm32(args[0])?)));
        }
        "ja" => {
            want(1)?;
            let (off, label) = jump_target(args[0])?;
            return Ok(Parsed {
                insns: vec![build::ja(off)],
                label,
            });
        }
        "lddw" => {
            want(2)?;
            let v = parse_int(args[1])?;
            return Ok(Parsed {
                insns: build::lddw(register(args[0], false)?, v as u64).to_vec(),
                label: None,
            });
        }
        _ => {}
    }
    // Byte swaps: le16, be64...
    for (prefix, src) in [("le", 0u8), ("be", op::X)] {
        if let Some(width) = mnemonic.strip_prefix(prefix) {
            if let Ok(w @ (16 | 32 | 64)) = width.parse::<i32>() {
                want(1)?;
                return Ok(one(Insn::new(
                    op::ALU | op::END | src,
                    register(args[0], false)?,
                    0,
                    0,
                    w,
                )));
            }
        }
    }
    // ALU: add, add32, add64.
    let (base, class) = if let Some(b) = mnemonic.strip_suffix("32") {
        (b, Some(op::ALU))
    } else if let Some(b) = mnemonic.strip_suffix("64") {
        (b, Some(op::ALU64))
    } else {
        (mnemonic, None)
    };
    if let Some(operation) = alu_code(base) {
        let class = class.unwrap_or(op::ALU64);
        let dst = register(args.first().copied().unwrap_or(""), false)?;
        if operation == op::NEG {
            want(1)?;
            return Ok(one(Insn::new(class | op::NEG, dst, 0, 0, 0)));
        }
        want(2)?;
        return Ok(one(if is_register(args[1]) {
            Insn::new(
                class | operation | op::X,
                dst,
                register(args[1], false)?,
                0,
                0,
            )
        } else {
            Insn::new(class | operation, dst, 0, 0, imm32(args[1])?)
        }));
    }
    // Conditional jumps: jeq, jeq32.
    let (jbase, jclass) = match mnemonic.strip_suffix("32") {
        Some(b) => (b, op::JMP32),
        None => (mnemonic, op::JMP),
    };
    if let Some(operation) = jump_code(jbase) {
        want(3)?;
        let dst = register(args[0], false)?;
        let (off, label) = jump_target(args[2])?;
        let insn = if is_register(args[1]) {
            Insn::new(
                jclass | operation | op::X,
                dst,
                register(args[1], false)?,
                off,
                0,
            )
        } else {
            Insn::new(jclass | operation, dst, 0, off, imm32(args[1])?)
        };
        return Ok(Parsed {
            insns: vec![insn],
            label,
        });
    }
    // Loads and stores: ldabsw, ldindh, ldxdw, stb, stxw, stxxaddw, atomic_fetch_adddw.
    let sized = |prefix: &str| -> Option<u8> { mnemonic.strip_prefix(prefix).and_then(size_code) };
    if let Some(size) = sized("ldabs") {
        want(1)?;
        return Ok(one(build::ld_abs(size, imm32(args[0])?)));
    }
    if let Some(size) = sized("ldind") {
        want(2)?;
        return Ok(one(build::ld_ind(
            size,
            register(args[0], false)?,
            imm32(args[1])?,
        )));
    }
    if let Some(size) = sized("ldx") {
        want(2)?;
        let (base, off) = ubpf_mem(args[1])?;
        return Ok(one(build::ldx(size, register(args[0], false)?, base, off)));
    }
    if let Some(size) = sized("stxxadd") {
        want(2)?;
        let (base, off) = ubpf_mem(args[0])?;
        let src = register(args[1], false)?;
        return Ok(one(Insn::new(
            op::STX | op::ATOMIC | size,
            base,
            src,
            off,
            0,
        )));
    }
    if let Some(size) = sized("stx") {
        want(2)?;
        let (base, off) = ubpf_mem(args[0])?;
        return Ok(one(build::stx(size, base, register(args[1], false)?, off)));
    }
    if let Some(size) = sized("st") {
        want(2)?;
        let (base, off) = ubpf_mem(args[0])?;
        return Ok(one(build::st(size, base, off, imm32(args[1])?)));
    }
    if let Some(rest) = mnemonic.strip_prefix("atomic_") {
        for imm in [
            0x40,
            0x50,
            0xa0,
            0x01,
            0x41,
            0x51,
            0xa1,
            op::XCHG,
            op::CMPXCHG,
        ] {
            let name = atomic_name(imm).expect("known atomic");
            if let Some(size) = rest.strip_prefix(name).and_then(size_code) {
                want(2)?;
                let (base, off) = ubpf_mem(args[0])?;
                let src = register(args[1], false)?;
                return Ok(one(Insn::new(
                    op::STX | op::ATOMIC | size,
                    base,
                    src,
                    off,
                    imm,
                )));
            }
        }
    }
    Err(format!("unknown instruction `{mnemonic}`"))
}

fn llvm_size(s: &str) -> Result<u8, String> {
    Ok(match s.trim() {
        "u8" => op::B,
        "u16" => op::H,
        "u32" => op::W,
        "u64" => op::DW,
        other => return Err(format!("unknown access size `{other}`")),
    })
}

/// `(r1 + 4)` or `r1 - 8` (parentheses optional).
fn llvm_addr(s: &str) -> Result<(u8, i16), String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(s);
    let parts: Vec<&str> = inner.split_whitespace().collect();
    match parts.as_slice() {
        [r] => Ok((register(r, false)?, 0)),
        [r, sign @ ("+" | "-"), n] => Ok((register(r, false)?, off16(&format!("{sign}{n}"))?)),
        _ => Err(format!("expected an address like (r1 + 4), found `{s}`")),
    }
}

/// `*(u32 *)(r1 + 4)` -> (size, base, off).
fn llvm_deref(s: &str) -> Result<(u8, u8, i16), String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("*(")
        .ok_or_else(|| format!("expected *(uN *)(rX + off), found `{s}`"))?;
    let (size, addr) = rest
        .split_once("*)")
        .ok_or_else(|| format!("expected *(uN *)(rX + off), found `{s}`"))?;
    let (base, off) = llvm_addr(addr)?;
    Ok((llvm_size(size)?, base, off))
}

fn llvm_alu_op(token: &str) -> Option<u8> {
    Some(match token {
        "+=" => op::ADD,
        "-=" => op::SUB,
        "*=" => op::MUL,
        "/=" => op::DIV,
        "|=" => op::OR,
        "&=" => op::AND,
        "<<=" => op::LSH,
        ">>=" => op::RSH,
        "%=" => op::MOD,
        "^=" => op::XOR,
        "=" => op::MOV,
        "s>>=" => op::ARSH,
        _ => return None,
    })
}

fn parse_llvm(s: &str) -> Result<Parsed, String> {
    if let Some(target) = s.strip_prefix("goto") {
        let (off, label) = jump_target(target)?;
        return Ok(Parsed {
            insns: vec![build::ja(off)],
            label,
        });
    }
    if let Some(rest) = s.strip_prefix("if ") {
        let (cond, target) = rest
            .rsplit_once(" goto ")
            .ok_or_else(|| format!("expected `if A op B goto OFF`, found `{s}`"))?;
        let parts: Vec<&str> = cond.split_whitespace().collect();
        let [a, c, b] = parts.as_slice() else {
            return Err(format!("expected `if A op B goto OFF`, found `{s}`"));
        };
        let operation = (0..=15u8)
            .map(|x| x << 4)
            .find(|&x| llvm_cond(x) == Some(*c))
            .ok_or_else(|| format!("unknown comparison `{c}`"))?;
        let class = if a.starts_with('w') {
            op::JMP32
        } else {
            op::JMP
        };
        let dst = register(a, true)?;
        let (off, label) = jump_target(target)?;
        let insn = if is_register(b) {
            Insn::new(class | operation | op::X, dst, register(b, true)?, off, 0)
        } else {
            Insn::new(class | operation, dst, 0, off, imm32(b)?)
        };
        return Ok(Parsed {
            insns: vec![insn],
            label,
        });
    }
    if let Some(rest) = s.strip_prefix("lock ") {
        // lock *(u64 *)(r1 + 8) += r2
        let (lhs, rhs) = rest
            .split_once(" = ")
            .map(|(l, r)| (l, ("=", r)))
            .or_else(|| {
                ["+=", "|=", "&=", "^="].iter().find_map(|o| {
                    rest.split_once(&format!(" {o} "))
                        .map(|(l, r)| (l, (*o, r)))
                })
            })
            .ok_or_else(|| format!("expected `lock *(uN *)(rX + off) op= rY`, found `{s}`"))?;
        let (size, base, off) = llvm_deref(lhs)?;
        let imm = match rhs.0 {
            "+=" => op::ATOMIC_ADD,
            "|=" => op::ATOMIC_OR,
            "&=" => op::ATOMIC_AND,
            "^=" => op::ATOMIC_XOR,
            _ => return Err(format!("unknown atomic operation in `{s}`")),
        };
        return Ok(one(Insn::new(
            op::STX | op::ATOMIC | size,
            base,
            register(rhs.1, true)?,
            off,
            imm,
        )));
    }
    if s.starts_with("*(") {
        let (lhs, rhs) = s
            .split_once(" = ")
            .ok_or_else(|| format!("expected `*(uN *)(rX + off) = VALUE`, found `{s}`"))?;
        let (size, base, off) = llvm_deref(lhs)?;
        return Ok(one(if is_register(rhs) {
            build::stx(size, base, register(rhs, false)?, off)
        } else {
            build::st(size, base, off, imm32(rhs)?)
        }));
    }
    // dst op rhs
    let parts: Vec<&str> = s.splitn(3, ' ').collect();
    let [dst_text, operator, rhs] = parts.as_slice() else {
        return Err(format!("cannot read `{s}`"));
    };
    let dst = register(dst_text, true)?;
    let class = if dst_text.starts_with('w') {
        op::ALU
    } else {
        op::ALU64
    };
    let rhs = rhs.trim();
    let operation =
        llvm_alu_op(operator).ok_or_else(|| format!("unknown operator `{operator}` in `{s}`"))?;
    if operation == op::MOV {
        // Special right-hand sides of `=`.
        if let Some(v) = rhs.strip_suffix(" ll") {
            return Ok(Parsed {
                insns: build::lddw(dst, parse_int(v)? as u64).to_vec(),
                label: None,
            });
        }
        if let Some(r) = rhs.strip_prefix('-') {
            if is_register(r) {
                return Ok(one(Insn::new(class | op::NEG, dst, 0, 0, 0)));
            }
        }
        for (prefix, src) in [("le", 0u8), ("be", op::X)] {
            if let Some((width, _)) = rhs.strip_prefix(prefix).and_then(|x| x.split_once(' ')) {
                if let Ok(w @ (16 | 32 | 64)) = width.parse::<i32>() {
                    return Ok(one(Insn::new(op::ALU | op::END | src, dst, 0, 0, w)));
                }
            }
        }
        if let Some(rest) = rhs.strip_prefix("*(") {
            if let Some((size, index)) = rest.split_once("*)skb[") {
                let index = index
                    .strip_suffix(']')
                    .ok_or_else(|| format!("unclosed skb[ in `{s}`"))?;
                let size = llvm_size(size)?;
                let mut parts = index.split(" + ");
                let first = parts.next().unwrap_or("");
                return Ok(one(if is_register(first) {
                    let imm = parts.next().map(imm32).transpose()?.unwrap_or(0);
                    build::ld_ind(size, register(first, false)?, imm)
                } else {
                    build::ld_abs(size, imm32(first)?)
                }));
            }
            let (size, base, off) = llvm_deref(rhs)?;
            return Ok(one(build::ldx(size, dst, base, off)));
        }
        if let Some((func, args)) = rhs.split_once('(') {
            let args = args
                .strip_suffix(')')
                .ok_or_else(|| format!("unclosed call in `{s}`"))?;
            let size = if func.ends_with("_64") || args.starts_with("(u64") {
                op::DW
            } else {
                op::W
            };
            let (imm, addr, src) = match func {
                "xchg_64" | "xchg32_32" => {
                    let (addr, src) = args.rsplit_once(',').ok_or("xchg needs two operands")?;
                    (op::XCHG, addr.to_string(), src)
                }
                "cmpxchg_64" | "cmpxchg32_32" => {
                    let mut p = args.rsplitn(3, ',');
                    let src = p.next().unwrap_or("");
                    let _r0 = p.next();
                    (op::CMPXCHG, p.next().unwrap_or("").to_string(), src)
                }
                f => {
                    let name = f
                        .strip_prefix("atomic_")
                        .ok_or_else(|| format!("unknown function `{f}`"))?;
                    let imm = [0x01, 0x41, 0x51, 0xa1]
                        .into_iter()
                        .find(|&i| atomic_name(i) == Some(name))
                        .ok_or_else(|| format!("unknown atomic `{f}`"))?;
                    let (ptr, src) = args.rsplit_once(',').ok_or("atomic needs two operands")?;
                    // "(u64 *)(r1 + 8)" -> "(r1 + 8)"
                    let addr = ptr.split_once("*)").map(|x| x.1).unwrap_or(ptr);
                    (imm, addr.to_string(), src)
                }
            };
            let (base, off) = llvm_addr(&addr)?;
            return Ok(one(Insn::new(
                op::STX | op::ATOMIC | size,
                base,
                register(src, true)?,
                off,
                imm,
            )));
        }
    }
    Ok(one(if is_register(rhs) {
        Insn::new(class | operation | op::X, dst, register(rhs, true)?, 0, 0)
    } else {
        Insn::new(class | operation, dst, 0, 0, imm32(rhs)?)
    }))
}
