//! Zero extensions placed where x86 instruction selection folds them (native code, after the
//! -O2 pipeline).
//!
//! instcombine narrows arithmetic to the smallest type its known bits fit in and extends the
//! result where it is used: the offset `X + 26` of `ldb [x + 26]` after `ldx 4*([14]&0xf)`
//! becomes `zext (add nuw i8 %hdrlen, 26) to i64`. Instruction selection works one block at a
//! time; it folds `add` into an address only when it is done in the address's width, so that sum
//! took a register of its own (`add rcx, 0x10; movzx eax, word ptr [rdi+rcx]` in `udp and dst
//! port 53`), and it does not know that a narrow value made in another block is already
//! zero-extended, so extending it there took a `movzx r8d, cl` (the HTTP GET match's second
//! offset, `X + A + 14`; the source document's `ip[2:2] - X`).
//!
//! `extensions.cpp` (compiled by `build.rs`; LLVM 14's C API cannot tell whether an add may
//! wrap) pushes every zero extension to i64 back through the `add nuw`s under it, down to their
//! leaves (`add nuw nsw i64 (zext %hdrlen), 26`: exact, since an add that does not wrap gives
//! the same sum in any wider type), and moves every extension of a value made in another block,
//! leaves included, to right after the value's definition. A switch on a narrow value switches on
//! its extension instead (lowered, a switch compares in several blocks, and `vlan and tcp`
//! extended its EtherType again between two compares). Nothing runs after it that would narrow
//! the sums again.

use inkwell::module::Module;
use llvm_sys::prelude::LLVMModuleRef;

extern "C" {
    fn jitkit_place_extensions(module: LLVMModuleRef) -> u32;
}

/// Rewrites the zero extensions of `module` (see the module documentation); returns how many it
/// rewrote or moved.
pub fn apply(module: &Module<'_>) -> u32 {
    // SAFETY: `module` is a live module whose context only this thread uses; the function
    // rewrites instructions inside it and keeps no pointer to it.
    unsafe { jitkit_place_extensions(module.as_mut_ptr()) }
}

#[cfg(test)]
mod tests {
    /// (what, function body, lines the rewritten function holds): `f(i8* %p, i64 %len)`.
    const CASES: &[(&str, &str, &[&str])] = &[
        (
            "a narrow sum and its extension become a 64-bit sum of the extended leaf",
            "%b = load i8, i8* %p, align 1
             %x = and i8 %b, 60
             %n = add nuw nsw i8 %x, 26
             %off = zext i8 %n to i64
             %q = getelementptr inbounds i8, i8* %p, i64 %off
             %v = load i8, i8* %q, align 1
             %r = zext i8 %v to i32
             ret i32 %r",
            &[
                "%x = and i8 %b, 60\n  %x.wide = zext i8 %x to i64",
                "%n.wide = add nuw nsw i64 %x.wide, 26",
                "getelementptr inbounds i8, i8* %p, i64 %n.wide",
            ],
        ),
        (
            "nested sums, a shared leaf extended once, the narrow sums deleted",
            "%b = load i8, i8* %p, align 1
             %x = and i8 %b, 60
             %c = load i8, i8* %p, align 1
             %a = lshr i8 %c, 2
             %s = add nuw nsw i8 %a, %x
             %n = add nuw i8 %s, 14
             %off = zext i8 %n to i64
             %end = add nuw nsw i64 %off, 4
             %n2 = add nuw i8 %x, 1
             %off2 = zext i8 %n2 to i64
             %sum = add i64 %end, %off2
             %t = trunc i64 %sum to i32
             ret i32 %t",
            &[
                "%s.wide = add nuw nsw i64 %a.wide, %x.wide",
                "%n.wide = add nuw nsw i64 %s.wide, 14",
                "%end = add nuw nsw i64 %n.wide, 4",
                "%n2.wide = add nuw nsw i64 %x.wide, 1",
            ],
        ),
        (
            "an extension of a value made in another block moves to its definition",
            "%b = load i8, i8* %p, align 1
             %x = and i8 %b, 60
             br label %next
             next:
             %w = zext i8 %x to i32
             ret i32 %w",
            &["%x = and i8 %b, 60\n  %w = zext i8 %x to i32\n  br label %next"],
        ),
        (
            "a switch on a 16-bit field switches on its extension",
            "%pw = bitcast i8* %p to i16*
             %e = load i16, i16* %pw, align 1
             switch i16 %e, label %no [ i16 129, label %yes
                                        i16 -22392, label %yes ]
             yes:
             ret i32 1
             no:
             ret i32 0",
            &[
                "%e.wide = zext i16 %e to i32",
                "switch i32 %e.wide, label %no [\n    i32 129, label %yes\n    i32 43144, label %yes",
            ],
        ),
    ];

    /// Left alone: a sum that may wrap, an extension to i32 in the block of its operand.
    const UNCHANGED: &[&str] = &[
        "%b = load i8, i8* %p, align 1
         %n = add i8 %b, 26
         %off = zext i8 %n to i64
         %t = trunc i64 %off to i32
         ret i32 %t",
        "%b = load i8, i8* %p, align 1
         %n = add nuw i8 %b, 26
         %w = zext i8 %n to i32
         ret i32 %w",
    ];

    fn rewritten(body: &str) -> (u32, String) {
        let ir = format!("define i32 @f(i8* %p, i64 %len) {{\nentry:\n{body}\n}}");
        crate::rewrite_tests::rewritten(&ir, super::apply)
    }

    #[test]
    fn extensions_move_to_where_they_are_free() {
        for (what, body, expected) in CASES {
            let (count, text) = rewritten(body);
            assert!(count > 0, "{what}: nothing rewritten");
            for line in *expected {
                assert!(text.contains(line), "{what}: no `{line}` in\n{text}");
            }
            assert!(!text.contains("zext i8 %n to"), "{what}: {text}");
            assert!(
                !text.contains("%n = "),
                "{what}: the narrow sum is left:\n{text}"
            );
        }
    }

    #[test]
    fn other_extensions_are_left_alone() {
        for body in UNCHANGED {
            let (count, text) = rewritten(body);
            assert_eq!(count, 0, "{text}");
        }
    }
}
