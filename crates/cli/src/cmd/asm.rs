//! `jitkit asm`: Intel-syntax x86-64 text -> bytes, listing, or an in-process run.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Assemble an Intel-syntax x86-64 file (the GNU as `.intel_syntax noprefix` dialect).
///
/// Without options, checks that FILE assembles. `-o` writes the raw bytes of `.text` (what
/// `objcopy -O binary -j .text` gives for GNU as's object); `--listing` prints address, bytes and
/// disassembly side by side; `--run` maps every section (code read+execute, never writable and
/// executable at once), binds undefined symbols such as `putchar` or `printf` to the host libc,
/// calls `main` and exits with its return value.
#[derive(clap::Args)]
pub struct Args {
    /// The assembly source file (`-` for standard input)
    pub file: PathBuf,
    /// Write the raw bytes of the .text section to this file
    #[arg(short, long, value_name = "OUT.bin")]
    pub output: Option<PathBuf>,
    /// Print address, encoded bytes and disassembly for every instruction
    #[arg(long)]
    pub listing: bool,
    /// Run the program in-process: call `main` and exit with its return value
    #[arg(long)]
    pub run: bool,
    /// Arguments passed to `main` after the program name (with --run)
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let source = if name == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {name}"))?
    };
    let object = jitkit_x86::assemble(&source).map_err(|errs| {
        let lines: Vec<String> = errs.0.iter().map(|e| format!("{name}:{e}")).collect();
        anyhow::anyhow!("{}", lines.join("\njitkit: "))
    })?;
    if let Some(out) = &args.output {
        std::fs::write(out, object.text())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.listing {
        let mut stdout = std::io::stdout().lock();
        for (i, section) in object.sections.iter().enumerate() {
            if section.code.bytes().is_empty() {
                continue;
            }
            let mut labels: Vec<(usize, String)> = object
                .symbols()
                .filter(|(_, s, _)| *s == i)
                .map(|(n, _, off)| (off, n.to_string()))
                .collect();
            labels.sort();
            writeln!(stdout, "section {}:", section.name)?;
            if section.kind == jitkit_x86::SectionKind::Code {
                stdout.write_all(
                    jitkit_x86::listing::disassemble(section.code.bytes(), 0, &labels).as_bytes(),
                )?;
            } else {
                for (off, chunk) in section.code.bytes().chunks(16).enumerate() {
                    let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                    writeln!(stdout, "  {:04x}:  {}", off * 16, hex.join(" "))?;
                }
            }
        }
    }
    if args.run {
        let program = object
            .load(&mut jitkit_x86::host_symbol)
            .context("loading the program")?;
        let mut argv = vec![name.clone()];
        argv.extend(args.args.iter().cloned());
        std::io::stdout().flush()?;
        // SAFETY: running the user's program is what `--run` asks for; its `main` is called
        // with the C signature, and the process exits right after it returns.
        let status = unsafe { program.call_main(&argv) }.context("calling main")?;
        jitkit_x86::flush_c_stdio();
        return Ok(ExitCode::from(status as u8));
    }
    Ok(ExitCode::SUCCESS)
}
