# SSE2 scalar doubles and the stack protector's canary (fs:0x28), as gcc writes them:
# prints hypotenuses of a table of (a, b) pairs with printf (varargs: al = 1 vector register).
.intel_syntax noprefix

.section .rodata
fmt:    .asciz "hypot(%d, %d) = %.3f\n"
        .p2align 3
pairs:  .long 3, 4, 5, 12, 1, 1, 8, 15

.text
.globl main
main:
    push    rbx
    push    r12
    sub     rsp, 24
    mov     rax, QWORD PTR fs:0x28      # canary, checked before returning
    mov     QWORD PTR [rsp+8], rax
    xor     ebx, ebx
1:  lea     r12, [rip + pairs]
    mov     esi, DWORD PTR [r12+rbx*8]
    mov     edx, DWORD PTR [r12+rbx*8+4]
    cvtsi2sd xmm0, esi
    cvtsi2sd xmm1, edx
    mulsd   xmm0, xmm0
    mulsd   xmm1, xmm1
    addsd   xmm0, xmm1
    sqrtsd  xmm0, xmm0
    lea     rdi, [rip + fmt]
    mov     eax, 1
    call    printf
    inc     ebx
    cmp     ebx, 4
    jne     1b
    pxor    xmm0, xmm0                  # sum of the table as packed dwords: 49
    movdqu  xmm1, XMMWORD PTR [rip + pairs]
    movdqu  xmm2, XMMWORD PTR [rip + pairs + 16]
    paddd   xmm1, xmm2
    pshufd  xmm2, xmm1, 0x4e
    paddd   xmm1, xmm2
    pshufd  xmm2, xmm1, 0xb1
    paddd   xmm1, xmm2
    movd    eax, xmm1
    mov     rdx, QWORD PTR [rsp+8]
    sub     rdx, QWORD PTR fs:0x28
    jne     2f
    add     rsp, 24
    pop     r12
    pop     rbx
    ret
2:  call    abort

.section .note.GNU-stack,"",@progbits
