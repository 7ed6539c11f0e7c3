//! Random straight-line blocks run by the interpreter and by the translator must leave the same
//! registers, flags, RIP and memory (and stop the same way). The interpreter is the reference
//! here because `tests/differential.rs` checks it, one instruction at a time, against the host
//! CPU; these blocks exercise what single instructions cannot: flag liveness across
//! instructions (shifts, inc/dec and imul translated natively when their flags are dead), the
//! lazy flags a jcc/setcc/cmovcc reads from an earlier instruction, and faults in mid-block.

use iced_x86::code_asm::*;
use jitkit_testkit::rng::Rng;

use super::{Exit, Jit};
use crate::decode::decode_block;
use crate::machine::{Machine, Stop};
use crate::memory::{R, W, X};

const CODE: u64 = 0x1000;
const DATA: u64 = 0x10000;
/// Two data pages are mapped; the page after them is not (fault cases).
const DATA_LEN: u64 = 0x2000;

/// An operand value: zero, all ones, a power of two, a shift count (up to 69: counts past the
/// operand width are masked), the 32-bit sign boundary and just below it (for sign-extended
/// immediates), or random bits. Not `Rng::value`: these blocks want shift counts past 64 and the
/// imm32 boundary.
fn value(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => u64::MAX,
        2 => 1u64 << rng.below(64),
        3 => rng.below(70),
        4 => 0x8000_0000u64.wrapping_sub(rng.below(3)),
        _ => rng.next_u64(),
    }
}

/// Registers the blocks may change (not rsp, not r12, which points at the data).
const R64: [AsmRegister64; 14] = [
    rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r13, r14, r15,
];
const R32: [AsmRegister32; 14] = [
    eax, ecx, edx, ebx, ebp, esi, edi, r8d, r9d, r10d, r11d, r13d, r14d, r15d,
];
const R16: [AsmRegister16; 14] = [
    ax, cx, dx, bx, bp, si, di, r8w, r9w, r10w, r11w, r13w, r14w, r15w,
];
const R8: [AsmRegister8; 14] = [
    al, cl, dl, bl, bpl, sil, dil, r8b, r9b, r10b, r11b, r13b, r14b, r15b,
];

fn one(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    let x = rng.below(14) as usize;
    let y = rng.below(14) as usize;
    let disp = (rng.below(0x1e0) * 8) as i32;
    let imm = value(rng) as i32;
    let sh = rng.below(70) as u32;
    let m64 = qword_ptr(r12 + disp);
    let m32 = dword_ptr(r12 + disp);
    let m8 = byte_ptr(r12 + disp);
    match rng.below(70) {
        0 => a.mov(R64[x], R64[y]),
        1 => a.mov(R32[x], R32[y]),
        2 => a.mov(R64[x], value(rng)),
        3 => a.mov(R64[x], m64),
        4 => a.mov(m64, R64[y]),
        5 => a.mov(R32[x], m32),
        6 => a.mov(m8, R8[y]),
        7 => a.mov(R8[x], R8[y]),
        8 => a.add(R64[x], R64[y]),
        9 => a.sub(R32[x], R32[y]),
        10 => a.and(R64[x], imm),
        11 => a.or(R16[x], R16[y]),
        12 => a.xor(R32[x], R32[y]),
        13 => a.cmp(R64[x], R64[y]),
        14 => a.cmp(R8[x], R8[y]),
        15 => a.test(R32[x], R32[y]),
        16 => a.cmp(m64, R64[y]),
        17 => a.cmp(m32, imm),
        18 => a.add(R64[x], m64),
        19 => a.lea(R64[x], ptr(R64[y] + R64[x] * 4 + disp)),
        20 => a.lea(R32[x], ptr(R64[y] - 1)),
        21 => a.movzx(R32[x], m8),
        22 => a.movsx(R64[x], R16[y]),
        23 => a.movsxd(R64[x], R32[y]),
        24 => a.shl(R64[x], sh),
        25 => a.shr(R32[x], cl),
        26 => a.sar(R64[x], sh),
        27 => a.rol(R32[x], sh),
        28 => a.ror(R64[x], cl),
        29 => a.inc(R64[x]),
        30 => a.dec(R32[x]),
        31 => a.neg(R64[x]),
        32 => a.not(R8[x]),
        33 => a.imul_2(R64[x], R64[y]),
        34 => a.imul_3(R32[x], R32[y], imm),
        35 => a.sete(R8[x]),
        36 => a.setl(R8[x]),
        37 => a.cmovb(R64[x], R64[y]),
        38 => a.cmovg(R32[x], R32[y]),
        39 => a.push(R64[x]),
        40 => a.pop(R64[x]),
        41 => a.bswap(R64[x]),
        // Run by the interpreter's handlers inside translated blocks.
        42 => a.adc(R64[x], R64[y]),
        43 => a.bt(R32[x], R32[y]),
        44 => a.xchg(R64[x], R64[y]),
        // Misaligned: in one page, across the two data pages, into the unmapped page.
        45 => a.mov(R64[x], qword_ptr(r12 + (disp + 3))),
        46 => a.mov(dword_ptr(r12 + 0xffe), R32[y]),
        47 => a.add(R32[x], dword_ptr(r12 + 0x1ffd)),
        // Read-modify-write to memory: aligned, across the two data pages, into the unmapped
        // page (the load faults), into read-only code (the store faults after the flags).
        49 => a.add(m64, R64[y]),
        50 => a.sub(m32, imm),
        51 => a.xor(m8, R8[y]),
        52 => a.or(word_ptr(r12 + disp), R16[y]),
        53 => a.and(qword_ptr(r12 + disp), imm),
        54 => a.add(dword_ptr(r12 + 0xffe), R32[y]),
        55 if rng.below(4) == 0 => a.sub(qword_ptr(r12 + 0x1ffc), R64[y]),
        55 if rng.below(4) == 0 => a.add(dword_ptr(0x5000), R32[y]),
        55 => a.or(m64, imm),
        // Compares with a memory operand that crosses into the second data page.
        48 if rng.below(2) == 0 => a.cmp(qword_ptr(r12 + 0xffd), R64[y]),
        48 => a.cmp(dword_ptr(r12 + 0xffe), imm),
        // Locked read-modify-writes, xchg with memory, inc/dec/xadd/cmpxchg with memory (locked
        // or not): aligned (inline), misaligned in a page and across the two data pages (the
        // handler), into the unmapped page and read-only code (faults that change nothing).
        56 => a.lock().add(m64, R64[y]),
        57 => a.lock().sub(m32, imm),
        58 if rng.below(2) == 0 => a.lock().and(m8, R8[y]),
        58 => a.lock().and(m64, imm),
        59 => a.lock().or(word_ptr(r12 + disp), R16[y]),
        60 if rng.below(2) == 0 => a.lock().xor(m64, imm),
        60 => a.lock().xor(m32, R32[y]),
        61 => match rng.below(4) {
            0 => a.lock().inc(m32),
            1 => a.inc(m64),
            2 => a.lock().inc(byte_ptr(r12 + disp + 1)),
            _ => a.inc(word_ptr(r12 + disp)),
        },
        62 => match rng.below(4) {
            0 => a.lock().dec(m64),
            1 => a.dec(m32),
            2 => a.lock().dec(word_ptr(r12 + disp)),
            _ => a.dec(m8),
        },
        63 => match rng.below(4) {
            0 => a.lock().xadd(m64, R64[y]),
            1 => a.xadd(m32, R32[y]),
            2 => a.lock().xadd(word_ptr(r12 + disp), R16[y]),
            _ => a.lock().xadd(m8, R8[y]),
        },
        64 => {
            // Half the time the accumulator holds the memory value (the exchange happens); for
            // 32 bits with upper bits set, which only a failed compare clears.
            let equal = rng.below(2) == 0;
            match rng.below(4) {
                0 => {
                    if equal {
                        a.mov(rax, m64)?;
                    }
                    a.lock().cmpxchg(m64, R64[y])
                }
                1 => {
                    if equal {
                        a.mov(eax, m32)?;
                        a.mov(r11, 0xdead_0000_0000u64)?;
                        a.or(rax, r11)?;
                    }
                    a.lock().cmpxchg(m32, R32[y])
                }
                2 => {
                    if equal {
                        a.mov(ax, word_ptr(r12 + disp))?;
                    }
                    a.cmpxchg(word_ptr(r12 + disp), R16[y])
                }
                _ => {
                    if equal {
                        a.mov(al, m8)?;
                    }
                    a.lock().cmpxchg(m8, R8[y])
                }
            }
        }
        65 => match rng.below(4) {
            0 => a.xchg(m64, R64[y]),
            1 => a.xchg(m32, R32[y]),
            2 => a.xchg(word_ptr(r12 + disp), R16[y]),
            _ => a.xchg(m8, R8[y]),
        },
        66 => match rng.below(4) {
            0 => a.lock().add(dword_ptr(r12 + 0xffe), R32[y]),
            1 => a.lock().xadd(qword_ptr(r12 + 0x1ffc), R64[y]),
            2 => a.lock().cmpxchg(dword_ptr(r12 + 0xffd), R32[y]),
            _ => a.xchg(qword_ptr(r12 + 0xffa), R64[y]),
        },
        67 => match rng.below(3) {
            0 => a.lock().inc(dword_ptr(r12 + (disp + 1))),
            1 => a.lock().or(qword_ptr(r12 + (disp + 4)), imm),
            _ => a.xchg(word_ptr(r12 + (disp + 3)), R16[y]),
        },
        68 => match rng.below(4) {
            0 => a.lock().xadd(qword_ptr(r12 + 0x2000), R64[y]),
            1 => a.xchg(dword_ptr(r12 + 0x2008), R32[y]),
            2 => a.lock().dec(qword_ptr(r12 + 0x2000)),
            _ => a.lock().and(dword_ptr(r12 + 0x2000), R32[y]),
        },
        69 => match rng.below(5) {
            0 => a.lock().add(dword_ptr(0x5000), R32[y]),
            1 => a.xchg(dword_ptr(0x5000), R32[y]),
            2 => a.lock().cmpxchg(qword_ptr(0x5000), R64[y]),
            3 => a.inc(dword_ptr(0x5000)),
            _ => a.lock().xadd(byte_ptr(0x5000), R8[y]),
        },
        // A load from the unmapped page after the data: SIGSEGV in mid-block.
        _ if rng.below(4) == 0 => a.mov(R64[x], qword_ptr(r12 + 0x2000)),
        _ => a.seta(R8[x]),
    }
}

fn machine() -> Machine {
    let mut m = Machine::unloaded(None).expect("guest memory");
    m.mem.map(CODE, 0x1000, R | X);
    m.mem.map(DATA, DATA_LEN, R | W);
    m.mem.map(0x5000, 0x1000, R | X);
    // test ecx, ecx; ret
    m.mem
        .poke(0x5000, &[0x85, 0xc9, 0xc3])
        .expect("target code");
    m
}

/// Runs the block the way `machine::interpret` does.
fn interpret(m: &mut Machine, block: &crate::decode::Block) -> Result<(), (Stop, u64)> {
    let last = block.insns.len() - 1;
    for (n, insn) in block.insns.iter().enumerate() {
        if n == last {
            m.cpu.rip = insn.next_rip;
        }
        (insn.handler)(m, insn).map_err(|s| (s, insn.addr()))?;
    }
    Ok(())
}

#[test]
fn random_blocks_match_the_interpreter() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut m = machine();
    let mut jit = Jit::new().expect("translator");
    let mut failures = Vec::new();
    let mut stops = 0;
    for case in 0..3000 {
        let mut a = CodeAssembler::new(64).expect("assembler");
        let len = 1 + rng.below(12);
        for _ in 0..len {
            one(&mut a, &mut rng).expect("encodable");
        }
        // End with a conditional branch (it reads the flags of whatever set them last).
        match rng.below(3) {
            0 => a.jl(0x5000).expect("jl"),
            1 => a.jbe(0x5000).expect("jbe"),
            _ => a.jne(0x5000).expect("jne"),
        }
        // Code after the block and at the branch target that overwrites the flags at once
        // (half the time): the translator then keeps the last result out of the lazy flags
        // except on its way out to the dispatcher, which is what runs here.
        if rng.below(2) == 0 {
            a.cmp(rax, rbx).expect("cmp");
        } else {
            a.adc(rax, rbx).expect("adc");
        }
        a.jmp(0x5000).expect("jmp");
        let bytes = a.assemble(CODE).expect("assemble");
        m.mem.poke(CODE, &bytes).expect("code");
        m.mem.code_written = false;
        m.mem.clear_code_marks();
        // The block ends at the conditional branch.
        let block = decode_block(&mut m.mem, CODE).expect("decode");
        assert!(block.insns.iter().all(|i| i.implemented), "case {case}");
        jit.clear();
        let entry = jit
            .translate_isolated(&block, &mut m.mem)
            .expect("translate");

        let mut gpr = [0u64; 16];
        for g in gpr.iter_mut() {
            *g = value(&mut rng);
        }
        gpr[4] = DATA + 0x1000;
        gpr[12] = DATA;
        let flags = 0x202 | (rng.next_u64() & 0x8d5);
        let data: Vec<u8> = (0..DATA_LEN).map(|_| rng.next_u64() as u8).collect();

        let mut results = Vec::new();
        for translated in [false, true] {
            m.cpu = Default::default();
            m.cpu.gpr = gpr;
            m.cpu.flags.set(flags);
            m.cpu.rip = CODE;
            m.mem.write_bytes(DATA, &data).expect("data");
            let stop = if translated {
                match jit.run(&mut m, entry) {
                    Exit::Continue(_) => None,
                    Exit::Stop { stop, rip } => Some((stop, rip)),
                }
            } else {
                interpret(&mut m, &block).err()
            };
            let mem = m.mem.bytes(DATA, DATA_LEN).expect("data").to_vec();
            results.push((stop, m.cpu.gpr, m.cpu.flags.get(), m.cpu.rip, mem));
        }
        let (i, t) = (&results[0], &results[1]);
        if i.0.is_some() {
            stops += 1;
        }
        // After a stop RIP is the dispatcher's business (it sets the faulting address).
        let rip_differs = i.0.is_none() && i.3 != t.3;
        if i.0 != t.0 || i.1 != t.1 || i.2 != t.2 || rip_differs || i.4 != t.4 {
            let listing: Vec<String> = block
                .insns
                .iter()
                .map(|x| format!("{:?}", x.mnemonic))
                .collect();
            failures.push(format!(
                "case {case} {listing:?}\n  interp     stop {:?} flags {:#x} rip {:#x} gpr {:x?}\n  translated stop {:?} flags {:#x} rip {:#x} gpr {:x?}\n  memory equal: {}",
                i.0, i.2, i.3, i.1, t.0, t.2, t.3, t.1, i.4 == t.4
            ));
        }
    }
    assert!(stops > 50, "only {stops} blocks faulted");
    assert!(
        failures.is_empty(),
        "{} blocks differ:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

/// A block that jumps to itself, translated and linked to itself, as the dispatcher would.
/// Returns the jit, the machine and the block's entry.
fn self_loop(body: impl FnOnce(&mut CodeAssembler)) -> (Jit, Machine, u64) {
    self_loop_in(machine(), body)
}

/// [`self_loop`] in a given machine.
fn self_loop_in(mut m: Machine, body: impl FnOnce(&mut CodeAssembler)) -> (Jit, Machine, u64) {
    m.mem.map(0x7000, 0x1000, R | W | X);
    let mut a = CodeAssembler::new(64).expect("assembler");
    body(&mut a);
    a.jmp(0x7000).expect("jmp");
    let bytes = a.assemble(0x7000).expect("assemble");
    m.mem.poke(0x7000, &bytes).expect("code");
    m.cpu.rip = 0x7000;
    let block = decode_block(&mut m.mem, 0x7000).expect("decode");
    let mut jit = Jit::new().expect("translator");
    let entry = jit.translate(&block, &mut m.mem).expect("translate");
    // The first run leaves through the unlinked exit; link it to the block itself. The
    // translation embeds pointers into `block.insns`, which must outlive it: leak it.
    let Exit::Continue(Some(id)) = jit.run(&mut m, entry) else {
        panic!("the first run must leave through the direct exit");
    };
    Box::leak(Box::new(block));
    jit.link(id, entry);
    assert_eq!(jit.take_instructions(), 2);
    (jit, m, entry)
}

#[test]
fn a_chained_loop_leaves_once_its_budget_is_used_up() {
    // `add rax, 1; jmp self`: without a budget it would never leave translated code (a guest
    // thread spinning on a flag); with one it leaves at the first exit past the budget.
    let (mut jit, mut m, entry) = self_loop(|a| a.add(rax, 1).expect("add"));
    for budget in [1u64, 2, 3, 1000, 100_001] {
        m.cpu.gpr[0] = 0;
        let exit = jit.run_for(&mut m, entry, budget);
        assert!(matches!(exit, Exit::Continue(Some(_))), "budget {budget}");
        let ran = jit.take_instructions();
        assert!(
            ran >= budget && ran < budget + 2,
            "budget {budget}: ran {ran} instructions"
        );
        assert_eq!(m.cpu.gpr[0], ran / 2, "budget {budget}: iterations");
        assert_eq!(m.cpu.rip, 0x7000, "the next block to run");
    }
}

#[test]
fn a_store_into_decoded_code_ends_the_chain_at_the_block_end() {
    // `mov byte [0x7800], 0x90; jmp self`: the store hits the page holding the block (decoded
    // code), so the chain must end at this block's exit, as in the interpreter, not run on.
    let (mut jit, mut m, entry) = self_loop(|a| a.mov(byte_ptr(0x7800), 0x90u32).expect("mov"));
    m.mem.code_written = false;
    let exit = jit.run_for(&mut m, entry, 1_000_000);
    assert!(matches!(exit, Exit::Continue(Some(_))));
    assert_eq!(jit.take_instructions(), 2, "one pass through the block");
    assert!(m.mem.code_written);
    assert_eq!(m.mem.read_u8(0x7800), Ok(0x90));
}

#[test]
fn a_locked_update_of_decoded_code_ends_the_chain_at_the_block_end() {
    // `lock inc dword [0x7800]; jmp self` on the block's own page: the inline path refuses a page
    // holding decoded code, the handler does the update and the chain ends at the block's exit.
    let (mut jit, mut m, entry) = self_loop(|a| a.lock().inc(dword_ptr(0x7800)).expect("inc"));
    m.mem.code_written = false;
    let before = m.mem.read_u32(0x7800).expect("read");
    let exit = jit.run_for(&mut m, entry, 1_000_000);
    assert!(matches!(exit, Exit::Continue(Some(_))));
    assert_eq!(jit.take_instructions(), 2, "one pass through the block");
    assert!(m.mem.code_written);
    assert_eq!(m.mem.read_u32(0x7800), Ok(before.wrapping_add(1)));
}

#[test]
fn locked_updates_of_a_shared_page_are_host_atomic() {
    // A page of a file mapped MAP_SHARED into the guest and, in another Memory, into a host
    // thread that increments the same word with host atomics all the while. The guest's
    // `lock add qword [0x8000], 1`, translated and then interpreted, must lose none of the
    // thread's updates nor its own: the translator leaves shared pages to the handler, which
    // uses a host atomic there (a plain add inline would lose some).
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    const SHARED_AT: u64 = 0x8000;
    const ITERATIONS: u64 = 300_000;
    let path = std::env::temp_dir().join(format!("jitkit-emu-shared-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .expect("scratch file");
    let _ = std::fs::remove_file(&path);
    file.set_len(0x1000).expect("size");
    let fd = file.as_raw_fd();
    let mut m = machine();
    m.mem
        .map_shared(SHARED_AT, 0x1000, R | W, fd, 0, true)
        .expect("map shared");
    let stop = Arc::new(AtomicBool::new(false));
    let theirs = Arc::new(AtomicU64::new(0));
    let other = {
        let (stop, theirs) = (stop.clone(), theirs.clone());
        std::thread::spawn(move || {
            let mut mem = crate::memory::Memory::new().expect("memory");
            mem.map_shared(SHARED_AT, 0x1000, R | W, fd, 0, true)
                .expect("map shared");
            while !stop.load(SeqCst) {
                mem.atomic_update(SHARED_AT, 8, |v| v + 1).expect("update");
                theirs.fetch_add(1, SeqCst);
            }
        })
    };
    while theirs.load(SeqCst) == 0 {
        std::hint::spin_loop();
    }
    let (mut jit, mut m, entry) = self_loop_in(m, |a| {
        a.lock().add(qword_ptr(SHARED_AT), 1).expect("add");
    });
    // Translated: two instructions per pass (self_loop_in ran one pass already).
    let mut ours = 1;
    while ours < ITERATIONS {
        jit.run_for(&mut m, entry, 2 * (ITERATIONS - ours));
        ours += jit.take_instructions() / 2;
    }
    // Interpreted: the same instruction's handler.
    let block = decode_block(&mut m.mem, 0x7000).expect("decode");
    for _ in 0..ITERATIONS {
        (block.insns[0].handler)(&mut m, &block.insns[0]).expect("lock add");
    }
    ours += ITERATIONS;
    stop.store(true, SeqCst);
    other.join().expect("thread");
    let total = m.mem.read_u64(SHARED_AT).expect("read");
    assert_eq!(total, ours + theirs.load(SeqCst), "updates were lost");
}
