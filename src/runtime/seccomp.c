/* nook — linux.seccomp: a pure validation of the OCI object, the filter
 * built in the parent with libseccomp and exported as a BPF program, the
 * load in the container init with seccomp(2), and the SCMP_ACT_NOTIFY
 * listener handed to listenerPath.
 *
 * The program is loaded with seccomp(2) rather than seccomp_load(): the
 * kernel flags libseccomp 2.5 cannot set (WAIT_KILLABLE_RECV, TSYNC_ESRCH)
 * are then one code path with the others, and the child makes exactly one
 * system call instead of running library code after fork. */
#include "seccomp_cache.h"
#include "security.h"
#include "util/arch.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <ctype.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#define JP_MAX        256
#define ERRNO_MAX     4095 /* the kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO */
#define BPF_INSNS_MAX 4096

/* The default profile's archMap and its per-arch rules are resolved for
 * the machine nook was built for (NK_BUILD_MACHINE), never for what uname
 * says at run time (under `setarch i686` uname reports i686, and an x86_64
 * program's arch_prctl would then be refused). */

struct nk_seccomp {
        struct sock_filter *prog;
        size_t n_prog;
        unsigned flags;    /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
        int listener_sock; /* connected to listenerPath, or -1 */
        char *listener_path;
        char *metadata; /* listenerMetadata, or NULL */
};

/* ---- names -------------------------------------------------------------- */

static const struct {
        const char *name;
        uint32_t act; /* with a zero errno/trace value */
} actions[] = {
        {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD},
        {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
        {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},
        {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0)},
        {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0)},
        {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},
        {"SCMP_ACT_LOG", SCMP_ACT_LOG},
        {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY},
};

static const struct {
        const char *name;
        enum scmp_compare op;
} ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE},
        {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE},
        {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE},
        {"SCMP_CMP_GT", SCMP_CMP_GT},
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
        const char *name;
        unsigned flag;
} flag_names[] = {
        {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
        {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
        {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
        {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

/* Every architecture the runtime spec names. libseccomp 2.5 resolves most;
 * the others are valid in a profile but skipped when building. */
static const char *const arch_names[] = {
        "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB",
};

static int action_index(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
                if (streq(actions[i].name, name))
                        return (int)i;
        return -1;
}

static int op_index(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                if (streq(ops[i].name, name))
                        return (int)i;
        return -1;
}

static int flag_index(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
                if (streq(flag_names[i].name, name))
                        return (int)i;
        return -1;
}

static bool arch_known(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(arch_names); i++)
                if (streq(arch_names[i], name))
                        return true;
        return false;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token, 0 when it does not know it. */
static uint32_t arch_token(const char *name)
{
        char low[32];
        const char *s = name + strlen("SCMP_ARCH_");
        size_t i;
        for (i = 0; s[i] && i < sizeof low - 1; i++)
                low[i] = (char)tolower((unsigned char)s[i]);
        low[i] = '\0';
        return seccomp_arch_resolve_name(low);
}

/* ---- JSON paths and small readers ------------------------------------- */

/* Paths longer than JP_MAX are cut: they only appear in messages. */
static const char *jp_key(char *buf, const char *where, const char *key)
{
        if (snprintf(buf, JP_MAX, "%s.%s", where, key) >= JP_MAX)
                buf[JP_MAX - 1] = '\0';
        return buf;
}

static const char *jp_idx(char *buf, const char *where, size_t i)
{
        if (snprintf(buf, JP_MAX, "%s[%zu]", where, i) >= JP_MAX)
                buf[JP_MAX - 1] = '\0';
        return buf;
}

/* JSON null counts as absent, as in the spec parser. */
static json_t *get(json_t *obj, const char *key)
{
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

static int expect_string(json_t *v, const char *path, nk_error **err)
{
        if (!json_is_string(v))
                return nk_error_set(err, 0, "%s: must be a string", path);
        return 0;
}

static int expect_array(json_t *v, const char *path, nk_error **err)
{
        if (!json_is_array(v))
                return nk_error_set(err, 0, "%s: must be an array", path);
        return 0;
}

/* An unsigned integer no larger than max. */
static int expect_uint(json_t *v, uint64_t max, const char *path, nk_error **err)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t)json_integer_value(v) > max)
                return nk_error_set(err, 0, "%s: must be an integer from 0 to %llu", path,
                                    (unsigned long long)max);
        return 0;
}

/* Argument values are uint64; the spec parser stores values above INT64_MAX
 * as their two's complement, so any integer is valid here. */
static int expect_u64(json_t *v, const char *path, nk_error **err)
{
        if (!json_is_integer(v))
                return nk_error_set(err, 0, "%s: must be an unsigned 64-bit integer", path);
        return 0;
}

/* ---- validation (pure) -------------------------------------------------- */

static int validate_action(json_t *v, const char *path, int *out, nk_error **err)
{
        if (expect_string(v, path, err) < 0)
                return -1;
        int i = action_index(json_string_value(v));
        if (i < 0)
                return nk_error_set(err, 0, "%s: unknown action \"%s\"", path,
                                    json_string_value(v));
        *out = i;
        return 0;
}

static int validate_arg(json_t *a, const char *where, nk_error **err)
{
        char p[JP_MAX];
        if (!json_is_object(a))
                return nk_error_set(err, 0, "%s: must be an object", where);
        json_t *idx = get(a, "index"), *val = get(a, "value"), *op = get(a, "op");
        json_t *two = get(a, "valueTwo");
        if (!idx)
                return nk_error_set(err, 0, "%s: missing \"index\"", where);
        if (expect_uint(idx, 5, jp_key(p, where, "index"), err) < 0)
                return -1;
        if (!val)
                return nk_error_set(err, 0, "%s: missing \"value\"", where);
        if (expect_u64(val, jp_key(p, where, "value"), err) < 0)
                return -1;
        if (two && expect_u64(two, jp_key(p, where, "valueTwo"), err) < 0)
                return -1;
        if (!op)
                return nk_error_set(err, 0, "%s: missing \"op\"", where);
        if (expect_string(op, jp_key(p, where, "op"), err) < 0)
                return -1;
        if (op_index(json_string_value(op)) < 0)
                return nk_error_set(err, 0, "%s.op: unknown operator \"%s\"", where,
                                    json_string_value(op));
        return 0;
}

static int validate_names(json_t *names, const char *where, bool notify, nk_error **err)
{
        char p[JP_MAX];
        if (!names)
                return nk_error_set(err, 0, "%s: missing \"names\"", where);
        if (expect_array(names, jp_key(p, where, "names"), err) < 0)
                return -1;
        if (json_array_size(names) == 0)
                return nk_error_set(err, 0, "%s.names: must list at least one syscall", where);
        size_t i;
        json_t *n;
        json_array_foreach (names, i, n) {
                char np[JP_MAX];
                jp_idx(np, jp_key(p, where, "names"), i);
                if (expect_string(n, np, err) < 0)
                        return -1;
                if (!json_string_value(n)[0])
                        return nk_error_set(err, 0, "%s: empty syscall name", np);
                /* nook's init sends the listener fd with sendmsg after the
                 * filter is loaded: notifying it would wait for a listener
                 * that has not received its fd yet. */
                if (notify && streq(json_string_value(n), "sendmsg"))
                        return nk_error_set(err, 0,
                                            "%s: SCMP_ACT_NOTIFY cannot be used for sendmsg "
                                            "(nook sends the listener fd with it)",
                                            np);
        }
        return 0;
}

static int validate_rule(json_t *r, const char *where, bool *uses_notify, nk_error **err)
{
        char p[JP_MAX];
        int act;
        if (!json_is_object(r))
                return nk_error_set(err, 0, "%s: must be an object", where);
        json_t *action = get(r, "action");
        if (!action)
                return nk_error_set(err, 0, "%s: missing \"action\"", where);
        if (validate_action(action, jp_key(p, where, "action"), &act, err) < 0)
                return -1;
        bool notify = actions[act].act == SCMP_ACT_NOTIFY;
        *uses_notify |= notify;
        if (validate_names(get(r, "names"), where, notify, err) < 0)
                return -1;
        json_t *eret = get(r, "errnoRet");
        if (eret) {
                if (actions[act].act != SCMP_ACT_ERRNO(0) && actions[act].act != SCMP_ACT_TRACE(0))
                        return nk_error_set(err, 0,
                                            "%s.errnoRet: only valid with SCMP_ACT_ERRNO or "
                                            "SCMP_ACT_TRACE, not %s",
                                            where, actions[act].name);
                if (expect_uint(eret, ERRNO_MAX, jp_key(p, where, "errnoRet"), err) < 0)
                        return -1;
        }
        json_t *args = get(r, "args");
        if (!args)
                return 0;
        if (expect_array(args, jp_key(p, where, "args"), err) < 0)
                return -1;
        if (json_array_size(args) > 6)
                return nk_error_set(err, 0, "%s.args: at most 6 comparisons", where);
        size_t i;
        json_t *a;
        json_array_foreach (args, i, a) {
                char ap[JP_MAX];
                if (validate_arg(a, jp_idx(ap, jp_key(p, where, "args"), i), err) < 0)
                        return -1;
        }
        return 0;
}

static int validate_string_list(json_t *list, const char *path, bool (*known)(const char *),
                                const char *what, nk_error **err)
{
        if (expect_array(list, path, err) < 0)
                return -1;
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
                char p[JP_MAX];
                jp_idx(p, path, i);
                if (expect_string(v, p, err) < 0)
                        return -1;
                if (!known(json_string_value(v)))
                        return nk_error_set(err, 0, "%s: unknown %s \"%s\"", p, what,
                                            json_string_value(v));
        }
        return 0;
}

static bool flag_known(const char *name)
{
        return flag_index(name) >= 0;
}

static int validate_listener(json_t *sc, const char *where, bool uses_notify, nk_error **err)
{
        char p[JP_MAX];
        json_t *path = get(sc, "listenerPath"), *md = get(sc, "listenerMetadata");
        if (path && expect_string(path, jp_key(p, where, "listenerPath"), err) < 0)
                return -1;
        if (md && expect_string(md, jp_key(p, where, "listenerMetadata"), err) < 0)
                return -1;
        if (!uses_notify)
                return 0;
        if (!path || !json_string_value(path)[0])
                return nk_error_set(err, 0, "%s.listenerPath: required by SCMP_ACT_NOTIFY", where);
        if (json_string_value(path)[0] != '/')
                return nk_error_set(err, 0, "%s.listenerPath: must be an absolute path, not \"%s\"",
                                    where, json_string_value(path));
        if (strlen(json_string_value(path)) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return nk_error_set(
                        err, 0, "%s.listenerPath: longer than a unix socket path may be", where);
        return 0;
}

int nk_seccomp_validate(json_t *sc, const char *where, nk_error **err)
{
        char p[JP_MAX];
        int act;
        if (!json_is_object(sc))
                return nk_error_set(err, 0, "%s: must be an object", where);
        json_t *def = get(sc, "defaultAction");
        if (!def)
                return nk_error_set(err, 0, "%s: missing \"defaultAction\"", where);
        if (validate_action(def, jp_key(p, where, "defaultAction"), &act, err) < 0)
                return -1;
        if (actions[act].act == SCMP_ACT_NOTIFY)
                return nk_error_set(err, 0,
                                    "%s.defaultAction: SCMP_ACT_NOTIFY cannot be the "
                                    "default action",
                                    where);
        json_t *v = get(sc, "defaultErrnoRet");
        if (v && expect_uint(v, ERRNO_MAX, jp_key(p, where, "defaultErrnoRet"), err) < 0)
                return -1;
        if ((v = get(sc, "architectures")) &&
            validate_string_list(v, jp_key(p, where, "architectures"), arch_known, "architecture",
                                 err) < 0)
                return -1;
        if ((v = get(sc, "flags")) &&
            validate_string_list(v, jp_key(p, where, "flags"), flag_known, "flag", err) < 0)
                return -1;
        bool uses_notify = false;
        if ((v = get(sc, "syscalls"))) {
                if (expect_array(v, jp_key(p, where, "syscalls"), err) < 0)
                        return -1;
                size_t i;
                json_t *r;
                json_array_foreach (v, i, r) {
                        char rp[JP_MAX];
                        if (validate_rule(r, jp_idx(rp, jp_key(p, where, "syscalls"), i),
                                          &uses_notify, err) < 0)
                                return -1;
                }
        }
        return validate_listener(sc, where, uses_notify, err);
}

/* ---- syscall numbers libseccomp may not know -------------------------- */

/* Since Linux 5.1 a new syscall gets the same number on every architecture
 * (plus 0x40000000 on x32). A profile naming one the installed libseccomp
 * lacks (Debian 12's 2.5.4-1+deb12u1 stops at futex_requeue, 456) gets its
 * rule by number from this table. */
static const struct {
        const char *name;
        uint32_t nr;
} newer_syscalls[] = {
        {"process_madvise", 440},
        {"epoll_pwait2", 441},
        {"mount_setattr", 442},
        {"quotactl_fd", 443},
        {"landlock_create_ruleset", 444},
        {"landlock_add_rule", 445},
        {"landlock_restrict_self", 446},
        {"memfd_secret", 447},
        {"process_mrelease", 448},
        {"futex_waitv", 449},
        {"set_mempolicy_home_node", 450},
        {"cachestat", 451},
        {"fchmodat2", 452},
        {"map_shadow_stack", 453},
        {"futex_wake", 454},
        {"futex_wait", 455},
        {"futex_requeue", 456},
        {"statmount", 457},
        {"listmount", 458},
        {"lsm_get_self_attr", 459},
        {"lsm_set_self_attr", 460},
        {"lsm_list_modules", 461},
        {"mseal", 462},
        {"setxattrat", 463},
        {"getxattrat", 464},
        {"listxattrat", 465},
        {"removexattrat", 466},
        {"open_tree_attr", 467},
        {"file_getattr", 468},
        {"file_setattr", 469},
};

/* How seccomp_data tells the architectures apart that nook's prefix knows
 * (others get libseccomp's program alone), and where their numbers lie:
 * x32 and arm have a private range above the common table; i386 and s390
 * still have the multiplexed socketcall. */
static const struct arch_nrs {
        uint32_t token;        /* SCMP_ARCH_* */
        uint32_t audit;        /* seccomp_data.arch */
        uint32_t bias;         /* added to a unified syscall number */
        uint32_t private_base; /* first number of the private range, or 0 */
        uint32_t socketcall;   /* its number, or 0 */
} arch_nrs[] = {
        {SCMP_ARCH_X86_64, AUDIT_ARCH_X86_64, 0, 0, 0},
        {SCMP_ARCH_X32, AUDIT_ARCH_X86_64, 0x40000000, 0x40000200, 0},
        {SCMP_ARCH_X86, AUDIT_ARCH_I386, 0, 0, 102},
        {SCMP_ARCH_AARCH64, AUDIT_ARCH_AARCH64, 0, 0, 0},
        {SCMP_ARCH_ARM, AUDIT_ARCH_ARM, 0, 0x0f0000, 0},
        {SCMP_ARCH_PPC64LE, AUDIT_ARCH_PPC64LE, 0, 0, 0},
        {SCMP_ARCH_S390X, AUDIT_ARCH_S390X, 0, 0, 0},
        {SCMP_ARCH_S390, AUDIT_ARCH_S390, 0, 0, 102},
        {SCMP_ARCH_RISCV64, AUDIT_ARCH_RISCV64, 0, 0, 0},
};

#define X32_SYSCALL_BIT 0x40000000u
#define EXTRA_MAX       32

/* ---- building the filter ---------------------------------------------- */

/* One architecture of the filter as the prefix sees it. */
struct arch_state {
        const struct arch_nrs *a;
        uint32_t max_low;  /* highest number the profile names below private_base */
        uint32_t max_high; /* highest in the private range, 0 if none */
        struct {
                uint32_t nr, act;
        } extra[EXTRA_MAX]; /* rules for names libseccomp lacks */
        size_t n_extra;
};

struct build {
        scmp_filter_ctx ctx;
        uint32_t def;                       /* the default action with its errno */
        bool notify;                        /* some rule uses SCMP_ACT_NOTIFY */
        uint32_t used[ARRAY_SIZE(actions)]; /* kernel actions in use */
        size_t n_used;
        struct arch_state arch[ARRAY_SIZE(arch_nrs)];
        size_t n_arch;
        bool socket_args;     /* some rule filters socket() by its arguments */
        bool socketpair_args; /* and socketpair() */
        char unknown[512];    /* names nobody here knows, for the warning */
};

_Static_assert(ARRAY_SIZE(actions) <= NK_SECCOMP_CACHE_ACTIONS, "the cache keeps every action");

static void note_action(struct build *b, uint32_t act)
{
        uint32_t base = act & SECCOMP_RET_ACTION_FULL;
        for (size_t i = 0; i < b->n_used; i++)
                if (b->used[i] == base)
                        return;
        if (b->n_used < ARRAY_SIZE(b->used))
                b->used[b->n_used++] = base;
}

/* The action value: errno defaults to EPERM as in runc. */
static uint32_t action_value(const char *name, json_t *errno_ret)
{
        uint32_t act = actions[action_index(name)].act;
        uint16_t e = errno_ret ? (uint16_t)json_integer_value(errno_ret) : EPERM;
        if (act == SCMP_ACT_ERRNO(0))
                return SCMP_ACT_ERRNO(e);
        if (act == SCMP_ACT_TRACE(0))
                return SCMP_ACT_TRACE(e);
        return act;
}

static void free_build(struct build *b)
{
        if (b->ctx)
                seccomp_release(b->ctx);
        b->ctx = NULL;
}

static int add_arches(struct build *b, json_t *list, nk_error **err)
{
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
                uint32_t tok = arch_token(json_string_value(v));
                if (!tok) {
                        nk_debug("seccomp: architecture %s unknown to libseccomp, skipped",
                                 json_string_value(v));
                        continue;
                }
                int r = seccomp_arch_add(b->ctx, tok);
                if (r < 0 && r != -EEXIST)
                        return nk_error_set(err, -r, "linux.seccomp.architectures[%zu]: add %s", i,
                                            json_string_value(v));
        }
        return 0;
}

static void note_arch(struct build *b, uint32_t token)
{
        for (size_t i = 0; i < b->n_arch; i++)
                if (b->arch[i].a->token == token)
                        return;
        for (size_t i = 0; i < ARRAY_SIZE(arch_nrs); i++)
                if (arch_nrs[i].token == token)
                        b->arch[b->n_arch++] = (struct arch_state){.a = &arch_nrs[i]};
}

/* The architectures the filter covers: those listed that libseccomp
 * knows, or the native one. */
static void note_arches(struct build *b, json_t *list)
{
        size_t i;
        json_t *v;
        if (list)
                json_array_foreach (list, i, v)
                        if (arch_token(json_string_value(v)))
                                note_arch(b, arch_token(json_string_value(v)));
        if (!list || json_array_size(list) == 0)
                note_arch(b, seccomp_arch_native());
}

static bool newer_nr(const char *name, uint32_t *nr)
{
        for (size_t i = 0; i < ARRAY_SIZE(newer_syscalls); i++)
                if (streq(newer_syscalls[i].name, name)) {
                        *nr = newer_syscalls[i].nr;
                        return true;
                }
        return false;
}

/* Raise each architecture's highest known number with `name`'s. */
static void note_known(struct build *b, const char *name)
{
        uint32_t unified = 0;
        bool table = newer_nr(name, &unified);
        for (size_t i = 0; i < b->n_arch; i++) {
                struct arch_state *st = &b->arch[i];
                int r = seccomp_syscall_resolve_name_arch(st->a->token, name);
                uint32_t nr;
                if (r >= 0)
                        nr = (uint32_t)r;
                else if (r == __NR_SCMP_ERROR && table)
                        nr = unified + st->a->bias;
                else
                        continue; /* not a syscall of this architecture */
                if (st->a->private_base && nr >= st->a->private_base)
                        st->max_high = nr > st->max_high ? nr : st->max_high;
                else
                        st->max_low = nr > st->max_low ? nr : st->max_low;
        }
}

static void note_unknown(struct build *b, const char *name)
{
        size_t len = strlen(b->unknown);
        if (len + strlen(name) + 3 < sizeof b->unknown)
                snprintf(b->unknown + len, sizeof b->unknown - len, "%s%s", len ? ", " : "", name);
}

/* A name libseccomp does not know but the table does: the rule goes into
 * nook's prefix, by number, for every architecture of the filter. Argument
 * comparisons would need libseccomp's code generation: refused. */
static int add_by_number(struct build *b, uint32_t act, const char *name, uint32_t unified,
                         bool has_args, size_t ri, nk_error **err)
{
        const struct scmp_version *v = seccomp_version();
        if (has_args)
                return nk_error_set(err, 0,
                                    "linux.seccomp.syscalls[%zu]: %s is unknown to "
                                    "libseccomp %u.%u.%u, so nook can only filter it without "
                                    "args",
                                    ri, name, v->major, v->minor, v->micro);
        for (size_t i = 0; i < b->n_arch; i++) {
                struct arch_state *st = &b->arch[i];
                if (st->n_extra == EXTRA_MAX)
                        return nk_error_set(err, E2BIG,
                                            "linux.seccomp.syscalls[%zu]: more than "
                                            "%d syscalls unknown to libseccomp",
                                            ri, EXTRA_MAX);
                st->extra[st->n_extra].nr = unified + st->a->bias;
                st->extra[st->n_extra++].act = act;
        }
        nk_debug("seccomp: %s unknown to libseccomp %u.%u.%u, filtered as syscall %u", name,
                 v->major, v->minor, v->micro, unified);
        return 0;
}

/* Rules comparing one argument more than once are split into one rule per
 * comparison (so they OR), as runc does: libseccomp refuses several
 * comparisons of the same argument in one rule. */
static int add_one(struct build *b, uint32_t act, int nr, struct scmp_arg_cmp *c, unsigned n,
                   const char *name, size_t ri, nk_error **err)
{
        bool repeated = false;
        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        repeated |= c[i].arg == c[j].arg;
        int r = 0;
        if (!repeated)
                r = seccomp_rule_add_array(b->ctx, act, nr, n, c);
        for (unsigned i = 0; repeated && i < n && r >= 0; i++)
                r = seccomp_rule_add_array(b->ctx, act, nr, 1, &c[i]);
        if (r < 0)
                return nk_error_set(err, -r, "linux.seccomp.syscalls[%zu]: add rule for %s", ri,
                                    name);
        return 0;
}

static unsigned read_conds(json_t *args, struct scmp_arg_cmp *c)
{
        size_t i;
        json_t *a;
        json_array_foreach (args, i, a) {
                json_t *two = get(a, "valueTwo");
                c[i] = (struct scmp_arg_cmp){
                        .arg = (unsigned)json_integer_value(get(a, "index")),
                        .op = ops[op_index(json_string_value(get(a, "op")))].op,
                        .datum_a = (scmp_datum_t)json_integer_value(get(a, "value")),
                        .datum_b = two ? (scmp_datum_t)json_integer_value(two) : 0,
                };
        }
        return (unsigned)json_array_size(args);
}

static int add_rule(struct build *b, json_t *r, size_t ri, nk_error **err)
{
        const char *aname = json_string_value(get(r, "action"));
        uint32_t act = action_value(aname, get(r, "errnoRet"));
        struct scmp_arg_cmp conds[6];
        unsigned n = get(r, "args") ? read_conds(get(r, "args"), conds) : 0;
        b->notify |= act == SCMP_ACT_NOTIFY;
        size_t i;
        json_t *name;
        json_array_foreach (get(r, "names"), i, name) {
                const char *s = json_string_value(name);
                int nr = seccomp_syscall_resolve_name(s);
                uint32_t unified = 0;
                note_known(b, s);
                b->socket_args |= n > 0 && streq(s, "socket");
                b->socketpair_args |= n > 0 && streq(s, "socketpair");
                if (nr == __NR_SCMP_ERROR && !newer_nr(s, &unified)) {
                        note_unknown(b, s);
                        continue;
                }
                /* libseccomp refuses a rule that repeats the default action. */
                if (act == b->def)
                        continue;
                if (nr == __NR_SCMP_ERROR ? add_by_number(b, act, s, unified, n > 0, ri, err) < 0
                                          : add_one(b, act, nr, conds, n, s, ri, err) < 0)
                        return -1;
                note_action(b, act);
        }
        return 0;
}

static bool names_syscall(json_t *rules, const char *sys)
{
        size_t i, j;
        json_t *r, *n;
        json_array_foreach (rules, i, r)
                json_array_foreach (get(r, "names"), j, n)
                        if (streq(json_string_value(n), sys))
                                return true;
        return false;
}

/* The action a rule naming `sys` without argument conditions gives it,
 * if every rule naming it agrees; false when any rule has conditions or
 * two disagree (the caller then assumes the worst). */
static bool plain_action(json_t *rules, const char *sys, bool *named, uint32_t *act)
{
        size_t i, j;
        json_t *r, *n;
        *named = false;
        json_array_foreach (rules, i, r)
                json_array_foreach (get(r, "names"), j, n) {
                        if (!streq(json_string_value(n), sys))
                                continue;
                        json_t *args = get(r, "args");
                        uint32_t a = action_value(json_string_value(get(r, "action")),
                                                  get(r, "errnoRet"));
                        if ((args && json_array_size(args) > 0) || (*named && a != *act))
                                return false;
                        *named = true;
                        *act = a;
                }
        return true;
}

bool nk_seccomp_allows_plainly(json_t *sc, const char *const *syscalls)
{
        if (!sc)
                return true;
        if (get(sc, "listenerPath"))
                return false;
        uint32_t def = action_value(json_string_value(get(sc, "defaultAction")),
                                    get(sc, "defaultErrnoRet"));
        json_t *rules = get(sc, "syscalls");
        for (; *syscalls; syscalls++) {
                bool named = false;
                uint32_t act = def;
                if (rules && !plain_action(rules, *syscalls, &named, &act))
                        return false;
                if (!named && (streq(*syscalls, "execve") || streq(*syscalls, "execveat")) &&
                    !(rules &&
                      (names_syscall(rules, "execve") || names_syscall(rules, "execveat"))))
                        act = SCMP_ACT_ALLOW; /* allow_exec() adds them */
                if (act != SCMP_ACT_ALLOW && act != SCMP_ACT_LOG)
                        return false;
        }
        return true;
}

/* nook itself calls execve right after loading the filter. A profile that
 * never names execve or execveat (an allow-list that forgot them) gets an
 * allow rule for both; a profile that names either is taken as written. */
static int allow_exec(struct build *b, json_t *rules, nk_error **err)
{
        if (b->def == SCMP_ACT_ALLOW || b->def == SCMP_ACT_LOG)
                return 0;
        if (rules && (names_syscall(rules, "execve") || names_syscall(rules, "execveat")))
                return 0;
        nk_debug("seccomp: the profile does not name execve; allowing execve and execveat");
        if (seccomp_rule_add(b->ctx, SCMP_ACT_ALLOW, SCMP_SYS(execve), 0) < 0 ||
            seccomp_rule_add(b->ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 0) < 0)
                return nk_error_set(err, 0, "linux.seccomp: add the execve rule");
        note_action(b, SCMP_ACT_ALLOW);
        note_known(b, "execve");
        note_known(b, "execveat");
        return 0;
}

/* Not silently: a name neither libseccomp nor nook knows is a syscall
 * this filter cannot name (a typo, or one newer than nook). */
static void warn_unknown(const char *names)
{
        if (names[0])
                nk_warn("linux.seccomp: left out of the filter, unknown to libseccomp %u.%u.%u "
                        "and to nook: %s",
                        seccomp_version()->major, seccomp_version()->minor,
                        seccomp_version()->micro, names);
}

static int build_filter(json_t *sc, struct build *b, nk_error **err)
{
        *b = (struct build){0};
        if (nk_seccomp_validate(sc, "linux.seccomp", err) < 0)
                return -1;
        b->def = action_value(json_string_value(get(sc, "defaultAction")),
                              get(sc, "defaultErrnoRet"));
        b->ctx = seccomp_init(b->def);
        if (!b->ctx)
                return nk_error_set(err, ENOMEM, "linux.seccomp: seccomp_init");
        note_action(b, b->def);
        /* A binary tree of syscall numbers: each syscall the container
         * makes walks O(log n) instructions instead of the whole list. */
        (void)seccomp_attr_set(b->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
        json_t *arches = get(sc, "architectures"), *rules = get(sc, "syscalls");
        if (arches && add_arches(b, arches, err) < 0)
                goto fail;
        note_arches(b, arches);
        size_t i;
        json_t *r;
        if (rules)
                json_array_foreach (rules, i, r)
                        if (add_rule(b, r, i, err) < 0)
                                goto fail;
        if (allow_exec(b, rules, err) < 0)
                goto fail;
        warn_unknown(b->unknown);
        return 0;
fail:
        free_build(b);
        return -1;
}

/* ---- nook's prefix to libseccomp's program ---------------------------- */

/* libseccomp has one default action for every syscall it was not told
 * about, so an allow-list answers EPERM to syscalls newer than the
 * profile, where glibc and musl need ENOSYS to fall back (clone3, faccessat2
 * and openat2 were the famous cases). nook puts a short program of its own
 * in front of libseccomp's, per architecture:
 *   - a number above the highest one the profile names returns ENOSYS
 *     (only when the default action refuses: an allow-by-default profile
 *     lets new syscalls through anyway); below it, the profile's default
 *     stands, so a known syscall the profile leaves out stays EPERM;
 *   - rules for syscalls libseccomp does not know by name, by number;
 *   - on i386 and s390, socketcall(SYS_SOCKET) when the profile filters
 *     socket() by its arguments (SYS_SOCKETPAIR likewise for socketpair(),
 *     which creates its sockets with the family's code before the family
 *     refuses pairs): socketcall passes them in memory, where
 *     seccomp cannot look, and libseccomp turns such a socket rule into a
 *     socketcall rule without the comparisons, so any process (int $0x80
 *     works from x86_64 too) could create a socket of a refused family. It
 *     gets the default action; 32-bit programs whose libc makes sockets
 *     through socketcall (glibc built for kernels before 4.3, musl)
 *     therefore cannot, as docs/security.md says.
 * Anything else falls through to libseccomp's program, which starts by
 * checking the architecture again. */

#define PREFIX_MAX          1024
#define SYS_SOCKET_CALL     1 /* socketcall's call number for socket() */
#define SYS_SOCKETPAIR_CALL 8 /* and for socketpair() */

enum { L_END, L_X86_64, L_X32, L_ARCH0 };

struct emit {
        struct sock_filter ins[PREFIX_MAX];
        int target[PREFIX_MAX]; /* label a BPF_JA jumps to, or -1 */
        size_t label[L_ARCH0 + ARRAY_SIZE(arch_nrs)];
        size_t n;
};

static void op(struct emit *e, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
        if (e->n < PREFIX_MAX) {
                e->ins[e->n] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
                e->target[e->n] = -1;
        }
        e->n++;
}

static void ja(struct emit *e, int label)
{
        op(e, BPF_JMP | BPF_JA, 0, 0, 0);
        if (e->n <= PREFIX_MAX)
                e->target[e->n - 1] = label;
}

/* if (A <jop> k) return act; */
static void ret_if(struct emit *e, uint16_t jop, uint32_t k, uint32_t act)
{
        op(e, BPF_JMP | jop | BPF_K, k, 0, 1);
        op(e, BPF_RET | BPF_K, act, 0, 0);
}

/* if (A <jop> k) goto label; */
static void goto_if(struct emit *e, uint16_t jop, uint32_t k, int label)
{
        op(e, BPF_JMP | jop | BPF_K, k, 0, 1);
        ja(e, label);
}

static void load(struct emit *e, uint32_t offset)
{
        op(e, BPF_LD | BPF_W | BPF_ABS, offset, 0, 0);
}

/* The default actions that refuse a syscall the profile does not name. */
static bool refuses_by_default(uint32_t def)
{
        uint32_t a = def & SECCOMP_RET_ACTION_FULL;
        if (a == SECCOMP_RET_ERRNO)
                return (def & SECCOMP_RET_DATA) != ENOSYS;
        return a == SECCOMP_RET_KILL_PROCESS || a == SECCOMP_RET_KILL_THREAD ||
               a == SECCOMP_RET_TRAP;
}

static bool socketcall_rule(const struct build *b, const struct arch_state *st)
{
        return st->a->socketcall && (b->socket_args || b->socketpair_args) &&
               refuses_by_default(b->def);
}

/* One architecture's checks, its syscall number in A; ends at L_END. */
static void emit_arch(struct emit *e, const struct build *b, const struct arch_state *st)
{
        const uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;
        if (refuses_by_default(b->def)) {
                if (st->max_high) {
                        ret_if(e, BPF_JGE, st->max_high + 1, enosys);
                        op(e, BPF_JMP | BPF_JGE | BPF_K, st->a->private_base, 2, 0);
                }
                ret_if(e, BPF_JGE, st->max_low + 1, enosys);
        }
        for (size_t i = 0; i < st->n_extra; i++)
                ret_if(e, BPF_JEQ, st->extra[i].nr, st->extra[i].act);
        if (socketcall_rule(b, st)) {
                /* the low half of args[0]: i386 is little-endian, s390 big */
                bool le = st->a->audit & __AUDIT_ARCH_LE;
                uint8_t skip = (uint8_t)(1 + 2 * (b->socket_args + b->socketpair_args));
                op(e, BPF_JMP | BPF_JEQ | BPF_K, st->a->socketcall, 0, skip);
                load(e, offsetof(struct seccomp_data, args[0]) + (le ? 0 : 4));
                if (b->socket_args)
                        ret_if(e, BPF_JEQ, SYS_SOCKET_CALL, b->def);
                if (b->socketpair_args)
                        ret_if(e, BPF_JEQ, SYS_SOCKETPAIR_CALL, b->def);
        }
        ja(e, L_END);
}

/* The lowest number emit_arch() does anything for: every syscall below it
 * (nearly all a program makes) goes straight on to libseccomp's program. */
static uint32_t first_special(const struct build *b, const struct arch_state *st)
{
        uint32_t lo = UINT32_MAX;
        if (refuses_by_default(b->def))
                lo = st->max_low + 1;
        for (size_t i = 0; i < st->n_extra; i++)
                lo = st->extra[i].nr < lo ? st->extra[i].nr : lo;
        if (socketcall_rule(b, st) && st->a->socketcall < lo)
                lo = st->a->socketcall;
        return lo;
}

static bool prefix_needed(const struct build *b)
{
        bool need = refuses_by_default(b->def);
        for (size_t i = 0; i < b->n_arch; i++)
                need |= b->arch[i].n_extra > 0;
        return need && b->n_arch > 0;
}

static const struct arch_state *find_arch(const struct build *b, uint32_t token)
{
        for (size_t i = 0; i < b->n_arch; i++)
                if (b->arch[i].a->token == token)
                        return &b->arch[i];
        return NULL;
}

/* The entry of one seccomp_data.arch value, five instructions, four of
 * them run by an ordinary syscall:
 *     if (arch != audit) skip the entry; A = nr;
 *     if (A >= lo) goto special; goto end; */
static void emit_entry(struct emit *e, uint32_t audit, uint32_t lo, int special)
{
        op(e, BPF_JMP | BPF_JEQ | BPF_K, audit, 0, 4);
        load(e, offsetof(struct seccomp_data, nr));
        goto_if(e, BPF_JGE, lo, special);
        ja(e, L_END);
}

/* x86_64 and x32 share AUDIT_ARCH_X86_64; x32 numbers carry bit 30. */
static void emit_x86_64(struct emit *e, const struct build *b)
{
        const struct arch_state *x64 = find_arch(b, SCMP_ARCH_X86_64);
        const struct arch_state *x32 = find_arch(b, SCMP_ARCH_X32);
        e->label[L_X86_64] = e->n;
        goto_if(e, BPF_JGE, X32_SYSCALL_BIT, x32 ? L_X32 : L_END);
        if (x64)
                emit_arch(e, b, x64);
        else
                ja(e, L_END);
        if (x32) {
                e->label[L_X32] = e->n;
                emit_arch(e, b, x32);
        }
}

/* The entries first, native x86_64 leading, then each architecture's
 * checks, entered only for the numbers they concern. */
static int build_prefix(const struct build *b, struct emit *e, nk_error **err)
{
        *e = (struct emit){0};
        if (!prefix_needed(b))
                return 0;
        const struct arch_state *x64 = find_arch(b, SCMP_ARCH_X86_64);
        bool x86_64 = x64 || find_arch(b, SCMP_ARCH_X32);
        load(e, offsetof(struct seccomp_data, arch));
        if (x86_64) {
                uint32_t lo = x64 ? first_special(b, x64) : X32_SYSCALL_BIT;
                emit_entry(e, AUDIT_ARCH_X86_64, lo < X32_SYSCALL_BIT ? lo : X32_SYSCALL_BIT,
                           L_X86_64);
        }
        for (size_t i = 0; i < b->n_arch; i++)
                if (b->arch[i].a->audit != AUDIT_ARCH_X86_64)
                        emit_entry(e, b->arch[i].a->audit, first_special(b, &b->arch[i]),
                                   L_ARCH0 + (int)i);
        ja(e, L_END);
        if (x86_64)
                emit_x86_64(e, b);
        for (size_t i = 0; i < b->n_arch; i++) {
                if (b->arch[i].a->audit == AUDIT_ARCH_X86_64)
                        continue;
                e->label[L_ARCH0 + i] = e->n;
                emit_arch(e, b, &b->arch[i]);
        }
        e->label[L_END] = e->n;
        if (e->n > PREFIX_MAX)
                return nk_error_set(err, E2BIG,
                                    "linux.seccomp: nook's prefix to the filter "
                                    "needs %zu instructions, more than %d",
                                    e->n, PREFIX_MAX);
        for (size_t i = 0; i < e->n; i++)
                if (e->target[i] >= 0)
                        e->ins[i].k = (uint32_t)(e->label[e->target[i]] - (i + 1));
        return 0;
}

/* prefix + libseccomp's program, as one. */
static int prepend(const struct emit *e, struct sock_filter **prog, size_t *n, nk_error **err)
{
        if (e->n == 0)
                return 0;
        if (e->n + *n > BPF_INSNS_MAX)
                return nk_error_set(err, E2BIG,
                                    "linux.seccomp: the filter has %zu instructions, "
                                    "the kernel takes at most %d",
                                    e->n + *n, BPF_INSNS_MAX);
        struct sock_filter *all = malloc((e->n + *n) * sizeof *all);
        if (!all)
                return nk_error_set(err, ENOMEM, "seccomp");
        memcpy(all, e->ins, e->n * sizeof *all);
        memcpy(all + e->n, *prog, *n * sizeof *all);
        free(*prog);
        *prog = all;
        *n += e->n;
        return 0;
}

/* libseccomp 2.5 exports only to an fd: go through a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **out, size_t *n, nk_error **err)
{
        _cleanup_close_ int fd = memfd_create("nook-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "seccomp: memfd_create");
        int r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return nk_error_set(err, -r, "seccomp: export the BPF program");
        struct stat st;
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "seccomp: fstat");
        size_t len = (size_t)st.st_size;
        if (len == 0 || len % sizeof(struct sock_filter))
                return nk_error_set(err, 0, "seccomp: bad BPF program size %zu", len);
        if (len / sizeof(struct sock_filter) > BPF_INSNS_MAX)
                return nk_error_set(err, E2BIG,
                                    "linux.seccomp: the filter has %zu instructions, "
                                    "the kernel takes at most %d",
                                    len / sizeof(struct sock_filter), BPF_INSNS_MAX);
        _cleanup_free_ struct sock_filter *prog = malloc(len);
        if (!prog)
                return nk_error_set(err, ENOMEM, "seccomp");
        if (pread(fd, prog, len, 0) != (ssize_t)len)
                return nk_error_set(err, errno ? errno : EIO, "seccomp: read the BPF program");
        *n = len / sizeof(struct sock_filter);
        *out = TAKE_PTR(prog);
        return 0;
}

/* ---- kernel support ------------------------------------------------------ */

/* seccomp(SET_MODE_FILTER, flags, NULL) fails with EFAULT once the flags
 * passed the kernel's check, EINVAL when it does not know one. */
static bool kernel_has_flags(unsigned flags)
{
        return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL) < 0 && errno == EFAULT;
}

static int check_actions(const uint32_t *used, size_t n_used, nk_error **err)
{
        for (size_t i = 0; i < n_used; i++) {
                uint32_t act = used[i];
                if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &act) < 0 &&
                    errno == EOPNOTSUPP)
                        return nk_error_set(err, errno,
                                            "linux.seccomp: the kernel lacks the "
                                            "seccomp action %#x",
                                            act);
        }
        return 0;
}

static int kernel_flags(json_t *sc, bool notify, unsigned *out, nk_error **err)
{
        unsigned flags = notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        json_t *list = get(sc, "flags");
        size_t i;
        json_t *v;
        if (list)
                json_array_foreach (list, i, v) {
                        unsigned f = flag_names[flag_index(json_string_value(v))].flag;
                        /* Waiting killably only concerns a listener. */
                        if (f == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV && !notify) {
                                nk_debug("seccomp: %s without a listener, ignored",
                                         json_string_value(v));
                                continue;
                        }
                        if (!kernel_has_flags(f | (f == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                                                           ? SECCOMP_FILTER_FLAG_NEW_LISTENER
                                                           : 0)))
                                return nk_error_set(err, 0,
                                                    "linux.seccomp.flags[%zu]: "
                                                    "the kernel does not support %s",
                                                    i, json_string_value(v));
                        flags |= f;
                }
        /* TSYNC with a listener is only accepted with TSYNC_ESRCH (the
         * listener fd and a failed thread id share the return value). */
        if ((flags & SECCOMP_FILTER_FLAG_TSYNC) && notify)
                flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        *out = flags;
        return 0;
}

static int connect_listener(const char *path, int *out, nk_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return nk_error_set(err, errno, "linux.seccomp.listenerPath: socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return nk_error_set(err, errno,
                                    "linux.seccomp.listenerPath: connect to the "
                                    "seccomp agent at `%s`",
                                    path);
        *out = TAKE_FD(fd);
        return 0;
}

/* ---- prepare / free (parent) ------------------------------------------ */

void nk_seccomp_free(struct nk_seccomp *s)
{
        if (!s)
                return;
        if (s->listener_sock >= 0)
                close(s->listener_sock);
        free(s->prog);
        free(s->listener_path);
        free(s->metadata);
        free(s);
}
DEFINE_CLEANUP(nk_seccomp, nk_seccomp_free)

size_t nk_seccomp_insn_count(const struct nk_seccomp *s)
{
        return s ? s->n_prog : 0;
}

const struct sock_filter *nk_seccomp_program(const struct nk_seccomp *s)
{
        return s ? s->prog : NULL;
}

static int prepare_listener(json_t *sc, struct nk_seccomp *s, nk_error **err)
{
        const char *path = json_string_value(get(sc, "listenerPath"));
        json_t *md = get(sc, "listenerMetadata");
        s->listener_path = strdup(path);
        s->metadata = md ? strdup(json_string_value(md)) : NULL;
        if (!s->listener_path || (md && !s->metadata))
                return nk_error_set(err, ENOMEM, "seccomp");
        return connect_listener(path, &s->listener_sock, err);
}

/* libseccomp's program with nook's prefix, and what the checks at each
 * use need to know of the profile. */
static int build_program(json_t *sc, struct nk_seccomp_built *out, nk_error **err)
{
        struct build b;
        if (build_filter(sc, &b, err) < 0)
                return -1;
        *out = (struct nk_seccomp_built){.notify = b.notify, .n_used = b.n_used};
        memcpy(out->used, b.used, b.n_used * sizeof b.used[0]);
        snprintf(out->unknown, sizeof out->unknown, "%s", b.unknown);
        _cleanup_free_ struct emit *e = malloc(sizeof *e);
        int r = e ? build_prefix(&b, e, err) : nk_error_set(err, ENOMEM, "seccomp");
        if (r == 0)
                r = export_bpf(b.ctx, &out->prog, &out->n_prog, err);
        if (r == 0)
                r = prepend(e, &out->prog, &out->n_prog, err);
        free_build(&b);
        if (r < 0) {
                free(out->prog);
                out->prog = NULL;
        }
        return r;
}

/* The program for `sc`: from the cache when this binary built it before
 * (the profile's canonical text is the key), else built and kept there. */
static int get_program(json_t *sc, const char *cache_dir, struct nk_seccomp_built *out,
                       nk_error **err)
{
        _cleanup_free_ char *key =
                cache_dir ? json_dumps(sc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        if (key && nk_seccomp_cache_get(cache_dir, key, strlen(key), out)) {
                nk_debug("seccomp: program from the cache in %s", cache_dir);
                warn_unknown(out->unknown);
                return 0;
        }
        if (build_program(sc, out, err) < 0)
                return -1;
        if (key)
                nk_seccomp_cache_put(cache_dir, key, strlen(key), out);
        return 0;
}

int nk_seccomp_prepare_cached(json_t *sc, const char *cache_dir, struct nk_seccomp **out,
                              nk_error **err)
{
        if (!sc) {
                *out = NULL;
                return 0;
        }
        struct nk_seccomp_built b;
        if (get_program(sc, cache_dir, &b, err) < 0)
                return -1;
        _cleanup_(nk_seccomp_freep) struct nk_seccomp *s = calloc(1, sizeof *s);
        if (!s) {
                free(b.prog);
                return nk_error_set(err, ENOMEM, "seccomp");
        }
        s->listener_sock = -1;
        s->prog = b.prog;
        s->n_prog = b.n_prog;
        /* The kernel's side is asked at each use: it may have changed. */
        if (check_actions(b.used, b.n_used, err) < 0 ||
            kernel_flags(sc, b.notify, &s->flags, err) < 0)
                return -1;
        if (b.notify && prepare_listener(sc, s, err) < 0)
                return -1;
        nk_debug("seccomp: %zu BPF instructions, flags %#x%s", s->n_prog, s->flags,
                 b.notify ? ", with a listener" : "");
        *out = TAKE_PTR(s);
        return 0;
}

int nk_seccomp_prepare(json_t *sc, struct nk_seccomp **out, nk_error **err)
{
        return nk_seccomp_prepare_cached(sc, NULL, out, err);
}

/* nook's prefix in words, as comments ahead of libseccomp's PFC. */
static void describe_prefix(const struct build *b, int fd)
{
        if (!prefix_needed(b))
                return;
        dprintf(fd, "# nook's prefix, run before the filter below:\n");
        for (size_t i = 0; i < b->n_arch; i++) {
                const struct arch_state *st = &b->arch[i];
                dprintf(fd, "#   arch %#x%s:", st->a->audit,
                        st->a->token == SCMP_ARCH_X32 ? " (x32)" : "");
                if (refuses_by_default(b->def) && st->max_high)
                        dprintf(fd, " nr in (%#x, %#x) or > %#x -> ERRNO(%d);", st->max_low,
                                st->a->private_base, st->max_high, ENOSYS);
                else if (refuses_by_default(b->def))
                        dprintf(fd, " nr > %u -> ERRNO(%d);", st->max_low, ENOSYS);
                for (size_t j = 0; j < st->n_extra; j++)
                        dprintf(fd, " nr == %u -> %#x;", st->extra[j].nr, st->extra[j].act);
                if (socketcall_rule(b, st) && b->socket_args)
                        dprintf(fd, " socketcall(SYS_SOCKET) -> %#x;", b->def);
                if (socketcall_rule(b, st) && b->socketpair_args)
                        dprintf(fd, " socketcall(SYS_SOCKETPAIR) -> %#x;", b->def);
                dprintf(fd, "\n");
        }
}

int nk_seccomp_export_pfc(json_t *sc, int fd, nk_error **err)
{
        struct build b;
        if (build_filter(sc, &b, err) < 0)
                return -1;
        describe_prefix(&b, fd);
        int r = seccomp_export_pfc(b.ctx, fd);
        free_build(&b);
        if (r < 0)
                return nk_error_set(err, -r, "seccomp: export the filter as PFC");
        return 0;
}

/* ---- load (container init) ------------------------------------------- */

/* The containerProcessState object of the runtime spec: what the agent at
 * listenerPath receives along with the fd. */
static char *listener_payload(const struct nk_seccomp *s, const char *state_json, nk_error **err)
{
        json_error_t je;
        json_t *state = state_json ? json_loads(state_json, 0, &je) : json_object();
        if (!state || !json_is_object(state)) {
                json_decref(state);
                nk_error_set(err, 0, "seccomp: bad container state for the listener");
                return NULL;
        }
        json_t *ver = json_object_get(state, "ociVersion"), *pid = json_object_get(state, "pid");
        json_t *msg = json_pack("{s:O?, s:[s], s:O?, s:s?, s:o}", "ociVersion", ver, "fds",
                                "seccompFd", "pid", pid, "metadata", s->metadata, "state", state);
        char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        json_decref(msg);
        if (!text)
                nk_error_set(err, ENOMEM, "seccomp: listener message");
        return text;
}

static int send_all(int sock, int fd, const char *buf, size_t len)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u = {0};
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        ssize_t n;
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        /* A stream socket may take the text in pieces; the fd rode along
         * with the first byte. */
        for (size_t off = n > 0 ? (size_t)n : 0; n >= 0 && off < len; off += (size_t)n)
                do
                        n = send(sock, buf + off, len - off, MSG_NOSIGNAL);
                while (n < 0 && errno == EINTR);
        return n < 0 ? -1 : 0;
}

int nk_seccomp_listener_sock(const struct nk_seccomp *s)
{
        return s ? s->listener_sock : -1;
}

int nk_seccomp_load(struct nk_seccomp *s, const char *state_json, nk_error **err)
{
        _cleanup_free_ char *payload = NULL;
        if (s->listener_sock >= 0 && !(payload = listener_payload(s, state_json, err)))
                return -1;
        struct sock_fprog prog = {.len = (unsigned short)s->n_prog, .filter = s->prog};
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->flags, &prog);
        if (fd < 0) {
                if (errno == EACCES)
                        return nk_error_set(err, errno,
                                            "load the seccomp filter: the process "
                                            "has neither no_new_privs nor CAP_SYS_ADMIN");
                return nk_error_set(err, errno, "load the seccomp filter");
        }
        if (s->listener_sock < 0)
                return 0;
        /* From here on the container's own filter applies to us. The
         * listener fd is O_CLOEXEC: execve closes it. */
        if (send_all(s->listener_sock, (int)fd, payload, strlen(payload)) < 0)
                return nk_error_set(err, errno, "send the seccomp listener fd to `%s`%s",
                                    s->listener_path,
                                    errno == EPERM ? " (does the profile deny sendmsg?)" : "");
        return 0;
}

/* ---- the engine's default profile -------------------------------------- */

extern const char nk_seccomp_default_json[];

const char *nk_seccomp_default_profile_text(void)
{
        return nk_seccomp_default_json;
}

static bool list_has(json_t *list, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v)
                if (json_is_string(v) && streq(json_string_value(v), s))
                        return true;
        return false;
}

/* includes: every listed cap present and the build's machine among the
 * arches; excludes: any listed cap present or the machine among the arches. */
static bool caps_all(json_t *list, uint64_t caps)
{
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
                int c = nk_cap_from_name(json_string_value(v));
                if (c < 0 || !(caps & (1ULL << c)))
                        return false;
        }
        return true;
}

static bool caps_any(json_t *list, uint64_t caps)
{
        size_t i;
        json_t *v;
        json_array_foreach (list, i, v) {
                int c = nk_cap_from_name(json_string_value(v));
                if (c >= 0 && (caps & (1ULL << c)))
                        return true;
        }
        return false;
}

/* Docker's own profiles name arches in Go's spelling (amd64, arm64). */
static bool arch_listed(json_t *list, const char *machine)
{
        static const char *const go[][2] = {
                {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"i686", "386"}, {"armv7l", "arm"}};
        if (list_has(list, machine))
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(go); i++)
                if (streq(go[i][0], machine))
                        return list_has(list, go[i][1]);
        return false;
}

static bool rule_applies(json_t *r, uint64_t caps, const char *machine)
{
        json_t *inc = json_object_get(r, "includes"), *exc = json_object_get(r, "excludes");
        json_t *v;
        if (inc && (v = json_object_get(inc, "caps")) && !caps_all(v, caps))
                return false;
        if (inc && (v = json_object_get(inc, "arches")) && !arch_listed(v, machine))
                return false;
        if (exc && (v = json_object_get(exc, "caps")) && caps_any(v, caps))
                return false;
        if (exc && (v = json_object_get(exc, "arches")) && arch_listed(v, machine))
                return false;
        return true;
}

/* The build machine's native libseccomp architecture in Docker's archMap
 * array form ({"architecture": "SCMP_ARCH_X86_64", "subArchitectures":
 * [...]}) is found through nook's own map (object keyed by machine). */
static const char *native_arch(json_t *own_map, const char *machine)
{
        return json_string_value(json_array_get(json_object_get(own_map, machine), 0));
}

/* Docker's archMap: an object keyed by `uname -m` spelling (nook's data
 * file) or an array of {architecture, subArchitectures} (Docker's); the
 * entry for this build becomes the OCI architectures list. */
static int resolve_arches(json_t *doc, json_t *out, const char *machine, const char *where,
                          nk_error **err)
{
        json_t *map = json_object_get(doc, "archMap"),
               *arches = json_object_get(doc, "architectures");
        if (map && arches && json_array_size(arches))
                return nk_error_set(err, 0, "%s: both \"architectures\" and \"archMap\"", where);
        if (arches)
                return json_object_set(out, "architectures", arches);
        if (!map || json_is_null(map))
                return 0;
        if (json_is_object(map)) {
                json_t *a = json_object_get(map, machine);
                return a ? json_object_set(out, "architectures", a) : 0;
        }
        if (!json_is_array(map))
                return nk_error_set(err, 0, "%s.archMap: must be an object or an array", where);
        json_error_t je;
        json_t *own = json_loads(nk_seccomp_default_json, 0, &je);
        const char *native = native_arch(json_object_get(own, "archMap"), machine);
        size_t i;
        json_t *e;
        int r = 0;
        json_array_foreach (map, i, e) {
                json_t *arch = json_object_get(e, "architecture"),
                       *subs = json_object_get(e, "subArchitectures");
                if (!json_is_string(arch) ||
                    (subs && !json_is_array(subs) && !json_is_null(subs))) {
                        r = nk_error_set(err, 0,
                                         "%s.archMap[%zu]: want {\"architecture\": STRING, "
                                         "\"subArchitectures\": [...]}",
                                         where, i);
                        break;
                }
                if (!native || !streq(json_string_value(arch), native))
                        continue;
                json_t *list = json_pack("[O]", arch);
                size_t j;
                json_t *sa;
                json_array_foreach (subs, j, sa)
                        json_array_append(list, sa);
                r = json_object_set_new(out, "architectures", list);
                break;
        }
        json_decref(own);
        return r;
}

static json_t *resolve_profile(json_t *doc, uint64_t caps, const char *machine, const char *where,
                               nk_error **err)
{
        static const char *const keep[] = {"defaultAction", "defaultErrnoRet", "flags",
                                           "listenerPath", "listenerMetadata"};
        if (!json_is_object(doc)) {
                nk_error_set(err, 0, "%s: the profile is not a JSON object", where);
                return NULL;
        }
        json_t *out = json_object();
        for (size_t k = 0; k < ARRAY_SIZE(keep); k++)
                if (json_object_get(doc, keep[k]))
                        json_object_set(out, keep[k], json_object_get(doc, keep[k]));
        if (resolve_arches(doc, out, machine, where, err) < 0) {
                json_decref(out);
                return NULL;
        }
        json_t *rules = json_array(), *list = json_object_get(doc, "syscalls");
        size_t i;
        json_t *r;
        if (list && !json_is_array(list) && !json_is_null(list)) {
                nk_error_set(err, 0, "%s.syscalls: must be an array", where);
                goto fail;
        }
        json_array_foreach (list, i, r) {
                json_t *inc = json_object_get(r, "includes"), *exc = json_object_get(r, "excludes");
                if (!json_is_object(r) || (inc && !json_is_object(inc)) ||
                    (exc && !json_is_object(exc))) {
                        nk_error_set(err, 0,
                                     "%s.syscalls[%zu]: rule, includes and excludes "
                                     "must be objects",
                                     where, i);
                        goto fail;
                }
                if (!rule_applies(r, caps, machine))
                        continue;
                json_t *copy = json_copy(r);
                json_object_del(copy, "includes");
                json_object_del(copy, "excludes");
                json_object_del(copy, "comment");
                /* Docker's older spelling: one "name" */
                json_t *name = json_object_get(copy, "name");
                if (name) {
                        if (json_object_get(copy, "names")) {
                                json_decref(copy);
                                nk_error_set(err, 0,
                                             "%s.syscalls[%zu]: both \"name\" and \"names\"", where,
                                             i);
                                goto fail;
                        }
                        json_object_set_new(copy, "names", json_pack("[O]", name));
                        json_object_del(copy, "name");
                }
                json_array_append_new(rules, copy);
        }
        json_object_set_new(out, "syscalls", rules);
        if (nk_seccomp_validate(out, where, err) < 0) {
                json_decref(out);
                return NULL;
        }
        return out;
fail:
        json_decref(rules);
        json_decref(out);
        return NULL;
}

json_t *nk_seccomp_profile_resolve(json_t *doc, uint64_t caps, const char *where, nk_error **err)
{
        return resolve_profile(doc, caps, NK_BUILD_MACHINE, where, err);
}

json_t *nk_seccomp_default_profile(uint64_t caps, nk_error **err)
{
        json_error_t je;
        json_t *doc = json_loads(nk_seccomp_default_json, 0, &je);
        if (!doc) {
                nk_error_set(err, 0, "default seccomp profile: line %d: %s", je.line, je.text);
                return NULL;
        }
        json_t *out = resolve_profile(doc, caps, NK_BUILD_MACHINE, "default seccomp profile", err);
        json_decref(doc);
        return out;
}

/* ---- features ------------------------------------------------------------ */

json_t *nk_seccomp_features(void)
{
        json_t *acts = json_array(), *opsv = json_array(), *archs = json_array();
        json_t *known = json_array(), *supported = json_array();
        for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
                json_array_append_new(acts, json_string(actions[i].name));
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                json_array_append_new(opsv, json_string(ops[i].name));
        for (size_t i = 0; i < ARRAY_SIZE(arch_names); i++)
                if (arch_token(arch_names[i]))
                        json_array_append_new(archs, json_string(arch_names[i]));
        for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++) {
                unsigned f = flag_names[i].flag;
                json_array_append_new(known, json_string(flag_names[i].name));
                if (f == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
                        f |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
                if (kernel_has_flags(f))
                        json_array_append_new(supported, json_string(flag_names[i].name));
        }
        return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "enabled", 1, "actions", acts,
                         "operators", opsv, "archs", archs, "knownFlags", known, "supportedFlags",
                         supported);
}
