#include "process.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_SETPERM 5
#define KEYCTL_DESCRIBE 6

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

static int apply_oom_score_adj(const struct nk_process *p, nk_error **err)
{
        if (!p->has_oom_score_adj)
                return 0;
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", p->oom_score_adj);
        _cleanup_error_ nk_error *e = NULL;
        if (nk_write_file("/proc/self/oom_score_adj", buf, (size_t)n, 0, &e) < 0) {
                if (e->errno_ == EACCES || e->errno_ == EPERM)
                        return nk_error_set(err, e->errno_,
                                            "process.oomScoreAdj: lowering oom_score_adj to %d "
                                            "needs CAP_SYS_RESOURCE", p->oom_score_adj);
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

static int apply_scheduler(const struct nk_process *p, nk_error **err)
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
        CPU_ZERO(&set);
        _cleanup_free_ char *copy = strdup(list);
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                unsigned a, b;
                if (sscanf(tok, "%u-%u", &a, &b) == 2) {
                        for (unsigned c = a; c <= b && c < CPU_SETSIZE; c++)
                                CPU_SET(c, &set);
                } else if (sscanf(tok, "%u", &a) == 1 && a < CPU_SETSIZE) {
                        CPU_SET(a, &set);
                } else {
                        return nk_error_set(err, EINVAL, "process.execCPUAffinity: bad CPU list `%s`", list);
                }
        }
        if (sched_setaffinity(0, sizeof set, &set) < 0)
                return nk_error_set(err, errno, "process.execCPUAffinity: set `%s`", list);
        return 0;
}

int nk_process_apply_attrs(const struct nk_process *p, const struct nk_spec *spec,
                           nk_error **err)
{
        if (apply_oom_score_adj(p, err) < 0 || apply_ioprio(p, err) < 0 ||
            apply_scheduler(p, err) < 0 || apply_affinity(p->exec_cpu_affinity_final ? p->exec_cpu_affinity_final : p->exec_cpu_affinity_initial, err) < 0)
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
                return errno == ENOSYS ? 0 : nk_error_set(err, errno, "join session keyring `%s`", name);
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
