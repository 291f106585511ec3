/* Attack: includes-solution (tests/sandbox): see server.c. */
#include "@CHECKOUT@/solutions/01-tcp-echo/client.c"
