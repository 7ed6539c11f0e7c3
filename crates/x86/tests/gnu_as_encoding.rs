//! Differential test of the encoder against GNU as: a generated sweep of instruction forms
//! (every mnemonic family x operand size x addressing form x immediate class), each encoded by
//! us and by `as` (one batch), byte for byte. Lines GNU as rejects must be rejected by us too,
//! and every encoding must decode back (iced-x86) to an instruction of the same length.

mod support;

use std::collections::BTreeMap;

use iced_x86::{Decoder, DecoderOptions};
use jitkit_x86::*;

const SIZES: [Size; 4] = [Size::Byte, Size::Word, Size::Dword, Size::Qword];

fn regs(size: Size) -> Vec<Reg> {
    let mut v: Vec<Reg> = [0u8, 1, 4, 5, 7, 8, 12, 13, 15]
        .iter()
        .map(|&n| Reg::from_num(n, size))
        .collect();
    if size == Size::Byte {
        v.extend([AH, BH]);
    }
    v
}

/// A smaller register set for the quadratic (register, register) forms.
fn few_regs(size: Size) -> Vec<Reg> {
    let mut v: Vec<Reg> = [0u8, 3, 4, 9]
        .iter()
        .map(|&n| Reg::from_num(n, size))
        .collect();
    if size == Size::Byte {
        v.push(CH);
    }
    v
}

fn mems() -> Vec<Mem> {
    vec![
        Mem::base(RAX),
        Mem::base(RBP),
        Mem::base(R13),
        Mem::base(RSP),
        Mem::base(R12),
        Mem::base_disp(RAX, 8),
        Mem::base_disp(RBP, -128),
        Mem::base_disp(RCX, 127),
        Mem::base_disp(RDX, 128),
        Mem::base_disp(RSI, -129),
        Mem::base_disp(R9, 0x1234_5678),
        Mem::base_index(RAX, RCX, 1, 0),
        Mem::base_index(RAX, RCX, 2, 8),
        Mem::base_index(RSP, RBP, 4, -0x100),
        Mem::base_index(R12, R13, 8, 1),
        Mem::base_index(RBP, R12, 1, 0),
        Mem::base_index(R13, RAX, 1, 0),
        Mem::base_index(RAX, RSP, 1, 0),
        Mem::index_only(RCX, 8, 0x10),
        Mem::abs(0x1000),
        Mem::rip(0x10),
        Mem::base(EAX),
        Mem::base_index(R8D, ECX, 4, 3),
    ]
}

fn few_mems() -> Vec<Mem> {
    vec![
        Mem::base(RAX),
        Mem::base_disp(RBP, -8),
        Mem::base_index(R12, R13, 8, 0x200),
        Mem::rip(-4),
        Mem::base(EDI),
    ]
}

const IMMS: [i64; 19] = [
    0,
    1,
    -1,
    127,
    128,
    -128,
    -129,
    255,
    256,
    0x7fff,
    0x8000,
    0xffff,
    0x1234_5678,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    -0x8000_0000,
    0x1_2345_6789,
    -0x8000_0001,
];

fn r(reg: Reg) -> Operand {
    Operand::Reg(reg)
}

fn m(mem: Mem, size: Option<Size>) -> Operand {
    Operand::Mem(match size {
        Some(s) => mem.sized(s),
        None => mem,
    })
}

/// (mnemonic text, operands) pairs to try.
fn forms() -> Vec<(String, Vec<Operand>)> {
    let mut out: Vec<(String, Vec<Operand>)> = Vec::new();
    let mut add = |name: &str, ops: Vec<Operand>| out.push((name.to_string(), ops));
    let two_op: Vec<&str> = vec![
        "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "mov", "test",
    ];
    for name in &two_op {
        for s1 in SIZES {
            for s2 in SIZES {
                for a in few_regs(s1) {
                    for b in few_regs(s2) {
                        add(name, vec![r(a), r(b)]);
                    }
                }
            }
            for reg in regs(s1) {
                for mem in few_mems() {
                    add(name, vec![r(reg), m(mem, None)]);
                    add(name, vec![m(mem, Some(s1)), r(reg)]);
                }
                for imm in IMMS {
                    add(name, vec![r(reg), Operand::Imm(imm)]);
                }
            }
            for mem in mems() {
                add(name, vec![m(mem, Some(s1)), r(Reg::from_num(2, s1))]);
                add(name, vec![r(Reg::from_num(10, s1)), m(mem, Some(s1))]);
                for imm in [1, -200, 0x12345] {
                    add(name, vec![m(mem, Some(s1)), Operand::Imm(imm)]);
                }
            }
            for imm in IMMS {
                add(
                    name,
                    vec![m(Mem::base_disp(RBX, 4), Some(s1)), Operand::Imm(imm)],
                );
            }
        }
        add(name, vec![m(Mem::base(RAX), None), Operand::Imm(1)]);
        add(
            name,
            vec![
                m(Mem::base(RAX), Some(Size::Qword)),
                m(Mem::base(RCX), None),
            ],
        );
    }
    for name in ["rol", "ror", "rcl", "rcr", "shl", "sal", "shr", "sar"] {
        for s in SIZES {
            for reg in regs(s) {
                for count in [
                    r(CL),
                    Operand::Imm(1),
                    Operand::Imm(3),
                    Operand::Imm(255),
                    r(DL),
                ] {
                    add(name, vec![r(reg), count]);
                }
                add(name, vec![r(reg)]);
            }
            for mem in few_mems() {
                add(name, vec![m(mem, Some(s)), Operand::Imm(1)]);
                add(name, vec![m(mem, Some(s)), Operand::Imm(7)]);
                add(name, vec![m(mem, Some(s)), r(CL)]);
            }
        }
    }
    for name in ["not", "neg", "mul", "imul", "div", "idiv", "inc", "dec"] {
        for s in SIZES {
            for reg in regs(s) {
                add(name, vec![r(reg)]);
            }
            for mem in mems() {
                add(name, vec![m(mem, Some(s))]);
            }
        }
        add(name, vec![m(Mem::base(RAX), None)]);
    }
    for s in SIZES {
        for a in few_regs(s) {
            for b in few_regs(s) {
                add("imul", vec![r(a), r(b)]);
                add("xchg", vec![r(a), r(b)]);
                for imm in [3, -128, 1000, 0x7fff_ffff] {
                    add("imul", vec![r(a), r(b), Operand::Imm(imm)]);
                }
                for cc in ["e", "ne", "l", "a", "be", "o", "np", "nge"] {
                    add(&format!("cmov{cc}"), vec![r(a), r(b)]);
                }
                for bt in ["bt", "bts", "btr", "btc"] {
                    add(bt, vec![r(a), r(b)]);
                }
            }
            add("xchg", vec![r(a), r(Reg::from_num(0, s))]);
            add("xchg", vec![r(Reg::from_num(0, s)), r(a)]);
            for mem in few_mems() {
                add("imul", vec![r(a), m(mem, None)]);
                add("imul", vec![r(a), m(mem, Some(s)), Operand::Imm(100)]);
                add("xchg", vec![r(a), m(mem, None)]);
                add("xchg", vec![m(mem, Some(s)), r(a)]);
                add("cmovg", vec![r(a), m(mem, None)]);
                add("bts", vec![m(mem, None), r(a)]);
                add("bt", vec![m(mem, Some(s)), Operand::Imm(5)]);
                add("lea", vec![r(a), m(mem, None)]);
                add("push", vec![m(mem, Some(s))]);
                add("pop", vec![m(mem, Some(s))]);
                add("jmp", vec![m(mem, Some(s))]);
                add("call", vec![m(mem, Some(s))]);
                add("setae", vec![m(mem, Some(s))]);
                add("nop", vec![m(mem, Some(s))]);
            }
            for imm in [5, 200] {
                add("imul", vec![r(a), Operand::Imm(imm)]);
                add("bt", vec![r(a), Operand::Imm(imm)]);
            }
        }
        for reg in regs(s) {
            add("push", vec![r(reg)]);
            add("pop", vec![r(reg)]);
            add("bswap", vec![r(reg)]);
            add("jmp", vec![r(reg)]);
            add("call", vec![r(reg)]);
            add("nop", vec![r(reg)]);
            for cc in Cond::SUFFIXES {
                add(&format!("set{}", cc.0), vec![r(reg)]);
            }
            for s2 in SIZES {
                for src in few_regs(s2) {
                    add("movzx", vec![r(reg), r(src)]);
                    add("movsx", vec![r(reg), r(src)]);
                    add("movsxd", vec![r(reg), r(src)]);
                }
                add("movzx", vec![r(reg), m(Mem::base_disp(RSI, 2), Some(s2))]);
                add("movsx", vec![r(reg), m(Mem::base_disp(R14, 2), Some(s2))]);
                add("movsxd", vec![r(reg), m(Mem::base(RDI), Some(s2))]);
            }
            add("movsxd", vec![r(reg), m(Mem::base(RDI), None)]);
            for imm in [
                0,
                -1,
                0x7fff_ffff,
                0x8000_0000,
                -0x8000_0001,
                0x1234_5678_9abc_def0,
            ] {
                add("movabs", vec![r(reg), Operand::Imm(imm)]);
            }
        }
    }
    for imm in IMMS {
        add("push", vec![Operand::Imm(imm)]);
        add("ret", vec![Operand::Imm(imm)]);
        add("int", vec![Operand::Imm(imm)]);
    }
    add("int", vec![Operand::Imm(3)]);
    for (name, _) in FIXED_NAMES {
        add(name, vec![]);
    }
    segment_forms(&mut add);
    sse_forms(&mut add);
    out
}

/// Memory operands with every segment override (GNU as drops the one that names the default
/// segment: `ss` with an rsp/rbp base, `ds` otherwise).
fn seg_mems() -> Vec<Mem> {
    let mut v = Vec::new();
    for seg in SegReg::ALL {
        for m in [
            Mem::base(RAX),
            Mem::base_disp(RBP, 8),
            Mem::base(RSP),
            Mem::base(R13),
            Mem::base_index(RAX, RBP, 2, 0),
            Mem::base_index(RBP, RAX, 1, -4),
            Mem::abs(0x28),
            Mem::rip(0x10),
            Mem::base(EBP),
            Mem::base_index(R12, R13, 8, 0x100),
        ] {
            v.push(m.with_segment(seg));
        }
    }
    v
}

/// Segment-override memory operands, `mov` to and from segment registers, `push`/`pop`.
fn segment_forms(add: &mut impl FnMut(&str, Vec<Operand>)) {
    for mem in seg_mems() {
        add("mov", vec![r(RAX), m(mem, None)]);
        add("mov", vec![m(mem, None), r(R9D)]);
        add("mov", vec![m(mem, Some(Size::Qword)), Operand::Imm(1)]);
        add("add", vec![r(CL), m(mem, Some(Size::Byte))]);
        add("movzx", vec![r(EAX), m(mem, Some(Size::Word))]);
        add("lea", vec![r(RDX), m(mem, None)]);
        add("inc", vec![m(mem, Some(Size::Dword))]);
        add("push", vec![m(mem, None)]);
        add("jmp", vec![m(mem, None)]);
    }
    for seg in SegReg::ALL {
        let sr = Operand::Seg(seg);
        for size in SIZES {
            for reg in [0u8, 3, 8, 15] {
                let reg = Reg::from_num(reg, size);
                add("mov", vec![sr, r(reg)]);
                add("mov", vec![r(reg), sr]);
            }
            add("mov", vec![sr, m(Mem::base_disp(RBX, 8), Some(size))]);
            add(
                "mov",
                vec![m(Mem::base_index(R8, RCX, 4, 0), Some(size)), sr],
            );
        }
        add("mov", vec![sr, r(AH)]);
        add("mov", vec![sr, m(Mem::base(RAX), None)]);
        add("mov", vec![m(Mem::base(R12), None), sr]);
        add("mov", vec![sr, Operand::Imm(1)]);
        add("mov", vec![sr, Operand::Seg(SegReg::Ds)]);
        add("push", vec![sr]);
        add("pop", vec![sr]);
    }
}

const XMMS: [Xmm; 4] = [XMM0, XMM7, XMM8, XMM15];

fn x(reg: Xmm) -> Operand {
    Operand::Xmm(reg)
}

/// Every SSE mnemonic in every operand form it has (and some it has not).
fn sse_forms(add: &mut impl FnMut(&str, Vec<Operand>)) {
    let mem_sizes = [
        None,
        Some(Size::Dword),
        Some(Size::Qword),
        Some(Size::Xmmword),
    ];
    let sse_mems = [
        Mem::base(RAX),
        Mem::base_index(R12, R13, 8, 0x200),
        Mem::rip(-4),
        Mem::base_disp(RBP, -8).with_segment(SegReg::Fs),
        Mem::base(EDI),
    ];
    let gprs = [EAX, R9D, RAX, R14, AX, AL];
    for (name, form) in sse_mnemonics() {
        for a in XMMS {
            for b in XMMS {
                match form {
                    SseForm::RmImm => {
                        for imm in [0, 0x1b, 255, 256, -1, -129] {
                            add(name, vec![x(a), x(b), Operand::Imm(imm)]);
                        }
                    }
                    _ => add(name, vec![x(a), x(b)]),
                }
            }
            for gpr in gprs {
                add(name, vec![x(a), r(gpr)]);
                add(name, vec![r(gpr), x(a)]);
            }
            for (g1, g2) in [(EAX, ECX), (R8, RAX), (EAX, RAX), (AX, CX)] {
                add(name, vec![r(g1), r(g2)]);
            }
            for imm in [0, 3, 255, 256, -1] {
                add(name, vec![x(a), Operand::Imm(imm)]);
            }
        }
        for mem in sse_mems {
            for size in mem_sizes {
                let (xa, xb) = (x(XMM1), x(XMM10));
                if form == SseForm::RmImm {
                    add(name, vec![xb, m(mem, size), Operand::Imm(0x4e)]);
                    continue;
                }
                add(name, vec![xa, m(mem, size)]);
                add(name, vec![m(mem, size), xb]);
                add(name, vec![r(ECX), m(mem, size)]);
                add(name, vec![r(R11), m(mem, size)]);
                add(name, vec![m(mem, size), r(EDX)]);
                add(name, vec![m(mem, size), r(R10)]);
            }
        }
        add(name, vec![x(XMM2)]);
    }
    add("movsd", vec![]);
}

const FIXED_NAMES: [(&str, ()); 28] = [
    ("ret", ()),
    ("leave", ()),
    ("cqo", ()),
    ("cdq", ()),
    ("cwd", ()),
    ("cdqe", ()),
    ("cwde", ()),
    ("cbw", ()),
    ("nop", ()),
    ("int3", ()),
    ("syscall", ()),
    ("hlt", ()),
    ("ud2", ()),
    ("cpuid", ()),
    ("rdtsc", ()),
    ("pause", ()),
    ("clc", ()),
    ("stc", ()),
    ("cmc", ()),
    ("cld", ()),
    ("std", ()),
    ("lfence", ()),
    ("mfence", ()),
    ("sfence", ()),
    ("movsb", ()),
    ("movsq", ()),
    ("stosb", ()),
    ("stosq", ()),
];

fn encode(name: &str, ops: &[Operand]) -> Result<Vec<u8>, EncodeError> {
    let mnemonic = Mnemonic::from_name(name).unwrap_or_else(|| panic!("unknown mnemonic {name}"));
    let mut a = Assembler::new();
    a.emit(mnemonic, ops)?;
    Ok(a.finish()?.into_bytes())
}

#[test]
fn sweep_matches_gnu_as() {
    let forms = forms();
    let mut lines = Vec::with_capacity(forms.len());
    let mut ours = Vec::with_capacity(forms.len());
    for (name, ops) in &forms {
        let text: Vec<String> = ops.iter().map(support::fmt_operand).collect();
        lines.push(format!("{name} {}", text.join(", ")));
        ours.push(encode(name, ops));
    }
    let header = ".intel_syntax noprefix\n";
    let source = format!("{header}{}\n", lines.join("\n"));
    let first = support::gas(&source);
    let mut accepted_by_us_only = Vec::new();
    let mut rejected_by_us_only = Vec::new();
    let mut valid = Vec::new();
    for (i, (line, enc)) in lines.iter().zip(&ours).enumerate() {
        let gas_line = i + 2;
        match (enc, first.errors.get(&gas_line)) {
            (Ok(_), Some(msg)) => accepted_by_us_only.push(format!("{line}    (as: {msg})")),
            (Err(e), None) if !first.warnings.contains(&gas_line) => {
                rejected_by_us_only.push(format!("{line}    (ours: {e})"))
            }
            (Ok(bytes), None) if !first.warnings.contains(&gas_line) => valid.push((line, bytes)),
            _ => {}
        }
    }
    let second_source = format!(
        "{header}{}\n",
        valid
            .iter()
            .map(|(l, _)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let second = support::gas(&second_source);
    let gas_bytes = second
        .text
        .unwrap_or_else(|| panic!("as rejected lines it accepted before: {:?}", second.errors));
    let mut mismatches = Vec::new();
    let mut pos = 0;
    for (line, bytes) in &valid {
        let theirs = gas_bytes.get(pos..pos + bytes.len()).unwrap_or(&[]);
        if theirs != bytes.as_slice() {
            let end = (pos + 15).min(gas_bytes.len());
            mismatches.push(format!(
                "{line}: ours {} as {}",
                hex(bytes),
                hex(&gas_bytes[pos..end])
            ));
            break; // offsets after a length difference are meaningless
        }
        pos += bytes.len();
    }
    if mismatches.is_empty() {
        assert_eq!(pos, gas_bytes.len(), "as produced more bytes than we did");
    }
    // Round trip: every encoding decodes to one instruction of exactly its length.
    let mut undecodable = Vec::new();
    for (line, bytes) in &valid {
        if line.starts_with("mov cs,") {
            // GNU as encodes it (8E /1), but loading cs this way is #UD: iced calls it invalid.
            continue;
        }
        let mut d = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
        let insn = d.decode();
        if insn.is_invalid() || insn.len() != bytes.len() {
            undecodable.push(format!("{line}: {}", hex(bytes)));
        }
    }
    let show = |v: &Vec<String>| v.iter().take(40).cloned().collect::<Vec<_>>().join("\n  ");
    let summary: BTreeMap<&str, usize> = [
        ("forms", lines.len()),
        ("valid", valid.len()),
        ("accepted by us only", accepted_by_us_only.len()),
        ("rejected by us only", rejected_by_us_only.len()),
        ("mismatches", mismatches.len()),
        ("undecodable", undecodable.len()),
    ]
    .into_iter()
    .collect();
    assert!(
        accepted_by_us_only.is_empty() && mismatches.is_empty() && undecodable.is_empty() && rejected_by_us_only.is_empty(),
        "{summary:?}\naccepted by us, rejected by as:\n  {}\nrejected by us, accepted by as:\n  {}\nbyte mismatches:\n  {}\nundecodable:\n  {}",
        show(&accepted_by_us_only),
        show(&rejected_by_us_only),
        show(&mismatches),
        show(&undecodable)
    );
    assert!(
        valid.len() > 5000,
        "the sweep should cover thousands of valid forms: {summary:?}"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
