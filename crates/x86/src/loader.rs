//! Placing code and data in memory: sections laid out in one mapping (each on its own pages,
//! so each gets its own protection), relocations applied, and calls to far-away targets (host
//! functions more than ±2 GiB away) routed through stubs `jmp [rip+0]; .quad target` placed
//! after the first executable section.

use std::collections::HashMap;

use crate::assembler::{Code, RelocKind, RelocTarget};
use crate::error::LoadError;
use crate::exec::{page_size, ExecutableMemory, Mapping, Prot};
use crate::operand::Label;

/// What a relocation in a [`SectionImage`] points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LinkTarget {
    /// The start of section number `n` of the same image.
    Section(usize),
    /// A name resolved by the caller's resolver (a host libc function).
    External(String),
    /// A fixed address.
    Address(u64),
}

/// One relocation of a section to be linked.
#[derive(Clone, Debug)]
pub struct LinkReloc {
    pub offset: usize,
    pub kind: RelocKind,
    pub target: LinkTarget,
    pub addend: i64,
}

/// A section to place in memory.
#[derive(Clone, Debug)]
pub struct SectionImage<'a> {
    pub name: String,
    pub bytes: &'a [u8],
    /// Total size (at least `bytes.len()`; the rest is zero, as in `.bss`).
    pub size: usize,
    pub prot: Prot,
    pub relocs: Vec<LinkReloc>,
}

/// Sections placed in memory with their final protections.
#[derive(Debug)]
pub struct Image {
    mem: ExecutableMemory,
    bases: Vec<usize>,
}

impl Image {
    /// The address where section `n` starts.
    pub fn section_addr(&self, n: usize) -> usize {
        self.bases[n]
    }

    /// The underlying mapping (for typed function pointers).
    pub fn memory(&self) -> &ExecutableMemory {
        &self.mem
    }
}

const STUB_LEN: usize = 16;

/// Lays out, relocates and protects `sections`. `resolve` gives the address of external names.
pub fn link(
    sections: &[SectionImage<'_>],
    resolve: &mut dyn FnMut(&str) -> Option<u64>,
) -> Result<Image, LoadError> {
    let page = page_size();
    // Stubs: one per distinct external/address target of a rel32 in an executable section.
    let stub_section = sections.iter().position(|s| s.prot == Prot::ReadExec);
    let mut stub_slots: HashMap<LinkTarget, usize> = HashMap::new();
    let mut need_low = false;
    for s in sections {
        for r in &s.relocs {
            if matches!(r.kind, RelocKind::Abs32 | RelocKind::Abs32S) {
                need_low = true;
            }
            if r.kind == RelocKind::Rel32
                && s.prot == Prot::ReadExec
                && !matches!(r.target, LinkTarget::Section(_))
            {
                let n = stub_slots.len();
                stub_slots.entry(r.target.clone()).or_insert(n);
            }
        }
    }
    let mut offsets = Vec::with_capacity(sections.len());
    let mut stub_base = 0;
    let mut total = 0usize;
    for (i, s) in sections.iter().enumerate() {
        offsets.push(total);
        let mut len = s.size.max(s.bytes.len());
        if Some(i) == stub_section {
            stub_base = total + len.div_ceil(STUB_LEN) * STUB_LEN;
            len = stub_base - total + stub_slots.len() * STUB_LEN;
        }
        total += len.div_ceil(page).max(1) * page;
    }
    let mut map = Mapping::new_rw(total, need_low)?;
    let base = map.addr();
    let bases: Vec<usize> = offsets.iter().map(|o| base + o).collect();
    let mem = map.as_mut_slice();
    for (s, &off) in sections.iter().zip(&offsets) {
        mem[off..off + s.bytes.len()].copy_from_slice(s.bytes);
    }
    let mut resolved: HashMap<String, u64> = HashMap::new();
    let mut stubs_written = vec![false; stub_slots.len()];
    for (si, s) in sections.iter().enumerate() {
        for r in &s.relocs {
            let (symbol_addr, name) = match &r.target {
                LinkTarget::Section(n) => (bases[*n] as u64, sections[*n].name.clone()),
                LinkTarget::Address(a) => (*a, format!("{a:#x}")),
                LinkTarget::External(name) => {
                    let addr = match resolved.get(name) {
                        Some(&a) => a,
                        None => {
                            let a = resolve(name)
                                .ok_or_else(|| LoadError::UndefinedSymbol(name.clone()))?;
                            resolved.insert(name.clone(), a);
                            a
                        }
                    };
                    (addr, name.clone())
                }
            };
            let field = offsets[si] + r.offset;
            let place = (base + field) as i64;
            let value = symbol_addr as i64 + r.addend;
            let out_of_range = |bits: u32, v: i64| LoadError::RelocationOutOfRange {
                symbol: name.clone(),
                bits,
                value: v,
            };
            match r.kind {
                RelocKind::Abs64 => mem[field..field + 8].copy_from_slice(&value.to_le_bytes()),
                RelocKind::Abs32 => {
                    let v = u32::try_from(value).map_err(|_| out_of_range(32, value))?;
                    mem[field..field + 4].copy_from_slice(&v.to_le_bytes());
                }
                RelocKind::Abs32S => {
                    let v = i32::try_from(value).map_err(|_| out_of_range(32, value))?;
                    mem[field..field + 4].copy_from_slice(&v.to_le_bytes());
                }
                RelocKind::Rel32 => {
                    let mut rel = value - place;
                    if i32::try_from(rel).is_err() {
                        // Only a branch can go through a stub.
                        let is_branch = field >= 1
                            && (matches!(mem[field - 1], 0xE8 | 0xE9)
                                || (field >= 2
                                    && mem[field - 2] == 0x0F
                                    && mem[field - 1] & 0xF0 == 0x80));
                        let slot = stub_slots.get(&r.target).copied();
                        match slot {
                            Some(slot) if is_branch => {
                                let at = stub_base + slot * STUB_LEN;
                                if !stubs_written[slot] {
                                    mem[at..at + 6].copy_from_slice(&[0xFF, 0x25, 0, 0, 0, 0]);
                                    mem[at + 6..at + 14]
                                        .copy_from_slice(&symbol_addr.to_le_bytes());
                                    mem[at + 14..at + 16].copy_from_slice(&[0xCC, 0xCC]);
                                    stubs_written[slot] = true;
                                }
                                // S + A - P with the stub standing in for the symbol.
                                rel = (base + at) as i64 + r.addend - place;
                            }
                            _ => return Err(out_of_range(32, rel)),
                        }
                    }
                    mem[field..field + 4].copy_from_slice(&(rel as i32).to_le_bytes());
                }
            }
        }
    }
    let mut used = 0;
    for (i, s) in sections.iter().enumerate() {
        let end = if i + 1 < offsets.len() {
            offsets[i + 1]
        } else {
            total
        };
        map.protect(offsets[i], end - offsets[i], s.prot)?;
        used = end.max(used);
    }
    Ok(Image {
        mem: ExecutableMemory::from_mapping(map, used),
        bases,
    })
}

/// Code from an [`Assembler`](crate::Assembler), loaded and ready to call.
#[derive(Debug)]
pub struct LoadedCode {
    image: Image,
    labels: Vec<u32>,
}

impl LoadedCode {
    /// The executable memory (see [`ExecutableMemory::function`]).
    pub fn memory(&self) -> &ExecutableMemory {
        self.image.memory()
    }

    /// The address of a bound label.
    pub fn label_addr(&self, label: Label) -> Option<usize> {
        match self.labels.get(label.0 as usize) {
            Some(&off) if off != u32::MAX => Some(self.image.section_addr(0) + off as usize),
            _ => None,
        }
    }

    /// The offset of a bound label from the start of the code.
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        self.label_addr(label)
            .map(|a| a - self.image.section_addr(0))
    }
}

impl Code {
    /// Maps the code read+execute, binding its symbols with `resolve` (e.g.
    /// [`host_symbol`](crate::host_symbol)) and routing far calls through stubs.
    pub fn load(
        &self,
        resolve: &mut dyn FnMut(&str) -> Option<u64>,
    ) -> Result<LoadedCode, LoadError> {
        let relocs = self
            .relocs
            .iter()
            .map(|r| LinkReloc {
                offset: r.offset,
                kind: r.kind,
                target: match r.target {
                    RelocTarget::Local => LinkTarget::Section(0),
                    RelocTarget::Address(a) => LinkTarget::Address(a),
                    RelocTarget::Symbol(id) => {
                        LinkTarget::External(self.symbol_name(id).to_string())
                    }
                },
                addend: r.addend,
            })
            .collect();
        let image = link(
            &[SectionImage {
                name: ".text".into(),
                bytes: &self.bytes,
                size: self.bytes.len(),
                prot: Prot::ReadExec,
                relocs,
            }],
            resolve,
        )?;
        Ok(LoadedCode {
            image,
            labels: self.labels.clone(),
        })
    }
}
