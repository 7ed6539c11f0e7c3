//! Tokens of one source line of GNU as Intel syntax, each with its 1-based column.

use super::AsmError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A name: symbol, register, mnemonic, directive (`.text`), keyword (`PTR`).
    Ident(String),
    Num(i64),
    Str(Vec<u8>),
    /// One punctuation character; `<<` and `>>` are `<` and `>` doubled in `Shl`/`Shr`.
    Punct(char),
    Shl,
    Shr,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.' || c == b'$' || c == b'@'
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$' || c == b'@'
}

/// Splits one statement (comments and `;` separators already removed) into tokens.
pub(crate) fn tokenize(text: &[u8], line: usize, col0: usize) -> Result<Vec<Token>, AsmError> {
    let b = text;
    let mut i = 0;
    let mut out = Vec::new();
    let err = |col: usize, msg: String| AsmError::new(line, col, msg);
    while i < b.len() {
        let c = b[i];
        let col = col0 + i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if ident_start(c) {
            let s = i;
            while i < b.len() && ident_char(b[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(String::from_utf8_lossy(&text[s..i]).into_owned()),
                col,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let lit = &*String::from_utf8_lossy(&text[s..i]);
            // Numeric local label references: `1f`, `2b`.
            if (lit.ends_with('f') || lit.ends_with('b'))
                && lit.len() > 1
                && lit[..lit.len() - 1].bytes().all(|d| d.is_ascii_digit())
            {
                out.push(Token {
                    tok: Tok::Ident(lit.to_string()),
                    col,
                });
                continue;
            }
            let v = parse_number(lit).ok_or_else(|| err(col, format!("invalid number `{lit}`")))?;
            out.push(Token {
                tok: Tok::Num(v),
                col,
            });
            continue;
        }
        match c {
            b'"' => {
                let (bytes, next) = parse_string(b, i + 1).map_err(|m| err(col, m))?;
                out.push(Token {
                    tok: Tok::Str(bytes),
                    col,
                });
                i = next;
            }
            b'\'' => {
                // 'A' (GNU as also accepts 'A without the closing quote).
                let (v, next) = parse_char(b, i + 1).map_err(|m| err(col, m))?;
                out.push(Token {
                    tok: Tok::Num(v),
                    col,
                });
                i = next;
            }
            b'<' if b.get(i + 1) == Some(&b'<') => {
                out.push(Token { tok: Tok::Shl, col });
                i += 2;
            }
            b'>' if b.get(i + 1) == Some(&b'>') => {
                out.push(Token { tok: Tok::Shr, col });
                i += 2;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'[' | b']' | b'(' | b')' | b',' | b':' | b'~'
            | b'|' | b'&' | b'^' | b'=' => {
                out.push(Token {
                    tok: Tok::Punct(c as char),
                    col,
                });
                i += 1;
            }
            _ => {
                let ch = String::from_utf8_lossy(&text[i..(i + 4).min(text.len())])
                    .chars()
                    .next()
                    .unwrap_or('?');
                return Err(err(col, format!("unexpected character `{ch}`")));
            }
        }
    }
    Ok(out)
}

/// `123`, `0x1f`, `0b101`, `017` (octal, as in GNU as).
pub(crate) fn parse_number(lit: &str) -> Option<i64> {
    let lit = lit.replace('_', "");
    let lower = lit.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h.to_string(), 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b.to_string(), 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8)
    } else {
        (lower.clone(), 10)
    };
    if digits.is_empty() {
        return None;
    }
    // Values up to 2^64-1 wrap to negative i64, as GNU as's 64-bit arithmetic does.
    u64::from_str_radix(&digits, radix).ok().map(|v| v as i64)
}

fn escape(b: &[u8], i: usize) -> Result<(u8, usize), String> {
    let Some(&c) = b.get(i) else {
        return Err("unterminated escape".into());
    };
    Ok(match c {
        b'n' => (b'\n', i + 1),
        b't' => (b'\t', i + 1),
        b'r' => (b'\r', i + 1),
        b'b' => (8, i + 1),
        b'f' => (12, i + 1),
        b'\\' => (b'\\', i + 1),
        b'"' => (b'"', i + 1),
        b'\'' => (b'\'', i + 1),
        b'x' | b'X' => {
            let mut j = i + 1;
            let mut v: u32 = 0;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                v = (v << 4) | (b[j] as char).to_digit(16).unwrap_or(0);
                j += 1;
            }
            if j == i + 1 {
                return Err("\\x used with no following hex digits".into());
            }
            (v as u8, j)
        }
        b'0'..=b'7' => {
            let mut j = i;
            let mut v: u32 = 0;
            while j < b.len() && j < i + 3 && (b'0'..=b'7').contains(&b[j]) {
                v = v * 8 + (b[j] - b'0') as u32;
                j += 1;
            }
            (v as u8, j)
        }
        other => (other, i + 1),
    })
}

fn parse_string(b: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'"' => return Ok((out, i + 1)),
            b'\\' => {
                let (c, next) = escape(b, i + 1)?;
                out.push(c);
                i = next;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("missing closing `\"`".into())
}

fn parse_char(b: &[u8], i: usize) -> Result<(i64, usize), String> {
    let (v, next) = match b.get(i) {
        None => return Err("missing character after `'`".into()),
        Some(b'\\') => escape(b, i + 1)?,
        Some(&c) => (c, i + 1),
    };
    let next = if b.get(next) == Some(&b'\'') {
        next + 1
    } else {
        next
    };
    Ok((v as i64, next))
}
