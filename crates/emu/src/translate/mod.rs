//! The translator: hot decoded blocks become native x86-64 code (emitted through
//! `jitkit_x86`, mapped W^X), which replaces the interpreter one block at a time.
//!
//! - `emit.rs` (safe): a [`Block`] in, machine code out. The common integer subset (mov, lea,
//!   movzx/movsx, add/sub/and/or/xor/cmp/test, push/pop, call/ret/jmp/jcc) runs inline with the
//!   interpreter's lazy-flag representation; every other instruction calls the interpreter's own
//!   handler, so a translated block does exactly what the interpreter would.
//! - `runtime.rs` (unsafe): the context shared with generated code, the helpers it calls, and
//!   the trampoline that enters it.
//!
//! Blocks link to each other: a direct exit jumps through a chain slot (data, not code, so
//! nothing executable is ever written) that the dispatcher fills in once the target is
//! translated; returns and indirect jumps go through a direct-mapped jump cache. Every exit
//! first compares the instruction counter with `JitCtx::limit` and leaves for the dispatcher
//! once it is reached. That one compare serves two purposes: the dispatcher sets the limit to
//! the end of the running guest thread's time slice ([`Jit::run_for`]), so a guest thread
//! spinning in chained code still hands the machine to the others between two blocks; and a
//! helper that sees `Memory::code_written` sets it to 0, so a store into decoded code ends the
//! chain at the same point the interpreter would notice it (the end of the block).

mod emit;
mod runtime;

use std::cell::Cell;
use std::collections::HashMap;
use std::mem::offset_of;

use jitkit_x86::CodeArena;

use crate::cpu::Cpu;
use crate::decode::Block;
use crate::flags::Flags;
use crate::machine::{Machine, Stop};
use crate::memory::Memory;
use emit::{Addrs, Layout, JUMP_SLOTS, MAX_EXITS};
use runtime::{JitCtx, Trampoline};

/// Why a block could not be translated (it then keeps running in the interpreter).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("encoding translated code: {0}")]
    Encode(#[from] jitkit_x86::EncodeError),
    #[error("mapping translated code: {0}")]
    Load(#[from] jitkit_x86::LoadError),
    /// The code arena is full: [`Jit::clear`] and translate again.
    #[error("translated code fills the arena ({0} bytes)")]
    Full(usize),
}

/// Address space reserved by default for one guest's translated code. A block
/// is typically 100-600 bytes, so this holds hundreds of thousands.
pub const DEFAULT_CODE_BYTES: usize = 64 << 20;

/// Translated blocks start on cache-line boundaries.
const BLOCK_ALIGN: usize = 64;

/// One translated block's chain slots: the host address each direct exit jumps through.
type Slots = Box<[Cell<u64>; MAX_EXITS]>;

/// Translated blocks of one guest address space and the state to run them.
pub struct Jit {
    tramp: Trampoline,
    layout: Layout,
    ctx: Box<JitCtx>,
    /// The code of every translated block, one after the other.
    arena: CodeArena,
    /// Per translated block, in order: its chain slots.
    blocks: Vec<Slots>,
    by_rip: HashMap<u64, u64>,
    /// The jump cache: (guest address, host entry) pairs, read by generated code.
    table: Box<[Cell<u64>]>,
}

fn layout() -> Layout {
    let cpu = offset_of!(Machine, cpu);
    let flags = cpu + offset_of!(Cpu, flags);
    let ctx = |o: usize| o as i32;
    debug_assert_eq!(offset_of!(Flags, size), offset_of!(Flags, lazy) + 1);
    Layout {
        gpr: (cpu + offset_of!(Cpu, gpr)) as i32,
        rip: (cpu + offset_of!(Cpu, rip)) as i32,
        fs_base: (cpu + offset_of!(Cpu, fs_base)) as i32,
        gs_base: (cpu + offset_of!(Cpu, gs_base)) as i32,
        flags_dst: (flags + offset_of!(Flags, dst)) as i32,
        flags_src: (flags + offset_of!(Flags, src)) as i32,
        flags_res: (flags + offset_of!(Flags, res)) as i32,
        flags_bits: (flags + offset_of!(Flags, bits)) as i32,
        flags_lazy: (flags + offset_of!(Flags, lazy)) as i32,
        ctx_exit: ctx(offset_of!(JitCtx, exit)),
        ctx_limit: ctx(offset_of!(JitCtx, limit)),
        ctx_exit_slot: ctx(offset_of!(JitCtx, exit_slot)),
        ctx_stop_rip: ctx(offset_of!(JitCtx, stop_rip)),
    }
}

/// What a run of translated code ended with.
pub enum Exit {
    /// Continue at the guest RIP; `Some(id)` names the chain slot that was taken.
    Continue(Option<u64>),
    /// The guest stopped at `rip`.
    Stop { stop: Stop, rip: u64 },
}

impl Jit {
    /// A translator with the default code arena ([`DEFAULT_CODE_BYTES`]).
    pub fn new() -> Result<Jit, TranslateError> {
        Jit::with_code_bytes(DEFAULT_CODE_BYTES)
    }

    /// A translator whose code arena reserves `code_bytes`; when it fills up, translation
    /// fails with [`TranslateError::Full`] until [`Jit::clear`] (as qemu flushes its
    /// translation cache).
    pub fn with_code_bytes(code_bytes: usize) -> Result<Jit, TranslateError> {
        let tramp = Trampoline::new(
            offset_of!(JitCtx, host_base) as i32,
            offset_of!(JitCtx, perms) as i32,
            offset_of!(JitCtx, icount) as i32,
        )?;
        let ctx = Box::new(JitCtx {
            exit: tramp.exit,
            ..JitCtx::default()
        });
        let mut table = Vec::with_capacity(2 * JUMP_SLOTS as usize);
        for _ in 0..JUMP_SLOTS {
            table.push(Cell::new(u64::MAX));
            table.push(Cell::new(0));
        }
        Ok(Jit {
            tramp,
            layout: layout(),
            ctx,
            arena: CodeArena::new(code_bytes)?,
            blocks: Vec::new(),
            by_rip: HashMap::new(),
            table: table.into_boxed_slice(),
        })
    }

    /// The host entry of the translation of the block at `rip`.
    #[inline]
    pub fn entry(&self, rip: u64) -> Option<u64> {
        let slot = (rip & (JUMP_SLOTS - 1)) as usize;
        if self.table[2 * slot].get() == rip {
            return Some(self.table[2 * slot + 1].get());
        }
        self.by_rip.get(&rip).copied()
    }

    /// Translates `block`; its `insns` must stay where they are (the code calls the
    /// interpreter's handlers with pointers into them) until [`Jit::clear`].
    pub fn translate(&mut self, block: &Block, mem: &mut Memory) -> Result<u64, TranslateError> {
        let slots = Box::new([
            Cell::new(self.tramp.continue_exit),
            Cell::new(self.tramp.continue_exit),
        ]);
        let addrs = Addrs {
            mem_read: runtime::mem_read as *const () as u64,
            mem_write: runtime::mem_write as *const () as u64,
            run_insn: runtime::run_insn as *const () as u64,
            cond: runtime::cond as *const () as u64,
            jump_table: self.table.as_ptr() as u64,
            slots: slots.as_ptr() as u64,
            exit_id_base: (self.blocks.len() * MAX_EXITS) as u64,
        };
        // Successors are decoded (not run) to see whether they overwrite the flags first.
        let kill = |mem: &mut Memory, at: u64| {
            crate::decode::decode_block(mem, at).is_some_and(|b| emit::kills_flags(&b.insns))
        };
        let successors_kill_flags = emit::alu_jcc_tail(block)
            .is_some_and(|(fall, target)| kill(mem, fall) && kill(mem, target));
        let (bytes, stubs) = emit::translate(block, &self.layout, &addrs, successors_kill_flags)?;
        // No translated code runs while the dispatcher translates, as `append` requires.
        let entry = match self.arena.append(&bytes, BLOCK_ALIGN) {
            Ok(addr) => addr as u64,
            Err(jitkit_x86::LoadError::ArenaFull { capacity }) => {
                return Err(TranslateError::Full(capacity))
            }
            Err(e) => return Err(e.into()),
        };
        for (slot, stub) in slots.iter().zip(stubs) {
            slot.set(entry + stub as u64);
        }
        self.blocks.push(slots);
        self.by_rip.insert(block.start, entry);
        let slot = (block.start & (JUMP_SLOTS - 1)) as usize;
        self.table[2 * slot].set(block.start);
        self.table[2 * slot + 1].set(entry);
        Ok(entry)
    }

    /// Translates `block` without making it reachable from other translations or from
    /// [`Jit::entry`]: only the returned entry runs it, once per [`Jit::run`] (the
    /// instruction-level differential tests run single instructions this way).
    pub fn translate_isolated(
        &mut self,
        block: &Block,
        mem: &mut Memory,
    ) -> Result<u64, TranslateError> {
        let entry = self.translate(block, mem)?;
        self.by_rip.remove(&block.start);
        let slot = (block.start & (JUMP_SLOTS - 1)) as usize;
        self.table[2 * slot].set(u64::MAX);
        Ok(entry)
    }

    /// Points chain slot `id` (from [`Exit::Continue`]) at `entry`.
    pub fn link(&mut self, id: u64, entry: u64) {
        let n = (id - 1) as usize;
        if let Some(slots) = self.blocks.get(n / MAX_EXITS) {
            slots[n % MAX_EXITS].set(entry);
        }
    }

    /// Forgets every translation (decoded code changed, or a new program was loaded).
    pub fn clear(&mut self) {
        self.blocks.clear();
        // Failing to revoke the pages would leave the old code mapped but unreachable: every
        // way into it (chain slots, jump cache, `by_rip`) is reset here.
        let _ = self.arena.clear();
        self.by_rip.clear();
        for (n, c) in self.table.iter().enumerate() {
            c.set(if n % 2 == 0 { u64::MAX } else { 0 });
        }
    }

    /// Guest instructions run by translated code since the last call.
    pub fn take_instructions(&mut self) -> u64 {
        std::mem::take(&mut self.ctx.icount)
    }

    /// Runs translated code starting at `entry` (from [`Jit::entry`] or [`Jit::translate`])
    /// until it stops or reaches a block it cannot link to.
    pub fn run(&mut self, m: &mut Machine, entry: u64) -> Exit {
        self.run_for(m, entry, u64::MAX)
    }

    /// As [`Jit::run`], but once `budget` guest instructions have run, the next block exit
    /// leaves to the dispatcher (with [`Exit::Continue`]) instead of following its link: a
    /// time slice that ends between two blocks, never inside one.
    pub fn run_for(&mut self, m: &mut Machine, entry: u64, budget: u64) -> Exit {
        debug_assert!(self.arena.contains(entry as usize));
        let (host_base, perms) = m.mem.raw_layout();
        self.ctx.host_base = host_base as u64;
        self.ctx.perms = perms as u64;
        self.ctx.exit_slot = 0;
        self.ctx.limit = if m.mem.code_written {
            0
        } else {
            self.ctx.icount.saturating_add(budget)
        };
        // SAFETY: `entry` is a translated block's entry in the arena (every entry handed out
        // comes from `translate`, and `clear` empties the arena together with the chain slots
        // and the jump cache entries that could lead to old code); the blocks were emitted for
        // this machine's layout with this trampoline's conventions.
        let code = unsafe { self.tramp.run(m, &mut self.ctx, entry) };
        if code == 0 {
            let id = self.ctx.exit_slot;
            Exit::Continue((id != 0).then_some(id))
        } else {
            Exit::Stop {
                stop: self.ctx.stop,
                rip: self.ctx.stop_rip,
            }
        }
    }

    /// Number of blocks translated.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// How many of `block`'s instructions the translator runs inline (the rest call the
/// interpreter's handlers).
pub fn inline_count(block: &Block) -> usize {
    emit::inline_count(block)
}

#[cfg(test)]
mod tests;
