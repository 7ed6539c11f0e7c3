//! Mach-O x86-64 executable parsing (load commands only; no unsafe, no I/O).
//!
//! The emulator runs `MH_EXECUTE` files that need no dynamic libraries: the segments
//! (`LC_SEGMENT_64`, including `__PAGEZERO` and zero-filled tails) are mapped at their linked
//! addresses, and the program starts either from `LC_UNIXTHREAD` (the kernel's register state:
//! RIP, RSP and the other registers, as old `ld -static` output has) or from `LC_MAIN` (what dyld
//! would do for a program without libraries: call the entry point, `__TEXT` + `entryoff`, as
//! `main(argc, argv, envp, apple)` and `exit` with its return value).
//!
//! A universal ("fat") file is accepted when it holds an x86-64 slice. Everything the loader needs
//! is checked here: load commands lie inside the header's `sizeofcmds` and the file, segment file
//! ranges lie inside the file, segments do not overlap or wrap, the entry point lies in a segment.

use crate::LoadError;

pub const MH_MAGIC_64: u32 = 0xfeed_facf;
pub const MH_MAGIC: u32 = 0xfeed_face;
pub const FAT_MAGIC: u32 = 0xcafe_babe;
pub const CPU_TYPE_X86_64: u32 = 0x0100_0007;
pub const MH_EXECUTE: u32 = 2;

pub const LC_SEGMENT: u32 = 0x1;
pub const LC_THREAD: u32 = 0x4;
pub const LC_UNIXTHREAD: u32 = 0x5;
pub const LC_LOAD_DYLIB: u32 = 0xc;
pub const LC_LOAD_DYLINKER: u32 = 0xe;
pub const LC_LOAD_WEAK_DYLIB: u32 = 0x8000_0018;
pub const LC_SEGMENT_64: u32 = 0x19;
pub const LC_REEXPORT_DYLIB: u32 = 0x8000_001f;
pub const LC_LAZY_LOAD_DYLIB: u32 = 0x20;
pub const LC_LOAD_UPWARD_DYLIB: u32 = 0x8000_0023;
pub const LC_MAIN: u32 = 0x8000_0028;
pub const LC_DYLD_CHAINED_FIXUPS: u32 = 0x8000_0034;

/// `x86_THREAD_STATE64`: rax rbx rcx rdx rdi rsi rbp rsp r8..r15 rip rflags cs fs gs.
pub const X86_THREAD_STATE64: u32 = 4;
pub const X86_THREAD_STATE64_COUNT: u32 = 42;

/// Whether `file` starts like a Mach-O file (thin 32/64-bit, either byte order, or fat).
pub fn is_macho(file: &[u8]) -> bool {
    if file.len() < 4 {
        return false;
    }
    let le = u32::from_le_bytes([file[0], file[1], file[2], file[3]]);
    let be = u32::from_be_bytes([file[0], file[1], file[2], file[3]]);
    matches!(le, MH_MAGIC_64 | MH_MAGIC) || matches!(be, MH_MAGIC_64 | MH_MAGIC | FAT_MAGIC)
}

/// One `LC_SEGMENT_64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub vmaddr: u64,
    pub vmsize: u64,
    /// Offset of the segment's bytes in the (thin) image.
    pub fileoff: u64,
    pub filesize: u64,
    /// Initial protection: VM_PROT_READ 1, WRITE 2, EXECUTE 4 (the same bits as PROT_*).
    pub initprot: u32,
}

/// How the program starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `LC_MAIN`: the entry address (already resolved against `__TEXT`) and the requested stack
    /// size (0 = default).
    Main { entry: u64, stack_size: u64 },
    /// `LC_UNIXTHREAD`: the initial general registers (x86-64 order RAX..R15 as the emulator
    /// numbers them), RIP and RFLAGS.
    Thread {
        gpr: [u64; 16],
        rip: u64,
        rflags: u64,
    },
}

#[derive(Clone, Debug)]
pub struct MachOFile {
    /// Where the thin x86-64 image starts in the file (non-zero inside a fat file).
    pub slice_offset: u64,
    pub segments: Vec<Segment>,
    pub entry: Entry,
    /// The address of the Mach-O header in memory (the `__TEXT` segment holding file offset 0).
    pub header_addr: u64,
}

fn u32_le(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or_default()))
}
fn u64_le(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
}
fn u32_be(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_be_bytes(s.try_into().unwrap_or_default()))
}

fn bad(what: impl Into<String>) -> LoadError {
    LoadError::BadMachO(what.into())
}

/// Picks the x86-64 slice of a fat file: its offset and size.
fn fat_slice(file: &[u8]) -> Result<(u64, u64), LoadError> {
    let n = u32_be(file, 4);
    if file.len() < 8 || n == 0 || n > 64 {
        return Err(bad(format!(
            "universal file header: {n} architectures (or truncated)"
        )));
    }
    let table_end = 8 + 20 * n as usize;
    if table_end > file.len() {
        return Err(bad(
            "universal file: architecture table extends past the end",
        ));
    }
    let mut cpus = Vec::new();
    for k in 0..n as usize {
        let o = 8 + 20 * k;
        let cpu = u32_be(file, o);
        let (off, size) = (
            u64::from(u32_be(file, o + 8)),
            u64::from(u32_be(file, o + 12)),
        );
        if cpu == CPU_TYPE_X86_64 {
            if off.checked_add(size).is_none_or(|e| e > file.len() as u64) || size == 0 {
                return Err(bad(format!(
                    "universal file: x86-64 slice at {off:#x} (+{size:#x}) lies outside the file"
                )));
            }
            return Ok((off, size));
        }
        cpus.push(format!("{cpu:#x}"));
    }
    Err(LoadError::Unsupported(format!(
        "universal Mach-O without an x86-64 slice (CPU types {})",
        cpus.join(", ")
    )))
}

fn name16(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The NUL-terminated string at `off` inside a load command (library and linker names).
fn lc_string(cmd: &[u8], off: u32) -> String {
    let s = cmd.get(off as usize..).unwrap_or_default();
    name16(s)
}

pub fn parse(file: &[u8]) -> Result<MachOFile, LoadError> {
    if file.len() < 4 {
        return Err(LoadError::NotElf);
    }
    let (slice_offset, image) = if u32_be(file, 0) == FAT_MAGIC {
        let (off, size) = fat_slice(file)?;
        (off, &file[off as usize..(off + size) as usize])
    } else {
        (0, file)
    };
    let magic_le = u32_le(image, 0);
    match magic_le {
        MH_MAGIC_64 => {}
        MH_MAGIC => {
            return Err(LoadError::Unsupported(
                "32-bit Mach-O (i386); only x86-64 Mach-O executables run".into(),
            ))
        }
        _ if matches!(u32_be(image, 0), MH_MAGIC_64 | MH_MAGIC) => {
            return Err(LoadError::Unsupported(
                "big-endian Mach-O (PowerPC); only x86-64 runs".into(),
            ))
        }
        _ => return Err(bad("no Mach-O magic in the selected slice")),
    }
    if image.len() < 32 {
        return Err(bad("file shorter than the 32-byte mach_header_64"));
    }
    let cputype = u32_le(image, 4);
    if cputype != CPU_TYPE_X86_64 {
        return Err(LoadError::Unsupported(format!(
            "Mach-O CPU type {cputype:#x} (only x86-64, {CPU_TYPE_X86_64:#x})"
        )));
    }
    let filetype = u32_le(image, 12);
    if filetype != MH_EXECUTE {
        return Err(LoadError::Unsupported(format!(
            "Mach-O file type {filetype} (only executables, MH_EXECUTE = 2)"
        )));
    }
    let ncmds = u32_le(image, 16);
    let sizeofcmds = u64::from(u32_le(image, 20));
    let cmds_end = 32 + sizeofcmds;
    if cmds_end > image.len() as u64 {
        return Err(bad(format!(
            "load commands ({sizeofcmds} bytes) extend past the end of the file"
        )));
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut main: Option<(u64, u64)> = None;
    let mut thread: Option<([u64; 16], u64, u64)> = None;
    let mut at = 32u64;
    for k in 0..ncmds {
        if at + 8 > cmds_end {
            return Err(bad(format!(
                "load command {k} of {ncmds} starts past sizeofcmds ({sizeofcmds})"
            )));
        }
        let cmd = u32_le(image, at as usize);
        let size = u64::from(u32_le(image, at as usize + 4));
        if size < 8 || size % 8 != 0 || at + size > cmds_end {
            return Err(bad(format!(
                "load command {k} ({cmd:#x}) has size {size}: not a multiple of 8 or past sizeofcmds"
            )));
        }
        let c = &image[at as usize..(at + size) as usize];
        let need = |n: u64| -> Result<(), LoadError> {
            if size < n {
                Err(bad(format!(
                    "load command {k} ({cmd:#x}) is {size} bytes, shorter than its {n}-byte structure"
                )))
            } else {
                Ok(())
            }
        };
        match cmd {
            LC_SEGMENT_64 => {
                need(72)?;
                let seg = Segment {
                    name: name16(&c[8..24]),
                    vmaddr: u64_le(c, 24),
                    vmsize: u64_le(c, 32),
                    fileoff: u64_le(c, 40),
                    filesize: u64_le(c, 48),
                    initprot: u32_le(c, 60),
                };
                let nsects = u64::from(u32_le(c, 64));
                if 72 + nsects * 80 > size {
                    return Err(bad(format!(
                        "segment {}: {nsects} sections do not fit in its {size}-byte command",
                        seg.name
                    )));
                }
                check_segment(&seg, image.len() as u64)?;
                segments.push(seg);
            }
            LC_SEGMENT => {
                return Err(LoadError::Unsupported(
                    "32-bit LC_SEGMENT in a 64-bit Mach-O".into(),
                ))
            }
            LC_MAIN => {
                need(24)?;
                if main.is_some() {
                    return Err(bad("more than one LC_MAIN"));
                }
                main = Some((u64_le(c, 8), u64_le(c, 16)));
            }
            LC_UNIXTHREAD => {
                if thread.is_some() {
                    return Err(bad("more than one LC_UNIXTHREAD"));
                }
                thread = Some(thread_state(c, k)?);
            }
            LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB | LC_LAZY_LOAD_DYLIB
            | LC_LOAD_UPWARD_DYLIB => {
                need(24)?;
                return Err(LoadError::Dynamic(lc_string(c, u32_le(c, 8))));
            }
            LC_DYLD_CHAINED_FIXUPS => {
                need(16)?;
                // Chained fixups encode every pointer in data, even when nothing is imported;
                // they would need dyld's rewriting, which the emulator does not do.
                if u32_le(c, 12) != 0 {
                    return Err(LoadError::Unsupported(
                        "LC_DYLD_CHAINED_FIXUPS (a macOS 12+ link); link for an older target, e.g. \
                         -platform_version macos 10.12 10.12"
                            .into(),
                    ));
                }
            }
            // LC_LOAD_DYLINKER names dyld, whose job (for a program without libraries) the
            // emulator does; symbol tables, UUIDs, versions and the rest are not needed to run.
            _ => {}
        }
        at += size;
    }
    check_overlaps(&segments)?;
    let text = segments
        .iter()
        .find(|s| s.fileoff == 0 && s.filesize > 0)
        .ok_or_else(|| bad("no segment maps the Mach-O header (file offset 0)"))?;
    let header_addr = text.vmaddr;
    let entry = match (main, thread) {
        (Some(_), Some(_)) => return Err(bad("both LC_MAIN and LC_UNIXTHREAD")),
        (None, None) => return Err(bad("no entry point (neither LC_MAIN nor LC_UNIXTHREAD)")),
        (Some((off, stack_size)), None) => {
            let entry = header_addr
                .checked_add(off)
                .ok_or_else(|| bad(format!("LC_MAIN entry offset {off:#x} wraps around")))?;
            Entry::Main { entry, stack_size }
        }
        (None, Some((gpr, rip, rflags))) => Entry::Thread { gpr, rip, rflags },
    };
    let pc = match &entry {
        Entry::Main { entry, .. } => *entry,
        Entry::Thread { rip, .. } => *rip,
    };
    if !segments
        .iter()
        .any(|s| s.initprot & 4 != 0 && s.vmaddr <= pc && pc < s.vmaddr + s.vmsize)
    {
        return Err(bad(format!(
            "entry point {pc:#x} is not inside an executable segment"
        )));
    }
    Ok(MachOFile {
        slice_offset,
        segments,
        entry,
        header_addr,
    })
}

fn check_segment(seg: &Segment, file_len: u64) -> Result<(), LoadError> {
    let name = &seg.name;
    if seg
        .fileoff
        .checked_add(seg.filesize)
        .is_none_or(|e| e > file_len)
    {
        return Err(bad(format!(
            "segment {name}: file range {:#x} (+{:#x}) extends past the end of the file",
            seg.fileoff, seg.filesize
        )));
    }
    if seg.filesize > seg.vmsize {
        return Err(bad(format!(
            "segment {name}: file size {:#x} larger than its memory size {:#x}",
            seg.filesize, seg.vmsize
        )));
    }
    if seg.vmaddr.checked_add(seg.vmsize).is_none() {
        return Err(bad(format!(
            "segment {name} at {:#x} wraps around",
            seg.vmaddr
        )));
    }
    if !seg.vmaddr.is_multiple_of(4096) {
        return Err(bad(format!(
            "segment {name}: address {:#x} is not page aligned",
            seg.vmaddr
        )));
    }
    if seg.initprot & !7 != 0 {
        return Err(bad(format!(
            "segment {name}: unknown protection bits {:#x}",
            seg.initprot
        )));
    }
    Ok(())
}

fn check_overlaps(segments: &[Segment]) -> Result<(), LoadError> {
    let mut spans: Vec<&Segment> = segments.iter().filter(|s| s.vmsize > 0).collect();
    spans.sort_by_key(|s| s.vmaddr);
    for w in spans.windows(2) {
        if w[0].vmaddr + w[0].vmsize > w[1].vmaddr {
            return Err(bad(format!(
                "segments {} ({:#x}+{:#x}) and {} ({:#x}) overlap",
                w[0].name, w[0].vmaddr, w[0].vmsize, w[1].name, w[1].vmaddr
            )));
        }
    }
    Ok(())
}

/// The x86-64 thread state of an `LC_UNIXTHREAD`: the emulator's GPR order, RIP and RFLAGS.
fn thread_state(c: &[u8], k: u32) -> Result<([u64; 16], u64, u64), LoadError> {
    let mut at = 8usize;
    while at + 8 <= c.len() {
        let flavor = u32_le(c, at);
        let count = u32_le(c, at + 4) as usize;
        let data = at + 8;
        let end = data
            .checked_add(count.saturating_mul(4))
            .filter(|&e| e <= c.len())
            .ok_or_else(|| {
                bad(format!(
                    "LC_UNIXTHREAD (command {k}): state of {count} words extends past the command"
                ))
            })?;
        if flavor == X86_THREAD_STATE64 {
            if count != X86_THREAD_STATE64_COUNT as usize {
                return Err(bad(format!(
                    "LC_UNIXTHREAD: x86_THREAD_STATE64 with {count} words (expected 42)"
                )));
            }
            let r = |n: usize| u64_le(c, data + 8 * n);
            // Mach order: rax rbx rcx rdx rdi rsi rbp rsp r8..r15 rip rflags.
            let mut gpr = [0u64; 16];
            let order = [0usize, 3, 1, 2, 7, 6, 5, 4];
            for (mach, &ours) in order.iter().enumerate() {
                gpr[ours] = r(mach);
            }
            for (n, g) in gpr.iter_mut().enumerate().skip(8) {
                *g = r(n);
            }
            return Ok((gpr, r(16), r(17)));
        }
        at = end;
    }
    Err(LoadError::Unsupported(
        "LC_UNIXTHREAD without an x86_THREAD_STATE64 (not an x86-64 thread)".into(),
    ))
}
