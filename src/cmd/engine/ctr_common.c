/* What the container commands share: the record, the monitor's start and
 * the attach relay, stop and forced removal, inspect's object, templates. */
#include "cmd/engine/ctr_cmd.h"
#include "engine/gotmpl.h"
#include "engine/monitor/attach.h"
#include "net/ctrnet.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int nk_ctr_fail(nk_error *e, int code)
{
        nk_cmd_fail(e);
        return code;
}

const char *nk_ctr_cgroup_parent(void)
{
        const char *p = getenv("NOOK_CGROUP_PARENT");
        return p && p[0] == '/' ? p : "/nook";
}

json_t *nk_ctr_record(const char *store, const char *id, nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *path = NULL;
        if (!dir || asprintf(&path, "%s/container.json", dir) < 0) {
                nk_error_set(err, ENOMEM, "record");
                return NULL;
        }
        json_error_t je;
        json_t *rec = json_load_file(path, 0, &je);
        if (!rec || !json_is_object(rec)) {
                json_decref(rec);
                nk_error_set(err, errno ? errno : EINVAL, "container %.12s: `%s`: %s", id, path,
                             je.text);
        }
        return rec;
}

int nk_ctr_record_write(const char *store, const char *id, json_t *rec, bool durable,
                        nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *path = NULL;
        _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);
        if (!dir || !text || asprintf(&path, "%s/container.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "record");
        return durable ? nk_write_file_atomic(path, text, strlen(text), 0600, err)
                       : nk_write_file_replace(path, text, strlen(text), 0600, err);
}

int nk_ctr_record_save(const char *store, const char *id, json_t *rec, nk_error **err)
{
        return nk_ctr_record_write(store, id, rec, true, err);
}

/* ---- the monitor -------------------------------------------------------- */

static const char *jstr(json_t *o, const char *path)
{
        /* "A.B.C" */
        char key[64];
        const char *p = path;
        while (o && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                if (n >= sizeof key)
                        return NULL;
                memcpy(key, p, n);
                key[n] = '\0';
                o = json_object_get(o, key);
                p += n + (dot ? 1 : 0);
        }
        return json_string_value(o);
}

static json_t *jget(json_t *o, const char *a, const char *b)
{
        o = json_object_get(o, a);
        return b ? json_object_get(o, b) : o;
}

/* argv of `nook [globals] monitor [options] ID`. */
static char **monitor_argv(const struct nk_global *g, const char *id, json_t *rec, bool wait,
                           bool gate, bool stdin_open, int status_fd, int rootfs_fd)
{
        char **v = NULL;
        char buf[64];
        nk_strv_push(&v, "nook");
        nk_strv_push(&v, "--root");
        nk_strv_push(&v, g->root);
        nk_strv_push(&v, "--store");
        nk_strv_push(&v, g->store);
        if (g->no_cgroup)
                nk_strv_push(&v, "--cgroup-manager=disabled");
        if (g->systemd_cgroup)
                nk_strv_push(&v, "--systemd-cgroup");
        nk_strv_push(&v, "monitor");
        if (json_is_true(jget(rec, "Config", "Tty")))
                nk_strv_push(&v, "--tty");
        /* -i: the container's stdin stays open for attach, even detached */
        if (stdin_open || json_is_true(jget(rec, "Config", "OpenStdin")))
                nk_strv_push(&v, "--stdin");
        if (json_is_true(jget(rec, "HostConfig", "AutoRemove")))
                nk_strv_push(&v, "--rm");
        if (wait)
                nk_strv_push(&v, "--wait-attach");
        if (gate)
                nk_strv_push(&v, "--gate");
        const char *policy = jstr(rec, "HostConfig.RestartPolicy.Name");
        if (policy && *policy) {
                snprintf(buf, sizeof buf, "--restart=%s", policy);
                nk_strv_push(&v, buf);
        }
        json_int_t max = json_integer_value(
                json_object_get(jget(rec, "HostConfig", "RestartPolicy"), "MaximumRetryCount"));
        snprintf(buf, sizeof buf, "--restart-max=%lld", (long long)max);
        nk_strv_push(&v, buf);
        snprintf(buf, sizeof buf, "--log-max-size=%lld",
                 (long long)json_integer_value(jget(rec, "Nook", "LogMaxSize")));
        nk_strv_push(&v, buf);
        json_int_t files = json_integer_value(jget(rec, "Nook", "LogMaxFile"));
        snprintf(buf, sizeof buf, "--log-max-file=%lld", (long long)(files > 0 ? files : 1));
        nk_strv_push(&v, buf);
        snprintf(buf, sizeof buf, "--status-fd=%d", status_fd);
        nk_strv_push(&v, buf);
        if (rootfs_fd >= 0) {
                snprintf(buf, sizeof buf, "--rootfs-fd=%d", rootfs_fd);
                nk_strv_push(&v, buf);
        }
        const char *name = json_string_value(json_object_get(rec, "Name"));
        if (name && *name) {
                nk_strv_push(&v, "--name");
                nk_strv_push(&v, name[0] == '/' ? name + 1 : name);
        }
        nk_strv_push(&v, id);
        return v;
}

/* The monitor: /proc/self/exe spawned (vfork-style, posix_spawn: this
 * process may have mapped the engine module's dozens of libraries, which a
 * fork would copy the page tables of) in a session of its own; it forks
 * once more at once (`nook monitor`), so it is nobody's child here and not
 * a session leader that could take a terminal. A fresh image: nothing of
 * libcurl or OpenSSL, and a command line that says what it is (tools and
 * tests find monitors by `--root ROOT` in it). Forking it from here was
 * tried: ~15 ms earlier on a quiet machine, nothing measurable under
 * load, and for its first moments a monitor that looks like `nook run`.
 * Returns our end of its status socket: lines from the monitor, and the
 * gate's "g" to it. */
static int spawn_monitor(const struct nk_global *g, const char *id, json_t *rec, bool wait,
                         bool gate, bool stdin_open, int rootfs, nk_error **err)
{
        int p[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
                return nk_error_set(err, errno, "status socket");
        _cleanup_strv_ char **argv = monitor_argv(g, id, rec, wait, gate, stdin_open, p[1], rootfs);
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&at);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&at, &none);
        for (int fd = 0; fd < 3; fd++)
                posix_spawn_file_actions_addopen(&fa, fd, "/dev/null", O_RDWR, 0);
        /* dup2 onto itself: the status pipe stays open across the exec */
        posix_spawn_file_actions_adddup2(&fa, p[1], p[1]);
        /* the same for the rootfs mount, the monitor's only (it passes it
         * to the runtime's init, which attaches it, and closes it) */
        if (rootfs >= 0)
                posix_spawn_file_actions_adddup2(&fa, rootfs, rootfs);
        pid_t pid = -1;
        int r = argv ? posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ) : ENOMEM;
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(p[1]);
        if (r != 0) {
                close(p[0]);
                return nk_error_set(err, r, "start the monitor");
        }
        (void)nk_wait_exit_code(pid); /* it forked the monitor and exited */
        return p[0];
}

/* One line of the status pipe ("" at EOF). */
static void read_status(int fd, char *line, size_t size)
{
        size_t n = 0;
        while (n + 1 < size) {
                ssize_t r = read(fd, line + n, 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 || line[n] == '\n')
                        break;
                n++;
        }
        line[n] = '\0';
}

/* "error CODE TEXT": print TEXT, return CODE; "" (the monitor died). */
static int status_error(const char *line)
{
        int code = 125, off = 0;
        if (sscanf(line, "error %d %n", &code, &off) >= 1 && off > 0) {
                nk_log(NK_LOG_ERROR, "%s", line + off);
                return code;
        }
        nk_log(NK_LOG_ERROR, "the container's monitor exited during set-up%s%s", *line ? ": " : "",
               line);
        return 125;
}

static void send_winsize(int sock)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
                return;
        unsigned char b[4] = {(unsigned char)(ws.ws_row & 0xff), (unsigned char)(ws.ws_row >> 8),
                              (unsigned char)(ws.ws_col & 0xff), (unsigned char)(ws.ws_col >> 8)};
        (void)nk_attach_send(sock, NK_ATTACH_WINSIZE, b, 4);
}

static int write_out(int fd, const char *b, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, b, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                b += w;
                n -= (size_t)w;
        }
        return 0;
}

/* The exit code the monitor recorded, for a relay whose monitor vanished. */
static int recorded_exit(const struct nk_global *g, const char *id)
{
        struct nk_ctr_state st;
        nk_error *e = NULL;
        if (nk_ctr_state(g->store, g->root, id, &st, &e) < 0) {
                nk_error_free(e);
                return 125;
        }
        return st.exit_code >= 0 ? st.exit_code : 125;
}

/* Relay our stdio to the monitor until it sends the exit code. */
static int relay(const struct nk_global *g, const char *id, int sock, bool tty, bool stdin_open)
{
        sigset_t set, old;
        sigemptyset(&set);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
                sigaddset(&set, sigs[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
        struct termios saved, raw;
        bool raw_mode = tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
        if (raw_mode) {
                raw = saved;
                cfmakeraw(&raw);
                tcsetattr(STDIN_FILENO, TCSANOW, &raw);
                send_winsize(sock);
        }
        bool in_open = stdin_open, after_p = false;
        int code = -2; /* -2: going on, -3: detached */
        char *buf = malloc(NK_ATTACH_MAX);
        while (buf && code == -2) {
                struct pollfd pf[3] = {{.fd = sock, .events = POLLIN},
                                       {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                                       {.fd = sfd, .events = POLLIN}};
                if (poll(pf, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pf[0].revents) {
                        size_t n = 0;
                        int t = nk_attach_recv(sock, buf, &n);
                        if (t <= 0)
                                break;
                        if (t == NK_ATTACH_STDOUT || t == NK_ATTACH_STDERR)
                                (void)write_out(t == NK_ATTACH_STDOUT ? 1 : 2, buf, n);
                        else if (t == NK_ATTACH_EXIT && n == 4) {
                                int32_t c;
                                memcpy(&c, buf, 4);
                                code = c < 0 ? 125 : c;
                        }
                }
                if (pf[1].revents) {
                        ssize_t n = read(STDIN_FILENO, buf, 4096);
                        /* Docker's detach keys on a terminal: ctrl-p ctrl-q
                         * (a ctrl-p alone is held back, then sent). */
                        for (ssize_t i = 0; tty && i < n && code == -2; i++) {
                                if (after_p && buf[i] == 0x11)
                                        code = -3;
                                else if (after_p)
                                        (void)nk_attach_send(sock, NK_ATTACH_STDIN, "\x10", 1);
                                after_p = buf[i] == 0x10;
                        }
                        if (code == -3)
                                break;
                        if (tty && n > 0 && after_p)
                                n--; /* held back until the next byte */
                        if (n > 0)
                                (void)nk_attach_send(sock, NK_ATTACH_STDIN, buf, (size_t)n);
                        else if (n == 0 || errno != EINTR) {
                                in_open = false;
                                (void)nk_attach_send(sock, NK_ATTACH_STDIN_EOF, NULL, 0);
                        }
                }
                if (pf[2].revents) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof si) == sizeof si) {
                                if (si.ssi_signo == SIGWINCH)
                                        send_winsize(sock);
                                else {
                                        unsigned char s = (unsigned char)si.ssi_signo;
                                        (void)nk_attach_send(sock, NK_ATTACH_SIGNAL, &s, 1);
                                }
                        }
                }
        }
        free(buf);
        if (raw_mode)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (code == -3)
                return 0;
        return code == -2 ? recorded_exit(g, id) : code;
}

int nk_ctr_start_monitor(const struct nk_global *g, const char *id, json_t *rec, bool attach,
                         bool stdin_open, const struct nk_ctr_gate *gate, int *rootfs, int *lock,
                         bool *failed)
{
        *failed = true;
        nk_error *e = NULL;
        _cleanup_close_ int mnt = TAKE_FD(*rootfs), locked = TAKE_FD(*lock);
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, &e);
        if (dfd < 0)
                return nk_ctr_fail(e, 125);
        (void)unlinkat(dfd, "stopped", 0);
        (void)unlinkat(dfd, "paused", 0); /* left by a run whose monitor was killed */
        _cleanup_close_ int st =
                spawn_monitor(g, id, rec, attach, gate != NULL, stdin_open, mnt, &e);
        /* The monitor's copy is the overlay's only one now: the container
         * ends it, not a relay of ours that outlives it. */
        if (mnt >= 0)
                close(TAKE_FD(mnt));
        if (st < 0)
                return nk_ctr_fail(e, 125);
        /* The gate's work while the monitor creates the container (it
         * waits for the "g" before the start). */
        if (gate && gate->fn(gate->arg, &e) < 0) {
                /* No "g": the monitor undoes what it made. Its end of the
                 * socket closes when it and its set-up are done, and only
                 * then may the caller remove the rest (a container being
                 * created still holds the netns and its veth). */
                (void)shutdown(st, SHUT_WR);
                char rest[1100];
                do
                        read_status(st, rest, sizeof rest);
                while (*rest);
                if (locked >= 0)
                        close(TAKE_FD(locked));
                return nk_ctr_fail(e, 125);
        }
        char line[1100];
        read_status(st, line, sizeof line);
        _cleanup_close_ int sock = -1;
        if ((attach || gate) && streq(line, "created")) {
                /* Connected before it starts: not a byte of output is lost. */
                if (attach && (sock = nk_attach_connect(dfd, "attach", &e)) < 0) {
                        nk_error_free(e);
                        e = NULL;
                }
                /* a monitor gone meanwhile: the read below says so */
                if (gate)
                        (void)!write(st, "g", 1);
                read_status(st, line, sizeof line);
        }
        if (locked >= 0) /* it runs (its init is recorded), or never will */
                close(TAKE_FD(locked));
        if (strncmp(line, "ok ", 3) != 0)
                return status_error(line);
        *failed = false;
        if (!attach)
                return 0;
        if (sock < 0) {
                nk_log(NK_LOG_ERROR, "container %.12s: cannot attach", id);
                return 125;
        }
        return relay(g, id, sock, json_is_true(jget(rec, "Config", "Tty")), stdin_open);
}

int nk_ctr_attach(const struct nk_global *g, const char *id, json_t *rec, bool no_stdin)
{
        nk_error *e = NULL;
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, &e);
        _cleanup_close_ int sock = dfd < 0 ? -1 : nk_attach_connect(dfd, "attach", &e);
        if (sock < 0)
                return nk_ctr_fail(e, 1);
        bool tty = json_is_true(jget(rec, "Config", "Tty"));
        bool in = !no_stdin && json_is_true(jget(rec, "Config", "OpenStdin"));
        return relay(g, id, sock, tty, in);
}

/* ---- stop and forced removal ------------------------------------------ */

static bool wait_pid_gone(pid_t pid, int ms)
{
        if (pid <= 0)
                return true;
        _cleanup_close_ int pfd = nk_pidfd_open(pid, 0);
        if (pfd < 0)
                return errno == ESRCH;
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        return poll(&p, 1, ms) > 0;
}

/* Wait until no init runs and no monitor lives (up to ms). */
static bool wait_stopped(const struct nk_global *g, const char *id, int ms)
{
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct nk_ctr_state st;
                nk_error *e = NULL;
                if (nk_ctr_state(g->store, g->root, id, &st, &e) < 0) {
                        nk_error_free(e);
                        return true; /* gone (--rm) */
                }
                bool up = st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED;
                if (!up && !st.monitor)
                        return true;
                clock_gettime(CLOCK_MONOTONIC, &t);
                long left =
                        ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
                if (left <= 0)
                        return false;
                wait_pid_gone(st.monitor ? st.monitor : st.pid, left < 50 ? (int)left : 50);
        }
}

static void thaw(const struct nk_global *g, const char *id)
{
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        if (nk_container_open(g->root, id, NK_CONTAINER_LOCK, &c, &e) < 0) {
                nk_error_free(e);
                return;
        }
        if (nk_container_resume(c, &e) < 0)
                nk_error_free(e);
        nk_container_close(c);
}

static void kill_init(const struct nk_global *g, const char *id, int sig, bool all)
{
        nk_error *e = NULL;
        if (nk_container_kill(g->root, id, sig, all, &e) < 0)
                nk_error_free(e);
}

int nk_ctr_stop(const struct nk_global *g, const char *id, json_t *rec, int timeout, nk_error **err)
{
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, err);
        if (dfd < 0)
                return -1;
        /* No restart after a stop: the monitor looks for this file. */
        _cleanup_close_ int m = openat(dfd, "stopped", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        struct nk_ctr_state st;
        if (nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        if (st.status == NK_CTR_RESTARTING && st.monitor)
                kill(st.monitor, SIGTERM);
        if (st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED) {
                const char *s = jstr(rec, "Config.StopSignal");
                int sig = s ? nk_signal_parse(s) : SIGTERM;
                if (st.status == NK_CTR_PAUSED)
                        thaw(g, id);
                kill_init(g, id, sig > 0 ? sig : SIGTERM, false);
                if (!wait_stopped(g, id, timeout * 1000)) {
                        kill_init(g, id, SIGKILL, true);
                        st.monitor = 0;
                }
        }
        if (!wait_stopped(g, id, 10000))
                return nk_error_set(err, ETIMEDOUT, "container %.12s did not stop", id);
        /* Its monitor was gone (killed): the OCI container is ours to delete. */
        nk_error *e = NULL;
        if (nk_container_delete(g->root, id, true, &e) < 0)
                nk_error_free(e);
        return 0;
}

/* ---- networks ---------------------------------------------------------- */

static bool has_networks(const char *store, const char *id)
{
        _cleanup_free_ char *dir = nk_ctr_dir(store, id), *path = NULL;
        return dir && asprintf(&path, "%s/networks", dir) >= 0 && nk_path_exists(path);
}

int nk_ctr_net_teardown(const char *store, const char *root, const char *id, unsigned flags,
                        nk_error **err)
{
        if (!has_networks(store, id)) {
                /* a netns file made before its networks were (run, whose
                 * gate failed): nothing else to undo */
                if (!(flags & NK_CTRNET_KEEP_NETNS))
                        nk_ctrnet_netns_drop(root, id);
                return 0;
        }
        const struct nk_net_ops *net = nk_cmd_net_ops();
        if (!net)
                return nk_error_set(err, 0, "container %.12s: the networking module is missing",
                                    id);
        return net->teardown(store, root, id, flags, err);
}

void nk_ctr_net_preload(const char *store, const char *id)
{
        if (has_networks(store, id))
                (void)nk_cmd_net_ops();
}

int nk_ctr_net_restore(const struct nk_global *g, const char *id, json_t *rec, nk_error **err)
{
        char netns[PATH_MAX];
        struct statfs sf;
        nk_ctrnet_netns_path(g->root, id, netns, sizeof netns);
        /* nsfs: the namespace is there (the usual case, no module loaded) */
        if (!has_networks(g->store, id) ||
            (statfs(netns, &sf) == 0 && (unsigned long)sf.f_type == 0x6e736673UL))
                return 0;
        const struct nk_net_ops *net = nk_cmd_net_ops();
        if (!net)
                return nk_error_set(err, 0, "container %.12s: the networking module is missing",
                                    id);
        if (net->restore(g->store, g->root, id, rec, err) < 0)
                return nk_error_wrap(err, "container %.12s: its network", id);
        return nk_ctr_record_save(g->store, id, rec, err);
}

void nk_ctr_kill_for_removal(const struct nk_global *g, const char *id)
{
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, NULL);
        if (dfd < 0)
                return;
        /* No restart: the monitor looks for this file. */
        close(openat(dfd, "stopped", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
        thaw(g, id);
        kill_init(g, id, SIGKILL, true);
}

int nk_ctr_force_remove(const struct nk_global *g, const char *id, bool volumes, nk_error **err)
{
        _cleanup_free_ char *name = NULL;
        nk_error *e = NULL;
        json_t *rec = nk_ctr_record(g->store, id, &e);
        nk_error_free(e);
        e = NULL;
        const char *n = json_string_value(json_object_get(rec, "Name"));
        if (n)
                name = strdup(n[0] == '/' ? n + 1 : n);
        json_decref(rec);
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, NULL);
        _cleanup_free_ char *anon = volumes && dfd >= 0 ? nk_ctr_anon_volumes(dfd) : NULL;
        if (dfd >= 0) {
                /* The init first (thawed, or a frozen one never dies), then
                 * the monitor sees it exit and ends; one killed or hung is
                 * killed here. */
                nk_ctr_kill_for_removal(g, id);
                pid_t mon = nk_ctr_monitor_pid(dfd);
                if (mon && !wait_pid_gone(mon, 5000)) {
                        mon = nk_ctr_monitor_pid(dfd);
                        if (mon) {
                                kill(mon, SIGKILL);
                                wait_pid_gone(mon, 5000);
                        }
                }
        }
        if (nk_container_delete(g->root, id, true, &e) < 0)
                nk_error_free(e);
        e = NULL;
        /* Its networks (and what killed commands left on them) before the
         * directory that names them goes; a failure is told, the removal
         * goes on (rm -f always works; network prune finishes). */
        if (nk_ctr_net_teardown(g->store, g->root, id, NK_CTRNET_RECONCILE, &e) < 0) {
                _cleanup_free_ char *t = nk_error_text(e);
                nk_log(NK_LOG_WARN, "%s", t ? t : "network teardown failed");
                nk_error_free(e);
        }
        /* The monitor of a --rm container may have removed it meanwhile. */
        if (nk_ctr_remove_dir(g->store, id, name, err) < 0) {
                _cleanup_free_ char *dir = nk_ctr_dir(g->store, id);
                if (dir && nk_path_exists(dir))
                        return -1;
                nk_error_free(*err);
                *err = NULL;
        }
        nk_ctr_remove_volumes(g->store, anon);
        return 0;
}

/* ---- inspect ---------------------------------------------------------- */

json_t *nk_ctr_inspect_json(const struct nk_global *g, const char *id, nk_error **err)
{
        struct nk_ctr_state st;
        json_t *rec = nk_ctr_record(g->store, id, err);
        if (!rec || nk_ctr_state(g->store, g->root, id, &st, err) < 0) {
                json_decref(rec);
                return NULL;
        }
        char started[48], finished[48];
        nk_ctr_time_text(st.started_ns, started, sizeof started);
        nk_ctr_time_text(st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED ? 0
                                                                                   : st.finished_ns,
                         finished, sizeof finished);
        json_object_set_new(rec, "State",
                            json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:s,s:s,s:s,s:i}", "Status",
                                      nk_ctr_status_name(st.status), "Running",
                                      st.status == NK_CTR_RUNNING || st.status == NK_CTR_PAUSED,
                                      "Paused", st.status == NK_CTR_PAUSED, "Restarting",
                                      st.status == NK_CTR_RESTARTING, "OOMKilled", 0, "Dead",
                                      st.status == NK_CTR_REMOVING, "Pid", (int)st.pid, "ExitCode",
                                      st.exit_code, "Error", "", "StartedAt", started, "FinishedAt",
                                      finished, "MonitorPid", (int)st.monitor));
        json_object_set_new(rec, "RestartCount", json_integer(st.restarts));
        _cleanup_free_ char *dir = nk_ctr_dir(g->store, id), *log = NULL;
        if (dir && asprintf(&log, "%s/ctr.log", dir) >= 0)
                json_object_set_new(rec, "LogPath", json_string(log));
        if (!json_is_array(json_object_get(rec, "Mounts"))) /* made before Mounts was kept */
                json_object_set_new(rec, "Mounts", json_array());
        json_object_del(rec, "Nook");
        return rec;
}

/* ---- templates ------------------------------------------------------------ */

struct nk_tmpl *nk_ctr_template_parse(const char *cmd, const char *tmpl)
{
        /* Docker reads \t and \n in a format as a tab and a newline. */
        _cleanup_free_ char *text = strdup(tmpl);
        for (char *t = text; t && (t = strchr(t, '\\'));) {
                if (t[1] != 't' && t[1] != 'n') {
                        t++;
                        continue;
                }
                *t = t[1] == 't' ? '\t' : '\n';
                memmove(t + 1, t + 2, strlen(t + 2) + 1);
                t++;
        }
        nk_error *e = NULL;
        struct nk_tmpl *t = text ? nk_tmpl_parse(text, &e) : NULL;
        if (!t) {
                _cleanup_free_ char *msg = e ? nk_error_text(e) : NULL;
                nk_cmd_usage_error(cmd, "--format: %s", msg ? msg : "out of memory");
                nk_error_free(e);
        }
        return t;
}

char *nk_ctr_template_exec(const char *cmd, const struct nk_tmpl *t, json_t *obj)
{
        nk_error *e = NULL;
        char *out = nk_tmpl_exec(t, obj, &e);
        if (!out) {
                _cleanup_free_ char *msg = e ? nk_error_text(e) : NULL;
                nk_cmd_usage_error(cmd, "--format: %s", msg ? msg : "out of memory");
                nk_error_free(e);
        }
        return out;
}

char *nk_ctr_template(const char *cmd, const char *tmpl, json_t *obj)
{
        struct nk_tmpl *t = nk_ctr_template_parse(cmd, tmpl);
        char *out = t ? nk_ctr_template_exec(cmd, t, obj) : NULL;
        nk_tmpl_free(t);
        return out;
}
