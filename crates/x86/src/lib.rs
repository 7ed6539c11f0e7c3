//! The x86-64 code-generation core shared by every JIT in jitkit: an encoder, an Intel-syntax
//! assembler, labels and relocations, W^X executable memory and calls into host functions.
//!
//! This crate never prints and never exits; every failure is a typed error.
