#include "hooks.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

/* Child of the runtime: exec the hook with the state pipe as stdin. */
static void hook_exec_child(const struct nk_hook *h, int stdin_fd)
{
        if (dup2(stdin_fd, STDIN_FILENO) < 0)
                _exit(127);
        char *default_args[] = {h->path, NULL};
        static char *empty_env[] = {NULL};
        execve(h->path, h->args ? h->args : default_args, h->env ? h->env : empty_env);
        _exit(127);
}

static int write_state(int fd, const char *state)
{
        size_t len = strlen(state);
        while (len > 0) {
                ssize_t w = write(fd, state, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1; /* EPIPE: the hook does not read stdin; fine */
                }
                state += w;
                len -= (size_t)w;
        }
        return 0;
}

/* Wait for the hook, killing it when its timeout passes. */
static int hook_wait(const struct nk_hook *h, pid_t pid, int pidfd, int *status, nk_error **err)
{
        if (h->timeout > 0 && pidfd >= 0) {
                struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
                int r;
                do
                        r = poll(&pfd, 1, h->timeout * 1000);
                while (r < 0 && errno == EINTR);
                if (r == 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, status, 0);
                        return nk_error_set(err, ETIMEDOUT, "hook `%s` timed out after %d s",
                                            h->path, h->timeout);
                }
        }
        while (waitpid(pid, status, 0) < 0)
                if (errno != EINTR)
                        return nk_error_set(err, errno, "wait for hook `%s`", h->path);
        return 0;
}

static int run_one(const struct nk_hook *h, const char *kind, const char *state, nk_error **err)
{
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return nk_error_set(err, errno, "%s hook `%s`: pipe", kind, h->path);
        _cleanup_close_ int rd = pipefd[0], wr = pipefd[1], pidfd = -1;
        struct nk_clone_opts co = {.cgroup_fd = -1, .pidfd_out = &pidfd};
        pid_t pid = nk_clone(&co, err);
        if (pid < 0)
                return nk_error_wrap(err, "%s hook `%s`", kind, h->path);
        if (pid == 0) /* hook process */
                hook_exec_child(h, rd);
        close(TAKE_FD(rd));
        /* The hook may exit without reading: don't die of SIGPIPE. */
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigaction(SIGPIPE, &ign, &old);
        write_state(wr, state ? state : "{}");
        sigaction(SIGPIPE, &old, NULL);
        close(TAKE_FD(wr));
        int status;
        if (hook_wait(h, pid, pidfd, &status, err) < 0)
                return nk_error_wrap(err, "%s hook", kind);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return nk_error_set(err, 0, "%s hook `%s` could not be executed (exit 127)", kind,
                                    h->path);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return nk_error_set(err, 0, "%s hook `%s` failed with exit code %d", kind, h->path,
                                    nk_exit_code_of(status));
        return 0;
}

int nk_hooks_run(const struct nk_spec *spec, enum nk_hook_kind kind, const char *state_json,
                 nk_error **err)
{
        for (size_t i = 0; i < spec->n_hooks[kind]; i++)
                if (run_one(&spec->hooks[kind][i], nk_hook_kind_name(kind), state_json, err) < 0)
                        return -1;
        return 0;
}

void nk_hooks_run_warn(const struct nk_spec *spec, enum nk_hook_kind kind, const char *state_json)
{
        for (size_t i = 0; i < spec->n_hooks[kind]; i++) {
                nk_error *e = NULL;
                if (run_one(&spec->hooks[kind][i], nk_hook_kind_name(kind), state_json, &e) < 0) {
                        _cleanup_free_ char *t = nk_error_text(e);
                        nk_warn("%s", t);
                        nk_error_free(e);
                }
        }
}
