//! `jitkit compile`: a tcpdump expression -> a program, printed in the form asked for.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::llvm::{self, LlvmBackend};

/// Compile a filter expression and print the program, like `tcpdump -d`.
///
/// The expression is the remaining arguments joined by spaces, or the contents of `-F FILE`.
#[derive(clap::Args)]
pub struct Args {
    /// Link type to compile for (name such as EN10MB, LINUX_SLL, RAW, or a number)
    #[arg(short = 'y', value_name = "LINKTYPE", default_value = "EN10MB")]
    pub linktype: String,
    /// Print the program as tcpdump -d does (the default)
    #[arg(short = 'd', group = "form")]
    pub d: bool,
    /// Print the program as a C array, like tcpdump -dd
    #[arg(long = "dd", group = "form")]
    pub dd: bool,
    /// Print the program as decimal numbers, like tcpdump -ddd
    #[arg(long = "ddd", group = "form")]
    pub ddd: bool,
    /// Do not optimize the program
    #[arg(short = 'O', value_name = "LEVEL")]
    pub opt_level: Option<u8>,
    /// What to emit: cbpf, ebpf, ebpf-elf, llvm-ir, x86 or dot
    #[arg(long, value_name = "FORM", default_value = "cbpf")]
    pub emit: String,
    /// Write to this file instead of standard output
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the expression from this file
    #[arg(short = 'F', value_name = "FILE", conflicts_with = "expression")]
    pub file: Option<PathBuf>,
    /// The filter expression (pcap-filter(7) syntax); put it after `--` if it starts with `-`
    #[arg(value_name = "EXPR")]
    pub expression: Vec<String>,
}

pub fn run(args: Args, llvm: Option<&dyn LlvmBackend>) -> anyhow::Result<ExitCode> {
    let expr = expression(&args)?;
    let linktype = jitkit_filter::linktype::from_name(&args.linktype).ok_or_else(|| {
        super::UsageError(format!(
            "unknown link type '{}' (use a libpcap name such as EN10MB, LINUX_SLL, RAW, or a number)",
            args.linktype
        ))
    })?;
    let options = jitkit_filter::Options {
        optimize: args.opt_level != Some(0),
        ..jitkit_filter::Options::default()
    };
    let program = jitkit_filter::compile(&expr, linktype, &options)
        .map_err(|e| anyhow::anyhow!("can't compile filter: {}", e.one_line(&expr)))?;
    let output: Vec<u8> = match args.emit.as_str() {
        "cbpf" => {
            use jitkit_bpf::cbpf::text::{format, TextForm};
            let form = if args.dd {
                TextForm::CArray
            } else if args.ddd {
                TextForm::Decimal
            } else {
                TextForm::Listing
            };
            format(&program, form).into_bytes()
        }
        "x86" => {
            jitkit_bpf::cbpf::jit::listing(&program, jitkit_bpf::cbpf::Rules::Libpcap)?.into_bytes()
        }
        name if llvm::is_llvm_form(name) => {
            if name == "ebpf-elf" && args.output.is_none() {
                return Err(super::UsageError(
                    "--emit ebpf-elf writes an object file: give -o FILE".into(),
                )
                .into());
            }
            let Some(llvm) = llvm else {
                anyhow::bail!("--emit {name} needs LLVM, which this binary does not link");
            };
            llvm.emit(name, &program, args.opt_level != Some(0))?
        }
        name => {
            return Err(super::UsageError(format!(
                "--emit {name} is not a known form \
                 (known: cbpf, x86, llvm-ir, dot, ebpf, ebpf-elf)"
            ))
            .into())
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, output)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&output)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The expression: the arguments joined by spaces, or `-F FILE` with `#` comments removed (as
/// tcpdump reads it).
fn expression(args: &Args) -> anyhow::Result<String> {
    match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(text
                .lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" "))
        }
        None => Ok(args.expression.join(" ")),
    }
}
