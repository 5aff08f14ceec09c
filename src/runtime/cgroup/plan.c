/* linux.resources -> an ordered list of cgroup file writes, for whatever
 * hierarchy each controller lives on (v1, v2, or, on a hybrid host, a mix).
 * Pure: the host is described by a `where` callback, so every conversion is
 * unit-tested without a kernel. The conversions are written down in
 * docs/cgroups.md. */
#include "../../util/cleanup.h"
#include "../../util/strv.h"
#include "internal.h"
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct builder {
        struct nk_cg_plan *p;
        nk_cg_where_fn where;
        const void *ctx;
        nk_error **err;
};

static char *xvasprintf(const char *fmt, va_list ap)
{
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                nk_oom();
        return s;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        return s;
}

static struct nk_cg_write *add(struct builder *b, bool v2, const char *ctl, const char *file,
                               const char *jpath, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
static struct nk_cg_write *add(struct builder *b, bool v2, const char *ctl, const char *file,
                               const char *jpath, const char *fmt, ...)
{
        struct nk_cg_write *nw = realloc(b->p->w, (b->p->n + 1) * sizeof(*nw));
        if (!nw)
                nk_oom();
        b->p->w = nw;
        struct nk_cg_write *w = &nw[b->p->n++];
        memset(w, 0, sizeof(*w));
        va_list ap;
        va_start(ap, fmt);
        w->value = xvasprintf(fmt, ap);
        va_end(ap);
        w->v2 = v2;
        w->controller = strdup(ctl);
        w->file = strdup(file);
        w->json_path = jpath;
        if (!w->controller || !w->file)
                nk_oom();
        return w;
}

static void set_alt(struct nk_cg_write *w, const char *file, char *value)
{
        w->alt_file = strdup(file);
        w->alt_value = value;
        if (!w->alt_file)
                nk_oom();
}

static void warn(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct builder *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = xvasprintf(fmt, ap);
        va_end(ap);
        if (nk_strv_push(&b->p->warnings, s) < 0)
                nk_oom();
        free(s);
}

void nk_cg_plan_clear(struct nk_cg_plan *p)
{
        for (size_t i = 0; i < p->n; i++) {
                free(p->w[i].controller);
                free(p->w[i].file);
                free(p->w[i].value);
                free(p->w[i].alt_file);
                free(p->w[i].alt_value);
        }
        free(p->w);
        json_decref(p->devices);
        nk_strv_free(p->warnings);
        memset(p, 0, sizeof(*p));
}

/* ---- conversions ---- */

/* cpu.shares [2, 262144] onto cpu.weight [1, 10000], linearly, so that both
 * ends map to each other (the kernel's default 1024 lands on 39). */
unsigned long long nk_cg_shares_to_weight(unsigned long long shares)
{
        if (shares == 0)
                return 0;
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
}

unsigned long long nk_cg_weight_to_shares(unsigned long long weight)
{
        if (weight == 0)
                return 0;
        if (weight > 10000)
                weight = 10000;
        return 2 + ((weight - 1) * 262142) / 9999;
}

/* blkio.weight [10, 1000] onto io.weight [1, 10000]. */
unsigned long long nk_cg_blkio_to_io_weight(unsigned long long w)
{
        if (w == 0)
                return 0;
        if (w < 10)
                w = 10;
        if (w > 1000)
                w = 1000;
        return 1 + ((w - 10) * 9999) / 990;
}

/* OCI memory.swap is v1's memory+swap total; v2's memory.swap.max is swap
 * alone. */
long long nk_cg_swap_v2(long long limit, long long swap)
{
        if (swap == -1)
                return -1;
        if (limit <= 0 || swap < limit)
                return -2;
        return swap - limit;
}

/* ---- helpers ---- */

static bool has(json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);
        return v && !json_is_null(v);
}

static long long geti(json_t *o, const char *k)
{
        return (long long)json_integer_value(json_object_get(o, k));
}

static enum nk_cg_where need(struct builder *b, const char *ctl, const char *jpath)
{
        enum nk_cg_where w = b->where(ctl, b->ctx);
        if (w == NK_CG_ABSENT)
                nk_error_set(b->err, ENOTSUP,
                             "linux.resources.%s: the %s controller is not available on "
                             "this host",
                             jpath, ctl);
        return w;
}

/* ---- memory ---- */

/* v2 writes "max" for "no limit" (-1 in OCI). */
static struct nk_cg_write *add_max(struct builder *b, const char *ctl, const char *file,
                                   const char *jpath, long long v)
{
        if (v < 0)
                return add(b, true, ctl, file, jpath, "max");
        return add(b, true, ctl, file, jpath, "%lld", v);
}

static void memory_v1(struct builder *b, json_t *m)
{
        long long limit = geti(m, "limit"), swap = geti(m, "swap");
        if (has(m, "limit") && limit != 0) {
                struct nk_cg_write *w = add(b, false, "memory", "memory.limit_in_bytes",
                                            "memory.limit", "%lld", limit);
                /* memsw must stay >= limit at every moment: raising both
                 * needs memsw first, lowering both needs limit first. */
                w->swap_pair = has(m, "swap") && swap != 0;
        }
        if (has(m, "swap") && swap != 0)
                add(b, false, "memory", "memory.memsw.limit_in_bytes", "memory.swap", "%lld", swap)
                        ->optional = true;
        if (has(m, "reservation") && geti(m, "reservation") != 0)
                add(b, false, "memory", "memory.soft_limit_in_bytes", "memory.reservation", "%lld",
                    geti(m, "reservation"));
        if (has(m, "swappiness"))
                add(b, false, "memory", "memory.swappiness", "memory.swappiness", "%lld",
                    geti(m, "swappiness"));
        if (has(m, "disableOOMKiller"))
                add(b, false, "memory", "memory.oom_control", "memory.disableOOMKiller", "%d",
                    json_is_true(json_object_get(m, "disableOOMKiller")));
        if (has(m, "kernel") && geti(m, "kernel") != 0)
                warn(b, "linux.resources.memory.kernel: ignored, kernel memory limits are "
                        "no longer enforced by Linux (memory.kmem.limit_in_bytes)");
        if (has(m, "kernelTCP") && geti(m, "kernelTCP") != 0)
                add(b, false, "memory", "memory.kmem.tcp.limit_in_bytes", "memory.kernelTCP",
                    "%lld", geti(m, "kernelTCP"))
                        ->optional = true;
}

static int memory_v2(struct builder *b, json_t *m)
{
        long long limit = geti(m, "limit"), swap = geti(m, "swap");
        if (has(m, "limit") && limit != 0)
                add_max(b, "memory", "memory.max", "memory.limit", limit);
        if (has(m, "swap") && swap != 0) {
                long long s = nk_cg_swap_v2(limit, swap);
                if (s == -2)
                        return nk_error_set(b->err, 0,
                                            "linux.resources.memory.swap: %lld cannot be "
                                            "expressed on cgroup v2 with memory.limit %lld "
                                            "(swap is the memory+swap total)",
                                            swap, limit);
                add_max(b, "memory", "memory.swap.max", "memory.swap", s)->optional = true;
        }
        if (has(m, "reservation") && geti(m, "reservation") != 0)
                add_max(b, "memory", "memory.low", "memory.reservation", geti(m, "reservation"));
        static const char *const nope[] = {"swappiness", "disableOOMKiller", "kernel", "kernelTCP"};
        for (size_t i = 0; i < ARRAY_SIZE(nope); i++) {
                json_t *v = json_object_get(m, nope[i]);
                if (v && !json_is_null(v) && !json_is_false(v) &&
                    !(json_is_integer(v) && json_integer_value(v) == 0))
                        warn(b,
                             "linux.resources.memory.%s: ignored, cgroup v2 has no "
                             "equivalent",
                             nope[i]);
        }
        return 0;
}

static bool memory_set(json_t *m)
{
        static const char *const keys[] = {"limit",      "reservation",      "swap",
                                           "swappiness", "disableOOMKiller", "kernel",
                                           "kernelTCP"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (has(m, keys[i]))
                        return true;
        return false;
}

static int plan_memory(struct builder *b, json_t *m)
{
        if (!memory_set(m))
                return 0;
        enum nk_cg_where w = need(b, "memory", "memory");
        if (w == NK_CG_ABSENT)
                return -1;
        if (w == NK_CG_ON_V1) {
                memory_v1(b, m);
                return 0;
        }
        return memory_v2(b, m);
}

/* ---- cpu, cpuset ---- */

static void cpu_v1(struct builder *b, json_t *c)
{
        if (has(c, "shares") && geti(c, "shares") != 0)
                add(b, false, "cpu", "cpu.shares", "cpu.shares", "%lld", geti(c, "shares"));
        if (has(c, "period") && geti(c, "period") != 0)
                add(b, false, "cpu", "cpu.cfs_period_us", "cpu.period", "%lld", geti(c, "period"));
        if (has(c, "quota") && geti(c, "quota") != 0)
                add(b, false, "cpu", "cpu.cfs_quota_us", "cpu.quota", "%lld", geti(c, "quota"));
        if (has(c, "burst"))
                add(b, false, "cpu", "cpu.cfs_burst_us", "cpu.burst", "%lld", geti(c, "burst"))
                        ->optional = true;
        /* rt_period before rt_runtime: runtime may not exceed the period. */
        if (has(c, "realtimePeriod") && geti(c, "realtimePeriod") != 0)
                add(b, false, "cpu", "cpu.rt_period_us", "cpu.realtimePeriod", "%lld",
                    geti(c, "realtimePeriod"));
        if (has(c, "realtimeRuntime") && geti(c, "realtimeRuntime") != 0)
                add(b, false, "cpu", "cpu.rt_runtime_us", "cpu.realtimeRuntime", "%lld",
                    geti(c, "realtimeRuntime"));
        if (has(c, "idle"))
                add(b, false, "cpu", "cpu.idle", "cpu.idle", "%lld", geti(c, "idle"));
}

static int cpu_v2(struct builder *b, json_t *c)
{
        if (has(c, "shares") && geti(c, "shares") != 0)
                add(b, true, "cpu", "cpu.weight", "cpu.shares", "%llu",
                    nk_cg_shares_to_weight((unsigned long long)geti(c, "shares")));
        long long quota = geti(c, "quota"), period = geti(c, "period");
        if ((has(c, "quota") && quota != 0) || (has(c, "period") && period != 0)) {
                _cleanup_free_ char *q = quota > 0 ? xasprintf("%lld", quota) : strdup("max");
                if (period > 0)
                        add(b, true, "cpu", "cpu.max", "cpu.quota", "%s %lld", q, period);
                else
                        add(b, true, "cpu", "cpu.max", "cpu.quota", "%s", q);
        }
        if (has(c, "burst"))
                add(b, true, "cpu", "cpu.max.burst", "cpu.burst", "%lld", geti(c, "burst"))
                        ->optional = true;
        if ((has(c, "realtimeRuntime") && geti(c, "realtimeRuntime") != 0) ||
            (has(c, "realtimePeriod") && geti(c, "realtimePeriod") != 0))
                return nk_error_set(b->err, ENOTSUP,
                                    "linux.resources.cpu.%s: real-time cpu limits do not exist "
                                    "on cgroup v2",
                                    has(c, "realtimeRuntime") ? "realtimeRuntime"
                                                              : "realtimePeriod");
        if (has(c, "idle"))
                add(b, true, "cpu", "cpu.idle", "cpu.idle", "%lld", geti(c, "idle"));
        return 0;
}

static int plan_cpuset(struct builder *b, json_t *c)
{
        static const char *const keys[] = {"cpus", "mems"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                const char *v = json_string_value(json_object_get(c, keys[i]));
                if (!v || !*v)
                        continue;
                char jp[32], file[32];
                snprintf(jp, sizeof(jp), "cpu.%s", keys[i]);
                enum nk_cg_where w = need(b, "cpuset", jp);
                if (w == NK_CG_ABSENT)
                        return -1;
                snprintf(file, sizeof(file), "cpuset.%s", keys[i]);
                add(b, w == NK_CG_ON_V2, "cpuset", file,
                    keys[i][0] == 'c' ? "cpu.cpus" : "cpu.mems", "%s", v);
        }
        return 0;
}

static int plan_cpu(struct builder *b, json_t *c)
{
        if (plan_cpuset(b, c) < 0)
                return -1;
        static const char *const keys[] = {"shares",          "quota",          "period", "burst",
                                           "realtimeRuntime", "realtimePeriod", "idle"};
        bool any = false;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                any = any || has(c, keys[i]);
        if (!any)
                return 0;
        enum nk_cg_where w = need(b, "cpu", "cpu");
        if (w == NK_CG_ABSENT)
                return -1;
        if (w == NK_CG_ON_V1) {
                cpu_v1(b, c);
                return 0;
        }
        return cpu_v2(b, c);
}

/* ---- pids ---- */

static int plan_pids(struct builder *b, json_t *p)
{
        if (!has(p, "limit") || geti(p, "limit") == 0)
                return 0;
        enum nk_cg_where w = need(b, "pids", "pids");
        if (w == NK_CG_ABSENT)
                return -1;
        long long l = geti(p, "limit");
        if (l < 0)
                add(b, w == NK_CG_ON_V2, "pids", "pids.max", "pids.limit", "max");
        else
                add(b, w == NK_CG_ON_V2, "pids", "pids.max", "pids.limit", "%lld", l);
        return 0;
}

/* ---- blockIO ---- */

static const struct {
        const char *key, *v1file, *v2key;
} throttles[] = {
        {"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"},
        {"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"},
        {"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"},
        {"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"},
};

/* blkio.weight exists with CFQ (gone since 5.0); BFQ has blkio.bfq.weight
 * with the same 1..1000 range. */
static void blkio_v1(struct builder *b, json_t *io)
{
        if (has(io, "weight") && geti(io, "weight") != 0)
                set_alt(add(b, false, "blkio", "blkio.weight", "blockIO.weight", "%lld",
                            geti(io, "weight")),
                        "blkio.bfq.weight", xasprintf("%lld", geti(io, "weight")));
        if (has(io, "leafWeight") && geti(io, "leafWeight") != 0)
                add(b, false, "blkio", "blkio.leaf_weight", "blockIO.leafWeight", "%lld",
                    geti(io, "leafWeight"))
                        ->optional = true;
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(io, "weightDevice"), i, d) {
                long long ma = geti(d, "major"), mi = geti(d, "minor");
                if (has(d, "weight"))
                        set_alt(add(b, false, "blkio", "blkio.weight_device",
                                    "blockIO.weightDevice", "%lld:%lld %lld", ma, mi,
                                    geti(d, "weight")),
                                "blkio.bfq.weight_device",
                                xasprintf("%lld:%lld %lld", ma, mi, geti(d, "weight")));
                if (has(d, "leafWeight"))
                        add(b, false, "blkio", "blkio.leaf_weight_device", "blockIO.weightDevice",
                            "%lld:%lld %lld", ma, mi, geti(d, "leafWeight"))
                                ->optional = true;
        }
        for (size_t t = 0; t < ARRAY_SIZE(throttles); t++)
                json_array_foreach (json_object_get(io, throttles[t].key), i, d)
                        add(b, false, "blkio", throttles[t].v1file, throttles[t].key,
                            "%lld:%lld %lld", geti(d, "major"), geti(d, "minor"), geti(d, "rate"));
}

/* v2: io.bfq.weight keeps blkio's 1..1000 scale; io.weight (iocost) is
 * 1..10000, converted. A throttle rate of 0 removes the limit ("max"). */
static void blkio_v2(struct builder *b, json_t *io)
{
        if (has(io, "weight") && geti(io, "weight") != 0) {
                unsigned long long w = (unsigned long long)geti(io, "weight");
                set_alt(add(b, true, "io", "io.bfq.weight", "blockIO.weight", "%llu", w),
                        "io.weight", xasprintf("default %llu", nk_cg_blkio_to_io_weight(w)));
        }
        if (has(io, "leafWeight") && geti(io, "leafWeight") != 0)
                warn(b, "linux.resources.blockIO.leafWeight: ignored, cgroup v2 has no "
                        "equivalent");
        size_t i;
        json_t *d;
        json_array_foreach (json_object_get(io, "weightDevice"), i, d) {
                long long ma = geti(d, "major"), mi = geti(d, "minor");
                unsigned long long w = (unsigned long long)geti(d, "weight");
                if (has(d, "weight"))
                        set_alt(add(b, true, "io", "io.bfq.weight", "blockIO.weightDevice",
                                    "%lld:%lld %llu", ma, mi, w),
                                "io.weight",
                                xasprintf("%lld:%lld %llu", ma, mi, nk_cg_blkio_to_io_weight(w)));
        }
        for (size_t t = 0; t < ARRAY_SIZE(throttles); t++)
                json_array_foreach (json_object_get(io, throttles[t].key), i, d) {
                        long long r = geti(d, "rate");
                        _cleanup_free_ char *v = r > 0 ? xasprintf("%lld", r) : strdup("max");
                        add(b, true, "io", "io.max", throttles[t].key, "%lld:%lld %s=%s",
                            geti(d, "major"), geti(d, "minor"), throttles[t].v2key, v);
                }
}

static bool blkio_set(json_t *io)
{
        static const char *const keys[] = {"weight", "leafWeight", "weightDevice"};
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (has(io, keys[i]) && !(json_is_array(json_object_get(io, keys[i])) &&
                                          json_array_size(json_object_get(io, keys[i])) == 0))
                        return true;
        for (size_t t = 0; t < ARRAY_SIZE(throttles); t++)
                if (json_array_size(json_object_get(io, throttles[t].key)) > 0)
                        return true;
        return false;
}

static int plan_blkio(struct builder *b, json_t *io)
{
        if (!blkio_set(io))
                return 0;
        enum nk_cg_where w = b->where("blkio", b->ctx);
        if (w == NK_CG_ON_V1) {
                blkio_v1(b, io);
                return 0;
        }
        if (b->where("io", b->ctx) == NK_CG_ON_V2) {
                blkio_v2(b, io);
                return 0;
        }
        return nk_error_set(b->err, ENOTSUP,
                            "linux.resources.blockIO: neither the v1 blkio "
                            "nor the v2 io controller is available on this host");
}

/* ---- hugetlb ---- */

static int plan_hugetlb(struct builder *b, json_t *arr)
{
        if (json_array_size(arr) == 0)
                return 0;
        enum nk_cg_where w = need(b, "hugetlb", "hugepageLimits");
        if (w == NK_CG_ABSENT)
                return -1;
        size_t i;
        json_t *h;
        json_array_foreach (arr, i, h) {
                unsigned long long bytes;
                char name[32], file[64];
                if (nk_cg_page_size(json_string_value(json_object_get(h, "pageSize")), &bytes) < 0)
                        return nk_error_set(b->err, 0,
                                            "linux.resources.hugepageLimits[%zu].pageSize: bad "
                                            "size",
                                            i);
                nk_cg_page_name(bytes, name, sizeof(name));
                long long lim = geti(h, "limit");
                if (w == NK_CG_ON_V1) {
                        snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", name);
                        add(b, false, "hugetlb", file, "hugepageLimits", "%lld", lim);
                        continue;
                }
                snprintf(file, sizeof(file), "hugetlb.%s.max", name);
                add(b, true, "hugetlb", file, "hugepageLimits", "%lld", lim);
                /* Reservations are charged separately (5.7+): limit both. */
                snprintf(file, sizeof(file), "hugetlb.%s.rsvd.max", name);
                add(b, true, "hugetlb", file, "hugepageLimits", "%lld", lim)->optional = true;
        }
        return 0;
}

/* ---- network (v1 only), rdma ---- */

static int plan_network(struct builder *b, json_t *n)
{
        if (has(n, "classID")) {
                if (b->where("net_cls", b->ctx) != NK_CG_ON_V1)
                        return nk_error_set(b->err, ENOTSUP,
                                            "linux.resources.network.classID: needs the cgroup "
                                            "v1 net_cls controller, which is not mounted here");
                add(b, false, "net_cls", "net_cls.classid", "network.classID", "%lld",
                    geti(n, "classID"));
        }
        size_t i;
        json_t *p;
        json_t *prios = json_object_get(n, "priorities");
        if (json_array_size(prios) > 0 && b->where("net_prio", b->ctx) != NK_CG_ON_V1)
                return nk_error_set(b->err, ENOTSUP,
                                    "linux.resources.network.priorities: needs the cgroup v1 "
                                    "net_prio controller, which is not mounted here");
        json_array_foreach (prios, i, p)
                add(b, false, "net_prio", "net_prio.ifpriomap", "network.priorities", "%s %lld",
                    json_string_value(json_object_get(p, "name")), geti(p, "priority"));
        return 0;
}

static int plan_rdma(struct builder *b, json_t *r)
{
        if (json_object_size(r) == 0)
                return 0;
        enum nk_cg_where w = need(b, "rdma", "rdma");
        if (w == NK_CG_ABSENT)
                return -1;
        const char *dev;
        json_t *v;
        json_object_foreach (r, dev, v) {
                _cleanup_free_ char *h =
                        has(v, "hcaHandles") ? xasprintf(" hca_handle=%lld", geti(v, "hcaHandles"))
                                             : strdup("");
                _cleanup_free_ char *o =
                        has(v, "hcaObjects") ? xasprintf(" hca_object=%lld", geti(v, "hcaObjects"))
                                             : strdup("");
                if (*h || *o)
                        add(b, w == NK_CG_ON_V2, "rdma", "rdma.max", "rdma", "%s%s%s", dev, h, o);
        }
        return 0;
}

/* ---- unified: raw v2 files, written last so they win ---- */

static int plan_unified(struct builder *b, json_t *u)
{
        const char *k;
        json_t *v;
        json_object_foreach (u, k, v) {
                _cleanup_free_ char *ctl = strndup(k, strcspn(k, "."));
                if (!ctl)
                        nk_oom();
                bool core = streq(ctl, "cgroup");
                enum nk_cg_where w = b->where(core ? "cgroup" : ctl, b->ctx);
                if (b->where("cgroup", b->ctx) != NK_CG_ON_V2)
                        return nk_error_set(b->err, ENOTSUP,
                                            "linux.resources.unified.%s: cgroup v2 settings on "
                                            "a host without cgroup v2",
                                            k);
                if (w != NK_CG_ON_V2)
                        return nk_error_set(b->err, ENOTSUP,
                                            "linux.resources.unified.%s: the %s controller is "
                                            "%s on this host, not on cgroup v2",
                                            k, ctl, w == NK_CG_ON_V1 ? "on cgroup v1" : "absent");
                add(b, true, core ? "" : ctl, k, "unified", "%s", json_string_value(v));
        }
        return 0;
}

/* ---- devices ---- */

/* What every container may use whatever its rules say (runc and crun give
 * the same set): mknod of any node, and the standard character devices. */
static const struct {
        char type;
        long long major, minor;
        const char *access;
} default_devices[] = {
        {'c', -1, -1, "m"}, {'b', -1, -1, "m"},    {'c', 1, 3, "rwm"}, {'c', 1, 5, "rwm"},
        {'c', 1, 7, "rwm"}, {'c', 1, 8, "rwm"},    {'c', 1, 9, "rwm"}, {'c', 5, 0, "rwm"},
        {'c', 5, 2, "rwm"}, {'c', 136, -1, "rwm"},
};

static bool denies_all(json_t *d)
{
        const char *t = json_string_value(json_object_get(d, "type"));
        const char *a = json_string_value(json_object_get(d, "access"));
        json_t *ma = json_object_get(d, "major"), *mi = json_object_get(d, "minor");
        return json_is_false(json_object_get(d, "allow")) && (!t || streq(t, "a")) &&
               (!a || (strchr(a, 'r') && strchr(a, 'w') && strchr(a, 'm'))) &&
               (!ma || json_is_null(ma) || json_integer_value(ma) < 0) &&
               (!mi || json_is_null(mi) || json_integer_value(mi) < 0);
}

json_t *nk_cg_devices_effective(json_t *devices)
{
        json_t *out = json_array();
        size_t i, at = 0;
        json_t *d;
        json_array_foreach (devices, i, d)
                if (denies_all(d))
                        at = i + 1;
        json_array_foreach (devices, i, d) {
                if (i == at)
                        break;
                json_array_append(out, d);
        }
        for (size_t k = 0; k < ARRAY_SIZE(default_devices); k++) {
                char t[2] = {default_devices[k].type, 0};
                json_array_append_new(out,
                                      json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", t,
                                                "major", (json_int_t)default_devices[k].major,
                                                "minor", (json_int_t)default_devices[k].minor,
                                                "access", default_devices[k].access));
        }
        for (i = at; i < json_array_size(devices); i++)
                json_array_append(out, json_array_get(devices, i));
        return out;
}

static int plan_devices(struct builder *b, json_t *devices)
{
        if (!json_is_array(devices))
                return 0;
        json_t *rules = nk_cg_devices_effective(devices);
        if (b->where("devices", b->ctx) == NK_CG_ON_V1) {
                /* Turned into writes against devices.list at apply time. */
                b->p->devices = rules;
                return 0;
        }
        if (b->where("cgroup", b->ctx) == NK_CG_ON_V2) {
                b->p->devices = rules;
                b->p->devices_v2 = true;
                return 0;
        }
        json_decref(rules);
        return nk_error_set(b->err, ENOTSUP,
                            "linux.resources.devices: no devices controller "
                            "(v1) and no cgroup v2 on this host");
}

/* ---- the plan ---- */

int nk_cg_plan_build(json_t *res, nk_cg_where_fn where, const void *ctx, struct nk_cg_plan *plan,
                     nk_error **err)
{
        struct nk_cg_plan p = {0};
        struct builder b = {&p, where, ctx, err};
        if (nk_cgroup_validate_resources(res, "linux.resources", err) < 0)
                return -1;
#define SECTION(fn, key) (json_object_get(res, key) ? fn(&b, json_object_get(res, key)) : 0)
        if (res && (SECTION(plan_cpu, "cpu") < 0 || SECTION(plan_memory, "memory") < 0 ||
                    SECTION(plan_pids, "pids") < 0 || SECTION(plan_blkio, "blockIO") < 0 ||
                    SECTION(plan_hugetlb, "hugepageLimits") < 0 ||
                    SECTION(plan_network, "network") < 0 || SECTION(plan_rdma, "rdma") < 0 ||
                    SECTION(plan_devices, "devices") < 0 || SECTION(plan_unified, "unified") < 0)) {
                nk_cg_plan_clear(&p);
                return -1;
        }
#undef SECTION
        *plan = p;
        return 0;
}

enum nk_cg_where nk_cg_host_where(const char *controller, const void *ctx)
{
        const struct nk_cg_host *h = ctx;
        if (streq(controller, "cgroup"))
                return nk_cg_host_v2(h) ? NK_CG_ON_V2 : NK_CG_ABSENT;
        const struct nk_cg_mount *m = nk_cg_host_find(h, controller);
        if (!m)
                return NK_CG_ABSENT;
        return m->v2 ? NK_CG_ON_V2 : NK_CG_ON_V1;
}
