//! The machine (CPU + memory + OS state) and the executor loop that runs decoded blocks.

use std::io::Write;
use std::time::Instant;

use crate::cpu::Cpu;
use crate::decode::{block_at, Block, BlockCache};
use crate::memory::{Fault, Memory};

const _: () = assert!(std::mem::size_of::<Result<(), Stop>>() == 16);
use crate::syscall::thread::TIME_SLICE;
use crate::syscall::Os;
use crate::translate::{Exit, Jit, TranslateError};

/// Why execution of a block stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A read (or instruction fetch) the guest's mappings do not allow (SIGSEGV). Reads and
    /// writes are separate variants so `Result<(), Stop>` stays two words and is returned in
    /// registers by every handler.
    ReadFault(u64),
    /// A write the guest's mappings do not allow (SIGSEGV).
    WriteFault(u64),
    /// An instruction the emulator does not implement, or an invalid encoding (SIGILL).
    Illegal,
    /// Division by zero or quotient overflow (SIGFPE).
    DivideError,
    /// The guest is killed by this signal.
    Signal(i32),
    /// exit/exit_group with this status.
    Exit(i32),
    /// execve replaced the program: decoded blocks are stale.
    Exec,
    /// A system call switched guest threads (`syscall::thread`): the instruction completed and
    /// `Machine::cpu` is now the state to continue from (possibly another thread's).
    Switch,
    /// Every guest thread waits on a futex (or sleeps forever) and none can wake another.
    Deadlock,
}

impl Stop {
    /// Whether the stopping instruction finished (RIP already says where to continue) rather
    /// than faulted (RIP must point back at it).
    #[inline(always)]
    pub fn completes_instruction(self) -> bool {
        matches!(self, Stop::Exec | Stop::Exit(_) | Stop::Switch)
    }
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Stop {
        if f.write {
            Stop::WriteFault(f.addr)
        } else {
            Stop::ReadFault(f.addr)
        }
    }
}

pub struct Machine {
    pub cpu: Cpu,
    pub mem: Memory,
    pub os: Os,
    pub start: Instant,
    pub saved_signal_states: Vec<crate::signal::Saved>,
}

impl Machine {
    /// A machine with no program loaded: default registers, a reserved address space with
    /// nothing mapped, a fresh OS state (`--strace` lines to `strace`), the clock started now.
    /// `loader::load` loads a program into it; tests map pages and poke code themselves.
    pub fn unloaded(strace: Option<Box<dyn Write>>) -> std::io::Result<Machine> {
        Ok(Machine {
            cpu: Cpu::default(),
            mem: Memory::new()?,
            os: Os::new(strace),
            start: Instant::now(),
            saved_signal_states: Vec::new(),
        })
    }
}

/// How the guest ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    /// Killed by a signal; `reason` says why in words (fault address, unsupported instruction).
    Killed {
        signal: i32,
        reason: String,
    },
}

impl Outcome {
    /// Ends this process as the guest ended: `exit` with its status, or killed by the same
    /// signal (see [`crate::syscall::die_by_signal`]).
    pub fn exit_process(&self) -> ! {
        match self {
            Outcome::Exited(code) => std::process::exit(*code),
            Outcome::Killed { signal, .. } => crate::syscall::die_by_signal(*signal),
        }
    }

    /// The shell-style status: the exit code, or 128 + the signal number.
    pub fn status(&self) -> i32 {
        match self {
            Outcome::Exited(c) => *c,
            Outcome::Killed { signal, .. } => 128 + signal,
        }
    }
}

/// Options for running a program.
pub struct Options {
    /// Where `--strace` lines go.
    pub strace: Option<Box<dyn Write>>,
    /// Where `--trace` lines (one per executed instruction) go.
    pub trace: Option<Box<dyn Write>>,
    /// Interpreter only, or interpreter plus translator for hot blocks.
    pub engine: Engine,
    /// Address space for translated code; when it fills up, every translation is dropped and
    /// hot blocks are translated again. `JITKIT_EMU_CODE_BYTES` sets it (tests use a tiny one
    /// to exercise the refill); the default holds hundreds of thousands of blocks.
    pub code_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            strace: None,
            trace: None,
            engine: Engine::from_env(),
            code_bytes: std::env::var("JITKIT_EMU_CODE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(crate::translate::DEFAULT_CODE_BYTES),
        }
    }
}

/// How guest code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Every block through the interpreter's handlers.
    Interp,
    /// Blocks that ran [`HOT_BLOCK`] times in the interpreter are translated to native code
    /// (`crate::translate`); the interpreter runs the rest.
    Jit,
}

/// Interpreted runs after which a block is translated.
pub const HOT_BLOCK: u32 = 16;

impl Engine {
    /// `JITKIT_EMU_ENGINE=interp` or `jit` (the default): lets test suites and benchmarks run
    /// the same programs through both engines.
    pub fn from_env() -> Engine {
        match std::env::var("JITKIT_EMU_ENGINE").as_deref() {
            Ok("interp") => Engine::Interp,
            _ => Engine::Jit,
        }
    }

    pub fn from_name(name: &str) -> Option<Engine> {
        match name {
            "interp" => Some(Engine::Interp),
            "jit" => Some(Engine::Jit),
            _ => None,
        }
    }
}

/// A loaded guest program and everything needed to run it.
pub struct Emulator {
    pub machine: Machine,
    cache: BlockCache,
    /// The translator (`None` with `Engine::Interp`, or if its code could not be mapped).
    jit: Option<Jit>,
    trace: Option<Box<dyn Write>>,
    instructions: u64,
    /// Instructions run by translated code (part of `instructions`).
    translated: u64,
}

impl Emulator {
    /// Loads `path` with `argv` (argv[0] included) and `env` (`NAME=value` strings).
    pub fn new(
        path: &[u8],
        argv: Vec<Vec<u8>>,
        env: Vec<Vec<u8>>,
        options: Options,
    ) -> Result<Emulator, crate::LoadError> {
        let program = crate::loader::Program::read(path, argv)?;
        Emulator::from_program(program, env, options)
    }

    pub fn from_program(
        program: crate::loader::Program,
        env: Vec<Vec<u8>>,
        options: Options,
    ) -> Result<Emulator, crate::LoadError> {
        let mut machine = Machine::unloaded(options.strace).map_err(crate::LoadError::Reserve)?;
        // The fresh machine's address space is the program's (no second reservation).
        crate::loader::load(&mut machine, &program, &env)?;
        let jit = match options.engine {
            Engine::Jit => Jit::with_code_bytes(options.code_bytes).ok(),
            Engine::Interp => None,
        };
        Ok(Emulator {
            machine,
            cache: BlockCache::default(),
            jit,
            trace: options.trace,
            instructions: 0,
            translated: 0,
        })
    }

    /// Instructions executed so far.
    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    /// Of [`Emulator::instructions`], those that ran as translated code.
    pub fn translated_instructions(&self) -> u64 {
        self.translated
    }

    /// Runs until the guest exits or is killed.
    pub fn run(&mut self) -> Outcome {
        loop {
            let stop = if self.trace.is_some() {
                self.run_traced()
            } else if self.jit.is_some() {
                self.run_translated()
            } else if self.machine.os.threads.is_multi() {
                self.run_threads()
            } else {
                self.run_blocks()
            };
            match stop {
                Stop::Exec => {
                    self.cache.clear();
                    if let Some(jit) = self.jit.as_mut() {
                        jit.clear();
                    }
                    continue;
                }
                Stop::Exit(code) => {
                    self.flush();
                    return Outcome::Exited(code);
                }
                Stop::Switch => continue,
                other => {
                    let outcome = self.describe(other);
                    self.flush();
                    return outcome;
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some(w) = self.machine.os.strace.as_mut() {
            let _ = w.flush();
        }
        if let Some(w) = self.trace.as_mut() {
            let _ = w.flush();
        }
    }

    /// The hot loop: look up (or decode) the block at RIP and run its handlers.
    fn run_blocks(&mut self) -> Stop {
        let m = &mut self.machine;
        loop {
            if m.mem.code_written {
                self.cache.clear();
                m.mem.clear_code_marks();
            }
            let rip = m.cpu.rip;
            let Some(idx) = block_at(&mut self.cache, m, rip) else {
                return Stop::ReadFault(rip);
            };
            if let Err(stop) = interpret(m, self.cache.get(idx), &mut self.instructions) {
                return stop;
            }
        }
    }

    /// Several guest threads in the interpreter: once a thread has run [`TIME_SLICE`]
    /// instructions, the machine goes to the next one between two blocks
    /// (`syscall::thread::preempt`), so no thread can starve the others.
    fn run_threads(&mut self) -> Stop {
        let m = &mut self.machine;
        let mut slice_end = self.instructions + TIME_SLICE;
        while m.os.threads.is_multi() {
            if m.mem.code_written {
                self.cache.clear();
                m.mem.clear_code_marks();
            }
            if self.instructions >= slice_end {
                slice_end = self.instructions + TIME_SLICE;
                if let Err(stop) = crate::syscall::thread::preempt(m) {
                    return stop;
                }
            }
            let rip = m.cpu.rip;
            let Some(idx) = block_at(&mut self.cache, m, rip) else {
                return Stop::ReadFault(rip);
            };
            match interpret(m, self.cache.get(idx), &mut self.instructions) {
                Ok(()) | Err(Stop::Switch) => {}
                Err(stop) => return stop,
            }
        }
        Stop::Switch
    }

    /// Hot blocks run as translated code, the others in the interpreter; after translated code
    /// leaves through a direct exit, the exit is linked to its target's translation so the
    /// next run goes straight there.
    ///
    /// While several guest threads exist, the running one gets [`TIME_SLICE`] instructions
    /// (translated and interpreted alike); translated code stops following links once they
    /// are used up ([`Jit::run_for`]), and the machine then goes to the next thread, between
    /// two blocks. Threads come and go in system calls that end with `Stop::Switch`, which
    /// leaves this loop, so the thread count is read on entry (and after each preemption).
    fn run_translated(&mut self) -> Stop {
        let m = &mut self.machine;
        let cache = &mut self.cache;
        let Some(jit) = self.jit.as_mut() else {
            return Stop::Illegal;
        };
        let slice_of = |m: &Machine| {
            if m.os.threads.is_multi() {
                TIME_SLICE
            } else {
                u64::MAX
            }
        };
        let mut slice = slice_of(m);
        let mut slice_end = self.instructions.saturating_add(slice);
        let mut pending_link: Option<u64> = None;
        let mut flush = false;
        loop {
            if m.mem.code_written || flush {
                cache.clear();
                jit.clear();
                m.mem.clear_code_marks();
                pending_link = None;
                flush = false;
            }
            if self.instructions >= slice_end {
                // The next thread continues at its own RIP: nothing to link to.
                pending_link = None;
                if let Err(stop) = crate::syscall::thread::preempt(m) {
                    return stop;
                }
                // (A forked child is left with one thread without a `Stop::Switch`.)
                slice = slice_of(m);
                slice_end = self.instructions.saturating_add(slice);
            }
            let rip = m.cpu.rip;
            let mut entry = jit.entry(rip);
            let mut interp = None;
            if entry.is_none() {
                let Some(idx) = block_at(cache, m, rip) else {
                    return Stop::ReadFault(rip);
                };
                let block = cache.get_mut(idx);
                block.hits = block.hits.saturating_add(1);
                if block.hits == HOT_BLOCK {
                    match jit.translate(block, &mut m.mem) {
                        Ok(e) => entry = Some(e),
                        // The code arena is full: this block runs in the interpreter once
                        // more, then every translation and decoded block is dropped, so that
                        // blocks count their way up to hot again (translating every block on
                        // its next visit would thrash when the hot code outgrows the arena).
                        Err(TranslateError::Full(_)) => {
                            block.hits = 0;
                            flush = true;
                        }
                        // Not translatable (mapping failed): keep interpreting it.
                        Err(_) => block.hits = u32::MAX,
                    }
                }
                if entry.is_none() {
                    interp = Some(idx);
                }
            }
            if let Some(entry) = entry {
                if let Some(id) = pending_link.take() {
                    jit.link(id, entry);
                }
                let exit = jit.run_for(m, entry, slice_end - self.instructions);
                let ran = jit.take_instructions();
                self.instructions += ran;
                self.translated += ran;
                match exit {
                    Exit::Continue(id) => pending_link = id,
                    Exit::Stop { stop, rip } => {
                        if !stop.completes_instruction() {
                            m.cpu.rip = rip;
                        }
                        return stop;
                    }
                }
            } else if let Some(idx) = interp {
                pending_link = None;
                if let Err(stop) = interpret(m, cache.get(idx), &mut self.instructions) {
                    return stop;
                }
            }
        }
    }

    /// One instruction at a time, printing each before it executes (several guest threads
    /// take turns as in [`Emulator::run_threads`]).
    fn run_traced(&mut self) -> Stop {
        use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
        let mut fmt = IntelFormatter::new();
        let mut text = String::new();
        let m = &mut self.machine;
        let mut slice_end = self.instructions + TIME_SLICE;
        loop {
            if m.mem.code_written {
                self.cache.clear();
                m.mem.clear_code_marks();
            }
            if self.instructions >= slice_end {
                slice_end = self.instructions + TIME_SLICE;
                if let Err(stop) = crate::syscall::thread::preempt(m) {
                    return stop;
                }
            }
            let rip = m.cpu.rip;
            let Some(idx) = block_at(&mut self.cache, m, rip) else {
                return Stop::ReadFault(rip);
            };
            let block = self.cache.get(idx);
            for insn in block.insns.iter() {
                let addr = insn.addr();
                let mut buf = [0u8; 16];
                let n = m.mem.fetch(addr, &mut buf);
                let ins = Decoder::with_ip(64, &buf[..n], addr, DecoderOptions::NONE).decode();
                text.clear();
                fmt.format(&ins, &mut text);
                let bytes: String = buf[..insn.len as usize]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if let Some(w) = self.trace.as_mut() {
                    let _ = writeln!(w, "{addr:016x}  {bytes:<20} {text}");
                }
                m.cpu.rip = insn.next_rip;
                self.instructions += 1;
                if let Err(stop) = (insn.handler)(m, insn) {
                    if !stop.completes_instruction() {
                        m.cpu.rip = addr;
                    }
                    return stop;
                }
            }
        }
    }

    fn describe(&mut self, stop: Stop) -> Outcome {
        let rip = self.machine.cpu.rip;
        let (signal, reason) = match stop {
            Stop::ReadFault(addr) | Stop::WriteFault(addr) => (
                libc::SIGSEGV,
                format!(
                    "SIGSEGV: {} address {addr:#x} at rip {rip:#x}",
                    if matches!(stop, Stop::WriteFault(_)) {
                        "write to"
                    } else {
                        "read of"
                    },
                ),
            ),
            Stop::Illegal => {
                let mut buf = [0u8; 16];
                let n = self.machine.mem.fetch(rip, &mut buf);
                let ins = iced_x86::Decoder::with_ip(64, &buf[..n], rip, 0).decode();
                let bytes: Vec<String> = buf[..ins.len().max(1).min(n.max(1))]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let mut text = String::new();
                if ins.is_invalid() {
                    text.push_str("(invalid encoding)");
                } else {
                    use iced_x86::Formatter;
                    iced_x86::IntelFormatter::new().format(&ins, &mut text);
                }
                (
                    libc::SIGILL,
                    format!(
                        "SIGILL: unsupported instruction at {rip:#x}: {} ({text})",
                        bytes.join(" ")
                    ),
                )
            }
            Stop::DivideError => (
                libc::SIGFPE,
                format!("SIGFPE: integer divide error at rip {rip:#x}"),
            ),
            Stop::Signal(s) => (s, format!("killed by signal {s} at rip {rip:#x}")),
            Stop::Deadlock => (
                libc::SIGKILL,
                "deadlock: every guest thread waits on a futex or sleeps, none can wake another"
                    .to_string(),
            ),
            Stop::Exit(_) | Stop::Exec | Stop::Switch => unreachable_outcome(),
        };
        Outcome::Killed { signal, reason }
    }
}

/// Runs one decoded block through the interpreter's handlers.
#[inline(always)]
fn interpret(m: &mut Machine, block: &Block, instructions: &mut u64) -> Result<(), Stop> {
    let last = block.insns.len() - 1;
    for (n, insn) in block.insns.iter().enumerate() {
        // Only the block's last instruction (a branch, a syscall or the instruction before the
        // next block) needs RIP: nothing earlier in a block reads it (call uses `next_rip`,
        // RIP-relative operands are absolute, faults set it below).
        if n == last {
            m.cpu.rip = insn.next_rip;
        }
        if let Err(stop) = (insn.handler)(m, insn) {
            *instructions += n as u64 + 1;
            if !stop.completes_instruction() {
                m.cpu.rip = insn.addr();
            }
            return Err(stop);
        }
    }
    *instructions += block.insns.len() as u64;
    Ok(())
}

fn unreachable_outcome() -> (i32, String) {
    (libc::SIGKILL, "internal: exit handled elsewhere".into())
}
