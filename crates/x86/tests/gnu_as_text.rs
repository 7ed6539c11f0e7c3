//! The text assembler against GNU as: generated programs full of forward and backward branches
//! (relaxation), calls, RIP-relative references and alignment; tricky but valid lines; and a
//! list of lines GNU as rejects, which we must reject too. Each check is one `as` run.

mod support;

use jitkit_testkit::rng::Rng;

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A program of `items` statements with `labels` labels; `spread` scales the filler sizes so
/// that some branches fit in 8 bits and others do not. The same seed gives the same program
/// (testkit's xorshift64), so failures reproduce.
fn random_program(seed: u64, items: usize, labels: usize, spread: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut s = String::from(".intel_syntax noprefix\n.text\n");
    let mut next_label = 0;
    for _ in 0..items {
        let target = rng.below(labels as u64);
        match rng.below(12) {
            0 | 1 if next_label < labels => {
                s.push_str(&format!("L{next_label}:\n"));
                next_label += 1;
            }
            2 | 3 => s.push_str(&format!("    jmp L{target}\n")),
            4 | 5 => {
                let cc = ["e", "ne", "l", "ge", "b", "a", "s", "np"][rng.below(8) as usize];
                s.push_str(&format!("    j{cc} L{target}\n"));
            }
            6 => s.push_str(&format!("    call L{target}\n")),
            7 => s.push_str(&format!("    lea rax, [rip + L{target} + 4]\n")),
            8 => s.push_str(&format!("    .fill {}, 1, 0x90\n", rng.below(spread))),
            9 => s.push_str(&format!("    mov DWORD PTR [rip + L{target}], 0x12345\n")),
            10 if rng.below(4) == 0 => s.push_str(&format!("    .p2align {}\n", rng.below(5))),
            _ => s.push_str("    add rax, 1\n"),
        }
    }
    while next_label < labels {
        s.push_str(&format!("L{next_label}:\n    ret\n"));
        next_label += 1;
    }
    s
}

fn assert_same_text(source: &str, what: &str) {
    let ours = jitkit_x86::assemble(source).unwrap_or_else(|e| panic!("{what}: we reject it: {e}"));
    let theirs = support::gas(source);
    assert!(
        theirs.errors.is_empty(),
        "{what}: as rejects it: {:?}",
        theirs.errors
    );
    let theirs = theirs.text.unwrap();
    let ours = ours.text();
    if ours != theirs.as_slice() {
        let at = ours
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(theirs.len()));
        let from = at.saturating_sub(8);
        panic!(
            "{what}: .text differs at offset {at:#x} (lengths {} vs {})\nours {}\nas   {}",
            ours.len(),
            theirs.len(),
            hex(&ours[from..(at + 16).min(ours.len())]),
            hex(&theirs[from..(at + 16).min(theirs.len())])
        );
    }
}

#[test]
fn branch_relaxation_matches_gnu_as() {
    // Dense (mostly short), medium (mixed) and sparse (mostly long) branches.
    let programs = [
        (1u64, 3000usize, 300usize, 8u64),
        (2, 3000, 200, 60),
        (3, 1500, 100, 300),
        (4, 3000, 150, 30),
        (5, 2000, 60, 20),
        (6, 3000, 400, 120),
        (7, 1000, 20, 10),
        (8, 4000, 250, 45),
    ];
    let mut all = String::new();
    for (seed, items, labels, spread) in programs {
        let p = random_program(seed, items, labels, spread);
        assert_same_text(&p, &format!("program {seed}"));
        all.push_str(&p);
    }
    assert!(all.matches("jmp").count() > 1000);
}

/// Valid lines exercising the parser: each must give GNU as's bytes.
const VALID: &str = r#"
.intel_syntax noprefix
.text
start:
    mov eax, [rbx+rcx*4+8]
    mov eax, [8+rbx+4*rcx]
    mov eax, DWORD PTR [rbx-0x10]
    mov rax, QWORD PTR 16[rbp]
    mov rax, [rax+rsp]
    mov rax, [rsp]
    mov eax, [0x1000]
    add eax, 'A'
    mov eax, 0x10 + 2*3
    mov eax, -(5)
    mov eax, ~0
    mov eax, 1<<4 | 1
    mov eax, 017
    mov eax, 0b101
    mov eax, 100/7
    mov eax, 100%7
    lock add DWORD PTR [rax], 1
    lock xchg [rdi], ecx
    lock inc QWORD PTR [rdi+8]
    rep stosb
    rep movsq
    nop; nop
    /* a comment */ nop
    shl eax
    sar r9w, cl
    int 3
    int 0x80
    movsx rax, ecx
    movzx eax, BYTE PTR [rdi]
    movzx r8d, WORD PTR [rsi+2]
    mov al, 'z'
    push 1
    push -200
    push QWORD PTR [rip+start]
    lea rdi, start[rip]
    lea rsi, [rip + start + 16]
    jmp start
    call start
    jmp rax
    call QWORD PTR [rax+8]
    ret 8
    mov rax, OFFSET FLAT:start
    mov eax, OFFSET start
    movabs rax, OFFSET start
    movabs rax, 0x1122334455667788
    mov rax, 0x1122334455667788
    mov rax, -1
    xchg rax, r8
    test al, 1
    test rax, rbx
    cmovae rax, [rsi]
    setg BYTE PTR [rdi]
    bt rax, 63
    bts DWORD PTR [rdi], eax
    imul rax, rbx, -3
    imul eax, 1000
    .equ FOUR, 4
    mov eax, FOUR*2
    CONST = 0x100
    add rsp, CONST
    MOV EAX, EBX
    Mov Rax, Qword Ptr [Rsp+8]
    # A size keyword without PTR is its size in bytes (GNU as): QWORD [rdi] is [rdi+8].
    mov rax, QWORD [rdi]
    mov eax, DWORD [rax+8]
    mov eax, DWORD
    mov ecx, BYTE + WORD + XMMWORD
    lea rdx, [rsi + QWORD*2]
    # Segment overrides (TLS, the stack protector) and segment registers.
    mov rax, fs:[0]
    mov rax, QWORD PTR fs:[rax+8]
    mov rax, gs:0x28
    mov rax, QWORD PTR fs:0x28
    sub rdx, QWORD PTR fs:40
    mov eax, fs:8[rax]
    mov eax, ds:[rbp]
    mov eax, ds:[rax]
    mov eax, ss:[rsp+8]
    mov eax, es:[rdi]
    mov rax, fs:start
    movzx eax, BYTE PTR gs:[rax+rcx*2]
    lock add DWORD PTR fs:[eax], 1
    lock add DWORD PTR [rip + start], 1
    lock inc WORD PTR gs:[rip + start + 4]
    mov cs, ax
    mov ds, eax
    mov fs, r8w
    mov ax, cs
    mov rax, gs
    mov r9d, fs
    mov WORD PTR [rax], fs
    mov fs, [rax]
    push fs
    push gs
    pop fs
    pop gs
    # SSE2.
    movsd xmm0, QWORD PTR [rip + start]
    movsd QWORD PTR [rsp+8], xmm15
    movsd
    addsd xmm8, xmm1
    cvtsi2sd xmm0, DWORD PTR [rax]
    cvtsi2sd xmm1, r12
    cvttsd2si eax, xmm3
    movq rax, xmm15
    movq xmm0, QWORD PTR [rax]
    movd xmm2, DWORD PTR fs:[rbx]
    movd ecx, [rax]
    pshufd xmm9, XMMWORD PTR [rax], 0x1b
    pcmpeqd xmm1, xmm0
    pmovmskb edx, xmm2
    psrldq xmm3, 8
    xorpd xmm0, xmm0
    ucomisd xmm0, [rdi]
1:  dec ecx
    jnz 1b
    jmp 1f
    nop
1:  ret
    .byte 1, 2, 0xff, -1
    .word 0x1234, -2
    .long 0x12345678, start
    .quad -1, start
    .ascii "ab\n\t\"\\\x41\101"
    .asciz "z"
    .string "s"
    .fill 3, 2, 0x4142
    .zero 5
    .skip 2, 0xaa
    .balign 16
    .p2align 3
    .align 32
    ret
"#;

#[test]
fn valid_lines_match_gnu_as() {
    assert_same_text(VALID, "valid lines");
}

/// Lines GNU as rejects (each is assembled alone by us, and all together by `as`).
const INVALID: &[&str] = &[
    "mov ah, sil",
    "mov ah, r8b",
    "add ah, BYTE PTR [r8]",
    "movzx r8d, ah",
    "mov [rax], [rbx]",
    "mov eax, rbx",
    "add rax, 0x80000000",
    "push eax",
    "pop eax",
    "lea eax, 5",
    "lea al, [rax]",
    "mov rax, [rsp*2]",
    "mov rax, [rax+rbx*3]",
    "mov rax, [ax]",
    "mov rax, [eax+rbx]",
    "mov rax, [rip+rax]",
    "jmp eax",
    "call ecx",
    "shl eax, dl",
    "shl eax, 256",
    "inc [rax]",
    "xchg [rax], [rbx]",
    "imul al, bl",
    "ret 65536",
    "int 256",
    "frobnicate eax",
    "mov eax",
    "mov eax, ebx, ecx",
    "mov eax,",
    ".align 3",
    ".rodata",
    "mov eax, ebx]",
    "mov eax, [ebx",
    "cmovz al, bl",
    "setz ax",
    "test [rax], 1",
    "movabs eax, 1",
    "bt al, 1",
    "lock mov [rax], eax",
    "lock add eax, 1",
    "mov rax, [rbx-rcx]",
    "mov eax, DWORD PTR eax",
    "push 0xffffffff",
    "mov al, bx",
    "movzx eax, eax",
    "movsxd rax, ax",
    "bswap al",
    "mov eax, 'ab",
    "jmp 1b",
    "add rax, [rbx*3]",
    "mov eax, 08",
    "sub al, ah, al",
    ".quad 1 2",
    "mov QWORD PTR [rax], fs",
    "mov fs, DWORD PTR [rax]",
    "mov fs, ah",
    "mov fs, 1",
    "push cs",
    "pop ds",
    "pop ss",
    "mov rax, [fs:rax]",
    "mov fs:[rax], 1",
    "addsd xmm0, DWORD PTR [rax]",
    "addsd rax, xmm0",
    "addsd xmm0, 1",
    "addsd xmm16, xmm0",
    "movaps xmm0, QWORD PTR [rax]",
    "movq xmm0, eax",
    "movd ecx, rax",
    "pmovmskb eax, [rax]",
    "pmovmskb ax, xmm0",
    "cvtsi2sd xmm0, [rax]",
    "cvtsi2sd xmm0, ax",
    "cvttsd2si eax, DWORD PTR [rax]",
    "pshufd xmm0, xmm1, 256",
    "pshufd xmm0, xmm1",
    "psllq xmm0, 256",
    "psrldq xmm0, xmm1",
];

#[test]
fn invalid_lines_are_rejected_like_gnu_as() {
    let mut accepted_by_us = Vec::new();
    for line in INVALID {
        let src = format!(".intel_syntax noprefix\n{line}\n");
        match jitkit_x86::assemble(&src) {
            Ok(_) => accepted_by_us.push(*line),
            Err(errs) => {
                let e = &errs.0[0];
                assert!(
                    e.line == 2 || e.line == 0,
                    "{line}: error on the wrong line: {errs}"
                );
                assert!(!e.message.is_empty());
            }
        }
    }
    assert!(
        accepted_by_us.is_empty(),
        "we accept lines GNU as rejects: {accepted_by_us:#?}"
    );
    // The list itself is checked against GNU as: every line must be an error there too.
    let source = format!(".intel_syntax noprefix\n{}\n", INVALID.join("\n"));
    let gas = support::gas(&source);
    let accepted_by_as: Vec<&str> = INVALID
        .iter()
        .enumerate()
        .filter(|(i, _)| !gas.errors.contains_key(&(i + 2)))
        .map(|(_, l)| *l)
        .collect();
    assert!(
        accepted_by_as.is_empty(),
        "GNU as accepts lines listed as invalid: {accepted_by_as:#?}"
    );
}

#[test]
fn error_messages_say_where_and_what() {
    let cases: &[(&str, &str)] = &[
        ("mov ah, sil", "2:5: ah cannot be encoded with a REX prefix"),
        ("  frobnicate eax", "2:3: no such instruction: `frobnicate`"),
        ("mov eax, rbx", "2:1: operand size mismatch for `mov`"),
        (
            "inc [rax]",
            "2:1: ambiguous operand size for `inc` (say BYTE/WORD/DWORD/QWORD PTR)",
        ),
        (
            "nop; mov rax, [rax+rbx*3]",
            "2:24: scale factor must be 1, 2, 4 or 8",
        ),
        (".rodata", "2:1: unknown pseudo-op: `.rodata`"),
        ("x: nop; x: nop", "2:9: symbol `x` is already defined"),
        ("jmp nowhere_local_1b", ""),
    ];
    for (line, want) in cases {
        let src = format!(".intel_syntax noprefix\n{line}\n");
        match jitkit_x86::assemble(&src) {
            Ok(_) if want.is_empty() => {}
            Ok(_) => panic!("{line}: accepted"),
            Err(e) => assert_eq!(e.0[0].to_string(), *want, "{line}"),
        }
    }
}

/// Every example program in `examples/asm/` gives GNU as's `.text` bytes (the CLI tests run
/// them against gcc builds).
#[test]
fn examples_match_gnu_as() {
    let dir = jitkit_testkit::repo_root().join("examples/asm");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "s") {
            let source = std::fs::read_to_string(&path).unwrap();
            assert_same_text(&source, &path.display().to_string());
            n += 1;
        }
    }
    assert!(n >= 5, "expected the example programs in {}", dir.display());
}
