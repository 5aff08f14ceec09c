/* Pure checks of OCI linux.resources: JSON types, ranges, and values that
 * cannot work on any host. Host-dependent problems (a controller that is
 * not mounted, a unified key on v1) are found by the plan (plan.c). Errors
 * name the JSON path: "linux.resources.cpu.shares: ...". */
#include "../../util/cleanup.h"
#include "../../util/parse.h"
#include "internal.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define I64_MAX INT64_MAX

/* Huge page sizes: what linux.resources.hugepageLimits[].pageSize may
 * say, and the name the hugetlb files use for it (plan.c). */
int nk_cg_page_size(const char *s, unsigned long long *bytes)
{
        if (!s || *s < '0' || *s > '9')
                return -1;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno) /* ERANGE: more than 64 bits */
                return -1;
        static const struct {
                const char *unit;
                unsigned shift;
        } units[] = {{"KB", 10}, {"K", 10},  {"MB", 20}, {"M", 20}, {"GB", 30},
                     {"G", 30},  {"TB", 40}, {"T", 40},  {"B", 0},  {"", 0}};
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                if (strcasecmp(end, units[i].unit) != 0)
                        continue;
                if (v == 0 || (v << units[i].shift) >> units[i].shift != v)
                        return -1;
                v <<= units[i].shift;
                if (v & (v - 1)) /* page sizes are powers of two */
                        return -1;
                *bytes = v;
                return 0;
        }
        return -1;
}

void nk_cg_page_name(unsigned long long bytes, char *buf, size_t len)
{
        static const char *const unit[] = {"B", "KB", "MB", "GB", "TB"};
        size_t u = 0;
        while (u + 1 < ARRAY_SIZE(unit) && bytes >= 1024 && bytes % 1024 == 0) {
                bytes /= 1024;
                u++;
        }
        snprintf(buf, len, "%llu%s", bytes, unit[u]);
}

struct field {
        const char *key;
        char kind;          /* 'i' integer, 'b' bool, 's' string, 'a' array, 'o' object */
        long long min, max; /* for integers */
};

static int check_fields(json_t *obj, const char *where, const struct field *f, size_t n,
                        nk_error **err)
{
        if (!json_is_object(obj))
                return nk_error_set(err, 0, "%s: must be an object", where);
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_object_get(obj, f[i].key);
                if (!v || json_is_null(v))
                        continue;
                const char *k = f[i].key;
                switch (f[i].kind) {
                case 'i':
                        if (!json_is_integer(v))
                                return nk_error_set(err, 0, "%s.%s: must be an integer", where, k);
                        if (json_integer_value(v) < f[i].min || json_integer_value(v) > f[i].max)
                                return nk_error_set(err, 0, "%s.%s: %lld out of range [%lld, %lld]",
                                                    where, k, (long long)json_integer_value(v),
                                                    f[i].min, f[i].max);
                        break;
                case 'b':
                        if (!json_is_boolean(v))
                                return nk_error_set(err, 0, "%s.%s: must be a boolean", where, k);
                        break;
                case 's':
                        if (!json_is_string(v))
                                return nk_error_set(err, 0, "%s.%s: must be a string", where, k);
                        break;
                case 'a':
                        if (!json_is_array(v))
                                return nk_error_set(err, 0, "%s.%s: must be an array", where, k);
                        break;
                case 'o':
                        if (!json_is_object(v))
                                return nk_error_set(err, 0, "%s.%s: must be an object", where, k);
                        break;
                }
        }
        return 0;
}

static long long geti(json_t *o, const char *k, long long dflt)
{
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* One number of a CPU or node list at *s: digits, overflow checked (the
 * kernel's ids are unsigned ints). Moves *s past it. */
static bool list_number(const char **s, unsigned long long *out)
{
        size_t n = strspn(*s, "0123456789");
        if (nk_parse_uint_n(*s, n, UINT32_MAX, out) < 0)
                return false;
        *s += n;
        return true;
}

/* "0-3,5,7-8": what cpuset.cpus / cpuset.mems accept. */
static bool cpulist_ok(const char *s)
{
        if (*s == '\0')
                return true;
        for (;;) {
                unsigned long long a, b;
                if (!list_number(&s, &a))
                        return false;
                if (*s == '-' && (s++, !list_number(&s, &b) || b < a))
                        return false;
                if (*s == '\0' || *s == '\n')
                        return true;
                if (*s++ != ',')
                        return false;
        }
}

static int check_memory(json_t *m, const char *w, nk_error **err)
{
        static const struct field f[] = {
                {"limit", 'i', -1, I64_MAX},      {"reservation", 'i', -1, I64_MAX},
                {"swap", 'i', -1, I64_MAX},       {"kernel", 'i', -1, I64_MAX},
                {"kernelTCP", 'i', -1, I64_MAX},  {"swappiness", 'i', 0, I64_MAX},
                {"disableOOMKiller", 'b', 0, 0},  {"useHierarchy", 'b', 0, 0},
                {"checkBeforeUpdate", 'b', 0, 0},
        };
        if (check_fields(m, w, f, ARRAY_SIZE(f), err) < 0)
                return -1;
        /* runc treats swappiness above 100 as invalid except the "unset"
         * value -1 cast to uint64 that some clients send. */
        json_t *sw = json_object_get(m, "swappiness");
        if (json_is_integer(sw) && json_integer_value(sw) > 100)
                return nk_error_set(err, 0, "%s.swappiness: %lld out of range [0, 100]", w,
                                    (long long)json_integer_value(sw));
        long long limit = geti(m, "limit", 0), swap = geti(m, "swap", 0);
        if (limit > 0 && swap > 0 && swap < limit)
                return nk_error_set(err, 0,
                                    "%s.swap: %lld is below memory.limit %lld (swap is the "
                                    "memory+swap total)",
                                    w, swap, limit);
        if (swap > 0 && limit == 0)
                return nk_error_set(err, 0, "%s.swap: set without memory.limit", w);
        return 0;
}

static int check_cpu(json_t *c, const char *w, nk_error **err)
{
        static const struct field f[] = {
                {"shares", 'i', 0, 262144},
                {"quota", 'i', -1, I64_MAX},
                {"burst", 'i', 0, I64_MAX},
                {"period", 'i', 0, 1000000},
                {"realtimeRuntime", 'i', -1, I64_MAX},
                {"realtimePeriod", 'i', 0, I64_MAX},
                {"cpus", 's', 0, 0},
                {"mems", 's', 0, 0},
                {"idle", 'i', 0, 1},
        };
        if (check_fields(c, w, f, ARRAY_SIZE(f), err) < 0)
                return -1;
        long long period = geti(c, "period", 0);
        if (period != 0 && period < 1000)
                return nk_error_set(err, 0, "%s.period: %lld below 1000 us", w, period);
        long long quota = geti(c, "quota", 0);
        if (quota > 0 && quota < 1000)
                return nk_error_set(err, 0, "%s.quota: %lld below 1000 us", w, quota);
        static const char *const lists[] = {"cpus", "mems"};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
                json_t *v = json_object_get(c, lists[i]);
                if (json_is_string(v) && !cpulist_ok(json_string_value(v)))
                        return nk_error_set(err, 0, "%s.%s: \"%s\" is not a list like 0-3,5", w,
                                            lists[i], json_string_value(v));
        }
        return 0;
}

static int check_each(json_t *arr, const char *w, const struct field *f, size_t n,
                      const char *const *required, nk_error **err)
{
        size_t i;
        json_t *el;
        json_array_foreach (arr, i, el) {
                char sub[256];
                snprintf(sub, sizeof(sub), "%s[%zu]", w, i);
                if (check_fields(el, sub, f, n, err) < 0)
                        return -1;
                for (const char *const *r = required; r && *r; r++)
                        if (!json_object_get(el, *r))
                                return nk_error_set(err, 0, "%s.%s: required", sub, *r);
        }
        return 0;
}

static int check_blkio(json_t *b, const char *w, nk_error **err)
{
        /* 0 means "unset" for weights in runc; the kernel range is 10..1000. */
        static const struct field f[] = {
                {"weight", 'i', 0, 1000},
                {"leafWeight", 'i', 0, 1000},
                {"weightDevice", 'a', 0, 0},
                {"throttleReadBpsDevice", 'a', 0, 0},
                {"throttleWriteBpsDevice", 'a', 0, 0},
                {"throttleReadIOPSDevice", 'a', 0, 0},
                {"throttleWriteIOPSDevice", 'a', 0, 0},
        };
        static const struct field wd[] = {
                {"major", 'i', 0, UINT32_MAX},
                {"minor", 'i', 0, UINT32_MAX},
                {"weight", 'i', 0, 1000},
                {"leafWeight", 'i', 0, 1000},
        };
        static const struct field td[] = {
                {"major", 'i', 0, UINT32_MAX},
                {"minor", 'i', 0, UINT32_MAX},
                {"rate", 'i', 0, I64_MAX},
        };
        static const char *const dev_req[] = {"major", "minor", NULL};
        static const char *const rate_req[] = {"major", "minor", "rate", NULL};
        static const char *const thr[] = {"throttleReadBpsDevice", "throttleWriteBpsDevice",
                                          "throttleReadIOPSDevice", "throttleWriteIOPSDevice"};
        if (check_fields(b, w, f, ARRAY_SIZE(f), err) < 0)
                return -1;
        long long wt = geti(b, "weight", 0), lw = geti(b, "leafWeight", 0);
        if ((wt && wt < 10) || (lw && lw < 10))
                return nk_error_set(err, 0, "%s.%s: %lld out of range [10, 1000]", w,
                                    wt && wt < 10 ? "weight" : "leafWeight",
                                    wt && wt < 10 ? wt : lw);
        char sub[256];
        snprintf(sub, sizeof(sub), "%s.weightDevice", w);
        if (check_each(json_object_get(b, "weightDevice"), sub, wd, ARRAY_SIZE(wd), dev_req, err) <
            0)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(thr); i++) {
                snprintf(sub, sizeof(sub), "%s.%s", w, thr[i]);
                if (check_each(json_object_get(b, thr[i]), sub, td, ARRAY_SIZE(td), rate_req, err) <
                    0)
                        return -1;
        }
        return 0;
}

static int check_devices(json_t *arr, const char *w, nk_error **err)
{
        static const struct field f[] = {
                {"allow", 'b', 0, 0},        {"type", 's', 0, 0},         {"access", 's', 0, 0},
                {"major", 'i', -1, I64_MAX}, {"minor", 'i', -1, I64_MAX},
        };
        static const char *const req[] = {"allow", NULL};
        if (check_each(arr, w, f, ARRAY_SIZE(f), req, err) < 0)
                return -1;
        size_t i;
        json_t *d;
        json_array_foreach (arr, i, d) {
                const char *t = json_string_value(json_object_get(d, "type"));
                const char *a = json_string_value(json_object_get(d, "access"));
                if (t && !(streq(t, "a") || streq(t, "b") || streq(t, "c")))
                        return nk_error_set(err, 0, "%s[%zu].type: \"%s\" is not a, b or c", w, i,
                                            t);
                if (a && (a[strspn(a, "rwm")] != '\0'))
                        return nk_error_set(err, 0,
                                            "%s[%zu].access: \"%s\" has letters other than rwm", w,
                                            i, a);
        }
        return 0;
}

static int check_hugepages(json_t *arr, const char *w, nk_error **err)
{
        static const struct field f[] = {{"pageSize", 's', 0, 0}, {"limit", 'i', 0, I64_MAX}};
        static const char *const req[] = {"pageSize", "limit", NULL};
        if (check_each(arr, w, f, ARRAY_SIZE(f), req, err) < 0)
                return -1;
        size_t i;
        json_t *h;
        json_array_foreach (arr, i, h) {
                unsigned long long b;
                const char *ps = json_string_value(json_object_get(h, "pageSize"));
                if (nk_cg_page_size(ps, &b) < 0)
                        return nk_error_set(err, 0,
                                            "%s[%zu].pageSize: \"%s\" is not a size like 2MB", w, i,
                                            ps);
        }
        return 0;
}

static int check_network(json_t *n, const char *w, nk_error **err)
{
        static const struct field f[] = {{"classID", 'i', 0, UINT32_MAX},
                                         {"priorities", 'a', 0, 0}};
        static const struct field p[] = {{"name", 's', 0, 0}, {"priority", 'i', 0, UINT32_MAX}};
        static const char *const req[] = {"name", "priority", NULL};
        char sub[256];
        if (check_fields(n, w, f, ARRAY_SIZE(f), err) < 0)
                return -1;
        snprintf(sub, sizeof(sub), "%s.priorities", w);
        return check_each(json_object_get(n, "priorities"), sub, p, ARRAY_SIZE(p), req, err);
}

static int check_rdma(json_t *r, const char *w, nk_error **err)
{
        static const struct field f[] = {{"hcaHandles", 'i', 0, UINT32_MAX},
                                         {"hcaObjects", 'i', 0, UINT32_MAX}};
        const char *dev;
        json_t *v;
        if (!json_is_object(r))
                return nk_error_set(err, 0, "%s: must be an object", w);
        json_object_foreach (r, dev, v) {
                char sub[256];
                snprintf(sub, sizeof(sub), "%s.%s", w, dev);
                if (dev[0] == '\0' || strpbrk(dev, " \n/="))
                        return nk_error_set(err, 0, "%s: bad device name", sub);
                if (check_fields(v, sub, f, ARRAY_SIZE(f), err) < 0)
                        return -1;
        }
        return 0;
}

/* A key names a file in the container's own cgroup: "<controller>.<name>",
 * never a path, never the core files that would move or kill processes. */
static int check_unified(json_t *u, const char *w, nk_error **err)
{
        const char *k;
        json_t *v;
        if (!json_is_object(u))
                return nk_error_set(err, 0, "%s: must be an object", w);
        json_object_foreach (u, k, v) {
                if (!json_is_string(v))
                        return nk_error_set(err, 0, "%s.%s: value must be a string", w, k);
                const char *dot = strchr(k, '.');
                if (!dot || dot == k || !dot[1] || strchr(k, '/') || strstr(k, ".."))
                        return nk_error_set(err, 0,
                                            "%s: key \"%s\" is not a cgroup file name like "
                                            "memory.high",
                                            w, k);
                if (streq(k, "cgroup.procs") || streq(k, "cgroup.threads") ||
                    streq(k, "cgroup.kill") || streq(k, "cgroup.subtree_control"))
                        return nk_error_set(err, 0, "%s: key \"%s\" may not be set", w, k);
        }
        return 0;
}

int nk_cgroup_validate_resources(json_t *res, const char *where, nk_error **err)
{
        static const struct {
                const char *key;
                int (*check)(json_t *, const char *, nk_error **);
        } parts[] = {
                {"memory", check_memory},
                {"cpu", check_cpu},
                {"blockIO", check_blkio},
                {"devices", check_devices},
                {"hugepageLimits", check_hugepages},
                {"network", check_network},
                {"rdma", check_rdma},
                {"unified", check_unified},
        };
        static const struct field pids[] = {{"limit", 'i', -1, I64_MAX}};
        if (!res || json_is_null(res))
                return 0;
        if (!where)
                where = "linux.resources";
        if (!json_is_object(res))
                return nk_error_set(err, 0, "%s: must be an object", where);
        char sub[256];
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
                json_t *v = json_object_get(res, parts[i].key);
                if (!v || json_is_null(v))
                        continue;
                snprintf(sub, sizeof(sub), "%s.%s", where, parts[i].key);
                if ((streq(parts[i].key, "devices") || streq(parts[i].key, "hugepageLimits")) &&
                    !json_is_array(v))
                        return nk_error_set(err, 0, "%s: must be an array", sub);
                if (parts[i].check(v, sub, err) < 0)
                        return -1;
        }
        json_t *p = json_object_get(res, "pids");
        snprintf(sub, sizeof(sub), "%s.pids", where);
        if (p && !json_is_null(p) && check_fields(p, sub, pids, 1, err) < 0)
                return -1;
        return 0;
}
