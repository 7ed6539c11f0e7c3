/* setjmp/longjmp across frames, and a signal handler run by raise(). */
#include <stdio.h>
#include <setjmp.h>
#include <signal.h>

static jmp_buf env;
static volatile int depth;
static volatile sig_atomic_t got;

static void dive(int n) { depth = n; if (n == 50) longjmp(env, n); dive(n + 1); }
static void on_usr1(int sig) { got = sig; }

int main(void) {
    int r = setjmp(env);
    if (r == 0) { dive(0); puts("not reached"); }
    printf("longjmp returned %d depth %d\n", r, depth);
    volatile int count = 0;
    if (setjmp(env) < 3) { count++; longjmp(env, count); }
    printf("count %d\n", count);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    printf("handler saw %d\n", got);
    return 0;
}
