# A table in .data: sums and doubles it in place (the section is writable), then calls through
# a table of function pointers (.quad with label addresses, relocated at load time).
.intel_syntax noprefix

.data
        .align 8
table:  .quad 3, 1, 4, 1, 5, 9, 2, 6
count:  .long 8
ops:    .quad op_add, op_mul
name:   .byte 't', 'a', 'b', 0x6c, 'e', 0

.section .rodata
fmt:    .asciz "%s: sum=%ld doubled-sum=%ld add=%ld mul=%ld\n"

.bss
scratch: .zero 16

.text
op_add: lea     rax, [rdi + rsi]
        ret
op_mul: mov     rax, rdi
        imul    rax, rsi
        ret

# long sum(long *p, int n)
sum:    xor     eax, eax
        test    esi, esi
        je      .Ldone
.Lloop: add     rax, QWORD PTR [rdi]
        add     rdi, 8
        dec     esi
        jne     .Lloop
.Ldone: ret

.globl main
main:
        push    rbx
        push    r12
        push    r13
        lea     rbx, [rip + table]
        mov     rdi, rbx
        mov     esi, DWORD PTR [rip + count]
        call    sum
        mov     r12, rax                        # sum = 31
        xor     ecx, ecx
.Ldouble:
        shl     QWORD PTR [rbx + rcx*8], 1
        inc     ecx
        cmp     ecx, DWORD PTR count[rip]
        jb      .Ldouble
        mov     rdi, rbx
        mov     esi, 8
        call    sum
        mov     r13, rax                        # 62
        mov     QWORD PTR [rip + scratch], rax
        lea     rax, [rip + ops]
        mov     rdi, 20
        mov     rsi, 22
        call    QWORD PTR [rax]                 # op_add: 42
        push    rax
        sub     rsp, 8
        lea     rax, [rip + ops]
        mov     rdi, 6
        mov     rsi, 7
        call    QWORD PTR [rax + 8]             # op_mul: 42
        mov     r9, rax
        add     rsp, 8
        pop     r8
        lea     rdi, [rip + fmt]
        lea     rsi, [rip + name]
        mov     rdx, r12
        mov     rcx, QWORD PTR [rip + scratch]
        xor     eax, eax
        call    printf
        mov     eax, r13d                       # exit code 62
        pop     r13
        pop     r12
        pop     rbx
        ret

.section .note.GNU-stack,"",@progbits
