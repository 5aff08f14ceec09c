#include "namespaces.h"
#include "process.h"
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
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int nk_ns_is_ours(enum nk_ns_type t, int fd)
{
        char self[64];
        snprintf(self, sizeof self, "/proc/self/ns/%s", nk_ns_proc_name(t));
        struct stat a, b;
        if (fstat(fd, &a) < 0 || stat(self, &b) < 0)
                return -1;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* What the spec would write in a joined namespace that turns out to be
 * nook's own (the host's): sysctls of its type, the hostname and
 * domainname. runc refuses the same for the network namespace. */
static int check_joined_own(const struct nk_spec *spec, int t, int fd, nk_error **err)
{
        const char *what = NULL;
        for (size_t i = 0; i < spec->n_sysctl && !what; i++)
                if (nk_spec_sysctl_ns(spec->sysctl[i].key) == t)
                        what = spec->sysctl[i].key;
        if (!what && t == NK_NS_UTS)
                what = spec->hostname ? "hostname" : spec->domainname ? "domainname" : NULL;
        if (!what)
                return 0;
        int own = nk_ns_is_ours(t, fd);
        if (own < 0)
                return nk_error_set(err, errno, "linux.namespaces: %s namespace path `%s`",
                                    nk_ns_oci_name(t), spec->ns[t].path);
        if (!own)
                return 0;
        return nk_error_set(err, 0,
                            "linux.namespaces: %s namespace path `%s` is the host's "
                            "own: `%s` would change the host",
                            nk_ns_oci_name(t), spec->ns[t].path, what);
}

int nk_ns_open_joined(const struct nk_spec *spec, struct nk_ns_fds *out, nk_error **err)
{
        for (int t = 0; t < NK_NS__COUNT; t++)
                out->fd[t] = -1;
        for (int t = 0; t < NK_NS__COUNT; t++) {
                if (!spec->ns[t].present || !spec->ns[t].path)
                        continue;
                out->fd[t] = open(spec->ns[t].path, O_RDONLY | O_CLOEXEC);
                if (out->fd[t] < 0) {
                        int e = errno;
                        nk_ns_close(out);
                        return nk_error_set(err, e, "linux.namespaces: %s namespace path `%s`",
                                            nk_ns_oci_name(t), spec->ns[t].path);
                }
                if ((t == NK_NS_NET || t == NK_NS_IPC || t == NK_NS_UTS) &&
                    check_joined_own(spec, t, out->fd[t], err) < 0) {
                        nk_ns_close(out);
                        return -1;
                }
        }
        return 0;
}

void nk_ns_close(struct nk_ns_fds *f)
{
        for (int t = 0; t < NK_NS__COUNT; t++) {
                if (f->fd[t] >= 0)
                        close(f->fd[t]);
                f->fd[t] = -1;
        }
}

bool nk_ns_new(const struct nk_spec *spec, enum nk_ns_type t)
{
        return spec->ns[t].present && !spec->ns[t].path;
}

uint64_t nk_ns_clone_flags(const struct nk_spec *spec)
{
        uint64_t flags = 0;
        for (int t = 0; t < NK_NS__COUNT; t++)
                if (nk_ns_new(spec, t) && t != NK_NS_CGROUP && t != NK_NS_TIME)
                        flags |= (uint64_t)nk_ns_clone_flag(t);
        return flags;
}

static int write_map(pid_t pid, const char *file, const struct nk_idmap *m, size_t n,
                     nk_error **err)
{
        char path[64], buf[4096];
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
                int w = snprintf(buf + off, sizeof buf - off, "%u %u %u\n", m[i].container_id,
                                 m[i].host_id, m[i].size);
                if (w < 0 || (size_t)w >= sizeof buf - off)
                        return nk_error_set(err, E2BIG, "linux.%s: too many mappings", file);
                off += (size_t)w;
        }
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
        if (nk_write_file_at(AT_FDCWD, path, buf, off, err) < 0)
                return nk_error_wrap(err, "write id mappings");
        return 0;
}

int nk_ns_write_idmaps(pid_t pid, const struct nk_spec *spec, nk_error **err)
{
        if (write_map(pid, "uid_map", spec->uid_mappings, spec->n_uid_mappings, err) < 0)
                return -1;
        return write_map(pid, "gid_map", spec->gid_mappings, spec->n_gid_mappings, err);
}

int nk_ns_userns_fd(const struct nk_idmap *uids, size_t n_uids, const struct nk_idmap *gids,
                    size_t n_gids, nk_error **err)
{
        /* The namespace exists once clone returns; the child only has to
         * stay alive until its maps are written and its ns file opened. */
        int pidfd = -1;
        struct nk_clone_opts co = {.flags = CLONE_NEWUSER,
                                   .cgroup_fd = -1,
                                   .pidfd_out = &pidfd,
                                   .death_signal = SIGKILL};
        pid_t pid = nk_clone(&co, err);
        if (pid < 0)
                return nk_error_wrap(err, "user namespace for an idmapped mount");
        if (pid == 0) {
                for (;;)
                        pause();
        }
        int fd = -1;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        if (write_map(pid, "uid_map", uids, n_uids, err) == 0 &&
            write_map(pid, "gid_map", gids, n_gids, err) == 0 &&
            (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                nk_error_set(err, errno, "open `%s`", path);
        kill(pid, SIGKILL);
        if (pidfd >= 0)
                close(pidfd);
        (void)nk_wait_exit_code(pid);
        return fd;
}

static int setup_timens_child(const struct nk_spec *spec, nk_error **err)
{
        if (unshare(CLONE_NEWTIME) < 0)
                return nk_error_set(err, errno, "unshare time namespace");
        if (spec->has_time_offsets) {
                char buf[256];
                int n = snprintf(buf, sizeof buf, "monotonic %lld %u\nboottime %lld %u\n",
                                 (long long)spec->monotonic_secs, spec->monotonic_nsecs,
                                 (long long)spec->boottime_secs, spec->boottime_nsecs);
                /* A non-dumpable task's /proc files belong to the host's
                 * root, which a new user namespace does not map: the open
                 * would fail with EACCES. Nothing of the container runs
                 * yet, so be dumpable just for this write. */
                (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
                int r = nk_proc_write("self/timens_offsets", buf, (size_t)n, err);
                (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
                if (r < 0)
                        return nk_error_wrap(err, "linux.timeOffsets");
        }
        /* unshare(CLONE_NEWTIME) only moves our future children; enter the
         * namespace ourselves so the container init (us) sees it. */
        _cleanup_close_ int fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWTIME) < 0)
                return nk_error_set(err, errno, "enter the new time namespace");
        return 0;
}

/* A new network namespace has only `lo`, and down: 127.0.0.1 would be
 * unreachable. Bring it up (as crun does) with SIOCSIFFLAGS on any socket
 * of the namespace; a joined namespace is someone else's and stays as it
 * is. dev_change_flags() keeps the flags a caller may not change
 * (IFF_LOOPBACK, IFF_RUNNING), so reading them first is not needed. */
static int loopback_up_child(const struct nk_spec *spec, nk_error **err)
{
        if (!nk_ns_new(spec, NK_NS_NET))
                return 0;
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return nk_error_set(err, errno, "network namespace: socket to bring up `lo`");
        struct ifreq ifr = {.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING};
        memcpy(ifr.ifr_name, "lo", 3);
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return nk_error_set(err, errno, "network namespace: bring up `lo`");
        return 0;
}

/* The user namespace first: it grants the capabilities the other setns
 * calls are checked against; the mount namespace last: its root and cwd
 * become ours. The pid namespace is not here: setns(CLONE_NEWPID) moves
 * only the children made afterwards (nk_ns_enter_pid_last). */
static const enum nk_ns_type join_order[] = {NK_NS_USER,   NK_NS_IPC,  NK_NS_UTS,  NK_NS_NET,
                                             NK_NS_CGROUP, NK_NS_TIME, NK_NS_MOUNT};

int nk_ns_join(const struct nk_ns_fds *f, const struct nk_spec *spec, nk_error **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(join_order); i++) {
                enum nk_ns_type t = join_order[i];
                if (f->fd[t] < 0 || setns(f->fd[t], nk_ns_clone_flag(t)) == 0)
                        continue;
                if (spec && spec->ns[t].path)
                        return nk_error_set(err, errno, "join %s namespace `%s`", nk_ns_oci_name(t),
                                            spec->ns[t].path);
                return nk_error_set(err, errno, "join the container's %s namespace",
                                    nk_ns_oci_name(t));
        }
        return 0;
}

int nk_ns_join_child(const struct nk_spec *spec, struct nk_ns_fds *f, nk_error **err)
{
        /* `lo` before the joins: the network namespace made at clone
         * belongs to the user namespace we are in now, not to a joined
         * one. */
        if (loopback_up_child(spec, err) < 0 || nk_ns_join(f, spec, err) < 0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(join_order); i++) {
                int *fd = &f->fd[join_order[i]];
                if (*fd >= 0)
                        close(*fd);
                *fd = -1;
        }
        if (nk_ns_new(spec, NK_NS_CGROUP) && unshare(CLONE_NEWCGROUP) < 0)
                return nk_error_set(err, errno, "unshare cgroup namespace");
        if (nk_ns_new(spec, NK_NS_TIME) && setup_timens_child(spec, err) < 0)
                return -1;
        return 0;
}

int nk_ns_host_proc_steps(const struct nk_process *p, nk_error **err)
{
        if (nk_process_apply_oom_score_adj(p, err) < 0 ||
            nk_lsm_apply_exec_labels_child(p, err) < 0)
                return -1;
        return 0;
}

int nk_ns_enter_pid_last(int pid_fd, unsigned first_fd, const int *keep, size_t n_keep, int sync_fd,
                         int death_signal, bool wait_go, nk_error **err)
{
        /* setns(CLONE_NEWPID) moves only the children we make from now on. */
        if (pid_fd >= 0 && setns(pid_fd, CLONE_NEWPID) < 0)
                return nk_error_set(err, errno, "join the container's pid namespace");
        /* /proc/PID/fd of the new process is open to a container process
         * with CAP_SYS_PTRACE (non-dumpable does not stop it): a directory
         * fd of the host (cgroupfs, state dir, a namespace) would be a way
         * out. The log fd goes too. */
        if (nk_close_fds_except(first_fd, keep, n_keep) < 0)
                return nk_error_set(err, errno, "close fds before entering the pid namespace");
        /* /proc/PID/environ of the new process, too: the environment of
         * whoever ran nook (a CI token, a registry password), not the
         * container's. runc's init is exec'd with an empty one. A joiner
         * made by nk_clone_vm shares nook's memory, so nook's own environ
         * is gone too when it wakes: nothing after the spawn reads it. */
        nk_environ_scrub();
        /* Without GO to wait for, we sleep until the new process has
         * exec'd or exited (CLONE_VFORK, without CLONE_VM: it has its own
         * memory): its error record, if any, is on sync_fd before our
         * report, which the parent then takes as "exec'd". No EOF to wait
         * for: a container process with CAP_SYS_PTRACE can take the
         * process's end of sync_fd (pidfd_getfd) and hold it open. */
        struct nk_clone_opts co = {.flags = CLONE_PARENT | (wait_go ? 0 : CLONE_VFORK),
                                   .cgroup_fd = -1,
                                   .death_signal = death_signal};
        pid_t pid = nk_clone(&co, err);
        if (pid < 0)
                return nk_error_wrap(err, "clone into the container's pid namespace");
        if (pid == 0) { /* the process that goes on, in the container's pid namespace */
                /* The log fd is closed (not in our caller's memory: it may
                 * share our parent's, nk_clone_vm). */
                nk_log_detach();
                return wait_go ? nk_sync_expect(sync_fd, NK_SYNC_GO, err) : 0;
        }
        /* We, the one that set it up, only report it and go (without
         * wait_go: once it exec'd or exited). */
        char text[32];
        snprintf(text, sizeof text, "%d", (int)pid);
        nk_error *e = NULL;
        if (nk_sync_send_text(sync_fd, NK_SYNC_PID, text, &e) < 0) {
                nk_sync_send_error(sync_fd, e);
                _exit(1);
        }
        _exit(0);
}

int nk_ns_receive_pid(int sync_fd, pid_t *pid, int *pidfd, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        if (nk_sync_expect_text(sync_fd, NK_SYNC_PID, &text, err) < 0)
                return -1;
        unsigned long long n;
        if (nk_parse_uint(text, INT32_MAX, &n) < 0 || n == 0)
                return nk_error_set(err, EPROTO, "sync PID: bad message `%.40s`", text);
        /* It must be our child (CLONE_PARENT): anything else is forged. As
         * our child, its pid is not reused before we reap it, so the pidfd
         * opened from it is the process's. */
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)n, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
                return nk_error_set(err, errno, "sync PID: pid %llu is not our child", n);
        *pid = (pid_t)n;
        *pidfd = nk_pidfd_open(*pid, 0); /* -1 on kernels without pidfds */
        return 0;
}

/* The middle process: a root of nothing, then the helper in the pid
 * namespace. Exits with the helper's status. */
__attribute__((noreturn)) static void procfs_context_middle(int pid_fd, int sock)
{
        int tmp = -1;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0 ||
            (tmp = nk_fsopen("tmpfs", FSOPEN_CLOEXEC)) < 0 ||
            nk_fsconfig(tmp, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                _exit(1);
        int mnt = nk_fsmount(tmp, FSMOUNT_CLOEXEC,
                             MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                     MOUNT_ATTR_NOEXEC);
        /* Over "/", then made the root: pivot_root(".", ".") stacks the old
         * root on it, and the lazy detach leaves nothing above the tmpfs
         * for a ".." from /proc/PID/root to reach. */
        if (mnt < 0 || nk_move_mount(mnt, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
            fchdir(mnt) < 0 || nk_pivot_root(".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0 || setns(pid_fd, CLONE_NEWPID) < 0)
                _exit(1);
        const int keep[] = {sock};
        if (nk_close_fds_except(3, keep, 1) < 0)
                _exit(1);
        struct nk_clone_opts co = {.cgroup_fd = -1, .death_signal = SIGKILL};
        pid_t pid = nk_clone(&co, NULL);
        if (pid < 0)
                _exit(1);
        if (pid == 0) { /* the helper, in the pid namespace */
                int fc = nk_fsopen("proc", FSOPEN_CLOEXEC);
                _exit(fc >= 0 && nk_send_fd(sock, fc, "procfs context", NULL) == 0 ? 0 : 1);
        }
        _exit(nk_wait_exit_code(pid));
}

int nk_ns_procfs_context(int pid_fd, nk_error **err)
{
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return nk_error_set(err, errno, "socketpair");
        struct nk_clone_opts co = {.cgroup_fd = -1, .death_signal = SIGKILL};
        pid_t pid = nk_clone(&co, err);
        if (pid == 0)
                procfs_context_middle(pid_fd, sp[1]);
        close(sp[1]);
        if (pid < 0) {
                close(sp[0]);
                return -1;
        }
        int fc = nk_recv_fd(sp[0], err); /* fails at EOF: the helper died */
        close(sp[0]);
        int code = nk_wait_exit_code(pid);
        if (fc >= 0 && code != 0) {
                close(fc);
                fc = -1;
        }
        if (fc < 0)
                return nk_error_set(err, EPERM,
                                    "open a procfs context in the joined pid namespace");
        return fc;
}
