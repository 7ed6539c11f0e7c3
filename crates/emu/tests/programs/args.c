/* argv, envp and the auxiliary vector as the program sees them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <elf.h>

extern char **environ;

int main(int argc, char **argv) {
    printf("argc %d\n", argc);
    for (int i = 1; i < argc; i++) printf("argv[%d] = %s\n", i, argv[i]);
    printf("JITKIT_TEST_VAR=%s\n", getenv("JITKIT_TEST_VAR") ? getenv("JITKIT_TEST_VAR") : "(unset)");
    printf("pagesz %lu phent %lu secure %lu\n", getauxval(AT_PAGESZ), getauxval(AT_PHENT), getauxval(AT_SECURE));
    printf("random nonnull %d execfn matches %d\n", getauxval(AT_RANDOM) != 0, strcmp((char *)getauxval(AT_EXECFN), argv[0]) == 0);
    return argc;
}
