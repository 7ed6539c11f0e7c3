#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Lock-heavy threads: every thread increments shared counters in a loop, through a pthread
 * mutex, through atomic_fetch_add (lock xadd), through a compare-and-swap loop (lock cmpxchg),
 * with lock add/inc/dec/and/or/xor and through a spin lock taken with xchg. The totals are exact
 * only if each of those is atomic with respect to the other threads.
 * Arguments: threads (default 4), iterations per thread (default 20000). */
#define MAX_THREADS 16

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static long under_mutex;
static long fetch_added;
static long cas_added;
static int spin;
static long under_spin;
static long incs, decs;
static unsigned long bits_or, bits_and = ~0ul, bits_xor;
static short narrow;
static unsigned char tiny;
static unsigned int asm_incs;
static long asm_decs;
static long returned; /* the sum of what every fetch_add returned (each value once) */
static long zero_hits; /* how often a decrement reached zero (exactly once per counter) */

static void *work(void *arg) {
    long iters = (long)arg;
    long got = 0, zeros = 0;
    for (long i = 0; i < iters; i++) {
        pthread_mutex_lock(&mutex);
        under_mutex += i & 3;
        pthread_mutex_unlock(&mutex);

        got += __atomic_fetch_add(&fetch_added, 2, __ATOMIC_SEQ_CST); /* lock xadd */

        long old = __atomic_load_n(&cas_added, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(&cas_added, &old, old + 3, 0, __ATOMIC_SEQ_CST,
                                            __ATOMIC_RELAXED)) {
        }

        while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE)) {
        }
        under_spin++;
        __atomic_store_n(&spin, 0, __ATOMIC_RELEASE);

        __atomic_add_fetch(&incs, 1, __ATOMIC_SEQ_CST);     /* lock inc/add */
        if (__atomic_sub_fetch(&decs, 1, __ATOMIC_SEQ_CST) == -1) zeros++; /* lock sub; je */
        unsigned char became_zero;
        __asm__ volatile("lock incl %0" : "+m"(asm_incs)::"cc");
        __asm__ volatile("lock decq %0; sete %1" : "+m"(asm_decs), "=q"(became_zero)::"cc");
        zeros += became_zero;
        __atomic_or_fetch(&bits_or, 1ul << (i & 63), __ATOMIC_SEQ_CST);
        __atomic_and_fetch(&bits_and, ~(1ul << (i % 61)), __ATOMIC_SEQ_CST);
        __atomic_xor_fetch(&bits_xor, (unsigned long)i * 0x9e3779b97f4a7c15ul, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&narrow, 1, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&tiny, 1, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_lock(&mutex);
    returned += got;
    zero_hits += zeros;
    pthread_mutex_unlock(&mutex);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    long iters = argc > 2 ? atol(argv[2]) : 20000;
    if (threads < 1 || threads > MAX_THREADS) return 2;
    pthread_t t[MAX_THREADS];
    long expect = threads * iters;
    asm_decs = expect;
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, work, (void *)iters)) return 1;
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("mutex %ld fetch_add %ld cas %ld spin %ld inc %ld dec %ld\n", under_mutex, fetch_added,
           cas_added, under_spin, incs, decs);
    printf("or %lx and %lx xor %lx narrow %d tiny %u\n", bits_or, bits_and, bits_xor, narrow, tiny);
    printf("asm inc %u asm dec %ld returned %ld zeros %ld\n", asm_incs, asm_decs, returned,
           zero_hits);
    int ok = fetch_added == 2 * expect && cas_added == 3 * expect && under_spin == expect &&
             incs == expect && decs == -expect && asm_incs == expect && asm_decs == 0 &&
             returned == expect * (expect - 1) && zero_hits == 2;
    printf("total %s\n", ok ? "exact" : "WRONG");
    return ok ? 0 : 1;
}
