/* Container statistics in the shape runc's `events --stats` prints (cpu,
 * memory, pids, blkio, hugetlb, plus PSI pressure where the host has it),
 * read from whichever hierarchy holds each controller. */
#include "../../util/cleanup.h"
#include "../../util/parse.h"
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* USER_HZ for cpuacct.stat ticks: always 100 in the kernel's ABI. */
#define USER_HZ 100ULL

static unsigned long long rd_u64(const char *dir, const char *file)
{
        long long v = 0;
        if (!dir || nk_cg_read_i64(dir, file, &v, NULL) < 0)
                return 0;
        return v < 0 ? UINT64_MAX : (unsigned long long)v;
}

static long long kv(const char *dir, const char *file, const char *key)
{
        _cleanup_free_ char *s = NULL;
        if (!dir || nk_cg_read(dir, file, &s, NULL) < 0)
                return -1;
        return nk_cg_kv_get(s, key);
}

static json_t *u64(unsigned long long v)
{
        return json_integer(v > (unsigned long long)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static void set_u64(json_t *o, const char *k, long long v)
{
        json_object_set_new(o, k, u64(v < 0 ? 0 : (unsigned long long)v));
}

/* ---- kernel text: every number through the checked parser ---- */

/* The length of the token at s (up to a space or newline). */
static size_t token_len(const char *s)
{
        return strcspn(s, " \n");
}

/* The value of `key=VALUE` among the space-separated tokens of line l. */
static const char *field(const char *l, const char *key)
{
        size_t kl = strlen(key);
        for (const char *t = l; t && *t && *t != '\n';
             t = strchr(t, ' ') ? strchr(t, ' ') + 1 : NULL)
                if (strncmp(t, key, kl) == 0 && t[kl] == '=')
                        return t + kl + 1;
        return NULL;
}

static int field_u64(const char *l, const char *key, unsigned long long *v)
{
        const char *s = field(l, key);
        return s ? nk_parse_uint_n(s, token_len(s), UINT64_MAX, v) : -1;
}

/* A PSI average, "12.34": the whole and fractional digits each checked. */
static int field_decimal(const char *l, const char *key, double *v)
{
        const char *s = field(l, key);
        unsigned long long whole, frac = 0;
        size_t n = s ? strcspn(s, ". \n") : 0, m = 0;
        if (!s || nk_parse_uint_n(s, n, UINT32_MAX, &whole) < 0)
                return -1;
        if (s[n] == '.' && ((m = token_len(s + n + 1)) > 9 ||
                            nk_parse_uint_n(s + n + 1, m, UINT32_MAX, &frac) < 0))
                return -1;
        double scale = 1;
        for (size_t i = 0; i < m; i++)
                scale *= 10;
        *v = (double)whole + (double)frac / scale;
        return 0;
}

/* "MAJ:MIN" at the start of l; *rest is what follows it. */
static int take_dev(const char *l, unsigned *ma, unsigned *mi, const char **rest)
{
        unsigned long long a, b;
        size_t n = strcspn(l, ":\n");
        if (l[n] != ':' || nk_parse_uint_n(l, n, UINT32_MAX, &a) < 0)
                return -1;
        const char *m = l + n + 1;
        size_t k = token_len(m);
        if (nk_parse_uint_n(m, k, UINT32_MAX, &b) < 0)
                return -1;
        *ma = (unsigned)a;
        *mi = (unsigned)b;
        *rest = m + k;
        return 0;
}

/* All "key value" lines of a file as an object. */
static json_t *kv_object(const char *dir, const char *file)
{
        _cleanup_free_ char *s = NULL;
        json_t *o = json_object();
        if (!dir || nk_cg_read(dir, file, &s, NULL) < 0)
                return o;
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(l, ' ');
                if (!sp)
                        continue;
                unsigned long long v;
                *sp = '\0';
                if (nk_parse_uint_n(sp + 1, token_len(sp + 1), UINT64_MAX, &v) == 0)
                        json_object_set_new(o, l, u64(v));
        }
        return o;
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=0" per line. */
static json_t *psi(const char *dir, const char *file)
{
        _cleanup_free_ char *s = NULL;
        if (!dir || nk_cg_read(dir, file, &s, NULL) < 0)
                return NULL;
        json_t *o = json_object();
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char kind[8];
                double a10, a60, a300;
                unsigned long long total;
                size_t kn = token_len(l);
                if (kn == 0 || kn >= sizeof(kind) || field_decimal(l, "avg10", &a10) < 0 ||
                    field_decimal(l, "avg60", &a60) < 0 || field_decimal(l, "avg300", &a300) < 0 ||
                    field_u64(l, "total", &total) < 0)
                        continue;
                memcpy(kind, l, kn);
                kind[kn] = '\0';
                json_object_set_new(o, kind,
                                    json_pack("{s:f, s:f, s:f, s:o}", "avg10", a10, "avg60", a60,
                                              "avg300", a300, "total", u64(total)));
        }
        return o;
}

/* o with its "psi" member from `file` when the host has PSI there. */
static json_t *with_psi(json_t *o, const char *dir, const char *file)
{
        json_t *p = psi(dir, file);
        if (p)
                json_object_set_new(o, "psi", p);
        return o;
}

static const char *dir_of(struct nk_cgroup *cg, const char *controller)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, controller);
        return h ? h->dir : NULL;
}

static const char *v2_dir(struct nk_cgroup *cg)
{
        struct nk_cg_hier *h = nk_cg_hier_v2(cg);
        return h ? h->dir : NULL;
}

/* ---- cpu ---- */

static json_t *percpu(const char *dir, const char *file)
{
        _cleanup_free_ char *s = NULL;
        json_t *a = json_array();
        if (!dir || nk_cg_read(dir, file, &s, NULL) < 0)
                return a;
        for (const char *p = s + strspn(s, " \n"); *p; p += strspn(p, " \n")) {
                unsigned long long v;
                size_t n = token_len(p);
                if (nk_parse_uint_n(p, n, UINT64_MAX, &v) < 0)
                        break;
                json_array_append_new(a, u64(v));
                p += n;
        }
        return a;
}

static json_t *cpu_stats(struct nk_cgroup *cg)
{
        json_t *usage = json_object(), *thr = json_object();
        const char *acct = dir_of(cg, "cpuacct"), *cpu = dir_of(cg, "cpu"), *v2 = v2_dir(cg);
        if (acct && !nk_cg_hier_for(cg, "cpuacct")->mnt->v2) {
                set_u64(usage, "total", (long long)rd_u64(acct, "cpuacct.usage"));
                json_object_set_new(usage, "percpu", percpu(acct, "cpuacct.usage_percpu"));
                json_object_set_new(usage, "percpu_kernel",
                                    percpu(acct, "cpuacct.usage_percpu_sys"));
                json_object_set_new(usage, "percpu_user",
                                    percpu(acct, "cpuacct.usage_percpu_user"));
                long long u = kv(acct, "cpuacct.stat", "user"),
                          s = kv(acct, "cpuacct.stat", "system");
                set_u64(usage, "user", u < 0 ? 0 : (long long)(u * 1000000000ULL / USER_HZ));
                set_u64(usage, "kernel", s < 0 ? 0 : (long long)(s * 1000000000ULL / USER_HZ));
        } else if (v2) {
                /* cpu.stat's usage lines are core v2 files: there even when
                 * the cpu controller itself lives on v1. */
                long long t = kv(v2, "cpu.stat", "usage_usec");
                set_u64(usage, "total", t < 0 ? 0 : t * 1000);
                set_u64(usage, "user", kv(v2, "cpu.stat", "user_usec") * 1000);
                set_u64(usage, "kernel", kv(v2, "cpu.stat", "system_usec") * 1000);
        }
        bool cpu_v2 = cpu && nk_cg_hier_for(cg, "cpu")->mnt->v2;
        if (cpu) {
                set_u64(thr, "periods", kv(cpu, "cpu.stat", "nr_periods"));
                set_u64(thr, "throttledPeriods", kv(cpu, "cpu.stat", "nr_throttled"));
                long long tt = cpu_v2 ? kv(cpu, "cpu.stat", "throttled_usec") * 1000
                                      : kv(cpu, "cpu.stat", "throttled_time");
                set_u64(thr, "throttledTime", tt);
        }
        json_t *o = json_pack("{s:o, s:o}", "usage", usage, "throttling", thr);
        return with_psi(o, v2, "cpu.pressure");
}

/* ---- memory ---- */

static json_t *mem_entry_v1(const char *dir, const char *prefix)
{
        char f[96];
        json_t *e = json_object();
        snprintf(f, sizeof(f), "%s.usage_in_bytes", prefix);
        set_u64(e, "usage", (long long)rd_u64(dir, f));
        snprintf(f, sizeof(f), "%s.max_usage_in_bytes", prefix);
        set_u64(e, "max", (long long)rd_u64(dir, f));
        snprintf(f, sizeof(f), "%s.limit_in_bytes", prefix);
        json_object_set_new(e, "limit", u64(rd_u64(dir, f)));
        snprintf(f, sizeof(f), "%s.failcnt", prefix);
        set_u64(e, "failcnt", (long long)rd_u64(dir, f));
        return e;
}

/* memory.stat as "raw", and its page cache line (v1 `cache`, v2 `file`)
 * as "cache". */
static void set_raw(json_t *o, const char *dir, const char *cache_key)
{
        json_t *raw = kv_object(dir, "memory.stat");
        json_t *cache = json_object_get(raw, cache_key);
        json_object_set_new(o, "cache", cache ? json_incref(cache) : json_integer(0));
        json_object_set_new(o, "raw", raw);
}

static json_t *memory_stats(struct nk_cgroup *cg)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "memory");
        json_t *o = json_object();
        if (h && !h->mnt->v2) {
                json_object_set_new(o, "usage", mem_entry_v1(h->dir, "memory"));
                json_object_set_new(o, "swap", mem_entry_v1(h->dir, "memory.memsw"));
                json_object_set_new(o, "kernel", mem_entry_v1(h->dir, "memory.kmem"));
                json_object_set_new(o, "kernelTCP", mem_entry_v1(h->dir, "memory.kmem.tcp"));
                set_raw(o, h->dir, "cache");
        } else if (h) {
                json_t *u = json_object(), *s = json_object();
                set_u64(u, "usage", (long long)rd_u64(h->dir, "memory.current"));
                set_u64(u, "max", (long long)rd_u64(h->dir, "memory.peak"));
                json_object_set_new(u, "limit", u64(rd_u64(h->dir, "memory.max")));
                set_u64(u, "failcnt", kv(h->dir, "memory.events", "max"));
                set_u64(s, "usage", (long long)rd_u64(h->dir, "memory.swap.current"));
                json_object_set_new(s, "limit", u64(rd_u64(h->dir, "memory.swap.max")));
                set_u64(s, "failcnt", kv(h->dir, "memory.swap.events", "max"));
                json_object_set_new(o, "usage", u);
                json_object_set_new(o, "swap", s);
                set_raw(o, h->dir, "file");
        }
        return with_psi(o, v2_dir(cg), "memory.pressure");
}

/* ---- pids ---- */

static json_t *pids_stats(struct nk_cgroup *cg)
{
        const char *d = dir_of(cg, "pids");
        json_t *o = json_object();
        if (!d)
                return o;
        set_u64(o, "current", (long long)rd_u64(d, "pids.current"));
        long long lim = 0;
        if (nk_cg_read_i64(d, "pids.max", &lim, NULL) == 0 && lim > 0)
                set_u64(o, "limit", lim);
        return o;
}

/* ---- blkio / io ---- */

static void blk_entry(json_t *arr, unsigned ma, unsigned mi, const char *op, unsigned long long v)
{
        json_array_append_new(arr, json_pack("{s:i, s:i, s:s, s:o}", "major", (int)ma, "minor",
                                             (int)mi, "op", op, "value", u64(v)));
}

/* v1: "254:0 Read 4096" lines, then "Total N". */
static json_t *blk_v1_list(const char *dir, const char *file)
{
        _cleanup_free_ char *s = NULL;
        json_t *a = json_array();
        if (nk_cg_read(dir, file, &s, NULL) < 0)
                return a;
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                unsigned ma, mi;
                char op[16];
                unsigned long long v;
                const char *p;
                if (take_dev(l, &ma, &mi, &p) < 0 || *p++ != ' ')
                        continue; /* "Total N" */
                size_t n = token_len(p);
                if (n == 0 || n >= sizeof(op) || p[n] != ' ' ||
                    nk_parse_uint_n(p + n + 1, token_len(p + n + 1), UINT64_MAX, &v) < 0)
                        continue;
                memcpy(op, p, n);
                op[n] = '\0';
                blk_entry(a, ma, mi, op, v);
        }
        return a;
}

static void blk_v2(const char *dir, json_t *bytes, json_t *ios)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, "io.stat", &s, NULL) < 0)
                return;
        char *save = NULL;
        for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                unsigned ma, mi;
                unsigned long long rb = 0, wb = 0, ri = 0, wi = 0;
                const char *rest;
                if (take_dev(l, &ma, &mi, &rest) < 0)
                        continue;
                /* A key missing (or not a number) leaves its 0. */
                (void)field_u64(rest, "rbytes", &rb);
                (void)field_u64(rest, "wbytes", &wb);
                (void)field_u64(rest, "rios", &ri);
                (void)field_u64(rest, "wios", &wi);
                blk_entry(bytes, ma, mi, "Read", rb);
                blk_entry(bytes, ma, mi, "Write", wb);
                blk_entry(ios, ma, mi, "Read", ri);
                blk_entry(ios, ma, mi, "Write", wi);
        }
}

static json_t *blkio_stats(struct nk_cgroup *cg)
{
        json_t *o = json_object();
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "blkio");
        if (h) {
                /* BFQ accounts all IO; the throttle files only throttled
                 * devices. Use BFQ's when it has any entry. */
                json_t *b = blk_v1_list(h->dir, "blkio.bfq.io_service_bytes_recursive");
                json_t *n = blk_v1_list(h->dir, "blkio.bfq.io_serviced_recursive");
                if (json_array_size(b) == 0) {
                        json_decref(b);
                        json_decref(n);
                        b = blk_v1_list(h->dir, "blkio.throttle.io_service_bytes_recursive");
                        n = blk_v1_list(h->dir, "blkio.throttle.io_serviced_recursive");
                }
                json_object_set_new(o, "ioServiceBytesRecursive", b);
                json_object_set_new(o, "ioServicedRecursive", n);
        } else if ((h = nk_cg_hier_for(cg, "io"))) {
                json_t *b = json_array(), *n = json_array();
                blk_v2(h->dir, b, n);
                json_object_set_new(o, "ioServiceBytesRecursive", b);
                json_object_set_new(o, "ioServicedRecursive", n);
        }
        return with_psi(o, v2_dir(cg), "io.pressure");
}

/* ---- hugetlb: every page size the host has ---- */

static json_t *hugetlb_stats(struct nk_cgroup *cg)
{
        json_t *o = json_object();
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "hugetlb");
        _cleanup_closedir_ DIR *d = opendir("/sys/kernel/mm/hugepages");
        struct dirent *e;
        while (h && d && (e = readdir(d))) {
                unsigned long long kb;
                char name[32], f[96];
                const char *num = e->d_name + strlen("hugepages-");
                size_t n = strncmp(e->d_name, "hugepages-", strlen("hugepages-")) == 0
                                   ? strcspn(num, "k")
                                   : 0;
                if (n == 0 || !streq(num + n, "kB") ||
                    nk_parse_uint_n(num, n, UINT64_MAX / 1024, &kb) < 0)
                        continue;
                nk_cg_page_name(kb * 1024, name, sizeof(name));
                json_t *s = json_object();
                if (h->mnt->v2) {
                        snprintf(f, sizeof(f), "hugetlb.%s.current", name);
                        set_u64(s, "usage", (long long)rd_u64(h->dir, f));
                        snprintf(f, sizeof(f), "hugetlb.%s.events", name);
                        set_u64(s, "failcnt", kv(h->dir, f, "max"));
                } else {
                        snprintf(f, sizeof(f), "hugetlb.%s.usage_in_bytes", name);
                        set_u64(s, "usage", (long long)rd_u64(h->dir, f));
                        snprintf(f, sizeof(f), "hugetlb.%s.max_usage_in_bytes", name);
                        set_u64(s, "max", (long long)rd_u64(h->dir, f));
                        snprintf(f, sizeof(f), "hugetlb.%s.failcnt", name);
                        set_u64(s, "failcnt", (long long)rd_u64(h->dir, f));
                }
                json_object_set_new(o, name, s);
        }
        return o;
}

json_t *nk_cgroup_stats(struct nk_cgroup *cg, nk_error **err)
{
        struct nk_cg_hier *any = cg->n ? &cg->h[0] : NULL;
        if (!any || access(any->dir, F_OK) < 0)
                return nk_error_set(err, errno ? errno : ENOENT, "stats of cgroup %s: `%s`",
                                    cg->path, any ? any->dir : "(no hierarchy)"),
                       NULL;
        return json_pack("{s:o, s:o, s:o, s:o, s:o}", "cpu", cpu_stats(cg), "memory",
                         memory_stats(cg), "pids", pids_stats(cg), "blkio", blkio_stats(cg),
                         "hugetlb", hugetlb_stats(cg));
}
