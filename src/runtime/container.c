/* Container lifecycle, parent side: create, start, run, kill, delete. The
 * init's side of create is child.c; the protocol between them is sync.h. */
#include "container.h"
#include "cgroup/cgroup.h"
#include "child.h"
#include "hooks.h"
#include "launch.h"
#include "namespaces.h"
#include "rootfs.h"
#include "security.h"
#include "sync.h"
#include "terminal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/proc.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

/* Everything a create holds until it succeeds or is undone. */
struct creation {
        const struct nk_create_opts *o;
        const struct nk_spec *spec; /* the caller's */
        char *rootfs, *dir, *cgroup_path;
        struct nk_cgroup *cg;
        int *cg_fds; /* v1 `tasks` files the init enters by */
        size_t n_cg_fds;
        int *mount_trees;      /* idmapped bind mounts, made before the clone */
        bool *trees_in_init;   /* sources we open in the init's namespace (rootfs.h) */
        struct nk_rplan *plan; /* the init's mounts, planned before the clone */
        struct nk_seccomp *seccomp;
        struct nk_ns_fds ns;
        int dir_fd, lock_fd, start_fd;
        int master;                 /* the pty master, when it comes back to us */
        int life_fd, child_life_fd; /* the life socket: a byte once recorded (child.h) */
        enum nk_init_mode mode;
        bool foreground;    /* a run that waits: the pty master is relayed */
        struct nk_launch l; /* sync and console channels, the init */
        bool made_dir, made_cgroup;
};

static void creation_init(struct creation *cr, const struct nk_spec *spec,
                          const struct nk_create_opts *o)
{
        *cr = (struct creation){.o = o,
                                .spec = spec,
                                .master = -1,
                                .dir_fd = -1,
                                .lock_fd = -1,
                                .start_fd = -1,
                                .life_fd = -1,
                                .child_life_fd = -1};
        nk_launch_init(&cr->l);
        for (int t = 0; t < NK_NS__COUNT; t++)
                cr->ns.fd[t] = -1;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

/* Undo whatever a failed create did, newest first. */
static void creation_undo(struct creation *cr)
{
        nk_launch_kill(&cr->l);
        if (cr->made_cgroup && cr->cg) {
                nk_error *e = NULL;
                if (nk_cgroup_destroy(cr->cg, &e) < 0)
                        nk_error_free(e);
        }
        if (cr->made_dir) {
                nk_error *e = NULL;
                if (nk_rm_rf(cr->dir, &e) < 0)
                        nk_error_free(e);
        }
}

static void creation_free(struct creation *cr)
{
        nk_launch_close(&cr->l);
        close_fd(&cr->start_fd);
        close_fd(&cr->lock_fd);
        close_fd(&cr->dir_fd);
        close_fd(&cr->master);
        close_fd(&cr->life_fd);
        close_fd(&cr->child_life_fd);
        nk_ns_close(&cr->ns);
        nk_seccomp_free(cr->seccomp);
        nk_cgroup_self_enter_close(cr->cg_fds, cr->n_cg_fds);
        nk_rootfs_trees_close(cr->mount_trees, cr->spec->n_mounts);
        free(cr->trees_in_init);
        nk_cgroup_free(cr->cg);
        nk_rootfs_plan_free(cr->plan);
        free(cr->rootfs);
        free(cr->dir);
        free(cr->cgroup_path);
}

/* UTC by arithmetic: glibc's gmtime_r first loads the local time zone
 * (/etc/localtime), six syscalls on every create for nothing. Days to a
 * civil date in the proleptic Gregorian calendar, 400-year eras. */
static char *now_rfc3339(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long days = ts.tv_sec / 86400, secs = ts.tv_sec % 86400;
        long long z = days + 719468, era = z / 146097;
        long long doe = z - era * 146097;
        long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        long long mp = (5 * doy + 2) / 153, day = doy - (153 * mp + 2) / 5 + 1;
        long long month = mp < 10 ? mp + 3 : mp - 9, year = yoe + era * 400 + (month <= 2);
        char *s = NULL;
        if (asprintf(&s, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%09ldZ", year, month, day,
                     secs / 3600, secs / 60 % 60, secs % 60, ts.tv_nsec) < 0)
                return NULL;
        return s;
}

/* The first part of the spec that needs a mount namespace of the
 * container's own, or NULL. */
static const char *needs_mount_ns(const struct nk_spec *s, char *buf, size_t size)
{
        if (s->n_mounts) {
                snprintf(buf, size, "mounts[0] (`%s`)", s->mounts[0].destination);
                return buf;
        }
        if (s->masked_paths && s->masked_paths[0])
                return "linux.maskedPaths";
        if (s->readonly_paths && s->readonly_paths[0])
                return "linux.readonlyPaths";
        if (s->root_readonly)
                return "root.readonly";
        if (s->rootfs_propagation)
                return "linux.rootfsPropagation";
        if (s->n_devices)
                return "linux.devices";
        return NULL;
}

/* A namespace not listed is the runtime's own (OCI): without a mount
 * namespace the container shares ours, so nothing may be mounted for it.
 * runc would mount into the host's table here; we refuse what needs a
 * mount (or a /dev of the container's own) and enter the root by chroot
 * (child.c). */
static int check_without_mount_ns(const struct nk_spec *s, nk_error **err)
{
        char buf[128];
        const char *what = s->ns[NK_NS_MOUNT].present ? NULL : needs_mount_ns(s, buf, sizeof buf);
        if (!what)
                return 0;
        return nk_error_set(err, 0,
                            "%s: %s: needs a mount namespace, and linux.namespaces "
                            "has none (nook never changes the host's mounts for a container)",
                            s->source, what);
}

/* What create needs of the spec and the options beyond what the spec's
 * parser checks; then the rootfs, resolved once (the mounts are planned
 * against mountinfo, which has canonical paths). */
static int check_create(struct creation *cr, const char *rootfs, nk_error **err)
{
        const struct nk_create_opts *o = cr->o;
        const struct nk_spec *s = cr->spec;
        if (nk_container_id_check(o->id, err) < 0)
                return -1;
        if (!o->bundle || o->bundle[0] != '/')
                return nk_error_set(err, 0, "bundle `%s`: not an absolute path",
                                    o->bundle ? o->bundle : "");
        if (!s->has_process)
                return nk_error_set(err, 0, "%s: process: missing, nothing to run", s->source);
        if (check_without_mount_ns(s, err) < 0)
                return -1;
        if (o->rootfs_mount_fd > 0 && !nk_ns_new(s, NK_NS_MOUNT))
                return nk_error_set(err, 0,
                                    "%s: a root filesystem given as a mount needs a new mount "
                                    "namespace in linux.namespaces",
                                    s->source);
        if (s->process.terminal && !o->console_socket && !o->console_master && !cr->foreground)
                return nk_error_set(err, 0,
                                    "process.terminal is true: --console-socket is required");
        if (!(cr->rootfs = realpath(rootfs, NULL)))
                return nk_error_set(err, errno, "rootfs `%s`", rootfs);
        return 0;
}

static int make_state_dir(struct creation *cr, nk_error **err)
{
        const struct nk_create_opts *o = cr->o;
        if (nk_state_dir(o->root, o->id, &cr->dir, err) < 0)
                return -1;
        if (nk_mkdir_p(o->root, 0700, err) < 0)
                return nk_error_wrap(err, "state root");
        if (mkdir(cr->dir, 0700) < 0) {
                if (errno == EEXIST)
                        return nk_error_set(err, EEXIST, "container `%s` already exists", o->id);
                return nk_error_set(err, errno, "mkdir `%s`", cr->dir);
        }
        cr->made_dir = true;
        cr->dir_fd = nk_state_dir_open(o->root, o->id, err);
        if (cr->dir_fd < 0)
                return -1;
        cr->lock_fd = nk_state_lock_at(cr->dir_fd, o->root, o->id, err);
        return cr->lock_fd < 0 ? -1 : 0;
}

/* A new mount namespace starts as a copy of ours, so the init's mounts can
 * be planned here from the mountinfo the cgroup layout was read from. In a
 * joined one the init plans them itself. */
static int plan_mounts(struct creation *cr, nk_error **err)
{
        if (!nk_ns_new(cr->spec, NK_NS_MOUNT) || !cr->cg)
                return 0;
        struct nk_rootfs_opts ro;
        nk_child_rootfs_opts(cr->spec, cr->o, cr->cgroup_path, cr->mount_trees, &ro);
        return nk_rootfs_plan(cr->spec, cr->rootfs, &ro, cr->cg, &cr->plan, err);
}

/* --cgroup-manager disabled: the container stays in our cgroups. Its
 * resources cannot apply; say so rather than pretend (crun is silent).
 * Device rules are left out of the warning: the default spec always has
 * them, and /dev holds only the spec's devices anyway. */
static int no_cgroup(struct creation *cr)
{
        json_t *res = cr->spec->resources;
        const char *key;
        json_t *v;
        char keys[256] = "";
        json_object_foreach (res, key, v) {
                if (streq(key, "devices") || json_is_null(v))
                        continue;
                size_t n = strlen(keys);
                snprintf(keys + n, sizeof keys - n, "%s%s", n ? ", " : "", key);
        }
        if (keys[0])
                nk_warn("linux.resources (%s): not applied, --cgroup-manager disabled makes "
                        "no cgroup",
                        keys);
        return 0;
}

/* The cgroup path is recorded in the state dir before any cgroup exists:
 * whatever happens to this create from here on (kill -9 included), delete
 * --force finds the cgroups and every process in them. */
static int make_cgroup(struct creation *cr, nk_error **err)
{
        if (cr->o->no_cgroup)
                return no_cgroup(cr);
        errno = 0;
        cr->cgroup_path = nk_cgroup_path_for(cr->spec->cgroups_path, cr->o->id);
        if (!cr->cgroup_path)
                return nk_error_set(err, errno ? errno : ENOMEM, "cgroup path for `%s`",
                                    cr->spec->cgroups_path ? cr->spec->cgroups_path : cr->o->id);
        if (nk_cgroup_open(cr->cgroup_path, &cr->cg, err) < 0 ||
            nk_state_record_cgroup(cr->o->root, cr->o->id, cr->cgroup_path, err) < 0)
                return -1;
        if (nk_cgroup_create(cr->cg, cr->spec->resources, err) < 0)
                return nk_error_wrap(err, "cgroup `%s`", cr->cgroup_path);
        cr->made_cgroup = true;
        nk_debug("create %s: cgroup %s made", cr->o->id, cr->cgroup_path);
        return nk_cgroup_self_enter_open(cr->cg, &cr->cg_fds, &cr->n_cg_fds, err);
}

/* The start socket lives in the state dir; bound through /proc/self/fd so
 * that a long --root or id never hits the 108-byte sun_path limit. */
static int start_sock_addr(int dirfd, struct sockaddr_un *sa)
{
        *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
        return snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/exec.sock", dirfd);
}

static int make_start_socket(struct creation *cr, nk_error **err)
{
        struct sockaddr_un sa;
        start_sock_addr(cr->dir_fd, &sa);
        cr->start_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (cr->start_fd < 0 || bind(cr->start_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
            listen(cr->start_fd, 4) < 0)
                return nk_error_set(err, errno, "exec socket in `%s`", cr->dir);
        return 0;
}

static int make_channels(struct creation *cr, nk_error **err)
{
        if (nk_launch_channels(&cr->l, cr->spec->process.terminal, cr->o->console_socket, err) < 0)
                return -1;
        int lp[2]; /* a socket, not a pipe: a send to a dead init must not SIGPIPE us */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lp) < 0)
                return nk_error_set(err, errno, "life socketpair");
        cr->child_life_fd = lp[0];
        cr->life_fd = lp[1];
        return 0;
}

/* Whether the init may hand over to nook-init at CREATED, so nook need not
 * re-exec from a protected copy first. Not when anything could still reach
 * nook's own code in the container: a joined pid namespace (its processes
 * see the init), createContainer and startContainer hooks (forked by the
 * init, exec'd by a path the rootfs controls); nor when exec labels would
 * land on nook-init, or the seccomp filter, loaded before the hand-over,
 * might stop nook-init's syscalls or has a listener. */
bool nk_container_may_hand_over(const struct nk_spec *s)
{
        static const char *const used[] = {"execveat",   "accept4", "close", "execve", "write",
                                           "exit_group", "ppoll",   "read",  NULL};
        return nk_ns_new(s, NK_NS_PID) && s->n_hooks[NK_HOOK_CREATE_CONTAINER] == 0 &&
               s->n_hooks[NK_HOOK_START_CONTAINER] == 0 && !s->process.apparmor_profile &&
               !s->process.selinux_label && nk_seccomp_allows_plainly(s->seccomp, used);
}

/* The init mode, chosen here only (child.h). Handing over needs the
 * caller's nook-init and a spec that allows it; else nook's binary must be
 * out of the container's reach already (CVE-2019-5736, selfexe.c): the
 * caller re-execs from a sealed copy first, a library never does. Direct
 * when there is nothing for us to do on the way (id maps, prestart and
 * createRuntime hooks) and nothing the init does that a task sharing our
 * memory may not (setns into a user or time namespace); spawn_init() falls
 * back to HAND_OVER on a kernel without nk_clone_vm(). */
static int choose_init_mode(struct creation *cr, nk_error **err)
{
        const struct nk_spec *s = cr->spec;
        if (cr->o->init_fd < 0 || !nk_container_may_hand_over(s)) {
                cr->mode = NK_INIT_EXEC;
                if (!nk_self_exe_protected())
                        return nk_error_set(err, EPERM,
                                            "nook's binary is writable and this container "
                                            "cannot hand over to nook-init: re-exec from a "
                                            "sealed copy first (nk_self_exe_guard)");
                return 0;
        }
        bool direct = !s->ns[NK_NS_USER].present && !s->ns[NK_NS_TIME].present &&
                      s->n_hooks[NK_HOOK_PRESTART] == 0 && s->n_hooks[NK_HOOK_CREATE_RUNTIME] == 0;
        cr->mode = direct ? NK_INIT_DIRECT : NK_INIT_HAND_OVER;
        return 0;
}

/* The init, in the child of either clone. */
__attribute__((noreturn)) static void init_main(void *p)
{
        struct creation *cr = p;
        struct nk_child_ctx c = {
                .spec = cr->spec,
                .opts = cr->o,
                .rootfs = cr->rootfs,
                .cgroup_path = cr->cgroup_path,
                .sync_fd = cr->l.child_sync_fd,
                .start_fd = cr->start_fd,
                .start_conn = -1,
                .console_fd = cr->l.console_fd,
                .ns = cr->ns,
                .seccomp = cr->seccomp,
                .cg_fds = cr->cg_fds,
                .n_cg_fds = cr->n_cg_fds,
                .mount_trees = cr->mount_trees,
                .trees_in_init = cr->trees_in_init,
                .init_fd = cr->mode != NK_INIT_EXEC ? cr->o->init_fd : -1,
                .plan = cr->plan,
                /* A direct clone that fell back to fork (l.direct cleared
                 * before it) is a hand-over: the parent downgrades its own
                 * copy only after the clone returns. */
                .mode = cr->mode == NK_INIT_DIRECT && !cr->l.direct ? NK_INIT_HAND_OVER : cr->mode,
                .life_fd = cr->child_life_fd,
        };
        close(cr->l.sync_fd);
        close(cr->life_fd); /* only the creator may hold it: EOF = it died */
        if (cr->l.console_parent_fd >= 0)
                close(cr->l.console_parent_fd);
        if (cr->lock_fd >= 0)
                close(cr->lock_fd);
        close(cr->dir_fd); /* the host's state dir: nothing of the init's */
        nk_child_main(&c);
}

static int spawn_init(struct creation *cr, nk_error **err)
{
        struct nk_clone_opts co = {
                .flags = nk_ns_clone_flags(cr->spec),
                .cgroup_fd = cr->cg ? nk_cgroup_clone_fd(cr->cg) : -1,
                .pidfd_out = &cr->l.pidfd,
                /* Until it reports CREATED, the init dies with us. */
                .death_signal = SIGKILL,
        };
        pid_t pid = nk_launch_clone(&cr->l, &co, init_main, cr, cr->mode == NK_INIT_DIRECT, cr->cg,
                                    err);
        if (pid < 0)
                return nk_error_wrap(err, "create the container init");
        cr->l.pid = pid;
        if (cr->mode == NK_INIT_DIRECT && !cr->l.direct) /* no nk_clone_vm() here */
                cr->mode = NK_INIT_HAND_OVER;
        nk_debug("create %s: init is pid %d%s", cr->o->id, (int)pid,
                 cr->mode == NK_INIT_DIRECT ? ", run direct to nook-init" : "");
        close_fd(&cr->child_life_fd);
        close_fd(&cr->start_fd);
        nk_ns_close(&cr->ns);
        nk_cgroup_self_enter_close(cr->cg_fds, cr->n_cg_fds);
        cr->cg_fds = NULL;
        cr->n_cg_fds = 0;
        nk_rootfs_trees_close(cr->mount_trees, cr->spec->n_mounts);
        cr->mount_trees = NULL;
        return 0;
}

static char *state_json_text(const char *root, const struct nk_state *st, const char *status)
{
        json_t *o = nk_state_to_json(root, st);
        if (status)
                json_object_set_new(o, "status", json_string(status));
        json_object_set_new(o, "pid", json_integer(st->pid));
        char *t = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return t;
}

static void fill_state(struct creation *cr, struct nk_state *st)
{
        *st = (struct nk_state){
                .id = (char *)cr->o->id,
                .bundle = (char *)cr->o->bundle,
                .rootfs = cr->rootfs,
                .pid = cr->l.pid,
                .cgroup_path = cr->cgroup_path,
                .owner = "",
                .annotations = cr->spec->annotations,
                .config = cr->spec->json,
                .systemd_cgroup = cr->o->systemd_cgroup,
        };
}

/* CREATED from an init that hands over: the EOF of its close-on-exec sync
 * end, from a live init (an error record instead says why it failed). */
static int expect_handed_over(struct creation *cr, nk_error **err)
{
        if (nk_sync_expect_eof(cr->l.sync_fd, "CREATED", err) < 0)
                return -1;
        siginfo_t si = {0};
        int r = cr->l.pidfd >= 0
                        ? waitid(P_PIDFD, (id_t)cr->l.pidfd, &si, WEXITED | WNOHANG | WNOWAIT)
                        : waitid(P_PID, (id_t)cr->l.pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 || si.si_pid != 0)
                return nk_error_set(err, r < 0 ? errno : EPIPE,
                                    "container init exited before sync CREATED");
        nk_debug("create %s: init handed over to nook-init", cr->o->id);
        return 0;
}

/* A joined pid namespace: the init that set up the rootfs outside it
 * cloned the init proper into it, as our child, and exits (child.c,
 * enter_pid_ns_child). That one is the container's init from now on. */
static int take_over_init_parent(struct creation *cr, nk_error **err)
{
        if (!cr->spec->ns[NK_NS_PID].present || !cr->spec->ns[NK_NS_PID].path)
                return 0;
        int code;
        if (nk_launch_take_pid(&cr->l, cr->l.pid, false, &code, err) < 0) /* sync PID */
                return -1;
        nk_debug("create %s: init is pid %d in the joined pid namespace", cr->o->id,
                 (int)cr->l.pid);
        return nk_launch_send(&cr->l, NK_SYNC_GO, NULL, err); /* sync GO */
}

/* Bind sources with host mounts below them, in a new user namespace: opened
 * with our credentials through the init's root, so in its mount namespace,
 * where the kernel has locked those mounts; sent before GO, which the init
 * awaits anyway (no extra round trip). The init clones them. */
static int send_bind_sources(struct creation *cr, nk_error **err)
{
        if (!cr->trees_in_init)
                return 0;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/root", (int)cr->l.pid);
        _cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return nk_error_set(err, errno, "open the init's root %s", path);
        for (size_t i = 0; i < cr->spec->n_mounts; i++) {
                if (!cr->trees_in_init[i])
                        continue;
                _cleanup_close_ int fd = nk_rootfs_open_source_in(cr->spec, i, root, err);
                if (fd < 0)
                        return -1;
                if (nk_send_fd(cr->l.sync_fd, fd, "bind source", err) < 0)
                        return nk_launch_send_failed(&cr->l, err);
        }
        return 0;
}

/* Parent side of the sync sequence, from GO to CREATED. */
static int drive_init_parent(struct creation *cr, nk_error **err)
{
        if (cr->mode == NK_INIT_DIRECT) /* it ran to the hand-over while we slept */
                return expect_handed_over(cr, err);
        if (nk_ns_new(cr->spec, NK_NS_USER) && nk_ns_write_idmaps(cr->l.pid, cr->spec, err) < 0)
                return -1;
        if (send_bind_sources(cr, err) < 0)
                return -1;
        if (nk_launch_send(&cr->l, NK_SYNC_GO, NULL, err) < 0) /* sync 1 */
                return -1;
        nk_debug("create %s: GO sent", cr->o->id);
        if (nk_sync_expect(cr->l.sync_fd, NK_SYNC_PRESTART, err) < 0) /* sync 2 */
                return -1;
        nk_debug("create %s: init mounted the rootfs", cr->o->id);
        struct nk_state st;
        fill_state(cr, &st);
        _cleanup_free_ char *state = state_json_text(cr->o->root, &st, "creating");
        if (nk_hooks_run(cr->spec, NK_HOOK_PRESTART, state, err) < 0 ||
            nk_hooks_run(cr->spec, NK_HOOK_CREATE_RUNTIME, state, err) < 0)
                return -1;
        if (nk_launch_send(&cr->l, NK_SYNC_PRESTART_DONE, state, err) < 0 || /* sync 3 */
            take_over_init_parent(cr, err) < 0)
                return -1;
        if (cr->mode == NK_INIT_HAND_OVER) /* sync 4: the init exec'd nook-init */
                return expect_handed_over(cr, err);
        if (nk_sync_expect(cr->l.sync_fd, NK_SYNC_CREATED, err) < 0) /* sync 4 */
                return -1;
        nk_debug("create %s: init is ready to exec", cr->o->id);
        return 0;
}

static int record_created(struct creation *cr, nk_error **err)
{
        struct nk_state st;
        fill_state(cr, &st);
        st.pid_start = nk_proc_start_time(cr->l.pid);
        _cleanup_free_ char *created = now_rfc3339();
        st.created = created;
        if (nk_state_save(cr->o->root, &st, err) < 0 ||
            nk_launch_write_pid_file(cr->o->pid_file, cr->l.pid, err) < 0)
                return -1;
        /* Recorded: the init may outlive us now. One byte, no answer
         * awaited: the init (or nook-init) finds it before the EOF our
         * exit leaves, whenever it looks. */
        if (send(cr->life_fd, "R", 1, MSG_NOSIGNAL) != 1)
                return nk_error_set(err, errno, "tell the init it is recorded");
        close_fd(&cr->life_fd);
        return 0;
}

/* A pty master that comes back to us (no console socket) for a caller
 * that asked for it (console_master): received once the init is recorded.
 * A foreground run leaves it to nk_launch_foreground(), which relays it. */
static int take_console(struct creation *cr, nk_error **err)
{
        if (cr->l.console_parent_fd < 0 || cr->foreground)
                return 0;
        cr->master = nk_recv_fd(cr->l.console_parent_fd, err);
        return cr->master < 0 ? nk_error_wrap(err, "receive the pty master") : 0;
}

static int create_steps(struct creation *cr, const char *rootfs, nk_error **err)
{
        nk_debug("create %s: start", cr->o->id);
        if (check_create(cr, rootfs, err) < 0 || choose_init_mode(cr, err) < 0)
                return -1;
        if (nk_lsm_check(cr->spec, err) < 0 ||
            nk_seccomp_prepare_cached(cr->spec->seccomp, cr->o->seccomp_cache, &cr->seccomp, err) <
                    0 ||
            nk_ns_open_joined(cr->spec, &cr->ns, err) < 0 ||
            nk_rootfs_bind_trees(cr->spec, &cr->mount_trees, &cr->trees_in_init, err) < 0)
                return -1;
        if (make_state_dir(cr, err) < 0 || make_cgroup(cr, err) < 0 || plan_mounts(cr, err) < 0 ||
            make_start_socket(cr, err) < 0 || make_channels(cr, err) < 0)
                return -1;
        nk_debug("create %s: cloning the init", cr->o->id);
        if (spawn_init(cr, err) < 0 || drive_init_parent(cr, err) < 0 ||
            record_created(cr, err) < 0 || take_console(cr, err) < 0)
                return -1;
        return 0;
}

/* create, keeping what `run` needs (pid, pidfd, pty master) in *cr. */
static int create_container(struct creation *cr, const char *rootfs, nk_error **err)
{
        if (create_steps(cr, rootfs, err) < 0) {
                creation_undo(cr);
                return nk_error_wrap(err, "create container `%s`", cr->o->id);
        }
        return 0;
}

int nk_container_create(const struct nk_spec *spec, const char *rootfs,
                        const struct nk_create_opts *o, nk_error **err)
{
        struct creation cr;
        creation_init(&cr, spec, o);
        int r = create_container(&cr, rootfs, err);
        if (r == 0 && o->console_master)
                *o->console_master = TAKE_FD(cr.master);
        creation_free(&cr);
        return r;
}

/* Connect to exec.sock in the state dir `dfd`, release the init, and wait
 * until it has exec'd (EOF) or reported why it could not (a sync error
 * record, from the init or from nook-init). */
static int release_init(int dfd, const char *id, nk_error **err)
{
        struct sockaddr_un sa;
        start_sock_addr(dfd, &sa);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return nk_error_set(err, errno, "container `%s` is not waiting to start", id);
        unlinkat(dfd, "exec.sock", 0);
        return nk_sync_expect_eof(fd, "start", err);
}

/* Whether the saved config has hooks of this kind: parsing the whole
 * config again only pays when it has. */
static bool has_hooks(const struct nk_state *st, const char *kind)
{
        return st->config &&
               json_array_size(json_object_get(json_object_get(st->config, "hooks"), kind)) > 0;
}

/* The handle holds the lock: nobody starts or deletes meanwhile. */
static int start_locked(struct nk_container *c, nk_error **err)
{
        const char *root = nk_container_root(c);
        const struct nk_state *st = nk_container_state(c);
        enum nk_status status = nk_state_status(root, st);
        if (status != NK_STATUS_CREATED)
                return nk_error_set(err, 0, "container `%s` is %s, not created", st->id,
                                    nk_status_name(status));
        if (release_init(nk_container_dir_fd(c), st->id, err) < 0)
                return -1;
        if (has_hooks(st, "poststart")) {
                _cleanup_free_ char *text = json_dumps(st->config, JSON_COMPACT);
                struct nk_spec *spec = NULL;
                nk_error *e = NULL;
                if (text && nk_spec_parse(text, strlen(text), "config.json", &spec, &e) == 0) {
                        _cleanup_free_ char *state = state_json_text(root, st, "running");
                        nk_hooks_run_warn(spec, NK_HOOK_POSTSTART, state);
                }
                nk_error_free(e);
                nk_spec_free(spec);
        }
        return 0;
}

int nk_container_start(const char *root, const char *id, nk_error **err)
{
        struct nk_container *c = NULL;
        if (nk_container_open(root, id, NK_CONTAINER_LOCK, &c, err) < 0)
                return -1;
        int r = start_locked(c, err);
        nk_container_close(c);
        return r < 0 ? nk_error_wrap(err, "start container `%s`", id) : 0;
}

static const struct {
        const char *name;
        int sig;
} signals[] = {
        {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
        {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
        {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
        {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
        {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
        {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
        {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
        {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
        {"SYS", SIGSYS},
};

int nk_signal_parse(const char *s)
{
        char *end;
        if (*s >= '0' && *s <= '9') { /* digits only: no sign, space or suffix */
                errno = 0;
                long n = strtol(s, &end, 10);
                return !*end && !errno && n > 0 && n < NSIG ? (int)n : -1;
        }
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
                if (strcasecmp(s, signals[i].name) == 0)
                        return signals[i].sig;
        if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
                int base = strncasecmp(s, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
                /* RTMIN+n, RTMAX-n: the offset is checked before it is added */
                const char *o = s + 5;
                if (*o && !((*o == '+' || *o == '-') && o[1] >= '0' && o[1] <= '9'))
                        return -1;
                errno = 0;
                long off = *o ? strtol(o, &end, 10) : 0;
                if ((*o && *end) || errno || off < -(SIGRTMAX - SIGRTMIN) ||
                    off > SIGRTMAX - SIGRTMIN)
                        return -1;
                int sig = base + (int)off;
                return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -1;
        }
        return -1;
}

/* Kill the init if it is still there and wait (bounded) until it is gone. */
static int stop_init(const struct nk_state *st, nk_error **err)
{
        nk_error *e = NULL;
        int fd = nk_state_init_pidfd(st, &e);
        if (fd < 0) {
                nk_error_free(e);
                return 0;
        }
        nk_pidfd_send_signal(fd, SIGKILL, NULL, 0);
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, 10000);
        close(fd);
        /* Our own child (foreground run): reap it. */
        waitpid(st->pid, NULL, WNOHANG);
        if (r == 0)
                return nk_error_set(err, ETIMEDOUT, "container `%s` init did not die", st->id);
        return 0;
}

static void run_poststop(const char *root, const struct nk_state *st)
{
        if (!has_hooks(st, "poststop"))
                return;
        _cleanup_free_ char *text = json_dumps(st->config, JSON_COMPACT);
        struct nk_spec *spec = NULL;
        nk_error *e = NULL;
        if (text && nk_spec_parse(text, strlen(text), "config.json", &spec, &e) == 0 &&
            spec->n_hooks[NK_HOOK_POSTSTOP] > 0) {
                _cleanup_free_ char *state = state_json_text(root, st, "stopped");
                nk_hooks_run_warn(spec, NK_HOOK_POSTSTOP, state);
        }
        nk_error_free(e);
        nk_spec_free(spec);
}

/* `open_cg`: the container's cgroup if the caller has it open already (a
 * foreground run), saving a second look at the host's hierarchies. */
static int delete_locked(const char *root, const struct nk_state *st, bool force,
                         struct nk_cgroup *open_cg, nk_error **err)
{
        enum nk_status status = nk_state_status(root, st);
        if ((status == NK_STATUS_RUNNING || status == NK_STATUS_PAUSED) && !force)
                return nk_error_set(err, EBUSY,
                                    "container `%s` is %s: stop it first or use --force", st->id,
                                    nk_status_name(status));
        /* The cgroup first: destroy kills every process in it, thawing a
         * paused container (a task frozen by the v1 freezer does not die of
         * SIGKILL until thawed). */
        if (st->cgroup_path) {
                struct nk_cgroup *cg = NULL;
                int r = 0;
                if (open_cg && streq(nk_cgroup_path(open_cg), st->cgroup_path))
                        r = nk_cgroup_destroy(open_cg, err);
                else if ((r = nk_cgroup_open(st->cgroup_path, &cg, err)) == 0)
                        r = nk_cgroup_destroy(cg, err);
                nk_cgroup_free(cg);
                if (r < 0)
                        return -1;
                nk_debug("delete %s: cgroup removed", st->id);
        }
        if (status != NK_STATUS_STOPPED && stop_init(st, err) < 0)
                return -1;
        run_poststop(root, st);
        /* state.json goes first: a delete killed during the removal leaves
         * the cgroup record, which is all a second delete --force needs. */
        _cleanup_free_ char *dir = NULL, *state = NULL;
        if (nk_state_dir(root, st->id, &dir, err) < 0)
                return -1;
        if (asprintf(&state, "%s/state.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "delete %s", st->id);
        if (unlink(state) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "remove `%s`", state);
        if (nk_rm_rf(dir, err) < 0)
                return -1;
        nk_debug("delete %s: done", st->id);
        return 0;
}

/* The cgroup of an entry without a usable state.json: the one recorded
 * before any was made, else the default one derived from the id. */
static char *salvage_cgroup_path(int dfd, const char *id, bool *recorded)
{
        char *path = dfd >= 0 ? nk_state_recorded_cgroup(dfd) : NULL;
        *recorded = path != NULL;
        return path ? path : nk_cgroup_path_for(NULL, id);
}

/* A salvaged path is not trusted like a state.json: never the root, nor a
 * cgroup holding nook itself (destroying it kills everything inside). */
static int salvage_cgroup_check(const char *path, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        if (streq(path, "/") || nk_read_file("/proc/self/cgroup", &text, NULL, err) < 0)
                return nk_error_set(err, 0,
                                    "cgroup `%s` is the root or holds nook itself: "
                                    "not removing it",
                                    path);
        size_t n = strlen(path);
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                char *own = strchr(l, ':');
                own = own ? strchr(own + 1, ':') : NULL;
                if (own && strncmp(own + 1, path, n) == 0 && strchr("/\n", own[1 + n]))
                        return nk_error_set(err, 0,
                                            "cgroup `%s` holds nook itself: "
                                            "not removing it",
                                            path);
        }
        return 0;
}

/* An entry whose state.json is missing or unusable (a create or delete
 * killed half-way, a corrupt file), or a file or symlink where the state
 * directory belongs: remove what can be found. The cgroup goes first, and
 * with it every process in it; only then the entry (a symlink itself, never
 * what it points to). Without --force only when no process is left. */
static int salvage_entry(const char *root, const char *id, bool force, int dfd, const char *why,
                         nk_error **err)
{
        bool is_dir = dfd >= 0, recorded;
        _cleanup_free_ char *dir = NULL, *cg_path = salvage_cgroup_path(dfd, id, &recorded);
        struct nk_cgroup *cg = NULL;
        if (nk_state_dir(root, id, &dir, err) < 0 || !cg_path ||
            salvage_cgroup_check(cg_path, err) < 0 || nk_cgroup_open(cg_path, &cg, err) < 0)
                return nk_error_wrap(err, "%s: find its cgroup", why);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if (!force && nk_cgroup_pids(cg, &pids, &n, NULL) == 0 && n > 0) {
                nk_cgroup_free(cg);
                return nk_error_set(err, EBUSY, "%s; %zu processes in cgroup %s: use --force", why,
                                    n, cg_path);
        }
        int r = nk_cgroup_destroy(cg, err);
        nk_cgroup_free(cg);
        if (r < 0)
                return nk_error_wrap(err, "%s", why);
        if (is_dir && nk_rm_rf(dir, err) < 0)
                return -1;
        if (!is_dir && unlink(dir) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "remove `%s`", dir);
        if (recorded)
                nk_warn("delete %s: %s; removed cgroup %s and the state entry", id, why, cg_path);
        else
                nk_warn("delete %s: %s; no cgroup path recorded: removed the default %s if it "
                        "existed, and the state entry",
                        id, why, cg_path);
        return 0;
}

/* The entry could not be opened as a container (open_error): absent, or
 * something else than a state dir stands there. */
static int delete_unopened(const char *root, const char *id, bool force, nk_error *open_error,
                           nk_error **err)
{
        _cleanup_error_ nk_error *e = open_error;
        int dfd = -1;
        if (e->errno_ == ENOENT)
                return force ? 0 : nk_error_set(err, ENOENT, "container `%s` does not exist", id);
        bool not_dir = (e->errno_ == ELOOP || e->errno_ == ENOTDIR) &&
                       (dfd = nk_state_dir_open(root, id, NULL)) < 0;
        if (dfd >= 0)
                close(dfd);
        if (!not_dir) /* the dir is there: its lock failed */
                return nk_error_pass(err, TAKE_PTR(e));
        int r = force ? salvage_entry(root, id, force, -1, e->msg, err)
                      : nk_error_set(err, e->errno_, "%s: delete --force removes it", e->msg);
        return r < 0 ? nk_error_wrap(err, "delete container `%s`", id) : 0;
}

/* Over a locked handle, whatever state the entry is in: a usable state is
 * deleted, anything else salvaged. */
static int delete_container(const char *root, const char *id, bool force, struct nk_cgroup *open_cg,
                            nk_error **err)
{
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        if (nk_container_open(root, id, NK_CONTAINER_LOCK | NK_CONTAINER_ANY_STATE, &c, &e) < 0)
                return delete_unopened(root, id, force, e, err);
        int r = 0;
        struct stat sb; /* removed by a delete we waited for: gone, nothing to salvage */
        if (fstat(nk_container_dir_fd(c), &sb) == 0 && sb.st_nlink == 0)
                r = force ? 0 : nk_error_set(err, ENOENT, "container `%s` does not exist", id);
        else if (!nk_container_state(c))
                r = salvage_entry(root, id, force, nk_container_dir_fd(c),
                                  nk_container_load_error(c)->msg, err);
        else
                r = delete_locked(root, nk_container_state(c), force, open_cg, err);
        nk_container_close(c);
        return r < 0 ? nk_error_wrap(err, "delete container `%s`", id) : 0;
}

int nk_container_delete(const char *root, const char *id, bool force, nk_error **err)
{
        return delete_container(root, id, force, NULL, err);
}

static int start_created(struct creation *cr, nk_error **err)
{
        if (release_init(cr->dir_fd, cr->o->id, err) < 0)
                return nk_error_wrap(err, "start container `%s`", cr->o->id);
        if (cr->spec->n_hooks[NK_HOOK_POSTSTART] == 0)
                return 0; /* no state JSON to build */
        struct nk_state st;
        fill_state(cr, &st);
        _cleanup_free_ char *state = state_json_text(cr->o->root, &st, "running");
        nk_hooks_run_warn(cr->spec, NK_HOOK_POSTSTART, state);
        return 0;
}

static int start_foreground(void *arg, nk_error **err)
{
        struct creation *cr = arg;
        if (start_created(cr, err) < 0)
                return -1;
        nk_debug("run %s: started", cr->o->id);
        return 0;
}

static int run_foreground(struct creation *cr, int *exit_code, nk_error **err)
{
        const struct nk_launch_fg fg = {
                .sync_size = true, .start = start_foreground, .start_arg = cr};
        return nk_launch_foreground(&cr->l, &fg, exit_code, err);
}

int nk_container_run(const struct nk_spec *spec, const char *rootfs, const struct nk_create_opts *o,
                     int *exit_code, nk_error **err)
{
        struct creation cr;
        creation_init(&cr, spec, o);
        cr.foreground = !o->detach;
        *exit_code = 0;
        int r = create_container(&cr, rootfs, err);
        if (r == 0) {
                close_fd(&cr.lock_fd); /* let delete/state/kill in meanwhile */
                r = o->detach ? start_created(&cr, err) : run_foreground(&cr, exit_code, err);
                if (r == 0 && o->detach && o->console_master)
                        *o->console_master = TAKE_FD(cr.master);
                if (r < 0 || (!o->detach && !o->keep)) {
                        nk_error *e = NULL;
                        if (delete_container(o->root, o->id, true, cr.cg, &e) < 0) {
                                _cleanup_free_ char *t = nk_error_text(e);
                                nk_warn("%s", t);
                                nk_error_free(e);
                        }
                }
        }
        cr.l.pid = 0;
        creation_free(&cr);
        return r;
}
