//! What the JIT decides before it emits a byte: which instructions are reachable, where basic
//! blocks start, which packet bounds checks are needed and where, which registers start at zero,
//! and where each scratch cell lives.
//!
//! Everything here relies on the program being valid (see [`validate`](crate::cbpf::validate)):
//! jumps only go forward and stay inside the program, and the last instruction is `ret`. So
//! program order is a topological order of the control-flow graph and every analysis is one
//! forward pass.
//!
//! ## Bounds checks
//!
//! libpcap rejects the packet (returns 0) at the first load that reaches past the captured bytes.
//! Inside a basic block nothing can branch, and the only ways out before its end also return 0
//! (a failed load, a division by X = 0). So one check of the block's largest absolute need
//! (`k + size`) at its start rejects exactly the packets that one of its loads would reject.
//! A dominating check makes later ones redundant: the captured length known to be available is
//! carried forward along edges (the minimum over a block's predecessors), and a block whose need
//! is already known is not checked at all.
//!
//! Loads at `X + k` are grouped the same way between writes to X: one check of the largest
//! `X + k + size` of the group, placed at its first load (where X has the value all of them use).
//! Sums are computed in 64 bits, so `X + k` never wraps, as libpcap requires.

use super::super::insn::{op, Insn};

/// Where a scratch cell `M[i]` lives in generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cell {
    /// Never used by reachable code.
    Unused,
    /// Kept in a register; the index is into [`super::emit::CELL_REGS`].
    Reg(u8),
    /// Kept in the red zone below the stack pointer, at `[rsp - 4 * (slot + 1)]`.
    Stack(u8),
}

/// A run of `jeq #k` instructions that all jump to the same place when equal and otherwise fall
/// to the next one (libpcap's code for `host A or host B or ...`): "is A in this set?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Chain {
    /// The instructions after the head that the chain replaces (emitted as nothing).
    pub last: usize,
    /// Where control goes when A is one of the constants.
    pub if_member: usize,
    /// Where control goes otherwise (the last `jeq`'s false target).
    pub if_not: usize,
    /// The constants, in program order (duplicates possible).
    pub constants: Vec<u32>,
}

/// Chains shorter than this stay compare-and-branch sequences.
pub(super) const MIN_CHAIN: usize = 4;

/// The analysis results for one program.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// Whether instruction `i` can run at all.
    pub reachable: Vec<bool>,
    /// Whether instruction `i` is a jump target (needs a label).
    pub is_target: Vec<bool>,
    /// Before instruction `i`, check that the packet has at least this many captured bytes.
    pub abs_check: Vec<Option<u64>>,
    /// Before instruction `i` (after any `abs_check`), check that it has at least `X` plus this
    /// many.
    pub ind_check: Vec<Option<u64>>,
    /// A is read before any write on some path: zero it at entry.
    pub init_a: bool,
    /// X is read before any write on some path: zero it at entry.
    pub init_x: bool,
    /// Scratch cells read before a store on some path (the validator forbids it; zeroed anyway).
    pub init_cells: u16,
    /// Where each scratch cell lives.
    pub cells: [Cell; op::MEMWORDS],
    /// Whether the program loads the wire length (`len`).
    pub uses_wire_len: bool,
    /// Set-membership chains, by the index of their first `jeq`.
    pub chains: Vec<Option<Chain>>,
    /// Whether instruction `i` is inside a chain (after its head): it emits no code.
    pub in_chain: Vec<bool>,
}

/// How many bytes an absolute or indexed load reads, if `code` is one.
fn load_size(code: u16) -> Option<u64> {
    use op::*;
    match code {
        c if c == LD | W | ABS || c == LD | W | IND => Some(4),
        c if c == LD | H | ABS || c == LD | H | IND => Some(2),
        c if c == LD | B | ABS || c == LD | B | IND || c == LDX | B | MSH => Some(1),
        _ => None,
    }
}

/// Whether `code` reads packet bytes at `X + k`.
fn is_indexed_load(code: u16) -> bool {
    use op::*;
    code == LD | W | IND || code == LD | H | IND || code == LD | B | IND
}

/// Whether `code` reads packet bytes at the absolute offset `k` (including `ldxb 4*([k]&0xf)`).
fn is_absolute_load(code: u16) -> bool {
    use op::*;
    code == LD | W | ABS || code == LD | H | ABS || code == LD | B | ABS || code == LDX | B | MSH
}

/// Whether `code` writes X.
fn writes_x(code: u16) -> bool {
    code & 0x07 == op::LDX || code == op::MISC | op::TAX
}

/// The instructions control can go to after `insn` at `index` (none for `ret`).
pub(super) fn successors(index: usize, insn: Insn) -> impl Iterator<Item = usize> {
    let next = index + 1;
    let (a, b) = match insn.class() {
        op::RET => (None, None),
        op::JMP if insn.code & 0xf0 == op::JA => (Some(next + insn.k as usize), None),
        op::JMP => (
            Some(next + usize::from(insn.jt)),
            Some(next + usize::from(insn.jf)),
        ),
        _ => (Some(next), None),
    };
    a.into_iter().chain(b)
}

/// State bits for the "written before read" analysis: M[0..16] are bits 0..16.
const BIT_A: u32 = 1 << 16;
const BIT_X: u32 = 1 << 17;
const ALL_BITS: u32 = (1 << 18) - 1;

/// What instruction `insn` reads and writes, as state bits.
fn reads_writes(insn: Insn) -> (u32, u32) {
    use op::*;
    let cell = 1u32 << (insn.k & 0xf);
    let code = insn.code;
    match insn.class() {
        LD => match code & 0xe0 {
            MEM => (cell, BIT_A),
            IND => (BIT_X, BIT_A),
            _ => (0, BIT_A),
        },
        LDX => match code & 0xe0 {
            MEM => (cell, BIT_X),
            _ => (0, BIT_X),
        },
        ST => (BIT_A, cell),
        STX => (BIT_X, cell),
        ALU => {
            let src = if code & 0x08 == X && code & 0xf0 != NEG {
                BIT_X
            } else {
                0
            };
            (BIT_A | src, BIT_A)
        }
        JMP => {
            if code & 0xf0 == JA {
                (0, 0)
            } else if code & 0x08 == X {
                (BIT_A | BIT_X, 0)
            } else {
                (BIT_A, 0)
            }
        }
        RET => {
            if code & 0x18 == A {
                (BIT_A, 0)
            } else {
                (0, 0)
            }
        }
        _ => {
            if code & 0xf8 == TXA {
                (BIT_X, BIT_A)
            } else {
                (BIT_A, BIT_X)
            }
        }
    }
}

impl Plan {
    /// Analyses a valid program (see the module documentation). `cell_regs` is how many scratch
    /// cells can live in registers when the wire length does / does not need its own register.
    pub fn new(program: &[Insn], cell_regs: (usize, usize)) -> Plan {
        let len = program.len();
        let mut reachable = vec![false; len];
        let mut is_target = vec![false; len];
        let mut block_start = vec![false; len];
        reachable[0] = true;
        block_start[0] = true;
        for (index, &insn) in program.iter().enumerate() {
            let is_jump = matches!(insn.class(), op::JMP | op::RET);
            if is_jump && index + 1 < len {
                block_start[index + 1] = true;
            }
            if insn.class() == op::JMP {
                for target in successors(index, insn) {
                    is_target[target] = true;
                    block_start[target] = true;
                }
            }
            if reachable[index] {
                for target in successors(index, insn) {
                    reachable[target] = true;
                }
            }
        }

        let (abs_check, ind_check) = bounds_checks(program, &reachable, &block_start);
        let chains = find_chains(program, &reachable);
        let mut in_chain = vec![false; len];
        for (head, chain) in chains.iter().enumerate() {
            if let Some(chain) = chain {
                for member in head + 1..=chain.last {
                    in_chain[member] = true;
                    // Only the chain's own fall-through edge reached it.
                    is_target[member] = false;
                }
            }
        }
        let (init_a, init_x, init_cells) = uninitialized_reads(program, &reachable);

        // Scratch cells: the most used ones get registers, the rest the red zone.
        let mut uses = [0u32; op::MEMWORDS];
        let mut uses_wire_len = false;
        for (insn, _) in program.iter().zip(&reachable).filter(|(_, &r)| r) {
            let class = insn.class();
            let mode = insn.code & 0xe0;
            if matches!(class, op::ST | op::STX)
                || (matches!(class, op::LD | op::LDX) && mode == op::MEM)
            {
                uses[(insn.k & 0xf) as usize] += 1;
            }
            if matches!(class, op::LD | op::LDX) && mode == op::LEN {
                uses_wire_len = true;
            }
        }
        let registers = if uses_wire_len {
            cell_regs.0
        } else {
            cell_regs.1
        };
        let mut order: Vec<usize> = (0..op::MEMWORDS).filter(|&i| uses[i] > 0).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(uses[i]));
        let mut cells = [Cell::Unused; op::MEMWORDS];
        for (rank, &i) in order.iter().enumerate() {
            cells[i] = if rank < registers {
                Cell::Reg(rank as u8)
            } else {
                Cell::Stack((rank - registers) as u8)
            };
        }

        Plan {
            reachable,
            is_target,
            abs_check,
            ind_check,
            init_a,
            init_x,
            init_cells,
            cells,
            uses_wire_len,
            chains,
            in_chain,
        }
    }
}

fn is_jeq_k(insn: Insn) -> bool {
    insn.code == op::JMP | op::JEQ | op::K
}

/// Finds set-membership chains (see [`Chain`]). A member after the head must be reached only by
/// the previous member's fall-through, so replacing the chain by one test changes nothing else.
fn find_chains(program: &[Insn], reachable: &[bool]) -> Vec<Option<Chain>> {
    let len = program.len();
    let mut incoming = vec![0u32; len];
    for (index, &insn) in program.iter().enumerate() {
        if reachable[index] {
            for target in successors(index, insn) {
                incoming[target] += 1;
            }
        }
    }
    let true_target = |i: usize| i + 1 + usize::from(program[i].jt);
    let mut chains = vec![None; len];
    let mut head = 0;
    while head < len {
        if !reachable[head] || !is_jeq_k(program[head]) {
            head += 1;
            continue;
        }
        let if_member = true_target(head);
        let mut last = head;
        while program[last].jf == 0
            && last + 1 < if_member
            && is_jeq_k(program[last + 1])
            && true_target(last + 1) == if_member
            && incoming[last + 1] == 1
        {
            last += 1;
        }
        if last + 1 - head >= MIN_CHAIN {
            chains[head] = Some(Chain {
                last,
                if_member,
                if_not: last + 1 + usize::from(program[last].jf),
                constants: program[head..=last].iter().map(|i| i.k).collect(),
            });
        }
        head = last + 1;
    }
    chains
}

/// Places bounds checks (see the module documentation).
type Checks = Vec<Option<u64>>;

fn bounds_checks(program: &[Insn], reachable: &[bool], block_start: &[bool]) -> (Checks, Checks) {
    let len = program.len();
    let mut abs_check = vec![None; len];
    let mut ind_check = vec![None; len];
    // known[i]: captured bytes known to be present when control reaches i (None: not reached
    // yet by any edge; the entry knows nothing).
    let mut known: Vec<Option<u64>> = vec![None; len];
    known[0] = Some(0);
    let mut start = 0;
    while start < len {
        let mut end = start + 1;
        while end < len && !block_start[end] {
            end += 1;
        }
        if reachable[start] {
            let block = &program[start..end];
            let known_in = known[start].unwrap_or(0);
            let abs_need = block
                .iter()
                .filter(|i| is_absolute_load(i.code))
                .map(|i| u64::from(i.k) + load_size(i.code).unwrap_or(0))
                .max()
                .unwrap_or(0);
            if abs_need > known_in {
                abs_check[start] = Some(abs_need);
            }
            let mut known_out = known_in.max(abs_need);

            // Indexed loads, grouped between writes to X.
            let mut group: Option<(usize, u64)> = None;
            for (offset, insn) in block.iter().enumerate() {
                if is_indexed_load(insn.code) {
                    let need = u64::from(insn.k) + load_size(insn.code).unwrap_or(0);
                    group = Some(match group {
                        None => (start + offset, need),
                        Some((first, n)) => (first, n.max(need)),
                    });
                }
                if writes_x(insn.code) {
                    if let Some((first, need)) = group.take() {
                        ind_check[first] = Some(need);
                    }
                }
            }
            if let Some((first, need)) = group {
                ind_check[first] = Some(need);
            }
            // A passed `X + need` check also proves `need` bytes (X >= 0).
            for need in ind_check[start..end].iter().flatten() {
                known_out = known_out.max(*need);
            }

            let last = end - 1;
            for target in successors(last, program[last]) {
                if target < len {
                    known[target] = Some(match known[target] {
                        None => known_out,
                        Some(k) => k.min(known_out),
                    });
                }
            }
        }
        start = end;
    }
    (abs_check, ind_check)
}

/// Which of A, X and M[] can be read before being written on some path to the read.
fn uninitialized_reads(program: &[Insn], reachable: &[bool]) -> (bool, bool, u16) {
    let len = program.len();
    // written[i]: bits written on every path to i (ALL_BITS: no edge seen yet).
    let mut written = vec![ALL_BITS; len];
    written[0] = 0;
    let mut needs_init = 0u32;
    for (index, &insn) in program.iter().enumerate() {
        if !reachable[index] {
            continue;
        }
        let (reads, writes) = reads_writes(insn);
        needs_init |= reads & !written[index];
        let out = written[index] | writes;
        for target in successors(index, insn) {
            if target < len {
                written[target] &= out;
            }
        }
    }
    (
        needs_init & BIT_A != 0,
        needs_init & BIT_X != 0,
        (needs_init & 0xffff) as u16,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbpf::text;

    /// (instruction index, bytes needed) for each check.
    type CheckList = Vec<(usize, u64)>;

    fn checks(listing: &str) -> (CheckList, CheckList) {
        let program = text::parse(listing).unwrap();
        let plan = Plan::new(&program, (3, 4));
        let list = |v: &[Option<u64>]| {
            v.iter()
                .enumerate()
                .filter_map(|(i, n)| n.map(|n| (i, n)))
                .collect()
        };
        (list(&plan.abs_check), list(&plan.ind_check))
    }

    /// `tcpdump -d 'tcp port 80'`: one check per block that needs more than its dominators
    /// already proved; `ldh [20]` at 11 is covered by `ldb [23]` at 9, `ldxb [14]` at 13 too.
    #[test]
    fn tcp_port_80_checks() {
        let program = "(000) ldh      [12]
(001) jeq      #0x86dd          jt 2	jf 8
(002) ldb      [20]
(003) jeq      #0x6             jt 4	jf 19
(004) ldh      [54]
(005) jeq      #0x50            jt 18	jf 6
(006) ldh      [56]
(007) jeq      #0x50            jt 18	jf 19
(008) jeq      #0x800           jt 9	jf 19
(009) ldb      [23]
(010) jeq      #0x6             jt 11	jf 19
(011) ldh      [20]
(012) jset     #0x1fff          jt 19	jf 13
(013) ldxb     4*([14]&0xf)
(014) ldh      [x + 14]
(015) jeq      #0x50            jt 18	jf 16
(016) ldh      [x + 16]
(017) jeq      #0x50            jt 18	jf 19
(018) ret      #262144
(019) ret      #0
";
        let (abs, ind) = checks(program);
        assert_eq!(abs, [(0, 14), (2, 21), (4, 56), (6, 58), (9, 24)]);
        assert_eq!(ind, [(14, 16), (16, 18)]);
    }

    /// Two paths join: the join knows only what both paths proved (the minimum).
    #[test]
    fn joins_take_the_minimum() {
        let program = "(000) ldb      [0]
(001) jeq      #1               jt 2	jf 4
(002) ld       [30]
(003) ja       5
(004) ldh      [10]
(005) ldb      [20]
(006) ret      #1
";
        let (abs, ind) = checks(program);
        // Path 2 proves 34, path 4 only 12: instruction 5 still needs its own check.
        assert_eq!(abs, [(0, 1), (2, 34), (4, 12), (5, 21)]);
        assert!(ind.is_empty());
    }

    /// Indexed loads share a check until X changes; `tax` starts a new group.
    #[test]
    fn indexed_groups_end_at_writes_to_x() {
        let program = "(000) ldx      #3
(001) ldb      [x + 1]
(002) ld       [x + 8]
(003) tax
(004) ldh      [x + 0]
(005) ret      #1
";
        let (abs, ind) = checks(program);
        assert!(abs.is_empty());
        assert_eq!(ind, [(1, 12), (4, 2)]);
    }

    #[test]
    fn unreachable_code_and_initialization() {
        let program = "(000) jeq      #0               jt 1	jf 1
(001) ret
(002) ld       [1000]
(003) ret      #1
";
        let program = text::parse(program).unwrap();
        let plan = Plan::new(&program, (3, 4));
        assert_eq!(plan.reachable, [true, true, false, false]);
        assert!(plan.abs_check.iter().all(Option::is_none));
        assert!(plan.init_a && !plan.init_x && plan.init_cells == 0);
    }

    #[test]
    fn busiest_cells_get_registers() {
        let program = "(000) ld       #pktlen
(001) st       M[5]
(002) st       M[1]
(003) st       M[1]
(004) st       M[2]
(005) st       M[2]
(006) st       M[2]
(007) st       M[9]
(008) ret      #1
";
        let program = text::parse(program).unwrap();
        let plan = Plan::new(&program, (2, 3));
        assert!(plan.uses_wire_len);
        assert_eq!(plan.cells[2], Cell::Reg(0));
        assert_eq!(plan.cells[1], Cell::Reg(1));
        assert!(matches!(plan.cells[5], Cell::Stack(_)));
        assert!(matches!(plan.cells[9], Cell::Stack(_)));
        assert_eq!(plan.cells[0], Cell::Unused);
    }
}
