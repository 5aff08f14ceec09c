/* Minimal unit test harness: CHECK() records failures and goes on; main()
 * returns non-zero when any check failed. */
#pragma once
#include <stdio.h>
#include <string.h>

static int unit_failures, unit_checks;
#define CHECK(cond)                                                                                \
        do {                                                                                       \
                unit_checks++;                                                                     \
                if (!(cond)) {                                                                     \
                        unit_failures++;                                                           \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
                }                                                                                  \
        } while (0)
#define CHECK_STR(a, b)                                                                            \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                unit_checks++;                                                                     \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
                        unit_failures++;                                                           \
                        fprintf(stderr, "%s:%d: expected \"%s\"\n          got \"%s\"\n",          \
                                __FILE__, __LINE__, _b ? _b : "(null)", _a ? _a : "(null)");       \
                }                                                                                  \
        } while (0)
#define UNIT_END()                                                                                 \
        (printf("%d checks, %d failed\n", unit_checks, unit_failures), unit_failures ? 1 : 0)
