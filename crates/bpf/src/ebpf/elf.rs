//! Program sections of eBPF ELF objects (`clang -target bpf -c`): a small ELF64 little-endian
//! reader that finds the executable sections and the function symbols in them. Relocations (map
//! references) are counted, not applied: we run programs without maps.

use super::insn::{decode, Insn};
use super::Error;

/// One executable section of an object.
#[derive(Clone, Debug)]
pub struct ProgramSection {
    /// The section name, e.g. `socket`, `classifier`, `xdp`, `.text`.
    pub name: String,
    pub insns: Vec<Insn>,
    /// Function symbols defined in this section: (name, first instruction index).
    pub functions: Vec<(String, usize)>,
    /// How many relocation entries apply to this section (non-zero means map or call references).
    pub relocations: usize,
}

const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const SHF_EXECINSTR: u64 = 4;
const EM_BPF: u16 = 247;
const STT_FUNC: u8 = 2;

fn err(message: impl Into<String>) -> Error {
    Error::Elf(message.into())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn bytes(&self, at: u64, len: u64) -> Result<&[u8], Error> {
        let end = at.checked_add(len).ok_or_else(|| err("offset overflows"))?;
        self.0.get(at as usize..end as usize).ok_or_else(|| {
            err(format!(
                "{len} bytes at {at:#x} are past the end of the file"
            ))
        })
    }
    fn u16(&self, at: u64) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(
            self.bytes(at, 2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&self, at: u64) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(
            self.bytes(at, 4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&self, at: u64) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(
            self.bytes(at, 8)?.try_into().expect("8 bytes"),
        ))
    }
    fn cstr(&self, at: u64) -> Result<String, Error> {
        let tail = self
            .0
            .get(at as usize..)
            .ok_or_else(|| err("string offset past the end"))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| err("unterminated string"))?;
        Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
    }
}

struct Section {
    name_off: u32,
    kind: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    entsize: u64,
}

/// Reads the executable sections of an eBPF ELF object.
pub fn read_programs(file: &[u8]) -> Result<Vec<ProgramSection>, Error> {
    let r = Reader(file);
    if r.bytes(0, 4)? != b"\x7fELF" {
        return Err(err("not an ELF file"));
    }
    if r.bytes(4, 2)? != [2, 1] {
        return Err(err("not a 64-bit little-endian ELF file"));
    }
    let machine = r.u16(18)?;
    if machine != EM_BPF {
        return Err(err(format!("machine {machine} is not BPF ({EM_BPF})")));
    }
    let shoff = r.u64(0x28)?;
    let shentsize = r.u16(0x3a)? as u64;
    let shnum = r.u16(0x3c)? as u64;
    let shstrndx = r.u16(0x3e)? as u64;
    if shentsize < 64 {
        return Err(err("section header entries are too small"));
    }
    let sections = (0..shnum)
        .map(|n| {
            let at = shoff + n * shentsize;
            Ok(Section {
                name_off: r.u32(at)?,
                kind: r.u32(at + 4)?,
                flags: r.u64(at + 8)?,
                offset: r.u64(at + 0x18)?,
                size: r.u64(at + 0x20)?,
                link: r.u32(at + 0x28)?,
                info: r.u32(at + 0x2c)?,
                entsize: r.u64(at + 0x38)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let strtab = sections
        .get(shstrndx as usize)
        .ok_or_else(|| err("no section name table"))?;
    let name = |s: &Section| r.cstr(strtab.offset + s.name_off as u64);

    let mut out = Vec::new();
    let mut index_of = Vec::new();
    for (n, s) in sections.iter().enumerate() {
        if s.flags & SHF_EXECINSTR == 0 || s.size == 0 {
            continue;
        }
        let bytes = r.bytes(s.offset, s.size)?;
        out.push(ProgramSection {
            name: name(s)?,
            insns: decode(bytes)?,
            functions: Vec::new(),
            relocations: 0,
        });
        index_of.push(n);
    }
    for s in &sections {
        if s.kind == SHT_REL {
            if let Some(p) = index_of.iter().position(|&n| n == s.info as usize) {
                out[p].relocations += (s.size / s.entsize.max(1)) as usize;
            }
        }
        if s.kind == SHT_SYMTAB {
            let names = sections
                .get(s.link as usize)
                .ok_or_else(|| err("symbol table without a string table"))?;
            let count = s.size / s.entsize.max(24);
            for k in 0..count {
                let at = s.offset + k * s.entsize.max(24);
                let info = r.bytes(at + 4, 1)?[0];
                let shndx = r.u16(at + 6)? as usize;
                let value = r.u64(at + 8)?;
                if info & 0xf != STT_FUNC {
                    continue;
                }
                if let Some(p) = index_of.iter().position(|&n| n == shndx) {
                    let fname = r.cstr(names.offset + r.u32(at)? as u64)?;
                    out[p].functions.push((fname, (value / 8) as usize));
                }
            }
        }
    }
    for p in &mut out {
        p.functions.sort_by_key(|f| f.1);
    }
    Ok(out)
}
