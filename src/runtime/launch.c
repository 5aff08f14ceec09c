/* Starting a process in a container, parent side (launch.h): what create,
 * run and exec share from the socketpair to the foreground wait. */
#include "launch.h"
#include "cgroup/cgroup.h"
#include "namespaces.h"
#include "terminal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/syscalls.h"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

void nk_launch_init(struct nk_launch *l)
{
        *l = (struct nk_launch){.sync_fd = -1,
                                .child_sync_fd = -1,
                                .console_fd = -1,
                                .console_parent_fd = -1,
                                .pidfd = -1};
}

void nk_launch_close(struct nk_launch *l)
{
        close_fd(&l->sync_fd);
        close_fd(&l->child_sync_fd);
        close_fd(&l->console_fd);
        close_fd(&l->console_parent_fd);
        close_fd(&l->pidfd);
}

void nk_launch_kill(struct nk_launch *l)
{
        if (l->pid <= 0)
                return;
        if (l->pidfd >= 0)
                nk_pidfd_send_signal(l->pidfd, SIGKILL, NULL, 0);
        else
                kill(l->pid, SIGKILL);
        (void)nk_wait_exit_code(l->pid);
        l->pid = 0;
}

int nk_launch_channels(struct nk_launch *l, bool terminal, const char *console_socket,
                       nk_error **err)
{
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return nk_error_set(err, errno, "sync socketpair");
        l->sync_fd = sp[0];
        l->child_sync_fd = sp[1];
        if (!terminal)
                return 0;
        if (console_socket) {
                l->console_fd = nk_unix_connect(console_socket, err);
                return l->console_fd < 0 ? nk_error_wrap(err, "--console-socket") : 0;
        }
        int cp[2]; /* foreground without a console socket: the master comes to us */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) < 0)
                return nk_error_set(err, errno, "console socketpair");
        l->console_parent_fd = cp[0];
        l->console_fd = cp[1];
        return 0;
}

static pid_t clone_child(struct nk_launch *l, struct nk_clone_opts *co, void (*fn)(void *),
                         void *arg, bool try_direct, nk_error **err)
{
        /* Set before the clone: the child reads it (it skips the syncs a
         * direct child cannot wait for). */
        l->direct = try_direct;
        if (l->direct) {
                nk_error *e = NULL;
                pid_t pid = nk_clone_vm(co, fn, arg, &e);
                if (pid > 0)
                        return pid;
                if (e->errno_ != ENOSYS && e->errno_ != EINVAL) {
                        nk_error_pass(err, e);
                        return -1;
                }
                nk_error_free(e);
                l->direct = false;
        }
        pid_t pid = nk_clone(co, err);
        if (pid == 0)
                fn(arg);
        return pid;
}

pid_t nk_launch_clone(struct nk_launch *l, struct nk_clone_opts *co, void (*fn)(void *), void *arg,
                      bool try_direct, struct nk_cgroup *cg, nk_error **err)
{
        pid_t pid = clone_child(l, co, fn, arg, try_direct, err);
        if (pid < 0)
                return -1;
        close_fd(&l->child_sync_fd);
        close_fd(&l->console_fd);
        /* clone(2) fallback (no pidfd came back): no CLONE_INTO_CGROUP. */
        bool no_clone3 = !co->pidfd_out || *co->pidfd_out < 0;
        if (co->cgroup_fd >= 0 && no_clone3 && nk_cgroup_enter(cg, pid, err) < 0) {
                kill(pid, SIGKILL);
                (void)nk_wait_exit_code(pid);
                return -1;
        }
        return pid;
}

int nk_launch_send_failed(struct nk_launch *l, nk_error **err)
{
        nk_error *e = NULL;
        if (*err && ((*err)->errno_ == EPIPE || (*err)->errno_ == ECONNRESET) &&
            nk_sync_take_error(l->sync_fd, &e) == 1) {
                nk_error_free(*err);
                *err = NULL;
                nk_error_pass(err, e);
        }
        return -1;
}

int nk_launch_send(struct nk_launch *l, enum nk_sync type, const char *text, nk_error **err)
{
        if (nk_sync_send_text(l->sync_fd, type, text, err) < 0)
                return nk_launch_send_failed(l, err);
        return 0;
}

int nk_launch_take_pid(struct nk_launch *l, pid_t middle, bool report_follows, int *middle_code,
                       nk_error **err)
{
        pid_t pid = 0;
        int pidfd = -1;
        int r = nk_ns_receive_pid(l->sync_fd, &pid, &pidfd, err); /* sync PID */
        if (r < 0 && !report_follows)
                kill(middle, SIGKILL);
        *middle_code = nk_wait_exit_code(middle); /* it reported or failed: it exits now */
        if (r < 0 && report_follows) {
                nk_error *e = NULL;
                (void)nk_ns_receive_pid(l->sync_fd, &pid, &pidfd, &e);
                nk_error_free(e);
        }
        close_fd(&l->pidfd);
        l->pid = pid;
        l->pidfd = pidfd;
        return r;
}

int nk_launch_write_pid_file(const char *path, pid_t pid, nk_error **err)
{
        if (!path)
                return 0;
        char buf[32], abs[PATH_MAX];
        int n = snprintf(buf, sizeof buf, "%d", (int)pid);
        _cleanup_free_ char *full = NULL;
        if (path[0] != '/' && getcwd(abs, sizeof abs) && asprintf(&full, "%s/%s", abs, path) < 0)
                return nk_error_set(err, ENOMEM, "pid file");
        return nk_write_file_replace(full ? full : path, buf, (size_t)n, 0644, err);
}

/* What a foreground run or exec forwards to the process (runc forwards
 * them all); SIGWINCH resizes the pty instead. */
static const int forwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM,
                                SIGTERM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH};

int nk_launch_foreground(struct nk_launch *l, const struct nk_launch_fg *fg, int *exit_code,
                         nk_error **err)
{
        sigset_t set, old;
        sigemptyset(&set);
        for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
                sigaddset(&set, forwarded[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        _cleanup_close_ int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
        _cleanup_close_ int master = -1;
        int r = 0;
        if (l->console_parent_fd >= 0 && (master = nk_recv_fd(l->console_parent_fd, err)) < 0)
                r = -1;
        if (master >= 0 && fg->sync_size)
                nk_terminal_sync_size(master); /* before the process can look */
        if (r == 0 && fg->start)
                r = fg->start(fg->start_arg, err);
        if (r == 0) {
                nk_foreground_loop(master, l->pidfd, sigfd);
                *exit_code = nk_wait_exit_code(l->pid);
                nk_debug("pid %d exited with %d", (int)l->pid, *exit_code);
                l->pid = 0;
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
