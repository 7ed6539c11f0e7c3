//! Expressions and operands of GNU as Intel syntax: numbers, symbols with an addend,
//! `BYTE/WORD/DWORD/QWORD/XMMWORD PTR`, `OFFSET`, memory references `[base + index*scale + disp]`,
//! `[rip + sym]`, `sym[rip]` and segment overrides (`fs:[rax]`, `QWORD PTR gs:0x28`).
//!
//! As in GNU as, a size keyword without `PTR` is a number, its size in bytes: `QWORD [rdi]` is
//! `[rdi+8]` (not a size override) and `mov eax, DWORD` is `mov eax, 4`.

use super::lexer::{Tok, Token};
use super::AsmError;
use crate::reg::{Reg, SegReg, Size, Xmm};

/// A constant or `symbol + constant`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Value {
    pub sym: Option<String>,
    pub num: i64,
    pub col: usize,
}

/// An operand as written, before symbols are bound to labels of a section.
#[derive(Clone, Debug)]
pub(crate) enum ParsedOperand {
    Reg(Reg),
    Xmm(Xmm),
    Seg(SegReg),
    /// A bare expression: an immediate, or (with a symbol) a branch target / memory address.
    Expr {
        value: Value,
        size: Option<Size>,
    },
    /// `OFFSET expr`: the address as an immediate.
    Offset(Value),
    Mem {
        size: Option<Size>,
        base: Option<Reg>,
        index: Option<Reg>,
        scale: u8,
        rip: bool,
        disp: Value,
        seg: Option<SegReg>,
    },
}

/// GNU as's size keywords: the number each stands for in an expression, and the operand size
/// of `KEYWORD PTR` where this assembler has one.
fn size_keyword(word: &str) -> Option<(i64, Option<Size>)> {
    Some(match word.to_ascii_uppercase().as_str() {
        "BYTE" => (1, Some(Size::Byte)),
        "WORD" => (2, Some(Size::Word)),
        "DWORD" => (4, Some(Size::Dword)),
        "FWORD" => (6, None),
        "QWORD" => (8, Some(Size::Qword)),
        "TBYTE" => (10, None),
        "OWORD" => (16, None),
        "XMMWORD" => (16, Some(Size::Xmmword)),
        "YMMWORD" => (32, None),
        "ZMMWORD" => (64, None),
        _ => return None,
    })
}

/// What the parser needs to know about names defined so far.
pub(crate) trait LocalLabels {
    /// Names numeric local labels (`1:`, `1b`, `1f`) as unique symbols.
    fn resolve_local(&self, name: &str) -> Option<String>;
    /// The value of a `.equ`/`=` constant.
    fn constant(&self, name: &str) -> Option<i64>;
}

/// Names that are registers GNU as knows but this assembler does not encode.
fn unsupported_register(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let numbered = |prefix: &str, max: u32| {
        n.strip_prefix(prefix)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|d| d <= max)
    };
    matches!(n.as_str(), "eip" | "ip" | "st")
        || (numbered("xmm", 31) && Xmm::from_name(&n).is_none())
        || numbered("ymm", 31)
        || numbered("zmm", 31)
        || numbered("mm", 7)
        || numbered("cr", 15)
        || numbered("dr", 15)
        || numbered("k", 7)
}

pub(crate) struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    line: usize,
    end_col: usize,
    locals: &'a dyn LocalLabels,
}

impl<'a> Parser<'a> {
    pub fn new(
        toks: &'a [Token],
        line: usize,
        end_col: usize,
        locals: &'a dyn LocalLabels,
    ) -> Parser<'a> {
        Parser {
            toks,
            pos: 0,
            line,
            end_col,
            locals,
        }
    }

    /// Takes the next token as it is.
    pub fn next_token(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |t| t.col)
    }

    pub fn err(&self, msg: impl Into<String>) -> AsmError {
        AsmError::new(self.line, self.col(), msg.into())
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    pub fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect_punct(&mut self, c: char) -> Result<(), AsmError> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected `{c}`")))
        }
    }

    fn ident_is(&self, n: usize, word: &str) -> bool {
        matches!(self.peek_at(n), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(word))
    }

    /// An expression: `|`, `^`, `&`, shifts, `+`/`-`, `*`/`/`/`%`, unary `-`/`~`/`+`, atoms.
    pub fn expr(&mut self) -> Result<Value, AsmError> {
        self.binary(0)
    }

    fn binary(&mut self, level: u8) -> Result<Value, AsmError> {
        if level == 5 {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        loop {
            let op = match (level, self.peek()) {
                (0, Some(Tok::Punct('|'))) => '|',
                (1, Some(Tok::Punct('^'))) => '^',
                (2, Some(Tok::Punct('&'))) => '&',
                (3, Some(Tok::Shl)) => '<',
                (3, Some(Tok::Shr)) => '>',
                (4, Some(Tok::Punct('+'))) => '+',
                (4, Some(Tok::Punct('-'))) => '-',
                _ => break,
            };
            // Inside `[ ]`, `+ reg` ends the constant part.
            if matches!(op, '+' | '-') && self.register_at(1).is_some() {
                break;
            }
            let col = self.col();
            self.pos += 1;
            let rhs = self.binary(level + 1)?;
            lhs = combine(op, lhs, rhs).ok_or_else(|| {
                AsmError::new(self.line, col, "invalid operation on a symbol".into())
            })?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Value, AsmError> {
        let mut lhs = self.unary_prefix()?;
        while let Some(Tok::Punct(c @ ('*' | '/' | '%'))) = self.peek() {
            let op = *c;
            if self.register_at(1).is_some() {
                break; // `8*rcx` is a scale, handled by the memory parser
            }
            let col = self.col();
            self.pos += 1;
            let rhs = self.unary_prefix()?;
            lhs = combine(op, lhs, rhs).ok_or_else(|| {
                AsmError::new(
                    self.line,
                    col,
                    "invalid operation (symbol operand or division by zero)".into(),
                )
            })?;
        }
        Ok(lhs)
    }

    fn unary_prefix(&mut self) -> Result<Value, AsmError> {
        let col = self.col();
        match self.peek() {
            Some(Tok::Punct('-')) => {
                self.pos += 1;
                let v = self.unary_prefix()?;
                if v.sym.is_some() {
                    return Err(AsmError::new(
                        self.line,
                        col,
                        "cannot negate a symbol".into(),
                    ));
                }
                Ok(Value {
                    num: v.num.wrapping_neg(),
                    ..v
                })
            }
            Some(Tok::Punct('+')) => {
                self.pos += 1;
                self.unary_prefix()
            }
            Some(Tok::Punct('~')) => {
                self.pos += 1;
                let v = self.unary_prefix()?;
                if v.sym.is_some() {
                    return Err(AsmError::new(
                        self.line,
                        col,
                        "cannot complement a symbol".into(),
                    ));
                }
                Ok(Value { num: !v.num, ..v })
            }
            Some(Tok::Punct('(')) => {
                self.pos += 1;
                let v = self.expr()?;
                self.expect_punct(')')?;
                Ok(v)
            }
            Some(Tok::Num(n)) => {
                let n = *n;
                self.pos += 1;
                Ok(Value {
                    sym: None,
                    num: n,
                    col,
                })
            }
            Some(Tok::Ident(name)) => {
                if Reg::from_name(name).is_some()
                    || Xmm::from_name(name).is_some()
                    || SegReg::from_name(name).is_some()
                    || name.eq_ignore_ascii_case("rip")
                {
                    return Err(self.err(format!("register `{name}` cannot be used here")));
                }
                if let Some((bytes, _)) = size_keyword(name) {
                    self.pos += 1;
                    return Ok(Value {
                        sym: None,
                        num: bytes,
                        col,
                    });
                }
                if unsupported_register(name) {
                    return Err(self.err(format!(
                        "register `{name}` is not supported by this assembler"
                    )));
                }
                if let Some(v) = self.locals.constant(name) {
                    self.pos += 1;
                    return Ok(Value {
                        sym: None,
                        num: v,
                        col,
                    });
                }
                let name = name.clone();
                self.pos += 1;
                let sym = self.locals.resolve_local(&name).unwrap_or(name);
                Ok(Value {
                    sym: Some(sym),
                    num: 0,
                    col,
                })
            }
            Some(_) => Err(self.err("expected an expression")),
            None => Err(self.err("missing operand")),
        }
    }

    /// The register `n` tokens ahead, if that token names one.
    fn register_at(&self, n: usize) -> Option<Reg> {
        match self.peek_at(n) {
            Some(Tok::Ident(s)) => Reg::from_name(s),
            _ => None,
        }
    }

    /// One instruction operand.
    pub fn operand(&mut self) -> Result<ParsedOperand, AsmError> {
        let mut size = None;
        if let Some(Tok::Ident(word)) = self.peek() {
            if let Some((_, s)) = size_keyword(word) {
                if self.ident_is(1, "PTR") {
                    let Some(s) = s else {
                        return Err(self.err(format!(
                            "`{} PTR` operands are not supported by this assembler",
                            word.to_ascii_uppercase()
                        )));
                    };
                    size = Some(s);
                    self.pos += 2;
                }
                // Without `PTR` the keyword is a number (GNU as): parsed as an expression.
            }
        }
        if self.ident_is(0, "OFFSET") {
            self.pos += 1;
            if self.ident_is(0, "FLAT") && self.peek_at(1) == Some(&Tok::Punct(':')) {
                self.pos += 2;
            }
            let v = self.expr()?;
            if size.is_some() {
                return Err(self.err("`PTR` cannot apply to an OFFSET"));
            }
            return Ok(ParsedOperand::Offset(v));
        }
        // A segment override: `fs:[rax]`, `fs:0x28`, `gs:8[rax]`; always a memory operand.
        let mut seg = None;
        if let Some(Tok::Ident(word)) = self.peek() {
            if let Some(s) = SegReg::from_name(word) {
                if self.peek_at(1) == Some(&Tok::Punct(':')) {
                    seg = Some(s);
                    self.pos += 2;
                } else {
                    self.pos += 1;
                    if size.is_some() {
                        return Err(AsmError::new(
                            self.line,
                            self.col(),
                            format!("`PTR` cannot apply to register `{s}`"),
                        ));
                    }
                    return Ok(ParsedOperand::Seg(s));
                }
            }
        }
        if seg.is_none() {
            if let Some(Tok::Ident(word)) = self.peek() {
                if let Some(x) = Xmm::from_name(word) {
                    self.pos += 1;
                    if size.is_some() {
                        return Err(AsmError::new(
                            self.line,
                            self.col(),
                            format!("`PTR` cannot apply to register `{x}`"),
                        ));
                    }
                    return Ok(ParsedOperand::Xmm(x));
                }
            }
        }
        if let Some(r) = self.register_at(0).filter(|_| seg.is_none()) {
            if !matches!(
                self.peek_at(1),
                Some(Tok::Punct('[')) | Some(Tok::Punct(':'))
            ) {
                self.pos += 1;
                if size.is_some() {
                    return Err(AsmError::new(
                        self.line,
                        self.col(),
                        format!("`PTR` cannot apply to register `{r}`"),
                    ));
                }
                return Ok(ParsedOperand::Reg(r));
            }
        }
        let col = self.col();
        // `disp[base+...]`, or a plain expression.
        let mut disp = Value {
            sym: None,
            num: 0,
            col,
        };
        if self.peek() != Some(&Tok::Punct('[')) {
            disp = self.expr()?;
            if self.peek() != Some(&Tok::Punct('[')) {
                if seg.is_some() {
                    // `fs:0x28`: an absolute address in that segment.
                    return Ok(ParsedOperand::Mem {
                        size,
                        base: None,
                        index: None,
                        scale: 1,
                        rip: false,
                        disp,
                        seg,
                    });
                }
                return Ok(ParsedOperand::Expr { value: disp, size });
            }
        }
        self.expect_punct('[')?;
        let mut base = None;
        let mut index = None;
        let mut scale = 1u8;
        let mut rip = false;
        let mut explicit_scale = false;
        let mut first = true;
        loop {
            let sign_col = self.col();
            let neg = if first {
                self.eat_punct('-')
            } else if self.eat_punct('+') {
                false
            } else if self.eat_punct('-') {
                true
            } else {
                break;
            };
            first = false;
            if self.ident_is(0, "rip") {
                if neg || rip || base.is_some() || index.is_some() {
                    return Err(self.err("`rip` must be the only register"));
                }
                rip = true;
                self.pos += 1;
                continue;
            }
            if let Some(r) = self.register_at(0) {
                if neg {
                    return Err(AsmError::new(
                        self.line,
                        sign_col,
                        format!("register `{r}` cannot be subtracted"),
                    ));
                }
                self.pos += 1;
                if self.eat_punct('*') {
                    let s = self.unary_prefix()?;
                    if s.sym.is_some() || !matches!(s.num, 1 | 2 | 4 | 8) {
                        return Err(AsmError::new(
                            self.line,
                            s.col,
                            "scale factor must be 1, 2, 4 or 8".into(),
                        ));
                    }
                    if index.is_some() {
                        return Err(self.err("too many index registers"));
                    }
                    index = Some(r);
                    scale = s.num as u8;
                    explicit_scale = true;
                } else if base.is_none() {
                    base = Some(r);
                } else if index.is_none() {
                    index = Some(r);
                } else {
                    return Err(AsmError::new(
                        self.line,
                        sign_col + 1,
                        "too many registers in memory operand".into(),
                    ));
                }
                continue;
            }
            // A number: maybe `8*rcx`.
            if let (Some(Tok::Num(n)), Some(Tok::Punct('*'))) = (self.peek(), self.peek_at(1)) {
                if let Some(r) = self.register_at(2) {
                    let n = *n;
                    if neg || !matches!(n, 1 | 2 | 4 | 8) {
                        return Err(self.err("scale factor must be 1, 2, 4 or 8"));
                    }
                    if index.is_some() {
                        return Err(self.err("too many index registers"));
                    }
                    self.pos += 3;
                    index = Some(r);
                    scale = n as u8;
                    explicit_scale = true;
                    continue;
                }
            }
            let v = self.binary(4)?;
            let v = if neg {
                if v.sym.is_some() {
                    return Err(AsmError::new(
                        self.line,
                        v.col,
                        "cannot subtract a symbol".into(),
                    ));
                }
                Value {
                    num: v.num.wrapping_neg(),
                    ..v
                }
            } else {
                v
            };
            disp = combine('+', disp, v).ok_or_else(|| {
                AsmError::new(
                    self.line,
                    col,
                    "more than one symbol in memory operand".into(),
                )
            })?;
        }
        self.expect_punct(']')?;
        // GNU as makes `rsp` the base when it is written second without a scale.
        if !explicit_scale {
            if let (Some(b), Some(i)) = (base, index) {
                if i.num() == 4 && b.num() != 4 {
                    base = Some(i);
                    index = Some(b);
                }
            }
        }
        // Trailing `+ 8` after the bracket.
        while matches!(self.peek(), Some(Tok::Punct('+' | '-'))) {
            let v = self.binary(4)?;
            disp = combine('+', disp, v)
                .ok_or_else(|| self.err("more than one symbol in memory operand"))?;
        }
        Ok(ParsedOperand::Mem {
            size,
            base,
            index,
            scale,
            rip,
            disp,
            seg,
        })
    }
}

fn combine(op: char, a: Value, b: Value) -> Option<Value> {
    let col = a.col;
    match op {
        '+' => match (&a.sym, &b.sym) {
            (Some(_), Some(_)) => None,
            _ => Some(Value {
                sym: a.sym.or(b.sym),
                num: a.num.wrapping_add(b.num),
                col,
            }),
        },
        '-' => match (&a.sym, &b.sym) {
            (_, Some(_)) => None,
            _ => Some(Value {
                sym: a.sym,
                num: a.num.wrapping_sub(b.num),
                col,
            }),
        },
        _ => {
            if a.sym.is_some() || b.sym.is_some() {
                return None;
            }
            let (x, y) = (a.num, b.num);
            let num = match op {
                '*' => x.wrapping_mul(y),
                '/' => x.checked_div(y)?,
                '%' => x.checked_rem(y)?,
                '|' => x | y,
                '^' => x ^ y,
                '&' => x & y,
                '<' => x.wrapping_shl(y as u32),
                '>' => x.wrapping_shr(y as u32),
                _ => return None,
            };
            Some(Value {
                sym: None,
                num,
                col,
            })
        }
    }
}
