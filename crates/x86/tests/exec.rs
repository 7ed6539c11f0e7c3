//! Executable memory and calls into the host, checked against the kernel's view of the mapping
//! (`/proc/self/maps`) and by running the code on this CPU.

use jitkit_x86::*;

/// Tests in this file run one at a time: the unmap check looks the address up in
/// `/proc/self/maps`, and another test mapping code at the same moment can be given the very
/// address just unmapped.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The permission string (`r-xp`, ...) of the mapping that contains `addr`.
fn perms_of(addr: usize) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let range = f.next()?;
        let perms = f.next()?;
        let (lo, hi) = range.split_once('-')?;
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).ok()?,
            usize::from_str_radix(hi, 16).ok()?,
        );
        (lo <= addr && addr < hi).then(|| perms.to_string())
    })
}

#[test]
fn code_is_read_execute_never_writable_and_unmapped_on_drop() {
    let _serial = serial();
    let mut a = Assembler::new();
    a.mov(EAX, 7);
    a.ret();
    let mem = ExecutableMemory::new(a.finish().unwrap().bytes()).unwrap();
    let addr = mem.addr();
    assert_eq!(perms_of(addr).as_deref(), Some("r-xp"));
    // SAFETY: `mov eax, 7; ret` is a function returning an i32.
    let f = unsafe { mem.function::<extern "C" fn() -> i32>(0) }.unwrap();
    assert_eq!(f.get()(), 7);
    drop(mem);
    assert_eq!(perms_of(addr), None, "the mapping must be gone after drop");
}

#[test]
fn function_offsets_outside_the_code_are_errors() {
    let _serial = serial();
    let mem = ExecutableMemory::new(&[0xC3]).unwrap();
    // SAFETY: never called; the offset is rejected.
    let r = unsafe { mem.function::<extern "C" fn()>(1) };
    assert!(matches!(r, Err(LoadError::BadOffset { offset: 1, len: 1 })));
}

/// `mov eax, n; ret`.
fn returns(n: i32) -> Vec<u8> {
    let mut a = Assembler::new();
    a.mov(EAX, n);
    a.ret();
    a.finish().unwrap().bytes().to_vec()
}

#[test]
fn arena_pieces_share_pages_run_and_are_never_writable() {
    let _serial = serial();
    let page = page_size();
    let mut arena = CodeArena::new(4 * page).unwrap();
    assert_eq!(arena.capacity(), 4 * page);
    let base = {
        let first = arena.append(&returns(0), 64).unwrap();
        assert_eq!(perms_of(first).as_deref(), Some("r-xp"));
        first
    };
    assert_eq!(
        perms_of(base + page).as_deref(),
        Some("---p"),
        "reserved, not yet used"
    );
    // Pieces at 64-byte steps: a page holds several, and one straddles a page boundary.
    let mut addrs = vec![base];
    for n in 1..(page / 64 + 3) as i32 {
        addrs.push(arena.append(&returns(n), 64).unwrap());
    }
    for (n, &addr) in addrs.iter().enumerate() {
        assert_eq!(addr, base + 64 * n);
        assert_eq!(perms_of(addr).as_deref(), Some("r-xp"));
        // SAFETY: every piece is `mov eax, n; ret`.
        let f = unsafe { arena.function::<extern "C" fn() -> i32>(addr) }.unwrap();
        assert_eq!(f.get()(), n as i32);
    }
    let straddling = [0x90; 100];
    let at = arena.append(&straddling, 1).unwrap();
    assert!(arena.contains(at + 99) && !arena.contains(at + 100));
    // Outside the used part: refused, not run.
    // SAFETY: never called; the address is rejected.
    let r = unsafe { arena.function::<extern "C" fn()>(at + 100) };
    assert!(matches!(r, Err(LoadError::BadOffset { .. })));
    // Full: a typed error, and the arena still works after a clear.
    let big = vec![0xc3; 4 * page];
    assert!(matches!(
        arena.append(&big, 1),
        Err(LoadError::ArenaFull { capacity }) if capacity == 4 * page
    ));
    arena.clear().unwrap();
    assert_eq!(
        perms_of(base).as_deref(),
        Some("---p"),
        "cleared pieces fault if reached"
    );
    assert!(!arena.contains(base));
    let again = arena.append(&returns(42), 16).unwrap();
    assert_eq!(again, base);
    // SAFETY: `mov eax, 42; ret`.
    let f = unsafe { arena.function::<extern "C" fn() -> i32>(again) }.unwrap();
    assert_eq!(f.get()(), 42);
    assert_eq!(
        arena.append(&big, 1).map(|_| ()).unwrap_err().to_string(),
        format!("the code arena is full ({} bytes)", 4 * page)
    );
}

extern "C" fn add3(a: u64, b: u64, c: u64) -> u64 {
    a + b * 10 + c * 100
}

#[test]
fn host_calls_go_direct_or_through_a_stub_when_far() {
    let _serial = serial();
    let mut a = Assembler::new();
    a.push(RBX); // align rsp to 16 for the call
    a.mov(RDX, 3);
    a.call_abs(add3 as *const () as usize as u64);
    a.pop(RBX);
    a.ret();
    let code = a.finish().unwrap();
    let loaded = code.load(&mut host_symbol).unwrap();
    let mem = loaded.memory();
    // SAFETY: a System V function (u64, u64) -> u64.
    let f = unsafe { mem.function::<extern "C" fn(u64, u64) -> u64>(0) }.unwrap();
    assert_eq!(f.get()(1, 2), 321);
    // Where does the call go? Decode the rel32 of `call` (after push rbx + 7-byte mov).
    // SAFETY: the mapping is readable and holds at least the 16 bytes of this code.
    let bytes = unsafe { std::slice::from_raw_parts(mem.as_ptr(), 16) };
    assert_eq!(bytes[8], 0xE8);
    let rel = i32::from_le_bytes(bytes[9..13].try_into().unwrap()) as i64;
    let dest = mem.addr() as i64 + 13 + rel;
    let distance = add3 as *const () as usize as i64 - (mem.addr() as i64 + 13);
    if i32::try_from(distance).is_ok() {
        assert_eq!(
            dest, add3 as *const () as usize as i64,
            "in range: a direct call"
        );
    } else {
        assert!(
            dest > mem.addr() as i64 && dest < (mem.addr() + mem.len()) as i64,
            "out of range: the call must land on a stub inside the mapping"
        );
    }
}

#[test]
fn indirect_absolute_calls_and_varargs() {
    let _serial = serial();
    // snprintf(buf, 64, "%d-%s", 42, "ok") through `movabs r11, addr; call r11`, with al = 0.
    let snprintf = host_symbol("snprintf").expect("libc snprintf");
    let mut a = Assembler::new();
    let fmt = a.new_label();
    let ok = a.new_label();
    a.push(RBX);
    a.mov(RDI, RDI); // buf is already the first argument
    a.mov(ESI, 64);
    a.lea(RDX, Mem::rip_label(fmt));
    a.mov(ECX, 42);
    a.lea(R8, Mem::rip_label(ok));
    a.xor(EAX, EAX);
    a.call_indirect_abs(R11, snprintf);
    a.pop(RBX);
    a.ret();
    a.bind(fmt);
    a.bytes_raw(b"%d-%s\0");
    a.bind(ok);
    a.bytes_raw(b"ok\0");
    let loaded = a.finish().unwrap().load(&mut host_symbol).unwrap();
    // SAFETY: a System V function (*mut u8) -> i32.
    let f = unsafe { loaded.memory().function::<extern "C" fn(*mut u8) -> i32>(0) }.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(f.get()(buf.as_mut_ptr()), 5);
    assert_eq!(&buf[..6], b"42-ok\0");
}

#[test]
fn unbound_labels_and_bad_operands_are_errors_not_panics() {
    let _serial = serial();
    let mut a = Assembler::new();
    let l = a.new_label();
    a.jmp(l);
    assert_eq!(a.finish().unwrap_err(), EncodeError::UnboundLabel(0));
    let mut a = Assembler::new();
    a.mov(Mem::base(RAX), Mem::base(RBX));
    a.mov(AH, SIL);
    a.ret();
    assert!(matches!(
        a.finish(),
        Err(EncodeError::InvalidOperands { insn: "mov", .. })
    ));
    let mut a = Assembler::new();
    a.mov(AH, SIL);
    assert_eq!(
        a.finish().unwrap_err(),
        EncodeError::HighByteWithRex { reg: AH }
    );
}

#[test]
fn branches_relax_at_the_8_bit_boundary() {
    let _serial = serial();
    // A forward jcc over exactly 127 bytes is short; over 128 it is long. Backward likewise.
    for (pad, want_short) in [(127usize, true), (128, false)] {
        let mut a = Assembler::new();
        let l = a.new_label();
        a.jcc(Cond::E, l);
        a.nop_bytes(pad);
        a.bind(l);
        let code = a.finish().unwrap();
        assert_eq!(code.bytes()[0] == 0x74, want_short, "forward over {pad}");
    }
    for (pad, want_short) in [(126usize, true), (127, false)] {
        let mut a = Assembler::new();
        let l = a.label_here();
        a.nop_bytes(pad);
        a.jmp(l);
        let code = a.finish().unwrap();
        assert_eq!(code.bytes()[pad] == 0xEB, want_short, "backward over {pad}");
    }
}

/// SSE2 through the builder, run on this CPU: `hypot(a, b)` and an integer round trip.
#[test]
fn sse2_builder_code_runs_on_the_host() {
    let _serial = serial();
    let mut a = Assembler::new();
    a.mulsd(XMM0, XMM0); // a*a
    a.movapd(XMM8, XMM1);
    a.mulsd(XMM8, XMM8); // b*b in a REX register
    a.addsd(XMM0, XMM8);
    a.sqrtsd(XMM0, XMM0);
    a.ret();
    let mem = ExecutableMemory::new(a.finish().unwrap().bytes()).unwrap();
    // SAFETY: a System V function (f64, f64) -> f64 that touches only xmm0, xmm1, xmm8.
    let hypot = unsafe { mem.function::<extern "C" fn(f64, f64) -> f64>(0) }.unwrap();
    assert_eq!(hypot.get()(3.0, 4.0), 5.0);

    // i64 -> f64, times 2.5 (a constant loaded from memory after the code), -> i64 truncated.
    let mut a = Assembler::new();
    let k = a.new_label();
    a.cvtsi2sd(XMM0, RDI);
    a.mulsd(XMM0, qword_ptr(Mem::rip_label(k)));
    a.cvttsd2si(RAX, XMM0);
    a.movq(XMM1, RAX);
    a.movq(RDX, XMM1);
    a.pxor(XMM2, XMM2);
    a.pcmpeqb(XMM2, XMM2);
    a.pmovmskb(ECX, XMM2); // 0xffff
                           // The result goes through xmm1 and back (movq), plus the mask (0xffff) minus 0xffff.
    a.mov(RAX, RDX);
    a.add(RAX, RCX);
    a.sub(RAX, 0xffff);
    a.ret();
    a.align(8, false);
    a.bind(k);
    a.bytes_raw(&2.5f64.to_le_bytes());
    let mem = ExecutableMemory::new(a.finish().unwrap().bytes()).unwrap();
    // SAFETY: a System V function i64 -> i64 (rcx, rdx, xmm0-2 are caller-saved).
    let f = unsafe { mem.function::<extern "C" fn(i64) -> i64>(0) }.unwrap();
    for x in [0i64, 1, 7, -3, 1 << 40] {
        assert_eq!(f.get()(x), (x as f64 * 2.5) as i64, "{x}");
    }
}

/// `mov rax, fs:[0]` reads the thread pointer (the TCB's self pointer on x86-64 Linux): the
/// same value each time on one thread, another value on another thread.
#[test]
fn fs_segment_override_reads_the_thread_pointer() {
    let _serial = serial();
    let mut a = Assembler::new();
    a.mov(RAX, qword_ptr(Mem::abs(0).with_segment(FS)));
    a.ret();
    let mem = ExecutableMemory::new(a.finish().unwrap().bytes()).unwrap();
    // SAFETY: reads fs:0, which glibc and musl both map to the thread control block.
    let f = unsafe { mem.function::<extern "C" fn() -> usize>(0) }.unwrap();
    let here = f.get()();
    assert_ne!(here, 0);
    assert_eq!(here, f.get()());
    let other = std::thread::scope(|s| s.spawn(|| f.get()()).join().unwrap());
    assert_ne!(other, 0);
    assert_ne!(other, here, "each thread has its own thread pointer");
}
