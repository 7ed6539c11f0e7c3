//! Loading a program: reading the file (following `#!` once), picking the format from its magic
//! (ELF or Mach-O), mapping its segments, setting up the break, and building the initial stack
//! exactly as the program's kernel does: Linux's (argc, argv, envp, auxiliary vector, strings,
//! 16 random bytes; RSP 16-byte aligned; RDX = 0) or macOS's (argc, argv, envp, apple strings).

use crate::cpu::{Cpu, RSP};
use crate::elf::{self, ElfFile, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use crate::machine::Machine;
use crate::macho::{self, MachOFile};
use crate::memory::{page_down, page_up, Memory, LIMIT, MAPPED, PAGE, R, W, X};
use crate::LoadError;

/// Where the stack ends (it grows down from here).
pub const STACK_TOP: u64 = LIMIT - 16 * PAGE;
pub const STACK_SIZE: u64 = 8 << 20;
/// Where position-independent executables are placed.
pub const PIE_BASE: u64 = 0x4_0000_0000;
/// The largest stack an `LC_MAIN` may ask for.
pub const MAX_STACK_SIZE: u64 = 1 << 30;
/// Program segments must end below this (the stack and a gap of 4 GiB lie above).
pub const USER_END: u64 = STACK_TOP - MAX_STACK_SIZE - (1 << 32);
/// The page holding the code a Mach-O `main` returns to (what dyld's `start` does: `exit(main())`).
pub const MACHO_EXIT_STUB: u64 = LIMIT - 8 * PAGE;

/// The executable formats the emulator runs.
#[derive(Clone, Debug)]
pub enum Format {
    /// A static x86-64 Linux ELF executable: Linux system calls.
    Elf(ElfFile),
    /// A library-free x86-64 Mach-O executable: macOS system calls.
    MachO(MachOFile),
}

/// A program read from disk and checked, ready to start.
pub struct Program {
    /// The path of the executable actually loaded (the interpreter for `#!` scripts).
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub image: Vec<u8>,
    pub format: Format,
}

/// Parses an executable image by its magic number.
fn parse(image: &[u8]) -> Result<Format, LoadError> {
    if macho::is_macho(image) {
        macho::parse(image).map(Format::MachO)
    } else {
        elf::parse(image).map(Format::Elf)
    }
}

fn read_file(path: &[u8]) -> Result<Vec<u8>, LoadError> {
    let p = std::path::Path::new(std::ffi::OsStr::from_encoded_bytes_checked(path));
    std::fs::read(p).map_err(|source| LoadError::Io {
        path: String::from_utf8_lossy(path).into_owned(),
        source,
    })
}

/// `OsStr` from raw bytes (Unix: any bytes).
trait FromBytes {
    fn from_encoded_bytes_checked(b: &[u8]) -> &std::ffi::OsStr;
}
impl FromBytes for std::ffi::OsStr {
    fn from_encoded_bytes_checked(b: &[u8]) -> &std::ffi::OsStr {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b)
    }
}

impl Program {
    pub fn read(path: &[u8], argv: Vec<Vec<u8>>) -> Result<Program, LoadError> {
        let image = read_file(path)?;
        if image.starts_with(b"#!") {
            let line = image[2..].split(|&b| b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line).trim().to_string();
            let mut parts = line.splitn(2, [' ', '\t']);
            let interp = parts.next().unwrap_or_default().as_bytes().to_vec();
            if interp.is_empty() {
                return Err(LoadError::BadElf("empty #! line".into()));
            }
            let mut new_argv = vec![interp.clone()];
            if let Some(arg) = parts.next().map(str::trim).filter(|a| !a.is_empty()) {
                new_argv.push(arg.as_bytes().to_vec());
            }
            new_argv.push(path.to_vec());
            new_argv.extend(argv.into_iter().skip(1));
            let image = read_file(&interp)?;
            let format = parse(&image)?;
            return Program::checked(interp, new_argv, image, format);
        }
        let format = parse(&image)?;
        Program::checked(path.to_vec(), argv, image, format)
    }

    /// A program from bytes already in memory (tests, fuzzing).
    pub fn from_bytes(
        path: &[u8],
        argv: Vec<Vec<u8>>,
        image: Vec<u8>,
    ) -> Result<Program, LoadError> {
        let format = parse(&image)?;
        Program::checked(path.to_vec(), argv, image, format)
    }

    fn checked(
        path: Vec<u8>,
        argv: Vec<Vec<u8>>,
        image: Vec<u8>,
        format: Format,
    ) -> Result<Program, LoadError> {
        let elf = match &format {
            Format::Elf(elf) => elf,
            Format::MachO(mo) => {
                for seg in mo.segments.iter().filter(|s| s.vmsize > 0) {
                    if page_up(seg.vmaddr + seg.vmsize).is_none_or(|e| e > USER_END) {
                        return Err(LoadError::AddressSpace(format!(
                            "segment {} at {:#x} (+{:#x}) lies outside the emulated address space",
                            seg.name, seg.vmaddr, seg.vmsize
                        )));
                    }
                }
                if let macho::Entry::Main { stack_size, .. } = mo.entry {
                    if stack_size > MAX_STACK_SIZE {
                        return Err(LoadError::AddressSpace(format!(
                            "LC_MAIN asks for a {stack_size:#x}-byte stack (at most {MAX_STACK_SIZE:#x})"
                        )));
                    }
                }
                return Ok(Program {
                    path,
                    argv,
                    image,
                    format,
                });
            }
        };
        if let Some(interp) = &elf.interp {
            return Err(LoadError::Dynamic(format!(
                "the interpreter {}",
                String::from_utf8_lossy(interp)
            )));
        }
        let bias = if elf.position_independent {
            PIE_BASE
        } else {
            0
        };
        for ph in elf.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
            let end = ph
                .vaddr
                .checked_add(ph.memsz)
                .and_then(|e| e.checked_add(bias));
            if end.is_none_or(|e| e > USER_END) {
                return Err(LoadError::AddressSpace(format!(
                    "segment at {:#x} (+{:#x}) lies outside the emulated address space",
                    ph.vaddr, ph.memsz
                )));
            }
        }
        Ok(Program {
            path,
            argv,
            image,
            format,
        })
    }
}

fn prot_of(flags: u32) -> u8 {
    let mut p = 0;
    if flags & PF_R != 0 {
        p |= R;
    }
    if flags & PF_W != 0 {
        p |= R | W;
    }
    if flags & PF_X != 0 {
        p |= R | X;
    }
    p
}

/// Replaces the machine's address space and registers with a fresh start of `program`
/// (execve: the old program's memory is dropped, a new address space reserved).
pub fn start(m: &mut Machine, program: &Program, env: &[Vec<u8>]) -> Result<(), LoadError> {
    m.mem = Memory::new().map_err(LoadError::Reserve)?;
    m.cpu = Cpu::default();
    m.saved_signal_states.clear();
    load(m, program, env)
}

/// Loads `program` into a machine that has nothing loaded yet ([`Machine::unloaded`]: an
/// empty address space, default registers), without reserving a second address space.
pub fn load(m: &mut Machine, program: &Program, env: &[Vec<u8>]) -> Result<(), LoadError> {
    match &program.format {
        Format::Elf(elf) => {
            m.os.abi = crate::syscall::Abi::Linux;
            start_elf(m, program, elf, env)
        }
        Format::MachO(mo) => {
            m.os.abi = crate::syscall::Abi::MacOs;
            start_macho(m, program, mo, env)
        }
    }
}

fn start_elf(
    m: &mut Machine,
    program: &Program,
    elf: &ElfFile,
    env: &[Vec<u8>],
) -> Result<(), LoadError> {
    let bias = if elf.position_independent {
        PIE_BASE
    } else {
        0
    };
    let loads: Vec<_> = elf
        .phdrs
        .iter()
        .filter(|p| p.kind == PT_LOAD && p.memsz > 0)
        .collect();
    let lo = loads
        .iter()
        .map(|p| page_down(p.vaddr + bias))
        .min()
        .unwrap_or(0);
    let hi = loads
        .iter()
        .filter_map(|p| page_up(p.vaddr + bias + p.memsz))
        .max()
        .unwrap_or(0);
    m.mem.map(lo, hi - lo, R | W);
    let mut page_perms = vec![0u8; ((hi - lo) / PAGE) as usize];
    for ph in &loads {
        let dst = ph.vaddr + bias;
        let data = &program.image[ph.offset as usize..(ph.offset + ph.filesz) as usize];
        m.mem.poke(dst, data).map_err(|f| {
            LoadError::AddressSpace(format!("cannot place segment at {:#x}", f.addr))
        })?;
        let first = (page_down(dst) - lo) / PAGE;
        let last = (page_up(dst + ph.memsz).unwrap_or(hi) - lo) / PAGE;
        for p in first..last {
            page_perms[p as usize] |= prot_of(ph.flags) | MAPPED;
        }
    }
    for (k, &p) in page_perms.iter().enumerate() {
        let a = lo + k as u64 * PAGE;
        if p == 0 {
            m.mem.unmap(a, PAGE);
        } else {
            m.mem.protect(a, PAGE, p & !MAPPED);
        }
    }
    m.os.brk_start = hi;
    m.os.brk = hi;
    m.os.exe_path = program.path.clone();

    let phdr = elf
        .phdrs
        .iter()
        .find(|p| p.kind == PT_PHDR)
        .map(|p| p.vaddr)
        .or_else(|| {
            loads
                .iter()
                .find(|p| p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz)
                .map(|p| p.vaddr + (elf.phoff - p.offset))
        })
        .unwrap_or(0)
        + bias;
    let entry = elf.entry + bias;
    let sp = build_stack(m, program, elf, env, phdr, entry)?;
    m.cpu.gpr[RSP] = sp;
    m.cpu.rip = entry;
    Ok(())
}

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;

fn build_stack(
    m: &mut Machine,
    program: &Program,
    elf: &ElfFile,
    env: &[Vec<u8>],
    phdr: u64,
    entry: u64,
) -> Result<u64, LoadError> {
    let bottom = STACK_TOP - STACK_SIZE;
    m.mem.map(bottom, STACK_SIZE, R | W);
    let too_big = || LoadError::AddressSpace("arguments and environment exceed the stack".into());
    let mut sp = STACK_TOP - 8; // the end marker: 8 zero bytes
    let put = |m: &mut Machine, sp: &mut u64, bytes: &[u8]| -> Result<u64, LoadError> {
        if *sp < bottom + bytes.len() as u64 + 65536 {
            return Err(too_big());
        }
        *sp -= bytes.len() as u64;
        m.mem.poke(*sp, bytes).map_err(|_| too_big())?;
        Ok(*sp)
    };
    let execfn = put(m, &mut sp, &[program.path.as_slice(), b"\0"].concat())?;
    // Strings: argv first (lowest addresses), then the environment, as Linux lays them out.
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    for s in program.argv.iter().chain(env.iter()) {
        offsets.push(strings.len() as u64);
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let strings_at = put(m, &mut sp, &strings)?;
    let platform = put(m, &mut sp, b"x86_64\0")?;
    let mut random = [0u8; 16];
    let _ = crate::syscall::host_syscall(318, [random.as_mut_ptr() as u64, 16, 0, 0, 0, 0]);
    sp &= !15;
    let random_at = put(m, &mut sp, &random)?;

    let argc = program.argv.len() as u64;
    let (uid, euid, gid, egid) = (
        crate::syscall::host_syscall(102, [0; 6]) as u64,
        crate::syscall::host_syscall(107, [0; 6]) as u64,
        crate::syscall::host_syscall(104, [0; 6]) as u64,
        crate::syscall::host_syscall(108, [0; 6]) as u64,
    );
    let auxv = [
        (AT_PHDR, phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, elf.phdrs.len() as u64),
        (AT_PAGESZ, PAGE),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, entry),
        (AT_UID, uid),
        (AT_EUID, euid),
        (AT_GID, gid),
        (AT_EGID, egid),
        (AT_SECURE, 0),
        (AT_HWCAP, u64::from(crate::interp::misc::CPUID1_EDX)),
        (AT_HWCAP2, 0),
        (AT_CLKTCK, 100),
        (AT_RANDOM, random_at),
        (AT_PLATFORM, platform),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = vec![argc];
    let nargs = program.argv.len();
    words.extend(offsets[..nargs].iter().map(|o| strings_at + o));
    words.push(0);
    words.extend(offsets[nargs..].iter().map(|o| strings_at + o));
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    if words.len() % 2 == 1 {
        sp -= 8;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let sp = put(m, &mut sp, &bytes)?;
    debug_assert_eq!(sp % 16, 0);
    Ok(sp)
}

/// `mov edi, eax; mov eax, 0x2000001 (exit); syscall; ud2`: where a Mach-O `main` returns.
const MACHO_EXIT_CODE: [u8; 11] = [
    0x89, 0xc7, 0xb8, 0x01, 0x00, 0x00, 0x02, 0x0f, 0x05, 0x0f, 0x0b,
];

/// Maps a Mach-O program's segments and starts it the way the macOS kernel (LC_UNIXTHREAD) or
/// dyld (LC_MAIN, for a program without libraries) would.
fn start_macho(
    m: &mut Machine,
    program: &Program,
    mo: &MachOFile,
    env: &[Vec<u8>],
) -> Result<(), LoadError> {
    let image = &program.image[mo.slice_offset as usize..];
    let mut end = 0;
    for seg in mo.segments.iter().filter(|s| s.vmsize > 0) {
        let len = page_up(seg.vmsize).unwrap_or(seg.vmsize);
        m.mem.map(seg.vmaddr, len, R | W);
        let data = &image[seg.fileoff as usize..(seg.fileoff + seg.filesize) as usize];
        m.mem.poke(seg.vmaddr, data).map_err(|f| {
            LoadError::AddressSpace(format!(
                "cannot place segment {} at {:#x}",
                seg.name, f.addr
            ))
        })?;
        // __PAGEZERO (no rights) stays mapped so nothing else is placed there and every access
        // faults, as on macOS.
        m.mem.protect(
            seg.vmaddr,
            len,
            crate::syscall::mm::prot_bits(u64::from(seg.initprot)),
        );
        end = end.max(seg.vmaddr + len);
    }
    // macOS has no brk; the values only matter to `--strace` and a later Linux execve.
    m.os.brk_start = end;
    m.os.brk = end;
    m.os.exe_path = program.path.clone();
    match &mo.entry {
        macho::Entry::Thread { gpr, rip, rflags } => {
            let top = if gpr[RSP] != 0 {
                // A custom stack inside the program's own segments, as the kernel honours it.
                let top = gpr[RSP] & !15;
                if !m.mem.range_ok(top.saturating_sub(65536), 65536, W) {
                    return Err(LoadError::AddressSpace(format!(
                        "LC_UNIXTHREAD stack pointer {:#x} is not in 64 KiB of writable memory",
                        gpr[RSP]
                    )));
                }
                top
            } else {
                m.mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, R | W);
                STACK_TOP
            };
            let (sp, _) = build_macho_stack(m, program, env, top)?;
            m.cpu.gpr = *gpr;
            m.cpu.gpr[RSP] = sp;
            m.cpu.flags.set(*rflags | 0x202);
            m.cpu.rip = *rip;
        }
        macho::Entry::Main { entry, stack_size } => {
            let size = page_up(*stack_size).unwrap_or(0).max(STACK_SIZE);
            m.mem.map(STACK_TOP - size, size, R | W);
            let (sp, p) = build_macho_stack(m, program, env, STACK_TOP)?;
            m.mem.map(MACHO_EXIT_STUB, PAGE, R | X);
            m.mem
                .poke(MACHO_EXIT_STUB, &MACHO_EXIT_CODE)
                .map_err(|_| LoadError::AddressSpace("cannot place the exit stub".into()))?;
            // main(argc, argv, envp, apple), returning to exit; at entry RSP+8 is 16-aligned.
            let ret = sp - 8;
            m.mem
                .poke(ret, &MACHO_EXIT_STUB.to_le_bytes())
                .map_err(|_| LoadError::AddressSpace("stack".into()))?;
            m.cpu.gpr[crate::cpu::RDI] = program.argv.len() as u64;
            m.cpu.gpr[crate::cpu::RSI] = p.argv;
            m.cpu.gpr[crate::cpu::RDX] = p.envp;
            m.cpu.gpr[crate::cpu::RCX] = p.apple;
            m.cpu.gpr[RSP] = ret;
            m.cpu.rip = *entry;
        }
    }
    Ok(())
}

/// Where the pointer arrays of a macOS initial stack start.
struct MachOArrays {
    argv: u64,
    envp: u64,
    apple: u64,
}

/// The macOS initial stack below `top`: the strings (argv, environment, then the "apple"
/// strings starting with `executable_path=`), and at the 16-byte aligned stack pointer argc,
/// argv[], NULL, envp[], NULL, apple[], NULL (what `start` in crt1 / dyld reads).
fn build_macho_stack(
    m: &mut Machine,
    program: &Program,
    env: &[Vec<u8>],
    top: u64,
) -> Result<(u64, MachOArrays), LoadError> {
    let too_big = || LoadError::AddressSpace("arguments and environment exceed the stack".into());
    let apple = [[b"executable_path=".as_slice(), program.path.as_slice()].concat()];
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    for s in program.argv.iter().chain(env.iter()).chain(apple.iter()) {
        offsets.push(strings.len() as u64);
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let strings_at = (top - 8)
        .checked_sub(strings.len() as u64)
        .ok_or_else(too_big)?;
    let nargs = program.argv.len();
    let nenv = env.len();
    let mut words: Vec<u64> = vec![nargs as u64];
    words.extend(offsets[..nargs].iter().map(|o| strings_at + o));
    words.push(0);
    words.extend(offsets[nargs..nargs + nenv].iter().map(|o| strings_at + o));
    words.push(0);
    words.extend(offsets[nargs + nenv..].iter().map(|o| strings_at + o));
    words.push(0);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let sp = (strings_at & !15)
        .checked_sub(bytes.len() as u64 + 16)
        .map(|s| s & !15)
        .ok_or_else(too_big)?;
    if !m
        .mem
        .range_ok(sp.saturating_sub(65536), top - sp + 65536, W)
    {
        return Err(too_big());
    }
    m.mem.poke(strings_at, &strings).map_err(|_| too_big())?;
    m.mem.poke(sp, &bytes).map_err(|_| too_big())?;
    let arrays = MachOArrays {
        argv: sp + 8,
        envp: sp + 8 * (nargs as u64 + 2),
        apple: sp + 8 * (nargs as u64 + nenv as u64 + 3),
    };
    Ok((sp, arrays))
}
