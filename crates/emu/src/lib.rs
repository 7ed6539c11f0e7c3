//! A user-mode emulator for x86-64 Linux (and Mach-O) programs: loader, guest memory, CPU state,
//! decoder cache, interpreter and system calls.
//!
//! This crate never prints and never exits; every failure is a typed error.
