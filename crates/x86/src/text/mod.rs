//! The Intel-syntax text assembler for the GNU as dialect (`.intel_syntax noprefix`).
//!
//! Two passes over the source: the first splits it into statements (labels, instructions,
//! directives), parses operands and learns which section defines each symbol; the second encodes
//! every section with an [`Assembler`], binding references to labels of the same section and
//! turning the others into relocations. The result is an [`Object`]: sections with bytes and
//! relocations, and a symbol table, ready to write out (`.text` bytes) or to [`Object::load`].
//!
//! Supported: labels (also numeric `1:` with `1b`/`1f`), `.intel_syntax noprefix`, `.globl`,
//! `.text`, `.data`, `.bss`, `.section NAME[, flags]`, `.byte/.word/.short/.value/.long/.int/
//! .quad` (and `.2byte/.4byte/.8byte`), `.ascii/.asciz/.string`, `.fill/.zero/.skip/.space`,
//! `.align/.balign/.p2align`, `.equ/.set`, and `.type/.size/.file/.ident/.extern/.cfi_*`
//! (accepted, no effect); `BYTE/WORD/DWORD/QWORD/XMMWORD PTR` (a size keyword without `PTR` is
//! a number, as in GNU as: `QWORD [rdi]` is `[rdi+8]`), segment overrides (`fs:[rax]`,
//! `QWORD PTR gs:0x28`), segment and xmm registers, `OFFSET [FLAT:]`, `[rip + sym]`,
//! `sym[rip]`, decimal/hex/octal/binary/character numbers, `#` and `/* */` comments, `;` between
//! statements, `lock`/`rep`/`repe`/`repne` prefixes.

mod expr;
mod lexer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::assembler::{Assembler, Code, RelocTarget};
use crate::error::LoadError;
use crate::exec::Prot;
use crate::loader::{link, Image, LinkReloc, LinkTarget, SectionImage};
use crate::mnemonic::Mnemonic;
use crate::operand::{Label, Mem, Operand, Target};
use expr::{LocalLabels, ParsedOperand, Parser, Value};
use lexer::{tokenize, Tok, Token};

/// An error in the source: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct AsmError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl AsmError {
    pub(crate) fn new(line: usize, column: usize, message: String) -> AsmError {
        AsmError {
            line,
            column,
            message,
        }
    }
}

/// Every error of a source text (at least one), in line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmErrors(pub Vec<AsmError>);

impl fmt::Display for AsmErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for AsmErrors {}

/// What a section holds, which decides its protection when loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    Code,
    ReadOnly,
    Data,
    /// Zero-initialized (no bytes may be stored).
    Bss,
}

/// An assembled section.
#[derive(Clone, Debug)]
pub struct ObjSection {
    pub name: String,
    pub kind: SectionKind,
    pub code: Code,
}

/// The result of assembling a source text.
#[derive(Clone, Debug)]
pub struct Object {
    pub sections: Vec<ObjSection>,
    /// Defined symbols: name -> (section index, offset).
    symbols: BTreeMap<String, (usize, usize)>,
    globals: HashSet<String>,
}

impl Object {
    /// The bytes of `.text` (what `objcopy -O binary -j .text` gives for GNU as's object:
    /// relocated fields are zero).
    pub fn text(&self) -> &[u8] {
        self.sections
            .iter()
            .find(|s| s.name == ".text")
            .map_or(&[][..], |s| s.code.bytes())
    }

    /// The section and offset where `name` is defined.
    pub fn symbol(&self, name: &str) -> Option<(usize, usize)> {
        self.symbols.get(name).copied()
    }

    /// Every defined symbol (numeric local labels excluded), sorted by name.
    pub fn symbols(&self) -> impl Iterator<Item = (&str, usize, usize)> {
        self.symbols
            .iter()
            .filter(|(n, _)| !n.contains('\u{2}'))
            .map(|(n, &(s, o))| (n.as_str(), s, o))
    }

    pub fn is_global(&self, name: &str) -> bool {
        self.globals.contains(name)
    }

    /// Maps every section (code read+execute, `.rodata` read-only, data and bss read+write),
    /// applies relocations, binding undefined symbols with `resolve` (e.g.
    /// [`host_symbol`](crate::host_symbol)).
    pub fn load(
        &self,
        resolve: &mut dyn FnMut(&str) -> Option<u64>,
    ) -> Result<LoadedProgram, LoadError> {
        let mut images = Vec::with_capacity(self.sections.len());
        for s in &self.sections {
            let code = &s.code;
            let relocs = code
                .relocs()
                .iter()
                .map(|r| {
                    let (target, addend) = match r.target {
                        RelocTarget::Local => (LinkTarget::Section(images.len()), r.addend),
                        RelocTarget::Address(a) => (LinkTarget::Address(a), r.addend),
                        RelocTarget::Symbol(id) => {
                            let name = code.symbol_name(id);
                            match self.symbols.get(name) {
                                Some(&(sec, off)) => {
                                    (LinkTarget::Section(sec), r.addend + off as i64)
                                }
                                None => (LinkTarget::External(name.to_string()), r.addend),
                            }
                        }
                    };
                    LinkReloc {
                        offset: r.offset,
                        kind: r.kind,
                        target,
                        addend,
                    }
                })
                .collect();
            images.push(SectionImage {
                name: s.name.clone(),
                bytes: code.bytes(),
                size: code.bytes().len(),
                prot: match s.kind {
                    SectionKind::Code => Prot::ReadExec,
                    SectionKind::ReadOnly => Prot::Read,
                    SectionKind::Data | SectionKind::Bss => Prot::ReadWrite,
                },
                relocs,
            });
        }
        let image = link(&images, resolve)?;
        let symbols = self
            .symbols
            .iter()
            .map(|(n, &(s, o))| (n.clone(), image.section_addr(s) + o))
            .collect();
        Ok(LoadedProgram { image, symbols })
    }
}

/// An [`Object`] in memory, relocated and protected.
#[derive(Debug)]
pub struct LoadedProgram {
    image: Image,
    symbols: HashMap<String, usize>,
}

impl LoadedProgram {
    /// The address of a defined symbol.
    pub fn symbol_addr(&self, name: &str) -> Option<usize> {
        self.symbols.get(name).copied()
    }

    /// The memory holding the program.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Calls `main(argc, argv)` (System V) and returns its value.
    ///
    /// # Safety
    /// This runs the program's machine code in this process: `main` must be a function with
    /// the C signature `int main(int, char **)` that behaves (preserves callee-saved registers,
    /// returns). The strings live for the duration of the call.
    pub unsafe fn call_main(&self, args: &[String]) -> Result<i32, LoadError> {
        let addr = self
            .symbol_addr("main")
            .ok_or_else(|| LoadError::UndefinedSymbol("main".into()))?;
        let base = self.image.memory().addr();
        // SAFETY: `main` lies inside the image; the caller vouches for its signature.
        let f = unsafe {
            self.image
                .memory()
                .function::<extern "C" fn(i32, *const *const libc::c_char) -> i32>(addr - base)?
        };
        let cstrings: Vec<std::ffi::CString> = args
            .iter()
            .map(|a| std::ffi::CString::new(a.replace('\0', "")).unwrap_or_default())
            .collect();
        let mut argv: Vec<*const libc::c_char> = cstrings.iter().map(|c| c.as_ptr()).collect();
        argv.push(std::ptr::null());
        Ok(f.get()(args.len() as i32, argv.as_ptr()))
    }
}

/// One statement of the source.
#[derive(Debug)]
enum Stmt {
    Label(String),
    Insn {
        prefix: Option<(u8, &'static str)>,
        mnemonic: Mnemonic,
        name: String,
        ops: Vec<ParsedOperand>,
        /// The column where each operand starts (errors point at the operand at fault).
        op_cols: Vec<usize>,
    },
    /// `.byte`/`.word`/`.long`/`.quad`: width in bytes and values.
    Data(u8, Vec<Value>),
    Bytes(Vec<u8>),
    Fill {
        count: usize,
        size: u8,
        value: i64,
    },
    Align(u32),
    Section(usize),
}

struct Line {
    line: usize,
    col: usize,
    stmt: Stmt,
}

struct SectionDef {
    name: String,
    kind: SectionKind,
}

fn section_kind(name: &str) -> SectionKind {
    if name == ".text" || name.starts_with(".text.") || name == ".init" || name == ".fini" {
        SectionKind::Code
    } else if name == ".rodata" || name.starts_with(".rodata.") {
        SectionKind::ReadOnly
    } else if name == ".bss" || name.starts_with(".bss.") {
        SectionKind::Bss
    } else {
        SectionKind::Data
    }
}

/// Numeric local labels (how many times each number has been defined so far) and constants.
struct Locals {
    counts: HashMap<String, usize>,
    equs: HashMap<String, i64>,
}

impl LocalLabels for Locals {
    fn constant(&self, name: &str) -> Option<i64> {
        self.equs.get(name).copied()
    }

    fn resolve_local(&self, name: &str) -> Option<String> {
        let (num, dir) = name.split_at(name.len().checked_sub(1)?);
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = self.counts.get(num).copied().unwrap_or(0);
        match dir {
            // `1b` with no `1:` before gets an impossible instance: reported as undefined.
            "b" => Some(format!("{num}\u{2}{}", n.wrapping_sub(1))),
            "f" => Some(format!("{num}\u{2}{n}")),
            _ => None,
        }
    }
}

/// Assembles GNU as Intel-syntax source text.
pub fn assemble(source: &str) -> Result<Object, AsmErrors> {
    let mut st = State {
        lines: Vec::new(),
        sections: vec![SectionDef {
            name: ".text".into(),
            kind: SectionKind::Code,
        }],
        current: 0,
        defined: HashMap::new(),
        globals: HashSet::new(),
        equs: HashMap::new(),
        locals: Locals {
            counts: HashMap::new(),
            equs: HashMap::new(),
        },
        errors: Vec::new(),
    };
    let mut in_comment = false;
    for (i, raw) in source.split('\n').enumerate() {
        let line_no = i + 1;
        for (col, text) in statements(raw, &mut in_comment) {
            if let Err(e) = st.statement(line_no, col, &text) {
                st.errors.push(e);
            }
        }
    }
    if in_comment {
        st.errors.push(AsmError::new(
            source.split('\n').count(),
            1,
            "unterminated `/*` comment".into(),
        ));
    }
    st.encode()
}

struct State {
    lines: Vec<Line>,
    sections: Vec<SectionDef>,
    current: usize,
    /// Symbol -> section where it is defined.
    defined: HashMap<String, usize>,
    globals: HashSet<String>,
    equs: HashMap<String, i64>,
    locals: Locals,
    errors: Vec<AsmError>,
}

/// Splits a source line into statements (at `;`), removing `#` and `/* */` comments; yields
/// the 1-based column where each statement starts.
fn statements(raw: &str, in_comment: &mut bool) -> Vec<(usize, Vec<u8>)> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut start = 1;
    let mut i = 0;
    let mut in_str = false;
    let mut in_char = false;
    while i < b.len() {
        let c = b[i];
        if *in_comment {
            if c == b'*' && b.get(i + 1) == Some(&b'/') {
                *in_comment = false;
                cur.push(b' ');
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        if in_str {
            cur.push(c);
            if c == b'\\' && i + 1 < b.len() {
                cur.push(b[i + 1]);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if in_char {
            // 'x' or '\x'
            cur.push(c);
            in_char = false;
            if c == b'\\' && i + 1 < b.len() {
                cur.push(b[i + 1]);
                i += 1;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                cur.push(b'"');
            }
            b'\'' => {
                in_char = true;
                cur.push(b'\'');
            }
            b'#' => break,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                *in_comment = true;
                i += 2;
                continue;
            }
            b';' => {
                out.push((start, std::mem::take(&mut cur)));
                start = i + 2;
            }
            b'\r' => cur.push(b' '),
            // Columns count bytes; non-ASCII bytes only matter inside strings.
            _ => cur.push(c),
        }
        i += 1;
    }
    out.push((start, cur));
    out.retain(|(_, s)| !s.iter().all(|b| b.is_ascii_whitespace()));
    out
}

const IGNORED_DIRECTIVES: &[&str] = &[
    ".type",
    ".size",
    ".file",
    ".ident",
    ".extern",
    ".loc",
    ".local",
    ".hidden",
    ".weak",
    ".addrsig",
    ".addrsig_sym",
];

impl State {
    fn push(&mut self, line: usize, col: usize, stmt: Stmt) {
        self.lines.push(Line { line, col, stmt });
    }

    fn statement(&mut self, line: usize, col0: usize, text: &[u8]) -> Result<(), AsmError> {
        let toks = tokenize(text, line, col0)?;
        let mut rest: &[Token] = &toks;
        // Labels: `name:` (several may precede a statement).
        while rest.len() >= 2 && rest[1].tok == Tok::Punct(':') {
            let (name, col) = match &rest[0].tok {
                Tok::Ident(n) => (n.clone(), rest[0].col),
                Tok::Num(_) => {
                    let digits: String = text[rest[0].col - col0..]
                        .iter()
                        .take_while(|&&b| b != b':')
                        .map(|&b| b as char)
                        .collect::<String>()
                        .trim()
                        .to_string();
                    (digits, rest[0].col)
                }
                _ => break,
            };
            self.define_label(line, col, name)?;
            rest = &rest[2..];
        }
        let Some(first) = rest.first() else {
            return Ok(());
        };
        let Tok::Ident(word) = &first.tok else {
            return Err(AsmError::new(
                line,
                first.col,
                "expected an instruction or directive".into(),
            ));
        };
        let word_col = first.col;
        let end_col = col0 + text.len();
        // `name = expr` and `.equ`/`.set`.
        if rest.get(1).map(|t| &t.tok) == Some(&Tok::Punct('=')) {
            let name = word.clone();
            let v = {
                let mut p = Parser::new(&rest[2..], line, end_col, &self.locals);
                let v = p.expr()?;
                if !p.at_end() {
                    return Err(p.err("junk after expression"));
                }
                v
            };
            return self.define_equ(line, word_col, name, v);
        }
        if word.starts_with('.') {
            return self.directive(
                line,
                word_col,
                &word.to_ascii_lowercase(),
                &rest[1..],
                end_col,
            );
        }
        let mut lower = word.to_ascii_lowercase();
        let mut ops_toks = &rest[1..];
        let mut prefix = None;
        let prefix_byte = match lower.as_str() {
            "lock" => Some((0xF0u8, "lock")),
            "rep" | "repe" | "repz" => Some((0xF3, "rep")),
            "repne" | "repnz" => Some((0xF2, "repne")),
            _ => None,
        };
        if let Some(pb) = prefix_byte {
            match ops_toks.first() {
                Some(Token {
                    tok: Tok::Ident(next),
                    ..
                }) => {
                    prefix = Some(pb);
                    lower = next.to_ascii_lowercase();
                    ops_toks = &ops_toks[1..];
                }
                Some(t) => {
                    return Err(AsmError::new(
                        line,
                        t.col,
                        format!("expected an instruction after `{}`", pb.1),
                    ))
                }
                None => {
                    self.push(line, word_col, Stmt::Bytes(vec![pb.0]));
                    return Ok(());
                }
            }
        }
        let mnemonic = Mnemonic::from_name(&lower).ok_or_else(|| {
            AsmError::new(line, word_col, format!("no such instruction: `{lower}`"))
        })?;
        if let Some((byte, name)) = prefix {
            let ok = match byte {
                0xF0 => mnemonic.lockable(),
                _ => {
                    matches!(mnemonic, Mnemonic::Fixed(_))
                        && crate::insns::FIXED.iter().any(|(n, _)| {
                            *n == lower && matches!(*n, "movsb" | "movsq" | "stosb" | "stosq")
                        })
                }
            };
            if !ok {
                return Err(AsmError::new(
                    line,
                    word_col,
                    format!("`{name}` cannot be used with `{lower}`"),
                ));
            }
        }
        let mut ops = Vec::new();
        let mut op_cols = Vec::new();
        let mut p = Parser::new(ops_toks, line, end_col, &self.locals);
        if !p.at_end() {
            loop {
                op_cols.push(p.col());
                ops.push(p.operand()?);
                if p.at_end() {
                    break;
                }
                p.expect_punct(',')?;
            }
        }
        if prefix.is_some_and(|(b, _)| b == 0xF0)
            && !matches!(ops.first(), Some(ParsedOperand::Mem { .. }))
        {
            return Err(AsmError::new(
                line,
                word_col,
                format!("`lock` needs a memory destination for `{lower}`"),
            ));
        }
        self.push(
            line,
            word_col,
            Stmt::Insn {
                prefix,
                mnemonic,
                name: lower,
                ops,
                op_cols,
            },
        );
        Ok(())
    }

    fn define_label(&mut self, line: usize, col: usize, name: String) -> Result<(), AsmError> {
        let name = if name.bytes().all(|b| b.is_ascii_digit()) {
            let n = self.locals.counts.entry(name.clone()).or_insert(0);
            *n += 1;
            format!("{name}\u{2}{}", *n - 1)
        } else {
            name
        };
        if Reg::is_reserved(&name) {
            return Err(AsmError::new(
                line,
                col,
                format!("`{name}` is a register name, not a label"),
            ));
        }
        if self.defined.contains_key(&name) || self.equs.contains_key(&name) {
            return Err(AsmError::new(
                line,
                col,
                format!("symbol `{name}` is already defined"),
            ));
        }
        self.defined.insert(name.clone(), self.current);
        self.push(line, col, Stmt::Label(name));
        Ok(())
    }

    fn define_equ(
        &mut self,
        line: usize,
        col: usize,
        name: String,
        v: Value,
    ) -> Result<(), AsmError> {
        let v = self.constant(&v, line)?;
        if self.defined.contains_key(&name) {
            return Err(AsmError::new(
                line,
                col,
                format!("symbol `{name}` is already defined"),
            ));
        }
        self.equs.insert(name.clone(), v);
        self.locals.equs.insert(name, v);
        Ok(())
    }

    /// The value of an expression that must be a constant (`.equ` symbols are substituted).
    fn constant(&self, v: &Value, line: usize) -> Result<i64, AsmError> {
        match &v.sym {
            None => Ok(v.num),
            Some(s) => match self.equs.get(s) {
                Some(&n) => Ok(n.wrapping_add(v.num)),
                None => Err(AsmError::new(
                    line,
                    v.col,
                    format!("`{s}` is not a constant"),
                )),
            },
        }
    }

    fn directive(
        &mut self,
        line: usize,
        col: usize,
        name: &str,
        args: &[Token],
        end_col: usize,
    ) -> Result<(), AsmError> {
        let mut p = Parser::new(args, line, end_col, &self.locals);
        let args_list = |p: &mut Parser<'_>| -> Result<Vec<Value>, AsmError> {
            let mut v = Vec::new();
            if p.at_end() {
                return Ok(v);
            }
            loop {
                v.push(p.expr()?);
                if p.at_end() {
                    return Ok(v);
                }
                p.expect_punct(',')?;
            }
        };
        match name {
            ".intel_syntax" => {
                match args.first().map(|t| &t.tok) {
                    Some(Tok::Ident(w)) if w == "noprefix" => {}
                    Some(Tok::Ident(w)) if w == "prefix" => {
                        return Err(AsmError::new(
                            line,
                            args[0].col,
                            "only `.intel_syntax noprefix` is supported".into(),
                        ))
                    }
                    None => {
                        return Err(AsmError::new(
                            line,
                            col,
                            "only `.intel_syntax noprefix` is supported (registers without `%`)"
                                .into(),
                        ))
                    }
                    Some(_) => {
                        return Err(AsmError::new(
                            line,
                            args[0].col,
                            "bad argument to `.intel_syntax`".into(),
                        ))
                    }
                }
                if args.len() > 1 {
                    return Err(AsmError::new(
                        line,
                        args[1].col,
                        "junk after `.intel_syntax noprefix`".into(),
                    ));
                }
            }
            ".att_syntax" => {
                return Err(AsmError::new(
                    line,
                    col,
                    "AT&T syntax is not supported".into(),
                ))
            }
            ".globl" | ".global" => {
                let names = args_list(&mut p)?;
                if names.is_empty() {
                    return Err(AsmError::new(line, col, "expected a symbol name".into()));
                }
                for v in names {
                    match v.sym {
                        Some(s) if v.num == 0 => {
                            self.globals.insert(s);
                        }
                        _ => {
                            return Err(AsmError::new(line, v.col, "expected a symbol name".into()))
                        }
                    }
                }
            }
            ".text" | ".data" | ".bss" => {
                if !args.is_empty() {
                    return Err(AsmError::new(
                        line,
                        args[0].col,
                        format!("junk after `{name}`"),
                    ));
                }
                self.switch_section(line, col, name.to_string());
            }
            ".section" => {
                let Some(Token {
                    tok: Tok::Ident(sec),
                    ..
                }) = args.first()
                else {
                    return Err(AsmError::new(line, col, "expected a section name".into()));
                };
                self.switch_section(line, col, sec.clone());
            }
            ".byte" | ".word" | ".short" | ".value" | ".2byte" | ".long" | ".int" | ".4byte"
            | ".quad" | ".8byte" => {
                let width = match name {
                    ".byte" => 1,
                    ".word" | ".short" | ".value" | ".2byte" => 2,
                    ".long" | ".int" | ".4byte" => 4,
                    _ => 8,
                };
                let mut values = args_list(&mut p)?;
                for v in values.iter_mut() {
                    if let Some(s) = &v.sym {
                        if let Some(&n) = self.equs.get(s) {
                            *v = Value {
                                sym: None,
                                num: n.wrapping_add(v.num),
                                col: v.col,
                            };
                        } else if width < 4 {
                            return Err(AsmError::new(
                                line,
                                v.col,
                                format!("a symbol does not fit `{name}` (use .long or .quad)"),
                            ));
                        }
                    }
                    if v.sym.is_none() && width < 8 {
                        let bits = width as u32 * 8;
                        let max = (1i128 << bits) - 1;
                        let n = v.num as i128;
                        if n > max || n < -max {
                            return Err(AsmError::new(
                                line,
                                v.col,
                                format!("value {} does not fit in {bits} bits", v.num),
                            ));
                        }
                    }
                }
                self.push(line, col, Stmt::Data(width, values));
            }
            ".ascii" | ".asciz" | ".string" => {
                let mut bytes = Vec::new();
                let mut first = true;
                loop {
                    if p.at_end() {
                        if first {
                            return Err(AsmError::new(
                                line,
                                col,
                                format!("expected a string after `{name}`"),
                            ));
                        }
                        break;
                    }
                    first = false;
                    let Some(t) = p.next_token() else { break };
                    match &t.tok {
                        Tok::Str(s) => {
                            bytes.extend_from_slice(s);
                            if name != ".ascii" {
                                bytes.push(0);
                            }
                        }
                        _ => return Err(AsmError::new(line, t.col, "expected a string".into())),
                    }
                    if p.at_end() {
                        break;
                    }
                    p.expect_punct(',')?;
                }
                self.push(line, col, Stmt::Bytes(bytes));
            }
            ".fill" => {
                let v = args_list(&mut p)?;
                if v.is_empty() || v.len() > 3 {
                    return Err(AsmError::new(
                        line,
                        col,
                        "`.fill` takes repeat[, size[, value]]".into(),
                    ));
                }
                let count = self.constant(&v[0], line)?;
                let size = if v.len() > 1 {
                    self.constant(&v[1], line)?
                } else {
                    1
                };
                let value = if v.len() > 2 {
                    self.constant(&v[2], line)?
                } else {
                    0
                };
                if !(0..=8).contains(&size) {
                    return Err(AsmError::new(
                        line,
                        v[1].col,
                        "`.fill` size must be 0..8".into(),
                    ));
                }
                if !(0..=1 << 24).contains(&count) || count * size.max(1) > 1 << 24 {
                    return Err(AsmError::new(
                        line,
                        v[0].col,
                        format!("`.fill` of {count} x {size} bytes: more than 16 MiB"),
                    ));
                }
                self.push(
                    line,
                    col,
                    Stmt::Fill {
                        count: count as usize,
                        size: size as u8,
                        value,
                    },
                );
            }
            ".zero" | ".skip" | ".space" => {
                let v = args_list(&mut p)?;
                if v.is_empty() || v.len() > 2 || (name == ".zero" && v.len() > 1) {
                    return Err(AsmError::new(
                        line,
                        col,
                        format!("`{name}` takes a size (and a fill byte)"),
                    ));
                }
                let count = self.constant(&v[0], line)?;
                let value = if v.len() > 1 {
                    self.constant(&v[1], line)?
                } else {
                    0
                };
                if !(0..=1 << 24).contains(&count) {
                    return Err(AsmError::new(
                        line,
                        v[0].col,
                        format!("size {count} out of range"),
                    ));
                }
                self.push(
                    line,
                    col,
                    Stmt::Fill {
                        count: count as usize,
                        size: 1,
                        value,
                    },
                );
            }
            ".align" | ".balign" | ".p2align" => {
                let v = args_list(&mut p)?;
                if v.is_empty() || v.len() > 3 {
                    return Err(AsmError::new(
                        line,
                        col,
                        format!("`{name}` takes an alignment"),
                    ));
                }
                let n = self.constant(&v[0], line)?;
                if v.len() > 1 {
                    return Err(AsmError::new(
                        line,
                        v[1].col,
                        format!("a fill value for `{name}` is not supported"),
                    ));
                }
                let align = if name == ".p2align" {
                    if !(0..=16).contains(&n) {
                        return Err(AsmError::new(line, v[0].col, "alignment too large".into()));
                    }
                    1u32 << n
                } else {
                    if !(0..=1 << 16).contains(&n) || (n != 0 && n & (n - 1) != 0) {
                        return Err(AsmError::new(
                            line,
                            v[0].col,
                            "alignment not a power of 2".into(),
                        ));
                    }
                    n.max(1) as u32
                };
                self.push(line, col, Stmt::Align(align));
            }
            ".equ" | ".set" => {
                let Some(Token {
                    tok: Tok::Ident(sym),
                    ..
                }) = args.first()
                else {
                    return Err(AsmError::new(
                        line,
                        col,
                        format!("expected a symbol name after `{name}`"),
                    ));
                };
                let sym = sym.clone();
                let v = {
                    let mut p =
                        Parser::new(args.get(1..).unwrap_or(&[]), line, end_col, &self.locals);
                    p.expect_punct(',')?;
                    let v = p.expr()?;
                    if !p.at_end() {
                        return Err(p.err("junk after expression"));
                    }
                    v
                };
                return self.define_equ(line, col, sym, v);
            }
            _ if IGNORED_DIRECTIVES.contains(&name) || name.starts_with(".cfi_") => {}
            _ => {
                return Err(AsmError::new(
                    line,
                    col,
                    format!("unknown pseudo-op: `{name}`"),
                ))
            }
        }
        Ok(())
    }

    fn switch_section(&mut self, line: usize, col: usize, name: String) {
        let idx = match self.sections.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                let kind = section_kind(&name);
                self.sections.push(SectionDef { name, kind });
                self.sections.len() - 1
            }
        };
        self.current = idx;
        self.push(line, col, Stmt::Section(idx));
    }

    /// Pass 2: encode every section.
    fn encode(mut self) -> Result<Object, AsmErrors> {
        let mut asms: Vec<Assembler> = self.sections.iter().map(|_| Assembler::new()).collect();
        let mut labels: HashMap<String, (usize, Label)> = HashMap::new();
        for (name, &sec) in &self.defined {
            labels.insert(name.clone(), (sec, asms[sec].new_label()));
        }
        let mut current = 0;
        let lines = std::mem::take(&mut self.lines);
        for l in &lines {
            let r = self.encode_stmt(&mut asms, &labels, &mut current, l);
            if let Err(e) = r {
                self.errors.push(e);
            }
        }
        let mut sections = Vec::new();
        for (i, a) in asms.into_iter().enumerate() {
            match a.finish() {
                Ok(code) => sections.push(ObjSection {
                    name: self.sections[i].name.clone(),
                    kind: self.sections[i].kind,
                    code,
                }),
                Err(e) => self.errors.push(AsmError::new(
                    0,
                    0,
                    format!("section {}: {e}", self.sections[i].name),
                )),
            }
        }
        // Undefined numeric local labels are never resolved by the host.
        for s in &sections {
            for r in s.code.relocs() {
                if let RelocTarget::Symbol(id) = r.target {
                    let name = s.code.symbol_name(id);
                    if name.contains('\u{2}') && !self.defined.contains_key(name) {
                        let shown = name.split('\u{2}').next().unwrap_or(name);
                        self.errors.push(AsmError::new(
                            0,
                            0,
                            format!("undefined local label `{shown}`"),
                        ));
                    }
                }
            }
        }
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|e| (e.line, e.column));
            self.errors.dedup();
            return Err(AsmErrors(self.errors));
        }
        let mut symbols = BTreeMap::new();
        for (name, (sec, label)) in &labels {
            if let Some(off) = sections[*sec].code.label_offset(*label) {
                symbols.insert(name.clone(), (*sec, off));
            }
        }
        Ok(Object {
            sections,
            symbols,
            globals: self.globals,
        })
    }

    fn encode_stmt(
        &self,
        asms: &mut [Assembler],
        labels: &HashMap<String, (usize, Label)>,
        current: &mut usize,
        l: &Line,
    ) -> Result<(), AsmError> {
        let err = |msg: String| AsmError::new(l.line, l.col, msg);
        let sec = *current;
        let kind = self.sections[sec].kind;
        let bss_check = |what: &str| -> Result<(), AsmError> {
            if kind == SectionKind::Bss {
                Err(AsmError::new(
                    l.line,
                    l.col,
                    format!("{what} in a .bss section (only zeros can go there)"),
                ))
            } else {
                Ok(())
            }
        };
        match &l.stmt {
            Stmt::Section(i) => *current = *i,
            Stmt::Label(name) => {
                let (_, label) = labels[name];
                asms[sec].try_bind(label).map_err(|e| err(e.to_string()))?;
            }
            Stmt::Align(n) => asms[sec].align(*n, kind == SectionKind::Code),
            Stmt::Bytes(b) => {
                if b.iter().any(|&x| x != 0) {
                    bss_check("data")?;
                }
                asms[sec].bytes_raw(b)
            }
            Stmt::Fill { count, size, value } => {
                if *value != 0 && *size != 0 {
                    bss_check("data")?;
                }
                let bytes = value.to_le_bytes();
                let a = &mut asms[sec];
                for _ in 0..*count {
                    a.bytes_raw(&bytes[..*size as usize]);
                }
            }
            Stmt::Data(width, values) => {
                for v in values {
                    let a = &mut asms[sec];
                    match &v.sym {
                        None => {
                            if v.num != 0 {
                                bss_check("data")?;
                            }
                            a.bytes_raw(&v.num.to_le_bytes()[..*width as usize]);
                        }
                        Some(s) => {
                            bss_check("data")?;
                            let target = self.target_for(a, labels, sec, s, false);
                            if *width == 8 {
                                a.ref64(target, v.num);
                            } else {
                                a.ref32(target, crate::assembler::FixKind::Abs32, 0, v.num);
                            }
                        }
                    }
                }
            }
            Stmt::Insn {
                prefix,
                mnemonic,
                name,
                ops,
                op_cols,
            } => {
                if kind == SectionKind::Bss {
                    bss_check("an instruction")?;
                }
                let is_branch =
                    matches!(mnemonic, Mnemonic::Jmp | Mnemonic::Call | Mnemonic::Jcc(_));
                let is_call = *mnemonic == Mnemonic::Call;
                let mut operands = Vec::with_capacity(ops.len());
                for op in ops {
                    operands.push(self.operand(
                        &mut asms[sec],
                        labels,
                        sec,
                        op,
                        is_branch,
                        is_call,
                        l.line,
                    )?);
                }
                let a = &mut asms[sec];
                let start = a.offset();
                let r = a.emit(*mnemonic, &operands);
                if let (Some((byte, _)), Ok(())) = (prefix, &r) {
                    // GNU as puts lock/rep after the segment, 0x67 and 0x66 prefixes.
                    a.insert_prefix(start, *byte);
                }
                r.map_err(|e| {
                    // Point at the operand at fault where the error names one.
                    let at = match &e {
                        crate::EncodeError::HighByteWithRex { reg } => ops
                            .iter()
                            .position(|o| matches!(o, ParsedOperand::Reg(r) if r == reg)),
                        crate::EncodeError::InvalidMemory(_) => ops
                            .iter()
                            .position(|o| matches!(o, ParsedOperand::Mem { .. })),
                        _ => None,
                    };
                    let col = at.and_then(|i| op_cols.get(i).copied()).unwrap_or(l.col);
                    let msg = e
                        .to_string()
                        .replace("`jcc`", &format!("`{name}`"))
                        .replace("`setcc`", &format!("`{name}`"))
                        .replace("`cmovcc`", &format!("`{name}`"));
                    AsmError::new(l.line, col, msg)
                })?;
            }
        }
        Ok(())
    }

    fn target_for(
        &self,
        a: &mut Assembler,
        labels: &HashMap<String, (usize, Label)>,
        sec: usize,
        sym: &str,
        call: bool,
    ) -> Target {
        match labels.get(sym) {
            // GNU as leaves calls to global symbols to the linker (R_X86_64_PLT32).
            Some(&(s, label)) if s == sec && !(call && self.globals.contains(sym)) => {
                Target::Label(label)
            }
            _ => Target::Symbol(a.symbol(sym)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn operand(
        &self,
        a: &mut Assembler,
        labels: &HashMap<String, (usize, Label)>,
        sec: usize,
        op: &ParsedOperand,
        branch: bool,
        call: bool,
        line: usize,
    ) -> Result<Operand, AsmError> {
        // Substitutes `.equ` constants.
        let value = |v: &Value| -> Value {
            match &v.sym {
                Some(s) => match self.equs.get(s) {
                    Some(&n) => Value {
                        sym: None,
                        num: n.wrapping_add(v.num),
                        col: v.col,
                    },
                    None => v.clone(),
                },
                None => v.clone(),
            }
        };
        let disp32 = |v: &Value| -> Result<i32, AsmError> {
            i32::try_from(v.num)
                .or_else(|_| u32::try_from(v.num).map(|u| u as i32).map_err(|_| ()))
                .map_err(|_| {
                    AsmError::new(
                        line,
                        v.col,
                        format!("displacement {} does not fit in 32 bits", v.num),
                    )
                })
        };
        Ok(match op {
            ParsedOperand::Reg(r) => Operand::Reg(*r),
            ParsedOperand::Xmm(x) => Operand::Xmm(*x),
            ParsedOperand::Seg(s) => Operand::Seg(*s),
            ParsedOperand::Offset(v) => {
                let v = value(v);
                match &v.sym {
                    None => Operand::Imm(v.num),
                    Some(s) => Operand::Target(self.target_for(a, labels, sec, s, false), v.num),
                }
            }
            ParsedOperand::Expr { value: v, size } => {
                let v = value(v);
                match (&v.sym, branch, size) {
                    (None, false, None) => Operand::Imm(v.num),
                    (Some(s), true, None) => {
                        Operand::Target(self.target_for(a, labels, sec, s, call), v.num)
                    }
                    (None, true, None) => {
                        return Err(AsmError::new(
                            line,
                            v.col,
                            "branches to absolute addresses are not supported".into(),
                        ))
                    }
                    // `mov eax, sym` / `DWORD PTR sym`: a memory operand at an absolute address.
                    (sym, _, size) => {
                        let target = sym
                            .as_ref()
                            .map(|s| self.target_for(a, labels, sec, s, false));
                        Operand::Mem(Mem::new(None, None, 1, false, disp32(&v)?, *size, target))
                    }
                }
            }
            ParsedOperand::Mem {
                size,
                base,
                index,
                scale,
                rip,
                disp,
                seg,
            } => {
                let v = value(disp);
                let target = v
                    .sym
                    .as_ref()
                    .map(|s| self.target_for(a, labels, sec, s, false));
                let d = disp32(&v)?;
                let m = Mem::new(*base, *index, *scale, *rip, d, *size, target);
                Operand::Mem(match seg {
                    Some(s) => m.with_segment(*s),
                    None => m,
                })
            }
        })
    }
}

use crate::reg::Reg;

impl Reg {
    /// Register names (and `rip`) cannot be label names.
    pub(crate) fn is_reserved(name: &str) -> bool {
        Reg::from_name(name).is_some()
            || crate::reg::Xmm::from_name(name).is_some()
            || crate::reg::SegReg::from_name(name).is_some()
            || name.eq_ignore_ascii_case("rip")
    }
}
