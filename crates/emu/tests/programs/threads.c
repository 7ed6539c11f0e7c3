#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <signal.h>

/* Threads as C programs use them: create/join with results, a mutex-protected counter, a
 * condition variable hand-off, thread-local storage, a spin on an atomic flag (needs
 * preemption), and a signal sent to one thread with pthread_kill. */
#define THREADS 4
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static __thread int tls_value;
static atomic_int flag;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int ready, consumed;

static void *worker(void *arg) {
    long id = (long)arg;
    tls_value = (int)id * 100;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        if (i % 5000 == 0) sched_yield();
    }
    return (void *)(id * 10 + tls_value);
}

static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&flag)) {
    }
    return (void *)7;
}

static void *consumer(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!ready) pthread_cond_wait(&cond, &lock);
    consumed = ready * 2;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static volatile sig_atomic_t got_signal;
static void on_usr1(int sig) { got_signal = sig; }

static void *waits_for_signal(void *arg) {
    (void)arg;
    while (!got_signal) sched_yield();
    return (void *)(long)got_signal;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i)) return 1;
    long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("counter %ld (expected %d), results %ld\n", counter, THREADS * ROUNDS, sum);

    pthread_t s;
    pthread_create(&s, NULL, spinner, NULL);
    usleep(1000);
    atomic_store(&flag, 1);
    void *r;
    pthread_join(s, &r);
    printf("spinner returned %ld\n", (long)r);

    pthread_t c;
    pthread_create(&c, NULL, consumer, NULL);
    usleep(1000);
    pthread_mutex_lock(&lock);
    ready = 21;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(c, NULL);
    printf("consumed %d\n", consumed);
    signal(SIGUSR1, on_usr1);
    pthread_t k;
    pthread_create(&k, NULL, waits_for_signal, NULL);
    pthread_kill(k, SIGUSR1);
    pthread_join(k, &r);
    printf("thread got signal %ld\n", (long)r);
    printf("main tls %d\n", tls_value);
    fflush(stdout);
    return 0;
}
