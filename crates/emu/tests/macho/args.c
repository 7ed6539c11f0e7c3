#include "sys.h"
/* argc, argv, the environment and the apple strings as the program receives them. */
int main(int argc, char **argv, char **envp, char **apple) {
    puts_("argc ");
    putnum(argc);
    puts_("\n");
    for (int i = 0; i < argc; i++) {
        puts_("argv: ");
        puts_(argv[i]);
        puts_("\n");
    }
    for (char **e = envp; *e; e++)
        if ((*e)[0] == 'M' && (*e)[1] == 'A' && (*e)[2] == 'C') {
            puts_("env: ");
            puts_(*e);
            puts_("\n");
        }
    puts_(apple[0][0] == 'e' ? "apple[0] starts with executable_path=\n" : "apple[0] wrong\n");
    return argc + 40;
}
