//! Reading tcpdump's `-d`, `-dd` and `-ddd` text. Blank lines are ignored; every error names the
//! 1-based line it is on.
//!
//! Numbers are read leniently (decimal, `0x` hexadecimal, a leading `-` for 32-bit two's
//! complement) wherever tcpdump prints one, so hand-edited programs work; the mnemonic and the
//! shape of the operand decide the opcode, as in `bpf_image`.

use super::mnemonics::{Operand, MNEMONICS};
use super::TextForm;
use crate::cbpf::Insn;

/// A program text that could not be read: where (1-based line number) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

/// What is wrong with a line of program text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("the program text is empty")]
    Empty,
    #[error(
        "cannot tell the form of `{0}`: expected `(000) op ...` (tcpdump -d), \
         `{{ 0x28, 0, 0, 0x0000000c }},` (-dd) or an instruction count (-ddd)"
    )]
    UnknownForm(String),
    #[error("expected instruction number {expected}, found `{found}`")]
    WrongIndex { expected: usize, found: String },
    #[error("unknown instruction `{0}`")]
    UnknownInstruction(String),
    #[error("`{text}` is not a valid {what}")]
    BadNumber { text: String, what: &'static str },
    #[error("{what} {value} does not fit (at most {max})")]
    OutOfRange {
        what: &'static str,
        value: i64,
        max: i64,
    },
    #[error("jump target {target} is not within 1 to 256 instructions after instruction {index}")]
    BadJumpTarget { index: usize, target: i64 },
    #[error("expected {expected}, found `{found}`")]
    Malformed {
        expected: &'static str,
        found: String,
    },
    #[error("the count says {declared} instructions but {found} follow")]
    CountMismatch { declared: usize, found: usize },
}

fn err(line: usize, kind: ParseErrorKind) -> ParseError {
    ParseError { line, kind }
}

/// Non-blank lines with their 1-based line numbers, trimmed.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// Which form `text` is in, from its first non-blank line.
pub fn detect(text: &str) -> Result<TextForm, ParseError> {
    let Some((line, first)) = lines(text).next() else {
        return Err(err(1, ParseErrorKind::Empty));
    };
    if first.starts_with('(') {
        Ok(TextForm::Listing)
    } else if first.starts_with('{') {
        Ok(TextForm::CArray)
    } else if first.bytes().all(|b| b.is_ascii_digit()) {
        Ok(TextForm::Decimal)
    } else {
        Err(err(
            line,
            ParseErrorKind::UnknownForm(shorten(first).to_string()),
        ))
    }
}

/// Reads a program in whichever of the three forms `text` is in.
pub fn parse(text: &str) -> Result<Vec<Insn>, ParseError> {
    parse_as(text, detect(text)?)
}

/// Reads a program in the given form.
pub fn parse_as(text: &str, form: TextForm) -> Result<Vec<Insn>, ParseError> {
    let program = match form {
        TextForm::Listing => parse_listing(text)?,
        TextForm::CArray => parse_c_array(text)?,
        TextForm::Decimal => parse_decimal(text)?,
    };
    if program.is_empty() {
        return Err(err(1, ParseErrorKind::Empty));
    }
    Ok(program)
}

/// At most 60 characters of a line, for error messages.
fn shorten(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A C-style integer: decimal, or hexadecimal after `0x`, optionally negative.
fn parse_int(text: &str, what: &'static str) -> Result<i64, ParseErrorKind> {
    let bad = || ParseErrorKind::BadNumber {
        text: shorten(text).to_string(),
        what,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            i64::from_str_radix(hex, 16).map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<i64>().map_err(|_| bad())?
        }
        None => return Err(bad()),
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// An integer in `0..=max`.
fn parse_unsigned(text: &str, what: &'static str, max: i64) -> Result<i64, ParseErrorKind> {
    let value = parse_int(text, what)?;
    if !(0..=max).contains(&value) {
        return Err(ParseErrorKind::OutOfRange { what, value, max });
    }
    Ok(value)
}

/// A 32-bit `k`: 0 to 2^32-1, or -2^31 to -1 for the two's complement that `%d` prints.
fn parse_k(text: &str) -> Result<u32, ParseErrorKind> {
    let value = parse_int(text, "32-bit value")?;
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) {
        return Err(ParseErrorKind::OutOfRange {
            what: "32-bit value",
            value,
            max: i64::from(u32::MAX),
        });
    }
    Ok(value as u32)
}

fn parse_code(text: &str) -> Result<u16, ParseErrorKind> {
    Ok(parse_unsigned(text, "opcode", i64::from(u16::MAX))? as u16)
}

fn parse_offset(text: &str) -> Result<u8, ParseErrorKind> {
    Ok(parse_unsigned(text, "jump offset", i64::from(u8::MAX))? as u8)
}

/// `-dd`: `{ 0x28, 0, 0, 0x0000000c },` per line.
fn parse_c_array(text: &str) -> Result<Vec<Insn>, ParseError> {
    let mut program = Vec::new();
    for (line, l) in lines(text) {
        let malformed = || {
            err(
                line,
                ParseErrorKind::Malformed {
                    expected: "`{ code, jt, jf, k },`",
                    found: shorten(l).to_string(),
                },
            )
        };
        let body = l.strip_suffix(',').unwrap_or(l).trim_end();
        let body = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .ok_or_else(malformed)?;
        let fields: Vec<&str> = body.split(',').map(str::trim).collect();
        let [code, jt, jf, k] = fields[..] else {
            return Err(malformed());
        };
        let insn = (|| {
            Ok(Insn::new(
                parse_code(code)?,
                parse_offset(jt)?,
                parse_offset(jf)?,
                parse_k(k)?,
            ))
        })()
        .map_err(|kind| err(line, kind))?;
        program.push(insn);
    }
    Ok(program)
}

/// `-ddd`: a count line, then `code jt jf k` in decimal per line.
fn parse_decimal(text: &str) -> Result<Vec<Insn>, ParseError> {
    let mut it = lines(text);
    let Some((count_line, count_text)) = it.next() else {
        return Err(err(1, ParseErrorKind::Empty));
    };
    let declared = parse_unsigned(count_text, "instruction count", i64::from(u32::MAX))
        .map_err(|kind| err(count_line, kind))? as usize;
    let mut program = Vec::with_capacity(declared.min(1 << 16));
    for (line, l) in it {
        let fields: Vec<&str> = l.split_ascii_whitespace().collect();
        let [code, jt, jf, k] = fields[..] else {
            return Err(err(
                line,
                ParseErrorKind::Malformed {
                    expected: "`code jt jf k` (four numbers)",
                    found: shorten(l).to_string(),
                },
            ));
        };
        let insn = (|| {
            Ok(Insn::new(
                parse_code(code)?,
                parse_offset(jt)?,
                parse_offset(jf)?,
                parse_k(k)?,
            ))
        })()
        .map_err(|kind| err(line, kind))?;
        program.push(insn);
    }
    if program.len() != declared {
        return Err(err(
            count_line,
            ParseErrorKind::CountMismatch {
                declared,
                found: program.len(),
            },
        ));
    }
    Ok(program)
}

/// `-d`: `(NNN) mnemonic operand [jt T jf F]` per line, numbered from 0.
fn parse_listing(text: &str) -> Result<Vec<Insn>, ParseError> {
    let mut program = Vec::new();
    for (line, l) in lines(text) {
        let index = program.len();
        let insn = parse_listing_line(l, index).map_err(|kind| err(line, kind))?;
        program.push(insn);
    }
    Ok(program)
}

/// The shape of a `-d` operand, after removing all whitespace.
enum Shape<'a> {
    None,
    X,
    PktLen,
    Imm(&'a str),
    Abs(&'a str),
    Ind(&'a str),
    Msh(&'a str),
    Mem(&'a str),
    Bare(&'a str),
}

fn shape(operand: &str) -> Shape<'_> {
    if operand.is_empty() {
        Shape::None
    } else if operand == "x" {
        Shape::X
    } else if operand == "#pktlen" || operand == "#len" {
        Shape::PktLen
    } else if let Some(v) = operand.strip_prefix('#') {
        Shape::Imm(v)
    } else if let Some(v) = operand
        .strip_prefix("[x+")
        .and_then(|r| r.strip_suffix(']'))
    {
        Shape::Ind(v)
    } else if let Some(v) = operand.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Shape::Abs(v)
    } else if let Some(v) = operand
        .strip_prefix("4*([")
        .and_then(|r| r.strip_suffix("]&0xf)"))
    {
        Shape::Msh(v)
    } else if let Some(v) = operand.strip_prefix("M[").and_then(|r| r.strip_suffix(']')) {
        Shape::Mem(v)
    } else {
        Shape::Bare(operand)
    }
}

fn parse_listing_line(l: &str, index: usize) -> Result<Insn, ParseErrorKind> {
    // "(NNN)"
    let wrong_index = || ParseErrorKind::WrongIndex {
        expected: index,
        found: shorten(l).to_string(),
    };
    let rest = l.strip_prefix('(').ok_or_else(wrong_index)?;
    let (number, rest) = rest.split_once(')').ok_or_else(wrong_index)?;
    match parse_unsigned(number.trim(), "instruction number", i64::MAX) {
        Ok(n) if n as u64 == index as u64 => {}
        _ => return Err(wrong_index()),
    }
    let rest = rest.trim();
    let (name, rest) = rest
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((rest, ""));
    // Conditional jumps end in "jt T jf F".
    let (operand_text, targets) = match rest.find("jt") {
        Some(at) => (&rest[..at], Some(&rest[at..])),
        None => (rest, None),
    };
    let operand: String = operand_text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let unknown = || ParseErrorKind::UnknownInstruction(shorten(l).to_string());

    if name == "unimp" {
        // bpf_image's line for an opcode it has no mnemonic for; only the opcode survives.
        return Ok(Insn::new(parse_code(&operand)?, 0, 0, 0));
    }
    // ldx len (0x81): libpcap prints it as `unimp 0x81`; accept a readable spelling too.
    if name == "ldx" && matches!(shape(&operand), Shape::PktLen) {
        return Ok(Insn::stmt(crate::cbpf::op::LDX | crate::cbpf::op::LEN, 0));
    }
    let shape = shape(&operand);
    let mnemonic = MNEMONICS
        .iter()
        .find(|m| {
            m.name == name
                && matches!(
                    (m.operand, &shape),
                    (Operand::None, Shape::None)
                        | (Operand::X, Shape::X)
                        | (Operand::PktLen, Shape::PktLen)
                        | (Operand::ImmDec | Operand::ImmHex, Shape::Imm(_))
                        | (Operand::Abs, Shape::Abs(_))
                        | (Operand::Ind, Shape::Ind(_))
                        | (Operand::Msh, Shape::Msh(_))
                        | (Operand::Mem, Shape::Mem(_))
                        | (Operand::JaTarget, Shape::Bare(_))
                )
        })
        .ok_or_else(unknown)?;
    let mut insn = Insn::stmt(mnemonic.code, 0);
    if targets.is_some() && !insn.is_conditional_jump() {
        return Err(unknown());
    }
    match shape {
        Shape::Imm(v) | Shape::Abs(v) | Shape::Ind(v) | Shape::Msh(v) | Shape::Mem(v) => {
            insn.k = parse_k(v)?;
        }
        Shape::Bare(target) => {
            // ja prints n + 1 + k as a C int.
            let target = parse_int(target, "jump target")?;
            insn.k = (target - index as i64 - 1) as u32;
        }
        Shape::None | Shape::X | Shape::PktLen => {}
    }
    if insn.is_conditional_jump() {
        let targets = targets.ok_or(ParseErrorKind::Malformed {
            expected: "`jt N jf M` after a conditional jump",
            found: shorten(l).to_string(),
        })?;
        let fields: Vec<&str> = targets.split_ascii_whitespace().collect();
        let ["jt", jt, "jf", jf] = fields[..] else {
            return Err(ParseErrorKind::Malformed {
                expected: "`jt N jf M`",
                found: shorten(targets).to_string(),
            });
        };
        insn.jt = jump_offset(index, parse_int(jt, "jump target")?)?;
        insn.jf = jump_offset(index, parse_int(jf, "jump target")?)?;
    }
    Ok(insn)
}

/// The 8-bit offset of an absolute conditional-jump target from instruction `index`.
fn jump_offset(index: usize, target: i64) -> Result<u8, ParseErrorKind> {
    let offset = target - index as i64 - 1;
    u8::try_from(offset).map_err(|_| ParseErrorKind::BadJumpTarget { index, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_k("0x800"), Ok(0x800));
        assert_eq!(parse_k("-1"), Ok(u32::MAX));
        assert_eq!(parse_k("4294967295"), Ok(u32::MAX));
        assert!(parse_k("4294967296").is_err());
        assert!(parse_k("-2147483649").is_err());
        assert!(parse_k("0x").is_err());
        assert!(parse_k("12a").is_err());
        assert!(parse_k("").is_err());
    }
}
