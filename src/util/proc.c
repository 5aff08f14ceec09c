#include "proc.h"
#include "cleanup.h"
#include "fs.h"
#include "syscalls.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* The signals not at their default: ignored or caught, as /proc/self/status
 * lists them (one read instead of a sigaction per signal). All of them if
 * the file can't be read. */
static uint64_t non_default_signals(void)
{
        _cleanup_free_ char *buf = NULL;
        if (nk_read_file("/proc/self/status", &buf, NULL, NULL) < 0)
                return UINT64_MAX;
        const char *ign = strstr(buf, "\nSigIgn:\t"), *cgt = strstr(buf, "\nSigCgt:\t");
        if (!ign || !cgt)
                return UINT64_MAX;
        return strtoull(ign + 9, NULL, 16) | strtoull(cgt + 9, NULL, 16);
}

void nk_reset_signals(void)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        uint64_t set = non_default_signals();
        for (int s = 1; s < NSIG && s <= 64; s++)
                if (set & (1ULL << (s - 1)))
                        (void)sigaction(s, &sa, NULL);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}

pid_t nk_clone(const struct nk_clone_opts *o, nk_error **err)
{
        int pidfd = -1;
        struct clone_args ca = {
                .flags = o->flags,
                .exit_signal = SIGCHLD,
        };
        if (o->pidfd_out) {
                ca.flags |= CLONE_PIDFD;
                ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
        }
        if (o->cgroup_fd >= 0) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t)o->cgroup_fd;
        }
        long pid = nk_clone3(&ca, sizeof(ca));
        if (pid < 0 && errno == ENOSYS) {
                /* Old kernel: plain clone with fork semantics (no stack). */
                pid = syscall(SYS_clone, (unsigned long)(o->flags | SIGCHLD), NULL, NULL, NULL, 0);
                if (o->pidfd_out)
                        *o->pidfd_out = -1;
        } else if (pid > 0 && o->pidfd_out) {
                *o->pidfd_out = pidfd;
        }
        if (pid < 0)
                return nk_error_set(err, errno, "clone");
        if (pid == 0) {
                nk_reset_signals();
                if (o->death_signal)
                        (void)prctl(PR_SET_PDEATHSIG, o->death_signal);
        }
        return (pid_t)pid;
}

int nk_exit_code_of(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

int nk_wait_exit_code(pid_t pid)
{
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 255;
        return nk_exit_code_of(status);
}
