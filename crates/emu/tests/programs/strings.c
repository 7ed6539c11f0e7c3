/* String and memory functions (glibc picks its SSE2 variants from CPUID). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

int main(void) {
    char buf[512], big[4096];
    for (int i = 0; i < 4095; i++) big[i] = 'a' + (i * 7) % 26;
    big[4095] = 0;
    unsigned long h = 0;
    for (int off = 0; off < 64; off++) {
        for (int len = 0; len < 300; len += 7) {
            memset(buf, 0, sizeof buf);
            memcpy(buf + (off % 16), big + off, len);
            h = h * 31 + strlen(buf + (off % 16));
            h = h * 31 + (unsigned long)(strchr(big + off, 'q') - big);
            h = h * 31 + (unsigned)strcmp(buf + (off % 16), big + off) % 7;
            h = h * 31 + (unsigned long)memcmp(buf + (off % 16), big + off, len);
            memmove(buf + 1, buf, len);
            h = h * 31 + (unsigned char)buf[len / 2];
        }
    }
    printf("hash %lu\n", h);
    printf("strstr: %s\n", strstr("the quick brown fox jumps", "brown"));
    printf("strrchr: %s\n", strrchr("a/b/c/d.txt", '/'));
    char *copy = strdup("Hello, World");
    for (char *p = copy; *p; p++) *p = toupper((unsigned char)*p);
    printf("%s %zu\n", copy, strlen(copy));
    free(copy);
    printf("strtol %ld %ld %lu\n", strtol("-12345", NULL, 10), strtol("0x7fff", NULL, 16), strtoul("777", NULL, 8));
    snprintf(buf, sizeof buf, "%s|%5d|%-5d|%05d|%x|%X|%o|%c", "str", 42, 42, 42, 255, 255, 8, 'z');
    puts(buf);
    char tok[] = "a,b,,c;d";
    for (char *t = strtok(tok, ",;"); t; t = strtok(NULL, ",;")) printf("[%s]", t);
    printf("\n%d %d\n", strncmp("abcdef", "abcxyz", 3), strcasecmp("HeLLo", "hello"));
    return 0;
}
