/* nook — a cache of built seccomp programs (seccomp_cache.c), private to
 * seccomp.c.
 *
 * Building the default profile with libseccomp costs ~25 ms of CPU, more
 * than the rest of a container's creation; the same profile gives the
 * same program from the same binary. So the program is kept in a
 * directory the caller names, one file per profile, and taken from there
 * when both the profile's canonical text and this binary's build id match
 * byte for byte (the file name is only a hash of them, never trusted). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sock_filter;

#define NK_SECCOMP_CACHE_ACTIONS 16

/* What a build yields besides the kernel-side checks done at each use. */
struct nk_seccomp_built {
        struct sock_filter *prog; /* malloc'd */
        size_t n_prog;
        bool notify;                             /* some rule uses SCMP_ACT_NOTIFY */
        uint32_t used[NK_SECCOMP_CACHE_ACTIONS]; /* kernel actions in use */
        size_t n_used;
        char unknown[512]; /* syscall names left out, for the warning */
};

/* The program built before from `key` (the profile's canonical text) by
 * this very binary, or false (none, another build's, torn, not ours).
 * `dir` NULL: false. */
bool nk_seccomp_cache_get(const char *dir, const char *key, size_t key_len,
                          struct nk_seccomp_built *out);
/* Keep it for the next time; failures are ignored (it is a cache). */
void nk_seccomp_cache_put(const char *dir, const char *key, size_t key_len,
                          const struct nk_seccomp_built *b);
