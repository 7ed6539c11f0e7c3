//! Loading a program: reading the file (following `#!` once), mapping its PT_LOAD segments,
//! setting up the break, and building the initial stack exactly as Linux does (argc, argv,
//! envp, auxiliary vector, strings, 16 random bytes; RSP 16-byte aligned; RDX = 0).

use crate::cpu::{Cpu, RSP};
use crate::elf::{self, ElfFile, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};
use crate::machine::Machine;
use crate::memory::{page_down, page_up, Memory, LIMIT, MAPPED, PAGE, R, W, X};
use crate::LoadError;

/// Where the stack ends (it grows down from here).
pub const STACK_TOP: u64 = LIMIT - 16 * PAGE;
pub const STACK_SIZE: u64 = 8 << 20;
/// Where position-independent executables are placed.
pub const PIE_BASE: u64 = 0x4_0000_0000;

/// A program read from disk and checked, ready to start.
pub struct Program {
    /// The path of the executable actually loaded (the interpreter for `#!` scripts).
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub image: Vec<u8>,
    pub elf: ElfFile,
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
            let elf = elf::parse(&image)?;
            return Program::checked(interp, new_argv, image, elf);
        }
        let elf = elf::parse(&image)?;
        Program::checked(path.to_vec(), argv, image, elf)
    }

    /// A program from bytes already in memory (tests, fuzzing).
    pub fn from_bytes(
        path: &[u8],
        argv: Vec<Vec<u8>>,
        image: Vec<u8>,
    ) -> Result<Program, LoadError> {
        let elf = elf::parse(&image)?;
        Program::checked(path.to_vec(), argv, image, elf)
    }

    fn checked(
        path: Vec<u8>,
        argv: Vec<Vec<u8>>,
        image: Vec<u8>,
        elf: ElfFile,
    ) -> Result<Program, LoadError> {
        if let Some(interp) = &elf.interp {
            return Err(LoadError::Dynamic(
                String::from_utf8_lossy(interp).into_owned(),
            ));
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
            if end.is_none_or(|e| e > STACK_TOP - STACK_SIZE - (1 << 32)) {
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
            elf,
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

/// Replaces the machine's address space and registers with a fresh start of `program`.
pub fn start(m: &mut Machine, program: &Program, env: &[Vec<u8>]) -> Result<(), LoadError> {
    m.mem = Memory::new().map_err(LoadError::Reserve)?;
    m.cpu = Cpu::default();
    m.saved_signal_states.clear();
    let elf = &program.elf;
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
    let sp = build_stack(m, program, env, phdr, entry)?;
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
        (AT_PHNUM, program.elf.phdrs.len() as u64),
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
