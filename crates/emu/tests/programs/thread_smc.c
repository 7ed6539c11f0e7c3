#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Code written while it runs: a function in a writable and executable page is rewritten
 * (`mov eax, imm32; ret` with a new immediate) between calls, after each call has become hot.
 * First by the only thread; then one thread rewrites it and another calls it, handing over
 * through a mutex and a condition variable, while a third thread computes all along. */
#define ROUNDS 40
#define CALLS 50

typedef int (*fn)(void);
static unsigned char *page;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: the writer's turn, 1: the caller's */
static volatile int stop_background;

static void emit(int value) {
    page[0] = 0xb8; /* mov eax, imm32 */
    memcpy(page + 1, &value, 4);
    page[5] = 0xc3; /* ret */
}

static long call_many(void) {
    long sum = 0;
    for (int i = 0; i < CALLS; i++) sum += ((fn)page)();
    return sum;
}

static void serialize(void) {
    unsigned a = 0, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}

static void *writer(void *arg) {
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        while (turn != 0) pthread_cond_wait(&changed, &lock);
        emit(1000 + r * 7);
        turn = 1;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *caller(void *arg) {
    long sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&lock);
        while (turn != 1) pthread_cond_wait(&changed, &lock);
        serialize();
        sum += call_many();
        turn = 0;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
    *(long *)arg = sum;
    return NULL;
}

static void *background(void *arg) {
    unsigned long x = 1;
    while (!stop_background) x = x * 6364136223846793005UL + 1;
    *(unsigned long *)arg = x;
    return NULL;
}

int main(void) {
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 1;
    long sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        emit(r * r);
        sum += call_many();
    }
    printf("one thread: %ld\n", sum);

    pthread_t w, c, b;
    long threaded = 0;
    unsigned long ran = 0;
    pthread_create(&b, NULL, background, &ran);
    pthread_create(&c, NULL, caller, &threaded);
    pthread_create(&w, NULL, writer, NULL);
    pthread_join(w, NULL);
    pthread_join(c, NULL);
    stop_background = 1;
    pthread_join(b, NULL);
    printf("two threads: %ld\n", threaded);
    return 0;
}
