//! Just enough of ELF64 (little-endian) for the objects LLVM writes: the sections and symbols of
//! the BPF backend's objects (the program section's bytes and the labels inside it), and the
//! section flags and `RELA` relocations of native objects, which `load` places in memory.

use crate::Error;

/// One section with its name and contents (empty for `SHT_NOBITS`).
#[derive(Clone, Debug)]
pub struct Section<'a> {
    pub name: String,
    pub data: &'a [u8],
    /// `sh_type`: `SHT_PROGBITS` (1), `SHT_RELA` (4), `SHT_NOBITS` (8), ...
    pub kind: u32,
    /// `sh_flags`: [`SHF_WRITE`], [`SHF_ALLOC`], [`SHF_EXECINSTR`], ...
    pub flags: u64,
    /// `sh_size`: the size in memory (also for `SHT_NOBITS`, which has no contents).
    pub size: u64,
    /// `sh_info`: for a relocation section, the section it applies to.
    pub info: u32,
}

/// One `Elf64_Rela` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rela {
    /// Where in the target section the field is.
    pub offset: u64,
    /// Index into [`Object::symbols`].
    pub symbol: usize,
    /// `R_X86_64_*` (or another machine's) relocation type.
    pub kind: u32,
    pub addend: i64,
}

pub const SHF_WRITE: u64 = 0x1;
pub const SHF_ALLOC: u64 = 0x2;
pub const SHF_EXECINSTR: u64 = 0x4;
pub const SHT_RELA: u32 = 4;

impl Section<'_> {
    /// The entries of a `SHT_RELA` section (a trailing partial entry is ignored).
    pub fn relocations(&self) -> Vec<Rela> {
        self.data
            .chunks_exact(24)
            .map(|entry| {
                let info = u64_at(entry, 8);
                Rela {
                    offset: u64_at(entry, 0),
                    symbol: (info >> 32) as usize,
                    kind: info as u32,
                    addend: u64_at(entry, 16) as i64,
                }
            })
            .collect()
    }
}

/// One symbol: its name, section index and value (offset in the section, for objects).
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub section: usize,
    pub value: u64,
    /// `STT_FUNC` (2), `STT_NOTYPE` (0), `STT_OBJECT` (1), ...
    pub kind: u8,
}

/// The sections and symbols of an ELF64 little-endian object.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    pub sections: Vec<Section<'a>>,
    pub symbols: Vec<Symbol>,
}

const SHT_SYMTAB: u32 = 2;
const SHT_NOBITS: u32 = 8;

fn bad(what: &str) -> Error {
    Error::CodeGen(format!("malformed ELF object: {what}"))
}

fn slice<'a>(bytes: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8], Error> {
    let start = usize::try_from(offset).map_err(|_| bad(what))?;
    let len = usize::try_from(len).map_err(|_| bad(what))?;
    bytes
        .get(start..start.checked_add(len).ok_or_else(|| bad(what))?)
        .ok_or_else(|| bad(what))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A NUL-terminated name at `offset` in a string table.
fn name_at(table: &[u8], offset: u32) -> String {
    let rest = table.get(offset as usize..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

/// Reads the section table and the symbol table of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Object<'_>, Error> {
    let header = slice(bytes, 0, 64, "short header")?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(bad("not a 64-bit little-endian ELF file"));
    }
    let shoff = u64_at(header, 0x28);
    let shentsize = u16_at(header, 0x3a) as u64;
    let shnum = u16_at(header, 0x3c) as u64;
    let shstrndx = u16_at(header, 0x3e) as u64;
    if shentsize < 64 {
        return Err(bad("section header size"));
    }
    let headers = (0..shnum)
        .map(|i| slice(bytes, shoff + i * shentsize, 64, "section header"))
        .collect::<Result<Vec<_>, _>>()?;
    let contents = |h: &[u8]| -> Result<&[u8], Error> {
        if u32_at(h, 4) == SHT_NOBITS {
            return Ok(&[]);
        }
        slice(bytes, u64_at(h, 0x18), u64_at(h, 0x20), "section contents")
    };
    let names = headers
        .get(shstrndx as usize)
        .map(|h| contents(h))
        .transpose()?
        .unwrap_or_default();
    let mut sections = Vec::with_capacity(headers.len());
    let mut symbols = Vec::new();
    for h in &headers {
        let data = contents(h)?;
        sections.push(Section {
            name: name_at(names, u32_at(h, 0)),
            data,
            kind: u32_at(h, 4),
            flags: u64_at(h, 8),
            size: u64_at(h, 0x20),
            info: u32_at(h, 0x2c),
        });
        if u32_at(h, 4) == SHT_SYMTAB {
            let link = u32_at(h, 0x28) as usize;
            let strings = headers
                .get(link)
                .map(|s| contents(s))
                .transpose()?
                .ok_or_else(|| bad("symbol string table"))?;
            for entry in data.chunks_exact(24) {
                symbols.push(Symbol {
                    name: name_at(strings, u32_at(entry, 0)),
                    kind: entry[4] & 0xf,
                    section: u16_at(entry, 6) as usize,
                    value: u64_at(entry, 8),
                });
            }
        }
    }
    Ok(Object { sections, symbols })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_elf64() {
        for bytes in [
            &b""[..],
            &[0u8; 64][..],
            b"\x7fELF\x01\x01rest-of-a-32-bit-header..................................",
        ] {
            assert!(parse(bytes).is_err());
        }
    }
}
