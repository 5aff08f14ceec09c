#include "proc.h"
#include "syscalls.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

void nk_reset_signals(void)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        for (int s = 1; s < NSIG; s++)
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
