/* exec, parent and child sides. The new process joins the init's
 * namespaces through /proc/PID/ns (user first, mount last), the container's
 * cgroup, and gets the container's security unless the process object says
 * otherwise. */
#include "exec.h"
#include "cgroup/cgroup.h"
#include "container.h"
#include "finalize.h"
#include "launch.h"
#include "namespaces.h"
#include "process.h"
#include "rootfs.h"
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

json_t *nk_exec_process_from_config(const struct nk_container *c)
{
        json_t *p = json_deep_copy(json_object_get(nk_container_state(c)->config, "process"));
        if (!p)
                p = json_pack("{s:[s],s:s}", "args", "sh", "cwd", "/");
        return p;
}

struct exec_ctx {
        const struct nk_exec_opts *o;
        const char *root;
        const struct nk_state *st; /* the handle's */
        struct nk_spec *spec;      /* the container's config */
        struct nk_process proc;    /* what to run */
        struct nk_seccomp *seccomp;
        char *state_json; /* for a seccomp notify listener */
        struct nk_cgroup *cg;
        int *cg_fds; /* v1 `tasks` files, see selfenter.c */
        size_t n_cg_fds;
        struct nk_ns_fds ns; /* the container's, where they differ from ours */
        int root_fd;         /* the init's root, without a mount namespace */
        struct nk_launch l;  /* sync and console channels, the process */
};

static void exec_ctx_free(struct exec_ctx *x)
{
        nk_ns_close(&x->ns);
        if (x->root_fd >= 0)
                close(x->root_fd);
        nk_launch_close(&x->l);
        nk_process_clear(&x->proc);
        free(x->state_json);
        nk_seccomp_free(x->seccomp);
        nk_cgroup_self_enter_close(x->cg_fds, x->n_cg_fds);
        nk_cgroup_free(x->cg);
        nk_spec_free(x->spec);
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
                        return nk_error_set(err, ESRCH, "container `%s` is not running", x->st->id);
        }
        for (int t = 0; t < NK_NS__COUNT; t++) {
                if (!x->spec->ns[t].present)
                        continue;
                char path[64];
                snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)x->st->pid, nk_ns_proc_name(t));
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s`", path);
                if (nk_ns_is_ours(t, fd) == 1) { /* e.g. a joined host namespace */
                        close(fd);
                        continue;
                }
                x->ns.fd[t] = fd;
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
                                          sub, x->st->id)
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
        enum nk_status s = nk_state_status(x->root, x->st);
        if (s == NK_STATUS_PAUSED && !o->ignore_paused)
                return nk_error_set(err, 0, "container `%s` is paused; resume it first", x->st->id);
        if (s != NK_STATUS_RUNNING && s != NK_STATUS_PAUSED && s != NK_STATUS_CREATED)
                return nk_error_set(err, 0, "container `%s` is %s: cannot exec", x->st->id,
                                    nk_status_name(s));
        if (!x->st->config)
                return nk_error_set(err, 0, "container `%s`: its state has no config to exec with",
                                    x->st->id);
        _cleanup_free_ char *text = json_dumps(x->st->config, JSON_COMPACT);
        if (!text)
                return nk_error_set(err, ENOMEM, "exec in `%s`", x->st->id);
        if (nk_spec_parse(text, strlen(text), "config.json", &x->spec, err) < 0)
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
        json_t *state = nk_state_to_json(x->root, x->st);
        x->state_json = json_dumps(state, JSON_COMPACT);
        json_decref(state);
        if (open_exec_cgroup(x, err) < 0)
                return -1;
        return open_namespaces(x, err);
}

/* After the joins, before anything resolves a path in the container. */
static int enter_root_exec_child(struct exec_ctx *x, nk_error **err)
{
        if (x->root_fd < 0)
                return 0;
        return nk_rootfs_chroot_fd(x->root_fd, "the container's root", err);
}

/* The exec'd process, from its clone in the container's pid namespace to
 * execve: already in every namespace and cgroup of the container, with
 * its root, its final credentials, its session and only the fds it needs
 * (nk_finalize_enter_pid). What is left needs no privilege: the PATH
 * search as the user, the cwd, and the filter when no_new_privs lets it
 * load without privilege. */
static int exec_child(struct exec_ctx *x, bool filter_left, char **path, nk_error **err)
{
        const struct nk_process *p = &x->proc;
        if (!(*path = nk_process_find_exec(p, err)))
                return -1;
        if (chdir(p->cwd) < 0)
                return nk_error_set(err, errno, "cwd `%s`", p->cwd);
        return filter_left ? nk_seccomp_load(x->seccomp, x->state_json, err) : 0;
}

/* The joiner: our child in our own pid namespace, which no container
 * process can see. It enters the cgroup and every namespace but the pid
 * one (nk_ns_join: the mount namespace last, its root and cwd become the
 * container's), then finalizes (finalize.h): every step that needs
 * privilege, so that the process it then clones into the container's pid
 * namespace holds only its final credentials from birth, and no fd but
 * its stdio, the preserved ones, the sync socket (and the seccomp
 * listener's socket when the process loads the filter itself). That
 * process is open to a container process with CAP_SYS_PTRACE
 * (PTRACE_SEIZE, /proc/PID/mem, process_vm_writev, /proc/PID/{root,cwd,fd}),
 * which could make it call anything its credentials allow (open_by_handle_at
 * with nook's CAP_DAC_READ_SEARCH reads and writes the host's files);
 * non-dumpable does not stop it. The joiner may share our memory
 * (x->l.direct): it writes only to its own stack. */
__attribute__((noreturn)) static void exec_joiner(void *arg)
{
        struct exec_ctx *x = arg;
        nk_error *e = NULL;
        char *path = NULL;
        const struct nk_process *p = &x->proc;
        int sync_fd = x->l.child_sync_fd;
        struct nk_finalize f = {.p = p,
                                .seccomp = x->seccomp,
                                .state_json = x->state_json,
                                .pid_ns_fd = x->ns.fd[NK_NS_PID],
                                .console_fd = x->l.console_fd,
                                .become_root = x->ns.fd[NK_NS_USER] >= 0};
        const int keep[] = {sync_fd};
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (nk_cgroup_self_enter(x->cg_fds, x->n_cg_fds, &e) < 0 ||
            (!x->l.direct && nk_sync_expect(sync_fd, NK_SYNC_GO, &e) < 0) || /* sync 1 */
            nk_ns_host_proc_steps(p, &e) < 0 || nk_ns_join(&x->ns, NULL, &e) < 0 ||
            enter_root_exec_child(x, &e) < 0 || nk_finalize_creds(&f, &e) < 0 ||
            nk_finalize_enter_pid(&f, x->o->preserve_fds, keep, ARRAY_SIZE(keep), sync_fd, 0, false,
                                  &e) < 0 || /* sync 2 */
            exec_child(x, f.filter_left, &path, &e) < 0)
                goto fail;
        execve(path, p->args, f.env);
        nk_error_set(&e, errno, "exec `%s`", path);
fail:
        nk_sync_send_error(sync_fd, e);
        _exit(127);
}

/* sync 2: the joiner reports the process (ours: CLONE_PARENT) once it
 * has exec'd or exited, and exits. Its error record, if any, comes before
 * the report, which is then read after it, so that the process can be
 * reaped. The report is the last record we read: nothing waits for the
 * EOF of the process's close-on-exec end, which a container process with
 * CAP_SYS_PTRACE could take (pidfd_getfd) and hold open. */
static int take_exec_child(struct exec_ctx *x, pid_t joiner, nk_error **err)
{
        int code;
        if (nk_launch_take_pid(&x->l, joiner, true, &code, err) == 0)
                return 0;
        if (code == 128 + SIGSYS)
                nk_error_wrap(err, "nook's joiner was killed by linux.seccomp (SIGSYS), which "
                                   "it loads before entering the pid namespace when "
                                   "process.noNewPrivileges is false");
        return -1;
}

/* Spawn the process (through the joiner) and wait until it exec'd: the
 * joiner's report of its pid means success, an error record before it
 * failure. The joiner shares our memory and runs while we sleep
 * (nk_launch_clone, direct): no copy of our page tables and none of the
 * copy-on-write faults that follow a fork (the exec'd process is still a
 * fork, of the joiner). A task sharing memory can't setns into a user or
 * time namespace; there, and where nk_clone_vm can't run, the joiner is a
 * fork and waits for GO. */
static int spawn_exec(struct exec_ctx *x, nk_error **err)
{
        int jpidfd = -1;
        struct nk_clone_opts co = {.cgroup_fd = x->cg ? nk_cgroup_clone_fd(x->cg) : -1,
                                   .pidfd_out = &jpidfd};
        bool try_direct = x->ns.fd[NK_NS_USER] < 0 && x->ns.fd[NK_NS_TIME] < 0;
        pid_t joiner = nk_launch_clone(&x->l, &co, exec_joiner, x, try_direct, x->cg, err);
        if (jpidfd >= 0)
                close(jpidfd);
        if (joiner < 0)
                return -1;
        if (!x->l.direct && nk_launch_send(&x->l, NK_SYNC_GO, NULL, err) < 0) { /* sync 1 */
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

int nk_container_exec(struct nk_container *c, const struct nk_exec_opts *o, int *exit_code,
                      nk_error **err)
{
        struct exec_ctx x = {
                .o = o, .root = nk_container_root(c), .st = nk_container_state(c), .root_fd = -1};
        for (int t = 0; t < NK_NS__COUNT; t++)
                x.ns.fd[t] = -1;
        nk_launch_init(&x.l);
        *exit_code = 0;
        int r = nk_process_reserve_fds(o->preserve_fds, err);
        if (r == 0)
                r = load_exec(&x, err);
        if (r == 0)
                r = nk_launch_channels(&x.l, x.proc.terminal, o->console_socket, err);
        if (r == 0)
                r = spawn_exec(&x, err);
        if (r == 0)
                r = nk_launch_write_pid_file(o->pid_file, x.l.pid, err);
        if (r == 0 && !o->detach) {
                /* The pty has our terminal's size already (load_exec). */
                const struct nk_launch_fg fg = {.sync_size = false};
                r = nk_launch_foreground(&x.l, &fg, exit_code, err);
        }
        if (r < 0)
                nk_launch_kill(&x.l);
        exec_ctx_free(&x);
        return r < 0 ? nk_error_wrap(err, "exec in container `%s`", x.st->id) : 0;
}
