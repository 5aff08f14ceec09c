/* cgroup v1 real-time budget (CONFIG_RT_GROUP_SCHED). The kernel lets a
 * cgroup's cpu.rt_runtime_us/cpu.rt_period_us share exceed neither its
 * parent's share nor, summed with its siblings', what the parent has
 * (sched/rt.c, tg_rt_schedulable()). A cgroup made with mkdir starts with
 * rt_runtime_us 0, so a container under parents nook made (/nook/<id>, or
 * the missing levels of a cgroupsPath) could never get a budget: raise
 * each parent nook made, from the top down, to what the level below
 * needs. A parent nook did not make is never changed: when its budget is
 * too small that is an error naming it. */
#include "../../util/cleanup.h"
#include "../../util/fs.h"
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/xattr.h>

#define BW_SHIFT 20 /* the kernel's fixed-point unit for runtime/period shares */
#define BW_UNIT  (1ULL << BW_SHIFT)

/* The kernel's to_ratio(): an unlimited runtime (-1) is the whole CPU. */
static unsigned long long share(long long period, long long runtime)
{
        if (runtime < 0)
                return BW_UNIT;
        if (period <= 0)
                return 0;
        return ((unsigned long long)runtime << BW_SHIFT) / (unsigned long long)period;
}

static int dir_share(const char *dir, unsigned long long *out, long long *period,
                     long long *runtime, nk_error **err)
{
        long long p = 0, r = 0;
        if (nk_cg_read_i64(dir, "cpu.rt_period_us", &p, err) < 0 ||
            nk_cg_read_i64(dir, "cpu.rt_runtime_us", &r, err) < 0)
                return -1;
        *out = share(p, r);
        if (period)
                *period = p;
        if (runtime)
                *runtime = r;
        return 0;
}

/* What the children of `dir` other than `skip` hold. */
static int siblings_share(const char *dir, const char *skip, unsigned long long *sum,
                          nk_error **err)
{
        DIR *d = opendir(dir);
        if (!d)
                return nk_error_set(err, errno, "open cgroup `%s`", dir);
        struct dirent *e;
        *sum = 0;
        int r = 0;
        while (r == 0 && (e = readdir(d))) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.' || streq(e->d_name, skip))
                        continue;
                _cleanup_free_ char *sub = NULL;
                unsigned long long s = 0;
                if (asprintf(&sub, "%s/%s", dir, e->d_name) < 0)
                        r = nk_error_set(err, ENOMEM, "cgroup `%s`", dir);
                else if ((r = dir_share(sub, &s, NULL, NULL, err)) == 0)
                        *sum += s;
        }
        closedir(d);
        return r;
}

/* Give `dir` (a parent nook made) at least `need`, or fail naming it. */
static int raise_parent(const char *mount, const char *dir, unsigned long long need, long long want,
                        nk_error **err)
{
        unsigned long long have = 0;
        long long period = 0, runtime = 0;
        if (dir_share(dir, &have, &period, &runtime, err) < 0)
                return -1;
        if (have >= need)
                return 0;
        long long v = (long long)((need * (unsigned long long)period + BW_UNIT - 1) >> BW_SHIFT);
        bool ours = strlen(dir) > strlen(mount) && getxattr(dir, NK_CG_XATTR_PARENT, NULL, 0) >= 0;
        if (!ours || v > period)
                return nk_error_set(err, 0,
                                    "linux.resources.cpu.realtimeRuntime: %lld needs %lld us of "
                                    "every %lld us in the parent cgroup `%s`, which has "
                                    "cpu.rt_runtime_us %lld%s",
                                    want, v, period, dir, runtime,
                                    ours ? "" : " and was not made by nook: raise it first");
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", v);
        if (nk_cg_write(dir, "cpu.rt_runtime_us", buf, err) < 0)
                return nk_error_wrap(err,
                                     "linux.resources.cpu.realtimeRuntime: %lld: raise the "
                                     "budget of parent cgroup `%s` to %s",
                                     want, dir, buf);
        return 0;
}

int nk_cg_rt_budget(struct nk_cgroup *cg, json_t *res, int *lock_fd, nk_error **err)
{
        json_t *cpu = json_object_get(res, "cpu");
        json_t *rt = json_object_get(cpu, "realtimeRuntime");
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "cpu");
        if (!json_is_integer(rt) || json_integer_value(rt) <= 0 || !h || h->mnt->v2 ||
            !nk_cg_file_exists(h->dir, "cpu.rt_runtime_us") || streq(cg->path, "/"))
                return 0; /* nothing to budget, or the plan reports why not */
        /* Two creates budgeting under the same parent at once would each
         * count the other's container as 0: one at a time per hierarchy,
         * until the caller has written the container's own values. */
        *lock_fd = open(h->mnt->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*lock_fd < 0 || nk_flock_wait(*lock_fd, LOCK_EX) < 0)
                return nk_error_set(err, errno, "lock `%s`", h->mnt->mount);
        long long want = json_integer_value(rt), period = 0;
        json_t *per = json_object_get(cpu, "realtimePeriod");
        if (json_is_integer(per) && json_integer_value(per) > 0)
                period = json_integer_value(per);
        else if (nk_cg_read_i64(h->dir, "cpu.rt_period_us", &period, err) < 0)
                return -1;
        /* anc[0] = the mount, anc[n-1] = the container's parent; name[i]
         * is the component below anc[i] on the way to the container. */
        char *anc[64], *name[64];
        size_t n = 0, ml = strlen(h->mnt->mount);
        int r = 0;
        for (const char *s = h->dir + ml; (s = strchr(s, '/')) && r == 0; s++) {
                if (n == 64)
                        r = nk_error_set(err, 0, "cgroup path `%s`: too deep", cg->path);
                else if (!(anc[n] = strndup(h->dir, (size_t)(s - h->dir))) ||
                         !(name[n] = strndup(s + 1, strcspn(s + 1, "/"))))
                        r = nk_error_set(err, ENOMEM, "cgroup");
                else
                        n++;
        }
        /* need[i]: what anc[i] must hold for the level below to get its own
         * need (or keep what it has, if more) beside its siblings. */
        unsigned long long need[64], below = share(period, want);
        for (size_t i = n; i-- > 0 && r == 0;) {
                unsigned long long sib = 0, cur = 0;
                if ((r = siblings_share(anc[i], name[i], &sib, err)) < 0 ||
                    (i + 1 < n && (r = dir_share(anc[i + 1], &cur, NULL, NULL, err)) < 0))
                        break;
                need[i] = sib + (cur > below ? cur : below);
                below = need[i];
        }
        for (size_t i = 0; i < n && r == 0; i++)
                r = raise_parent(h->mnt->mount, anc[i], need[i], want, err);
        for (size_t i = 0; i < n; i++) {
                free(anc[i]);
                free(name[i]);
        }
        return r;
}
