/* The one place nook creates processes. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "error.h"

struct nk_clone_opts {
        uint64_t flags;         /* CLONE_NEW* namespaces (CLONE_NEWTIME excluded) */
        int cgroup_fd;          /* >= 0: clone3(CLONE_INTO_CGROUP) */
        int *pidfd_out;         /* non-NULL: CLONE_PIDFD, the pidfd is stored here */
        int death_signal;       /* PR_SET_PDEATHSIG in the child, 0 = none */
};

/* fork-like clone3: returns the child's PID in the parent and 0 in the
 * child. The child starts with every signal handler reset to default and an
 * empty signal mask. Falls back to clone(2) when clone3 is unavailable
 * (then cgroup_fd is ignored and the caller must enter the cgroup itself;
 * *pidfd_out is then -1). */
pid_t nk_clone(const struct nk_clone_opts *o, nk_error **err);

/* Reset every signal disposition to default and unblock all signals. */
void nk_reset_signals(void);
/* waitpid retrying on EINTR; returns the shell-style exit code: status, or
 * 128+N for a signal. */
int nk_wait_exit_code(pid_t pid);
/* The shell-style code for a wait status. */
int nk_exit_code_of(int status);
