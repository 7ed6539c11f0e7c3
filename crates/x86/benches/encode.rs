//! Encoding throughput: the jitkit builder vs iced-x86 (its `CodeAssembler` and its `Encoder`
//! fed with `Instruction`s) and dynasm-rs (`VecAssembler`), all on the same mix of 16
//! instructions typical of a JIT (register moves, loads/stores with SIB, ALU with imm8/imm32,
//! lea, imul, shifts, push/pop, movzx, test, mov imm, ret), 1000 times per run.
//!
//! The mix runs twice: with constant operands (where dynasm-rs does the encoding at compile
//! time) and with operands known only at run time (registers and immediates in variables, as in
//! a JIT).
//!
//! Run: `cargo bench -p jitkit-x86 --bench encode`

use std::hint::black_box;
use std::time::Duration;

use dynasmrt::{dynasm, DynasmApi};
use jitkit_testkit::median_per_call;

const REPS: usize = 1000;
const MIX: usize = 16;

fn jitkit_encode() -> usize {
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
    a.finish().expect("valid").bytes().len()
}

fn iced_code_asm() -> usize {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(64).unwrap();
    for _ in 0..REPS {
        a.mov(rax, rcx).unwrap();
        a.add(rax, 8).unwrap();
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
        a.mov(rax, 0x1234i64).unwrap();
        a.ret().unwrap();
    }
    a.assemble(0).unwrap().len()
}

fn iced_encoder() -> usize {
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
            Instruction::with2(Code::Xor_r32_rm32, EAX, EAX),
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
    e.take_buffer().len()
}

fn dynasm_encode() -> usize {
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
    ops.finalize().unwrap().len()
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
        a: 0,
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

fn jitkit_dynamic() -> usize {
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
    a.finish().expect("valid").bytes().len()
}

fn iced_encoder_dynamic() -> usize {
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
            Instruction::with2(Code::Xor_r32_rm32, d(o.a), d(o.a)),
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
    e.take_buffer().len()
}

fn dynasm_dynamic() -> usize {
    let o = ops();
    let mut ops = dynasmrt::VecAssembler::<dynasmrt::x64::X64Relocation>::new(0);
    for _ in 0..REPS {
        dynasm!(ops
            ; .arch x64
            ; mov Rq(o.a), Rq(o.b)
            ; add Rq(o.a), BYTE o.imm8 as _
            ; mov Rq(o.c), QWORD [Rq(o.d) + o.disp]
            ; mov QWORD [Rq(o.d) + Rq(o.b) * 8 + o.disp], Rq(o.a)
            ; cmp Rd(o.a), DWORD o.imm32
            ; lea Rq(o.e), [Rq(o.a) + Rq(o.b) * 4 + o.disp]
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
    ops.finalize().unwrap().len()
}

/// A benchmark case: its name and a function that encodes the mix and returns the byte count.
type Case = (&'static str, fn() -> usize);

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
    let mut results = Vec::new();
    for (name, f) in cases {
        if let Some(filter) = &once {
            if name.contains(filter.as_str()) {
                for _ in 0..100 {
                    black_box(f());
                }
            }
            continue;
        }
        let bytes = f();
        let t = median_per_call(budget, || {
            black_box(f());
        });
        let rate = insns / t.as_secs_f64();
        results.push((name, rate));
        println!(
            "  {name:<24} {:>8.1} us/run  {:>7.1} M insns/s  ({bytes} bytes)",
            t.as_secs_f64() * 1e6,
            rate / 1e6
        );
    }
    if once.is_some() {
        return;
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
