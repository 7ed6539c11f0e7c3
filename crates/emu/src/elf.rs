//! ELF64 x86-64 executable parsing (headers and program headers only; no unsafe, no I/O).
//!
//! Everything the loader needs is validated here so it can map segments without further checks:
//! the file is ELF64 little-endian x86-64, ET_EXEC or ET_DYN, program headers lie inside the file,
//! and every PT_LOAD's file bytes lie inside the file with `filesz <= memsz`.

use crate::LoadError;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_TLS: u32 = 7;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

#[derive(Clone, Debug)]
pub struct ElfFile {
    /// ET_DYN (position independent: the loader picks a base) rather than ET_EXEC.
    pub position_independent: bool,
    pub entry: u64,
    pub phoff: u64,
    pub phentsize: u16,
    pub phdrs: Vec<ProgramHeader>,
    /// The PT_INTERP path, when the program wants a dynamic loader.
    pub interp: Option<Vec<u8>>,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default())
}

pub fn parse(file: &[u8]) -> Result<ElfFile, LoadError> {
    let bad = |what: &str| LoadError::BadElf(what.to_string());
    if file.len() < 4 || &file[..4] != b"\x7fELF" {
        return Err(LoadError::NotElf);
    }
    if file.len() < 64 {
        return Err(bad("file shorter than the 64-byte ELF header"));
    }
    if file[4] != 2 {
        return Err(LoadError::Unsupported(
            "32-bit ELF (only ELF64 x86-64)".into(),
        ));
    }
    if file[5] != 1 {
        return Err(LoadError::Unsupported("big-endian ELF".into()));
    }
    let machine = u16_at(file, 18);
    if machine != 62 {
        return Err(LoadError::Unsupported(format!(
            "ELF machine {machine} (only x86-64, 62)"
        )));
    }
    let position_independent = match u16_at(file, 16) {
        2 => false,
        3 => true,
        t => {
            return Err(LoadError::Unsupported(format!(
                "ELF type {t} (only executables: ET_EXEC or ET_DYN)"
            )))
        }
    };
    let entry = u64_at(file, 24);
    let phoff = u64_at(file, 32);
    let phentsize = u16_at(file, 54);
    let phnum = u16_at(file, 56);
    if phentsize != 56 {
        return Err(bad(&format!(
            "program header entry size {phentsize} (expected 56)"
        )));
    }
    if phnum == 0 {
        return Err(bad("no program headers"));
    }
    let table_end = phoff
        .checked_add(u64::from(phnum) * 56)
        .filter(|&e| e <= file.len() as u64)
        .ok_or_else(|| bad("program header table extends past the end of the file"))?;
    let mut phdrs = Vec::with_capacity(phnum as usize);
    let mut interp = None;
    for o in (phoff..table_end).step_by(56) {
        let o = o as usize;
        let ph = ProgramHeader {
            kind: u32_at(file, o),
            flags: u32_at(file, o + 4),
            offset: u64_at(file, o + 8),
            vaddr: u64_at(file, o + 16),
            filesz: u64_at(file, o + 32),
            memsz: u64_at(file, o + 40),
            align: u64_at(file, o + 48),
        };
        let file_end = ph.offset.checked_add(ph.filesz);
        if (ph.kind == PT_LOAD || ph.kind == PT_INTERP)
            && file_end.is_none_or(|e| e > file.len() as u64)
        {
            {
                return Err(bad(&format!(
                    "segment at file offset {:#x} (+{:#x}) extends past the end of the file",
                    ph.offset, ph.filesz
                )));
            }
        }
        if ph.kind == PT_LOAD {
            if ph.filesz > ph.memsz {
                return Err(bad(&format!(
                    "segment at {:#x}: file size {:#x} larger than memory size {:#x}",
                    ph.vaddr, ph.filesz, ph.memsz
                )));
            }
            if ph.vaddr.checked_add(ph.memsz).is_none() {
                return Err(bad(&format!("segment at {:#x} wraps around", ph.vaddr)));
            }
            if ph.vaddr % 4096 != ph.offset % 4096 {
                return Err(bad(&format!(
                    "segment at {:#x}: address and file offset {:#x} differ modulo the page size",
                    ph.vaddr, ph.offset
                )));
            }
        }
        if ph.kind == PT_INTERP {
            let s = &file[ph.offset as usize..(ph.offset + ph.filesz) as usize];
            interp = Some(s.split(|&b| b == 0).next().unwrap_or_default().to_vec());
        }
        phdrs.push(ph);
    }
    if !phdrs.iter().any(|p| p.kind == PT_LOAD && p.memsz > 0) {
        return Err(bad("no loadable segment"));
    }
    Ok(ElfFile {
        position_independent,
        entry,
        phoff,
        phentsize,
        phdrs,
        interp,
    })
}
