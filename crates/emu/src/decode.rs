//! Decoding guest code into blocks of pre-digested instructions, cached by start address.
//!
//! iced-x86 does the decoding; each instruction is then reduced to an [`Insn`]: the handler that
//! executes it (chosen once, here, not per execution), its operands in a compact form and the
//! address of the next instruction. A block ends at the first control transfer or system call, so
//! the executor only looks up a block when RIP changes non-sequentially. A translator can replace
//! the interpreter block by block: a block is the unit it would compile.

use iced_x86::{Code, Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

use crate::interp::{self, Handler};
use crate::machine::Machine;
use crate::memory::Memory;

/// No register (in [`MemOperand`] base/index).
pub const NO_REG: u8 = 0xff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opnd {
    None,
    /// A general register by number (0 = RAX ... 15 = R15), accessed at the operand's size.
    Gpr(u8),
    /// AH, CH, DH or BH: bits 8..16 of register 0..3.
    GprHi(u8),
    Mem,
    Imm(u64),
    Xmm(u8),
    St(u8),
    /// Implicit or unusual operands the handler knows about itself (string operands, segments).
    Other,
}

#[derive(Clone, Copy, Debug)]
pub struct MemOperand {
    pub base: u8,
    pub index: u8,
    pub scale_shift: u8,
    /// 0 none, 1 FS, 2 GS.
    pub seg: u8,
    pub addr32: bool,
    /// Displacement; for RIP-relative operands the absolute address.
    pub disp: u64,
}

#[derive(Clone, Copy)]
pub struct Insn {
    pub handler: Handler,
    pub op: [Opnd; 3],
    /// Size in bytes of each operand.
    pub size: [u8; 3],
    pub mem: MemOperand,
    pub next_rip: u64,
    pub len: u8,
    /// 0 none, 1 REP/REPE, 2 REPNE.
    pub rep: u8,
    /// Condition code (jcc, setcc, cmovcc), 0..15 in the opcode's encoding.
    pub cc: u8,
    /// A read-modify-write of memory that must be atomic: a LOCK prefix, or `xchg` with a
    /// memory operand (locked without the prefix). Guest threads take turns, so this matters
    /// only for memory shared with other processes (`interp::atomic` does it with host atomics).
    pub lock: bool,
    pub code: Code,
    pub mnemonic: Mnemonic,
    /// False when the handler is `interp::illegal` (not implemented or invalid).
    pub implemented: bool,
}

impl Insn {
    pub fn addr(&self) -> u64 {
        self.next_rip - u64::from(self.len)
    }
}

pub struct Block {
    pub start: u64,
    pub insns: Box<[Insn]>,
    /// Times the interpreter ran this block (the translator takes hot blocks).
    pub hits: u32,
}

const MAX_BLOCK: usize = 128;

/// The instruction families whose sixteen mnemonics differ only in their condition code
/// ([`Insn::cc`]), so that one interpreter handler and one translation serve each family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondFamily {
    Jcc,
    Setcc,
    Cmovcc,
}

/// The conditional family of `mnemonic`, if it has one (`jrcxz`, `loopcc` and the x87
/// `fcmovcc` are not among them: they test other things than the flags' conditions).
pub fn cond_family(mnemonic: Mnemonic) -> Option<CondFamily> {
    use Mnemonic as M;
    match mnemonic {
        M::Je
        | M::Jne
        | M::Ja
        | M::Jae
        | M::Jb
        | M::Jbe
        | M::Jg
        | M::Jge
        | M::Jl
        | M::Jle
        | M::Jo
        | M::Jno
        | M::Jp
        | M::Jnp
        | M::Js
        | M::Jns => Some(CondFamily::Jcc),
        M::Sete
        | M::Setne
        | M::Seta
        | M::Setae
        | M::Setb
        | M::Setbe
        | M::Setg
        | M::Setge
        | M::Setl
        | M::Setle
        | M::Seto
        | M::Setno
        | M::Setp
        | M::Setnp
        | M::Sets
        | M::Setns => Some(CondFamily::Setcc),
        M::Cmove
        | M::Cmovne
        | M::Cmova
        | M::Cmovae
        | M::Cmovb
        | M::Cmovbe
        | M::Cmovg
        | M::Cmovge
        | M::Cmovl
        | M::Cmovle
        | M::Cmovo
        | M::Cmovno
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovs
        | M::Cmovns => Some(CondFamily::Cmovcc),
        _ => None,
    }
}

fn operand(ins: &Instruction, n: u32) -> (Opnd, u8) {
    match ins.op_kind(n) {
        OpKind::Register => reg_operand(ins.op_register(n)),
        OpKind::Memory => {
            let size = ins.memory_size().size() as u8;
            (Opnd::Mem, size)
        }
        OpKind::Immediate8
        | OpKind::Immediate8_2nd
        | OpKind::Immediate16
        | OpKind::Immediate32
        | OpKind::Immediate64
        | OpKind::Immediate8to16
        | OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32to64 => (Opnd::Imm(ins.immediate(n)), 0),
        OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16 => {
            (Opnd::Imm(ins.near_branch_target()), 8)
        }
        // String operands ([rsi], [rdi]): the handler knows them; keep the element size.
        _ => (Opnd::Other, ins.memory_size().size() as u8),
    }
}

pub fn reg_operand(r: Register) -> (Opnd, u8) {
    let size = r.size() as u8;
    if r.is_gpr() {
        if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) {
            return (Opnd::GprHi(r as u8 - Register::AH as u8), 1);
        }
        let n = r.full_register() as u32 - Register::RAX as u32;
        return (Opnd::Gpr(n as u8), size);
    }
    if r.is_xmm() {
        return (Opnd::Xmm((r as u32 - Register::XMM0 as u32) as u8), 16);
    }
    if (Register::ST0..=Register::ST7).contains(&r) {
        return (Opnd::St((r as u32 - Register::ST0 as u32) as u8), 10);
    }
    (Opnd::Other, size)
}

fn gpr_number(r: Register) -> u8 {
    if r == Register::None || !r.is_gpr() {
        NO_REG
    } else {
        (r.full_register() as u32 - Register::RAX as u32) as u8
    }
}

/// Reduces one decoded instruction to an [`Insn`].
pub fn digest(ins: &Instruction) -> Insn {
    let mut op = [Opnd::None; 3];
    let mut size = [0u8; 3];
    let count = ins.op_count().min(3);
    for n in 0..count {
        let (o, s) = operand(ins, n);
        op[n as usize] = o;
        size[n as usize] = s;
    }
    // Immediates take the size of the first operand (they are already sign-extended to it).
    let dst_size = if size[0] == 0 { 8 } else { size[0] };
    for n in 0..3 {
        if let Opnd::Imm(v) = op[n] {
            if size[n] == 0 {
                size[n] = dst_size;
                op[n] = Opnd::Imm(v & crate::flags::mask(dst_size.min(8)));
            }
        }
    }
    let base = ins.memory_base();
    let (base_reg, disp) = if base == Register::RIP || base == Register::EIP {
        (NO_REG, ins.memory_displacement64())
    } else {
        (gpr_number(base), ins.memory_displacement64())
    };
    let seg = match ins.segment_prefix() {
        Register::FS => 1,
        Register::GS => 2,
        _ => 0,
    };
    let mem = MemOperand {
        base: base_reg,
        index: gpr_number(ins.memory_index()),
        scale_shift: ins.memory_index_scale().trailing_zeros() as u8,
        seg,
        addr32: matches!(ins.memory_base().size(), 4) || matches!(ins.memory_index().size(), 4),
        disp,
    };
    let rep = if ins.has_rep_prefix() || ins.has_repe_prefix() {
        1
    } else if ins.has_repne_prefix() {
        2
    } else {
        0
    };
    let cc = match ins.condition_code() {
        iced_x86::ConditionCode::None => 0,
        c => c as u8 - 1,
    };
    let mut insn = Insn {
        handler: interp::illegal,
        op,
        size,
        mem,
        next_rip: ins.next_ip(),
        len: ins.len() as u8,
        rep,
        cc,
        lock: ins.has_lock_prefix()
            || (ins.mnemonic() == Mnemonic::Xchg && (op[0] == Opnd::Mem || op[1] == Opnd::Mem)),
        code: ins.code(),
        mnemonic: ins.mnemonic(),
        implemented: false,
    };
    if let Some(h) = interp::handler_for(ins, &insn) {
        insn.handler = h;
        insn.implemented = true;
    }
    insn
}

/// Whether the instruction ends a block.
fn ends_block(ins: &Instruction) -> bool {
    use iced_x86::FlowControl as F;
    !matches!(ins.flow_control(), F::Next) || ins.mnemonic() == Mnemonic::Syscall
}

/// Decodes the block starting at `rip`. `None` when the first byte is not executable.
pub fn decode_block(mem: &mut Memory, rip: u64) -> Option<Block> {
    let mut insns = Vec::new();
    let mut pc = rip;
    let mut buf = [0u8; 16];
    loop {
        let n = mem.fetch(pc, &mut buf);
        if n == 0 {
            if insns.is_empty() {
                return None;
            }
            break;
        }
        let mut dec = Decoder::with_ip(64, &buf[..n], pc, DecoderOptions::NONE);
        let ins = dec.decode();
        if ins.is_invalid() {
            // Decoded lazily: the fault is raised only if execution reaches it.
            let mut bad = digest(&ins);
            bad.handler = interp::illegal;
            bad.implemented = false;
            bad.next_rip = pc + 1;
            bad.len = 1;
            insns.push(bad);
            break;
        }
        insns.push(digest(&ins));
        pc = ins.next_ip();
        if ends_block(&ins) || insns.len() >= MAX_BLOCK {
            break;
        }
    }
    mem.mark_code(rip, pc.saturating_sub(rip).max(1));
    Some(Block {
        start: rip,
        insns: insns.into_boxed_slice(),
        hits: 0,
    })
}

/// Blocks by start address, with a small direct-mapped table in front of the hash map.
pub struct BlockCache {
    blocks: Vec<Block>,
    index: std::collections::HashMap<u64, u32>,
    fast: Vec<(u64, u32)>,
}

const FAST_SLOTS: usize = 4096;

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            blocks: Vec::new(),
            index: std::collections::HashMap::new(),
            fast: vec![(u64::MAX, 0); FAST_SLOTS],
        }
    }
}

impl BlockCache {
    #[inline(always)]
    pub fn lookup(&mut self, rip: u64) -> Option<u32> {
        let slot = (rip as usize ^ (rip as usize >> 12)) % FAST_SLOTS;
        let (tag, idx) = self.fast[slot];
        if tag == rip {
            return Some(idx);
        }
        let idx = *self.index.get(&rip)?;
        self.fast[slot] = (rip, idx);
        Some(idx)
    }

    pub fn insert(&mut self, block: Block) -> u32 {
        let idx = self.blocks.len() as u32;
        self.index.insert(block.start, idx);
        self.blocks.push(block);
        idx
    }

    #[inline(always)]
    pub fn get(&self, idx: u32) -> &Block {
        &self.blocks[idx as usize]
    }

    #[inline(always)]
    pub fn get_mut(&mut self, idx: u32) -> &mut Block {
        &mut self.blocks[idx as usize]
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.index.clear();
        self.fast.iter_mut().for_each(|e| *e = (u64::MAX, 0));
    }
}

/// Decodes a block for `m` if needed and returns its index in the cache.
#[inline(always)]
pub fn block_at(cache: &mut BlockCache, m: &mut Machine, rip: u64) -> Option<u32> {
    if let Some(i) = cache.lookup(rip) {
        return Some(i);
    }
    let block = decode_block(&mut m.mem, rip)?;
    Some(cache.insert(block))
}
