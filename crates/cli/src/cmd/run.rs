//! `jitkit run`: run a static x86-64 Linux executable in the emulator.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run a static x86-64 Linux ELF executable (or an x86-64 Mach-O one) in the emulator.
///
/// The program gets the stack, arguments, environment and auxiliary vector that Linux gives it;
/// its system calls are served on the host (files are the host's). Standard input and output pass
/// through, and jitkit exits with the program's exit status (or dies of the signal that killed
/// it).
#[derive(clap::Args)]
pub struct Args {
    /// Print every system call with its arguments and result, like strace, to stderr
    #[arg(long)]
    pub strace: bool,
    /// Print every executed instruction (address, bytes, disassembly) to stderr
    #[arg(long)]
    pub trace: bool,
    /// Print the instruction count (and how many ran as translated code) and the time taken
    /// when the program ends
    #[arg(long)]
    pub stats: bool,
    /// Execution engine: `jit` (interpret, then translate hot blocks to native code) or
    /// `interp` (interpret only)
    #[arg(long, value_name = "ENGINE", default_value = "jit")]
    pub engine: String,
    /// The program to run
    pub program: PathBuf,
    /// Arguments passed to the program
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    use std::os::unix::ffi::OsStrExt;
    let Some(engine) = jitkit_emu::Engine::from_name(&args.engine) else {
        return Err(super::UsageError(format!(
            "unknown engine `{}` for `jitkit run` (available: jit, interp)",
            args.engine
        ))
        .into());
    };
    let path = args.program.as_os_str().as_bytes().to_vec();
    let mut argv = vec![path.clone()];
    argv.extend(args.args.iter().map(|a| a.as_bytes().to_vec()));
    let env: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let stderr =
        || -> Box<dyn std::io::Write> { Box::new(std::io::LineWriter::new(std::io::stderr())) };
    let options = jitkit_emu::Options {
        strace: args.strace.then(stderr),
        trace: args.trace.then(|| {
            Box::new(std::io::BufWriter::new(std::io::stderr())) as Box<dyn std::io::Write>
        }),
        engine,
        ..jitkit_emu::Options::default()
    };
    let started = std::time::Instant::now();
    let mut emu = jitkit_emu::Emulator::new(&path, argv, env, options)
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", args.program.display()))?;
    let outcome = emu.run();
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        let n = emu.instructions();
        eprintln!(
            "jitkit: {n} instructions in {secs:.3} s ({:.1} M instructions/s, {} translated)",
            n as f64 / secs / 1e6,
            emu.translated_instructions()
        );
    }
    if let jitkit_emu::Outcome::Killed { signal, reason } = &outcome {
        // A broken pipe ends programs silently in every shell pipeline (`yes | head`).
        if *signal != libc::SIGPIPE {
            eprintln!("jitkit: {}: {reason}", args.program.display());
        }
        // Die by the same signal, as the native program would (and as qemu-user does).
        outcome.exit_process();
    }
    Ok(ExitCode::from(outcome.status().clamp(0, 255) as u8))
}
