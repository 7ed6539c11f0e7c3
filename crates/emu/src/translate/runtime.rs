//! The unsafe half of the translator: the context block generated code reads, the helpers it
//! calls (slow-path memory accesses, the interpreter's handlers, condition evaluation), and the
//! trampoline that enters generated code from Rust.
//!
//! The trampoline saves the host's callee-saved registers, loads the fixed registers of the
//! generated code's convention (see `emit.rs`) and jumps to a block; blocks jump to one another
//! through chain slots and the jump cache, and finally to the trampoline's exit, which restores
//! the registers and returns the exit code (0: continue at the guest RIP, 1: stopped, the
//! reason in `JitCtx::stop`).

use jitkit_x86::{Assembler, ExecutableMemory, Mem, Reg, Size};

use crate::decode::Insn;
use crate::machine::{Machine, Stop};

/// What generated code shares with the dispatcher; `r12` points at it.
#[repr(C)]
pub struct JitCtx {
    /// The trampoline's exit (generated code leaves with `jmp [r12]`).
    pub exit: u64,
    /// Guest instructions executed (each block adds its length on entry; a stop subtracts
    /// the instructions it did not run).
    pub icount: u64,
    /// Every block exit leaves for the dispatcher instead of following a link once `icount`
    /// reaches this: the end of a guest thread's time slice (`u64::MAX` while only one thread
    /// exists), or 0 once a helper saw `Memory::code_written` (decoded code was written, so
    /// the chain must end at this block's end, where the interpreter would notice it).
    pub limit: u64,
    /// Which direct exit was taken last (`exit_id_base + n + 1`; 0 after a dynamic exit).
    pub exit_slot: u64,
    /// The address of the instruction that stopped.
    pub stop_rip: u64,
    /// Host address of guest address 0.
    pub host_base: u64,
    /// The permission table.
    pub perms: u64,
    /// Why execution stopped (set by the helpers; never touched by generated code).
    pub stop: Stop,
}

impl Default for JitCtx {
    fn default() -> Self {
        JitCtx {
            exit: 0,
            icount: 0,
            limit: u64::MAX,
            exit_slot: 0,
            stop_rip: 0,
            host_base: 0,
            perms: 0,
            stop: Stop::Illegal,
        }
    }
}

/// A read's value and whether it failed (returned in rax:rdx by the System V ABI).
#[repr(C)]
pub struct ReadResult {
    value: u64,
    failed: u64,
}

/// The slow path of a guest load: the interpreter's checked read.
pub extern "C" fn mem_read(m: *mut Machine, ctx: *mut JitCtx, addr: u64, size: u64) -> ReadResult {
    // SAFETY: generated code passes on the pointers `Trampoline::run` was given from live
    // exclusive borrows; no Rust reference to either exists while generated code runs.
    let (m, ctx) = unsafe { (&mut *m, &mut *ctx) };
    match m.mem.read_sized(addr, size as u8) {
        Ok(value) => ReadResult { value, failed: 0 },
        Err(f) => {
            ctx.stop = f.into();
            ReadResult {
                value: 0,
                failed: 1,
            }
        }
    }
}

/// The slow path of a guest store (unaligned across pages, or a page holding decoded code:
/// `Memory` then sets `code_written`, which every block exit checks).
pub extern "C" fn mem_write(
    m: *mut Machine,
    ctx: *mut JitCtx,
    addr: u64,
    size: u64,
    value: u64,
) -> u64 {
    // SAFETY: as in `mem_read`.
    let (m, ctx) = unsafe { (&mut *m, &mut *ctx) };
    match m.mem.write_sized(addr, size as u8, value) {
        Ok(()) => {
            end_chain_if_code_written(m, ctx);
            0
        }
        Err(f) => {
            ctx.stop = f.into();
            1
        }
    }
}

/// Runs one instruction through the interpreter's handler.
pub extern "C" fn run_insn(m: *mut Machine, ctx: *mut JitCtx, insn: *const Insn) -> u64 {
    // SAFETY: as in `mem_read`; `insn` points into a decoded block that the dispatcher keeps
    // alive as long as the translation that embeds the pointer.
    let (m, ctx, insn) = unsafe { (&mut *m, &mut *ctx, &*insn) };
    let result = (insn.handler)(m, insn);
    // A store, a string instruction or a system call (read, mmap, mprotect...) may have
    // changed decoded code.
    end_chain_if_code_written(m, ctx);
    match result {
        Ok(()) => 0,
        Err(stop) => {
            ctx.stop = stop;
            1
        }
    }
}

/// The helpers are the only way translated code writes to a page holding decoded code (the
/// inline store path requires a page without the `CODE` bit), so checking here is enough for
/// every block exit to see the write through `JitCtx::limit`.
#[inline(always)]
fn end_chain_if_code_written(m: &Machine, ctx: &mut JitCtx) {
    if m.mem.code_written {
        ctx.limit = 0;
    }
}

/// Evaluates condition `cc` on the lazy flags (when the translator does not know what set them).
pub extern "C" fn cond(m: *const Machine, cc: u64) -> u64 {
    // SAFETY: as in `mem_read` (read-only use).
    let m = unsafe { &*m };
    u64::from(m.cpu.flags.cond(cc as u8))
}

type Enter = extern "C" fn(*mut Machine, *mut JitCtx, u64) -> u64;

/// The entry and exit code shared by all translated blocks.
pub struct Trampoline {
    mem: ExecutableMemory,
    enter: Enter,
    /// Where blocks jump to leave (exit code in eax).
    pub exit: u64,
    /// Leaves with exit code 0 (the initial target of every chain slot).
    pub continue_exit: u64,
}

const SAVED: [u8; 6] = [3, 5, 12, 13, 14, 15]; // rbx, rbp, r12..r15

impl Trampoline {
    pub fn new(
        ctx_host_base: i32,
        ctx_perms: i32,
        ctx_icount: i32,
    ) -> Result<Trampoline, super::TranslateError> {
        let q = |n: u8| Reg::from_num(n, Size::Qword);
        let mut a = Assembler::new();
        // enter(machine = rdi, ctx = rsi, entry = rdx)
        for r in SAVED {
            a.push(q(r));
        }
        // Six pushes after the call's return address: rsp is 8 mod 16; make it 0.
        a.sub(q(4), 8);
        a.mov(q(15), q(7));
        a.mov(q(12), q(6));
        a.mov(
            q(14),
            Mem::base_disp(q(12), ctx_host_base).sized(Size::Qword),
        );
        a.mov(q(13), Mem::base_disp(q(12), ctx_perms).sized(Size::Qword));
        a.mov(q(5), Mem::base_disp(q(12), ctx_icount).sized(Size::Qword));
        a.jmp(q(2));
        let exit = a.label_here();
        a.mov(Mem::base_disp(q(12), ctx_icount).sized(Size::Qword), q(5));
        a.add(q(4), 8);
        for r in SAVED.iter().rev() {
            a.pop(q(*r));
        }
        a.ret();
        let cont = a.label_here();
        a.xor(Reg::from_num(0, Size::Dword), Reg::from_num(0, Size::Dword));
        a.jmp(exit);
        let code = a.finish()?;
        let exit_off = code.label_offset(exit).unwrap_or(0);
        let cont_off = code.label_offset(cont).unwrap_or(0);
        let mem = ExecutableMemory::new(code.bytes())?;
        // SAFETY: offset 0 is `enter` above, a System V function of exactly this signature
        // (callee-saved registers restored, stack balanced on every way out through `exit`).
        let enter = unsafe { mem.function::<Enter>(0) }?.get();
        let base = mem.addr() as u64;
        Ok(Trampoline {
            enter,
            exit: base + exit_off as u64,
            continue_exit: base + cont_off as u64,
            mem,
        })
    }

    /// Runs generated code from `entry` until it leaves; returns the exit code.
    ///
    /// # Safety
    /// `entry` must be the entry of a live translated block built with this trampoline's
    /// conventions for this machine's layout, and every block reachable from it (chain slots,
    /// jump cache) must be live too; `ctx.exit` must be `self.exit`.
    pub unsafe fn run(&self, m: &mut Machine, ctx: &mut JitCtx, entry: u64) -> u64 {
        debug_assert!(ctx.exit == self.exit && !self.mem.is_empty());
        (self.enter)(m, ctx, entry)
    }
}
