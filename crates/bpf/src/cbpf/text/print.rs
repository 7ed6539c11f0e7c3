//! Printing programs exactly as tcpdump's `-d`, `-dd` and `-ddd` print them (libpcap's
//! `bpf_dump` and `bpf_image`).

use std::fmt::Write;

use super::mnemonics::{by_code, Operand};
use super::TextForm;
use crate::cbpf::Insn;

/// The whole program in `form`, every line ending in `\n`, as `tcpdump -d/-dd/-ddd` prints it.
pub fn format(program: &[Insn], form: TextForm) -> String {
    let mut out = String::with_capacity(program.len() * 40 + 8);
    match form {
        TextForm::Listing => {
            for (n, insn) in program.iter().enumerate() {
                out.push_str(&image(insn, n));
                out.push('\n');
            }
        }
        TextForm::CArray => {
            for insn in program {
                // printf("{ 0x%x, %d, %d, 0x%08x },\n", ...)
                let _ = writeln!(
                    out,
                    "{{ {:#x}, {}, {}, 0x{:08x} }},",
                    insn.code, insn.jt, insn.jf, insn.k
                );
            }
        }
        TextForm::Decimal => {
            let _ = writeln!(out, "{}", program.len());
            for insn in program {
                let _ = writeln!(out, "{} {} {} {}", insn.code, insn.jt, insn.jf, insn.k);
            }
        }
    }
    out
}

/// One `-d` line (without the newline) for instruction number `n`: libpcap's `bpf_image(insn, n)`.
pub fn image(insn: &Insn, n: usize) -> String {
    // bpf_image computes in C int: k printed with %d is k reinterpreted as signed, and the ja
    // target n + 1 + k wraps like a 32-bit int.
    let signed_k = insn.k as i32;
    let (name, operand) = match by_code(insn.code) {
        None => ("unimp", format!("{:#x}", insn.code)),
        Some(m) => (
            m.name,
            match m.operand {
                Operand::None => String::new(),
                Operand::X => "x".to_string(),
                Operand::PktLen => "#pktlen".to_string(),
                Operand::ImmDec => format!("#{signed_k}"),
                Operand::ImmHex => format!("#{:#x}", insn.k),
                Operand::Abs => format!("[{signed_k}]"),
                Operand::Ind => format!("[x + {signed_k}]"),
                Operand::Msh => format!("4*([{signed_k}]&0xf)"),
                Operand::Mem => format!("M[{signed_k}]"),
                Operand::JaTarget => {
                    format!("{}", (n as i32).wrapping_add(1).wrapping_add(signed_k))
                }
            },
        ),
    };
    if insn.is_conditional_jump() {
        format!(
            "({n:03}) {name:<8} {operand:<16} jt {}\tjf {}",
            n + 1 + usize::from(insn.jt),
            n + 1 + usize::from(insn.jf)
        )
    } else {
        format!("({n:03}) {name:<8} {operand}")
    }
}
