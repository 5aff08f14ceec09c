/* The one place nook creates processes. */
#pragma once
#include "error.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nk_clone_opts {
        uint64_t flags;   /* CLONE_NEW* namespaces (CLONE_NEWTIME excluded), CLONE_PARENT */
        int cgroup_fd;    /* >= 0: clone3(CLONE_INTO_CGROUP) */
        int *pidfd_out;   /* non-NULL: CLONE_PIDFD, the pidfd is stored here */
        int death_signal; /* PR_SET_PDEATHSIG in the child, 0 = none */
};

/* fork-like clone3: returns the child's PID in the parent and 0 in the
 * child. The child starts with every signal handler reset to default and an
 * empty signal mask. Falls back to clone(2) when clone3 is unavailable
 * (then cgroup_fd is ignored and the caller must enter the cgroup itself;
 * *pidfd_out is then -1). */
pid_t nk_clone(const struct nk_clone_opts *o, nk_error **err);

/* Whether this build has nk_clone_vm(): x86_64 or aarch64 (the child's
 * call onto its own stack is inline assembly) without a sanitizer (ASan can't follow a
 * task onto a foreign stack). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NK_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NK_SANITIZED 1
#endif
#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(NK_SANITIZED)
#define NK_HAVE_CLONE_VM 1
#else
#define NK_HAVE_CLONE_VM 0
#endif

/* vfork-like clone3 for a child that soon execs or exits: it runs
 * fn(arg) in our memory (CLONE_VM), on a stack of its own, while we sleep
 * until it has exec'd or exited (CLONE_VFORK). fork's costs go: no page
 * tables copied, no copy-on-write fault for each page the child (and later
 * we) write, no refault of each code page the child runs. The child starts
 * as nk_clone's does; fn must exec or _exit, and must leave our memory as
 * we need it: it may allocate, but not free or change what we hold.
 * Per-process state stays its own (fds, cwd, umask, creds, signal
 * handlers), except what lives in the mm: PR_SET_DUMPABLE, which this
 * restores. setns() into a user or time namespace fails in such a child.
 * -1 with ENOSYS where unsupported (!NK_HAVE_CLONE_VM, no clone3) and
 * EINVAL where the kernel refuses the flags: use nk_clone then. */
pid_t nk_clone_vm(const struct nk_clone_opts *o, void (*fn)(void *), void *arg, nk_error **err);

/* Reset every signal disposition to default and unblock all signals. */
void nk_reset_signals(void);

/* Zero our environment strings in memory and empty `environ`: what
 * /proc/PID/environ (and a tracer) of a process cloned from us afterwards
 * could read is the caller's environment, nothing of the container's. */
void nk_environ_scrub(void);
/* waitpid retrying on EINTR; returns the shell-style exit code: status, or
 * 128+N for a signal. */
int nk_wait_exit_code(pid_t pid);
/* The shell-style code for a wait status. */
int nk_exit_code_of(int status);
