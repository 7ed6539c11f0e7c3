//! Encoding throughput: the jitkit builder vs iced-x86 (its `CodeAssembler` and its `Encoder`
//! fed with `Instruction`s) and dynasm-rs (`VecAssembler`), all on the same mix of 16
//! instructions typical of a JIT (register moves, loads/stores with SIB, ALU with imm8/imm32,
//! lea, imul, shifts, push/pop, movzx, test, mov imm, ret), 1000 times per run.
//!
//! The mix runs twice: with constant operands (where dynasm-rs does the encoding at compile
//! time) and with operands known only at run time (registers and immediates in variables, as in
//! a JIT). Before anything is timed, every encoder's output is checked to be byte-identical to
//! jitkit's in the same group (each is told the encodings GNU as picks: `mov r64, imm32` as
//! `C7`, 8-bit displacements), except dynasm-rs with run-time registers, which cannot leave out
//! SIB bytes and REX prefixes: its output is checked to be the same instructions.
//!
//! Run: `cargo bench -p jitkit-x86 --bench encode`

use std::hint::black_box;
use std::time::Duration;

use dynasmrt::{dynasm, DynasmApi};
use jitkit_testkit::median_per_call;

const REPS: usize = 1000;
const MIX: usize = 16;

fn jitkit_encode() -> Vec<u8> {
    use jitkit_x86::*;
    let mut a = Assembler::new();
    for _ in 0..REPS {
        a.mov(RAX, RCX);
        a.add(RAX, 8);
        a.mov(RDX, Mem::base_disp(RDI, 16));
        a.mov(Mem::base_index(RSI, RCX, 8, 8), RAX);
        a.cmp(EAX, 0x1000);
        a.lea(R8, Mem::base_index(RAX, RBX, 4, 12));
        a.imul(R9, R10);
        a.shl(R11, 3);
        a.xor(EAX, EAX);
        a.push(RBX);
        a.pop(RBX);
        a.movzx(ECX, byte_ptr(Mem::base_index(RDI, RAX, 1, 0)));
        a.test(R12, R13);
        a.sub(R14D, 1);
        a.mov(RAX, 0x1234);
        a.ret();
    }
    a.finish().expect("valid").into_bytes()
}

fn iced_code_asm() -> Vec<u8> {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(64).unwrap();
    for _ in 0..REPS {
        a.mov(rax, rcx).unwrap();
        // code_asm picks `add rax, imm32` (48 05) here; GNU as picks the imm8 form.
        a.add_instruction(
            iced_x86::Instruction::with2(iced_x86::Code::Add_rm64_imm8, iced_x86::Register::RAX, 8)
                .unwrap(),
        )
        .unwrap();
        a.mov(rdx, qword_ptr(rdi + 16)).unwrap();
        a.mov(qword_ptr(rsi + rcx * 8 + 8), rax).unwrap();
        a.cmp(eax, 0x1000).unwrap();
        a.lea(r8, ptr(rax + rbx * 4 + 12)).unwrap();
        a.imul_2(r9, r10).unwrap();
        a.shl(r11, 3).unwrap();
        a.xor(eax, eax).unwrap();
        a.push(rbx).unwrap();
        a.pop(rbx).unwrap();
        a.movzx(ecx, byte_ptr(rdi + rax)).unwrap();
        a.test(r12, r13).unwrap();
        a.sub(r14d, 1).unwrap();
        // `mov(rax, i64)` would pick the 10-byte form; GNU as (and the others) use `C7 /0 id`.
        a.add_instruction(
            iced_x86::Instruction::with2(
                iced_x86::Code::Mov_rm64_imm32,
                iced_x86::Register::RAX,
                0x1234,
            )
            .unwrap(),
        )
        .unwrap();
        a.ret().unwrap();
    }
    a.assemble(0).unwrap()
}

fn iced_encoder() -> Vec<u8> {
    use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register::*};
    let mut e = Encoder::new(64);
    for _ in 0..REPS {
        let insns = [
            Instruction::with2(Code::Mov_rm64_r64, RAX, RCX),
            Instruction::with2(Code::Add_rm64_imm8, RAX, 8),
            Instruction::with2(
                Code::Mov_r64_rm64,
                RDX,
                MemoryOperand::with_base_displ(RDI, 16),
            ),
            Instruction::with2(
                Code::Mov_rm64_r64,
                MemoryOperand::new(RSI, RCX, 8, 8, 1, false, None),
                RAX,
            ),
            Instruction::with2(Code::Cmp_EAX_imm32, EAX, 0x1000),
            Instruction::with2(
                Code::Lea_r64_m,
                R8,
                MemoryOperand::new(RAX, RBX, 4, 12, 1, false, None),
            ),
            Instruction::with2(Code::Imul_r64_rm64, R9, R10),
            Instruction::with2(Code::Shl_rm64_imm8, R11, 3),
            Instruction::with2(Code::Xor_rm32_r32, EAX, EAX),
            Instruction::with1(Code::Push_r64, RBX),
            Instruction::with1(Code::Pop_r64, RBX),
            Instruction::with2(
                Code::Movzx_r32_rm8,
                ECX,
                MemoryOperand::with_base_index(RDI, RAX),
            ),
            Instruction::with2(Code::Test_rm64_r64, R12, R13),
            Instruction::with2(Code::Sub_rm32_imm8, R14D, 1),
            Instruction::with2(Code::Mov_rm64_imm32, RAX, 0x1234),
            Ok(Instruction::with(Code::Retnq)),
        ];
        for insn in insns {
            e.encode(&insn.unwrap(), 0).unwrap();
        }
    }
    e.take_buffer()
}

fn dynasm_encode() -> Vec<u8> {
    let mut ops = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(0);
    for _ in 0..REPS {
        dynasm!(ops
            ; .arch x64
            ; mov rax, rcx
            ; add rax, 8
            ; mov rdx, QWORD [rdi + 16]
            ; mov QWORD [rsi + rcx * 8 + 8], rax
            ; cmp eax, 0x1000
            ; lea r8, [rax + rbx * 4 + 12]
            ; imul r9, r10
            ; shl r11, 3
            ; xor eax, eax
            ; push rbx
            ; pop rbx
            ; movzx ecx, BYTE [rdi + rax]
            ; test r12, r13
            ; sub r14d, 1
            ; mov rax, 0x1234
            ; ret
        );
    }
    ops.finalize().unwrap()
}

/// Operands known only at run time, as in a JIT (registers from an allocator, immediates and
/// displacements from the program being compiled).
#[derive(Clone, Copy)]
struct Ops {
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
    imm8: i8,
    imm32: i32,
    disp: i32,
}

fn ops() -> Ops {
    black_box(Ops {
        a: 3, // not rax: the others would need a run-time branch for the accumulator forms
        b: 1,
        c: 2,
        d: 7,
        e: 8,
        f: 9,
        g: 10,
        h: 11,
        imm8: 8,
        imm32: 0x1000,
        disp: 16,
    })
}

fn jitkit_dynamic() -> Vec<u8> {
    use jitkit_x86::*;
    let o = ops();
    let q = |n: u8| Reg::from_num(n, Size::Qword);
    let d = |n: u8| Reg::from_num(n, Size::Dword);
    let mut a = Assembler::new();
    for _ in 0..REPS {
        a.mov(q(o.a), q(o.b));
        a.add(q(o.a), o.imm8);
        a.mov(q(o.c), Mem::base_disp(q(o.d), o.disp));
        a.mov(Mem::base_index(q(o.d), q(o.b), 8, o.disp), q(o.a));
        a.cmp(d(o.a), o.imm32);
        a.lea(q(o.e), Mem::base_index(q(o.a), q(o.b), 4, o.disp));
        a.imul(q(o.f), q(o.g));
        a.shl(q(o.h), o.imm8);
        a.xor(d(o.a), d(o.a));
        a.push(q(o.b));
        a.pop(q(o.b));
        a.movzx(d(o.c), byte_ptr(Mem::base_index(q(o.d), q(o.a), 1, 0)));
        a.test(q(o.f), q(o.g));
        a.sub(d(o.e), o.imm8);
        a.mov(q(o.a), o.imm32);
        a.ret();
    }
    a.finish().expect("valid").into_bytes()
}

fn iced_encoder_dynamic() -> Vec<u8> {
    use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};
    let o = ops();
    let q = |n: u8| Register::RAX.add(n as u32).unwrap_or(Register::RAX);
    let d = |n: u8| Register::EAX.add(n as u32).unwrap_or(Register::EAX);
    trait AddReg {
        fn add(self, n: u32) -> Option<Register>;
    }
    impl AddReg for Register {
        fn add(self, n: u32) -> Option<Register> {
            Register::values().nth(self as usize + n as usize)
        }
    }
    let mut e = Encoder::new(64);
    for _ in 0..REPS {
        let insns = [
            Instruction::with2(Code::Mov_rm64_r64, q(o.a), q(o.b)),
            Instruction::with2(Code::Add_rm64_imm8, q(o.a), o.imm8 as i32),
            Instruction::with2(
                Code::Mov_r64_rm64,
                q(o.c),
                MemoryOperand::with_base_displ(q(o.d), o.disp as i64),
            ),
            Instruction::with2(
                Code::Mov_rm64_r64,
                MemoryOperand::new(q(o.d), q(o.b), 8, o.disp as i64, 1, false, Register::None),
                q(o.a),
            ),
            Instruction::with2(Code::Cmp_rm32_imm32, d(o.a), o.imm32),
            Instruction::with2(
                Code::Lea_r64_m,
                q(o.e),
                MemoryOperand::new(q(o.a), q(o.b), 4, o.disp as i64, 1, false, Register::None),
            ),
            Instruction::with2(Code::Imul_r64_rm64, q(o.f), q(o.g)),
            Instruction::with2(Code::Shl_rm64_imm8, q(o.h), o.imm8 as i32),
            Instruction::with2(Code::Xor_rm32_r32, d(o.a), d(o.a)),
            Instruction::with1(Code::Push_r64, q(o.b)),
            Instruction::with1(Code::Pop_r64, q(o.b)),
            Instruction::with2(
                Code::Movzx_r32_rm8,
                d(o.c),
                MemoryOperand::with_base_index(q(o.d), q(o.a)),
            ),
            Instruction::with2(Code::Test_rm64_r64, q(o.f), q(o.g)),
            Instruction::with2(Code::Sub_rm32_imm8, d(o.e), o.imm8 as i32),
            Instruction::with2(Code::Mov_rm64_imm32, q(o.a), o.imm32),
            Ok(Instruction::with(Code::Retnq)),
        ];
        for insn in insns {
            e.encode(&insn.unwrap(), 0).unwrap();
        }
    }
    e.take_buffer()
}

fn dynasm_dynamic() -> Vec<u8> {
    let o = ops();
    let mut ops = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(0);
    for _ in 0..REPS {
        dynasm!(ops
            ; .arch x64
            ; mov Rq(o.a), Rq(o.b)
            ; add Rq(o.a), BYTE o.imm8 as _
            ; mov Rq(o.c), QWORD [BYTE Rq(o.d) + o.disp as i8]
            ; mov QWORD [BYTE Rq(o.d) + Rq(o.b) * 8 + o.disp as i8], Rq(o.a)
            ; cmp Rd(o.a), DWORD o.imm32
            ; lea Rq(o.e), [BYTE Rq(o.a) + Rq(o.b) * 4 + o.disp as i8]
            ; imul Rq(o.f), Rq(o.g)
            ; shl Rq(o.h), BYTE o.imm8 as _
            ; xor Rd(o.a), Rd(o.a)
            ; push Rq(o.b)
            ; pop Rq(o.b)
            ; movzx Rd(o.c), BYTE [Rq(o.d) + Rq(o.a)]
            ; test Rq(o.f), Rq(o.g)
            ; sub Rd(o.e), BYTE o.imm8 as _
            ; mov Rq(o.a), DWORD o.imm32
            ; ret
        );
    }
    ops.finalize().unwrap()
}

/// One constant instruction, out of line so that its machine code can be read:
/// `objdump -d --no-show-raw-insn -M intel -C <bench binary> --disassemble='encode::mov_eax_1'`
/// shows a capacity check, one store of the constant bytes and the new length.
#[inline(never)]
fn mov_eax_1(a: &mut jitkit_x86::Assembler) {
    a.mov(jitkit_x86::EAX, 1);
}

/// Every instruction's text.
fn disassemble(code: &[u8]) -> Vec<String> {
    let mut d = iced_x86::Decoder::new(64, code, iced_x86::DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        out.push(d.decode().to_string());
    }
    out
}

/// The first instruction where two encodings differ, disassembled.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    use iced_x86::{Decoder, DecoderOptions};
    let mut da = Decoder::new(64, a, DecoderOptions::NONE);
    let mut db = Decoder::new(64, b, DecoderOptions::NONE);
    let mut pos = 0;
    while da.can_decode() && db.can_decode() {
        let (x, y) = (da.decode(), db.decode());
        let (xa, yb) = (&a[pos..pos + x.len()], &b[pos..pos + y.len()]);
        if xa != yb {
            return format!("at {pos:#x}: {x} ({xa:02x?}) vs {y} ({yb:02x?})");
        }
        pos += x.len();
    }
    format!("lengths {} vs {}", a.len(), b.len())
}

/// A benchmark case: its name and a function that encodes the mix and returns the byte count.
type Case = (&'static str, fn() -> Vec<u8>);

fn main() {
    let budget = Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0),
    );
    let insns = (REPS * MIX) as f64;
    // `BENCH_ONCE=<substring>`: run that case 100 times and stop (for `perf stat` / callgrind
    // instruction counts, which the noisy shared machine does not disturb).
    let once = std::env::var("BENCH_ONCE").ok();
    let cases: [Case; 7] = [
        ("jitkit Assembler", jitkit_encode),
        ("iced-x86 CodeAssembler", iced_code_asm),
        ("iced-x86 Encoder", iced_encoder),
        ("dynasm-rs VecAssembler", dynasm_encode),
        ("jitkit Assembler (dyn)", jitkit_dynamic),
        ("iced-x86 Encoder (dyn)", iced_encoder_dynamic),
        ("dynasm-rs (dyn)", dynasm_dynamic),
    ];
    println!(
        "encoding {} instructions per run ({REPS} x a mix of {MIX}), median of runs:",
        REPS * MIX
    );
    // Honesty check before timing: within each group every encoder must produce the very same
    // bytes (same instructions, same encodings), shown as the first differing instruction.
    let mut a = jitkit_x86::Assembler::new();
    mov_eax_1(&mut a);
    assert_eq!(a.bytes(), [0xB8, 1, 0, 0, 0]);
    for group in [&cases[..4], &cases[4..]] {
        let reference = (group[0].1)();
        for (name, f) in &group[1..] {
            let bytes = f();
            if *name == "dynasm-rs (dyn)" {
                // With a register only known at run time, dynasm-rs always writes a SIB byte
                // (the base might be rsp/r12) and REX prefixes: the same instructions in more
                // bytes. Compared instruction by instruction instead.
                let (ours, theirs) = (disassemble(&reference), disassemble(&bytes));
                if ours != theirs {
                    panic!(
                        "{name} does not encode the same instructions as {}",
                        group[0].0
                    );
                }
                continue;
            }
            if bytes != reference {
                panic!(
                    "{name} does not produce the bytes of {}: {}",
                    group[0].0,
                    first_difference(&reference, &bytes)
                );
            }
        }
    }
    if let Some(filter) = &once {
        for (name, f) in cases {
            if name.contains(filter.as_str()) {
                for _ in 0..100 {
                    black_box(f());
                }
            }
        }
        return;
    }
    // Interleaved rounds: each round times a batch of every case in turn, so that the load of
    // this shared machine changing over time hits all cases alike; the median over rounds is
    // reported. Batches are calibrated to ~1/100 of the budget per case.
    let batches: Vec<u32> = cases
        .iter()
        .map(|(_, f)| {
            let once = median_per_call(budget / 20, || {
                black_box(f());
            });
            ((budget.as_secs_f64() / 100.0 / once.as_secs_f64()) as u32).max(1)
        })
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let start = std::time::Instant::now();
    while samples[0].len() < 5
        || (start.elapsed() < budget * cases.len() as u32 && samples[0].len() < 201)
    {
        for (i, (_, f)) in cases.iter().enumerate() {
            let t = std::time::Instant::now();
            for _ in 0..batches[i] {
                black_box(f());
            }
            samples[i].push(t.elapsed().as_secs_f64() / batches[i] as f64);
        }
    }
    let mut results = Vec::new();
    for (i, (name, f)) in cases.iter().enumerate() {
        let s = &mut samples[i];
        s.sort_by(f64::total_cmp);
        let t = s[s.len() / 2];
        let bytes = f().len();
        let rate = insns / t;
        results.push((*name, rate));
        println!(
            "  {name:<24} {:>8.1} us/run  {:>7.1} M insns/s  ({bytes} bytes)",
            t * 1e6,
            rate / 1e6
        );
    }
    println!("constant operands (dynasm-rs assembles these at compile time):");
    for (name, rate) in &results[1..4] {
        println!("  jitkit / {name}: {:.2}x", results[0].1 / rate);
    }
    println!("run-time operands (registers and immediates from variables, as in a JIT):");
    for (name, rate) in &results[5..] {
        println!("  jitkit / {name}: {:.2}x", results[4].1 / rate);
    }
}
