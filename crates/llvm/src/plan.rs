//! What the translation decides about the whole cBPF program before it builds any IR, so that
//! LLVM starts from less code and finds the fast form with a short pass pipeline:
//!
//! - **Hoisted bounds checks.** A straight-line run (no jump target inside, ending at a jump or
//!   return) checks once, at its first instruction, that the packet holds the bytes of every
//!   constant-offset load in the run (`ld/ldh/ldb [k]`, `ldx 4*([k]&0xf)`); those loads then need
//!   no check of their own. This changes no result: inside a run every instruction that runs
//!   leads to the same end, and a load past the captured length rejects the packet wherever it
//!   happens, as does any other failure on the way (a zero divisor). Loads at `X + k` keep their
//!   own check (X may change inside the run). The direct JIT places its checks the same way.
//! - **Set tests.** A run of `jeq #k` instructions that all jump to the same place when equal and
//!   otherwise fall to the next one (libpcap's code for `host A or host B or ...`, port lists) is
//!   "is A in this set?": its first instruction becomes a range check plus a hashed lookup of one
//!   bucket of four constants and one vector compare (see `buckets`) instead of a branch per
//!   constant. The other instructions of the
//!   run keep their own blocks; when another jump lands inside the run (libpcap's optimizer
//!   shares chain tails between `src` and `dst` tests), the rest of the run from there is a set
//!   test of its own.
//! - **Test chains.** A run of tests that all leave for the same `ret #k` (libpcap's IPv4
//!   header tests: EtherType, protocol, fragment offset, each rejecting when it fails) and
//!   otherwise go on to the next test's straight-line run (constant-offset loads, constant
//!   arithmetic; no other jump lands inside) is decided by one branch: the chain's first test
//!   also loads the later tests' fields and computes their conditions, and leaves if any of
//!   them says so. The later tests then always go on (their runs still set A, their loads
//!   reuse the first ones). Those loads run before the tests that guarded them, so the chain's
//!   first run checks the captured length for them too: only as many bytes as every accepting
//!   path from there needs anyway (its *accepting length*: a shorter packet is rejected
//!   whatever it holds), so no result changes. Each of these tests mispredicts on its own
//!   when packets of different kinds alternate; one combined test mispredicts once.
//! - **Reachable instructions.** Only instructions some path reaches get code (the others' blocks
//!   hold `unreachable`): the members of a set test after its first are reached only from inside
//!   the test (unless another jump lands on them), and the IR passes would spend time on them.

use jitkit_bpf::cbpf::{op, Insn};

use crate::buckets::Buckets;

/// Runs shorter than this stay compare-and-branch sequences (LLVM turns them into a `switch`).
pub const MIN_SET: usize = 4;

/// A run of `jeq #k` that [`Plan::sets`] replaces by one membership test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetTest {
    /// Where control goes when A is one of the constants.
    pub if_member: usize,
    /// Where control goes otherwise (the last `jeq`'s false target).
    pub if_not: usize,
    /// The constants, in program order (duplicates possible).
    pub constants: Vec<u32>,
    /// Where the code looks A up.
    pub buckets: Buckets,
}

/// Tests decided by one branch (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The `ret #k` every test of the chain leaves for.
    pub exit: usize,
    /// The tests, the first one (where the chain is decided) included, and for each whether
    /// it leaves when its condition is true (else when false).
    pub tests: Vec<(usize, bool)>,
}

/// The per-instruction decisions (indexes are instruction indexes).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Bytes the packet must hold, checked when the instruction starts (0: no check there).
    pub hoisted_check: Vec<u64>,
    /// The instruction's constant-offset load is covered by a hoisted check.
    pub covered: Vec<bool>,
    /// The set test that starts at the instruction, if any.
    pub sets: Vec<Option<SetTest>>,
    /// Some path from the first instruction reaches the instruction (set tests taken as one
    /// instruction with two targets).
    pub reachable: Vec<bool>,
    /// The chain decided at the test, if any.
    pub chains: Vec<Option<Chain>>,
    /// A test of a chain after its first: where it always goes (its chain decided it).
    pub decided: Vec<Option<usize>>,
}

impl Plan {
    /// No hoisting and no set tests: every load checks itself, every `jeq` branches (the eBPF
    /// flavor, whose loads the kernel verifier checks one pointer at a time).
    pub fn plain(program: &[Insn]) -> Plan {
        let len = program.len();
        let mut plan = Plan {
            hoisted_check: vec![0; len],
            covered: vec![false; len],
            sets: vec![None; len],
            reachable: Vec::new(),
            chains: vec![None; len],
            decided: vec![None; len],
        };
        plan.find_reachable(program);
        plan
    }

    /// Both decisions for a program that passed `translate::check_structure`.
    pub fn new(program: &[Insn]) -> Plan {
        let mut plan = Plan::plain(program);
        // incoming[i]: jump edges into instruction i (fall-through from a non-jump not counted).
        let mut incoming = vec![0u32; program.len()];
        for (index, insn) in program.iter().enumerate() {
            for target in jump_targets(index, insn) {
                incoming[target] += 1;
            }
        }
        let run_start = plan.hoist_checks(program, &incoming);
        plan.find_sets(program, &incoming);
        plan.find_reachable(program);
        plan.find_chains(program, &incoming, &run_start);
        plan
    }

    fn find_reachable(&mut self, program: &[Insn]) {
        let mut reachable = vec![false; program.len()];
        let mut pending = vec![0];
        while let Some(index) = pending.pop() {
            if std::mem::replace(&mut reachable[index], true) {
                continue;
            }
            let insn = &program[index];
            match &self.sets[index] {
                Some(set) => pending.extend([set.if_member, set.if_not]),
                None if insn.class() == op::JMP => pending.extend(jump_targets(index, insn)),
                None if insn.class() == op::RET => {}
                None => pending.push(index + 1),
            }
        }
        self.reachable = reachable;
    }

    /// Returns where each instruction's straight-line run starts.
    fn hoist_checks(&mut self, program: &[Insn], incoming: &[u32]) -> Vec<usize> {
        let len = program.len();
        let is_target = |i: usize| incoming[i] > 0;
        let mut run_start = vec![0; len];
        let mut start = 0;
        while start < len {
            let mut end = start;
            loop {
                let class = program[end].class();
                if class == op::JMP || class == op::RET || end + 1 == len || is_target(end + 1) {
                    break;
                }
                end += 1;
            }
            let mut need = 0u64;
            for (index, insn) in program.iter().enumerate().take(end + 1).skip(start) {
                if let Some(bytes) = constant_load_end(insn) {
                    need = need.max(bytes);
                    self.covered[index] = true;
                }
            }
            self.hoisted_check[start] = need;
            run_start[start..=end].fill(start);
            start = end + 1;
        }
        run_start
    }

    fn find_chains(&mut self, program: &[Insn], incoming: &[u32], run_start: &[usize]) {
        let accepting = accepting_lengths(program);
        for (head, &start) in run_start.iter().enumerate() {
            if !self.reachable[head] || self.decided[head].is_some() {
                continue;
            }
            let Some((exit, leaves_on_true, mut stay)) = chain_test(program, head) else {
                continue;
            };
            if self.sets[head].is_some() {
                continue;
            }
            let mut tests = vec![(head, leaves_on_true)];
            let mut need = self.hoisted_check[start];
            // The next run: entered only from the previous test, straight-line, speculable,
            // its loads within the head's accepting length, ending in a test leaving for `exit`.
            while incoming[stay] == 1 && stay > head {
                let Some(end) = (stay..program.len()).find(|&i| program[i].class() == op::JMP)
                else {
                    break;
                };
                let body = &program[stay..end];
                if !body.iter().all(speculable) || (stay + 1..=end).any(|i| incoming[i] > 0) {
                    break;
                }
                let run_need = body.iter().filter_map(constant_load_end).max().unwrap_or(0);
                if run_need.max(need) > accepting[start] && run_need > need {
                    break;
                }
                match chain_test(program, end) {
                    Some((e, on_true, next)) if e == exit && self.sets[end].is_none() => {
                        need = need.max(run_need);
                        tests.push((end, on_true));
                        stay = next;
                    }
                    _ => break,
                }
            }
            if tests.len() < 2 {
                continue;
            }
            self.hoisted_check[start] = need;
            for &(test, on_true) in &tests[1..] {
                let insn = &program[test];
                let next = test + 1 + usize::from(if on_true { insn.jf } else { insn.jt });
                self.decided[test] = Some(next);
            }
            self.chains[head] = Some(Chain { exit, tests });
        }
    }

    fn find_sets(&mut self, program: &[Insn], incoming: &[u32]) {
        let is_jeq_k = |i: usize| program[i].code == op::JMP | op::JEQ | op::K;
        let true_target = |i: usize| i + 1 + usize::from(program[i].jt);
        let mut head = 0;
        while head < program.len() {
            if !is_jeq_k(head) {
                head += 1;
                continue;
            }
            let if_member = true_target(head);
            let mut last = head;
            while program[last].jf == 0
                && last + 1 < if_member
                && is_jeq_k(last + 1)
                && true_target(last + 1) == if_member
            {
                last += 1;
            }
            // The head, and every member some other jump lands on (more than the previous
            // member's false edge), starts a test of the rest of the run.
            for start in head..=last {
                let entered_elsewhere = start == head || incoming[start] > 1;
                if entered_elsewhere && last + 1 - start >= MIN_SET {
                    let constants: Vec<u32> = program[start..=last].iter().map(|i| i.k).collect();
                    self.sets[start] = Some(SetTest {
                        if_member,
                        if_not: last + 1 + usize::from(program[last].jf),
                        buckets: Buckets::build(&constants),
                        constants,
                    });
                }
            }
            head = last + 1;
        }
    }
}

/// Where a jump at `index` can go (nothing for other instructions).
fn jump_targets(index: usize, insn: &Insn) -> Vec<usize> {
    if insn.class() != op::JMP {
        return Vec::new();
    }
    let next = index + 1;
    if insn.code == op::JMP | op::JA {
        vec![next + insn.k as usize]
    } else {
        vec![next + usize::from(insn.jt), next + usize::from(insn.jf)]
    }
}

/// For a conditional jump on A against a constant with one side a `ret #k` and the other not:
/// (that return, whether the jump goes there when true, the other side).
fn chain_test(program: &[Insn], index: usize) -> Option<(usize, bool, usize)> {
    let insn = &program[index];
    if insn.class() != op::JMP || insn.code == op::JMP | op::JA || insn.code & op::X != 0 {
        return None;
    }
    let (jt, jf) = (
        index + 1 + usize::from(insn.jt),
        index + 1 + usize::from(insn.jf),
    );
    let is_ret_k = |i: usize| program[i].code == op::RET | op::K;
    match (is_ret_k(jt), is_ret_k(jf)) {
        (true, false) => Some((jt, true, jf)),
        (false, true) => Some((jf, false, jt)),
        _ => None,
    }
}

/// Whether the chain's first test can do `insn` ahead of time: loads at a constant offset,
/// constants, and arithmetic on A that cannot fail (no division; shifts by a constant).
fn speculable(insn: &Insn) -> bool {
    use op::*;
    let code = insn.code;
    code == LD | W | ABS
        || code == LD | H | ABS
        || code == LD | B | ABS
        || code == LD | W | IMM
        || code == ALU | NEG
        || (code & 0x07 == ALU && code & X == 0 && ![DIV, MOD].contains(&(code & 0xf0)))
}

/// For each instruction, its accepting length: the fewest captured bytes with which some path
/// from it returns non-zero (`u64::MAX` when every path returns 0). A path needs every byte its
/// loads read, and a load at `k` or at `X + k` of `size` bytes at least `k + size` of them (X
/// is unsigned). Jumps go forward only, so one backward sweep computes it.
fn accepting_lengths(program: &[Insn]) -> Vec<u64> {
    let mut accepting = vec![u64::MAX; program.len()];
    for index in (0..program.len()).rev() {
        let insn = &program[index];
        accepting[index] = match insn.class() {
            op::RET if insn.code == op::RET | op::K && insn.k == 0 => u64::MAX,
            op::RET => 0,
            op::JMP => jump_targets(index, insn)
                .into_iter()
                .map(|target| accepting[target])
                .min()
                .unwrap_or(u64::MAX),
            _ => {
                let next = accepting[index + 1];
                match load_end_at_least(insn) {
                    Some(bytes) if next != u64::MAX => next.max(bytes),
                    _ => next,
                }
            }
        };
    }
    accepting
}

/// `k + size` for a packet load at `k` or `X + k`: the fewest bytes it can succeed with.
fn load_end_at_least(insn: &Insn) -> Option<u64> {
    let size = match insn.code {
        c if c == op::LD | op::W | op::IND => 4,
        c if c == op::LD | op::H | op::IND => 2,
        c if c == op::LD | op::B | op::IND => 1,
        _ => return constant_load_end(insn),
    };
    Some(u64::from(insn.k) + size)
}

/// `k + size` for a load at a constant offset (`ld/ldh/ldb [k]`, `ldx 4*([k]&0xf)`).
fn constant_load_end(insn: &Insn) -> Option<u64> {
    let size = match insn.code {
        c if c == op::LD | op::W | op::ABS => 4,
        c if c == op::LD | op::H | op::ABS => 2,
        c if c == op::LD | op::B | op::ABS || c == op::LDX | op::B | op::MSH => 1,
        _ => return None,
    };
    Some(u64::from(insn.k) + size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use op::*;

    #[test]
    fn checks_hoist_to_the_start_of_straight_line_runs() {
        // ldh [12]; jeq #0x800 (jt 0, jf 4); ld [26]; st M[0]; ld [30]; jeq X... ; ret; ret
        let program = [
            Insn::stmt(LD | H | ABS, 12),
            Insn::jump(JMP | JEQ | K, 0x800, 0, 5),
            Insn::stmt(LD | W | ABS, 26),
            Insn::stmt(ST, 0),
            Insn::stmt(LDX | B | MSH, 14),
            Insn::stmt(LD | W | ABS, 30),
            Insn::jump(JMP | JEQ | X, 0, 0, 1),
            Insn::stmt(RET | K, 1),
            Insn::stmt(RET | K, 0),
        ];
        let plan = Plan::new(&program);
        assert_eq!(plan.hoisted_check, [14, 0, 34, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            plan.covered,
            [true, false, true, false, true, true, false, false, false]
        );
    }

    #[test]
    fn a_jump_target_starts_a_new_run() {
        // ld [0]; jeq #1 (jt 0, jf 0) -> both to 2; 2: ldb [20] is a target: its own run.
        let program = [
            Insn::stmt(LD | W | ABS, 0),
            Insn::stmt(LD | B | ABS, 8),
            Insn::jump(JMP | JEQ | K, 1, 0, 0),
            Insn::stmt(LD | B | ABS, 20),
            Insn::stmt(JMP | JA, 0),
            Insn::stmt(LD | H | ABS, 40),
            Insn::stmt(RET | A, 0),
        ];
        let plan = Plan::new(&program);
        assert_eq!(plan.hoisted_check, [9, 0, 0, 21, 0, 42, 0]);
    }

    /// libpcap's `ip and tcp[tcpflags] & tcp-syn != 0`.
    fn syn_program() -> Vec<Insn> {
        vec![
            Insn::stmt(LD | H | ABS, 12),
            Insn::jump(JMP | JEQ | K, 0x800, 0, 8),
            Insn::stmt(LD | B | ABS, 23),
            Insn::jump(JMP | JEQ | K, 6, 0, 6),
            Insn::stmt(LD | H | ABS, 20),
            Insn::jump(JMP | JSET | K, 0x1fff, 4, 0),
            Insn::stmt(LDX | B | MSH, 14),
            Insn::stmt(LD | B | IND, 27),
            Insn::jump(JMP | JSET | K, 2, 0, 1),
            Insn::stmt(RET | K, 262144),
            Insn::stmt(RET | K, 0),
        ]
    }

    #[test]
    fn tests_leaving_for_one_return_become_a_chain() {
        let plan = Plan::new(&syn_program());
        // EtherType (leaves when not IPv4), protocol (when not TCP), fragment (when set).
        assert_eq!(
            plan.chains[1],
            Some(Chain {
                exit: 10,
                tests: vec![(1, false), (3, false), (5, true)],
            })
        );
        assert!(plan
            .chains
            .iter()
            .enumerate()
            .all(|(i, c)| (i == 1) == c.is_some()));
        let mut decided = vec![None; 11];
        decided[3] = Some(4);
        decided[5] = Some(6);
        assert_eq!(plan.decided, decided);
        // The first run checks the bytes of the later tests' loads too ([23] and [20]): every
        // accepting path needs 28 ([x + 27]).
        assert_eq!(plan.hoisted_check[0], 24);
    }

    #[test]
    fn chains_stop_where_speculation_or_the_length_would_change_a_result() {
        type Change = fn(&mut Vec<Insn>);
        let cases: &[(&str, Change)] = &[
            ("a jump into the protocol test's run", |p| {
                // A new first test jumps to the protocol test (everything moves down by one).
                p.insert(0, Insn::jump(JMP | JEQ | K, 0x86dd, 3, 0));
            }),
            ("a division in the fragment test's run", |p| {
                p.insert(5, Insn::stmt(ALU | DIV | K, 3));
                p[1].jf += 1;
                p[3].jf += 1;
            }),
            ("a load past what an accepting path needs", |p| {
                // The protocol test's load moves to [100], and the exit accepts: a packet
                // leaving at the EtherType test needs only 14 bytes.
                p[2] = Insn::stmt(LD | B | ABS, 100);
                p[10] = Insn::stmt(RET | K, 1);
            }),
        ];
        for (what, change) in cases {
            let mut program = syn_program();
            change(&mut program);
            let plan = Plan::new(&program);
            assert!(
                plan.chains.iter().flatten().all(|c| c.tests.len() < 3),
                "{what}: {:?}",
                plan.chains
            );
        }
    }

    #[test]
    fn jeq_runs_with_one_true_target_become_set_tests() {
        let mut program = vec![Insn::stmt(LD | W | ABS, 26)];
        // Five jeqs, all true -> accept (index 7), last false -> reject (index 8).
        for (n, k) in [10u32, 20, 30, 40, 50].iter().enumerate() {
            let jt = (6 - (n + 1)) as u8;
            let jf = if n == 4 { 2 } else { 0 };
            program.push(Insn::jump(JMP | JEQ | K, *k, jt, jf));
        }
        program.push(Insn::stmt(RET | K, 7)); // 6: unreachable filler
        program.push(Insn::stmt(RET | K, 1)); // 7: accept
        program.push(Insn::stmt(RET | K, 0)); // 8: reject
        let plan = Plan::new(&program);
        assert_eq!(
            plan.sets[1],
            Some(SetTest {
                if_member: 7,
                if_not: 8,
                constants: vec![10, 20, 30, 40, 50],
                buckets: Buckets::build(&[10, 20, 30, 40, 50]),
            })
        );
        assert!(plan
            .sets
            .iter()
            .enumerate()
            .all(|(i, s)| (i == 1) == s.is_some()));
        // The other members and the filler are reached only through the test's own jeqs.
        assert_eq!(
            plan.reachable,
            [true, true, false, false, false, false, false, true, true]
        );

        // A jump into the run (to the member comparing with 20) starts a test of its rest.
        let mut entered = program.clone();
        entered.insert(0, Insn::jump(JMP | JEQ | K, 99, 2, 0)); // jt -> index 3 (k = 20)
        let plan = Plan::new(&entered);
        let starts: Vec<usize> = (0..entered.len())
            .filter(|&i| plan.sets[i].is_some())
            .collect();
        assert_eq!(starts, [2, 3]);
        assert_eq!(plan.sets[3].as_ref().unwrap().constants, [20, 30, 40, 50]);

        // Three are not enough.
        let short = [
            Insn::jump(JMP | JEQ | K, 1, 3, 0),
            Insn::jump(JMP | JEQ | K, 2, 2, 0),
            Insn::jump(JMP | JEQ | K, 3, 1, 0),
            Insn::stmt(RET | K, 0),
            Insn::stmt(RET | K, 1),
        ];
        assert!(Plan::new(&short).sets.iter().all(Option::is_none));
    }
}
