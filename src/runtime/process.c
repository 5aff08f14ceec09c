#include "process.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/syscalls.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ioprio.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_SETPERM              5
#define KEYCTL_DESCRIBE             6

int nk_process_apply_rlimits(const struct nk_process *p, nk_error **err)
{
        for (size_t i = 0; i < p->n_rlimits; i++) {
                const struct nk_rlimit *r = &p->rlimits[i];
                struct rlimit rl = {.rlim_cur = r->soft, .rlim_max = r->hard};
                if (setrlimit(r->resource, &rl) == 0)
                        continue;
                int e = errno;
                struct rlimit cur = {0};
                getrlimit(r->resource, &cur);
                if (e == EPERM && r->hard > cur.rlim_max)
                        return nk_error_set(err, e,
                                            "process.rlimits: %s hard limit %llu is above the "
                                            "current %llu and raising it needs CAP_SYS_RESOURCE",
                                            r->name, (unsigned long long)r->hard,
                                            (unsigned long long)cur.rlim_max);
                return nk_error_set(err, e, "process.rlimits: set %s to %llu:%llu", r->name,
                                    (unsigned long long)r->soft, (unsigned long long)r->hard);
        }
        return 0;
}

int nk_process_apply_oom_score_adj(const struct nk_process *p, nk_error **err)
{
        if (!p->has_oom_score_adj)
                return 0;
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", p->oom_score_adj);
        _cleanup_error_ nk_error *e = NULL;
        /* Through a verified procfs and never created: a container that
         * mounted something over /proc/1 (or /proc/self) gets an error, not
         * a file written wherever that mount leads. */
        if (nk_proc_write("self/oom_score_adj", buf, (size_t)n, &e) < 0) {
                if (e->errno_ == EACCES || e->errno_ == EPERM)
                        return nk_error_set(err, e->errno_,
                                            "process.oomScoreAdj: lowering oom_score_adj to %d "
                                            "needs CAP_SYS_RESOURCE",
                                            p->oom_score_adj);
                return nk_error_set(err, e->errno_, "process.oomScoreAdj: %s", e->msg);
        }
        return 0;
}

struct sched_attr_k {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
};

bool nk_process_sched_inherited(const struct nk_process *p)
{
        /* SCHED_DEADLINE (6) refuses fork; SCHED_FLAG_RESET_ON_FORK (1)
         * drops the policy in the child. */
        return !p->has_scheduler || (p->sched_policy != 6 && !(p->sched_flags & 1));
}

int nk_process_apply_scheduler(const struct nk_process *p, nk_error **err)
{
        if (!p->has_scheduler)
                return 0;
        struct sched_attr_k a = {
                .size = sizeof(a),
                .sched_policy = (uint32_t)p->sched_policy,
                .sched_flags = p->sched_flags,
                .sched_nice = p->sched_nice,
                .sched_priority = (uint32_t)p->sched_priority,
                .sched_runtime = p->sched_runtime,
                .sched_deadline = p->sched_deadline,
                .sched_period = p->sched_period,
        };
        if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
                return nk_error_set(err, errno, "process.scheduler: sched_setattr policy %d",
                                    p->sched_policy);
        return 0;
}

static int apply_ioprio(const struct nk_process *p, nk_error **err)
{
        if (!p->has_io_priority)
                return 0;
        int v = IOPRIO_PRIO_VALUE(p->io_priority_class, p->io_priority);
        if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) < 0)
                return nk_error_set(err, errno, "process.ioPriority: ioprio_set");
        return 0;
}

static int apply_affinity(const char *list, nk_error **err)
{
        if (!list || !*list)
                return 0;
        cpu_set_t set;
        if (nk_parse_cpu_list(list, &set) < 0)
                return nk_error_set(err, 0, "process.execCPUAffinity: bad CPU list `%s`", list);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
                return nk_error_set(err, errno, "process.execCPUAffinity: set `%s`", list);
        return 0;
}

int nk_process_apply_attrs(const struct nk_process *p, const struct nk_spec *spec, bool sched,
                           nk_error **err)
{
        if (apply_ioprio(p, err) < 0 || (sched && nk_process_apply_scheduler(p, err) < 0) ||
            apply_affinity(p->exec_cpu_affinity_final ? p->exec_cpu_affinity_final
                                                      : p->exec_cpu_affinity_initial,
                           err) < 0)
                return -1;
        if (spec && spec->has_personality && personality(spec->personality) < 0)
                return nk_error_set(err, errno, "linux.personality: set %#lx", spec->personality);
        if (p->user.has_umask)
                umask(p->user.umask);
        return 0;
}

int nk_process_join_keyring(const char *id, nk_error **err)
{
        char name[1100];
        snprintf(name, sizeof name, "_ses.%s", id);
        long key = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
        if (key < 0)
                return errno == ENOSYS
                               ? 0
                               : nk_error_set(err, errno, "join session keyring `%s`", name);
        /* Like runc, let the keyring's owner search it too (KEY_USR_SEARCH):
         * the description is "type;uid;gid;perm;name", perm in hex. */
        char desc[1200];
        unsigned long perm;
        if (syscall(SYS_keyctl, KEYCTL_DESCRIBE, key, desc, sizeof desc) > 0 &&
            sscanf(desc, "%*[^;];%*[^;];%*[^;];%lx;", &perm) == 1 &&
            syscall(SYS_keyctl, KEYCTL_SETPERM, key, perm | 0x00080000UL) < 0)
                return nk_error_set(err, errno, "set permissions of session keyring `%s`", name);
        return 0;
}

static bool is_executable(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* runc's wording in lower case: dockerd turns an error naming the command
 * with "no such file or directory" into exit code 127 and one with
 * "permission denied" into 126, and matches case-sensitively. */
static void exec_error(const char *name, int e, nk_error **err)
{
        char reason[128];
        snprintf(reason, sizeof reason, "%s", strerror(e));
        reason[0] = (char)tolower((unsigned char)reason[0]);
        nk_error_set(err, 0, "exec: `%s`: %s", name, reason);
}

char *nk_process_find_exec(const struct nk_process *p, nk_error **err)
{
        const char *name = p->args[0];
        if (strchr(name, '/')) {
                errno = 0;
                if (!is_executable(name)) {
                        exec_error(name, errno ? errno : EACCES, err);
                        return NULL;
                }
                return strdup(name);
        }
        const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (char **e = p->env; e && *e; e++)
                if (strncmp(*e, "PATH=", 5) == 0)
                        path = *e + 5;
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *full = NULL;
                if (asprintf(&full, "%s/%s", *dir ? dir : ".", name) < 0)
                        break;
                if (is_executable(full))
                        return full;
                free(full);
        }
        nk_error_set(err, ENOENT, "exec: `%s`: executable file not found in $PATH", name);
        return NULL;
}

int nk_process_reserve_fds(int n, nk_error **err)
{
        for (int fd = 3; fd < 3 + n; fd++) {
                if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                        continue;
                int nul = open("/dev/null", O_RDWR); /* the lowest free number: fd */
                if (nul < 0)
                        return nk_error_set(err, errno, "open /dev/null");
                if (nul != fd) {
                        int r = dup2(nul, fd);
                        close(nul);
                        if (r < 0)
                                return nk_error_set(err, errno, "reserve fd %d", fd);
                }
        }
        return 0;
}

int nk_process_fds_for_exec(int preserve, nk_error **err)
{
        unsigned first = 3 + (unsigned)preserve;
        for (unsigned fd = 3; fd < first; fd++) {
                int fl = fcntl((int)fd, F_GETFD);
                if (fl >= 0)
                        (void)fcntl((int)fd, F_SETFD, fl & ~FD_CLOEXEC);
        }
        if (nk_close_range(first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                return nk_error_set(err, errno, "mark fds close-on-exec");
        return 0;
}

/* ---- HOME (runc's rule) ---- */

char *nk_passwd_home(char *text, uid_t uid)
{
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[7];
                size_t n = 0;
                for (char *p = line; n < 7; n++) {
                        f[n] = p;
                        p = strchr(p, ':');
                        if (!p) {
                                n++;
                                break;
                        }
                        *p++ = '\0';
                }
                unsigned long long v;
                if (n < 6 || nk_parse_uint(f[2], ULLONG_MAX, &v) < 0 ||
                    v != (unsigned long long)uid)
                        continue;
                return strdup(*f[5] ? f[5] : "/");
        }
        return NULL;
}

/* Filesystems of kernel state: their files are read with whatever
 * capabilities the reader holds (/proc/kmsg with CAP_SYSLOG takes the
 * host's kernel log away from its reader, /proc/kcore with CAP_SYS_RAWIO
 * is kernel memory), and none of them holds a passwd file. */
static bool kernel_state_fs(int fd)
{
        static const unsigned long magic[] = {
                PROC_SUPER_MAGIC,    SYSFS_MAGIC,      DEBUGFS_MAGIC,
                TRACEFS_MAGIC,       SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC,
                CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC,     EFIVARFS_MAGIC};
        struct statfs fs;
        if (fstatfs(fd, &fs) < 0)
                return true;
        for (size_t i = 0; i < sizeof magic / sizeof magic[0]; i++)
                if ((unsigned long)fs.f_type == magic[i])
                        return true;
        return false;
}

/* /etc/passwd of the current root, opened without leaving it: symlinks
 * resolve inside (RESOLVE_IN_ROOT), no /proc magic links, and only a
 * regular file is read (a FIFO there must not block us: O_NONBLOCK), not
 * an empty one and none on a filesystem of kernel state: the container
 * chooses this file, and we read it before the user switch, with nook's
 * capabilities. At most 4 MiB are read; NULL when there is none to read. */
#define PASSWD_MAX (4u << 20)
static char *read_passwd(void)
{
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int fd = root < 0 ? -1 : nk_openat2(root, "etc/passwd", &how, sizeof how);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
            kernel_state_fs(fd))
                return NULL;
        size_t cap = (size_t)st.st_size < PASSWD_MAX ? (size_t)st.st_size : PASSWD_MAX;
        char *buf = malloc(cap + 1);
        size_t len = 0;
        while (buf && len < cap) {
                ssize_t r = read(fd, buf + len, cap - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                len += (size_t)r;
        }
        if (buf)
                buf[len] = '\0';
        return buf;
}

int nk_process_home_env(const struct nk_process *p, char ***env, nk_error **err)
{
        size_t n = 0;
        for (char **e = p->env; e && *e; e++, n++)
                if (strncmp(*e, "HOME=", 5) == 0 && (*e)[5]) {
                        *env = p->env;
                        return 0;
                }
        _cleanup_free_ char *text = read_passwd();
        _cleanup_free_ char *home = text ? nk_passwd_home(text, p->user.uid) : NULL;
        char **out = calloc(n + 2, sizeof *out);
        size_t k = 0;
        if (!out || asprintf(&out[k++], "HOME=%s", home ? home : "/") < 0) {
                free(out);
                return nk_error_set(err, ENOMEM, "process.env: set HOME");
        }
        /* An empty HOME= counts as unset (as runc's os.Getenv does). */
        for (char **e = p->env; e && *e; e++)
                if (strncmp(*e, "HOME=", 5) != 0)
                        out[k++] = *e;
        *env = out;
        return 0;
}

/* ---- stdio ownership ---- */

/* runc makes stdio the process user's, so that a non-root process can
 * reopen it (/dev/stdout, /proc/self/fd/1: opening a pipe or pty through
 * /proc checks the inode's owner and mode). Only channels the runtime
 * hands over are changed: the pty slave nook made (`own_pty`) and
 * anonymous pipes, which have no name on any filesystem and whose owner
 * only governs such reopening. A terminal, device, named FIFO or file of
 * the caller keeps its owner. The group stays (devpts gives the slave
 * gid tty). */
int nk_process_chown_stdio(const struct nk_process *p, bool own_pty, nk_error **err)
{
        uid_t uid = p->user.uid;
        for (int fd = 0; fd < 3; fd++) {
                struct stat st;
                struct statfs fs;
                if (fstat(fd, &st) < 0 || st.st_uid == uid)
                        continue;
                bool ours = (own_pty && S_ISCHR(st.st_mode)) ||
                            (S_ISFIFO(st.st_mode) && fstatfs(fd, &fs) == 0 &&
                             fs.f_type == PIPEFS_MAGIC);
                if (!ours || fchown(fd, uid, (gid_t)-1) == 0)
                        continue;
                /* An owner or uid not mapped in our user namespace, a
                 * read-only /dev: leave it as it is, as runc does. */
                if (errno != EINVAL && errno != EPERM && errno != EROFS)
                        return nk_error_set(err, errno, "chown stdio fd %d to uid %u", fd, uid);
        }
        return 0;
}
