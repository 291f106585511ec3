/*
 * Attack: includes-solution (tests/sandbox)
 * What: the whole submission is the reference solution, included by its
 *   absolute path in the grader's checkout (tests/sandbox/run fills in
 *   @CHECKOUT@); client.c does the same.
 * Why: a compile that can read the grader's checkout can read its
 *   solutions/, and a student who guesses the path scores full marks.
 * Blocked-when: it does not compile, so it scores below 100.
 */
#include "@CHECKOUT@/solutions/01-tcp-echo/server.c"
