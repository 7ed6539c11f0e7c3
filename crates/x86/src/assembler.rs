//! The code buffer: bytes appended straight into a `Vec<u8>`, labels, fixups, relocations for
//! external symbols, and branch relaxation (GNU as's choice: a jump is short when its target is in
//! range, long otherwise) done once in [`Assembler::finish`].
//!
//! How relaxation works: a branch to a label that is not bound yet (or bound before a pending
//! branch, whose growth could still move it out of range) is written in its 2-byte short form and
//! remembered. `finish` grows every remembered branch whose displacement does not fit in 8 bits,
//! repeats until nothing changes (growth only ever moves targets further away, so this ends), then
//! rebuilds the buffer once, shifting labels, fixups and relocations. Alignment padding
//! (`.align`) takes part in the same iteration. Code without forward branches is never copied.

use std::collections::HashMap;

use crate::encode::InsnBytes;
use crate::error::EncodeError;
use crate::operand::{Label, SymbolId, Target};

const UNBOUND: u32 = u32::MAX;

/// How a relocated field is computed from the target's address `S`, the addend `A` and the
/// field's own address `P` (ELF x86-64 conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocKind {
    /// 32-bit `S + A - P` (calls, jumps, RIP-relative operands: `R_X86_64_PC32`/`PLT32`).
    Rel32,
    /// 64-bit `S + A` (`.quad sym`, `movabs r64, OFFSET sym`: `R_X86_64_64`).
    Abs64,
    /// 32-bit `S + A`, zero-extended (`mov r32, OFFSET sym`, `.long sym`: `R_X86_64_32`).
    Abs32,
    /// 32-bit `S + A`, sign-extended (`mov r64, OFFSET sym`, `[sym]`: `R_X86_64_32S`).
    Abs32S,
}

impl RelocKind {
    /// The size of the relocated field in bytes.
    pub const fn width(self) -> usize {
        match self {
            RelocKind::Abs64 => 8,
            _ => 4,
        }
    }
}

/// What a relocation refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocTarget {
    /// A named symbol ([`Assembler::symbol`]): resolved when the code is loaded.
    Symbol(SymbolId),
    /// The start of this code itself (absolute references to its own labels).
    Local,
    /// A fixed address, e.g. a host function called with [`Assembler::call_abs`].
    Address(u64),
}

/// A field that can be filled in only when the code's (or a symbol's) address is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// Where the field starts, from the start of the code.
    pub offset: usize,
    pub kind: RelocKind,
    pub target: RelocTarget,
    pub addend: i64,
}

/// Assembled code: bytes, final label offsets and the relocations still to apply.
#[derive(Clone, Debug, Default)]
pub struct Code {
    pub(crate) bytes: Vec<u8>,
    pub(crate) relocs: Vec<Reloc>,
    pub(crate) labels: Vec<u32>,
    pub(crate) symbols: Vec<String>,
}

impl Code {
    /// The machine code. Relocated fields hold zero (as in an ELF object's section).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    pub fn relocs(&self) -> &[Reloc] {
        &self.relocs
    }
    /// The final offset of a bound label.
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        match self.labels.get(label.0 as usize) {
            Some(&off) if off != UNBOUND => Some(off as usize),
            _ => None,
        }
    }
    /// The name given to [`Assembler::symbol`].
    pub fn symbol_name(&self, id: SymbolId) -> &str {
        &self.symbols[id.0 as usize]
    }
    /// Every symbol name, indexed by [`SymbolId::index`].
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FixKind {
    /// 32-bit displacement relative to `end`.
    Rel32,
    Abs64,
    Abs32,
    Abs32S,
}

/// A reference to a label of this assembler, patched in `finish`.
#[derive(Clone, Copy, Debug)]
struct Fixup {
    at: u32,
    /// For `Rel32`: the address the displacement counts from (end of the instruction).
    end: u32,
    label: Label,
    addend: i64,
    kind: FixKind,
}

/// Something whose size is decided during relaxation.
#[derive(Clone, Copy, Debug)]
enum Variable {
    /// A branch written as a 2-byte placeholder at `at`: `cond` is the jcc condition code, or
    /// `JMP` for an unconditional jump.
    Branch { at: u32, cond: u8, label: Label },
    /// Padding to a multiple of `align` at `at` (1 byte in the placeholder buffer).
    Align { at: u32, align: u32, code: bool },
}

const JMP: u8 = 0xFF;

impl Variable {
    fn at(&self) -> u32 {
        match *self {
            Variable::Branch { at, .. } | Variable::Align { at, .. } => at,
        }
    }
    fn placeholder_len(&self) -> u32 {
        match self {
            Variable::Branch { .. } => 2,
            // One byte, so that a label bound right after the padding has a different
            // placeholder offset than one bound right before it.
            Variable::Align { .. } => 1,
        }
    }
}

/// The x86-64 code builder. See the crate documentation for an example.
///
/// Every instruction method appends its encoding to one `Vec<u8>`; nothing is allocated per
/// instruction. An invalid operand combination does not panic: the first error is kept and
/// returned by [`finish`](Assembler::finish) (and by [`error`](Assembler::error)).
#[derive(Debug, Default)]
pub struct Assembler {
    pub(crate) buf: Vec<u8>,
    labels: Vec<u32>,
    fixups: Vec<Fixup>,
    variables: Vec<Variable>,
    relocs: Vec<Reloc>,
    symbols: Vec<String>,
    symbol_ids: HashMap<String, SymbolId>,
    error: Option<EncodeError>,
}

impl Assembler {
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// An assembler whose buffer starts with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Assembler {
        Assembler {
            buf: Vec::with_capacity(bytes),
            ..Assembler::default()
        }
    }

    /// The current offset (before relaxation: final offsets come from [`Code::label_offset`]).
    pub fn offset(&self) -> usize {
        self.buf.len()
    }

    /// The bytes written so far (forward branches are still in their short placeholder form).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The first encoding error, if any.
    pub fn error(&self) -> Option<&EncodeError> {
        self.error.as_ref()
    }

    /// Records the first error of a builder call.
    #[inline(always)]
    pub(crate) fn record(&mut self, r: Result<(), EncodeError>) {
        if let Err(e) = r {
            self.record_error(e);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_error(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// A new, unbound label.
    pub fn new_label(&mut self) -> Label {
        self.labels.push(UNBOUND);
        Label(self.labels.len() as u32 - 1)
    }

    /// Binds `label` to the current position. Binding twice is an error.
    pub fn bind(&mut self, label: Label) {
        let r = self.try_bind(label);
        self.record(r);
    }

    pub fn try_bind(&mut self, label: Label) -> Result<(), EncodeError> {
        let pos = self.buf.len() as u32;
        match self.labels.get_mut(label.0 as usize) {
            None => Err(EncodeError::UnknownLabel(label.0)),
            Some(slot) if *slot != UNBOUND => Err(EncodeError::LabelBoundTwice(label.0)),
            Some(slot) => {
                *slot = pos;
                Ok(())
            }
        }
    }

    /// A new label bound here (a loop head, a function entry).
    pub fn label_here(&mut self) -> Label {
        let l = self.new_label();
        self.bind(l);
        l
    }

    /// The id of an external symbol (`putchar`); the same name always gives the same id.
    pub fn symbol(&mut self, name: &str) -> SymbolId {
        if let Some(&id) = self.symbol_ids.get(name) {
            return id;
        }
        let id = SymbolId(self.symbols.len() as u32);
        self.symbols.push(name.to_string());
        self.symbol_ids.insert(name.to_string(), id);
        id
    }

    /// Puts a `lock`/`rep` prefix into the instruction that starts at `start` (the last one
    /// written), after its segment, `0x67` and `0x66` prefixes: GNU as's order. References
    /// recorded for that instruction move with its bytes. (This keeps the rare prefixes of the
    /// text assembler off the encoder's hot path.)
    pub(crate) fn insert_prefix(&mut self, start: usize, byte: u8) {
        let mut at = start;
        while at < self.buf.len()
            && matches!(
                self.buf[at],
                0x26 | 0x2E | 0x36 | 0x3E | 0x64 | 0x65 | 0x66 | 0x67
            )
        {
            at += 1;
        }
        self.buf.insert(at, byte);
        for f in self.fixups.iter_mut().rev() {
            if (f.at as usize) < at {
                break;
            }
            f.at += 1;
            f.end += 1;
        }
        for r in self.relocs.iter_mut().rev() {
            if r.offset < at {
                break;
            }
            r.offset += 1;
        }
    }

    /// Appends raw bytes (`.byte`, `.ascii`, a pre-encoded instruction).
    #[inline]
    pub fn bytes_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Pads with NOPs (in code) or zeros (in data) to a multiple of `align` (a power of two),
    /// the way GNU as's `.align`/`.p2align` does.
    pub fn align(&mut self, align: u32, code: bool) {
        if align <= 1 {
            return;
        }
        if self.variables.is_empty() {
            let pad = padding(self.buf.len() as u32, align);
            fill_padding(&mut self.buf, pad as usize, code);
        } else {
            self.variables.push(Variable::Align {
                at: self.buf.len() as u32,
                align,
                code,
            });
            self.buf.push(0);
        }
    }

    /// A 32-bit field referring to `target`: `kind` says how. `end` is where a relative
    /// displacement counts from. The field's bytes are written as zero here.
    #[inline]
    pub(crate) fn ref32(&mut self, target: Target, kind: FixKind, end_extra: u32, addend: i64) {
        let at = self.buf.len() as u32;
        self.buf.extend_from_slice(&[0; 4]);
        self.reference(target, kind, at, at + 4 + end_extra, addend);
    }

    /// A 64-bit absolute field referring to `target`.
    pub(crate) fn ref64(&mut self, target: Target, addend: i64) {
        let at = self.buf.len() as u32;
        self.buf.extend_from_slice(&[0; 8]);
        self.reference(target, FixKind::Abs64, at, at + 8, addend);
    }

    /// Records a reference from the field at `at`; for `Rel32` the displacement counts from
    /// `end`. (Out of line: the encoder's hot path only calls it for label/symbol operands.)
    #[inline(never)]
    pub(crate) fn reference(
        &mut self,
        target: Target,
        kind: FixKind,
        at: u32,
        end: u32,
        addend: i64,
    ) {
        match target {
            Target::Label(label) => self.fixups.push(Fixup {
                at,
                end,
                label,
                addend,
                kind,
            }),
            Target::Symbol(sym) => {
                let (kind, addend) = match kind {
                    FixKind::Rel32 => (RelocKind::Rel32, addend - (end - at) as i64),
                    FixKind::Abs64 => (RelocKind::Abs64, addend),
                    FixKind::Abs32 => (RelocKind::Abs32, addend),
                    FixKind::Abs32S => (RelocKind::Abs32S, addend),
                };
                self.relocs.push(Reloc {
                    offset: at as usize,
                    kind,
                    target: RelocTarget::Symbol(sym),
                    addend,
                });
            }
        }
    }

    /// A rel32 field to a fixed address (`call_abs`): resolved when the code is loaded.
    pub(crate) fn rel32_to_address(&mut self, addr: u64) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.relocs.push(Reloc {
            offset: at,
            kind: RelocKind::Rel32,
            target: RelocTarget::Address(addr),
            addend: -4,
        });
    }

    /// A branch to a label: `cond` is a jcc condition code or `None` for `jmp`. Short when the
    /// target is known to be in range, decided in `finish` otherwise.
    pub(crate) fn branch_to_label(
        &mut self,
        cond: Option<u8>,
        label: Label,
    ) -> Result<(), EncodeError> {
        let target = match self.labels.get(label.0 as usize) {
            None => return Err(EncodeError::UnknownLabel(label.0)),
            Some(&t) => t,
        };
        let here = self.buf.len() as u32;
        let settled = target != UNBOUND
            && match self.variables.last() {
                Some(v) => v.at() < target,
                None => true,
            };
        if settled {
            // Backward, with nothing between that can still grow: the distance is final.
            let short = target as i64 - (here as i64 + 2);
            let mut ib = InsnBytes::new();
            if (-128..=127).contains(&short) {
                ib.push(match cond {
                    Some(cc) => 0x70 | cc,
                    None => 0xEB,
                });
                ib.push(short as u8);
            } else {
                let len = if cond.is_some() { 6 } else { 5 };
                let rel = target as i64 - (here as i64 + len);
                match cond {
                    Some(cc) => ib.push_slice(&[0x0F, 0x80 | cc]),
                    None => ib.push(0xE9),
                }
                ib.push_imm(rel, 4);
            }
            self.flush(&ib);
        } else {
            self.forward_branch(here, cond, label);
        }
        Ok(())
    }

    /// A branch whose length is decided in `finish`: a 2-byte placeholder now.
    #[inline(never)]
    fn forward_branch(&mut self, here: u32, cond: Option<u8>, label: Label) {
        self.variables.push(Variable::Branch {
            at: here,
            cond: cond.unwrap_or(JMP),
            label,
        });
        self.buf.extend_from_slice(&[0, 0]);
    }

    /// Finishes the code: relaxes branches, patches label references, and returns the bytes with
    /// the relocations that remain (external symbols, absolute addresses of own labels).
    pub fn finish(mut self) -> Result<Code, EncodeError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.buf.len() > i32::MAX as usize {
            return Err(EncodeError::CodeTooLarge);
        }
        for f in &self.fixups {
            self.check_bound(f.label)?;
        }
        for v in &self.variables {
            if let Variable::Branch { label, .. } = *v {
                self.check_bound(label)?;
            }
        }
        if !self.variables.is_empty() {
            self.relax();
        }
        let mut relocs = std::mem::take(&mut self.relocs);
        for f in &self.fixups {
            let target = self.labels[f.label.0 as usize] as i64;
            let at = f.at as usize;
            match f.kind {
                FixKind::Rel32 => {
                    let v = target + f.addend - f.end as i64;
                    self.buf[at..at + 4].copy_from_slice(&(v as i32).to_le_bytes());
                }
                FixKind::Abs64 | FixKind::Abs32 | FixKind::Abs32S => relocs.push(Reloc {
                    offset: at,
                    kind: match f.kind {
                        FixKind::Abs64 => RelocKind::Abs64,
                        FixKind::Abs32 => RelocKind::Abs32,
                        _ => RelocKind::Abs32S,
                    },
                    target: RelocTarget::Local,
                    addend: target + f.addend,
                }),
            }
        }
        relocs.sort_by_key(|r| r.offset);
        Ok(Code {
            bytes: self.buf,
            relocs,
            labels: self.labels,
            symbols: self.symbols,
        })
    }

    fn check_bound(&self, label: Label) -> Result<(), EncodeError> {
        match self.labels.get(label.0 as usize) {
            None => Err(EncodeError::UnknownLabel(label.0)),
            Some(&UNBOUND) => Err(EncodeError::UnboundLabel(label.0)),
            Some(_) => Ok(()),
        }
    }

    /// Decides the size of every variable item, then rebuilds the buffer.
    fn relax(&mut self) {
        let vars = std::mem::take(&mut self.variables);
        let n = vars.len();
        // size[i]: the final size of item i; start short / unpadded.
        let mut size: Vec<u32> = vars.iter().map(|v| v.placeholder_len()).collect();
        // growth_before[i]: total growth of items 0..i.
        let mut growth_before = vec![0i64; n + 1];
        let ats: Vec<u32> = vars.iter().map(|v| v.at()).collect();
        // New position of an old offset that is not inside a variable item: items starting
        // strictly before it have moved it. (A label bound where a branch starts precedes it.)
        let new_pos = |old: u32, growth_before: &[i64]| -> i64 {
            let i = ats.partition_point(|&a| a < old);
            old as i64 + growth_before[i]
        };
        // GNU as's relaxation (write.c, relax_segment): items are visited in address order; an
        // item's address includes this pass's growth of the items before it ("stretch"); a
        // target not visited yet in this pass is assumed to move by the same stretch.
        for i in 0..n {
            growth_before[i + 1] =
                growth_before[i] + size[i] as i64 - vars[i].placeholder_len() as i64;
        }
        for _pass in 0..64 {
            let old_growth = growth_before.clone();
            let mut changed = false;
            for (i, v) in vars.iter().enumerate() {
                let start = v.at() as i64 + growth_before[i];
                let stretch = growth_before[i] - old_growth[i];
                match *v {
                    Variable::Branch { label, cond, .. } if size[i] == 2 => {
                        let p = self.labels[label.0 as usize];
                        let k = ats.partition_point(|&a| a < p);
                        let target = if k <= i {
                            p as i64 + growth_before[k]
                        } else {
                            p as i64 + old_growth[k] + stretch
                        };
                        let disp = target - (start + 2);
                        if !(-128..=127).contains(&disp) {
                            size[i] = if cond == JMP { 5 } else { 6 };
                            changed = true;
                        }
                    }
                    Variable::Branch { .. } => {} // already long; branches never shrink
                    Variable::Align { align, .. } => {
                        let pad = padding(start as u32, align);
                        if pad != size[i] {
                            size[i] = pad;
                            changed = true;
                        }
                    }
                }
                growth_before[i + 1] =
                    growth_before[i] + size[i] as i64 - v.placeholder_len() as i64;
            }
            if !changed {
                break;
            }
        }
        for i in 0..n {
            growth_before[i + 1] =
                growth_before[i] + size[i] as i64 - vars[i].placeholder_len() as i64;
        }
        let old = std::mem::take(&mut self.buf);
        let mut out = Vec::with_capacity((old.len() as i64 + growth_before[n]) as usize);
        let mut copied = 0usize;
        for (i, v) in vars.iter().enumerate() {
            let at = v.at() as usize;
            out.extend_from_slice(&old[copied..at]);
            copied = at + v.placeholder_len() as usize;
            match *v {
                Variable::Branch { label, cond, .. } => {
                    let target = new_pos(self.labels[label.0 as usize], &growth_before);
                    let end = out.len() as i64 + size[i] as i64;
                    let disp = target - end;
                    match (size[i], cond) {
                        (2, JMP) => out.extend_from_slice(&[0xEB, disp as u8]),
                        (2, cc) => out.extend_from_slice(&[0x70 | cc, disp as u8]),
                        (_, JMP) => {
                            out.push(0xE9);
                            out.extend_from_slice(&(disp as i32).to_le_bytes());
                        }
                        (_, cc) => {
                            out.extend_from_slice(&[0x0F, 0x80 | cc]);
                            out.extend_from_slice(&(disp as i32).to_le_bytes());
                        }
                    }
                }
                Variable::Align { code, .. } => fill_padding(&mut out, size[i] as usize, code),
            }
        }
        out.extend_from_slice(&old[copied..]);
        self.buf = out;
        for l in self.labels.iter_mut() {
            if *l != UNBOUND {
                *l = new_pos(*l, &growth_before) as u32;
            }
        }
        for f in self.fixups.iter_mut() {
            f.at = new_pos(f.at, &growth_before) as u32;
            f.end = new_pos(f.end, &growth_before) as u32;
        }
        for r in self.relocs.iter_mut() {
            r.offset = new_pos(r.offset as u32, &growth_before) as usize;
        }
    }
}

/// Bytes needed to bring `pos` to a multiple of `align` (a power of two).
fn padding(pos: u32, align: u32) -> u32 {
    (align - (pos % align)) % align
}

/// GNU as's NOP patterns for x86-64 (`.p2align` in code sections): as many 11-byte NOPs as
/// fit, then one for the rest.
const NOPS: [&[u8]; 12] = [
    &[],
    &[0x90],
    &[0x66, 0x90],
    &[0x0F, 0x1F, 0x00],
    &[0x0F, 0x1F, 0x40, 0x00],
    &[0x0F, 0x1F, 0x44, 0x00, 0x00],
    &[0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
    &[0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x2E, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[
        0x66, 0x66, 0x2E, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00,
    ],
];

/// Appends `n` bytes of padding: NOPs in code, zeros in data.
pub(crate) fn fill_padding(out: &mut Vec<u8>, mut n: usize, code: bool) {
    if !code {
        out.resize(out.len() + n, 0);
        return;
    }
    while n > 0 {
        let k = n.min(NOPS.len() - 1);
        out.extend_from_slice(NOPS[k]);
        n -= k;
    }
}
