//! `jitkit bpf`: tools for classic BPF and eBPF programs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use jitkit_bpf::cbpf::text::{self, TextForm};
use jitkit_bpf::cbpf::{validate, Insn, Interpreter};
use jitkit_bpf::PacketFilter;

/// Work with classic BPF programs in tcpdump's -d, -dd or -ddd text forms (detected on input).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a program in another text form (default -d)
    Disasm {
        /// Print as tcpdump -d
        #[arg(short = 'd', group = "form")]
        d: bool,
        /// Print as tcpdump -dd (C array)
        #[arg(long = "dd", group = "form")]
        dd: bool,
        /// Print as tcpdump -ddd (decimal)
        #[arg(long = "ddd", group = "form")]
        ddd: bool,
        /// The program (`-` for stdin)
        prog: PathBuf,
    },
    /// Validate a program with the Linux kernel's classic BPF rules
    Check {
        /// The program (`-` for stdin)
        prog: PathBuf,
    },
    /// Run a program on one packet and print its return value
    Run {
        /// The program (`-` for stdin)
        prog: PathBuf,
        /// The packet, as hex digits (spaces and colons allowed)
        #[arg(long, value_name = "HEX")]
        packet: String,
        /// The packet's original length on the wire (default: its captured length)
        #[arg(long, value_name = "BYTES")]
        wire_len: Option<u32>,
    },
    /// Convert a classic program to eBPF (like the kernel's bpf_convert_filter) and print it
    Convert {
        /// The program (`-` for stdin)
        prog: PathBuf,
        /// Text syntax: ubpf's (`ldxw r0, [r1+4]`) or llvm-objdump's (`r0 = *(u32 *)(r1 + 4)`)
        #[arg(long, value_enum, default_value = "ubpf")]
        syntax: EbpfSyntax,
        /// Write the raw instructions (8 bytes each) to FILE instead of printing text
        #[arg(short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run an eBPF program on one packet and print r0: an ELF object (clang -target bpf), raw
    /// instructions, or text in ubpf or llvm-objdump syntax. r1 points to the context (see
    /// --ctx); LD_ABS/LD_IND read the packet
    RunEbpf {
        /// The program
        obj: PathBuf,
        /// The packet, as hex digits (spaces and colons allowed)
        #[arg(long, value_name = "HEX")]
        packet: String,
        /// The ELF section to run (default: the first executable section)
        #[arg(long, value_name = "NAME")]
        section: Option<String>,
        /// Use the interpreter instead of the JIT
        #[arg(long)]
        interp: bool,
        /// Most instructions one run may execute (needed for programs with loops)
        #[arg(long, value_name = "N")]
        budget: Option<u64>,
        /// What r1 points to: a copy of the packet (as ubpf and rbpf do), or `skb`, the
        /// context of `bpf convert`'s programs (the 32-bit wire length at offset 0, like
        /// `__sk_buff.len`)
        #[arg(long, value_enum, default_value = "packet")]
        ctx: EbpfContext,
        /// With --ctx skb: the packet's length on the wire (default: its captured length)
        #[arg(long, value_name = "BYTES")]
        wire_len: Option<u32>,
    },
}

/// What r1 points to in `jitkit bpf run-ebpf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EbpfContext {
    Packet,
    Skb,
}

/// eBPF text syntaxes for `jitkit bpf convert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EbpfSyntax {
    Ubpf,
    Llvm,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Disasm {
            d: _,
            dd,
            ddd,
            prog,
        } => {
            let form = if dd {
                TextForm::CArray
            } else if ddd {
                TextForm::Decimal
            } else {
                TextForm::Listing
            };
            disasm(&prog, form)
        }
        Command::Check { prog } => check(&prog),
        Command::Run {
            prog,
            packet,
            wire_len,
        } => run_packet(&prog, &packet, wire_len),
        Command::Convert {
            prog,
            syntax,
            output,
        } => convert(&prog, syntax, output.as_deref()),
        Command::RunEbpf {
            obj,
            packet,
            section,
            interp,
            budget,
            ctx,
            wire_len,
        } => {
            let packet = parse_hex(&packet).context("--packet")?;
            let ctx = match ctx {
                EbpfContext::Packet => packet.clone(),
                EbpfContext::Skb => match wire_len {
                    Some(len) => len,
                    None => u32::try_from(packet.len()).context("--packet: longer than 4 GiB")?,
                }
                .to_le_bytes()
                .to_vec(),
            };
            run_ebpf(&obj, &packet, ctx, section.as_deref(), interp, budget)
        }
    }
}

/// `jitkit bpf disasm`: any form in, the chosen form out (no validation: tcpdump prints invalid
/// programs too, with `unimp` for unknown opcodes).
fn disasm(prog: &Path, form: TextForm) -> anyhow::Result<ExitCode> {
    let program = read_program(prog)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text::format(&program, form).as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `jitkit bpf check`: the kernel's rules; a refusal is an error naming the instruction.
fn check(prog: &Path) -> anyhow::Result<ExitCode> {
    let program = read_program(prog)?;
    validate(&program).with_context(|| display_name(prog))?;
    println!(
        "{}: valid ({} instruction{})",
        display_name(prog),
        program.len(),
        if program.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `jitkit bpf run`: the interpreter on one packet; prints the return value (0 = reject).
fn run_packet(prog: &Path, packet_hex: &str, wire_len: Option<u32>) -> anyhow::Result<ExitCode> {
    let program = read_program(prog)?;
    let packet = parse_hex(packet_hex).context("--packet")?;
    let wire_len = match wire_len {
        Some(len) => len,
        None => u32::try_from(packet.len()).context("--packet: longer than 4 GiB")?,
    };
    let filter = Interpreter::new(&program).with_context(|| display_name(prog))?;
    println!("{}", filter.run(&packet, wire_len));
    Ok(ExitCode::SUCCESS)
}

/// `jitkit bpf convert`: classic -> eBPF, printed in ubpf or llvm-objdump syntax, or written raw.
fn convert(prog: &Path, syntax: EbpfSyntax, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    use jitkit_bpf::ebpf::disasm::{disassemble, Syntax};
    let program = read_program(prog)?;
    let converted = jitkit_bpf::ebpf::convert(&program).with_context(|| display_name(prog))?;
    if let Some(path) = output {
        std::fs::write(path, jitkit_bpf::ebpf::encode(&converted))
            .with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    let syntax = match syntax {
        EbpfSyntax::Ubpf => Syntax::Ubpf,
        EbpfSyntax::Llvm => Syntax::Llvm,
    };
    let mut out = std::io::stdout().lock();
    for line in disassemble(&converted, syntax) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `jitkit bpf run-ebpf`: an ELF object, raw instructions or eBPF text, verified, then run by the
/// JIT (or the interpreter) on one packet; prints r0.
fn run_ebpf(
    obj: &Path,
    packet: &[u8],
    mut ctx: Vec<u8>,
    section: Option<&str>,
    interp: bool,
    budget: Option<u64>,
) -> anyhow::Result<ExitCode> {
    use jitkit_bpf::ebpf::{self, elf, Helpers, Memory};
    let bytes = std::fs::read(obj).with_context(|| format!("cannot read {}", obj.display()))?;
    let insns = if bytes.starts_with(b"\x7fELF") {
        let programs = elf::read_programs(&bytes).with_context(|| display_name(obj))?;
        let chosen = match section {
            Some(name) => programs.into_iter().find(|p| p.name == name),
            None => programs.into_iter().next(),
        };
        let chosen = chosen.with_context(|| {
            format!(
                "{}: no executable section{}",
                display_name(obj),
                section.map(|s| format!(" named `{s}`")).unwrap_or_default()
            )
        })?;
        if chosen.relocations > 0 {
            anyhow::bail!(
                "{}: section `{}` has {} relocations (maps or calls), which run-ebpf cannot resolve",
                display_name(obj),
                chosen.name,
                chosen.relocations
            );
        }
        chosen.insns
    } else if let Ok(text) = std::str::from_utf8(&bytes) {
        ebpf::asm::assemble(text).with_context(|| display_name(obj))?
    } else {
        ebpf::decode(&bytes).with_context(|| display_name(obj))?
    };
    let verified = ebpf::verify(&insns, &Helpers::new(), &ebpf::Options { budget })
        .with_context(|| display_name(obj))?;
    let memory = Memory {
        ctx: &mut ctx,
        packet,
    };
    let r0 = if interp {
        ebpf::interp::run(&verified, memory)?
    } else {
        ebpf::jit::compile(&verified)?.run(memory)?
    };
    println!("{r0}");
    Ok(ExitCode::SUCCESS)
}

fn display_name(prog: &Path) -> String {
    if prog == Path::new("-") {
        "<stdin>".to_string()
    } else {
        prog.display().to_string()
    }
}

/// Reads and parses a program file (or stdin for `-`) in any of the three text forms.
pub fn read_program(prog: &Path) -> anyhow::Result<Vec<Insn>> {
    let mut text = String::new();
    if prog == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the program from stdin")?;
    } else {
        text = std::fs::read_to_string(prog)
            .with_context(|| format!("cannot read {}", prog.display()))?;
    }
    text::parse(&text).with_context(|| display_name(prog))
}

/// Hex digits to bytes; spaces, tabs, newlines, colons, `-` and a leading `0x` are ignored.
fn parse_hex(hex: &str) -> anyhow::Result<Vec<u8>> {
    let hex = hex.trim();
    let hex = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .unwrap_or(hex);
    let digits: Vec<u8> = hex
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b':' | b'-'))
        .collect();
    if let Some(bad) = digits.iter().find(|b| !b.is_ascii_hexdigit()) {
        anyhow::bail!("`{}` is not a hex digit", char::from(*bad));
    }
    if digits.len() % 2 == 1 {
        anyhow::bail!("odd number of hex digits ({})", digits.len());
    }
    Ok(digits
        .chunks(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16).unwrap_or(0);
            let low = char::from(pair[1]).to_digit(16).unwrap_or(0);
            (high * 16 + low) as u8
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn hex_packets() {
        assert_eq!(parse_hex("0011 22:33").unwrap(), vec![0, 0x11, 0x22, 0x33]);
        assert_eq!(parse_hex("0xAbCd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
