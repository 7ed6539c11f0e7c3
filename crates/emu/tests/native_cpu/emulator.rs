//! The emulator's side of the differential tests: a bare machine with one code page and one data
//! page, instruction bytes decoded there, and a [`State`] loaded into its registers.

use jitkit_emu::decode::{decode_block, Block};
use jitkit_emu::machine::Machine;
use jitkit_emu::memory::{R, W, X};

use super::State;

/// Where the instruction bytes go (one read+execute page).
pub const CODE_ADDR: u64 = 0x1000;
/// The data page (read+write): the emulated counterpart of the native test's buffer.
pub const DATA_ADDR: u64 = 0x10000;

/// A machine with nothing but the code and data pages mapped (no program loaded).
pub fn machine() -> Machine {
    let mut m = Machine::unloaded(None).expect("guest memory");
    m.mem.map(CODE_ADDR, 4096, R | X);
    m.mem.map(DATA_ADDR, 4096, R | W);
    m
}

/// Writes `bytes` at [`CODE_ADDR`], forgets what was decoded there before (so that the write is
/// not taken for self-modifying code), and decodes the block that starts there.
pub fn decode_code(m: &mut Machine, bytes: &[u8]) -> Block {
    m.mem.poke(CODE_ADDR, bytes).expect("code");
    m.mem.code_written = false;
    m.mem.clear_code_marks();
    decode_block(&mut m.mem, CODE_ADDR).expect("decode")
}

/// Resets the CPU to `st` (general registers, flags, the eight XMM registers the native runner
/// exchanges) and the start of the data page to `data`. Callers then point the registers that
/// hold addresses (R12, RSI, RDI) into the data page.
pub fn load(m: &mut Machine, st: &State, data: &[u8]) {
    m.cpu = Default::default();
    m.cpu.gpr = st.gpr;
    m.cpu.flags.set(st.flags);
    m.cpu.xmm[..st.xmm.len()].copy_from_slice(&st.xmm);
    m.mem.write_bytes(DATA_ADDR, data).expect("data");
}
