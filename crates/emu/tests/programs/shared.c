#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* MAP_SHARED across fork: anonymous shared memory and a shared file mapping see each other's
 * writes between parent and child, a process-shared semaphore (a futex in shared memory) hands
 * control over, private mappings stay private, and memory mapped over an old shared range is
 * fresh. Takes a scratch directory. */
int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/shared.dat", argc > 1 ? argv[1] : "/tmp");

    int *shm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED || priv == MAP_FAILED) return 1;
    sem_t *sem = (sem_t *)(shm + 1024);
    sem_init(sem, 1, 0);
    shm[0] = 1;
    priv[0] = 5;

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 4096) != 0) return 2;
    char *file = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (file == MAP_FAILED) return 3;
    strcpy(file, "parent wrote this");

    pid_t child = fork();
    if (child == 0) {
        sem_wait(sem); /* the parent posts after its own check */
        shm[1] = 42;
        shm[0] = 2;
        priv[0] = 6;
        printf("child sees file: %s\n", file);
        strcpy(file + 100, "child wrote this");
        fflush(stdout);
        _exit(7);
    }
    printf("parent before post: shm[1] = %d\n", shm[1]);
    fflush(stdout);
    sem_post(sem);
    int status;
    waitpid(child, &status, 0);
    printf("child exit %d, shm[0] = %d, shm[1] = %d, priv[0] = %d\n", WEXITSTATUS(status), shm[0],
           shm[1], priv[0]);
    printf("parent sees file: %s\n", file + 100);

    char buf[32] = {0};
    pread(fd, buf, 16, 100);
    printf("read() of the file: %s\n", buf);
    msync(file, 4096, MS_SYNC);
    pwrite(fd, "written by pwrite", 18, 200);
    printf("mapping after pwrite: %s\n", file + 200);

    /* Private memory mapped over the old shared range is zero-filled, not the shared pages. */
    void *at = shm;
    munmap(shm, 8192);
    int *fresh = mmap(at, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fresh mapping: %d %d\n", fresh[0], fresh[1]);

    /* A read-only descriptor cannot back a writable shared mapping. */
    int ro = open(path, O_RDONLY);
    void *bad = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("writable shared mapping of a read-only fd: %s\n", bad == MAP_FAILED ? "refused" : "mapped");
    char *rofile = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    printf("read-only shared mapping: %s; mprotect writable: %s\n", rofile + 200,
           mprotect(rofile, 4096, PROT_READ | PROT_WRITE) == 0 ? "allowed" : "refused");
    unlink(path);
    return 0;
}
