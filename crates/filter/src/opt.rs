//! The optimizer (placeholder: returns the graph unchanged).

use crate::graph::{Graph, NodeId};

pub fn optimize(_g: &mut Graph, root: NodeId) -> NodeId {
    root
}
