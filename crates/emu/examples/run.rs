//! Runs a static x86-64 Linux program in the emulator without the CLI (for development):
//! `cargo run -p jitkit-emu --example run -- [--strace] [--trace] [--stats] PROGRAM [ARGS...]`.

use std::os::unix::ffi::OsStrExt;

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut options = jitkit_emu::Options::default();
    let mut stats = false;
    while let Some(a) = args.first().and_then(|a| a.to_str()).map(str::to_string) {
        match a.as_str() {
            "--strace" => options.strace = Some(Box::new(std::io::stderr())),
            "--trace" => options.trace = Some(Box::new(std::io::BufWriter::new(std::io::stderr()))),
            "--stats" => stats = true,
            _ => break,
        }
        args.remove(0);
    }
    let Some(program) = args.first() else {
        eprintln!("usage: run [--strace] [--trace] [--stats] PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let path = program.as_bytes().to_vec();
    let argv = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let env = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let started = std::time::Instant::now();
    let mut emu = match jitkit_emu::Emulator::new(&path, argv, env, options) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("run: {e}");
            std::process::exit(1);
        }
    };
    let outcome = emu.run();
    if stats {
        eprintln!(
            "run: {} instructions in {:.3} s",
            emu.instructions(),
            started.elapsed().as_secs_f64()
        );
    }
    if let jitkit_emu::Outcome::Killed { reason, .. } = &outcome {
        eprintln!("run: {reason}");
    }
    outcome.exit_process();
}
