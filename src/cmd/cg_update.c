/* nook update [runc flags] [--resources FILE|-] ID
 *
 * The flags build a LinuxResources object (or --resources gives one);
 * nk_container_update() writes only what was asked for (with the partners
 * some kernel files need, from the container's current resources) and
 * saves the merged resources in the state so later commands see them; on a
 * rejected value the library puts the old values back and the state is
 * left alone. */
#include "cmd/cg_cmds.h"
#include "util/cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
        O_RESOURCES = 'r',
        O_BLKIO_WEIGHT = 256,
        O_CPU_PERIOD,
        O_CPU_QUOTA,
        O_CPU_BURST,
        O_CPU_RT_PERIOD,
        O_CPU_RT_RUNTIME,
        O_CPU_SHARE,
        O_CPU_IDLE,
        O_CPUSET_CPUS,
        O_CPUSET_MEMS,
        O_KMEM,
        O_KMEM_TCP,
        O_MEMORY,
        O_MEMORY_RES,
        O_MEMORY_SWAP,
        O_PIDS_LIMIT,
        O_L3,
        O_MEMBW,
};

static const struct option opts[] = {
        {"resources", required_argument, NULL, O_RESOURCES},
        {"blkio-weight", required_argument, NULL, O_BLKIO_WEIGHT},
        {"cpu-period", required_argument, NULL, O_CPU_PERIOD},
        {"cpu-quota", required_argument, NULL, O_CPU_QUOTA},
        {"cpu-burst", required_argument, NULL, O_CPU_BURST},
        {"cpu-rt-period", required_argument, NULL, O_CPU_RT_PERIOD},
        {"cpu-rt-runtime", required_argument, NULL, O_CPU_RT_RUNTIME},
        {"cpu-share", required_argument, NULL, O_CPU_SHARE},
        {"cpu-shares", required_argument, NULL, O_CPU_SHARE},
        {"cpu-idle", required_argument, NULL, O_CPU_IDLE},
        {"cpuset-cpus", required_argument, NULL, O_CPUSET_CPUS},
        {"cpuset-mems", required_argument, NULL, O_CPUSET_MEMS},
        {"kernel-memory", required_argument, NULL, O_KMEM},
        {"kernel-memory-tcp", required_argument, NULL, O_KMEM_TCP},
        {"memory", required_argument, NULL, O_MEMORY},
        {"memory-reservation", required_argument, NULL, O_MEMORY_RES},
        {"memory-swap", required_argument, NULL, O_MEMORY_SWAP},
        {"pids-limit", required_argument, NULL, O_PIDS_LIMIT},
        {"l3-cache-schema", required_argument, NULL, O_L3},
        {"mem-bw-schema", required_argument, NULL, O_MEMBW},
        {0},
};

/* Which flag sets which key, and whether it takes a byte size. */
static const struct {
        int opt;
        const char *section, *key;
        char kind; /* 'i' integer, 'b' bytes (k/m/g suffixes), 's' string */
} flag_map[] = {
        {O_BLKIO_WEIGHT, "blockIO", "weight", 'i'},
        {O_CPU_PERIOD, "cpu", "period", 'i'},
        {O_CPU_QUOTA, "cpu", "quota", 'i'},
        {O_CPU_BURST, "cpu", "burst", 'i'},
        {O_CPU_RT_PERIOD, "cpu", "realtimePeriod", 'i'},
        {O_CPU_RT_RUNTIME, "cpu", "realtimeRuntime", 'i'},
        {O_CPU_SHARE, "cpu", "shares", 'i'},
        {O_CPU_IDLE, "cpu", "idle", 'i'},
        {O_CPUSET_CPUS, "cpu", "cpus", 's'},
        {O_CPUSET_MEMS, "cpu", "mems", 's'},
        {O_KMEM, "memory", "kernel", 'b'},
        {O_KMEM_TCP, "memory", "kernelTCP", 'b'},
        {O_MEMORY, "memory", "limit", 'b'},
        {O_MEMORY_RES, "memory", "reservation", 'b'},
        {O_MEMORY_SWAP, "memory", "swap", 'b'},
        {O_PIDS_LIMIT, "pids", "limit", 'i'},
};

/* "-1", "512", "100m", "2GiB", "1.5g" -> bytes (binary units, as docker). */
static int parse_bytes(const char *s, long long *out)
{
        char *end = NULL;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s)
                return -1;
        while (*end == ' ')
                end++;
        static const char units[] = "bkmgtp";
        const char *u = *end ? strchr(units, tolower((unsigned char)*end)) : units;
        if (!u)
                return -1;
        if (*end) {
                end++;
                if (*end == 'i' || *end == 'I')
                        end++;
                if (*end == 'b' || *end == 'B')
                        end++;
        }
        if (*end)
                return -1;
        for (const char *p = units; p < u; p++)
                v *= 1024;
        if (v < -1 || v > 9.2e18)
                return -1;
        *out = (long long)v;
        return 0;
}

static int parse_int(const char *s, long long *out)
{
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return -1;
        *out = v;
        return 0;
}

static const char *opt_name(int opt)
{
        for (const struct option *o = opts; o->name; o++)
                if (o->val == opt)
                        return o->name;
        return "?";
}

static json_t *section(json_t *res, const char *name)
{
        json_t *o = json_object_get(res, name);
        if (!o) {
                o = json_object();
                json_object_set_new(res, name, o);
        }
        return o;
}

static int apply_flag(json_t *res, int opt, const char *arg)
{
        for (size_t i = 0; i < ARRAY_SIZE(flag_map); i++) {
                if (flag_map[i].opt != opt)
                        continue;
                json_t *sec = section(res, flag_map[i].section);
                long long v;
                if (flag_map[i].kind == 's')
                        return json_object_set_new(sec, flag_map[i].key, json_string(arg));
                int r = flag_map[i].kind == 'b' ? parse_bytes(arg, &v) : parse_int(arg, &v);
                if (r < 0)
                        return nk_cmd_usage_error("update", "--%s: `%s` is not a %s", opt_name(opt),
                                                  arg, flag_map[i].kind == 'b' ? "size" : "number");
                return json_object_set_new(sec, flag_map[i].key, json_integer(v));
        }
        return nk_cmd_usage_error("update", "unsupported option");
}

static json_t *read_resources(const char *file, nk_error **err)
{
        json_error_t je;
        json_t *r = streq(file, "-") ? json_loadf(stdin, 0, &je) : json_load_file(file, 0, &je);
        if (!r)
                nk_error_set(err, 0, "--resources %s: line %d: %s", file, je.line, je.text);
        else if (!json_is_object(r)) {
                json_decref(r);
                r = NULL;
                nk_error_set(err, 0, "--resources %s: not a JSON object", file);
        }
        return r;
}

static int do_update(const struct nk_global *g, const char *id, json_t *delta)
{
        nk_error *err = NULL;
        struct nk_container *c = NULL;
        if (nk_container_open(g->root, id, NK_CONTAINER_LOCK, &c, &err) < 0)
                return nk_cmd_fail(err);
        int r = nk_container_update(c, delta, &err);
        nk_container_close(c);
        return r < 0 ? nk_cmd_fail(err) : 0;
}

int nk_cmd_update(const struct nk_global *g, int argc, char **argv)
{
        _cleanup_(json_decrefp) json_t *delta = json_object();
        const char *file = NULL;
        int c;
        while ((c = getopt_long_only(argc, argv, "+r:", opts, NULL)) != -1) {
                if (c == '?')
                        return 1;
                if (c == O_L3 || c == O_MEMBW)
                        return nk_cmd_usage_error("update", "Intel RDT is not supported");
                if (c == O_RESOURCES)
                        file = optarg;
                else if (apply_flag(delta, c, optarg) != 0)
                        return 1;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("update", "expects exactly one container ID");
        if (file) {
                nk_error *err = NULL;
                json_t *r = read_resources(file, &err);
                if (!r)
                        return nk_cmd_fail(err);
                /* Flags given with --resources win over the file, as in runc. */
                nk_resources_merge(r, delta);
                json_decref(delta);
                delta = r;
        }
        if (json_object_size(delta) == 0)
                return nk_cmd_usage_error("update", "nothing to update (see nook update --help)");
        return do_update(g, argv[optind], delta);
}
