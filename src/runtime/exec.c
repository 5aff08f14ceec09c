/* exec, parent and child sides. The new process joins the init's
 * namespaces through /proc/PID/ns (user first, mount last), the container's
 * cgroup, and gets the container's security unless the process object says
 * otherwise. */
#include "exec.h"
#include "cgroup/cgroup.h"
#include "namespaces.h"
#include "process.h"
#include "security.h"
#include "spec.h"
#include "state.h"
#include "sync.h"
#include "terminal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/proc.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

json_t *nk_exec_process_from_config(const char *root, const char *id, nk_error **err)
{
        struct nk_state *st = NULL;
        if (nk_state_load(root, id, &st, err) < 0)
                return NULL;
        json_t *p = json_deep_copy(json_object_get(st->config, "process"));
        nk_state_free(st);
        if (!p)
                p = json_pack("{s:[s],s:s}", "args", "sh", "cwd", "/");
        return p;
}

struct exec_ctx {
        const struct nk_exec_opts *o;
        struct nk_state *st;
        struct nk_spec *spec;   /* the container's config */
        struct nk_process proc; /* what to run */
        struct nk_seccomp *seccomp;
        char *state_json; /* for a seccomp notify listener */
        struct nk_cgroup *cg;
        int *cg_fds; /* v1 `tasks` files, see selfenter.c */
        size_t n_cg_fds;
        int ns_fd[NK_NS__COUNT];
        int root_fd; /* the init's root, without a mount namespace */
        int sync_fd, child_sync_fd, console_fd, console_parent_fd, pidfd;
        pid_t pid;
        bool direct; /* the joiner shares our memory (nk_clone_vm) */
};

static void exec_ctx_free(struct exec_ctx *x)
{
        for (int t = 0; t < NK_NS__COUNT; t++)
                if (x->ns_fd[t] >= 0)
                        close(x->ns_fd[t]);
        int *fds[] = {&x->sync_fd,           &x->child_sync_fd, &x->console_fd,
                      &x->console_parent_fd, &x->pidfd,         &x->root_fd};
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (*fds[i] >= 0)
                        close(*fds[i]);
        nk_process_clear(&x->proc);
        free(x->state_json);
        nk_seccomp_free(x->seccomp);
        nk_cgroup_self_enter_close(x->cg_fds, x->n_cg_fds);
        nk_cgroup_free(x->cg);
        nk_spec_free(x->spec);
        nk_state_free(x->st);
}

/* Open the init's namespaces that differ from ours: those are the ones
 * the container has. */
static int open_namespaces(struct exec_ctx *x, nk_error **err)
{
        /* No mount namespace: the init was chroot'ed (child.c); the new
         * process enters the same root through the init's. */
        if (!x->spec->ns[NK_NS_MOUNT].present) {
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/root", (int)x->st->pid);
                x->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (x->root_fd < 0)
                        return nk_error_set(err, errno, "open `%s`", path);
                /* Opened, then checked: still our init, not a reused pid. */
                if (!nk_state_pid_alive(x->st))
                        return nk_error_set(err, ESRCH, "container `%s` is not running", x->o->id);
        }
        for (int t = 0; t < NK_NS__COUNT; t++) {
                x->ns_fd[t] = -1;
                if (!x->spec->ns[t].present)
                        continue;
                char path[64], self[64];
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)x->st->pid, nk_ns_proc_name(t));
                snprintf(self, sizeof self, "/proc/self/ns/%s", nk_ns_proc_name(t));
                struct stat a, b;
                if (stat(path, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino)
                        continue; /* already ours (e.g. a joined host namespace) */
                x->ns_fd[t] = open(path, O_RDONLY | O_CLOEXEC);
                if (x->ns_fd[t] < 0)
                        return nk_error_set(err, errno, "open `%s`", path);
        }
        return 0;
}

/* crun's `exec --cgroup SUBPATH`: a cgroup below the container's, which
 * must already exist. Only plain names are accepted: ".." or "." could
 * lead the process out of the container's cgroup. */
static int check_cgroup_sub(const char *sub, nk_error **err)
{
        const char *p = sub;
        while (*p == '/')
                p++;
        if (!*p)
                return nk_error_set(err, 0, "--cgroup `%s`: empty sub-cgroup path", sub);
        while (*p) {
                size_t n = strcspn(p, "/");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return nk_error_set(err, 0,
                                            "--cgroup `%s`: must be a path below the container's "
                                            "cgroup, without `.` or `..`",
                                            sub);
                p += n;
                while (*p == '/')
                        p++;
        }
        return 0;
}

DEFINE_CLEANUP(nk_cgroup, nk_cgroup_free)

static int sub_cgroup_missing(struct exec_ctx *x, nk_error **err)
{
        return nk_error_wrap(err,
                             "--cgroup `%s`: the sub-cgroup must exist below the "
                             "container's cgroup `%s` in every hierarchy",
                             x->o->cgroup_sub, x->st->cgroup_path);
}

static int open_exec_cgroup(struct exec_ctx *x, nk_error **err)
{
        const char *sub = x->o->cgroup_sub;
        _cleanup_free_ char *path = NULL;
        if (!x->st->cgroup_path) /* --cgroup-manager disabled */
                return sub ? nk_error_set(err, ENOTSUP,
                                          "--cgroup `%s`: container `%s` has no "
                                          "cgroup (--cgroup-manager disabled)",
                                          sub, x->o->id)
                           : 0;
        if (sub) {
                if (check_cgroup_sub(sub, err) < 0)
                        return -1;
                while (*sub == '/')
                        sub++;
                size_t n = strlen(sub);
                while (n > 0 && sub[n - 1] == '/')
                        n--;
                if (asprintf(&path, "%s/%.*s", x->st->cgroup_path, (int)n, sub) < 0)
                        return nk_error_set(err, ENOMEM, "cgroup");
        }
        if (nk_cgroup_open(path ? path : x->st->cgroup_path, &x->cg, err) < 0)
                return -1;
        if (nk_cgroup_self_enter_open(x->cg, &x->cg_fds, &x->n_cg_fds, err) < 0)
                return sub ? sub_cgroup_missing(x, err) : -1;
        if (!sub || nk_cgroup_clone_fd(x->cg) >= 0)
                return 0;
        /* No unified directory for the sub-cgroup: an error if the
         * container has one (the process would stay in ours). */
        _cleanup_(nk_cgroup_freep) struct nk_cgroup *base = NULL;
        if (nk_cgroup_open(x->st->cgroup_path, &base, err) < 0)
                return -1;
        if (nk_cgroup_clone_fd(base) >= 0) {
                nk_error_set(err, ENOENT, "no unified directory `%s`", path);
                return sub_cgroup_missing(x, err);
        }
        return 0;
}

static int load_exec(struct exec_ctx *x, nk_error **err)
{
        const struct nk_exec_opts *o = x->o;
        if (nk_state_load(o->root, o->id, &x->st, err) < 0)
                return -1;
        enum nk_status s = nk_state_status(o->root, x->st);
        if (s == NK_STATUS_PAUSED && !o->ignore_paused)
                return nk_error_set(err, 0, "container `%s` is paused; resume it first", o->id);
        if (s != NK_STATUS_RUNNING && s != NK_STATUS_PAUSED && s != NK_STATUS_CREATED)
                return nk_error_set(err, 0, "container `%s` is %s: cannot exec", o->id,
                                    nk_status_name(s));
        _cleanup_free_ char *text = json_dumps(x->st->config, JSON_COMPACT);
        if (!text || nk_spec_parse(text, strlen(text), "config.json", &x->spec, err) < 0)
                return -1;
        if (nk_process_parse(o->process, "process", &x->proc, err) < 0)
                return -1;
        if (x->proc.terminal && !o->console_socket && o->detach)
                return nk_error_set(err, 0, "--tty with --detach needs --console-socket");
        /* Relayed to our terminal: start at its size, before the process
         * can look (the relay only follows later changes). */
        struct winsize ws;
        if (x->proc.terminal && !o->console_socket && !x->proc.console_height &&
            ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
                x->proc.console_height = ws.ws_row;
                x->proc.console_width = ws.ws_col;
        }
        if (nk_seccomp_prepare(x->spec->seccomp, &x->seccomp, err) < 0)
                return -1;
        json_t *state = nk_state_to_json(o->root, x->st);
        x->state_json = json_dumps(state, JSON_COMPACT);
        json_decref(state);
        if (open_exec_cgroup(x, err) < 0)
                return -1;
        return open_namespaces(x, err);
}

static int join_child(struct exec_ctx *x, nk_error **err)
{
        static const enum nk_ns_type order[] = {NK_NS_USER,   NK_NS_IPC,  NK_NS_UTS,  NK_NS_NET,
                                                NK_NS_CGROUP, NK_NS_TIME, NK_NS_MOUNT};
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
                int fd = x->ns_fd[order[i]];
                if (fd >= 0 && setns(fd, nk_ns_clone_flag(order[i])) < 0)
                        return nk_error_set(err, errno, "join the container's %s namespace",
                                            nk_ns_oci_name(order[i]));
        }
        return 0;
}

/* After the joins, before anything resolves a path in the container. */
static int enter_root_exec_child(struct exec_ctx *x, nk_error **err)
{
        if (x->root_fd < 0)
                return 0;
        if (fchdir(x->root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                return nk_error_set(err, errno, "enter the container's root");
        return 0;
}

/* The joiner, inside every namespace but the pid one, with the container's
 * root: every step that needs privilege, so that the process it then
 * clones into the container's pid namespace holds only its final
 * credentials from birth. That process is open to a container process
 * with CAP_SYS_PTRACE (PTRACE_SEIZE, /proc/PID/mem, process_vm_writev),
 * which could make it call anything its credentials allow:
 * open_by_handle_at with nook's CAP_DAC_READ_SEARCH reads and writes the
 * host's files. The pid namespace is joined first (setns needs
 * CAP_SYS_ADMIN; it moves only the children made afterwards). Without
 * no_new_privs the seccomp filter is loaded here too (that needs
 * CAP_SYS_ADMIN), so the rest of the joiner runs under it. */
static int exec_joiner_creds(struct exec_ctx *x, char ***env, bool *filter_left, nk_error **err)
{
        const struct nk_process *p = &x->proc;
        if (x->ns_fd[NK_NS_PID] >= 0 && setns(x->ns_fd[NK_NS_PID], CLONE_NEWPID) < 0)
                return nk_error_set(err, errno, "join the container's pid namespace");
        if (x->ns_fd[NK_NS_USER] >= 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                return nk_error_set(err, errno, "become root in the user namespace");
        if ((p->terminal && nk_terminal_open_stdio(p, x->console_fd, err) < 0) ||
            nk_process_chown_stdio(p, p->terminal, err) < 0 ||
            nk_process_home_env(p, env, err) < 0 || nk_process_apply_rlimits(p, err) < 0 ||
            nk_process_apply_attrs(p, NULL, nk_process_sched_inherited(p), err) < 0)
                return -1;
        return nk_security_final_creds(p, x->seccomp, x->state_json, filter_left, err);
}

/* The exec'd process, from its clone in the container's pid namespace to
 * execve: already in every namespace and cgroup of the container, with
 * its root, its final credentials and only the fds it needs (see
 * exec_joiner). What is left needs no privilege: its own session with the
 * pty as controlling terminal, the PATH search as the user, fd flags,
 * the cwd, and the filter when no_new_privs lets it load without
 * privilege. */
static int exec_child(struct exec_ctx *x, bool filter_left, char **path, nk_error **err)
{
        const struct nk_process *p = &x->proc;
        /* A policy the fork dropped: applied here, with the process's own
         * capabilities (SCHED_DEADLINE needs CAP_SYS_NICE). */
        if ((p->terminal && nk_terminal_take_stdin(err) < 0) ||
            (!nk_process_sched_inherited(p) && nk_process_apply_scheduler(p, err) < 0) ||
            !(*path = nk_process_find_exec(p, err)) ||
            nk_process_fds_for_exec(x->o->preserve_fds, err) < 0)
                return -1;
        if (chdir(p->cwd) < 0)
                return nk_error_set(err, errno, "cwd `%s`", p->cwd);
        return filter_left ? nk_seccomp_load(x->seccomp, x->state_json, err) : 0;
}

/* The joiner: our child in our own pid namespace, which no container
 * process can see. It enters the cgroup and every namespace but the pid
 * one (the mount namespace last: its root and cwd become the container's),
 * takes the process's final credentials (exec_joiner_creds) and only then
 * clones the exec'd process into the container's pid namespace, holding
 * no fd but its stdio, the preserved ones, the sync socket (and the
 * seccomp listener's socket when the process loads the filter itself).
 * Until then a container process watching /proc with CAP_SYS_PTRACE could
 * reach the host through /proc/PID/{root,cwd,fd} of the new process or
 * through its capabilities; non-dumpable does not stop it. */
__attribute__((noreturn)) static void exec_joiner(void *arg)
{
        struct exec_ctx *x = arg;
        nk_error *e = NULL;
        char *path = NULL;
        const struct nk_process *p = &x->proc;
        char **env = NULL;
        bool filter_left = false;
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (nk_cgroup_self_enter(x->cg_fds, x->n_cg_fds, &e) < 0 ||
            (!x->direct && nk_sync_expect(x->child_sync_fd, NK_SYNC_GO, &e) < 0) || /* sync 1 */
            nk_ns_host_proc_steps(p, &e) < 0 || join_child(x, &e) < 0 ||
            enter_root_exec_child(x, &e) < 0 || exec_joiner_creds(x, &env, &filter_left, &e) < 0)
                goto fail;
        const int keep[] = {x->child_sync_fd,
                            filter_left ? nk_seccomp_listener_sock(x->seccomp) : -1};
        if (nk_ns_enter_pid_last(-1, 3 + (unsigned)x->o->preserve_fds, keep, ARRAY_SIZE(keep),
                                 x->child_sync_fd, 0, false, &e) < 0) { /* sync 2 */
                if (x->seccomp && !filter_left)
                        nk_error_wrap(&e, "under linux.seccomp, which nook loads before this "
                                          "step when process.noNewPrivileges is false");
                goto fail;
        }
        if (exec_child(x, filter_left, &path, &e) < 0)
                goto fail;
        execve(path, p->args, env);
        nk_error_set(&e, errno, "exec `%s`", path);
fail:
        nk_sync_send_error(x->child_sync_fd, e);
        _exit(127);
}

static int make_exec_channels(struct exec_ctx *x, nk_error **err)
{
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return nk_error_set(err, errno, "socketpair");
        x->sync_fd = sp[0];
        x->child_sync_fd = sp[1];
        if (!x->proc.terminal)
                return 0;
        if (x->o->console_socket) {
                x->console_fd = nk_unix_connect(x->o->console_socket, err);
                return x->console_fd < 0 ? nk_error_wrap(err, "--console-socket") : 0;
        }
        int cp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cp) < 0)
                return nk_error_set(err, errno, "socketpair");
        x->console_parent_fd = cp[0];
        x->console_fd = cp[1];
        return 0;
}

/* sync 2: the joiner reports the process (ours: CLONE_PARENT) once it
 * has exec'd or exited, and exits. Its error record, if any, comes before
 * the report, which is then read after it, so that the process can be
 * reaped. The report is the last record we read: nothing waits for the
 * EOF of the process's close-on-exec end, which a container process with
 * CAP_SYS_PTRACE could take (pidfd_getfd) and hold open. */
static int take_exec_child(struct exec_ctx *x, pid_t joiner, nk_error **err)
{
        int r = nk_ns_receive_pid(x->sync_fd, &x->pid, &x->pidfd, err);
        int code = nk_wait_exit_code(joiner); /* it reported or failed: it exits now */
        if (r == 0)
                return 0;
        if (code == 128 + SIGSYS)
                nk_error_wrap(err, "nook's joiner was killed by linux.seccomp (SIGSYS), which "
                                   "it loads before entering the pid namespace when "
                                   "process.noNewPrivileges is false");
        if (x->pid == 0) {
                nk_error *e = NULL;
                (void)nk_ns_receive_pid(x->sync_fd, &x->pid, &x->pidfd, &e);
                nk_error_free(e);
        }
        return -1;
}

/* The joiner as nk_clone_vm's child, which shares our memory and runs
 * while we sleep: no copy of our page tables and none of the copy-on-write
 * faults that follow a fork (the exec'd process is still a fork, of the
 * joiner). A task sharing memory can't setns into a user or time
 * namespace; there, and where nk_clone_vm can't run, the joiner is a fork
 * and waits for GO (clone(2) fallback: we move it into the cgroup). */
static pid_t clone_joiner(struct exec_ctx *x, struct nk_clone_opts *co, nk_error **err)
{
        x->direct = x->ns_fd[NK_NS_USER] < 0 && x->ns_fd[NK_NS_TIME] < 0;
        if (x->direct) {
                nk_error *e = NULL;
                pid_t pid = nk_clone_vm(co, exec_joiner, x, &e);
                if (pid > 0)
                        return pid;
                if (e->errno_ != ENOSYS && e->errno_ != EINVAL) {
                        nk_error_pass(err, e);
                        return -1;
                }
                nk_error_free(e);
                x->direct = false;
        }
        pid_t pid = nk_clone(co, err);
        if (pid == 0) /* the joiner, in our pid namespace */
                exec_joiner(x);
        return pid;
}

/* Spawn the process (through the joiner) and wait until it exec'd: the
 * joiner's report of its pid means success, an error record before it
 * failure. */
static int spawn_exec(struct exec_ctx *x, nk_error **err)
{
        int jpidfd = -1;
        struct nk_clone_opts co = {.cgroup_fd = x->cg ? nk_cgroup_clone_fd(x->cg) : -1,
                                   .pidfd_out = &jpidfd};
        pid_t joiner = clone_joiner(x, &co, err);
        if (joiner < 0)
                return -1;
        bool no_clone3 = jpidfd < 0; /* clone(2) fallback: no CLONE_INTO_CGROUP */
        if (jpidfd >= 0)
                close(jpidfd);
        close(x->child_sync_fd);
        x->child_sync_fd = -1;
        if (!x->direct &&
            ((co.cgroup_fd >= 0 && no_clone3 && nk_cgroup_enter(x->cg, joiner, err) < 0) ||
             nk_sync_send(x->sync_fd, NK_SYNC_GO, err) < 0)) { /* sync 1 */
                kill(joiner, SIGKILL);
                (void)nk_wait_exit_code(joiner);
                return -1;
        }
        if (take_exec_child(x, joiner, err) < 0)
                return -1;
        /* Our copy of the seccomp listener's socket: a listener that reads
         * to EOF (at the process's execve) must not wait for us. */
        nk_seccomp_free(x->seccomp);
        x->seccomp = NULL;
        return 0;
}

static int write_pid(const char *path, pid_t pid, nk_error **err)
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

static int exec_foreground(struct exec_ctx *x, int *exit_code, nk_error **err)
{
        /* The same signals a foreground run forwards (runc forwards them
         * all); SIGWINCH resizes the pty instead. */
        static const int fwd[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM,
                                  SIGTERM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH};
        sigset_t set, old;
        sigemptyset(&set);
        for (size_t i = 0; i < ARRAY_SIZE(fwd); i++)
                sigaddset(&set, fwd[i]);
        sigprocmask(SIG_BLOCK, &set, &old);
        _cleanup_close_ int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
        _cleanup_close_ int master = -1;
        if (x->console_parent_fd >= 0 && (master = nk_recv_fd(x->console_parent_fd, err)) < 0) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                return -1;
        }
        nk_foreground_loop(master, x->pidfd, sigfd);
        *exit_code = nk_wait_exit_code(x->pid);
        x->pid = 0;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return 0;
}

int nk_container_exec(const struct nk_exec_opts *o, int *exit_code, nk_error **err)
{
        struct exec_ctx x = {.o = o,
                             .sync_fd = -1,
                             .child_sync_fd = -1,
                             .console_fd = -1,
                             .console_parent_fd = -1,
                             .pidfd = -1,
                             .root_fd = -1};
        for (int t = 0; t < NK_NS__COUNT; t++)
                x.ns_fd[t] = -1;
        *exit_code = 0;
        int r = nk_process_reserve_fds(o->preserve_fds, err);
        if (r == 0)
                r = load_exec(&x, err);
        if (r == 0)
                r = make_exec_channels(&x, err);
        if (r == 0)
                r = spawn_exec(&x, err);
        if (r == 0)
                r = write_pid(o->pid_file, x.pid, err);
        if (r == 0 && !o->detach)
                r = exec_foreground(&x, exit_code, err);
        if (r < 0 && x.pid > 0) {
                kill(x.pid, SIGKILL);
                nk_wait_exit_code(x.pid);
        }
        exec_ctx_free(&x);
        return r < 0 ? nk_error_wrap(err, "exec in container `%s`", o->id) : 0;
}
