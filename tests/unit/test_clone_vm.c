/* nk_clone_vm() against the kernel: the child really shares our memory
 * (its writes, even to the heap, are ours to read), we really sleep until
 * it has exited or exec'd, it starts with signals reset and the death
 * signal set, the pidfd comes back, and a PR_SET_DUMPABLE it makes (a
 * per-mm setting) does not stick to us. */
#include "unit.h"
#include "util/proc.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
        volatile int step;
        char *heap;               /* allocated by the child */
        int blocked_usr1, pdeath; /* as the child saw them */
        int dumpable_off;         /* the child turns dumpable off */
        const char *exec;         /* the child execs this, or exits 7 */
};

static void child(void *p)
{
        struct shared *s = p;
        sigset_t now;
        sigprocmask(SIG_SETMASK, NULL, &now);
        s->blocked_usr1 = sigismember(&now, SIGUSR1);
        prctl(PR_GET_PDEATHSIG, &s->pdeath, 0, 0, 0);
        s->heap = malloc(16);
        if (s->heap)
                memcpy(s->heap, "from the child", 15);
        if (s->dumpable_off)
                prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        usleep(50 * 1000); /* we must still be asleep when this ends */
        s->step = 1;
        if (s->exec)
                execl(s->exec, s->exec, (char *)NULL);
        _exit(7);
}

static int wait_code(pid_t pid)
{
        int st = 0;
        if (waitpid(pid, &st, 0) != pid)
                return -1;
        return nk_exit_code_of(st);
}

int main(void)
{
#if NK_HAVE_CLONE_VM
        unit_require_syscall(SYS_clone3, "clone3");
#endif
        struct nk_clone_opts o = {.cgroup_fd = -1, .death_signal = SIGKILL};
        struct shared s = {.dumpable_off = 1};
        int pidfd = -1;
        o.pidfd_out = &pidfd;
        sigset_t usr1;
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        nk_error *e = NULL;
        pid_t pid = nk_clone_vm(&o, child, &s, &e);
#if !NK_HAVE_CLONE_VM
        CHECK(pid < 0 && e && e->errno_ == ENOSYS);
        nk_error_free(e);
        return UNIT_END();
#endif
        CHECK(pid > 0);
        if (pid <= 0) {
                fprintf(stderr, "nk_clone_vm: %s\n", e ? e->msg : "?");
                return UNIT_END();
        }
        CHECK(s.step == 1); /* we slept until it exited */
        CHECK(s.heap && strcmp(s.heap, "from the child") == 0);
        free(s.heap);
        CHECK(s.blocked_usr1 == 0);
        CHECK(s.pdeath == SIGKILL);
        CHECK(pidfd >= 0);
        CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
        CHECK(wait_code(pid) == 7);
        close(pidfd);

        /* An exec ends the sharing as an exit does. */
        struct shared x = {.exec = "/bin/true"};
        o.pidfd_out = NULL;
        pid = nk_clone_vm(&o, child, &x, NULL);
        CHECK(pid > 0 && x.step == 1);
        CHECK(pid > 0 && wait_code(pid) == 0);
        free(x.heap);
        return UNIT_END();
}
