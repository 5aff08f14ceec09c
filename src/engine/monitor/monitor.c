/* The per-container monitor (see monitor.h): one poll loop over the
 * container's stdio, the attach socket and its clients, the init's pidfd
 * and the monitor's own signals. Small on purpose: no JSON in the loop,
 * buffers on the stack, nothing allocated per event. */
#include "engine/monitor/monitor.h"
#include "engine/container/ctr.h"
#include "engine/engine.h"
#include "engine/monitor/attach.h"
#include "net/ctrnet.h"
#include "runtime/container.h"
#include "runtime/security.h"
#include "runtime/terminal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/proc.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS NK_MONITOR_CLIENTS

struct mon {
        const struct nk_monitor_opts *o;
        int dfd, log_fd, listen_fd, sig_fd, status_fd;
        int clients[MAX_CLIENTS];
        int out_fd, err_fd, in_fd; /* the container's stdio, ours ends; -1 closed */
        pid_t pid;                 /* the init, 0 when none runs */
        int pidfd;
        int rootfs_fd; /* the starter's overlay for the first create, -1 once used */
        int restarts, last_code;
        int64_t log_size;
        int64_t restart_at; /* CLOCK_MONOTONIC ns of a pending restart, 0 none */
        bool done;
};

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static void report(struct mon *m, const char *fmt, ...)
{
        if (m->status_fd < 0)
                return;
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof line - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n > sizeof line - 2)
                n = sizeof line - 2;
        for (int i = 0; i < n; i++) /* one line, whatever the error said */
                if (line[i] == '\n')
                        line[i] = ' ';
        line[n++] = '\n';
        (void)!write(m->status_fd, line, (size_t)n);
}

/* Docker's exit codes for a failed start: 127 the command is not there,
 * 126 it cannot be executed, 125 anything else. */
static int error_code(const char *text)
{
        if (!strstr(text, "exec: "))
                return 125;
        if (strstr(text, "permission denied") || strstr(text, "is a directory"))
                return 126;
        if (strstr(text, "not found") || strstr(text, "no such file"))
                return 127;
        return 125;
}

/* ---- the log (k8s-file: "TIME STREAM F|P TEXT\n") ----------------------- */

static void rotate_log(struct mon *m)
{
        int keep = m->o->log_max_file > 1 ? m->o->log_max_file : 1;
        if (keep == 1) {
                if (ftruncate(m->log_fd, 0) == 0)
                        m->log_size = 0;
                return;
        }
        char from[32], to[32];
        for (int i = keep - 1; i >= 1; i--) {
                snprintf(from, sizeof from, i == 1 ? "ctr.log" : "ctr.log.%d", i - 1);
                snprintf(to, sizeof to, "ctr.log.%d", i);
                (void)renameat(m->dfd, from, m->dfd, to);
        }
        int fd = openat(m->dfd, "ctr.log", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                        0640);
        if (fd >= 0) {
                close(m->log_fd);
                m->log_fd = fd;
                m->log_size = 0;
        }
}

/* ctr.log is made by the first output: a container that prints nothing
 * (most detached ones) costs no file (`logs` reads an absent log as
 * empty). Appending: a restart goes on after the last run's lines. */
static bool open_log(struct mon *m)
{
        if (m->log_fd >= 0)
                return true;
        m->log_fd = openat(m->dfd, "ctr.log",
                           O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
        struct stat sb;
        m->log_size = m->log_fd >= 0 && fstat(m->log_fd, &sb) == 0 ? sb.st_size : 0;
        return m->log_fd >= 0;
}

static void log_chunk(struct mon *m, const char *stream, const char *buf, size_t n)
{
        if (!open_log(m))
                return;
        char head[80];
        nk_ctr_time_text(nk_ctr_now_ns(), head, sizeof head - 16);
        size_t hl = strlen(head);
        while (n > 0) {
                const char *nl = memchr(buf, '\n', n);
                size_t len = nl ? (size_t)(nl - buf) : n;
                int k = snprintf(head + hl, sizeof head - hl, " %s %c ", stream, nl ? 'F' : 'P');
                struct iovec iov[3] = {{head, hl + (size_t)k}, {(void *)buf, len}, {"\n", 1}};
                ssize_t w = writev(m->log_fd, iov, 3);
                if (w > 0)
                        m->log_size += w;
                buf += len + (nl ? 1 : 0);
                n -= len + (nl ? 1 : 0);
                if (m->o->log_max_size > 0 && m->log_size >= m->o->log_max_size)
                        rotate_log(m);
        }
}

/* ---- attach clients -------------------------------------------------- */

static void drop_client(struct mon *m, int i)
{
        close_fd(&m->clients[i]);
}

static void broadcast(struct mon *m, int type, const void *data, size_t n)
{
        for (int i = 0; i < MAX_CLIENTS; i++)
                if (m->clients[i] >= 0 && nk_attach_send(m->clients[i], type, data, n) < 0)
                        drop_client(m, i);
}

static void accept_client(struct mon *m)
{
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return;
        /* A client that stops reading must not stall the container's
         * output for long: after 2 s it is dropped. */
        struct timeval tv = {.tv_sec = 2};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        for (int i = 0; i < MAX_CLIENTS; i++)
                if (m->clients[i] < 0) {
                        m->clients[i] = fd;
                        return;
                }
        close(fd);
}

static void write_stdin(struct mon *m, const char *buf, size_t n)
{
        while (m->in_fd >= 0 && n > 0) {
                ssize_t w = write(m->in_fd, buf, n);
                if (w > 0) {
                        buf += w;
                        n -= (size_t)w;
                        continue;
                }
                if (w < 0 && errno == EINTR)
                        continue;
                struct pollfd p = {.fd = m->in_fd, .events = POLLOUT};
                if (w < 0 && errno == EAGAIN && poll(&p, 1, 1000) > 0 && !(p.revents & POLLERR))
                        continue;
                close_fd(&m->in_fd); /* the container stopped reading it */
        }
}

static void client_frame(struct mon *m, int i)
{
        char buf[NK_ATTACH_MAX];
        size_t n = 0;
        int t = nk_attach_recv(m->clients[i], buf, &n);
        if (t <= 0) {
                drop_client(m, i);
                return;
        }
        if (t == NK_ATTACH_STDIN)
                write_stdin(m, buf, n);
        else if (t == NK_ATTACH_STDIN_EOF && !m->o->tty)
                close_fd(&m->in_fd);
        else if (t == NK_ATTACH_WINSIZE && n == 4 && m->o->tty && m->out_fd >= 0) {
                struct winsize ws = {.ws_row = (unsigned short)(buf[0] & 0xff) |
                                               (unsigned short)((buf[1] & 0xff) << 8),
                                     .ws_col = (unsigned short)(buf[2] & 0xff) |
                                               (unsigned short)((buf[3] & 0xff) << 8)};
                ioctl(m->out_fd, TIOCSWINSZ, &ws);
        } else if (t == NK_ATTACH_SIGNAL && n == 1 && m->pidfd >= 0)
                (void)nk_pidfd_send_signal(m->pidfd, buf[0], NULL, 0);
}

/* ---- the container's output ----------------------------------------- */

/* Read once; false when the stream ended (or has nothing more now). */
static bool pump(struct mon *m, int *fd, bool is_err)
{
        char buf[16384];
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return false;
        if (n <= 0) { /* EOF, or EIO from a pty whose slave side is gone */
                close_fd(fd);
                return false;
        }
        log_chunk(m, is_err ? "stderr" : "stdout", buf, (size_t)n);
        broadcast(m, is_err ? NK_ATTACH_STDERR : NK_ATTACH_STDOUT, buf, (size_t)n);
        return true;
}

static void drain(struct mon *m)
{
        while (m->out_fd >= 0 && pump(m, &m->out_fd, false))
                ;
        while (m->err_fd >= 0 && pump(m, &m->err_fd, true))
                ;
}

/* ---- starting the container ----------------------------------------- */

static int set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);
        return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* nk_self_exe_guard: with argv, a re-exec of the set-up from a sealed
 * copy when it cannot hand over (in the loop, argv NULL, that case fails
 * the restart instead). The starter's rootfs mount, named by
 * --rootfs-fd in argv, must survive that exec. */
static int guard_self(struct mon *m, bool first, const struct nk_spec *spec, int mnt, int *init_fd,
                      nk_error **err)
{
        bool keep = first && m->o->argv && mnt == m->o->rootfs_fd;
        if (keep)
                (void)fcntl(mnt, F_SETFD, 0);
        int r = nk_self_exe_guard(first ? m->o->argv : NULL, nk_container_may_hand_over(spec),
                                  init_fd, err);
        if (keep)
                (void)fcntl(mnt, F_SETFD, FD_CLOEXEC);
        return r;
}

/* nk_container_create with the spec of the container directory, its
 * overlay (the starter's the first time, else made now: the last one
 * went with the container's mount namespace) attached on merged/ by the
 * init in its own namespace, and nook-init to hand over to. */
static int create_oci(struct mon *m, bool first, int *master, nk_error **err)
{
        const struct nk_monitor_opts *o = m->o;
        _cleanup_free_ char *dir = nk_ctr_dir(o->store, o->id), *rootfs = NULL, *cache = NULL;
        if (!dir || asprintf(&rootfs, "%s/merged", dir) < 0 ||
            asprintf(&cache, "%s/seccomp-cache", o->store) < 0)
                return nk_error_set(err, ENOMEM, "create");
        _cleanup_close_ int mnt = first ? TAKE_FD(m->rootfs_fd) : -1;
        if (mnt < 0 && (mnt = nk_image_rootfs_open(o->store, o->id, err)) < 0)
                return -1;
        struct nk_spec *spec = NULL;
        if (nk_spec_load(dir, &spec, err) < 0)
                return -1;
        int init_fd = -1;
        int r = guard_self(m, first, spec, mnt, &init_fd, err);
        struct nk_create_opts co = {
                .root = o->root,
                .id = o->id,
                .bundle = dir,
                .console_master = o->tty ? master : NULL,
                .init_fd = init_fd,
                .systemd_cgroup = o->systemd_cgroup,
                .no_cgroup = o->no_cgroup,
                .seccomp_cache = cache,
                .rootfs_mount_fd = mnt,
        };
        if (r == 0)
                r = nk_container_create(spec, rootfs, &co, err);
        if (init_fd >= 0)
                close(init_fd);
        nk_spec_free(spec);
        return r;
}

/* Create the OCI container with our pipes (or a pty whose master the
 * runtime hands back) as its stdio: the runtime gives the init the
 * creator's fds 0-2. */
static int create_with_stdio(struct mon *m, bool first, nk_error **err)
{
        const struct nk_monitor_opts *o = m->o;
        int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
        if (!o->tty && (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0 ||
                        (o->stdin_open && pipe2(in, O_CLOEXEC) < 0))) {
                nk_error_set(err, errno, "stdio pipes");
                goto fail;
        }
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (!o->tty) {
                dup2(in[0] >= 0 ? in[0] : null, 0);
                dup2(out[1], 1);
                dup2(er[1], 2);
        }
        int master = -1;
        int r = create_oci(m, first, &master, err);
        for (int fd = 0; fd < 3; fd++)
                dup2(null, fd);
        close(null);
        if (r < 0)
                goto fail;
        if (o->tty) {
                m->out_fd = master;
                if (o->stdin_open)
                        m->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
        } else {
                m->out_fd = out[0];
                m->err_fd = er[0];
                m->in_fd = in[1];
                close(out[1]);
                close(er[1]);
                close_fd(&in[0]);
        }
        set_nonblock(m->out_fd);
        if (m->err_fd >= 0)
                set_nonblock(m->err_fd);
        if (m->in_fd >= 0)
                set_nonblock(m->in_fd);
        return 0;
fail:
        for (int i = 0; i < 2; i++) {
                close_fd(&in[i]);
                close_fd(&out[i]);
                close_fd(&er[i]);
        }
        return -1;
}

static void delete_oci(struct mon *m)
{
        nk_error *e = NULL;
        if (nk_container_delete(m->o->root, m->o->id, true, &e) < 0)
                nk_error_free(e); /* absent is fine; a leftover is rm -f's */
}

/* Wait for the first attach client, or for the starter to be gone (its
 * end of the status pipe closed: POLLERR on ours). */
static void wait_first_client(struct mon *m)
{
        struct pollfd p[2] = {{.fd = m->listen_fd, .events = POLLIN},
                              {.fd = m->status_fd, .events = 0}};
        int64_t until = mono_ns() + 60 * 1000000000LL;
        while (mono_ns() < until) {
                int r = poll(p, 2, 1000);
                if (r < 0 && errno != EINTR)
                        return;
                if (r > 0 && (p[0].revents & POLLIN)) {
                        accept_client(m);
                        return;
                }
                if (r > 0 && (p[1].revents & (POLLERR | POLLHUP)))
                        return;
        }
}

/* The starter's "g" on the status socket; false when it closed it first
 * (it failed, or was killed). */
static bool gate_opened(struct mon *m)
{
        char c = 0;
        ssize_t r;
        while ((r = read(m->status_fd, &c, 1)) < 0 && errno == EINTR)
                ;
        return r == 1 && c == 'g';
}

static void close_stdio(struct mon *m)
{
        close_fd(&m->out_fd);
        close_fd(&m->err_fd);
        close_fd(&m->in_fd);
}

static int launch(struct mon *m, bool first, nk_error **err)
{
        if (create_with_stdio(m, first, err) < 0)
                return -1;
        struct nk_state *st = NULL;
        if (nk_state_load(m->o->root, m->o->id, &st, err) < 0)
                goto fail;
        m->pid = st->pid;
        nk_state_free(st);
        m->pidfd = nk_pidfd_open(m->pid, 0);
        if (m->pidfd < 0) {
                nk_error_set(err, errno, "pidfd of the container init %d", (int)m->pid);
                goto fail;
        }
        if (first && (m->o->wait_attach || m->o->gate)) {
                report(m, "created");
                if (m->o->gate && !gate_opened(m)) {
                        nk_error_set(err, 0, "the starter went away before the start");
                        goto fail;
                }
                if (m->o->wait_attach)
                        wait_first_client(m);
        }
        if (nk_container_start(m->o->root, m->o->id, err) < 0)
                goto fail;
        nk_error *e = NULL;
        if (nk_ctr_write_started(m->dfd, m->pid, nk_ctr_now_ns(), m->restarts, &e) < 0)
                nk_error_free(e); /* ps then reads the runtime state */
        return 0;
fail:
        close_fd(&m->pidfd);
        if (m->pid > 0) {
                kill(m->pid, SIGKILL);
                (void)nk_wait_exit_code(m->pid);
        }
        m->pid = 0;
        close_stdio(m);
        delete_oci(m);
        return -1;
}

/* ---- exits, restarts and the end ----------------------------------- */

static bool should_restart(struct mon *m, int code)
{
        if (faccessat(m->dfd, "stopped", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return false;
        /* `update --restart` since this monitor started: its policy wins */
        int policy = (int)m->o->restart, max = m->o->restart_max;
        (void)nk_ctr_read_restart(m->dfd, &policy, &max);
        switch (policy) {
        case NK_MON_RESTART_ALWAYS:
        case NK_MON_RESTART_UNLESS_STOPPED:
                return true;
        case NK_MON_RESTART_ON_FAILURE:
                return code != 0 && (max == 0 || m->restarts < max);
        default:
                return false;
        }
}

static void finish(struct mon *m)
{
        nk_error *e = NULL;
        _cleanup_free_ char *trash = NULL, *volumes = NULL;
        if (m->o->rm) {
                volumes = nk_ctr_anon_volumes(m->dfd);
                if (m->o->net_down)
                        m->o->net_down(m->o->store, m->o->root, m->o->id);
                if (nk_ctr_retire(m->o->store, m->o->id, m->o->name, &trash, &e) < 0)
                        nk_error_free(e);
        } else {
                (void)unlinkat(m->dfd, "attach", 0);
                (void)unlinkat(m->dfd, "monitor", 0);
        }
        int32_t code = m->last_code;
        broadcast(m, NK_ATTACH_EXIT, &code, sizeof code);
        for (int i = 0; i < MAX_CLIENTS; i++)
                drop_client(m, i);
        if (m->o->rm)
                delete_oci(m); /* see on_init_exit() */
        e = NULL;
        if (trash && nk_ctr_bury(trash, &e) < 0)
                nk_error_free(e);
        /* like the rootfs: its unmount waits for an RCU grace period */
        if (m->o->rm && m->o->net_down)
                nk_ctrnet_netns_drop(m->o->root, m->o->id);
        nk_ctr_remove_volumes(m->o->store, volumes); /* --rm: the anonymous ones */
        m->done = true;
}

static void record_exit(struct mon *m, int code)
{
        m->last_code = code;
        nk_error *e = NULL;
        /* A --rm container's record goes with it: no fsync for it. */
        if (nk_ctr_write_exit(m->dfd, code, nk_ctr_now_ns(), !m->o->rm, &e) < 0)
                nk_error_free(e);
}

/* Docker's back-off: 100 ms doubling at each restart, at most 30 s. */
static void schedule_or_finish(struct mon *m, int code)
{
        if (!should_restart(m, code)) {
                finish(m);
                return;
        }
        if (m->o->rm) /* restarted after all (update --restart): a new create */
                delete_oci(m);
        int shift = m->restarts < 9 ? m->restarts : 9;
        int64_t delay = (100LL * 1000000) << shift;
        if (delay > 30LL * 1000000000)
                delay = 30LL * 1000000000;
        m->restarts++;
        m->restart_at = mono_ns() + delay;
        broadcast(m, NK_ATTACH_RESTART, NULL, 0);
}

static void on_init_exit(struct mon *m)
{
        drain(m);
        (void)unlinkat(m->dfd, "paused", 0);
        int code = nk_wait_exit_code(m->pid);
        close_fd(&m->pidfd);
        m->pid = 0;
        record_exit(m, code);
        close_stdio(m);
        /* Without --rm the exit code a client gets means the container
         * can be started again: its runtime state is gone by then. A --rm
         * container's goes after the exit code is told (finish): retired
         * first, it has no name or record anybody could start or remove,
         * and a monitor killed in between leaves it to the sweep of the
         * trash (nk_ctr_sweep_trash). */
        if (!m->o->rm)
                delete_oci(m);
        schedule_or_finish(m, code);
}

static void block_signals(struct mon *m);

static void handoff(const struct mon *m, struct nk_monitor_handoff *h)
{
        *h = (struct nk_monitor_handoff){.pid = m->pid,
                                         .restarts = m->restarts,
                                         .pidfd = m->pidfd,
                                         .out_fd = m->out_fd,
                                         .err_fd = m->err_fd,
                                         .in_fd = m->in_fd,
                                         .listen_fd = m->listen_fd,
                                         .log_fd = m->log_fd,
                                         .dfd = m->dfd};
        memcpy(h->clients, m->clients, sizeof h->clients);
}

/* Go on in a fresh image of the binary (o->fresh), without the heap a
 * create grew; returns only if that failed. */
static void go_fresh(struct mon *m)
{
        if (!m->o->fresh)
                return;
        struct nk_monitor_handoff h;
        handoff(m, &h);
        close_fd(&m->sig_fd);
        m->o->fresh(&h, m->o->fresh_arg);
        block_signals(m); /* the exec failed: on as we are */
}

/* The rootfs lock for a restart, which makes a new overlay: -1 and the
 * restart put off a little while a `cp` into the stopped container holds
 * it (never waiting in the loop); -1 too when there is no lock to take
 * (the directory went: the launch fails and says so). */
static int restart_lock(struct mon *m, bool *busy)
{
        nk_error *e = NULL;
        int fd = nk_image_rootfs_lock(m->o->store, m->o->id, false, &e);
        *busy = fd < 0 && e && e->errno_ == EWOULDBLOCK;
        nk_error_free(e);
        if (*busy)
                m->restart_at = mono_ns() + 100LL * 1000000;
        return fd;
}

static void restart_now(struct mon *m)
{
        m->restart_at = 0;
        if (faccessat(m->dfd, "stopped", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                finish(m);
                return;
        }
        bool busy;
        _cleanup_close_ int lock = restart_lock(m, &busy);
        if (busy)
                return;
        nk_error *e = NULL;
        int r = launch(m, false, &e);
        if (lock >= 0) /* running: a `cp` now finds its init's root */
                close(TAKE_FD(lock));
        if (r == 0) {
                go_fresh(m); /* shed what the create allocated */
                return;
        }
        /* Not fatal: the failure goes to the log (one whole line) and
         * counts as a start that exited at once. */
        _cleanup_free_ char *t = nk_error_text(e);
        nk_error_free(e);
        _cleanup_free_ char *line = NULL;
        if (t && asprintf(&line, "%s\n", t) > 0)
                log_chunk(m, "stderr", line, strlen(line));
        nk_error *e2 = NULL;
        if (nk_ctr_write_started(m->dfd, 0, nk_ctr_now_ns(), m->restarts, &e2) < 0)
                nk_error_free(e2);
        int code = t ? error_code(t) : 125;
        record_exit(m, code);
        schedule_or_finish(m, code);
}

/* SIGTERM/SIGINT to the monitor (`nook stop` of a container waiting to
 * restart): no more restarts; a running init is the stop command's. */
static void on_signal(struct mon *m)
{
        struct signalfd_siginfo si;
        if (read(m->sig_fd, &si, sizeof si) != sizeof si)
                return;
        if (m->pid == 0 && !m->done)
                finish(m);
}

static void loop(struct mon *m)
{
        while (!m->done) {
                struct pollfd pf[5 + MAX_CLIENTS] = {
                        {.fd = m->listen_fd, .events = POLLIN}, {.fd = m->sig_fd, .events = POLLIN},
                        {.fd = m->out_fd, .events = POLLIN},    {.fd = m->err_fd, .events = POLLIN},
                        {.fd = m->pidfd, .events = POLLIN},
                };
                for (int i = 0; i < MAX_CLIENTS; i++)
                        pf[5 + i] = (struct pollfd){.fd = m->clients[i], .events = POLLIN};
                int64_t due = m->restart_at;
                int timeout = -1;
                if (due) {
                        int64_t left = (due - mono_ns()) / 1000000;
                        timeout = left < 0 ? 0 : (int)left + 1;
                }
                int r = poll(pf, ARRAY_SIZE(pf), timeout);
                if (r < 0) {
                        if (errno != EINTR)
                                usleep(10000); /* never spin, never die */
                        continue;
                }
                if (pf[2].revents && m->out_fd >= 0)
                        pump(m, &m->out_fd, false);
                if (pf[3].revents && m->err_fd >= 0)
                        pump(m, &m->err_fd, true);
                if (pf[0].revents & POLLIN)
                        accept_client(m);
                for (int i = 0; i < MAX_CLIENTS; i++)
                        if (pf[5 + i].revents && m->clients[i] >= 0)
                                client_frame(m, i);
                if (pf[1].revents & POLLIN)
                        on_signal(m);
                if (pf[4].revents && m->pidfd >= 0)
                        on_init_exit(m);
                if (m->restart_at && mono_ns() >= m->restart_at)
                        restart_now(m);
        }
}

static void block_signals(struct mon *m)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, NULL);
        m->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        signal(SIGPIPE, SIG_IGN);
}

static int setup(struct mon *m, nk_error **err)
{
        const struct nk_monitor_opts *o = m->o;
        m->dfd = nk_ctr_dir_open(o->store, o->id, err);
        pid_t self = o->record_pid > 0 ? o->record_pid : getpid();
        if (m->dfd < 0 || nk_ctr_write_monitor(m->dfd, self, err) < 0)
                return -1;
        (void)unlinkat(m->dfd, "stopped", 0);
        m->listen_fd = nk_attach_listen(m->dfd, "attach", err);
        if (m->listen_fd < 0)
                return -1;
        block_signals(m);
        return launch(m, true, err);
}

static void mon_init(struct mon *m, const struct nk_monitor_opts *o)
{
        *m = (struct mon){.o = o,
                          .dfd = -1,
                          .log_fd = -1,
                          .listen_fd = -1,
                          .sig_fd = -1,
                          .status_fd = o->status_fd,
                          .rootfs_fd = o->rootfs_fd,
                          .out_fd = -1,
                          .err_fd = -1,
                          .in_fd = -1,
                          .pidfd = -1};
        for (int i = 0; i < MAX_CLIENTS; i++)
                m->clients[i] = -1;
}

int nk_monitor_setup(const struct nk_monitor_opts *o, struct nk_monitor_handoff *h)
{
        struct mon m;
        mon_init(&m, o);
        nk_error *e = NULL;
        if (setup(&m, &e) < 0) {
                _cleanup_free_ char *t = nk_error_text(e);
                nk_error_free(e);
                int code = t ? error_code(t) : 125;
                report(&m, "error %d %s", code, t ? t : "out of memory");
                if (m.dfd >= 0) {
                        (void)unlinkat(m.dfd, "attach", 0);
                        (void)unlinkat(m.dfd, "monitor", 0);
                }
                /* Nothing ran: the starter reports and decides (--rm). */
                return code;
        }
        report(&m, "ok %d", (int)m.pid);
        close_fd(&m.status_fd);
        close_fd(&m.sig_fd);
        /* The client that connected for the start (a foreground run) is
         * handed over too. */
        handoff(&m, h);
        return 0;
}

/* ---- set-up apart: the handoff over a socket pair ------------------ */

#define HANDOFF_FDS (7 + MAX_CLIENTS)

static void handoff_fds(struct nk_monitor_handoff *h, int *v[HANDOFF_FDS])
{
        int *f[7] = {&h->pidfd,     &h->out_fd, &h->err_fd, &h->in_fd,
                     &h->listen_fd, &h->log_fd, &h->dfd};
        memcpy(v, f, sizeof f);
        for (int i = 0; i < MAX_CLIENTS; i++)
                v[7 + i] = &h->clients[i];
}

/* The struct as it is (its fd numbers only say which are there) and the
 * fds that are, in that order, with SCM_RIGHTS. */
static int send_handoff(int sock, const struct nk_monitor_handoff *h)
{
        struct nk_monitor_handoff copy = *h;
        int *v[HANDOFF_FDS], fds[HANDOFF_FDS];
        size_t n = 0;
        handoff_fds(&copy, v);
        for (int i = 0; i < HANDOFF_FDS; i++)
                if (*v[i] >= 0)
                        fds[n++] = *v[i];
        union {
                char buf[CMSG_SPACE(sizeof fds)];
                struct cmsghdr align;
        } u = {0};
        struct iovec iov = {.iov_base = &copy, .iov_len = sizeof copy};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (n > 0) {
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(n * sizeof(int));
                memcpy(CMSG_DATA(c), fds, n * sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof copy ? 0 : -1;
}

static int recv_handoff(int sock, struct nk_monitor_handoff *h)
{
        struct nk_monitor_handoff got;
        union {
                char buf[CMSG_SPACE(HANDOFF_FDS * sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = &got, .iov_len = sizeof got};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t r;
        while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
                ;
        struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
        size_t n = c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS
                           ? (c->cmsg_len - CMSG_LEN(0)) / sizeof(int)
                           : 0;
        int fds[HANDOFF_FDS], *v[HANDOFF_FDS];
        if (n > 0)
                memcpy(fds, CMSG_DATA(c), n * sizeof(int));
        handoff_fds(&got, v);
        size_t k = 0;
        for (int i = 0; i < HANDOFF_FDS; i++)
                if (*v[i] >= 0)
                        *v[i] = k < n ? fds[k++] : -1;
        if (r != (ssize_t)sizeof got || k != n || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                for (size_t i = 0; i < n; i++)
                        close(fds[i]);
                return -1;
        }
        *h = got;
        return 0;
}

int nk_monitor_setup_apart(const struct nk_monitor_opts *o, struct nk_monitor_handoff *h)
{
        struct mon m;
        mon_init(&m, o);
        int sp[2];
        pid_t self = getpid();
        /* The init is set-up's child: once set-up exits, ours. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 ||
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
                report(&m, "error 125 monitor: %s", strerror(errno));
                return 125;
        }
        pid_t child = fork();
        if (child < 0) {
                report(&m, "error 125 monitor: fork: %s", strerror(errno));
                close(sp[0]);
                close(sp[1]);
                return 125;
        }
        if (child == 0) {
                /* set-up's process: dies with the monitor (as set-up in
                 * the monitor itself would), hands over and exits */
                close(sp[0]);
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != self)
                        _exit(125);
                struct nk_monitor_opts co = *o;
                co.record_pid = self;
                struct nk_monitor_handoff ch;
                int rc = nk_monitor_setup(&co, &ch);
                if (rc == 0 && send_handoff(sp[1], &ch) < 0)
                        rc = 125;
                _exit(rc);
        }
        close(sp[1]);
        close_fd(&m.status_fd); /* set-up reports */
        if (o->rootfs_fd >= 0)  /* set-up's: held here, it would keep the overlay alive */
                close(o->rootfs_fd);
        int r = recv_handoff(sp[0], h);
        close(sp[0]);
        int code = nk_wait_exit_code(child);
        if (r < 0)
                return code ? code : 125;
        /* In the monitor, not in set-up's process that exits. */
        if (o->rm && o->net_down && o->net_warm)
                o->net_warm(o->store, o->id);
        return 0;
}

int nk_monitor_loop(const struct nk_monitor_opts *o, const struct nk_monitor_handoff *h)
{
        struct mon m;
        mon_init(&m, o);
        m.status_fd = -1;
        m.rootfs_fd = -1;
        m.pid = h->pid;
        m.pidfd = h->pidfd;
        m.out_fd = h->out_fd;
        m.err_fd = h->err_fd;
        m.in_fd = h->in_fd;
        m.listen_fd = h->listen_fd;
        m.log_fd = h->log_fd;
        m.dfd = h->dfd;
        m.restarts = h->restarts;
        memcpy(m.clients, h->clients, sizeof m.clients);
        struct stat sb;
        if (m.log_fd >= 0 && fstat(m.log_fd, &sb) == 0)
                m.log_size = sb.st_size;
        block_signals(&m);
        loop(&m);
        return 0;
}
