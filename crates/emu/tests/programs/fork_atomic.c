#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two processes (fork) update counters in MAP_SHARED memory at the same time, on two cores:
 * lock xadd, lock add, lock inc, a compare-and-swap loop (lock cmpxchg), a spin lock taken with
 * xchg around a plain increment, and a process-shared pthread mutex around another. Every total
 * is exact only if each of those is atomic across processes (an emulator running the two as
 * host processes must use host atomics on the shared pages). Argument: iterations (default
 * 100000). */
struct shared {
    int go;
    int spin;
    long progress[2], tight_done[2], tight_count[2];
    long tight, xadd, add, inc, cas, under_spin, under_mutex, returned;
    pthread_mutex_t mutex;
};

/* A tight loop first: both processes update one word as often as they can, in chunks, until
 * each has seen the other make progress during 200 of its own chunks (so they really ran at the
 * same time, which right after fork they often do not) or the other has finished. */
static void tight(struct shared *s, int me) {
    long mine = 0, overlapped = 0;
    while (overlapped < 200 && !__atomic_load_n(&s->tight_done[!me], __ATOMIC_SEQ_CST)) {
        long before = __atomic_load_n(&s->progress[!me], __ATOMIC_SEQ_CST);
        for (int k = 0; k < 1000; k++) __atomic_fetch_add(&s->tight, 1, __ATOMIC_RELAXED);
        mine += 1000;
        __atomic_store_n(&s->progress[me], mine, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s->progress[!me], __ATOMIC_SEQ_CST) != before) overlapped++;
    }
    s->tight_count[me] = mine;
    __atomic_store_n(&s->tight_done[me], 1, __ATOMIC_SEQ_CST);
}

static void work(struct shared *s, long iters, int me) {
    __atomic_add_fetch(&s->go, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&s->go, __ATOMIC_SEQ_CST) < 2) {
    }
    tight(s, me);
    long got = 0;
    for (long i = 0; i < iters; i++) {
        got += __atomic_fetch_add(&s->xadd, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&s->add, 3, __ATOMIC_SEQ_CST);
        __asm__ volatile("lock incq %0" : "+m"(s->inc)::"cc");
        long old = __atomic_load_n(&s->cas, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(&s->cas, &old, old + 5, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED)) {
        }
        while (__atomic_exchange_n(&s->spin, 1, __ATOMIC_ACQUIRE)) {
        }
        s->under_spin++;
        __atomic_store_n(&s->spin, 0, __ATOMIC_RELEASE);
        if ((i & 15) == 0) {
            pthread_mutex_lock(&s->mutex);
            s->under_mutex++;
            pthread_mutex_unlock(&s->mutex);
        }
    }
    __atomic_add_fetch(&s->returned, got, __ATOMIC_SEQ_CST);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    struct shared *s =
        mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return 3;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&s->mutex, &attr);
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) return 4;
    /* A lost update can leave both processes spinning (on `go`, on the spin lock) or waiting
     * on the mutex forever: SIGALRM ends each of them instead (alarms are not inherited). */
    alarm(30);
    work(s, iters, child == 0);
    if (child == 0) _exit(0);
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 5;
    long n = 2 * iters;
    long mutexed = 2 * ((iters + 15) / 16);
    printf("tight %s xadd %ld add %ld inc %ld cas %ld spin %ld mutex %ld returned %ld\n",
           s->tight == s->tight_count[0] + s->tight_count[1] ? "exact" : "lost", s->xadd, s->add,
           s->inc, s->cas, s->under_spin, s->under_mutex, s->returned);
    int ok = s->tight == s->tight_count[0] + s->tight_count[1] && s->xadd == n && s->add == 3 * n && s->inc == n && s->cas == 5 * n &&
             s->under_spin == n && s->under_mutex == mutexed && s->returned == n * (n - 1) / 2;
    printf("%s\n", ok ? "exact" : "LOST UPDATES");
    return ok ? 0 : 1;
}
