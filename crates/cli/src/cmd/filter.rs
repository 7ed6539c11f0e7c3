//! `jitkit filter`: read a capture, run a filter on every packet, write the packets it keeps.
//!
//! The work itself is `jitkit_pcap::select` (records split among threads, output in order);
//! this file turns arguments into a program and an engine, shows progress, and reports.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use jitkit_bpf::cbpf::{self, Insn};
use jitkit_pcap::{CaptureReader, MappedFile, OutputFile, PcapWriter, Record};

use crate::engines::{self, EngineKind};
use crate::llvm::LlvmBackend;

/// Filter a capture file, like `tcpdump -r IN -w OUT EXPR`.
///
/// The filter is a tcpdump expression (the remaining arguments, joined by spaces, as tcpdump
/// takes them) or, with `--cbpf`, a classic BPF program in any of tcpdump's `-d`, `-dd` or `-ddd`
/// forms. Without either, every packet matches. The link type comes from the capture. Matching
/// records are copied unchanged; the output keeps the input's link type, snap length and
/// timestamp precision (a pcapng input becomes pcap with its first interface's link type).
/// Without `-w`, the number of matching packets is printed on standard output instead.
/// A summary (packets read, matched, time) goes to stderr. A truncated or corrupt input is
/// reported (byte offset and record number) after every complete record before the damage has
/// been filtered and written, and the exit code is 1.
#[derive(clap::Args)]
pub struct Args {
    /// The capture to read (pcap or pcapng; `-` for standard input)
    #[arg(short = 'r', value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the matching packets (pcap; `-` for standard output)
    #[arg(short = 'w', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Run this classic BPF program (tcpdump -d/-dd/-ddd text; `-` for stdin) instead of EXPR
    #[arg(long, value_name = "PROG", conflicts_with = "expression")]
    pub cbpf: Option<PathBuf>,
    /// How the filter runs
    #[arg(long, value_name = "ENGINE", value_enum, default_value_t = EngineKind::Jit)]
    pub engine: EngineKind,
    /// Threads to filter with (default: the number of CPUs)
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// No summary on stderr
    #[arg(short, long)]
    pub quiet: bool,
    /// The filter expression (pcap-filter(7) syntax)
    #[arg(value_name = "EXPR")]
    pub expression: Vec<String>,
}

/// A packet predicate owned by one thread.
type Matcher = Box<dyn FnMut(&Record) -> bool>;

/// Runs for longer than this get a progress bar (when stderr is a terminal).
const PROGRESS_AFTER: Duration = Duration::from_secs(2);

pub fn run(args: Args, llvm: Option<&dyn LlvmBackend>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if args.input.as_os_str() == "-" && args.cbpf.as_deref() == Some(Path::new("-")) {
        return Err(
            super::UsageError("-r - and --cbpf - cannot both read standard input".into()).into(),
        );
    }
    let input = Input::open(&args.input)?;
    let capture = CaptureReader::new(&input).with_context(|| args.input.display().to_string())?;
    let program = program(&args, &capture)?;
    let engine = match &program {
        Some(program) => Some(engines::build(args.engine, program, llvm)?),
        None => None,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);

    let matcher = |record: &Record| {
        engine
            .as_ref()
            .is_none_or(|e| e.run(record.data, record.wire_len) != 0)
    };
    // Each helper thread builds its own engine: engines need not be shareable between threads.
    let helper = || -> Option<Matcher> {
        match &program {
            None => Some(Box::new(|_: &Record| true)),
            Some(program) => {
                let engine = engines::build(args.engine, program, llvm).ok()?;
                Some(Box::new(move |record: &Record| {
                    engine.run(record.data, record.wire_len) != 0
                }))
            }
        }
    };

    let progress = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let total = input.len() as u64;
    let (selection, written_to) = std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() && !args.quiet {
            scope.spawn(|| show_progress(&progress, &finished, total));
        }
        let result = (|| -> anyhow::Result<_> {
            match &args.output {
                Some(path) => {
                    let out = create_output(path)?;
                    // A file we created can have its end written by a second thread.
                    let tail = match &out {
                        Output::File(file) => file.tail(),
                        Output::Stdout(_) => None,
                    };
                    let mut writer = PcapWriter::for_capture(out, &capture)
                        .with_context(|| path.display().to_string())?
                        .with_tail(tail);
                    let selection = jitkit_pcap::select::select(
                        &capture,
                        Some(&mut writer),
                        matcher,
                        helper,
                        threads,
                        &progress,
                    )
                    .with_context(|| format!("writing {}", path.display()))?;
                    writer
                        .finish()
                        .and_then(Output::finish)
                        .with_context(|| format!("writing {}", path.display()))?;
                    Ok((selection, Some(path)))
                }
                None => {
                    let selection = jitkit_pcap::select::select::<std::io::Sink, _, _, _>(
                        &capture, None, matcher, helper, threads, &progress,
                    )?;
                    Ok((selection, None))
                }
            }
        })();
        finished.store(true, Ordering::Relaxed);
        result
    })?;

    if written_to.is_none() {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", selection.matched)?;
        stdout.flush()?;
    }
    if !args.quiet {
        eprintln!(
            "{} packets read, {} matched, {:.3} s",
            selection.read,
            selection.matched,
            started.elapsed().as_secs_f64()
        );
    }
    match selection.error {
        None => Ok(ExitCode::SUCCESS),
        Some(err) => Err(anyhow::Error::new(err).context(format!(
            "{} (the {} complete packets before this were filtered{})",
            args.input.display(),
            selection.read,
            if written_to.is_some() {
                " and written"
            } else {
                ""
            }
        ))),
    }
}

/// The program to run: `--cbpf` text, the compiled expression, or none (every packet matches).
/// It is validated before any engine sees it, with the kernel's rules except the one libpcap
/// itself breaks (`Rules::Libpcap`: tcpdump's own `pppoes` program on 802.11 reads `M[0]`
/// before storing it), so that every program tcpdump runs, jitkit runs.
fn program(args: &Args, capture: &CaptureReader) -> anyhow::Result<Option<Vec<Insn>>> {
    let program = if let Some(path) = &args.cbpf {
        let text = read_text(path)?;
        cbpf::text::parse(&text).with_context(|| path.display().to_string())?
    } else if args.expression.is_empty() {
        return Ok(None);
    } else {
        let expression = args.expression.join(" ");
        jitkit_filter::compile(
            &expression,
            capture.link_type(),
            &jitkit_filter::Options::default(),
        )
        .map_err(|e| anyhow::anyhow!("cannot compile `{expression}`: {e}"))?
    };
    cbpf::validate_with(&program, cbpf::Rules::Libpcap)
        .context("the program is not valid classic BPF")?;
    Ok(Some(program))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| path.display().to_string())
    }
}

/// The capture's bytes: the file mapped in place, or standard input read into memory.
enum Input {
    Mapped(MappedFile),
    Read(Vec<u8>),
}

impl Input {
    fn open(path: &Path) -> anyhow::Result<Input> {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("standard input")?;
            return Ok(Input::Read(bytes));
        }
        Ok(Input::Mapped(MappedFile::open(path)?))
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(map) => map,
            Input::Read(bytes) => bytes,
        }
    }
}

/// Where the kept packets go: a file we create (its space reserved ahead of the writes), or
/// standard output.
enum Output {
    File(OutputFile),
    Stdout(std::io::StdoutLock<'static>),
}

impl Output {
    /// Ends the output: a file gives back the space reserved past its end and takes the length
    /// of everything written (its end may have been written by another thread).
    fn finish(self) -> std::io::Result<()> {
        match self {
            Output::File(file) => file.finish(),
            Output::Stdout(mut out) => out.flush(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::File(file) => file.write(buf),
            Output::Stdout(out) => out.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        match self {
            Output::File(file) => file.write_vectored(bufs),
            Output::Stdout(out) => out.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::File(file) => file.flush(),
            Output::Stdout(out) => out.flush(),
        }
    }
}

fn create_output(path: &Path) -> anyhow::Result<Output> {
    if path.as_os_str() == "-" {
        return Ok(Output::Stdout(std::io::stdout().lock()));
    }
    let file = OutputFile::create(path).with_context(|| path.display().to_string())?;
    Ok(Output::File(file))
}

/// Shows a progress bar on stderr once the run has taken `PROGRESS_AFTER`, until `finished`.
fn show_progress(done_bytes: &AtomicU64, finished: &AtomicBool, total: u64) {
    let started = Instant::now();
    while started.elapsed() < PROGRESS_AFTER {
        if finished.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while !finished.load(Ordering::Relaxed) {
        bar.set_position(done_bytes.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.finish_and_clear();
}
