/* nook — the last steps of a process entering a container, child side
 * (runc calls it finalizing the namespace): one list for exec's joiner and
 * for an init that joins a pid namespace (a pod's sidecar), both of which
 * become visible to the container's processes only at the clone that ends
 * it. Everything that needs privilege happens before that clone:
 *
 *   setns(pid)                  moves only the children made afterwards
 *   setresuid(0) in a joined user namespace (exec)
 *   the pty as stdio, its master sent to console_fd
 *   nk_finalize_process()       keyring, stdio owner, HOME, rlimits,
 *                               attributes (the init's other path too)
 *   nk_security_final_creds()   bounding set, user, caps, no_new_privs and,
 *                               without it, the seccomp filter
 *   nk_ns_enter_pid_last()      close fds, clone into the pid namespace
 *   (the new process)           its own session with the pty, a scheduler
 *                               the fork dropped, fds for exec
 *
 * The caller's memory may be its parent's (nk_clone_vm): nothing here
 * writes to what the caller points at but the nk_finalize itself, which
 * the caller keeps on its own stack. */
#pragma once
#include "process.h"
#include "security.h"
#include "spec.h"
#include <stdbool.h>

struct nk_finalize {
        const struct nk_process *p;
        const struct nk_spec *spec; /* for the attributes (personality); NULL: none */
        struct nk_seccomp *seccomp;
        const char *state_json;  /* for a seccomp listener */
        const char *keyring;     /* join a session keyring for this id, or NULL */
        int pid_ns_fd;           /* the pid namespace to enter, or -1 */
        const char *pid_ns_path; /* where it came from, for errors; or NULL */
        int console_fd;          /* p->terminal: where the pty master goes */
        bool become_root;        /* in a joined user namespace: be its root first */
        char **env;              /* out: process.env with HOME */
        bool filter_left;        /* out: the filter is the caller's last step */
};

/* The process's own settings as root, before any credential changes:
 * the session keyring, the stdio owner, HOME, rlimits, and the attributes
 * (the scheduler only with `sched`). */
int nk_finalize_process(const struct nk_process *p, const struct nk_spec *spec, const char *keyring,
                        bool sched, char ***env, nk_error **err);

/* Every step up to the clone into the pid namespace (see above). */
int nk_finalize_creds(struct nk_finalize *f, nk_error **err);

/* The clone into the pid namespace and the new process's first steps:
 * returns 0 in the new process (with fds 3..3+preserve_fds-1 passed on,
 * every other but `keep`, the listener's socket when the filter is left,
 * closed or close-on-exec); the caller exits inside (nk_ns_enter_pid_last
 * has the rest: sync_fd, death_signal, wait_go). -1: failed, still the
 * one process. */
int nk_finalize_enter_pid(struct nk_finalize *f, int preserve_fds, const int *keep, size_t n_keep,
                          int sync_fd, int death_signal, bool wait_go, nk_error **err);
