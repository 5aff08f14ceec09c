/* Small helpers over cgroupfs files. */
#include "../../util/cleanup.h"
#include "../../util/fs.h"
#include "../../util/parse.h"
#include "../../util/strv.h"
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int nk_cg_write(const char *dir, const char *file, const char *value, nk_error **err)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return nk_error_set(err, ENOMEM, "write %s", file);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", p);
        /* cgroupfs takes one value per write(2); a short write is an error. */
        size_t len = strlen(value);
        ssize_t w = write(fd, value, len);
        if (w < 0)
                return nk_error_set(err, errno, "write \"%s\" to `%s`", value, p);
        if ((size_t)w != len)
                return nk_error_set(err, EIO, "write \"%s\" to `%s`: short write", value, p);
        return 0;
}

int nk_cg_read(const char *dir, const char *file, char **out, nk_error **err)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return nk_error_set(err, ENOMEM, "read %s", file);
        return nk_read_file(p, out, NULL, err);
}

int nk_cg_read_i64(const char *dir, const char *file, long long *out, nk_error **err)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, file, &s, err) < 0)
                return -1;
        if (strncmp(s, "max", 3) == 0) {
                *out = -1;
                return 0;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s)
                return nk_error_set(err, 0, "read `%s/%s`: not a number: %.40s", dir, file, s);
        *out = v;
        return 0;
}

long long nk_cg_kv_get(const char *text, const char *key)
{
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
                        const char *v = l + kl + 1;
                        unsigned long long n;
                        return nk_parse_uint_n(v, strcspn(v, " \n"), INT64_MAX, &n) == 0
                                       ? (long long)n
                                       : -1;
                }
        return -1;
}

bool nk_cg_file_exists(const char *dir, const char *file)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return false;
        return access(p, F_OK) == 0;
}

static int push_pid(pid_t **pids, size_t *n, pid_t pid)
{
        for (size_t i = 0; i < *n; i++)
                if ((*pids)[i] == pid)
                        return 0;
        pid_t *np = realloc(*pids, (*n + 1) * sizeof(pid_t));
        if (!np)
                return -1;
        np[(*n)++] = pid;
        *pids = np;
        return 0;
}

int nk_cg_collect_pids(const char *dir, pid_t **pids, size_t *n, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        if (nk_cg_read(dir, "cgroup.procs", &text, err) < 0)
                return -1;
        for (const char *l = text; *l;) {
                size_t len = strspn(l, "0123456789");
                unsigned long long v;
                if (nk_parse_uint_n(l, len, INT32_MAX, &v) < 0)
                        break; /* not a pid: the kernel writes nothing else */
                if (v > 0 && push_pid(pids, n, (pid_t)v) < 0)
                        return nk_error_set(err, ENOMEM, "list pids of `%s`", dir);
                l += len;
                while (*l == '\n' || *l == ' ')
                        l++;
        }
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "open `%s`", dir);
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/%s", dir, e->d_name) < 0)
                        return nk_error_set(err, ENOMEM, "list pids of `%s`", dir);
                if (nk_cg_collect_pids(sub, pids, n, err) < 0)
                        return -1;
        }
        return 0;
}

int nk_cg_wait(const char *dir, int (*done)(const char *dir, const void *arg), const void *arg,
               int timeout_ms)
{
        long waited_us = 0, step_us = 1000;
        for (;;) {
                if (done(dir, arg) > 0)
                        return 0;
                if (waited_us >= (long)timeout_ms * 1000)
                        return -1;
                struct timespec ts = {0, step_us * 1000};
                nanosleep(&ts, NULL);
                waited_us += step_us;
                if (step_us < 50000)
                        step_us *= 2;
        }
}

/* The hierarchy of a container cgroup that holds `controller`, or the
 * cgroup2 one; NULL when the host has none. */
struct nk_cg_hier *nk_cg_hier_for(struct nk_cgroup *cg, const char *controller)
{
        for (size_t i = 0; i < cg->n; i++)
                if (nk_strv_contains(cg->h[i].mnt->controllers, controller))
                        return &cg->h[i];
        return NULL;
}

struct nk_cg_hier *nk_cg_hier_v2(struct nk_cgroup *cg)
{
        for (size_t i = 0; i < cg->n; i++)
                if (cg->h[i].mnt->v2)
                        return &cg->h[i];
        return NULL;
}
