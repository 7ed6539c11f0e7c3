#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Threads ending while others still run: by returning, by pthread_exit deep in a call chain,
 * detached threads that nobody joins, and a thread that starts a grandchild and ends before
 * it. Results are collected in a fixed order, so the output does not depend on scheduling. */
#define WORKERS 6

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_detached_done = PTHREAD_COND_INITIALIZER;
static int detached_left;
static unsigned long detached_sum;
static unsigned long grandchild_result;
static pthread_t grandchild;

static unsigned long spin_work(unsigned long seed, long n) {
    unsigned long x = seed;
    for (long i = 0; i < n; i++) x = (x ^ (x << 13)) ^ ((x ^ (x << 13)) >> 7) ^ (unsigned long)i;
    return x;
}

static unsigned long leave_deep(int depth, unsigned long v) {
    if (v == 0) return 0; /* never: v is odd */
    if (depth == 0) pthread_exit((void *)(v & 0xffff));
    return leave_deep(depth - 1, v * 3 + 1) + 1;
}

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned long v = spin_work((unsigned long)id + 1, 20000 * (WORKERS - id)) | 1;
    if (id % 2) leave_deep((int)id, v); /* never returns */
    return (void *)(v & 0xffff);
}

static void *detached(void *arg) {
    unsigned long v = spin_work((unsigned long)arg, 50000);
    pthread_mutex_lock(&lock);
    detached_sum += v & 0xff;
    if (--detached_left == 0) pthread_cond_signal(&all_detached_done);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *grandchild_main(void *arg) {
    (void)arg;
    grandchild_result = spin_work(99, 150000);
    return NULL;
}

static void *parent(void *arg) {
    (void)arg;
    pthread_create(&grandchild, NULL, grandchild_main, NULL);
    return (void *)5; /* ends long before its child */
}

int main(void) {
    pthread_t t[WORKERS], p;
    detached_left = 4;
    for (long i = 0; i < 4; i++) {
        pthread_t d;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&d, &attr, detached, (void *)(i + 7))) return 1;
        pthread_attr_destroy(&attr);
    }
    for (long i = 0; i < WORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i)) return 1;
    if (pthread_create(&p, NULL, parent, NULL)) return 1;
    void *r;
    pthread_join(p, &r);
    printf("parent %ld\n", (long)r);
    /* Join the fastest last: the slow ones end while the fast ones... already ended. */
    for (int i = WORKERS - 1; i >= 0; i--) {
        pthread_join(t[i], &r);
        printf("worker %d: %ld\n", i, (long)r);
    }
    pthread_join(grandchild, NULL);
    printf("grandchild %lu\n", grandchild_result & 0xffffff);
    pthread_mutex_lock(&lock);
    while (detached_left) pthread_cond_wait(&all_detached_done, &lock);
    pthread_mutex_unlock(&lock);
    printf("detached %lu\n", detached_sum);
    return 3;
}
