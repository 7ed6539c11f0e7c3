/* macOS system calls without a libc: class 2 (BSD) numbers from XNU's syscalls.master.
 * Each call returns the value in RAX; the carry flag says whether it is an errno. */
typedef unsigned long u64;
typedef long i64;

struct ret {
    i64 val; /* RAX: the result, or the errno when err is set */
    i64 val2; /* RDX: the second result (pipe, fork) */
    int err; /* the carry flag */
};

static struct ret sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
    struct ret r;
    register i64 r10 __asm__("r10") = d;
    register i64 r8 __asm__("r8") = e;
    register i64 r9 __asm__("r9") = f;
    unsigned char cf;
    i64 rax = 0x2000000 + n;
    __asm__ volatile("syscall\n\tsetc %[cf]"
                     : "+a"(rax), [cf] "=r"(cf), "+D"(a), "+S"(b), "+d"(c), "+r"(r10), "+r"(r8),
                       "+r"(r9)
                     :
                     : "rcx", "r11", "memory", "cc");
    r.val = rax;
    r.val2 = c;
    r.err = cf;
    return r;
}
#define sys3(n, a, b, c) sys6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)

enum {
    SYS_exit = 1, SYS_fork = 2, SYS_read = 3, SYS_write = 4, SYS_open = 5, SYS_close = 6,
    SYS_wait4 = 7, SYS_unlink = 10, SYS_getpid = 20, SYS_pipe = 42, SYS_munmap = 73,
    SYS_mprotect = 74, SYS_fcntl = 92, SYS_rmdir = 137, SYS_mkdir = 136, SYS_mmap = 197,
    SYS_lseek = 199, SYS_stat64 = 338, SYS_fstat64 = 339, SYS_getentropy = 500,
};
enum {
    O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NONBLOCK = 4, O_APPEND = 8, O_CREAT = 0x200,
    O_TRUNC = 0x400, O_EXCL = 0x800, O_EXLOCK = 0x20,
};
enum { PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_ANON = 0x1000 };

static u64 slen(const char *s) {
    u64 n = 0;
    while (s[n]) n++;
    return n;
}
static void puts_(const char *s) { sys3(SYS_write, 1, s, slen(s)); }
static void putnum(i64 v) {
    char b[24];
    int i = 23;
    int neg = v < 0;
    u64 u = neg ? -(u64)v : (u64)v;
    b[i] = 0;
    do {
        b[--i] = '0' + u % 10;
        u /= 10;
    } while (u);
    if (neg) b[--i] = '-';
    puts_(b + i);
}
/* "name = value" or "name = errno N" */
static void show(const char *name, struct ret r) {
    puts_(name);
    puts_(r.err ? " = errno " : " = ");
    putnum(r.val);
    puts_("\n");
}
