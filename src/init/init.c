/* nook-init: the PID 1 of a container run with `--init` (Docker's
 * docker-init, tini, catatonit do the same job). The engine binds this
 * static program read-only at /dev/init and starts `/dev/init -- CMD...`.
 *
 * Why a container wants it: PID 1 of a PID namespace gets no default signal
 * actions (a SIGTERM without a handler does nothing to it), and every
 * orphan of the namespace is re-parented to it, so a command that never
 * calls wait() for processes it did not start collects zombies. This
 * program forks CMD, forwards every signal it receives to it, reaps every
 * child, and exits with CMD's status (128+N when signal N killed it).
 *
 * Static and small: it runs in any image (scratch, busybox) and links only
 * what it calls. No stdio: messages are written with write(2). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void say(const char *a, const char *b, const char *c)
{
        const char *parts[] = {"nook-init: ", a, b, c, "\n"};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
                if (parts[i] && write(STDERR_FILENO, parts[i], strlen(parts[i])) < 0)
                        return;
}

/* The command's process: a process group of its own that takes the
 * terminal's foreground (so ^C from a tty reaches it once, from the
 * kernel, not again through us), then the signal mask it would have had
 * without us, then exec. The tty handover runs with every signal blocked,
 * which is what lets a background group call tcsetpgrp (no SIGTTOU). */
static void run_command_child(char **argv, const sigset_t *orig)
{
        if (setpgid(0, 0) == 0 && tcsetpgrp(STDIN_FILENO, getpgrp()) < 0 && errno != ENOTTY &&
            errno != ENXIO && errno != EBADF)
                say("tcsetpgrp: ", strerror(errno), NULL);
        sigprocmask(SIG_SETMASK, orig, NULL);
        execvp(argv[0], argv);
        int e = errno;
        say("exec `", argv[0], e == ENOENT ? "`: command not found" : "`: cannot execute");
        _exit(e == ENOENT ? 127 : 126);
}

static int exit_code(int status)
{
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

/* Reap every child that has exited; true once `cmd` is among them. */
static bool reap(pid_t cmd, int *status)
{
        bool done = false;
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, WNOHANG);
                if (p <= 0)
                        return done;
                if (p == cmd) {
                        *status = st;
                        done = true;
                }
        }
}

int main(int argc, char **argv)
{
        int first = 1;
        if (argc > 1 && strcmp(argv[1], "--") == 0)
                first = 2;
        if (first >= argc) {
                say("usage: nook-init [--] COMMAND [ARG...]", NULL, NULL);
                return 125;
        }
        /* Every signal is taken synchronously by sigwaitinfo below; the
         * ones that report a fault in this program stay deliverable. */
        sigset_t all, orig;
        sigfillset(&all);
        const int faults[] = {SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS};
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
                sigdelset(&all, faults[i]);
        sigprocmask(SIG_SETMASK, &all, &orig);

        pid_t cmd = fork();
        if (cmd < 0) {
                say("fork: ", strerror(errno), NULL);
                return 125;
        }
        if (cmd == 0) /* child: becomes the command */
                run_command_child(argv + first, &orig);

        /* parent: PID 1, forwarding and reaping until the command exits */
        int status = 0;
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&all, &si);
                if (sig < 0)
                        continue; /* EINTR: a stop/continue of ours */
                if (sig != SIGCHLD) {
                        if (kill(cmd, sig) < 0 && errno != ESRCH)
                                say("kill: ", strerror(errno), NULL);
                        continue;
                }
                if (reap(cmd, &status))
                        return exit_code(status);
        }
}
