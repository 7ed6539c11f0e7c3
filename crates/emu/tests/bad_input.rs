//! Bad input gets a clear typed error, never a panic: malformed and unsupported executables, and
//! programs that fault, divide by zero or use instructions the interpreter does not implement.
//! The cases are tables (name, executable image, expected error or outcome) walked by one loop
//! each; a failure names its case.

use jitkit_emu::loader::Program;
use jitkit_emu::{Emulator, LoadError, Outcome};
use jitkit_testkit::rng::Rng;

const BASE: u64 = 0x40_0000;
const CODE_OFF: u64 = 64 + 56;
/// Where `tiny_elf`'s code starts, as the emulator writes it in a reason.
const CODE_ADDR_TEXT: &str = "0x400078";
const _: () = assert!(BASE + CODE_OFF == 0x40_0078);

/// A minimal static ELF64 executable: one PT_LOAD (R+X) holding the headers and `code`, entry
/// at the code.
fn tiny_elf(code: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; CODE_OFF as usize];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little-endian
    f[6] = 1; // version
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&(BASE + CODE_OFF).to_le_bytes()); // entry
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
    f[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
    f[56..58].copy_from_slice(&1u16.to_le_bytes()); // phnum
    let total = CODE_OFF + code.len() as u64;
    let ph = 64;
    f[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f[ph + 4..ph + 8].copy_from_slice(&5u32.to_le_bytes()); // R+X
    f[ph + 8..ph + 16].copy_from_slice(&0u64.to_le_bytes()); // offset
    f[ph + 16..ph + 24].copy_from_slice(&BASE.to_le_bytes()); // vaddr
    f[ph + 24..ph + 32].copy_from_slice(&BASE.to_le_bytes()); // paddr
    f[ph + 32..ph + 40].copy_from_slice(&total.to_le_bytes()); // filesz
    f[ph + 40..ph + 48].copy_from_slice(&total.to_le_bytes()); // memsz
    f[ph + 48..ph + 56].copy_from_slice(&4096u64.to_le_bytes()); // align
    f.extend_from_slice(code);
    f
}

fn load(image: Vec<u8>) -> Result<Program, LoadError> {
    Program::from_bytes(b"test", vec![b"test".to_vec()], image)
}

/// Patches `bytes` at `at` in a valid tiny ELF.
fn patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut f = tiny_elf(&[0x0f, 0x05]);
    f[at..at + bytes.len()].copy_from_slice(bytes);
    f
}

const MACHO_TEXT: u64 = 0x1_0000_0000;
/// Offsets inside `tiny_macho`: the two segment commands and the thread command.
const PAGEZERO_AT: usize = 32;
const TEXT_AT: usize = 32 + 72;
const THREAD_AT: usize = 32 + 72 + 72;
const MACHO_CODE_OFF: usize = THREAD_AT + 184;

fn segment_64(
    name: &str,
    vmaddr: u64,
    vmsize: u64,
    fileoff: u64,
    filesize: u64,
    prot: u32,
) -> Vec<u8> {
    let mut c = vec![0u8; 72];
    c[0..4].copy_from_slice(&0x19u32.to_le_bytes()); // LC_SEGMENT_64
    c[4..8].copy_from_slice(&72u32.to_le_bytes());
    c[8..8 + name.len()].copy_from_slice(name.as_bytes());
    c[24..32].copy_from_slice(&vmaddr.to_le_bytes());
    c[32..40].copy_from_slice(&vmsize.to_le_bytes());
    c[40..48].copy_from_slice(&fileoff.to_le_bytes());
    c[48..56].copy_from_slice(&filesize.to_le_bytes());
    c[56..60].copy_from_slice(&prot.to_le_bytes()); // maxprot
    c[60..64].copy_from_slice(&prot.to_le_bytes()); // initprot
    c
}

/// A minimal x86-64 Mach-O executable: __PAGEZERO, a __TEXT segment holding the headers and
/// `code`, and an LC_UNIXTHREAD whose RIP is the code.
fn tiny_macho(code: &[u8]) -> Vec<u8> {
    let total = (MACHO_CODE_OFF + code.len()) as u64;
    let mut f = vec![0u8; 32];
    f[0..4].copy_from_slice(&0xfeed_facfu32.to_le_bytes());
    f[4..8].copy_from_slice(&0x0100_0007u32.to_le_bytes()); // CPU_TYPE_X86_64
    f[8..12].copy_from_slice(&3u32.to_le_bytes()); // CPU_SUBTYPE_X86_ALL
    f[12..16].copy_from_slice(&2u32.to_le_bytes()); // MH_EXECUTE
    f[16..20].copy_from_slice(&3u32.to_le_bytes()); // ncmds
    f[20..24].copy_from_slice(&((MACHO_CODE_OFF - 32) as u32).to_le_bytes()); // sizeofcmds
    f.extend(segment_64("__PAGEZERO", 0, MACHO_TEXT, 0, 0, 0));
    f.extend(segment_64("__TEXT", MACHO_TEXT, 0x1000, 0, total, 5));
    f.extend_from_slice(&5u32.to_le_bytes()); // LC_UNIXTHREAD
    f.extend_from_slice(&184u32.to_le_bytes());
    f.extend_from_slice(&4u32.to_le_bytes()); // x86_THREAD_STATE64
    f.extend_from_slice(&42u32.to_le_bytes());
    let mut regs = [0u64; 21];
    regs[16] = MACHO_TEXT + MACHO_CODE_OFF as u64; // rip
    for r in regs {
        f.extend_from_slice(&r.to_le_bytes());
    }
    assert_eq!(f.len(), MACHO_CODE_OFF);
    f.extend_from_slice(code);
    f
}

/// `mov eax, 0x2000001; mov edi, 7; syscall`: macOS exit(7).
const MACHO_EXIT7: [u8; 12] = [
    0xb8, 0x01, 0x00, 0x00, 0x02, 0xbf, 0x07, 0x00, 0x00, 0x00, 0x0f, 0x05,
];

fn macho_patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut f = tiny_macho(&MACHO_EXIT7);
    f[at..at + bytes.len()].copy_from_slice(bytes);
    f
}

/// A universal (fat) file with one slice of `cpu`, and `slice` at offset 4096 (`slice_len` is
/// what the header claims).
fn fat(cpu: u32, slice: &[u8], slice_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; if slice.is_empty() { 48 } else { 4096 }];
    f[0..4].copy_from_slice(&0xcafe_babeu32.to_be_bytes());
    f[4..8].copy_from_slice(&1u32.to_be_bytes());
    f[8..12].copy_from_slice(&cpu.to_be_bytes());
    if !slice.is_empty() {
        f[16..20].copy_from_slice(&4096u32.to_be_bytes()); // offset
        f[20..24].copy_from_slice(&(slice_len as u32).to_be_bytes());
        f.extend_from_slice(slice);
    }
    f
}

/// The tiny Mach-O with its LC_UNIXTHREAD turned into an LC_LOAD_DYLIB naming libSystem (name
/// at offset 24).
fn macho_with_dylib() -> Vec<u8> {
    let mut f = tiny_macho(&MACHO_EXIT7);
    f[THREAD_AT..THREAD_AT + 4].copy_from_slice(&0xcu32.to_le_bytes());
    f[THREAD_AT + 8..THREAD_AT + 12].copy_from_slice(&24u32.to_le_bytes());
    let name = b"/usr/lib/libSystem.B.dylib\0";
    f[THREAD_AT + 24..THREAD_AT + 24 + name.len()].copy_from_slice(name);
    f
}

/// The tiny Mach-O with __TEXT (and the entry point) moved to 0x7fff_0000_0000.
fn macho_far_text() -> Vec<u8> {
    let far = 0x7fff_0000_0000u64;
    let mut f = macho_patched(TEXT_AT + 24, &far.to_le_bytes());
    let rip = THREAD_AT + 16 + 16 * 8;
    f[rip..rip + 8].copy_from_slice(&(far + MACHO_CODE_OFF as u64).to_le_bytes());
    f
}

/// Executables the loader must refuse, each with a fragment of the error message expected.
fn malformed_executables() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let ph = 64;
    let text_end = MACHO_TEXT + 0x1000;
    let thin = tiny_macho(&MACHO_EXIT7);
    vec![
        // ELF
        ("empty file", vec![], "not an ELF file"),
        ("shell text", b"echo hello\n".to_vec(), "not an ELF file"),
        (
            "truncated header",
            tiny_elf(&[])[..40].to_vec(),
            "shorter than the 64-byte ELF header",
        ),
        ("32-bit", patched(4, &[1]), "32-bit ELF"),
        ("big-endian", patched(5, &[2]), "big-endian"),
        ("ARM", patched(18, &183u16.to_le_bytes()), "ELF machine 183"),
        (
            "relocatable object",
            patched(16, &1u16.to_le_bytes()),
            "ELF type 1",
        ),
        (
            "bad phentsize",
            patched(54, &32u16.to_le_bytes()),
            "program header entry size 32",
        ),
        (
            "no program headers",
            patched(56, &0u16.to_le_bytes()),
            "no program headers",
        ),
        (
            "phdrs past end",
            patched(32, &4000u64.to_le_bytes()),
            "program header table extends past",
        ),
        (
            "segment past end",
            patched(ph + 32, &0x10000u64.to_le_bytes()),
            "extends past the end of the file",
        ),
        (
            "filesz > memsz",
            patched(ph + 40, &1u64.to_le_bytes()),
            "larger than memory size",
        ),
        (
            "misaligned segment",
            patched(ph + 16, &(BASE + 3).to_le_bytes()),
            "differ modulo the page size",
        ),
        (
            "kernel address",
            patched(ph + 16, &0xffff_8000_0000_0000u64.to_le_bytes()),
            "outside the emulated address space",
        ),
        (
            "no PT_LOAD",
            patched(ph, &6u32.to_le_bytes()),
            "no loadable segment",
        ),
        (
            "wrapping segment",
            patched(ph + 40, &u64::MAX.to_le_bytes()),
            "wraps around",
        ),
        // Mach-O
        (
            "Mach-O truncated header",
            tiny_macho(&[])[..20].to_vec(),
            "shorter than the 32-byte",
        ),
        (
            "Mach-O truncated load commands",
            tiny_macho(&[])[..200].to_vec(),
            "load commands (328 bytes) extend past the end",
        ),
        (
            "Mach-O i386",
            macho_patched(0, &0xfeed_faceu32.to_le_bytes()),
            "32-bit Mach-O",
        ),
        (
            "Mach-O arm64",
            macho_patched(4, &0x0100_000cu32.to_le_bytes()),
            "CPU type 0x100000c",
        ),
        (
            "Mach-O object file",
            macho_patched(12, &1u32.to_le_bytes()),
            "file type 1",
        ),
        (
            "universal without x86-64",
            fat(0x0100_000c, &[], 0), // arm64
            "without an x86-64 slice",
        ),
        (
            "universal slice past end",
            fat(0x0100_0007, &thin, thin.len() + 1), // one byte too long
            "x86-64 slice at 0x1000",
        ),
        (
            "Mach-O command size not a multiple of 8",
            macho_patched(TEXT_AT + 4, &76u32.to_le_bytes()),
            "has size 76",
        ),
        (
            "Mach-O command size zero",
            macho_patched(PAGEZERO_AT + 4, &0u32.to_le_bytes()),
            "has size 0",
        ),
        (
            "Mach-O more commands than sizeofcmds holds",
            macho_patched(16, &4u32.to_le_bytes()),
            "starts past sizeofcmds",
        ),
        (
            "Mach-O command past sizeofcmds",
            macho_patched(20, &200u32.to_le_bytes()),
            "past sizeofcmds",
        ),
        (
            "Mach-O overlapping segments",
            macho_patched(PAGEZERO_AT + 32, &(MACHO_TEXT + 0x1000).to_le_bytes()),
            "segments __PAGEZERO (0x0+0x100001000) and __TEXT (0x100000000) overlap",
        ),
        (
            "Mach-O segment past end of file",
            macho_patched(TEXT_AT + 48, &0x10000u64.to_le_bytes()),
            "extends past the end of the file",
        ),
        (
            "Mach-O file size above memory size",
            macho_patched(TEXT_AT + 32, &16u64.to_le_bytes()),
            "larger than its memory size",
        ),
        (
            "Mach-O wrapping segment",
            macho_patched(TEXT_AT + 32, &u64::MAX.to_le_bytes()),
            "wraps around",
        ),
        (
            "Mach-O unaligned segment",
            macho_patched(TEXT_AT + 24, &(MACHO_TEXT + 8).to_le_bytes()),
            "not page aligned",
        ),
        (
            "Mach-O segment beyond the address space",
            macho_far_text(),
            "outside the emulated address space",
        ),
        (
            "Mach-O entry outside the code",
            macho_patched(THREAD_AT + 16 + 16 * 8, &text_end.to_le_bytes()),
            "entry point 0x100001000 is not inside an executable segment",
        ),
        (
            "Mach-O no entry point",
            macho_patched(THREAD_AT, &0x7fu32.to_le_bytes()),
            "no entry point",
        ),
        (
            "Mach-O thread state of another CPU",
            macho_patched(THREAD_AT + 8, &1u32.to_le_bytes()),
            "without an x86_THREAD_STATE64",
        ),
        (
            "Mach-O thread state count past the command",
            macho_patched(THREAD_AT + 12, &1000u32.to_le_bytes()),
            "extends past the command",
        ),
        (
            "Mach-O needs a dylib",
            macho_with_dylib(),
            "libSystem.B.dylib",
        ),
    ]
}

#[test]
fn malformed_executables_are_typed_errors() {
    let mut failures = Vec::new();
    for (name, image, expect) in malformed_executables() {
        match load(image) {
            Ok(_) => failures.push(format!("{name}: loaded")),
            Err(e) if !e.to_string().contains(expect) => {
                failures.push(format!("{name}: error `{e}` does not mention `{expect}`"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dynamic_programs_are_refused_with_their_interpreter() {
    // Debian's own dynamically linked `true`.
    let image = std::fs::read("/bin/true").expect("/bin/true");
    let err = load(image).err().expect("dynamic program refused");
    assert!(matches!(err, LoadError::Dynamic(_)), "{err}");
    assert!(err.to_string().contains("ld-linux"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err = Emulator::new(b"/nonexistent/program", vec![], vec![], Default::default())
        .err()
        .expect("missing file");
    assert!(err.to_string().contains("/nonexistent/program"), "{err}");
    assert_eq!(err.errno(), 2);
}

/// Corrupts 1 to 4 random bytes of `valid` (among its first `region` bytes), sometimes
/// truncates it, 3000 times: loading, and starting what loads, must not panic. Nothing runs (a
/// corrupted program could loop forever).
fn corruption_never_panics(valid: &[u8], region: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    // The last random value drawn: it also picks how many bytes change and whether to truncate.
    let mut state = seed;
    for _ in 0..3000 {
        let mut f = valid.to_vec();
        for _ in 0..1 + state % 4 {
            state = rng.next_u64();
            let at = (state >> 8) as usize % region;
            f[at] = (state >> 32) as u8;
        }
        if state.is_multiple_of(7) {
            f.truncate((state >> 40) as usize % f.len());
        }
        if let Ok(p) = load(f) {
            let _ = Emulator::from_program(p, vec![], Default::default());
        }
    }
}

#[test]
fn random_corruption_never_panics() {
    let valid = tiny_elf(&[0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    corruption_never_panics(&valid, valid.len(), 0x1234_5678_9abc_def1);
}

#[test]
fn random_macho_corruption_never_panics() {
    // Mostly the header and load commands, where the structure is.
    corruption_never_panics(
        &tiny_macho(&MACHO_EXIT7),
        MACHO_CODE_OFF,
        0x9e37_79b9_7f4a_7c15,
    );
}

/// How running a program must end.
#[derive(Debug)]
enum Ends {
    /// `exit_group` (or macOS `exit`) with this status.
    Exited(i32),
    /// Killed by this signal, the reason naming each of the fragments.
    Killed(i32, &'static [&'static str]),
    /// This status as a shell reports it (128 + signal when killed), the reason unchecked.
    Status(i32),
}

/// `fxsave64` and `fxrstor64` around a clobbered XMM3 that holds 42; exits with XMM3's low word.
fn fxsave_round_trip() -> Vec<u8> {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(64).expect("asm");
    a.mov(eax, 42).unwrap();
    a.movd(xmm3, eax).unwrap();
    a.lea(rdi, ptr(rsp - 1024)).unwrap();
    a.and(rdi, -16).unwrap();
    a.fxsave64(ptr(rdi)).unwrap();
    a.pxor(xmm3, xmm3).unwrap();
    a.fxrstor64(ptr(rdi)).unwrap();
    a.movd(edi, xmm3).unwrap();
    a.mov(eax, 231).unwrap();
    a.syscall().unwrap();
    a.assemble(BASE + CODE_OFF).expect("assemble")
}

/// Programs that run, with how each must end.
fn programs() -> Vec<(&'static str, Vec<u8>, Ends)> {
    use libc::{SIGFPE, SIGILL, SIGSEGV};
    vec![
        (
            // mov edi, 7; mov eax, 231; syscall
            "exit status from exit_group",
            tiny_elf(&[0xbf, 7, 0, 0, 0, 0xb8, 231, 0, 0, 0, 0x0f, 0x05]),
            Ends::Exited(7),
        ),
        (
            // vaddps ymm0, ymm1, ymm2 (AVX: not implemented, not advertised by CPUID)
            "unsupported instruction: SIGILL with address, bytes and mnemonic",
            tiny_elf(&[0xc5, 0xf4, 0x58, 0xc2]),
            Ends::Killed(SIGILL, &[CODE_ADDR_TEXT, "c5 f4 58 c2", "vaddps"]),
        ),
        ("ud2", tiny_elf(&[0x0f, 0x0b]), Ends::Status(128 + SIGILL)),
        (
            // mov byte ptr [rip+0], 1: a write into the read+execute segment.
            "write into the code segment",
            tiny_elf(&[0xc6, 0x05, 0, 0, 0, 0, 1]),
            Ends::Killed(SIGSEGV, &["write to address 0x40007f"]),
        ),
        (
            // mov rax, [0]
            "read of unmapped memory",
            tiny_elf(&[0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0]),
            Ends::Killed(SIGSEGV, &["read of address 0x0"]),
        ),
        (
            // xor ecx, ecx; div ecx
            "division by zero",
            tiny_elf(&[0x31, 0xc9, 0xf7, 0xf1]),
            Ends::Status(128 + SIGFPE),
        ),
        (
            // mov rax, 0x10000000; jmp rax
            "jump to a non-executable address",
            tiny_elf(&[0x48, 0xc7, 0xc0, 0, 0, 0, 0x10, 0xff, 0xe0]),
            Ends::Status(128 + SIGSEGV),
        ),
        (
            "fxsave and fxrstor round-trip SSE state",
            tiny_elf(&fxsave_round_trip()),
            Ends::Exited(42),
        ),
        (
            "tiny Mach-O exits with its status",
            tiny_macho(&MACHO_EXIT7),
            Ends::Exited(7),
        ),
        (
            // mov rax, [0x10]
            "Mach-O __PAGEZERO faults",
            tiny_macho(&[0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0]),
            Ends::Killed(SIGSEGV, &["0x10"]),
        ),
    ]
}

/// Loads and runs `image`; `Err` says how the outcome differs from `expect`.
fn check_run(image: Vec<u8>, expect: &Ends) -> Result<(), String> {
    let program = load(image).map_err(|e| format!("does not load: {e}"))?;
    let mut emu = Emulator::from_program(program, vec![], Default::default())
        .map_err(|e| format!("does not start: {e}"))?;
    let outcome = emu.run();
    let ok = match (expect, &outcome) {
        (Ends::Exited(status), _) => outcome == Outcome::Exited(*status),
        (Ends::Killed(want, fragments), Outcome::Killed { signal, reason }) => {
            signal == want && fragments.iter().all(|f| reason.contains(f))
        }
        (Ends::Killed(..), Outcome::Exited(_)) => false,
        (Ends::Status(status), _) => outcome.status() == *status,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expect:?}, got {outcome:?}"))
    }
}

#[test]
fn programs_end_as_expected() {
    let failures: Vec<String> = programs()
        .into_iter()
        .filter_map(|(name, image, expect)| {
            check_run(image, &expect)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn deadlocked_guest_threads_are_reported_not_hung() {
    // main joins a thread that waits on a condition variable nobody signals: natively this
    // hangs forever; the emulator sees every thread blocked on a futex with no deadline.
    jitkit_testkit::require_tool("gcc", "gcc");
    let dir = std::env::temp_dir().join(format!("jitkit-emu-deadlock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let src = dir.join("deadlock.c");
    std::fs::write(
        &src,
        "#include <pthread.h>\n\
         static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;\n\
         static pthread_cond_t c = PTHREAD_COND_INITIALIZER;\n\
         static void *w(void *a) { pthread_mutex_lock(&m); pthread_cond_wait(&c, &m); return a; }\n\
         int main(void) { pthread_t t; pthread_create(&t, 0, w, 0); pthread_join(t, 0); return 0; }\n",
    )
    .expect("write source");
    let exe = dir.join("deadlock");
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .expect("gcc");
    assert!(built.success());
    let path = exe.as_os_str().as_encoded_bytes().to_vec();
    let mut emu =
        Emulator::new(&path, vec![path.clone()], vec![], Default::default()).expect("loads");
    let outcome = emu.run();
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Outcome::Killed { signal: 9, reason } => assert!(reason.contains("deadlock"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
