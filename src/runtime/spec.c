/* config.json (OCI runtime-spec 1.2) -> struct nk_spec, validated.
 *
 * Everything is checked here, before the runtime touches the system, so a
 * bad bundle fails with one line naming the JSON path and the bad value.
 * JSON null counts as absent (Go-written configs emit it for nil slices);
 * unknown fields are ignored as the spec requires. */
#include "spec.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/parse.h"
#include "../util/strv.h"
#include "../util/syscalls.h"
#include "cgroup/cgroup.h"
#include "security.h"
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/ioprio.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define JP_MAX            256 /* JSON paths in messages are cut beyond this */
#define IDMAP_MAX_EXTENTS 340 /* kernel limit per uid_map/gid_map (>= 4.15) */
#define HOSTNAME_MAX      64  /* sethostname(2): __NEW_UTS_LEN */

/* Integers above INT64_MAX that jansson cannot hold (RLIM_INFINITY written
 * as 18446744073709551615 by podman --ulimit host) are rewritten before
 * parsing as their two's complement int64; only those values may appear
 * negative in uint64 fields. */
struct bigints {
        int64_t *v;
        size_t n;
};

/* ---- messages -------------------------------------------------------- */

static const char *jp_cut(char *buf, int r)
{
        if (r < 0 || r >= JP_MAX)
                strcpy(buf + JP_MAX - 4, "...");
        return buf;
}

static const char *jp_key(char *buf, const char *where, const char *key)
{
        return jp_cut(buf, snprintf(buf, JP_MAX, "%s%s%s", where, where[0] ? "." : "", key));
}

static const char *jp_idx(char *buf, const char *where, size_t i)
{
        return jp_cut(buf, snprintf(buf, JP_MAX, "%s[%zu]", where, i));
}

/* A value fit for a one-line message: control characters shown as '?',
 * long values cut. */
static char *msg_value_max(const char *s, size_t max)
{
        size_t n = strnlen(s, max);
        char *q = malloc(n + 4);
        if (!q)
                nk_oom();
        for (size_t i = 0; i < n; i++)
                q[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
        strcpy(q + n, s[n] ? "..." : "");
        return q;
}

static char *msg_value(const char *s)
{
        return msg_value_max(s, 120);
}

/* "<where>: <problem> "<value>"" */
static int fail_value(nk_error **err, const char *where, const char *problem, const char *value)
{
        _cleanup_free_ char *v = msg_value(value);
        return nk_error_set(err, 0, "%s: %s \"%s\"", where, problem, v);
}

static int fail_missing(nk_error **err, const char *where, const char *key)
{
        char p[JP_MAX];
        return nk_error_set(err, 0, "%s: missing required field", jp_key(p, where, key));
}

static int fail_range(nk_error **err, const char *where, int64_t v, int64_t min, int64_t max)
{
        return nk_error_set(err, 0, "%s: value %" PRId64 " out of range %" PRId64 "..%" PRId64,
                            where, v, min, max);
}

static char *json_describe(json_t *v)
{
        char *s = NULL;
        int r = 0;
        switch (json_typeof(v)) {
        case JSON_STRING: {
                _cleanup_free_ char *q = msg_value(json_string_value(v));
                r = asprintf(&s, "string \"%s\"", q);
                break;
        }
        case JSON_INTEGER:
                r = asprintf(&s, "integer %" JSON_INTEGER_FORMAT, json_integer_value(v));
                break;
        case JSON_REAL:
                r = asprintf(&s, "number %g", json_real_value(v));
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                r = asprintf(&s, "boolean %s", json_is_true(v) ? "true" : "false");
                break;
        case JSON_NULL:
                s = strdup("null");
                break;
        case JSON_OBJECT:
                s = strdup("object");
                break;
        case JSON_ARRAY:
                s = strdup("array");
                break;
        }
        if (r < 0 || !s)
                nk_oom();
        return s;
}

static int fail_type(nk_error **err, const char *where, const char *expected, json_t *v)
{
        _cleanup_free_ char *got = json_describe(v);
        return nk_error_set(err, 0, "%s: expected %s, got %s", where, expected, got);
}

/* ---- typed readers: value `v` at JSON path `p` ------------------------- */

/* obj[key], with null meaning absent. */
static json_t *get(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

static int as_string(json_t *v, const char *p, char **out, nk_error **err)
{
        if (!json_is_string(v))
                return fail_type(err, p, "string", v);
        char *s = strdup(json_string_value(v));
        if (!s)
                return nk_error_set(err, ENOMEM, "%s", p);
        free(*out);
        *out = s;
        return 0;
}

static int as_abs_path(json_t *v, const char *p, char **out, nk_error **err)
{
        if (!json_is_string(v))
                return fail_type(err, p, "string", v);
        if (json_string_value(v)[0] != '/')
                return fail_value(err, p, "not an absolute path", json_string_value(v));
        return as_string(v, p, out, err);
}

static int as_bool(json_t *v, const char *p, bool *out, nk_error **err)
{
        if (!json_is_boolean(v))
                return fail_type(err, p, "boolean", v);
        *out = json_is_true(v);
        return 0;
}

static int as_int(json_t *v, const char *p, int64_t min, int64_t max, int64_t *out, nk_error **err)
{
        if (!json_is_integer(v))
                return fail_type(err, p, "integer", v);
        int64_t n = json_integer_value(v);
        if (n < min || n > max)
                return fail_range(err, p, n, min, max);
        *out = n;
        return 0;
}

static int as_u32(json_t *v, const char *p, uint32_t *out, nk_error **err)
{
        int64_t n = 0;
        if (as_int(v, p, 0, UINT32_MAX, &n, err) < 0)
                return -1;
        *out = (uint32_t)n;
        return 0;
}

/* A uid or gid that reaches set*id(2) or chown(2): 0..2^31-1, since
 * (uid_t)-1 there means "unchanged" (see NK_ID_MAX). */
static int as_id(json_t *v, const char *p, uint32_t *out, nk_error **err)
{
        int64_t n = 0;
        if (as_int(v, p, 0, NK_ID_MAX, &n, err) < 0)
                return -1;
        *out = (uint32_t)n;
        return 0;
}

static int as_u64(json_t *v, const char *p, const struct bigints *big, uint64_t *out,
                  nk_error **err)
{
        if (!json_is_integer(v))
                return fail_type(err, p, "integer", v);
        int64_t n = json_integer_value(v);
        bool wrapped = false;
        for (size_t i = 0; n < 0 && big && i < big->n; i++)
                wrapped |= big->v[i] == n;
        if (n < 0 && !wrapped)
                return nk_error_set(err, 0, "%s: value %" PRId64 " out of range 0..%" PRIu64, p, n,
                                    UINT64_MAX);
        *out = (uint64_t)n;
        return 0;
}

/* Array of strings into a NULL-terminated vector. */
static int as_strv(json_t *v, const char *p, char ***out, nk_error **err)
{
        char ip[JP_MAX];
        if (!json_is_array(v))
                return fail_type(err, p, "array", v);
        size_t n = json_array_size(v);
        _cleanup_strv_ char **r = calloc(n + 1, sizeof(char *));
        if (!r)
                return nk_error_set(err, ENOMEM, "%s", p);
        for (size_t i = 0; i < n; i++)
                if (as_string(json_array_get(v, i), jp_idx(ip, p, i), &r[i], err) < 0)
                        return -1;
        nk_strv_free(*out);
        *out = TAKE_PTR(r);
        return 0;
}

static int as_abs_strv(json_t *v, const char *p, char ***out, nk_error **err)
{
        char ip[JP_MAX];
        if (as_strv(v, p, out, err) < 0)
                return -1;
        for (size_t i = 0; (*out)[i]; i++)
                if ((*out)[i][0] != '/')
                        return fail_value(err, jp_idx(ip, p, i), "not an absolute path", (*out)[i]);
        return 0;
}

/* ---- optional members of object `obj` at path `where` -------------------
 * Each returns 1 when read, 0 when absent (out untouched), -1 on error. */

static int opt_string(json_t *obj, const char *where, const char *key, char **out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_string(v, jp_key(p, where, key), out, err) < 0 ? -1 : 1;
}

static int req_string(json_t *obj, const char *where, const char *key, char **out, nk_error **err)
{
        int r = opt_string(obj, where, key, out, err);
        return r == 0 ? fail_missing(err, where, key) : r;
}

static int opt_bool(json_t *obj, const char *where, const char *key, bool *out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_bool(v, jp_key(p, where, key), out, err) < 0 ? -1 : 1;
}

static int opt_int(json_t *obj, const char *where, const char *key, int64_t min, int64_t max,
                   int64_t *out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_int(v, jp_key(p, where, key), min, max, out, err) < 0 ? -1 : 1;
}

static int opt_u32(json_t *obj, const char *where, const char *key, uint32_t *out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_u32(v, jp_key(p, where, key), out, err) < 0 ? -1 : 1;
}

static int opt_id(json_t *obj, const char *where, const char *key, uint32_t *out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_id(v, jp_key(p, where, key), out, err) < 0 ? -1 : 1;
}

static int opt_u64(json_t *obj, const char *where, const char *key, const struct bigints *big,
                   uint64_t *out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_u64(v, jp_key(p, where, key), big, out, err) < 0 ? -1 : 1;
}

static int opt_strv(json_t *obj, const char *where, const char *key, char ***out, nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_strv(v, jp_key(p, where, key), out, err) < 0 ? -1 : 1;
}

/* Member that must be an object (or array, with `array`). */
static int opt_container(json_t *obj, const char *where, const char *key, bool array, json_t **out,
                         nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        if (array ? !json_is_array(v) : !json_is_object(v))
                return fail_type(err, jp_key(p, where, key), array ? "array" : "object", v);
        *out = v;
        return 1;
}

#define opt_object(obj, where, key, out, err) opt_container(obj, where, key, false, out, err)
#define opt_array(obj, where, key, out, err)  opt_container(obj, where, key, true, out, err)

/* Allocate `n` zeroed elements for an array member; NULL when n == 0. */
static int alloc_items(size_t n, size_t size, void *out, const char *where, nk_error **err)
{
        void *p = n ? calloc(n, size) : NULL;
        if (n && !p)
                return nk_error_set(err, ENOMEM, "%s", where);
        *(void **)out = p;
        return 0;
}

/* ---- names ----------------------------------------------------------- */

static const struct {
        const char *oci, *proc;
        int flag;
} ns_names[NK_NS__COUNT] = {
        [NK_NS_MOUNT] = {"mount", "mnt", CLONE_NEWNS},
        [NK_NS_PID] = {"pid", "pid", CLONE_NEWPID},
        [NK_NS_NET] = {"network", "net", CLONE_NEWNET},
        [NK_NS_IPC] = {"ipc", "ipc", CLONE_NEWIPC},
        [NK_NS_UTS] = {"uts", "uts", CLONE_NEWUTS},
        [NK_NS_USER] = {"user", "user", CLONE_NEWUSER},
        [NK_NS_CGROUP] = {"cgroup", "cgroup", CLONE_NEWCGROUP},
        [NK_NS_TIME] = {"time", "time", CLONE_NEWTIME},
};

const char *nk_ns_oci_name(enum nk_ns_type t)
{
        return (unsigned)t < NK_NS__COUNT ? ns_names[t].oci : NULL;
}

const char *nk_ns_proc_name(enum nk_ns_type t)
{
        return (unsigned)t < NK_NS__COUNT ? ns_names[t].proc : NULL;
}

int nk_ns_clone_flag(enum nk_ns_type t)
{
        return (unsigned)t < NK_NS__COUNT ? ns_names[t].flag : 0;
}

int nk_ns_from_oci_name(const char *name)
{
        for (int t = 0; t < NK_NS__COUNT; t++)
                if (streq(ns_names[t].oci, name))
                        return t;
        return -1;
}

static const char *const hook_names[NK_HOOK__COUNT] = {
        [NK_HOOK_PRESTART] = "prestart",
        [NK_HOOK_CREATE_RUNTIME] = "createRuntime",
        [NK_HOOK_CREATE_CONTAINER] = "createContainer",
        [NK_HOOK_START_CONTAINER] = "startContainer",
        [NK_HOOK_POSTSTART] = "poststart",
        [NK_HOOK_POSTSTOP] = "poststop",
};

const char *nk_hook_kind_name(enum nk_hook_kind k)
{
        return (unsigned)k < NK_HOOK__COUNT ? hook_names[k] : NULL;
}

static const struct {
        const char *name;
        int resource;
} rlimit_names[] = {
        {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
        {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
        {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

int nk_rlimit_from_name(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(rlimit_names); i++)
                if (streq(rlimit_names[i].name, name))
                        return rlimit_names[i].resource;
        return -1;
}

struct name_value {
        const char *name;
        long value;
};

static long lookup(const struct name_value *t, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(t[i].name, name))
                        return t[i].value;
        return -1;
}

static const struct name_value sched_policies[] = {
        {"SCHED_OTHER", SCHED_OTHER},       {"SCHED_FIFO", SCHED_FIFO}, {"SCHED_RR", SCHED_RR},
        {"SCHED_BATCH", SCHED_BATCH},       {"SCHED_ISO", SCHED_ISO},   {"SCHED_IDLE", SCHED_IDLE},
        {"SCHED_DEADLINE", SCHED_DEADLINE},
};

static const struct name_value sched_flags[] = {
        {"SCHED_FLAG_RESET_ON_FORK", SCHED_FLAG_RESET_ON_FORK},
        {"SCHED_FLAG_RECLAIM", SCHED_FLAG_RECLAIM},
        {"SCHED_FLAG_DL_OVERRUN", SCHED_FLAG_DL_OVERRUN},
        {"SCHED_FLAG_KEEP_POLICY", SCHED_FLAG_KEEP_POLICY},
        {"SCHED_FLAG_KEEP_PARAMS", SCHED_FLAG_KEEP_PARAMS},
        {"SCHED_FLAG_UTIL_CLAMP_MIN", SCHED_FLAG_UTIL_CLAMP_MIN},
        {"SCHED_FLAG_UTIL_CLAMP_MAX", SCHED_FLAG_UTIL_CLAMP_MAX},
};

static const struct name_value ioprio_classes[] = {
        {"IOPRIO_CLASS_RT", IOPRIO_CLASS_RT},
        {"IOPRIO_CLASS_BE", IOPRIO_CLASS_BE},
        {"IOPRIO_CLASS_IDLE", IOPRIO_CLASS_IDLE},
};

static const struct name_value propagations[] = {
        {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
        {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
        {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
        {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static const struct name_value personality_domains[] = {
        {"LINUX", PER_LINUX},
        {"LINUX32", PER_LINUX32},
};

/* A string member looked up in a table: 1 found, 0 absent, -1 unknown. */
static int opt_name(json_t *obj, const char *where, const char *key, const struct name_value *t,
                    size_t n, const char *what, long *out, nk_error **err)
{
        char p[JP_MAX];
        _cleanup_free_ char *s = NULL;
        int r = opt_string(obj, where, key, &s, err);
        if (r <= 0)
                return r;
        long v = lookup(t, n, s);
        if (v < 0)
                return fail_value(err, jp_key(p, where, key), what, s);
        *out = v;
        return 1;
}

typedef int (*item_fn)(json_t *v, const char *p, void *item, const void *ctx, nk_error **err);

/* Array member `key` of objects, each parsed by fn into a new zeroed element
 * of `size` bytes. *items and *n are set before parsing so that a failure
 * midway leaves everything reachable for the free functions. */
static int opt_list(json_t *obj, const char *where, const char *key, size_t size, void *items,
                    size_t *n, item_fn fn, const void *ctx, nk_error **err)
{
        char p[JP_MAX], ip[JP_MAX];
        json_t *a = NULL;
        int r = opt_array(obj, where, key, &a, err);
        if (r <= 0)
                return r;
        jp_key(p, where, key);
        size_t count = json_array_size(a);
        if (alloc_items(count, size, items, p, err) < 0)
                return -1;
        *n = count;
        char *base = *(char **)items;
        for (size_t i = 0; i < count; i++) {
                json_t *v = json_array_get(a, i);
                jp_idx(ip, p, i);
                if (!json_is_object(v))
                        return fail_type(err, ip, "object", v);
                if (fn(v, ip, base + i * size, ctx, err) < 0)
                        return -1;
        }
        return 1;
}

/* ---- process --------------------------------------------------------- */

static int process_console_size(json_t *obj, const char *where, struct nk_process *p,
                                nk_error **err)
{
        char cp[JP_MAX];
        json_t *o = NULL;
        int64_t h = 0, w = 0;
        int r = opt_object(obj, where, "consoleSize", &o, err);
        if (r <= 0)
                return r;
        jp_key(cp, where, "consoleSize");
        /* struct winsize holds unsigned shorts */
        if ((r = opt_int(o, cp, "height", 0, USHRT_MAX, &h, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, cp, "height");
        if ((r = opt_int(o, cp, "width", 0, USHRT_MAX, &w, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, cp, "width");
        p->console_height = (unsigned)h;
        p->console_width = (unsigned)w;
        return 0;
}

static int process_basics(json_t *obj, const char *where, struct nk_process *p, nk_error **err)
{
        char ap[JP_MAX];
        json_t *v;
        int64_t n = 0;
        if (opt_bool(obj, where, "terminal", &p->terminal, err) < 0 ||
            process_console_size(obj, where, p, err) < 0)
                return -1;
        /* Linux: at least one argument (runtime-spec "args") */
        if (!(v = get(obj, "args")))
                return fail_missing(err, where, "args");
        if (as_strv(v, jp_key(ap, where, "args"), &p->args, err) < 0)
                return -1;
        if (!p->args[0])
                return nk_error_set(err, 0, "%s: must not be empty", ap);
        if (opt_strv(obj, where, "env", &p->env, err) < 0)
                return -1;
        if (!(v = get(obj, "cwd")))
                return fail_missing(err, where, "cwd");
        if (as_abs_path(v, jp_key(ap, where, "cwd"), &p->cwd, err) < 0)
                return -1;
        if (opt_string(obj, where, "apparmorProfile", &p->apparmor_profile, err) < 0 ||
            opt_string(obj, where, "selinuxLabel", &p->selinux_label, err) < 0 ||
            opt_bool(obj, where, "noNewPrivileges", &p->no_new_privileges, err) < 0)
                return -1;
        int r = opt_int(obj, where, "oomScoreAdj", -1000, 1000, &n, err);
        if (r < 0)
                return -1;
        p->has_oom_score_adj = r > 0;
        p->oom_score_adj = r > 0 ? (int)n : 0;
        return 0;
}

static int user_gids(json_t *o, const char *up, struct nk_user *u, nk_error **err)
{
        char gp[JP_MAX], ip[JP_MAX];
        json_t *a = NULL;
        int r = opt_array(o, up, "additionalGids", &a, err);
        if (r <= 0)
                return r;
        jp_key(gp, up, "additionalGids");
        size_t n = json_array_size(a);
        if (n > NGROUPS_MAX) /* setgroups(2) limit */
                return nk_error_set(err, 0, "%s: %zu groups, at most %d allowed", gp, n,
                                    NGROUPS_MAX);
        if (alloc_items(n, sizeof(gid_t), &u->additional_gids, gp, err) < 0)
                return -1;
        u->n_additional_gids = n;
        for (size_t i = 0; i < n; i++) {
                uint32_t g;
                if (as_id(json_array_get(a, i), jp_idx(ip, gp, i), &g, err) < 0)
                        return -1;
                u->additional_gids[i] = g;
        }
        return 0;
}

static int process_user(json_t *obj, const char *where, struct nk_user *u, nk_error **err)
{
        char up[JP_MAX];
        json_t *o = NULL;
        uint32_t uid = 0, gid = 0;
        int64_t mask = 0;
        /* Required on Linux by the runtime spec: a missing or misspelled
         * user (or uid/gid) must not quietly mean root. */
        int r = opt_object(obj, where, "user", &o, err);
        if (r <= 0)
                return r < 0 ? -1 : fail_missing(err, where, "user");
        jp_key(up, where, "user");
        if ((r = opt_id(o, up, "uid", &uid, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, up, "uid");
        if ((r = opt_id(o, up, "gid", &gid, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, up, "gid");
        u->uid = uid;
        u->gid = gid;
        if ((r = opt_int(o, up, "umask", 0, 0777, &mask, err)) < 0)
                return -1;
        u->has_umask = r > 0;
        u->umask = r > 0 ? (mode_t)mask : 0;
        if (user_gids(o, up, u, err) < 0 || opt_string(o, up, "username", &u->username, err) < 0)
                return -1;
        return 0;
}

static int parse_rlimit(json_t *v, const char *p, void *item, const void *ctx, nk_error **err)
{
        struct nk_rlimit *rl = item;
        char tp[JP_MAX];
        int r;
        if (req_string(v, p, "type", &rl->name, err) < 0)
                return -1;
        rl->resource = nk_rlimit_from_name(rl->name);
        if (rl->resource < 0)
                return fail_value(err, jp_key(tp, p, "type"), "unknown rlimit", rl->name);
        /* -1 is RLIM_INFINITY too: a spec built with jansson (the engine's)
         * cannot write 18446744073709551615 */
        json_t *sv = get(v, "soft"), *hv = get(v, "hard");
        if (json_is_integer(sv) && json_integer_value(sv) == -1)
                rl->soft = RLIM_INFINITY;
        else if ((r = opt_u64(v, p, "soft", ctx, &rl->soft, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, p, "soft");
        if (json_is_integer(hv) && json_integer_value(hv) == -1)
                rl->hard = RLIM_INFINITY;
        else if ((r = opt_u64(v, p, "hard", ctx, &rl->hard, err)) <= 0)
                return r < 0 ? -1 : fail_missing(err, p, "hard");
        if (rl->soft > rl->hard) /* setrlimit(2) fails with EINVAL */
                return nk_error_set(err, 0, "%s: soft limit %" PRIu64 " above hard limit %" PRIu64,
                                    p, rl->soft, rl->hard);
        return 0;
}

static int process_rlimits(json_t *obj, const char *where, const struct bigints *big,
                           struct nk_process *p, nk_error **err)
{
        char tp[JP_MAX];
        if (opt_list(obj, where, "rlimits", sizeof(struct nk_rlimit), &p->rlimits, &p->n_rlimits,
                     parse_rlimit, big, err) < 0)
                return -1;
        /* runtime-spec: duplicated types are an error */
        for (size_t i = 0; i < p->n_rlimits; i++)
                for (size_t j = 0; j < i; j++)
                        if (p->rlimits[i].resource == p->rlimits[j].resource) {
                                char rp[JP_MAX], ip[JP_MAX];
                                jp_key(tp, jp_idx(ip, jp_key(rp, where, "rlimits"), i), "type");
                                return fail_value(err, tp, "duplicate rlimit", p->rlimits[i].name);
                        }
        return 0;
}

static const char *const cap_set_names[NK_CAP__COUNT] = {
        [NK_CAP_BOUNDING] = "bounding",       [NK_CAP_EFFECTIVE] = "effective",
        [NK_CAP_INHERITABLE] = "inheritable", [NK_CAP_PERMITTED] = "permitted",
        [NK_CAP_AMBIENT] = "ambient",
};

static int cap_set(json_t *o, const char *cp, int set, uint64_t *out, nk_error **err)
{
        char sp[JP_MAX], ip[JP_MAX];
        json_t *a = NULL;
        if (opt_array(o, cp, cap_set_names[set], &a, err) < 0)
                return -1;
        jp_key(sp, cp, cap_set_names[set]);
        for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *v = json_array_get(a, i);
                jp_idx(ip, sp, i);
                if (!json_is_string(v))
                        return fail_type(err, ip, "string", v);
                int c = nk_cap_from_name(json_string_value(v));
                if (c < 0)
                        return fail_value(err, ip, "unknown capability", json_string_value(v));
                *out |= UINT64_C(1) << c;
        }
        return 0;
}

static int process_caps(json_t *obj, const char *where, struct nk_process *p, nk_error **err)
{
        char cp[JP_MAX];
        json_t *o = NULL;
        int r = opt_object(obj, where, "capabilities", &o, err);
        if (r <= 0)
                return r;
        jp_key(cp, where, "capabilities");
        p->has_caps = true;
        for (int s = 0; s < NK_CAP__COUNT; s++)
                if (cap_set(o, cp, s, &p->caps[s], err) < 0)
                        return -1;
        return 0;
}

static int process_io_priority(json_t *obj, const char *where, struct nk_process *p, nk_error **err)
{
        char ip[JP_MAX];
        json_t *o = NULL;
        long cls = 0;
        int64_t prio = 0;
        int r = opt_object(obj, where, "ioPriority", &o, err);
        if (r <= 0)
                return r;
        jp_key(ip, where, "ioPriority");
        r = opt_name(o, ip, "class", ioprio_classes, ARRAY_SIZE(ioprio_classes),
                     "unknown ioPriority class", &cls, err);
        if (r <= 0)
                return r < 0 ? -1 : fail_missing(err, ip, "class");
        /* ioprio_set(2): levels 0 (highest) to 7 */
        if (opt_int(o, ip, "priority", 0, 7, &prio, err) < 0)
                return -1;
        p->has_io_priority = true;
        p->io_priority_class = (int)cls;
        p->io_priority = (int)prio;
        return 0;
}

static int sched_flags_parse(json_t *o, const char *sp, uint64_t *out, nk_error **err)
{
        char fp[JP_MAX], ip[JP_MAX];
        _cleanup_strv_ char **flags = NULL;
        if (opt_strv(o, sp, "flags", &flags, err) < 0)
                return -1;
        jp_key(fp, sp, "flags");
        for (size_t i = 0; flags && flags[i]; i++) {
                long f = lookup(sched_flags, ARRAY_SIZE(sched_flags), flags[i]);
                if (f < 0)
                        return fail_value(err, jp_idx(ip, fp, i), "unknown scheduler flag",
                                          flags[i]);
                *out |= (uint64_t)f;
        }
        return 0;
}

/* What sched_setattr(2) would refuse, said before anything runs. */
static int sched_check(const struct nk_process *p, const char *sp, const char *policy,
                       nk_error **err)
{
        char pp[JP_MAX];
        bool rt = p->sched_policy == SCHED_FIFO || p->sched_policy == SCHED_RR;
        jp_key(pp, sp, "priority");
        if (rt && (p->sched_priority < 1 || p->sched_priority > 99))
                return fail_range(err, pp, p->sched_priority, 1, 99);
        if (!rt && p->sched_priority != 0)
                return nk_error_set(err, 0, "%s: must be 0 for %s, got %d", pp, policy,
                                    p->sched_priority);
        if (p->sched_policy == SCHED_DEADLINE &&
            (p->sched_runtime == 0 || p->sched_runtime > p->sched_deadline ||
             (p->sched_period && p->sched_deadline > p->sched_period)))
                return nk_error_set(err, 0,
                                    "%s: SCHED_DEADLINE needs 0 < runtime <= deadline <= period, "
                                    "got runtime %" PRIu64 " deadline %" PRIu64 " period %" PRIu64,
                                    sp, p->sched_runtime, p->sched_deadline, p->sched_period);
        return 0;
}

static int process_scheduler(json_t *obj, const char *where, const struct bigints *big,
                             struct nk_process *p, nk_error **err)
{
        char sp[JP_MAX];
        _cleanup_free_ char *policy = NULL;
        json_t *o = NULL;
        int64_t nice = 0, prio = 0;
        int r = opt_object(obj, where, "scheduler", &o, err);
        if (r <= 0)
                return r;
        jp_key(sp, where, "scheduler");
        if (req_string(o, sp, "policy", &policy, err) < 0)
                return -1;
        long pol = lookup(sched_policies, ARRAY_SIZE(sched_policies), policy);
        if (pol < 0) {
                char pp[JP_MAX];
                return fail_value(err, jp_key(pp, sp, "policy"), "unknown scheduler policy",
                                  policy);
        }
        if (opt_int(o, sp, "nice", -20, 19, &nice, err) < 0 ||
            opt_int(o, sp, "priority", INT32_MIN, INT32_MAX, &prio, err) < 0 ||
            sched_flags_parse(o, sp, &p->sched_flags, err) < 0 ||
            opt_u64(o, sp, "runtime", big, &p->sched_runtime, err) < 0 ||
            opt_u64(o, sp, "deadline", big, &p->sched_deadline, err) < 0 ||
            opt_u64(o, sp, "period", big, &p->sched_period, err) < 0)
                return -1;
        p->has_scheduler = true;
        p->sched_policy = (int)pol;
        p->sched_nice = (int)nice;
        p->sched_priority = (int)prio;
        return sched_check(p, sp, policy, err);
}

/* A cpuset list as in cpuset(7): "0-3,8,10-11" (util/parse.c, the parser
 * the init applies it with). */
static bool cpu_list_valid(const char *s)
{
        return nk_parse_cpu_list(s, NULL) == 0;
}

static int process_cpu_affinity(json_t *obj, const char *where, struct nk_process *p,
                                nk_error **err)
{
        char ap[JP_MAX], kp[JP_MAX];
        json_t *o = NULL;
        int r = opt_object(obj, where, "execCPUAffinity", &o, err);
        if (r <= 0)
                return r;
        jp_key(ap, where, "execCPUAffinity");
        if (opt_string(o, ap, "initial", &p->exec_cpu_affinity_initial, err) < 0 ||
            opt_string(o, ap, "final", &p->exec_cpu_affinity_final, err) < 0)
                return -1;
        if (p->exec_cpu_affinity_initial && !cpu_list_valid(p->exec_cpu_affinity_initial))
                return fail_value(err, jp_key(kp, ap, "initial"), "invalid CPU list",
                                  p->exec_cpu_affinity_initial);
        if (p->exec_cpu_affinity_final && !cpu_list_valid(p->exec_cpu_affinity_final))
                return fail_value(err, jp_key(kp, ap, "final"), "invalid CPU list",
                                  p->exec_cpu_affinity_final);
        return 0;
}

static int process_parse(json_t *obj, const char *where, const struct bigints *big,
                         struct nk_process *out, nk_error **err)
{
        struct nk_process p = {0};
        if (!json_is_object(obj))
                return fail_type(err, where[0] ? where : "top level", "object", obj);
        if (process_basics(obj, where, &p, err) < 0 || process_user(obj, where, &p.user, err) < 0 ||
            process_rlimits(obj, where, big, &p, err) < 0 ||
            process_caps(obj, where, &p, err) < 0 || process_io_priority(obj, where, &p, err) < 0 ||
            process_scheduler(obj, where, big, &p, err) < 0 ||
            process_cpu_affinity(obj, where, &p, err) < 0) {
                nk_process_clear(&p);
                return -1;
        }
        *out = p;
        return 0;
}

int nk_process_parse(json_t *obj, const char *where, struct nk_process *out, nk_error **err)
{
        return process_parse(obj, where ? where : "process", NULL, out, err);
}

/* ---- id mappings --------------------------------------------------------- */

static int parse_idmap(json_t *v, const char *p, void *item, const void *ctx, nk_error **err)
{
        static const char *const keys[] = {"containerID", "hostID", "size"};
        struct nk_idmap *m = item;
        uint32_t *fields[] = {&m->container_id, &m->host_id, &m->size};
        char sp[JP_MAX];
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                int r = opt_u32(v, p, keys[i], fields[i], err);
                if (r <= 0)
                        return r < 0 ? -1 : fail_missing(err, p, keys[i]);
        }
        if (m->size == 0)
                return fail_range(err, jp_key(sp, p, "size"), 0, 1, UINT32_MAX);
        /* 4294967295 is (uid_t)-1, never a valid id: the kernel refuses a
         * range that reaches it (user_namespaces(7)). */
        if ((uint64_t)m->container_id + m->size > UINT32_MAX)
                return nk_error_set(err, 0, "%s: containerID %u + size %u reaches past id %u", p,
                                    m->container_id, m->size, UINT32_MAX - 1);
        if ((uint64_t)m->host_id + m->size > UINT32_MAX)
                return nk_error_set(err, 0, "%s: hostID %u + size %u reaches past id %u", p,
                                    m->host_id, m->size, UINT32_MAX - 1);
        return 0;
}

static bool ranges_overlap(uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
        return (uint64_t)a < (uint64_t)b + bn && (uint64_t)b < (uint64_t)a + an;
}

/* user_namespaces(7): at most 340 lines, and ranges may not overlap on
 * either side, or the write to uid_map fails with EINVAL. */
static int parse_idmaps(json_t *obj, const char *where, const char *key, struct nk_idmap **maps,
                        size_t *n, nk_error **err)
{
        char p[JP_MAX];
        if (opt_list(obj, where, key, sizeof(struct nk_idmap), maps, n, parse_idmap, NULL, err) < 0)
                return -1;
        jp_key(p, where, key);
        if (*n > IDMAP_MAX_EXTENTS)
                return nk_error_set(err, 0, "%s: %zu ranges, the kernel takes at most %d", p, *n,
                                    IDMAP_MAX_EXTENTS);
        const struct nk_idmap *m = *maps;
        for (size_t i = 0; i < *n; i++)
                for (size_t j = 0; j < i; j++) {
                        const char *side = NULL;
                        if (ranges_overlap(m[i].container_id, m[i].size, m[j].container_id,
                                           m[j].size))
                                side = "containerID";
                        else if (ranges_overlap(m[i].host_id, m[i].size, m[j].host_id, m[j].size))
                                side = "hostID";
                        if (side)
                                return nk_error_set(err, 0, "%s[%zu]: %s range overlaps %s[%zu]", p,
                                                    i, side, p, j);
                }
        return 0;
}

/* ---- mounts, hooks -------------------------------------------------------- */

static int mount_idmaps(json_t *v, const char *p, struct nk_mount *m, nk_error **err)
{
        if (parse_idmaps(v, p, "uidMappings", &m->uid_mappings, &m->n_uid_mappings, err) < 0 ||
            parse_idmaps(v, p, "gidMappings", &m->gid_mappings, &m->n_gid_mappings, err) < 0)
                return -1;
        if (!m->n_uid_mappings && !m->n_gid_mappings)
                return 0;
        if (!m->n_uid_mappings || !m->n_gid_mappings)
                return nk_error_set(err, 0,
                                    "%s: uidMappings and gidMappings must be given together", p);
        /* mappings alone ask for an id-mapped mount, as in runc */
        m->idmap = true;
        return 0;
}

/* Whether an absolute path names /proc once "." and ".." are folded. */
static bool is_proc_path(const char *path)
{
        int depth = 0;
        bool top_is_proc = false; /* the component at depth 1 */
        for (const char *c = path; *c;) {
                while (*c == '/')
                        c++;
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        depth = depth > 0 ? depth - 1 : 0;
                else if (n > 0 && !(n == 1 && c[0] == '.') && ++depth == 1)
                        top_is_proc = n == 4 && strncmp(c, "proc", 4) == 0;
                c += n;
        }
        return depth == 1 && top_is_proc;
}

/* Only proc may cover /proc (a bind mount is checked to be procfs when it
 * is made): anything else there leaves maskedPaths and readonlyPaths
 * under /proc with nothing to act on, silently. */
static int check_proc_mount(const struct nk_mount *m, const char *p, nk_error **err)
{
        if (!is_proc_path(m->destination) || m->bind || (m->type && streq(m->type, "proc")))
                return 0;
        _cleanup_free_ char *t = msg_value(m->type ? m->type : "");
        return nk_error_set(err, 0, "%s: only proc may be mounted at /proc, got type \"%s\"", p, t);
}

static int parse_mount(json_t *v, const char *p, void *item, const void *ctx, nk_error **err)
{
        struct nk_mount *m = item;
        char dp[JP_MAX];
        json_t *d = get(v, "destination");
        if (!d)
                return fail_missing(err, p, "destination");
        if (as_abs_path(d, jp_key(dp, p, "destination"), &m->destination, err) < 0 ||
            opt_string(v, p, "source", &m->source, err) < 0 ||
            opt_string(v, p, "type", &m->type, err) < 0 ||
            opt_strv(v, p, "options", &m->options, err) < 0 ||
            nk_mount_parse_options(m, p, err) < 0 || mount_idmaps(v, p, m, err) < 0)
                return -1;
        if (m->bind && (!m->source || !m->source[0]))
                return fail_missing(err, p, "source");
        return check_proc_mount(m, p, err);
}

static int parse_hook(json_t *v, const char *p, void *item, const void *ctx, nk_error **err)
{
        struct nk_hook *h = item;
        char pp[JP_MAX];
        int64_t t = 0;
        json_t *path = get(v, "path");
        if (!path)
                return fail_missing(err, p, "path");
        /* runtime-spec: timeout, if set, MUST be greater than zero */
        if (as_abs_path(path, jp_key(pp, p, "path"), &h->path, err) < 0 ||
            opt_strv(v, p, "args", &h->args, err) < 0 || opt_strv(v, p, "env", &h->env, err) < 0 ||
            opt_int(v, p, "timeout", 1, INT_MAX, &t, err) < 0)
                return -1;
        h->timeout = (int)t;
        return 0;
}

static int parse_hooks(json_t *top, struct nk_spec *s, nk_error **err)
{
        json_t *o = NULL;
        int r = opt_object(top, "", "hooks", &o, err);
        if (r <= 0)
                return r;
        for (int k = 0; k < NK_HOOK__COUNT; k++)
                if (opt_list(o, "hooks", hook_names[k], sizeof(struct nk_hook), &s->hooks[k],
                             &s->n_hooks[k], parse_hook, NULL, err) < 0)
                        return -1;
        return 0;
}

/* ---- linux ------------------------------------------------------------- */

static int parse_namespace(json_t *v, const char *p, struct nk_spec *s, nk_error **err)
{
        char tp[JP_MAX];
        _cleanup_free_ char *type = NULL;
        if (!json_is_object(v))
                return fail_type(err, p, "object", v);
        if (req_string(v, p, "type", &type, err) < 0)
                return -1;
        int t = nk_ns_from_oci_name(type);
        jp_key(tp, p, "type");
        if (t < 0)
                return fail_value(err, tp, "unknown namespace", type);
        if (s->ns[t].present)
                return fail_value(err, tp, "duplicate namespace", type);
        s->ns[t].present = true;
        json_t *path = get(v, "path");
        /* an empty path means a new namespace (Go omits it; runc agrees) */
        if (json_is_string(path) && !json_string_value(path)[0])
                return 0;
        if (path && as_abs_path(path, jp_key(tp, p, "path"), &s->ns[t].path, err) < 0)
                return -1;
        return 0;
}

static int parse_namespaces(json_t *l, struct nk_spec *s, nk_error **err)
{
        char ip[JP_MAX];
        json_t *a = NULL;
        if (opt_array(l, "linux", "namespaces", &a, err) < 0)
                return -1;
        for (size_t i = 0; i < json_array_size(a); i++)
                if (parse_namespace(json_array_get(a, i), jp_idx(ip, "linux.namespaces", i), s,
                                    err) < 0)
                        return -1;
        return 0;
}

static int device_numbers(json_t *v, const char *p, struct nk_device *d, nk_error **err)
{
        /* mknod(2) takes the kernel's 32-bit dev_t: 12 bits of major, 20 of minor */
        int rmaj = opt_int(v, p, "major", 0, 4095, &d->major, err);
        if (rmaj < 0)
                return -1;
        int rmin = opt_int(v, p, "minor", 0, (1 << 20) - 1, &d->minor, err);
        if (rmin < 0)
                return -1;
        if (d->type != 'p' && !rmaj)
                return fail_missing(err, p, "major");
        if (d->type != 'p' && !rmin)
                return fail_missing(err, p, "minor");
        return 0;
}

static int device_mode_owner(json_t *v, const char *p, struct nk_device *d, nk_error **err)
{
        char mp[JP_MAX];
        int64_t mode = 0;
        uint32_t id = 0;
        int r = opt_int(v, p, "fileMode", 0, 0177777, &mode, err);
        if (r < 0)
                return -1;
        mode_t want = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
        /* permission bits, optionally with the file type bits of this type */
        if (r > 0 && (mode & S_IFMT) && (mode & S_IFMT) != want)
                return nk_error_set(err, 0,
                                    "%s: file type bits 0%" PRIo64 " do not match type \"%c\"",
                                    jp_key(mp, p, "fileMode"), mode & S_IFMT, d->type);
        d->has_mode = r > 0;
        d->file_mode = (mode_t)(mode & 07777);
        if ((r = opt_id(v, p, "uid", &id, err)) < 0)
                return -1;
        d->has_uid = r > 0;
        d->uid = id;
        if ((r = opt_id(v, p, "gid", &id, err)) < 0)
                return -1;
        d->has_gid = r > 0;
        d->gid = id;
        return 0;
}

static int parse_device(json_t *v, const char *p, void *item, const void *ctx, nk_error **err)
{
        struct nk_device *d = item;
        char tp[JP_MAX];
        _cleanup_free_ char *type = NULL;
        if (req_string(v, p, "type", &type, err) < 0)
                return -1;
        if (strlen(type) != 1 || !strchr("cbup", type[0]))
                return fail_value(err, jp_key(tp, p, "type"), "invalid device type", type);
        d->type = type[0];
        json_t *path = get(v, "path");
        if (!path)
                return fail_missing(err, p, "path");
        if (as_abs_path(path, jp_key(tp, p, "path"), &d->path, err) < 0 ||
            device_numbers(v, p, d, err) < 0 || device_mode_owner(v, p, d, err) < 0)
                return -1;
        return 0;
}

static int parse_time_offsets(json_t *l, struct nk_spec *s, nk_error **err)
{
        const char *where = "linux.timeOffsets", *clock;
        json_t *o = NULL, *v;
        int r = opt_object(l, "linux", "timeOffsets", &o, err);
        if (r <= 0)
                return r;
        json_object_foreach (o, clock, v) {
                char cp[JP_MAX];
                int64_t secs = 0, ns = 0;
                jp_key(cp, where, clock);
                if (!json_is_object(v))
                        return fail_type(err, cp, "object", v);
                /* time_namespaces(7): |offset| up to KTIME_SEC_MAX, nanoseconds < 1e9 */
                if (opt_int(v, cp, "secs", -9223372036LL, 9223372036LL, &secs, err) < 0 ||
                    opt_int(v, cp, "nanosecs", 0, 999999999, &ns, err) < 0)
                        return -1;
                if (streq(clock, "monotonic")) {
                        s->monotonic_secs = secs;
                        s->monotonic_nsecs = (uint32_t)ns;
                } else if (streq(clock, "boottime")) {
                        s->boottime_secs = secs;
                        s->boottime_nsecs = (uint32_t)ns;
                } else {
                        return fail_value(err, where, "unknown clock", clock);
                }
                s->has_time_offsets = true;
        }
        return 0;
}

static int parse_sysctl(json_t *l, struct nk_spec *s, nk_error **err)
{
        const char *where = "linux.sysctl", *key;
        json_t *o = NULL, *v;
        size_t i = 0;
        int r = opt_object(l, "linux", "sysctl", &o, err);
        if (r <= 0)
                return r;
        if (alloc_items(json_object_size(o), sizeof(struct nk_sysctl), &s->sysctl, where, err) < 0)
                return -1;
        json_object_foreach (o, key, v) {
                char kp[JP_MAX];
                struct nk_sysctl *sc = &s->sysctl[i];
                s->n_sysctl = ++i;
                if (as_string(v, jp_key(kp, where, key), &sc->value, err) < 0)
                        return -1;
                if (!(sc->key = strdup(key)))
                        return nk_error_set(err, ENOMEM, "%s", kp);
        }
        return 0;
}

static int parse_personality(json_t *l, struct nk_spec *s, nk_error **err)
{
        const char *where = "linux.personality";
        json_t *o = NULL, *flags = NULL;
        long dom = 0;
        int r = opt_object(l, "linux", "personality", &o, err);
        if (r <= 0)
                return r;
        r = opt_name(o, where, "domain", personality_domains, ARRAY_SIZE(personality_domains),
                     "unknown personality domain", &dom, err);
        if (r <= 0)
                return r < 0 ? -1 : fail_missing(err, where, "domain");
        if (opt_array(o, where, "flags", &flags, err) < 0)
                return -1;
        /* runtime-spec 1.2: "Currently no flag values are supported." */
        if (json_array_size(flags) > 0) {
                json_t *f = json_array_get(flags, 0);
                if (!json_is_string(f))
                        return fail_type(err, "linux.personality.flags[0]", "string", f);
                return fail_value(err, "linux.personality.flags[0]", "unsupported personality flag",
                                  json_string_value(f));
        }
        s->has_personality = true;
        s->personality = (unsigned long)dom;
        return 0;
}

static int opt_abs_strv(json_t *obj, const char *where, const char *key, char ***out,
                        nk_error **err)
{
        char p[JP_MAX];
        json_t *v = get(obj, key);
        if (!v)
                return 0;
        return as_abs_strv(v, jp_key(p, where, key), out, err);
}

/* resources and seccomp stay JSON; their own modules check them. */
static int parse_linux_json(json_t *l, struct nk_spec *s, nk_error **err)
{
        if (opt_object(l, "linux", "resources", &s->resources, err) < 0 ||
            opt_object(l, "linux", "seccomp", &s->seccomp, err) < 0)
                return -1;
        if (s->resources && nk_cgroup_validate_resources(s->resources, "linux.resources", err) < 0)
                return -1;
        if (s->seccomp && nk_seccomp_validate(s->seccomp, "linux.seccomp", err) < 0)
                return -1;
        return 0;
}

static int parse_linux(json_t *top, struct nk_spec *s, nk_error **err)
{
        json_t *l = NULL;
        long prop = 0;
        int r = opt_object(top, "", "linux", &l, err);
        if (r <= 0)
                return r;
        if (parse_namespaces(l, s, err) < 0 ||
            parse_idmaps(l, "linux", "uidMappings", &s->uid_mappings, &s->n_uid_mappings, err) <
                    0 ||
            parse_idmaps(l, "linux", "gidMappings", &s->gid_mappings, &s->n_gid_mappings, err) <
                    0 ||
            parse_time_offsets(l, s, err) < 0 ||
            opt_list(l, "linux", "devices", sizeof(struct nk_device), &s->devices, &s->n_devices,
                     parse_device, NULL, err) < 0 ||
            opt_string(l, "linux", "cgroupsPath", &s->cgroups_path, err) < 0 ||
            parse_linux_json(l, s, err) < 0 || parse_sysctl(l, s, err) < 0 ||
            opt_name(l, "linux", "rootfsPropagation", propagations, ARRAY_SIZE(propagations),
                     "unknown propagation", &prop, err) < 0 ||
            opt_abs_strv(l, "linux", "maskedPaths", &s->masked_paths, err) < 0 ||
            opt_abs_strv(l, "linux", "readonlyPaths", &s->readonly_paths, err) < 0 ||
            opt_string(l, "linux", "mountLabel", &s->mount_label, err) < 0 ||
            parse_personality(l, s, err) < 0)
                return -1;
        s->rootfs_propagation = (unsigned long)prop;
        return 0;
}

/* ---- checks across fields ------------------------------------------------ */

static int check_user_ns(const struct nk_spec *s, nk_error **err)
{
        const struct nk_namespace *u = &s->ns[NK_NS_USER];
        if (!u->present && s->n_uid_mappings)
                return nk_error_set(err, 0,
                                    "linux.uidMappings: no user namespace in linux.namespaces");
        if (!u->present && s->n_gid_mappings)
                return nk_error_set(err, 0,
                                    "linux.gidMappings: no user namespace in linux.namespaces");
        /* a new user namespace is useless (every id is nobody) without maps;
         * a joined one already has them */
        if (u->present && !u->path && !s->n_uid_mappings)
                return nk_error_set(err, 0,
                                    "linux.uidMappings: missing, required by a new user namespace");
        if (u->present && !u->path && !s->n_gid_mappings)
                return nk_error_set(err, 0,
                                    "linux.gidMappings: missing, required by a new user namespace");
        return 0;
}

/* The namespace a sysctl belongs to; -1 when it is host-wide, -2 when the
 * name is malformed (empty component: "a..b", "/a", "a/../b"). Both '.' and
 * '/' separate components, as in sysctl(8). */
int nk_spec_sysctl_ns(const char *key)
{
        static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                          "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                          "kernel.shmmni", "kernel.shm_rmid_forced"};
        _cleanup_free_ char *k = strdup(key);
        if (!k)
                nk_oom();
        for (char *c = k; *c; c++)
                if (*c == '/')
                        *c = '.';
        if (!k[0] || k[0] == '.' || k[strlen(k) - 1] == '.' || strstr(k, ".."))
                return -2;
        if (strncmp(k, "net.", 4) == 0)
                return NK_NS_NET;
        if (streq(k, "kernel.hostname") || streq(k, "kernel.domainname"))
                return NK_NS_UTS;
        if (strncmp(k, "fs.mqueue.", 10) == 0)
                return NK_NS_IPC;
        for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
                if (streq(k, ipc[i]))
                        return NK_NS_IPC;
        return -1;
}

static int check_sysctl(const struct nk_spec *s, nk_error **err)
{
        for (size_t i = 0; i < s->n_sysctl; i++) {
                const char *key = s->sysctl[i].key;
                int t = nk_spec_sysctl_ns(key);
                if (t == -2)
                        return fail_value(err, "linux.sysctl", "invalid sysctl name", key);
                if (t == -1)
                        return fail_value(err, "linux.sysctl", "host-wide sysctl not allowed", key);
                if (!s->ns[t].present) {
                        _cleanup_free_ char *v = msg_value(key);
                        return nk_error_set(
                                err, 0,
                                "linux.sysctl: no %s namespace in linux.namespaces for \"%s\"",
                                nk_ns_oci_name(t), v);
                }
        }
        return 0;
}

static int check_cross(const struct nk_spec *s, nk_error **err)
{
        if (check_user_ns(s, err) < 0 || check_sysctl(s, err) < 0)
                return -1;
        if (s->hostname && !s->ns[NK_NS_UTS].present)
                return fail_value(err, "hostname", "no uts namespace in linux.namespaces for",
                                  s->hostname);
        if (s->domainname && !s->ns[NK_NS_UTS].present)
                return fail_value(err, "domainname", "no uts namespace in linux.namespaces for",
                                  s->domainname);
        /* offsets can only be written before any process joins the namespace */
        if (s->has_time_offsets && !s->ns[NK_NS_TIME].present)
                return nk_error_set(err, 0,
                                    "linux.timeOffsets: no time namespace in linux.namespaces");
        if (s->has_time_offsets && s->ns[NK_NS_TIME].path)
                return nk_error_set(err, 0,
                                    "linux.timeOffsets: cannot be set on a joined time namespace");
        return 0;
}

/* ---- top level ------------------------------------------------------- */

/* "1.MINOR.PATCH[-pre][+build]": configs of any 1.x are compatible with a
 * 1.2 runtime (runtime-spec "Specification version"). */
static bool version_ok(const char *v)
{
        if (v[0] != '1' || v[1] != '.' || !isdigit((unsigned char)v[2]))
                return false;
        const char *end = v + 2 + strspn(v + 2, "0123456789"); /* MINOR */
        if (*end != '.' || !isdigit((unsigned char)end[1]))
                return false;
        end += 1 + strspn(end + 1, "0123456789"); /* PATCH */
        return !*end || *end == '-' || *end == '+';
}

static int parse_version_root(json_t *top, struct nk_spec *s, nk_error **err)
{
        json_t *o = NULL;
        if (req_string(top, "", "ociVersion", &s->oci_version, err) < 0)
                return -1;
        if (!version_ok(s->oci_version))
                return fail_value(err, "ociVersion", "unsupported version", s->oci_version);
        int r = opt_object(top, "", "root", &o, err);
        if (r <= 0)
                return r < 0 ? -1 : fail_missing(err, "", "root");
        if (req_string(o, "root", "path", &s->root_path, err) < 0 ||
            opt_bool(o, "root", "readonly", &s->root_readonly, err) < 0)
                return -1;
        if (!s->root_path[0])
                return fail_value(err, "root.path", "empty path", "");
        return 0;
}

static int parse_names(json_t *top, struct nk_spec *s, nk_error **err)
{
        json_t *o = NULL, *v;
        const char *k;
        if (opt_string(top, "", "hostname", &s->hostname, err) < 0 ||
            opt_string(top, "", "domainname", &s->domainname, err) < 0)
                return -1;
        /* sethostname(2)/setdomainname(2): at most 64 bytes */
        if (s->hostname && strlen(s->hostname) > HOSTNAME_MAX)
                return fail_value(err, "hostname", "longer than 64 bytes", s->hostname);
        if (s->domainname && strlen(s->domainname) > HOSTNAME_MAX)
                return fail_value(err, "domainname", "longer than 64 bytes", s->domainname);
        if (opt_object(top, "", "annotations", &o, err) < 0)
                return -1;
        json_object_foreach (o, k, v) {
                char kp[JP_MAX];
                if (!json_is_string(v))
                        return fail_type(err, jp_key(kp, "annotations", k), "string", v);
        }
        s->annotations = o;
        return 0;
}

static int spec_parse_json(struct nk_spec *s, const struct bigints *big, nk_error **err)
{
        json_t *top = s->json, *proc = NULL;
        if (!json_is_object(top))
                return fail_type(err, "top level", "object", top);
        if (parse_version_root(top, s, err) < 0)
                return -1;
        int r = opt_object(top, "", "process", &proc, err);
        if (r < 0 || (r > 0 && process_parse(proc, "process", big, &s->process, err) < 0))
                return -1;
        s->has_process = r > 0;
        if (parse_names(top, s, err) < 0 ||
            opt_list(top, "", "mounts", sizeof(struct nk_mount), &s->mounts, &s->n_mounts,
                     parse_mount, NULL, err) < 0 ||
            parse_hooks(top, s, err) < 0 || parse_linux(top, s, err) < 0)
                return -1;
        return check_cross(s, err);
}

/* ---- JSON text ------------------------------------------------------- */

static bool is_number_char(char c)
{
        return isdigit((unsigned char)c) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
               c == '-';
}

/* A plain unsigned integer literal at text[i..j) above INT64_MAX: its value. */
static bool big_literal(const char *text, size_t i, size_t j, size_t len, uint64_t *out)
{
        char buf[24];
        if (j - i < 19 || j - i > 20 || (j < len && is_number_char(text[j])))
                return false;
        memcpy(buf, text + i, j - i);
        buf[j - i] = '\0';
        errno = 0;
        unsigned long long v = strtoull(buf, NULL, 10);
        if (errno || v <= INT64_MAX)
                return false;
        *out = v;
        return true;
}

/* Copy of text with integer literals in (INT64_MAX, UINT64_MAX] written as
 * the int64 of the same bits; their values are added to *big. Strings are
 * left alone. A rewritten literal may grow by one character. */
static char *rewrite_bigints(const char *text, size_t len, size_t *out_len, struct bigints *big)
{
        size_t cap = len + len / 19 + 2, n = 0;
        _cleanup_free_ char *o = malloc(cap);
        bool in_str = false;
        if (!o)
                return NULL;
        for (size_t i = 0; i < len;) {
                char c = text[i];
                size_t j = i + 1;
                uint64_t v;
                if (in_str && c == '\\' && j < len)
                        j++;
                else if (c == '"')
                        in_str = !in_str;
                else if (!in_str && isdigit((unsigned char)c) &&
                         (i == 0 || !is_number_char(text[i - 1]))) {
                        while (j < len && isdigit((unsigned char)text[j]))
                                j++;
                        if (big_literal(text, i, j, len, &v)) {
                                int64_t *nv = realloc(big->v, (big->n + 1) * sizeof(int64_t));
                                if (!nv)
                                        return NULL;
                                big->v = nv;
                                big->v[big->n++] = (int64_t)v;
                                n += (size_t)snprintf(o + n, cap - n, "%" PRId64, (int64_t)v);
                                i = j;
                                continue;
                        }
                }
                memcpy(o + n, text + i, j - i);
                n += j - i;
                i = j;
        }
        *out_len = n;
        return TAKE_PTR(o);
}

/* The JSON path of the object key that ends at byte `end` of `text`
 * (where jansson stops on a duplicate key). jansson parsed everything before
 * `end`, so a bracket and string scanner suffices. */
struct scan_frame {
        bool obj, want_key;
        size_t index, key, key_len; /* array index; current key in the object */
};

static int dup_key_error(const char *text, size_t end, int line, int col, nk_error **err)
{
        struct scan_frame f[64];
        int top = -1;
        for (size_t i = 0; i < end; i++) {
                char c = text[i];
                if ((c == '{' || c == '[') && ++top < (int)ARRAY_SIZE(f))
                        f[top] = (struct scan_frame){.obj = c == '{', .want_key = c == '{'};
                else if (c == '}' || c == ']')
                        top--;
                else if (top < 0 || top >= (int)ARRAY_SIZE(f))
                        continue;
                else if (c == ',')
                        f[top].obj ? (void)(f[top].want_key = true) : (void)f[top].index++;
                else if (c == ':')
                        f[top].want_key = false;
                else if (c == '"') {
                        size_t start = ++i;
                        while (i < end && text[i] != '"')
                                i += text[i] == '\\' ? 2 : 1;
                        if (f[top].obj && f[top].want_key)
                                f[top].key = start, f[top].key_len = i - start;
                }
        }
        if (top < 0 || top >= (int)ARRAY_SIZE(f) || !f[top].obj)
                return nk_error_set(err, 0, "duplicate object key at line %d column %d", line, col);
        char p[JP_MAX] = "", k[JP_MAX];
        for (int d = 0; d < top; d++) {
                size_t n = strlen(p);
                if (f[d].obj)
                        snprintf(p + n, sizeof p - n, "%s%.*s", n ? "." : "", (int)f[d].key_len,
                                 text + f[d].key);
                else
                        snprintf(p + n, sizeof p - n, "[%zu]", f[d].index);
        }
        snprintf(k, sizeof k, "%.*s", (int)f[top].key_len, text + f[top].key);
        _cleanup_free_ char *pv = msg_value(p), *kv = msg_value(k);
        return nk_error_set(err, 0, "%s%sduplicate key \"%s\" (line %d column %d)", pv,
                            *pv ? ": " : "", kv, line, col);
}

static int json_parse_text(const char *text, size_t len, json_t **out, struct bigints *big,
                           nk_error **err)
{
        json_error_t je;
        /* Duplicate keys are refused (last-one-wins would let a second
         * "user" or "uid" hide behind the first). */
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        _cleanup_free_ char *t2 = NULL;
        if (!j && json_error_code(&je) == json_error_numeric_overflow) {
                size_t len2 = 0;
                t2 = rewrite_bigints(text, len, &len2, big);
                if (!t2)
                        return nk_error_set(err, ENOMEM, "parse JSON");
                j = json_loadb(t2, len2, JSON_REJECT_DUPLICATES, &je);
        }
        if (!j && json_error_code(&je) == json_error_duplicate_key)
                return dup_key_error(t2 ? t2 : text, (size_t)je.position, je.line, je.column, err);
        if (!j) {
                _cleanup_free_ char *m = msg_value_max(je.text, sizeof(je.text));
                return nk_error_set(err, 0, "invalid JSON at line %d column %d: %s", je.line,
                                    je.column, m);
        }
        *out = j;
        return 0;
}

int nk_spec_parse(const char *text, size_t len, const char *path, struct nk_spec **out,
                  nk_error **err)
{
        struct bigints big = {0};
        struct nk_spec *s = calloc(1, sizeof(*s));
        if (!s)
                return nk_error_set(err, ENOMEM, "%s", path ? path : "config.json");
        if (!(s->source = strdup(path ? path : "config.json"))) {
                free(s);
                return nk_error_set(err, ENOMEM, "%s", path ? path : "config.json");
        }
        if (json_parse_text(text, len, &s->json, &big, err) < 0 ||
            spec_parse_json(s, &big, err) < 0) {
                free(big.v);
                nk_spec_free(s);
                return nk_error_wrap(err, "%s", path ? path : "config.json");
        }
        free(big.v);
        *out = s;
        return 0;
}

int nk_spec_from_json(json_t *doc, const char *source, struct nk_spec **out, nk_error **err)
{
        const struct bigints none = {0}; /* no text: nothing was rewritten */
        struct nk_spec *s = calloc(1, sizeof(*s));
        source = source ? source : "spec";
        if (!s || !(s->source = strdup(source))) {
                free(s);
                return nk_error_set(err, ENOMEM, "%s", source);
        }
        s->json = json_incref(doc);
        if (spec_parse_json(s, &none, err) < 0) {
                nk_spec_free(s);
                return nk_error_wrap(err, "%s", source);
        }
        *out = s;
        return 0;
}

/* ---- free ------------------------------------------------------------ */

void nk_process_clear(struct nk_process *p)
{
        free(p->cwd);
        nk_strv_free(p->env);
        nk_strv_free(p->args);
        for (size_t i = 0; i < p->n_rlimits; i++)
                free(p->rlimits[i].name);
        free(p->rlimits);
        free(p->apparmor_profile);
        free(p->selinux_label);
        free(p->user.additional_gids);
        free(p->user.username);
        free(p->exec_cpu_affinity_initial);
        free(p->exec_cpu_affinity_final);
        memset(p, 0, sizeof(*p));
}

static void mount_clear(struct nk_mount *m)
{
        free(m->destination);
        free(m->source);
        free(m->type);
        nk_strv_free(m->options);
        free(m->data);
        free(m->uid_mappings);
        free(m->gid_mappings);
}

static void spec_free_linux(struct nk_spec *s)
{
        for (int t = 0; t < NK_NS__COUNT; t++)
                free(s->ns[t].path);
        free(s->uid_mappings);
        free(s->gid_mappings);
        for (size_t i = 0; i < s->n_devices; i++)
                free(s->devices[i].path);
        free(s->devices);
        free(s->cgroups_path);
        for (size_t i = 0; i < s->n_sysctl; i++) {
                free(s->sysctl[i].key);
                free(s->sysctl[i].value);
        }
        free(s->sysctl);
        nk_strv_free(s->masked_paths);
        nk_strv_free(s->readonly_paths);
        free(s->mount_label);
}

void nk_spec_free(struct nk_spec *s)
{
        if (!s)
                return;
        free(s->oci_version);
        free(s->bundle);
        free(s->source);
        free(s->root_path);
        free(s->hostname);
        free(s->domainname);
        nk_process_clear(&s->process);
        for (size_t i = 0; i < s->n_mounts; i++)
                mount_clear(&s->mounts[i]);
        free(s->mounts);
        for (int k = 0; k < NK_HOOK__COUNT; k++) {
                for (size_t i = 0; i < s->n_hooks[k]; i++) {
                        free(s->hooks[k][i].path);
                        nk_strv_free(s->hooks[k][i].args);
                        nk_strv_free(s->hooks[k][i].env);
                }
                free(s->hooks[k]);
        }
        spec_free_linux(s);
        json_decref(s->json);
        free(s);
}
