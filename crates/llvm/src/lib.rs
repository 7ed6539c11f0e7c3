//! Classic BPF -> LLVM IR -> optimized native code, or eBPF objects through LLVM's BPF backend.
//! Everything that needs LLVM sits behind the cargo feature `llvm` (LLVM 14, linked dynamically).
//!
//! This crate never prints and never exits; every failure is a typed error.
