/* The last steps into a container, child side (finalize.h). */
#include "finalize.h"
#include "namespaces.h"
#include "terminal.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

int nk_finalize_process(const struct nk_process *p, const struct nk_spec *spec, const char *keyring,
                        bool sched, char ***env, nk_error **err)
{
        /* HOME before the rlimits: a low RLIMIT_NOFILE must not keep us
         * from reading the container's /etc/passwd. */
        if ((keyring && nk_process_join_keyring(keyring, err) < 0) ||
            nk_process_chown_stdio(p, p->terminal, err) < 0 ||
            nk_process_home_env(p, env, err) < 0 || nk_process_apply_rlimits(p, err) < 0 ||
            nk_process_apply_attrs(p, spec, sched, err) < 0)
                return -1;
        return 0;
}

int nk_finalize_creds(struct nk_finalize *f, nk_error **err)
{
        const struct nk_process *p = f->p;
        /* First: setns(CLONE_NEWPID) needs CAP_SYS_ADMIN. */
        if (f->pid_ns_fd >= 0 && setns(f->pid_ns_fd, CLONE_NEWPID) < 0)
                return f->pid_ns_path
                               ? nk_error_set(err, errno, "join pid namespace `%s`", f->pid_ns_path)
                               : nk_error_set(err, errno, "join the container's pid namespace");
        if (f->become_root && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                return nk_error_set(err, errno, "become root in the user namespace");
        if ((p->terminal && nk_terminal_open_stdio(p, f->console_fd, err) < 0) ||
            nk_finalize_process(p, f->spec, f->keyring, nk_process_sched_inherited(p), &f->env,
                                err) < 0)
                return -1;
        return nk_security_final_creds(p, f->seccomp, f->state_json, &f->filter_left, err);
}

int nk_finalize_enter_pid(struct nk_finalize *f, int preserve_fds, const int *keep, size_t n_keep,
                          int sync_fd, int death_signal, bool wait_go, nk_error **err)
{
        int kept[8];
        if (n_keep >= ARRAY_SIZE(kept))
                return nk_error_set(err, E2BIG, "too many fds to keep");
        memcpy(kept, keep, n_keep * sizeof *keep);
        kept[n_keep++] = f->filter_left ? nk_seccomp_listener_sock(f->seccomp) : -1;
        if (nk_ns_enter_pid_last(-1, 3 + (unsigned)preserve_fds, kept, n_keep, sync_fd,
                                 death_signal, wait_go, err) < 0) {
                if (f->seccomp && !f->filter_left)
                        nk_error_wrap(err, "under linux.seccomp, which nook loads before this "
                                           "step when process.noNewPrivileges is false");
                return -1;
        }
        /* Born here, in the container's pid namespace: a session of our
         * own with the pty as its terminal; a scheduler policy the fork
         * dropped, with our own capabilities (SCHED_DEADLINE needs
         * CAP_SYS_NICE); every fd not passed on closes at execve. */
        const struct nk_process *p = f->p;
        if ((p->terminal && nk_terminal_take_stdin(err) < 0) ||
            (!nk_process_sched_inherited(p) && nk_process_apply_scheduler(p, err) < 0))
                return -1;
        return nk_process_fds_for_exec(preserve_fds, err);
}
