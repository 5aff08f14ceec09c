/* The container init: one flat, ordered list of steps from clone to execve.
 * Every step is a function; conditions live inside the steps. An error is
 * sent to the parent over the sync socket (it reaches the user intact) and
 * the init exits. */
#include "child.h"
#include "cgroup/cgroup.h"
#include "hooks.h"
#include "process.h"
#include "rootfs.h"
#include "sync.h"
#include "terminal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* Our death signal was set after clone returned here: a creator killed
 * before that sent none. Its end of the life socket is then closed (ours went
 * in init_main), so look once: prctl first, then this, leaves no gap. The
 * syncs of the fork path would notice too, the direct path has none. */
static int check_creator_child(struct nk_child_ctx *c, nk_error **err)
{
        struct pollfd pf = {.fd = c->life_fd, .events = POLLIN};
        if (c->life_fd >= 0 && poll(&pf, 1, 0) != 0)
                return nk_error_set(err, EPIPE, "nook create died before the init started");
        return 0;
}

/* Before GO: each bind source the parent opened in our mount namespace
 * (nk_rootfs_bind_trees), cloned onto its placeholder in mount_trees. */
static int recv_bind_sources_child(struct nk_child_ctx *c, nk_error **err)
{
        for (size_t i = 0; c->trees_in_init && i < c->spec->n_mounts; i++) {
                if (!c->trees_in_init[i])
                        continue;
                _cleanup_close_ int src = nk_recv_fd(c->sync_fd, err);
                if (src < 0 ||
                    nk_rootfs_clone_source_fd(c->spec, i, src, c->mount_trees[i], err) < 0)
                        return -1;
        }
        return 0;
}

static int wait_go_child(struct nk_child_ctx *c, nk_error **err)
{
        if (c->mode != NK_INIT_DIRECT && recv_bind_sources_child(c, err) < 0)
                return -1;
        /* sync 1: the parent has written our id maps and moved us into the
         * cgroup; nothing namespace-dependent may happen before this. */
        if (c->mode != NK_INIT_DIRECT && nk_sync_expect(c->sync_fd, NK_SYNC_GO, err) < 0)
                return -1;
        /* In a new user namespace we start with the mapped ids of our
         * creator; become the namespace's root so files we create in the
         * rootfs get the container's root ids. */
        if (nk_ns_new(c->spec, NK_NS_USER) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                return nk_error_set(err, errno, "become root in the user namespace");
        return 0;
}

static int set_names_child(struct nk_child_ctx *c, nk_error **err)
{
        const struct nk_spec *s = c->spec;
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                return nk_error_set(err, errno, "hostname: set `%s`", s->hostname);
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
                return nk_error_set(err, errno, "domainname: set `%s`", s->domainname);
        return 0;
}

/* sysctl goes through /proc/sys of the host proc mount still visible before
 * pivot_root: namespaced entries resolve against the writer's namespaces,
 * which are already the container's. Only procfs's own /proc/sys: no
 * mount on the way (spec.c has checked the key has no empty or `..` part). */
static int set_sysctl_child(struct nk_child_ctx *c, nk_error **err)
{
        for (size_t i = 0; i < c->spec->n_sysctl; i++) {
                const struct nk_sysctl *sc = &c->spec->sysctl[i];
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "sys/%s", sc->key) < 0)
                        return nk_error_set(err, ENOMEM, "sysctl");
                for (char *p = path + strlen("sys/"); *p; p++)
                        if (*p == '.')
                                *p = '/';
                if (nk_proc_write(path, sc->value, strlen(sc->value), err) < 0)
                        return nk_error_wrap(err, "linux.sysctl: %s=%s", sc->key, sc->value);
        }
        return 0;
}

/* Called by the rootfs code with every mount in place, before pivot_root. */
static int before_pivot_child(void *data, nk_error **err)
{
        struct nk_child_ctx *c = data;
        /* sync 2/3: the parent runs prestart + createRuntime hooks now. */
        if (c->mode != NK_INIT_DIRECT &&
            (nk_sync_send(c->sync_fd, NK_SYNC_PRESTART, err) < 0 ||
             nk_sync_expect_text(c->sync_fd, NK_SYNC_PRESTART_DONE, &c->state_json, err) < 0))
                return -1;
        if (set_names_child(c, err) < 0 || set_sysctl_child(c, err) < 0)
                return -1;
        return nk_hooks_run(c->spec, NK_HOOK_CREATE_CONTAINER, c->state_json, err);
}

void nk_child_rootfs_opts(const struct nk_spec *spec, const struct nk_create_opts *o,
                          const char *cgroup_path, const int *mount_trees,
                          struct nk_rootfs_opts *ro)
{
        *ro = (struct nk_rootfs_opts){
                .no_pivot = o->no_pivot,
                .in_userns = spec->ns[NK_NS_USER].present,
                .new_cgroupns = nk_ns_new(spec, NK_NS_CGROUP),
                .cgroup_path = cgroup_path,
                .mount_trees = mount_trees,
                .rootfs_mount_fd = o->rootfs_mount_fd,
        };
}

/* No mount namespace of the container's own: the mount table is the
 * host's and stays as it is (load_bundle refused anything that would
 * mount); the root is entered by chroot, as runc does without
 * CLONE_NEWNS. Through an fd: the path was resolved by the parent. */
static int enter_root_child(struct nk_child_ctx *c, nk_error **err)
{
        if (before_pivot_child(c, err) < 0) /* sync 2, 3 */
                return -1;
        _cleanup_close_ int fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "root.path: open `%s`", c->rootfs);
        if (nk_rootfs_chroot_fd(fd, c->rootfs, err) < 0)
                return nk_error_wrap(err, "root.path");
        return nk_rootfs_make_cwd_child(c->spec->process.cwd, err);
}

static int setup_rootfs_child(struct nk_child_ctx *c, nk_error **err)
{
        if (!c->spec->ns[NK_NS_MOUNT].present)
                return enter_root_child(c, err);
        struct nk_rootfs_opts ro;
        nk_child_rootfs_opts(c->spec, c->opts, c->cgroup_path, c->mount_trees, &ro);
        ro.before_pivot = before_pivot_child;
        ro.before_pivot_data = c;
        ro.plan = c->plan;
        ro.proc_pidns_fd = c->ns.fd[NK_NS_PID] > 0 ? c->ns.fd[NK_NS_PID] : 0;
        return nk_rootfs_setup_child(c->spec, c->rootfs, &ro, err);
}

/* A joined pid namespace (a pod), first steps, while our /proc is still
 * the host's, where we are visible (the container's is mounted for the
 * joined namespace, which does not show us): oom_score_adj and the LSM
 * exec labels, both inherited across fork. */
static int early_proc_child(struct nk_child_ctx *c, nk_error **err)
{
        if (!c->late_pid)
                return 0;
        return nk_ns_host_proc_steps(&c->spec->process, err);
}

/* A joined pid namespace (a pod): we ran in nook's own so far, which no
 * process in the joined one can see, because until pivot_root our root was
 * the host's (a process there with CAP_SYS_PTRACE would have reached it
 * through /proc/PID/root, cwd and fd; non-dumpable does not stop that).
 * Every step that needs privilege is taken here too, as exec's joiner does
 * (finalize.h): CAP_SYS_PTRACE there could make the init call anything its
 * capabilities allow. args[0] is resolved first, as root, as the init
 * does without a joined pid namespace. */
static int before_pid_ns_child(struct nk_child_ctx *c, nk_error **err)
{
        const struct nk_process *p = &c->spec->process;
        if (!c->late_pid)
                return 0;
        if (!(c->exec_path = nk_process_find_exec(p, err)))
                return -1;
        c->fin = (struct nk_finalize){
                .p = p,
                .spec = c->spec,
                .seccomp = c->seccomp,
                .state_json = c->state_json,
                .keyring = c->opts->no_new_keyring ? NULL : c->opts->id,
                .pid_ns_fd = c->ns.fd[NK_NS_PID],
                .pid_ns_path = c->spec->ns[NK_NS_PID].path,
                .console_fd = c->console_fd,
        };
        if (nk_finalize_creds(&c->fin, err) < 0)
                return -1;
        c->env = c->fin.env;
        if (c->console_fd >= 0)
                close(c->console_fd);
        c->console_fd = -1;
        c->seccomp_loaded = c->seccomp && !c->fin.filter_left;
        return 0;
}

/* The init proper is born in the joined namespace only now, with the
 * container's root, cwd and credentials and none of the host's fds, as
 * the parent's child; we exit. The container's /proc was mounted for
 * that namespace (pidns=). */
static int enter_pid_ns_child(struct nk_child_ctx *c, nk_error **err)
{
        int fd = c->ns.fd[NK_NS_PID];
        if (!c->late_pid)
                return 0;
        c->ns.fd[NK_NS_PID] = -1;
        close(fd);
        const int keep[] = {c->sync_fd, c->start_fd, c->console_fd, c->init_fd, c->life_fd};
        return nk_finalize_enter_pid(&c->fin, c->opts->preserve_fds, keep, ARRAY_SIZE(keep),
                                     c->sync_fd, SIGKILL, true, err);
}

static int setup_console_child(struct nk_child_ctx *c, nk_error **err)
{
        if (!c->spec->process.terminal || c->late_pid)
                return 0;
        if (nk_terminal_setup_child(&c->spec->process, c->console_fd, err) < 0)
                return -1;
        close(c->console_fd);
        c->console_fd = -1;
        return 0;
}

/* Without a joined pid namespace: the process's settings as root
 * (finalize.h), and args[0] resolved. The cwd was made by the rootfs plan
 * (NK_ROP_CWD), as root and before the root turned read-only (or by
 * enter_root_child without a mount namespace); it is entered after the
 * user switch. */
static int setup_process_child(struct nk_child_ctx *c, nk_error **err)
{
        const struct nk_process *p = &c->spec->process;
        if (nk_process_apply_oom_score_adj(p, err) < 0 ||
            nk_finalize_process(p, c->spec, c->opts->no_new_keyring ? NULL : c->opts->id, true,
                                &c->env, err) < 0)
                return -1;
        c->exec_path = nk_process_find_exec(p, err);
        return c->exec_path ? 0 : -1;
}

/* Everything >= 3 + preserve_fds closes at execve; preserved fds stay. */
static int fds_child(struct nk_child_ctx *c, nk_error **err)
{
        return nk_process_fds_for_exec(c->opts->preserve_fds, err);
}

static int enter_cwd_child(struct nk_child_ctx *c, nk_error **err)
{
        if (chdir(c->spec->process.cwd) < 0)
                return nk_error_set(err, errno, "process.cwd: chdir to `%s`", c->spec->process.cwd);
        return 0;
}

static int report_created_child(struct nk_child_ctx *c, nk_error **err)
{
        /* sync 4: set up; the parent records the state and returns. From
         * here on we outlive `nook create`: no death signal any more. */
        (void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
        if (nk_sync_send(c->sync_fd, NK_SYNC_CREATED, err) < 0)
                return -1;
        close(c->sync_fd);
        c->sync_fd = -1;
        return 0;
}

/* The state for startContainer hooks: `start` was called, so the
 * container is created (the state of sync 3 says creating). */
static char *state_created(const char *state_json, nk_error **err)
{
        json_t *o = state_json ? json_loads(state_json, 0, NULL) : NULL;
        char *text = NULL;
        if (json_is_object(o) && json_object_set_new(o, "status", json_string("created")) == 0)
                text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!text)
                nk_error_set(err, EPROTO, "startContainer hooks: bad container state");
        return text;
}

/* Until `start` connects, watch the life socket too: a byte and the parent
 * recorded us; EOF first and it died before it could, so go (nothing would
 * know of this container). nook-init does the same after a hand-over. */
static int wait_recorded_child(struct nk_child_ctx *c, nk_error **err)
{
        struct pollfd pf[2] = {{.fd = c->start_fd, .events = POLLIN},
                               {.fd = c->life_fd, .events = POLLIN}};
        while (pf[1].fd >= 0) {
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return nk_error_set(err, errno, "wait for start");
                }
                if (pf[0].revents)
                        break; /* `start` read the record */
                if (!pf[1].revents)
                        continue;
                char b[16];
                ssize_t r = read(c->life_fd, b, sizeof b);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        _exit(1); /* the creator died before recording us */
                pf[1].fd = -1;
        }
        close(c->life_fd);
        c->life_fd = -1;
        return 0;
}

/* Block until `nook start` connects to ROOT/<id>/exec.sock. The accepted
 * connection is close-on-exec: `start` reads EOF once execve succeeded, or
 * a sync error record if anything after this point fails. */
static int wait_start_child(struct nk_child_ctx *c, nk_error **err)
{
        if (wait_recorded_child(c, err) < 0)
                return -1;
        int conn;
        do
                conn = accept4(c->start_fd, NULL, NULL, SOCK_CLOEXEC);
        while (conn < 0 && errno == EINTR);
        if (conn < 0)
                return nk_error_set(err, errno, "wait for start");
        c->start_conn = conn;
        close(c->start_fd);
        c->start_fd = -1;
        if (c->spec->n_hooks[NK_HOOK_START_CONTAINER] == 0)
                return 0;
        _cleanup_free_ char *state = state_created(c->state_json, err);
        if (!state)
                return -1;
        return nk_hooks_run(c->spec, NK_HOOK_START_CONTAINER, state, err);
}

/* Instead of sync 4 and waiting for `start` ourselves: load the filter
 * now (the parent checked it lets nook-init's few syscalls through) and
 * exec nook-init, which waits on the listening socket and execs the
 * process. The parent takes the EOF of our close-on-exec sync end for
 * CREATED; from here on /proc/1/exe is the sealed nook-init. */
static int hand_over_child(struct nk_child_ctx *c, nk_error **err)
{
        const struct nk_process *p = &c->spec->process;
        size_t n = 0;
        while (p->args[n])
                n++;
        _cleanup_free_ char **argv = calloc(n + 5, sizeof *argv);
        char fd[16], life[16];
        snprintf(fd, sizeof fd, "%d", c->start_fd);
        snprintf(life, sizeof life, "%d", c->life_fd);
        /* Both pass the exec: nook-init waits on them (the life socket as
         * wait_recorded_child does) and closes them before the next. */
        if (!argv || fcntl(c->start_fd, F_SETFD, 0) < 0 ||
            (c->life_fd >= 0 && fcntl(c->life_fd, F_SETFD, 0) < 0))
                return nk_error_set(err, errno ? errno : ENOMEM, "hand over to nook-init");
        argv[0] = "nook-init";
        argv[1] = fd;
        argv[2] = life;
        argv[3] = c->exec_path;
        memcpy(argv + 4, p->args, n * sizeof *argv);
        (void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0); /* we outlive `nook create` */
        /* Last before the exec: after this only filtered syscalls. */
        if (!c->seccomp_loaded && nk_security_child_final(p, c->seccomp, c->state_json, err) < 0)
                return -1;
        syscall(SYS_execveat, c->init_fd, "", argv, c->env, AT_EMPTY_PATH);
        return nk_error_set(err, errno, "exec nook-init");
}

__attribute__((noreturn)) static void fail_child(struct nk_child_ctx *c, nk_error *e)
{
        if (c->sync_fd >= 0) {
                nk_sync_send_error(c->sync_fd, e);
        } else if (c->start_conn >= 0) {
                nk_sync_send_error(c->start_conn, e);
        } else {
                _cleanup_free_ char *t = nk_error_text(e);
                nk_log(NK_LOG_ERROR, "%s", t);
        }
        _exit(1);
}

void nk_child_main(struct nk_child_ctx *c)
{
        nk_error *e = NULL;
        /* Not dumpable until execve: container processes can't open our
         * /proc/PID/exe (the runtime binary) or ptrace us meanwhile. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        c->late_pid = c->ns.fd[NK_NS_PID] >= 0;
        nk_debug("init: running");
        if (check_creator_child(c, &e) < 0 ||
            nk_cgroup_self_enter(c->cg_fds, c->n_cg_fds, &e) < 0 ||
            wait_go_child(c, &e) < 0 || /* sync 1 */
            early_proc_child(c, &e) < 0 || nk_ns_join_child(c->spec, &c->ns, &e) < 0 ||
            setup_rootfs_child(c, &e) < 0 ||                                   /* sync 2, 3 */
            before_pid_ns_child(c, &e) < 0 || enter_pid_ns_child(c, &e) < 0 || /* sync PID, GO */
            setup_console_child(c, &e) < 0 ||
            (!c->late_pid && (setup_process_child(c, &e) < 0 || fds_child(c, &e) < 0 ||
                              nk_security_child_before_start(&c->spec->process, c->seccomp,
                                                             c->state_json, &e) < 0)) ||
            enter_cwd_child(c, &e) < 0 || (c->mode != NK_INIT_EXEC && hand_over_child(c, &e) < 0) ||
            report_created_child(c, &e) < 0 || /* sync 4 */
            wait_start_child(c, &e) < 0 ||
            (!c->seccomp_loaded &&
             nk_security_child_final(&c->spec->process, c->seccomp, c->state_json, &e) < 0))
                fail_child(c, e);
        execve(c->exec_path, c->spec->process.args, c->env);
        nk_error_set(&e, errno, "exec `%s`", c->exec_path);
        fail_child(c, e);
}
