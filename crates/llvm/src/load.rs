//! Native code without MCJIT: the target machine writes an ELF relocatable object, and this module
//! places its allocated sections in memory with `jitkit_x86::link` (each section on its own pages,
//! code read+execute, constants read-only, never writable and executable at once) after turning
//! its `RELA` relocations into `jitkit_x86` ones.
//!
//! Why not MCJIT: an MCJIT execution engine builds its own target machine for every module (the
//! x86 subtarget's lowering tables, about a tenth of a compile) and needs the LLVM context to
//! outlive the code. Here one target machine per thread serves every compile, and the code owns
//! nothing of LLVM's.
//!
//! The filter function calls nothing, so every relocation refers to a section of the same object
//! (constant pools, jump tables, unwind tables); an undefined symbol is an error, not a lookup.

use jitkit_x86::{link, Image, LinkReloc, LinkTarget, Prot, RelocKind, SectionImage};

use crate::elf::{self, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_RELA};
use crate::Error;

const R_X86_64_64: u32 = 1;
const R_X86_64_PC32: u32 = 2;
const R_X86_64_PLT32: u32 = 4;
const R_X86_64_32: u32 = 10;
const R_X86_64_32S: u32 = 11;

/// `SHN_UNDEF` and the first reserved section index (`SHN_LORESERVE`: absolute, common, ...).
const SHN_UNDEF: usize = 0;
const SHN_LORESERVE: usize = 0xff00;

/// An object's code and data placed in executable memory.
#[derive(Debug)]
pub struct Loaded {
    image: Image,
    /// The address of the function that was asked for.
    entry: usize,
    /// The address and size of the section holding it.
    code: (usize, usize),
    /// Every relocation was PC-relative and no section is writable: the whole mapping, copied
    /// elsewhere, runs the same.
    relocatable: bool,
}

impl Loaded {
    /// The placed sections (owns the mapping).
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// The entry's offset from the start of the mapping.
    pub fn entry_offset(&self) -> usize {
        self.entry - self.image.memory().addr()
    }

    /// The bytes of the section holding the entry, from the entry on (the function's machine
    /// code, for listings and tests).
    pub fn code(&self) -> &[u8] {
        let (start, size) = self.code;
        let skip = self.entry - start;
        // SAFETY: start..start+size is a placed section inside the mapping `image` owns, mapped
        // readable (read+execute or read-only) and never written again while `self` lives; the
        // entry lies inside it (`load` took it from a symbol of that section).
        unsafe { std::slice::from_raw_parts((start + skip) as *const u8, size - skip) }
    }

    /// The whole mapping (code and the constants it addresses relative to itself), when a copy
    /// of it placed anywhere else runs the same (see `relocatable`).
    pub fn relocatable_image(&self) -> Option<&[u8]> {
        let memory = self.image.memory();
        // SAFETY: the mapping `image` owns holds `memory.len()` placed bytes from its start, each
        // section on pages mapped readable (read+execute, read-only or read+write), never
        // written again while `self` lives.
        self.relocatable
            .then(|| unsafe { std::slice::from_raw_parts(memory.as_ptr(), memory.len()) })
    }
}

fn error(what: impl std::fmt::Display) -> Error {
    Error::Jit(format!("loading the native object: {what}"))
}

/// Places the allocated sections of the x86-64 ELF object `bytes` and finds `function` in them.
pub fn load(bytes: &[u8], function: &str) -> Result<Loaded, Error> {
    let object = elf::parse(bytes)?;
    // placed[i]: the position of ELF section i among the sections handed to `link`.
    let mut placed = vec![None; object.sections.len()];
    let mut images = Vec::new();
    for (index, section) in object.sections.iter().enumerate() {
        if section.flags & SHF_ALLOC == 0 {
            continue;
        }
        let prot = if section.flags & SHF_EXECINSTR != 0 {
            Prot::ReadExec
        } else if section.flags & SHF_WRITE != 0 {
            Prot::ReadWrite
        } else {
            Prot::Read
        };
        placed[index] = Some(images.len());
        images.push(SectionImage {
            name: section.name.clone(),
            bytes: section.data,
            size: usize::try_from(section.size).map_err(|_| error("section size"))?,
            prot,
            relocs: Vec::new(),
        });
    }
    // Where a symbol is: a placed section and the offset in it.
    let locate = |symbol: usize| -> Result<(usize, u64), Error> {
        let symbol = object
            .symbols
            .get(symbol)
            .ok_or_else(|| error(format!("relocation against symbol {symbol}")))?;
        if symbol.section == SHN_UNDEF || symbol.section >= SHN_LORESERVE {
            return Err(error(format!(
                "reference to `{}`, which the object does not define",
                symbol.name
            )));
        }
        let section = placed
            .get(symbol.section)
            .copied()
            .flatten()
            .ok_or_else(|| error(format!("`{}` is in a section not loaded", symbol.name)))?;
        Ok((section, symbol.value))
    };
    for section in &object.sections {
        if section.kind != SHT_RELA {
            continue;
        }
        let Some(target) = placed.get(section.info as usize).copied().flatten() else {
            continue; // relocations of a section that is not loaded (debug information)
        };
        for rela in section.relocations() {
            let kind = match rela.kind {
                R_X86_64_PC32 | R_X86_64_PLT32 => RelocKind::Rel32,
                R_X86_64_64 => RelocKind::Abs64,
                R_X86_64_32 => RelocKind::Abs32,
                R_X86_64_32S => RelocKind::Abs32S,
                other => return Err(error(format!("relocation type {other}"))),
            };
            let offset = usize::try_from(rela.offset).map_err(|_| error("relocation offset"))?;
            let fits = offset
                .checked_add(kind.width())
                .is_some_and(|end| end <= images[target].bytes.len());
            if !fits {
                return Err(error("relocation outside its section"));
            }
            let (section, value) = locate(rela.symbol)?;
            images[target].relocs.push(LinkReloc {
                offset,
                kind,
                target: LinkTarget::Section(section),
                addend: rela.addend.wrapping_add(value as i64),
            });
        }
    }
    let (section, value) = object
        .symbols
        .iter()
        .position(|s| s.name == function && s.kind == 2)
        .ok_or_else(|| error(format!("no function `{function}` in the object")))
        .and_then(locate)?;
    let size = images[section].size;
    if value as usize > size {
        return Err(error(format!("`{function}` lies outside its section")));
    }
    let relocatable = images.iter().all(|image| {
        image.prot != Prot::ReadWrite && image.relocs.iter().all(|r| r.kind == RelocKind::Rel32)
    });
    let image = link(&images, &mut |_| None).map_err(error)?;
    let start = image.section_addr(section);
    let entry = start + value as usize;
    Ok(Loaded {
        image,
        entry,
        code: (start, size),
        relocatable,
    })
}

#[cfg(test)]
mod tests {
    use inkwell::context::Context;
    use inkwell::module::Module;
    use inkwell::targets::FileType;

    use super::*;
    use crate::pipeline;
    use crate::translate::Flavor;

    /// The object the native target machine writes for `build`'s module.
    fn object_of(build: impl for<'c> FnOnce(&'c Context, &Module<'c>)) -> Vec<u8> {
        let machine = pipeline::target_machine(Flavor::Native, true).unwrap();
        let context = Context::create();
        let module = context.create_module("t");
        build(&context, &module);
        module.set_triple(&machine.get_triple());
        let buffer = machine
            .write_to_memory_buffer(&module, FileType::Object)
            .unwrap();
        buffer.as_slice().to_vec()
    }

    /// A function `f(i32) -> i32` whose switch is dense enough for a lookup table: the code reads
    /// a constant section through a PC-relative relocation. f(k) = 7k + 1000 for k < 8, else 99.
    fn switch_object() -> Vec<u8> {
        object_of(|context, module| {
            let i32t = context.i32_type();
            let f = module.add_function("f", i32t.fn_type(&[i32t.into()], false), None);
            let b = context.create_builder();
            let entry = context.append_basic_block(f, "entry");
            let default = context.append_basic_block(f, "default");
            b.position_at_end(default);
            b.build_return(Some(&i32t.const_int(99, false))).unwrap();
            let cases: Vec<_> = (0..8u64)
                .map(|k| {
                    let block = context.append_basic_block(f, "case");
                    b.position_at_end(block);
                    b.build_return(Some(&i32t.const_int(k * 7 + 1000, false)))
                        .unwrap();
                    (i32t.const_int(k, false), block)
                })
                .collect();
            b.position_at_end(entry);
            let x = f.get_first_param().unwrap().into_int_value();
            b.build_switch(x, default, &cases).unwrap();
        })
    }

    #[test]
    fn places_code_and_constants_and_finds_the_function() {
        let loaded = load(&switch_object(), "f").unwrap();
        type F = extern "C" fn(u32) -> u32;
        // SAFETY: "f" is the function defined above, (i32) -> i32, compiled for this machine.
        let f = unsafe { loaded.image().memory().function::<F>(loaded.entry_offset()) }
            .unwrap()
            .get();
        for k in 0..8 {
            assert_eq!(f(k), k * 7 + 1000);
        }
        assert_eq!(f(8), 99);
    }

    #[test]
    fn a_relocatable_image_runs_the_same_at_another_address() {
        let loaded = load(&switch_object(), "f").unwrap();
        let image = loaded
            .relocatable_image()
            .expect("code and constants reach each other PC-relative")
            .to_vec();
        let entry = loaded.entry_offset();
        // Unmapped: a copy that still reached into the original would fault.
        drop(loaded);
        type F = extern "C" fn(u32) -> u32;
        // Copies at offsets that move the code relative to pages and cache lines; the padding is
        // int3, so a jump into it traps instead of running on.
        for offset in [0usize, 16, 48, 4096 + 32] {
            let mut bytes = vec![0xcc; offset];
            bytes.extend_from_slice(&image);
            let copy = jitkit_x86::ExecutableMemory::new(&bytes).unwrap();
            // SAFETY: the copy holds the whole image at `offset`, so `offset + entry` is the
            // function "f", (i32) -> i32, whose references are all PC-relative inside the image.
            let f = unsafe { copy.function::<F>(offset + entry) }.unwrap().get();
            for k in 0..10 {
                let expected = if k < 8 { k * 7 + 1000 } else { 99 };
                assert_eq!(f(k), expected, "copy at {offset}, f({k})");
            }
        }
    }

    #[test]
    fn undefined_symbols_and_missing_functions_are_errors() {
        let object = object_of(|context, module| {
            let i32t = context.i32_type();
            let fn_type = i32t.fn_type(&[], false);
            let external = module.add_function("somewhere_else", fn_type, None);
            let f = module.add_function("f", fn_type, None);
            let b = context.create_builder();
            b.position_at_end(context.append_basic_block(f, "entry"));
            let value = b.build_call(external, &[], "v").unwrap();
            let value = value.try_as_basic_value().left().unwrap();
            b.build_return(Some(&value)).unwrap();
        });
        let error = load(&object, "f").unwrap_err().to_string();
        assert!(error.contains("`somewhere_else`"), "{error}");
        let error = load(&object, "g").unwrap_err().to_string();
        assert!(error.contains("no function `g`") || error.contains("somewhere_else"));
        assert!(load(b"not an object", "f").is_err());
    }
}
