/* Minimal unit test harness: CHECK() records failures and goes on; main()
 * returns non-zero when any check failed. */
#pragma once
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* meson's exit code for a skipped test. */
#define UNIT_SKIP 77

/* A program whose subject needs a syscall the kernel under it lacks is
 * skipped whole, with the reason in the log: qemu-user, which runs the
 * arm64 build's unit tests on an x86_64 machine, has no openat2, clone3
 * or seccomp. The probe's arguments are invalid for every such call
 * (fd -1, a NULL pointer, size 0): a kernel that has it says EBADF,
 * EFAULT or EINVAL and nothing happens; only a missing one says ENOSYS. */
static inline void unit_require_syscall(long nr, const char *name)
{
        if (syscall(nr, -1L, 0L, 0L, 0L) < 0 && errno == ENOSYS) {
                printf("SKIP: %s(2) is not implemented here (ENOSYS): the test needs it\n", name);
                exit(UNIT_SKIP);
        }
}

/* tests/unit/meson.build sets NK_UNIT_SKIP for a program that can't run
 * under the emulator of a cross build (its reason, which is printed). */
__attribute__((constructor)) static void unit_skip_from_build(void)
{
        const char *why = getenv("NK_UNIT_SKIP");
        if (why && *why) {
                printf("SKIP: %s\n", why);
                exit(UNIT_SKIP);
        }
}
