//! The flow graph: predicates become a DAG of branch nodes, then a linear cBPF program.
//!
//! Building works backwards ("continuation passing"): a predicate is compiled knowing where to go
//! when it is true and when it is false, so `a and b` is `a` jumping to `b` on true, `a or b` is
//! `a` jumping to `b` on false, and `not a` swaps the targets. Successors always exist before
//! their predecessors, so the graph is acyclic and every jump goes forward, as cBPF requires.
//! Identical nodes are shared (hash-consing), which merges common tails for free.
//!
//! Layout orders the nodes (reverse post-order, false branch placed next so it falls through) and
//! encodes jumps; a conditional jump whose target is more than 255 instructions away gets a
//! `ja` trampoline right after it.

use std::collections::HashMap;

use jitkit_bpf::cbpf::{op, Insn};

use crate::pred::{Pred, Test};

pub type NodeId = u32;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// `ret #k`.
    Ret(u32),
    /// `stmts`, then `if A <jump> k goto jt else goto jf`. A `jump` of `JMP|JA` is an
    /// unconditional continuation to `jt` (and `jf == jt`).
    Branch {
        stmts: Vec<Insn>,
        jump: u16,
        k: u32,
        jt: NodeId,
        jf: NodeId,
    },
}

/// An arena of hash-consed nodes.
#[derive(Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    intern: HashMap<Node, NodeId>,
}

/// Leaves of a comparison tree hold up to this many values in a chain of `jeq`s.
const TREE_LEAF: usize = 4;

pub const JA: u16 = op::JMP | op::JA;

impl Graph {
    pub fn new() -> Self {
        Graph::default()
    }

    /// The id of `node`, sharing an existing identical node.
    pub fn mk(&mut self, node: Node) -> NodeId {
        if let Node::Branch {
            stmts,
            jt,
            jf,
            jump,
            ..
        } = &node
        {
            // A jump without statements whose targets agree is no decision at all.
            if stmts.is_empty() && (jt == jf || *jump == JA) {
                return *jt;
            }
        }
        if let Some(&id) = self.intern.get(&node) {
            return id;
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node.clone());
        self.intern.insert(node, id);
        id
    }

    pub fn ret(&mut self, k: u32) -> NodeId {
        self.mk(Node::Ret(k))
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Compiles `pred` to nodes that continue at `t` when it holds and at `f` otherwise.
    pub fn build(&mut self, pred: &Pred, t: NodeId, f: NodeId) -> NodeId {
        match pred {
            Pred::True => t,
            Pred::False => f,
            Pred::Test(Test { stmts, jump, k }) => self.mk(Node::Branch {
                stmts: stmts.clone(),
                jump: *jump,
                k: *k,
                jt: t,
                jf: f,
            }),
            Pred::InSet { stmts, values } => {
                let root = self.tree(values, t, f);
                self.prepend(stmts, root)
            }
            Pred::And(items) => items
                .iter()
                .rev()
                .fold(t, |next, item| self.build(item, next, f)),
            Pred::Or(items) => items
                .iter()
                .rev()
                .fold(f, |next, item| self.build(item, t, next)),
            Pred::Not(p) => self.build(p, f, t),
        }
    }

    /// A balanced comparison tree over sorted `values`: `jge` splits, short `jeq` chains at the
    /// leaves. Assumes A already holds the value.
    fn tree(&mut self, values: &[u32], t: NodeId, f: NodeId) -> NodeId {
        if values.len() <= TREE_LEAF {
            return values.iter().rev().fold(f, |next, &v| {
                self.mk(Node::Branch {
                    stmts: Vec::new(),
                    jump: op::JMP | op::JEQ,
                    k: v,
                    jt: t,
                    jf: next,
                })
            });
        }
        let mid = values.len() / 2;
        let high = self.tree(&values[mid..], t, f);
        let low = self.tree(&values[..mid], t, f);
        self.mk(Node::Branch {
            stmts: Vec::new(),
            jump: op::JMP | op::JGE,
            k: values[mid],
            jt: high,
            jf: low,
        })
    }

    /// `stmts` followed by node `id`.
    pub fn prepend(&mut self, stmts: &[Insn], id: NodeId) -> NodeId {
        if stmts.is_empty() {
            return id;
        }
        match self.node(id).clone() {
            Node::Ret(_) => self.mk(Node::Branch {
                stmts: stmts.to_vec(),
                jump: JA,
                k: 0,
                jt: id,
                jf: id,
            }),
            Node::Branch {
                stmts: s,
                jump,
                k,
                jt,
                jf,
            } => {
                let mut all = stmts.to_vec();
                all.extend(s);
                self.mk(Node::Branch {
                    stmts: all,
                    jump,
                    k,
                    jt,
                    jf,
                })
            }
        }
    }

    /// Node ids reachable from `root` in reverse post-order (a topological order), with each
    /// node's false successor visited last so that it tends to follow its predecessor.
    pub fn order(&self, root: NodeId) -> Vec<NodeId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut post = Vec::with_capacity(self.nodes.len());
        // Iterative DFS: (node, next child index).
        let mut stack: Vec<(NodeId, u8)> = vec![(root, 0)];
        seen[root as usize] = true;
        while let Some(&mut (id, ref mut child)) = stack.last_mut() {
            let succ = match self.node(id) {
                Node::Ret(_) => None,
                Node::Branch { jt, jf, .. } => match *child {
                    0 => Some(*jt),
                    1 => Some(*jf),
                    _ => None,
                },
            };
            *child += 1;
            match succ {
                Some(s) if !seen[s as usize] => {
                    seen[s as usize] = true;
                    stack.push((s, 0));
                }
                Some(_) => {}
                None if *child > 2 || matches!(self.node(id), Node::Ret(_)) => {
                    post.push(id);
                    stack.pop();
                }
                None => {}
            }
        }
        post.reverse();
        post
    }

    /// Lays out the graph from `root` as a cBPF program.
    pub fn emit(&self, root: NodeId) -> Vec<Insn> {
        let order = self.order(root);
        let n = order.len();
        let mut index = vec![usize::MAX; self.nodes.len()];
        for (i, &id) in order.iter().enumerate() {
            index[id as usize] = i;
        }
        // Per laid-out node: whether its true / false target needs a trampoline.
        let mut tramp = vec![(false, false); n];
        let mut pos = vec![0usize; n + 1];
        let next_is = |i: usize, target: NodeId| i + 1 < n && order[i + 1] == target;
        loop {
            for i in 0..n {
                pos[i + 1] = pos[i]
                    + match self.node(order[i]) {
                        Node::Ret(_) => 1,
                        Node::Branch {
                            stmts, jump, jt, ..
                        } => {
                            let jump_len = if *jump == JA {
                                usize::from(!next_is(i, *jt))
                            } else {
                                1 + tramp[i].0 as usize + tramp[i].1 as usize
                            };
                            stmts.len() + jump_len
                        }
                    };
            }
            let mut changed = false;
            for i in 0..n {
                if let Node::Branch {
                    stmts,
                    jump,
                    jt,
                    jf,
                    ..
                } = self.node(order[i])
                {
                    if *jump == JA {
                        continue;
                    }
                    let after = pos[i] + stmts.len() + 1;
                    let far = |target: NodeId| pos[index[target as usize]] - after > 255;
                    if !tramp[i].0 && far(*jt) {
                        tramp[i].0 = true;
                        changed = true;
                    }
                    if !tramp[i].1 && far(*jf) {
                        tramp[i].1 = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut out = Vec::with_capacity(pos[n]);
        for i in 0..n {
            match self.node(order[i]) {
                Node::Ret(k) => out.push(Insn::stmt(op::RET | op::K, *k)),
                Node::Branch {
                    stmts,
                    jump,
                    k,
                    jt,
                    jf,
                } => {
                    out.extend_from_slice(stmts);
                    let target = |id: NodeId| pos[index[id as usize]];
                    if *jump == JA {
                        if !next_is(i, *jt) {
                            let from = out.len() + 1;
                            out.push(Insn::stmt(JA, (target(*jt) - from) as u32));
                        }
                        continue;
                    }
                    let after = out.len() + 1;
                    let (tt, tf) = tramp[i];
                    let jt_off = if tt { 0 } else { target(*jt) - after };
                    let jf_off = if tf { tt as usize } else { target(*jf) - after };
                    out.push(Insn::jump(*jump, *k, jt_off as u8, jf_off as u8));
                    if tt {
                        let from = out.len() + 1;
                        out.push(Insn::stmt(JA, (target(*jt) - from) as u32));
                    }
                    if tf {
                        let from = out.len() + 1;
                        out.push(Insn::stmt(JA, (target(*jf) - from) as u32));
                    }
                }
            }
        }
        out
    }
}
