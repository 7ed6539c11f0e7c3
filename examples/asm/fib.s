# Recursive Fibonacci: prints fib(0)..fib(24) and returns fib(13) & 0xff as the exit code.
.intel_syntax noprefix

.section .rodata
line:   .asciz "fib(%d) = %ld\n"

.text
# long fib(long n)
fib:
    cmp     rdi, 2
    jl      1f                  # fib(0) = 0, fib(1) = 1
    push    rbx
    push    r12
    sub     rsp, 8              # keep 16-byte alignment for the nested calls
    mov     rbx, rdi
    lea     rdi, [rbx - 1]
    call    fib
    mov     r12, rax
    lea     rdi, [rbx - 2]
    call    fib
    add     rax, r12
    add     rsp, 8
    pop     r12
    pop     rbx
    ret
1:
    mov     rax, rdi
    ret

.globl main
main:
    push    rbx
    xor     ebx, ebx
2:
    mov     rdi, rbx
    call    fib
    lea     rdi, [rip + line]
    mov     esi, ebx
    mov     rdx, rax
    xor     eax, eax
    call    printf
    inc     ebx
    cmp     ebx, 25
    jb      2b
    mov     edi, 13
    call    fib
    movzx   eax, al             # 233
    pop     rbx
    ret

.section .note.GNU-stack,"",@progbits
