/* Files on the host file system: create, write, read back, seek, stat, rename, list, unlink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: files DIR\n"); return 2; }
    char path[4096], path2[4096];
    snprintf(path, sizeof path, "%s/data.txt", argv[1]);
    snprintf(path2, sizeof path2, "%s/renamed.txt", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f) { perror("fopen"); return 1; }
    for (int i = 0; i < 1000; i++) fprintf(f, "line %d: %d\n", i, i * i);
    fclose(f);
    struct stat st;
    if (stat(path, &st) != 0) { perror("stat"); return 1; }
    printf("size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    f = fopen(path, "r");
    char line[128]; long total = 0; int n = 0;
    while (fgets(line, sizeof line, f)) { total += (long)strlen(line); n++; }
    fseek(f, 100, SEEK_SET);
    fgets(line, sizeof line, f);
    printf("lines %d bytes %ld at100 %s", n, total, line);
    printf("ftell %ld\n", ftell(f));
    fclose(f);
    int fd = open(path, O_RDWR | O_APPEND);
    write(fd, "tail\n", 5);
    lseek(fd, 0, SEEK_SET);
    char b[6] = {0};
    read(fd, b, 5);
    printf("first5 %s|\n", b);
    close(fd);
    if (rename(path, path2) != 0) { perror("rename"); return 1; }
    printf("old exists %d new exists %d\n", access(path, F_OK) == 0, access(path2, F_OK) == 0);
    DIR *d = opendir(argv[1]);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') entries++;
    closedir(d);
    printf("entries %d\n", entries);
    unlink(path2);
    printf("after unlink %d\n", access(path2, F_OK) == 0);
    printf("missing: %s\n", fopen("/nonexistent/x", "r") ? "opened" : "ENOENT ok");
    return 0;
}
