/* nook engine — Docker's `run`/`create` flags into struct nk_run_opts.
 *
 * The command line follows Docker's (spf13/pflag) rules: long flags as
 * `--flag value` or `--flag=value`, short ones as `-e value`, `-evalue`,
 * `-e=value`, and several boolean shorthands in one word (`-dit`, `-itd`,
 * the last of them may take a value: `-ite FOO=1`). Options stop at the
 * first word that is not one (the image); everything after it is the
 * command, flags included (`nook run img ls -l`). `--` ends the options
 * too. Every value is checked here, so a bad one is refused before any
 * image is pulled or anything is created. */
#include "engine/container/runopts.h"
#include "runtime/container.h"
#include "runtime/security.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/rate.h"
#include "util/strv.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

enum opt_id {
        O_DETACH,
        O_INTERACTIVE,
        O_TTY,
        O_RM,
        O_INIT,
        O_PRIVILEGED,
        O_READ_ONLY,
        O_NAME,
        O_ENV,
        O_ENV_FILE,
        O_WORKDIR,
        O_USER,
        O_ENTRYPOINT,
        O_HOSTNAME,
        O_LABEL,
        O_RESTART,
        O_STOP_SIGNAL,
        O_STOP_TIMEOUT,
        O_PULL,
        O_CIDFILE,
        O_INIT_PATH,
        O_LOG_OPT,
        O_MEMORY,
        O_PIDS_LIMIT,
        O_CPUS,
        O_CPU_SHARES,
        O_CPUSET_CPUS,
        O_VOLUME,
        O_MOUNT,
        O_TMPFS,
        O_MEMORY_SWAP,
        O_SHM_SIZE,
        O_ULIMIT,
        O_CAP_ADD,
        O_CAP_DROP,
        O_SECURITY_OPT,
        O_DEVICE,
        O_SYSCTL,
        O_USERNS,
        O_UIDMAP,
        O_GIDMAP,
        O_NETWORK,
        O_IP,
        O_IP6,
        O_ALIAS,
        O_MAC,
        O_PUBLISH,
        O_PUBLISH_ALL,
        O_ADD_HOST,
        O_DNS,
        O_DNS_SEARCH,
        O_DNS_OPTION,
        O_EGRESS_RATE,
        O_INGRESS_RATE,
};

static const struct opt {
        const char *name;
        char shorthand; /* 0: none */
        bool takes_value;
        enum opt_id id;
} opts[] = {
        {"detach", 'd', false, O_DETACH},
        {"interactive", 'i', false, O_INTERACTIVE},
        {"tty", 't', false, O_TTY},
        {"rm", 0, false, O_RM},
        {"init", 0, false, O_INIT},
        {"privileged", 0, false, O_PRIVILEGED},
        {"read-only", 0, false, O_READ_ONLY},
        {"name", 0, true, O_NAME},
        {"env", 'e', true, O_ENV},
        {"env-file", 0, true, O_ENV_FILE},
        {"workdir", 'w', true, O_WORKDIR},
        {"user", 'u', true, O_USER},
        {"entrypoint", 0, true, O_ENTRYPOINT},
        {"hostname", 'h', true, O_HOSTNAME},
        {"label", 'l', true, O_LABEL},
        {"restart", 0, true, O_RESTART},
        {"stop-signal", 0, true, O_STOP_SIGNAL},
        {"stop-timeout", 0, true, O_STOP_TIMEOUT},
        {"pull", 0, true, O_PULL},
        {"cidfile", 0, true, O_CIDFILE},
        {"init-path", 0, true, O_INIT_PATH},
        {"log-opt", 0, true, O_LOG_OPT},
        {"memory", 'm', true, O_MEMORY},
        {"pids-limit", 0, true, O_PIDS_LIMIT},
        {"cpus", 0, true, O_CPUS},
        {"cpu-shares", 0, true, O_CPU_SHARES},
        {"cpuset-cpus", 0, true, O_CPUSET_CPUS},
        {"volume", 'v', true, O_VOLUME},
        {"mount", 0, true, O_MOUNT},
        {"tmpfs", 0, true, O_TMPFS},
        {"memory-swap", 0, true, O_MEMORY_SWAP},
        {"shm-size", 0, true, O_SHM_SIZE},
        {"ulimit", 0, true, O_ULIMIT},
        {"cap-add", 0, true, O_CAP_ADD},
        {"cap-drop", 0, true, O_CAP_DROP},
        {"security-opt", 0, true, O_SECURITY_OPT},
        {"device", 0, true, O_DEVICE},
        {"sysctl", 0, true, O_SYSCTL},
        {"userns", 0, true, O_USERNS},
        {"uidmap", 0, true, O_UIDMAP},
        {"gidmap", 0, true, O_GIDMAP},
        {"network", 0, true, O_NETWORK},
        {"net", 0, true, O_NETWORK},
        {"ip", 0, true, O_IP},
        {"ip6", 0, true, O_IP6},
        {"network-alias", 0, true, O_ALIAS},
        {"net-alias", 0, true, O_ALIAS},
        {"mac-address", 0, true, O_MAC},
        {"publish", 'p', true, O_PUBLISH},
        {"publish-all", 'P', false, O_PUBLISH_ALL},
        {"add-host", 0, true, O_ADD_HOST},
        {"dns", 0, true, O_DNS},
        {"dns-search", 0, true, O_DNS_SEARCH},
        {"dns-option", 0, true, O_DNS_OPTION},
        {"dns-opt", 0, true, O_DNS_OPTION},
        {"egress-rate", 0, true, O_EGRESS_RATE},
        {"ingress-rate", 0, true, O_INGRESS_RATE},
};

/* A file given to --env-file is read whole; Docker's are a few lines. */
#define ENV_FILE_MAX (1 << 20)

static void opts_init(struct nk_run_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->restart = NK_RESTART_NO;
        o->pull = NK_PULL_MISSING;
        o->stop_timeout = -1;
        o->log_max_file = 1;
        o->memory = o->memory_swap = o->shm_size = o->cpu_shares = o->pids_limit = -1;
        o->cpu_quota = o->cpu_period = -1;
}

static int bad(nk_error **err, const char *flag, const char *value, const char *why)
{
        return nk_error_set(err, 0, "invalid argument \"%s\" for \"--%s\" flag: %s", value, flag,
                            why);
}

static int oom(nk_error **err, const char *flag)
{
        return nk_error_set(err, ENOMEM, "--%s", flag);
}

/* Docker's container name rule (daemon/names: [a-zA-Z0-9][a-zA-Z0-9_.-]+,
 * one character allowed here as Docker's API does), and it names a
 * directory, so one path component. */
bool nk_run_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > NK_CONTAINER_ID_MAX || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

/* Docker's RAMInBytes: a number (decimals allowed) and an optional unit
 * b, k, m, g, t, p (any case, binary multiples, "kb"/"kib" spellings
 * too). Overflow checked, the result truncated to whole bytes. */
int nk_run_parse_bytes(const char *s, int64_t *out)
{
        const char *p = s;
        unsigned long long whole = 0, frac = 0, frac_div = 1;
        if (!isdigit((unsigned char)*p))
                return -1;
        for (; isdigit((unsigned char)*p); p++) {
                if (whole > (ULLONG_MAX - 9) / 10)
                        return -1;
                whole = whole * 10 + (unsigned)(*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return -1;
                for (; isdigit((unsigned char)*p); p++)
                        if (frac_div < 1000000000ULL) {
                                frac = frac * 10 + (unsigned)(*p - '0');
                                frac_div *= 10;
                        }
        }
        unsigned shift = 0;
        switch (tolower((unsigned char)*p)) {
        case 'k':
                shift = 10;
                break;
        case 'm':
                shift = 20;
                break;
        case 'g':
                shift = 30;
                break;
        case 't':
                shift = 40;
                break;
        case 'p':
                shift = 50;
                break;
        }
        if (shift) {
                p++;
                if (tolower((unsigned char)*p) == 'i')
                        p++;
        }
        if (tolower((unsigned char)*p) == 'b')
                p++;
        if (*p)
                return -1;
        if (whole > (unsigned long long)INT64_MAX >> shift)
                return -1;
        unsigned long long v = whole << shift;
        /* frac/frac_div of 2^shift: at most 2^50 * 10^9 fits in 2^80, so
         * split to stay in 64 bits: (frac << shift) / frac_div overflows for
         * shift 50 — divide first for big shifts (a byte off at most). */
        unsigned long long part = shift > 30 ? (frac * (1ULL << 30) / frac_div) << (shift - 30)
                                             : (frac << shift) / frac_div;
        if (v > (unsigned long long)INT64_MAX - part)
                return -1;
        *out = (int64_t)(v + part);
        return 0;
}

/* "1.5" -> 1500000000 (nano CPUs), at most nine decimals like Docker's
 * ParseCPUs (big.Rat then an exactness check). */
static int parse_nano_cpus(const char *s, int64_t *out)
{
        const char *p = s;
        int64_t whole = 0, frac = 0;
        int digits = 0;
        if (!isdigit((unsigned char)*p))
                return -1;
        for (; isdigit((unsigned char)*p); p++) {
                if (whole > 1000000) /* a million CPUs is not a host */
                        return -1;
                whole = whole * 10 + (*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return -1;
                for (; isdigit((unsigned char)*p); p++, digits++) {
                        if (digits == 9)
                                return -1; /* finer than a nano CPU */
                        frac = frac * 10 + (*p - '0');
                }
        }
        if (*p)
                return -1;
        for (; digits < 9; digits++)
                frac *= 10;
        *out = whole * 1000000000 + frac;
        return 0;
}

/* KEY=VALUE, or a bare KEY (its value comes from the client's
 * environment: nk_run_opts_env_from_host). Docker refuses an empty key
 * and, in env files, a key with white space. */
static int check_env(const char *flag, const char *kv, nk_error **err)
{
        size_t klen = strcspn(kv, "=");
        if (klen == 0)
                return bad(err, flag, kv, "variable name is empty");
        for (size_t i = 0; i < klen; i++)
                if (isspace((unsigned char)kv[i]))
                        return bad(err, flag, kv, "variable name contains white space");
        return 0;
}

/* Docker's env file: one KEY=VALUE (or bare KEY) a line; leading white
 * space dropped, blank lines and lines starting with '#' skipped, the
 * value kept as written. */
static int read_env_file(const char *path, char ***env, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (nk_read_file(path, &text, &len, err) < 0)
                return nk_error_wrap(err, "--env-file");
        if (len > ENV_FILE_MAX)
                return nk_error_set(err, 0, "--env-file `%s`: larger than %d bytes", path,
                                    ENV_FILE_MAX);
        if (strlen(text) != len)
                return nk_error_set(err, 0, "--env-file `%s`: holds a NUL byte", path);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                while (isspace((unsigned char)*line))
                        line++;
                size_t n = strlen(line);
                if (n && line[n - 1] == '\r')
                        line[--n] = '\0';
                if (!*line || *line == '#')
                        continue;
                if (check_env("env-file", line, err) < 0)
                        return nk_error_wrap(err, "`%s`", path);
                if (nk_strv_push(env, line) < 0)
                        return oom(err, "env-file");
        }
        return 0;
}

static int parse_restart(struct nk_run_opts *o, const char *v, nk_error **err)
{
        static const char *const why =
                "want no, always, unless-stopped, on-failure or on-failure:N";
        const char *colon = strchr(v, ':');
        size_t plen = colon ? (size_t)(colon - v) : strlen(v);
        unsigned long long n = 0;
        if (colon && (strncmp(v, "on-failure", plen) != 0 || plen != 10))
                return bad(err, "restart", v, "a retry count goes with on-failure only");
        if (colon && nk_parse_uint(colon + 1, INT_MAX, &n) < 0)
                return bad(err, "restart", v, "retry count is not a number");
        if (streq(v, "no"))
                o->restart = NK_RESTART_NO;
        else if (streq(v, "always"))
                o->restart = NK_RESTART_ALWAYS;
        else if (streq(v, "unless-stopped"))
                o->restart = NK_RESTART_UNLESS_STOPPED;
        else if (plen == 10 && strncmp(v, "on-failure", 10) == 0)
                o->restart = NK_RESTART_ON_FAILURE;
        else
                return bad(err, "restart", v, why);
        o->restart_max = (int)n;
        return 0;
}

static int parse_log_opt(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *eq = strchr(v, '=');
        if (!eq)
                return bad(err, "log-opt", v, "want KEY=VALUE");
        if (strncmp(v, "max-size=", 9) == 0) {
                int64_t b;
                if (nk_run_parse_bytes(eq + 1, &b) < 0 || b == 0)
                        return bad(err, "log-opt", v, "max-size is not a positive size");
                o->log_max_size = b;
        } else if (strncmp(v, "max-file=", 9) == 0) {
                unsigned long long n;
                if (nk_parse_uint(eq + 1, INT_MAX, &n) < 0 || n < 1)
                        return bad(err, "log-opt", v, "max-file is not a number of at least 1");
                o->log_max_file = (int)n;
        } else {
                return bad(err, "log-opt", v, "unknown log option (max-size, max-file)");
        }
        return 0;
}

/* Docker's user spec: user[:group], each a name or a number. */
static int check_user(const char *v, nk_error **err)
{
        const char *colon = strchr(v, ':');
        if (!*v || v[0] == ':' || (colon && (!colon[1] || strchr(colon + 1, ':'))))
                return bad(err, "user", v, "want USER[:GROUP]");
        return 0;
}

static int set_str(char **dst, const char *flag, const char *v, nk_error **err)
{
        char *c = strdup(v);
        if (!c)
                return oom(err, flag);
        free(*dst);
        *dst = c;
        return 0;
}

/* ---- volumes, mounts, tmpfs ------------------------------------------------ */

/* Docker's local volume name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+, one path
 * component (no '/', never "." or ".."). */
bool nk_volume_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n < 2 || n > 255 || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

static const char *const propagations[] = {"shared",  "slave",  "private",
                                           "rshared", "rslave", "rprivate"};

static bool is_propagation(const char *s)
{
        for (size_t i = 0; i < ARRAY_SIZE(propagations); i++)
                if (streq(s, propagations[i]))
                        return true;
        return false;
}

static int add_mount(struct nk_run_opts *o, struct nk_run_mount *m, const char *flag,
                     nk_error **err)
{
        for (size_t i = 0; i < o->n_mounts; i++)
                if (streq(o->mounts[i].target, m->target))
                        return nk_error_set(err, 0, "--%s: duplicate mount point `%s`", flag,
                                            m->target);
        struct nk_run_mount *v = realloc(o->mounts, (o->n_mounts + 1) * sizeof(*v));
        if (!v)
                return oom(err, flag);
        o->mounts = v;
        o->mounts[o->n_mounts++] = *m;
        *m = (struct nk_run_mount){0};
        return 0;
}

static void mount_clear(struct nk_run_mount *m)
{
        free(m->source);
        free(m->target);
        nk_strv_free(m->options);
        *m = (struct nk_run_mount){0};
}

/* A container path: absolute, not /, no "..": Docker refuses `/` as a
 * destination; ".." would leave the place it names. */
static const char *target_problem(const char *t)
{
        if (t[0] != '/')
                return "the mount point must be an absolute path";
        if (streq(t, "/") || strspn(t, "/") == strlen(t))
                return "the mount point cannot be /";
        for (const char *p = t; (p = strstr(p, "..")); p += 2)
                if (p[-1] == '/' && (p[2] == '/' || !p[2]))
                        return "the mount point has a `..` component";
        return NULL;
}

/* A copy of v cut at its colons into parts (at most 4: n == 4 means "too
 * many"); the caller frees the copy, NULL when out of memory. */
static char *split_colons(const char *v, char *parts[4], size_t *n)
{
        char *copy = strdup(v);
        *n = 0;
        for (char *p = copy, *t; copy && *n < 4 && (t = strsep(&p, ":"));)
                parts[(*n)++] = t;
        return copy;
}

/* -v SRC:DST[:OPTS], -v DST (anonymous volume). SRC starting with '/' is
 * a host path, anything else a volume name. OPTS: ro, rw, z, Z (SELinux
 * relabelling: accepted, nothing to do without SELinux), nocopy and a
 * propagation mode, comma separated. */
static int parse_volume(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "volume";
        char *parts[4] = {0};
        size_t n;
        _cleanup_free_ char *copy = split_colons(v, parts, &n);
        if (!copy)
                return oom(err, f);
        if (n > 3)
                return bad(err, f, v, "want [SOURCE:]TARGET[:OPTIONS]");
        struct nk_run_mount m = {.kind = NK_MOUNT_VOLUME};
        const char *src = n >= 2 ? parts[0] : NULL, *dst = n >= 2 ? parts[1] : parts[0];
        const char *mopts = n == 3 ? parts[2] : NULL;
        const char *why;
        if (!*dst || (why = target_problem(dst)))
                return bad(err, f, v, *dst ? why : "empty mount point");
        if (src && !*src)
                return bad(err, f, v, "empty source");
        if (src && src[0] == '/') {
                m.kind = NK_MOUNT_BIND;
        } else if (src && !nk_volume_name_valid(src)) {
                return bad(err, f, v,
                           "the volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (a host "
                           "directory must be an absolute path)");
        }
        bool seen_rw = false, seen_prop = false;
        for (char *p = (char *)mopts, *t; p && (t = strsep(&p, ","));) {
                if (streq(t, "ro") || streq(t, "rw")) {
                        if (seen_rw)
                                goto bad_opt;
                        seen_rw = true;
                        m.readonly = streq(t, "ro");
                } else if (streq(t, "z") || streq(t, "Z")) {
                        /* SELinux relabel: no SELinux here, nothing to do */
                } else if (streq(t, "nocopy") && m.kind == NK_MOUNT_VOLUME) {
                        m.nocopy = true;
                } else if (is_propagation(t) && m.kind == NK_MOUNT_BIND && !seen_prop) {
                        seen_prop = true;
                        if (nk_strv_push(&m.options, t) < 0) {
                                mount_clear(&m);
                                return oom(err, f);
                        }
                } else {
                bad_opt:
                        mount_clear(&m);
                        return bad(err, f, v,
                                   "unknown or repeated mode (ro, rw, z, Z, nocopy, "
                                   "a propagation for binds)");
                }
        }
        if (!(m.target = strdup(dst)) || (src && !(m.source = strdup(src)))) {
                mount_clear(&m);
                return oom(err, f);
        }
        int r = add_mount(o, &m, f, err);
        mount_clear(&m);
        return r;
}

/* tmpfs options shared by --tmpfs and --mount's tmpfs-size/tmpfs-mode:
 * size= (Docker's size syntax, kept in bytes), mode= (octal), uid=,
 * gid=, nr_inodes= and the plain flags a tmpfs takes. */
static int tmpfs_opt(struct nk_run_mount *m, const char *t, bool *ro_seen)
{
        unsigned long long n;
        int64_t b;
        char buf[64];
        static const char *const flags[] = {
                "exec",    "noexec",   "suid",        "nosuid",     "dev",      "nodev", "atime",
                "noatime", "relatime", "strictatime", "nodiratime", "diratime", "sync",  "async"};
        if (streq(t, "ro") || streq(t, "rw")) {
                if (*ro_seen)
                        return -1;
                *ro_seen = true;
                m->readonly = streq(t, "ro");
                return 0;
        }
        if (strncmp(t, "size=", 5) == 0) {
                if (nk_run_parse_bytes(t + 5, &b) < 0 || b == 0)
                        return -1;
                snprintf(buf, sizeof(buf), "size=%" PRId64, b);
                t = buf;
        } else if (strncmp(t, "mode=", 5) == 0) {
                char *end;
                errno = 0;
                unsigned long mode = strtoul(t + 5, &end, 8);
                if (!t[5] || *end || errno || mode > 07777 || t[5] == '-' || t[5] == '+')
                        return -1;
                snprintf(buf, sizeof(buf), "mode=%lo", mode);
                t = buf;
        } else if (strncmp(t, "uid=", 4) == 0 || strncmp(t, "gid=", 4) == 0) {
                uint32_t id;
                if (nk_parse_id(t + 4, &id) < 0)
                        return -1;
        } else if (strncmp(t, "nr_inodes=", 10) == 0) {
                if (nk_parse_uint(t + 10, INT64_MAX, &n) < 0)
                        return -1;
        } else {
                bool known = false;
                for (size_t i = 0; i < ARRAY_SIZE(flags) && !known; i++)
                        known = streq(t, flags[i]);
                if (!known)
                        return -1;
        }
        return nk_strv_push(&m->options, t) < 0 ? -2 : 0;
}

/* --tmpfs PATH[:OPTIONS] */
static int parse_tmpfs(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "tmpfs", *why;
        _cleanup_free_ char *copy = strdup(v);
        if (!copy)
                return oom(err, f);
        char *colon = strchr(copy, ':');
        if (colon)
                *colon++ = '\0';
        if ((why = target_problem(copy)))
                return bad(err, f, v, why);
        struct nk_run_mount m = {.kind = NK_MOUNT_TMPFS};
        bool ro_seen = false;
        for (char *p = colon, *t; p && (t = strsep(&p, ","));) {
                int r = tmpfs_opt(&m, t, &ro_seen);
                if (r < 0) {
                        mount_clear(&m);
                        return r == -2 ? oom(err, f) : bad(err, f, v, "bad tmpfs option");
                }
        }
        if (!(m.target = strdup(copy))) {
                mount_clear(&m);
                return oom(err, f);
        }
        int r = add_mount(o, &m, f, err);
        mount_clear(&m);
        return r;
}

/* --mount type=bind|volume|tmpfs,source=,target=,readonly,... (Docker's
 * CSV keys: src/source, dst/destination/target, ro/readonly[=BOOL],
 * volume-nocopy, bind-propagation, tmpfs-size, tmpfs-mode). */
static int parse_mount(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "mount", *why = "want type=bind|volume|tmpfs,target=PATH[,...]";
        _cleanup_free_ char *copy = strdup(v);
        if (!copy)
                return oom(err, f);
        struct nk_run_mount m = {.kind = NK_MOUNT_VOLUME};
        const char *type = NULL, *src = NULL, *dst = NULL, *prop = NULL;
        const char *tsize = NULL, *tmode = NULL;
        bool nocopy = false, ro = false;
        for (char *p = copy, *t; (t = strsep(&p, ","));) {
                char *val = strchr(t, '=');
                if (val)
                        *val++ = '\0';
                if (streq(t, "type") && val)
                        type = val;
                else if ((streq(t, "source") || streq(t, "src")) && val)
                        src = val;
                else if ((streq(t, "target") || streq(t, "destination") || streq(t, "dst")) && val)
                        dst = val;
                else if (streq(t, "readonly") || streq(t, "ro") || streq(t, "volume-nocopy")) {
                        bool b = true;
                        if (val && !streq(val, "true") && !streq(val, "1") &&
                            !(b = false, streq(val, "false") || streq(val, "0")))
                                return bad(err, f, v, "a boolean option wants true or false");
                        *(streq(t, "volume-nocopy") ? &nocopy : &ro) = b;
                } else if (streq(t, "bind-propagation") && val && is_propagation(val))
                        prop = val;
                else if (streq(t, "tmpfs-size") && val)
                        tsize = val;
                else if (streq(t, "tmpfs-mode") && val)
                        tmode = val;
                else
                        return bad(err, f, v, "unknown key or a key without a value");
        }
        if (!type || (!streq(type, "bind") && !streq(type, "volume") && !streq(type, "tmpfs")))
                return bad(err, f, v, why);
        if (!dst)
                return bad(err, f, v, "target is required");
        if ((why = target_problem(dst)))
                return bad(err, f, v, why);
        if (streq(type, "bind")) {
                m.kind = NK_MOUNT_BIND;
                if (!src || src[0] != '/')
                        return bad(err, f, v, "a bind mount wants an absolute source");
                if (nocopy || tsize || tmode)
                        return bad(err, f, v, "volume and tmpfs options on a bind mount");
        } else if (streq(type, "volume")) {
                if (src && !*src)
                        src = NULL;
                if (src && !nk_volume_name_valid(src))
                        return bad(err, f, v,
                                   "the volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]+");
                if (prop || tsize || tmode)
                        return bad(err, f, v, "bind and tmpfs options on a volume mount");
        } else {
                m.kind = NK_MOUNT_TMPFS;
                if (src && *src)
                        return bad(err, f, v, "a tmpfs mount takes no source");
                if (prop || nocopy)
                        return bad(err, f, v, "bind and volume options on a tmpfs mount");
                src = NULL;
        }
        m.readonly = ro;
        m.nocopy = nocopy;
        char buf[64];
        bool ro_seen = true;
        if (tsize &&
            (snprintf(buf, sizeof(buf), "size=%s", tsize), tmpfs_opt(&m, buf, &ro_seen) < 0)) {
                mount_clear(&m);
                return bad(err, f, v, "tmpfs-size is not a positive size");
        }
        if (tmode &&
            (snprintf(buf, sizeof(buf), "mode=%s", tmode), tmpfs_opt(&m, buf, &ro_seen) < 0)) {
                mount_clear(&m);
                return bad(err, f, v, "tmpfs-mode is not an octal mode");
        }
        if ((prop && nk_strv_push(&m.options, prop) < 0) || !(m.target = strdup(dst)) ||
            (src && !(m.source = strdup(src)))) {
                mount_clear(&m);
                return oom(err, f);
        }
        int r = add_mount(o, &m, f, err);
        mount_clear(&m);
        return r;
}

/* ---- ulimits, capabilities, security options -------------------------------- */

/* --ulimit NAME=SOFT[:HARD] (Docker's names, without RLIMIT_; -1 is
 * unlimited). A later one for the same name replaces the earlier. */
static int parse_ulimit(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "ulimit";
        size_t klen = strcspn(v, "=");
        if (!v[klen] || klen == 0 || klen > 32)
                return bad(err, f, v, "want NAME=SOFT[:HARD]");
        char type[48] = "RLIMIT_";
        for (size_t i = 0; i < klen; i++)
                type[7 + i] = (char)toupper((unsigned char)v[i]);
        type[7 + klen] = '\0';
        if (nk_rlimit_from_name(type) < 0)
                return bad(err, f, v, "unknown limit name");
        int64_t lim[2];
        const char *p = v + klen + 1;
        for (int k = 0; k < 2; k++) {
                size_t len = strcspn(p, ":");
                unsigned long long n;
                if (len == 2 && strncmp(p, "-1", 2) == 0)
                        lim[k] = -1;
                else if (nk_parse_uint_n(p, len, INT64_MAX, &n) < 0)
                        return bad(err, f, v, "limits are numbers (-1: unlimited)");
                else
                        lim[k] = (int64_t)n;
                if (k == 0 && !p[len]) {
                        lim[1] = lim[0];
                        break;
                }
                if (k == 1 && p[len])
                        return bad(err, f, v, "want NAME=SOFT[:HARD]");
                p += len + 1;
        }
        /* unlimited (-1) is the largest value */
        if (lim[1] != -1 && (lim[0] == -1 || lim[0] > lim[1]))
                return bad(err, f, v, "the soft limit is above the hard limit");
        if (!o->rlimits && !(o->rlimits = json_array()))
                return oom(err, f);
        size_t i;
        json_t *r;
        json_array_foreach (o->rlimits, i, r)
                if (streq(json_string_value(json_object_get(r, "type")), type)) {
                        json_array_remove(o->rlimits, i);
                        break;
                }
        json_t *e = json_pack("{s:s, s:I, s:I}", "type", type, "soft", (json_int_t)lim[0], "hard",
                              (json_int_t)lim[1]);
        return !e || json_array_append_new(o->rlimits, e) < 0 ? oom(err, f) : 0;
}

/* --cap-add/--cap-drop NAME: any case, with or without CAP_; ALL. Checked
 * against the runtime's capability table. */
static int parse_cap(char ***list, const char *f, const char *v, nk_error **err)
{
        char name[64];
        size_t n = strlen(v);
        bool prefixed = n >= 4 && strncasecmp(v, "CAP_", 4) == 0;
        if (n == 0 || n + 5 > sizeof(name))
                return bad(err, f, v, "unknown capability");
        snprintf(name, sizeof(name), "%s%s", prefixed ? "" : "CAP_", v);
        for (char *c = name; *c; c++)
                *c = (char)toupper((unsigned char)*c);
        if (!streq(name, "CAP_ALL") && nk_cap_from_name(name) < 0)
                return bad(err, f, v, "unknown capability");
        const char *keep = streq(name, "CAP_ALL") ? "ALL" : name;
        return nk_strv_contains(*list, keep) || nk_strv_push(list, keep) == 0 ? 0 : oom(err, f);
}

/* Docker/OCI seccomp profiles are a few hundred KiB at most. */
#define SECCOMP_FILE_MAX (4 << 20)

static int load_seccomp(struct nk_run_opts *o, const char *v, const char *file, nk_error **err)
{
        const char *f = "security-opt";
        _cleanup_free_ char *text = NULL;
        size_t len;
        nk_error *e = NULL;
        if (nk_read_file(file, &text, &len, &e) < 0) {
                _cleanup_free_ char *t = nk_error_text(e);
                nk_error_free(e);
                return bad(err, f, v, t ? t : "cannot read the profile");
        }
        if (len > SECCOMP_FILE_MAX)
                return bad(err, f, v, "the profile is larger than 4 MiB");
        json_error_t je;
        json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
                char why[300];
                snprintf(why, sizeof(why), "`%s` line %d: %s", file, je.line, je.text);
                return bad(err, f, v, why);
        }
        /* checked with every capability: rules for any set must be sound */
        json_t *prof = nk_seccomp_profile_resolve(doc, ~0ULL, file, &e);
        if (!prof) {
                json_decref(doc);
                _cleanup_free_ char *t = nk_error_text(e);
                nk_error_free(e);
                return bad(err, f, v, t ? t : "bad profile");
        }
        json_decref(prof);
        json_decref(o->seccomp_profile);
        o->seccomp_profile = doc;
        return set_str(&o->seccomp, f, file, err);
}

/* --security-opt seccomp=FILE|unconfined, no-new-privileges[:BOOL|=BOOL] */
static int parse_security_opt(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "security-opt";
        if (strncmp(v, "seccomp=", 8) == 0 || strncmp(v, "seccomp:", 8) == 0) {
                const char *p = v + 8;
                if (!*p)
                        return bad(err, f, v, "seccomp wants a profile file or unconfined");
                if (streq(p, "unconfined")) {
                        json_decref(o->seccomp_profile);
                        o->seccomp_profile = NULL;
                        return set_str(&o->seccomp, f, p, err);
                }
                return load_seccomp(o, v, p, err);
        }
        if (strncmp(v, "no-new-privileges", 17) == 0) {
                const char *p = v + 17;
                if (!*p) {
                        o->no_new_privileges = true;
                        return 0;
                }
                if ((*p == ':' || *p == '=') && (streq(p + 1, "true") || streq(p + 1, "false"))) {
                        o->no_new_privileges = streq(p + 1, "true");
                        return 0;
                }
                return bad(err, f, v, "no-new-privileges takes true or false");
        }
        return bad(err, f, v, "unknown option (seccomp=FILE|unconfined, no-new-privileges)");
}

/* ---- devices, sysctls, user namespaces ---------------------------------- */

static bool is_perms(const char *s)
{
        if (!*s || strlen(s) > 3)
                return false;
        for (const char *c = s; *c; c++)
                if (!strchr("rwm", *c) || strchr(c + 1, *c))
                        return false;
        return true;
}

/* --device HOST[:CONTAINER[:PERMS]] (HOST:PERMS too, as Docker's
 * ValidateDevice reads a second field that is a permission set). The host
 * node is stat'ed now: its type and numbers go into the spec. */
static int parse_device(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "device";
        char *parts[4] = {0};
        size_t n;
        _cleanup_free_ char *copy = split_colons(v, parts, &n);
        if (!copy)
                return oom(err, f);
        if (n > 3)
                return bad(err, f, v, "want HOST[:CONTAINER[:PERMISSIONS]]");
        const char *host = parts[0], *ctr = parts[0], *perms = "rwm";
        if (n == 2 && is_perms(parts[1]))
                perms = parts[1];
        else if (n >= 2)
                ctr = parts[1];
        if (n == 3)
                perms = parts[2];
        if (host[0] != '/')
                return bad(err, f, v, "the host device must be an absolute path");
        if (ctr[0] != '/' || target_problem(ctr))
                return bad(err, f, v, "the container path must be an absolute path");
        if (!is_perms(perms))
                return bad(err, f, v, "permissions are a subset of rwm");
        struct stat st;
        if (stat(host, &st) < 0) {
                char why[96];
                snprintf(why, sizeof(why), "`%s`: %s", host, strerror(errno));
                return bad(err, f, v, why);
        }
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                return bad(err, f, v, "not a character or block device");
        if (!o->device_nodes && !(o->device_nodes = json_array()))
                return oom(err, f);
        json_t *d = json_pack("{s:s, s:s, s:I, s:I, s:i, s:I, s:I, s:s, s:s}", "path", ctr, "type",
                              S_ISCHR(st.st_mode) ? "c" : "b", "major",
                              (json_int_t)major(st.st_rdev), "minor", (json_int_t)minor(st.st_rdev),
                              "fileMode", (int)(st.st_mode & 07777), "uid", (json_int_t)st.st_uid,
                              "gid", (json_int_t)st.st_gid, "access", perms, "host", host);
        if (!d || json_array_append_new(o->device_nodes, d) < 0 || nk_strv_push(&o->devices, v) < 0)
                return oom(err, f);
        return 0;
}

/* Docker's namespaced sysctls (opts.ValidateSysctl): the IPC ones and
 * fs.mqueue.*, net.* (the network namespace's). */
static bool sysctl_namespaced(const char *k)
{
        static const char *const ipc[] = {
                "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
        };
        for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
                if (streq(k, ipc[i]))
                        return true;
        return (strncmp(k, "fs.mqueue.", 10) == 0 && k[10]) || (strncmp(k, "net.", 4) == 0 && k[4]);
}

static int parse_sysctl(struct nk_run_opts *o, const char *v, nk_error **err)
{
        const char *f = "sysctl";
        size_t klen = strcspn(v, "=");
        if (!v[klen] || klen == 0)
                return bad(err, f, v, "want NAME=VALUE");
        _cleanup_free_ char *k = strndup(v, klen);
        if (!k)
                return oom(err, f);
        for (char *c = k; *c; c++)
                if (*c == '/')
                        *c = '.';
        if (strstr(k, "..") || k[klen - 1] == '.')
                return bad(err, f, v, "not a sysctl name");
        if (!sysctl_namespaced(k))
                return bad(err, f, v,
                           "not a namespaced sysctl (kernel.msg*, kernel.sem, kernel.shm*, "
                           "fs.mqueue.*, net.*)");
        if (!o->sysctls && !(o->sysctls = json_object()))
                return oom(err, f);
        json_t *val = json_string(v + klen + 1);
        if (!val)
                return bad(err, f, v, "the value is not UTF-8");
        return json_object_set_new(o->sysctls, k, val) < 0 ? oom(err, f) : 0;
}

/* --uidmap/--gidmap CONTAINER:HOST:SIZE, several allowed; ranges may not
 * overlap inside the container or on the host, nor wrap past 2^32. */
static int parse_idmap(json_t **list, const char *f, const char *v, nk_error **err)
{
        unsigned long long x[3];
        const char *p = v;
        for (int k = 0; k < 3; k++) {
                size_t len = strcspn(p, ":");
                if (nk_parse_uint_n(p, len, UINT32_MAX, &x[k]) < 0 || (k < 2) != (p[len] == ':'))
                        return bad(err, f, v, "want CONTAINER:HOST:SIZE (numbers)");
                p += len + 1;
        }
        if (x[2] == 0)
                return bad(err, f, v, "the size is 0");
        if (x[0] + x[2] > 1ULL << 32 || x[1] + x[2] > 1ULL << 32)
                return bad(err, f, v, "the range goes past 4294967295");
        if (!*list && !(*list = json_array()))
                return oom(err, f);
        if (json_array_size(*list) >= 340) /* the kernel's limit (user_namespaces(7)) */
                return bad(err, f, v, "more than 340 ranges");
        size_t i;
        json_t *m;
        json_array_foreach (*list, i, m) {
                unsigned long long c = (unsigned long long)json_integer_value(
                                           json_object_get(m, "containerID")),
                                   h = (unsigned long long)json_integer_value(
                                           json_object_get(m, "hostID")),
                                   s = (unsigned long long)json_integer_value(
                                           json_object_get(m, "size"));
                if ((x[0] < c + s && c < x[0] + x[2]) || (x[1] < h + s && h < x[1] + x[2]))
                        return bad(err, f, v, "overlaps an earlier range");
        }
        json_t *e = json_pack("{s:I, s:I, s:I}", "containerID", (json_int_t)x[0], "hostID",
                              (json_int_t)x[1], "size", (json_int_t)x[2]);
        return !e || json_array_append_new(*list, e) < 0 ? oom(err, f) : 0;
}

/* ---- networking ---------------------------------------------------------- */

static bool ip_of(const char *v, int family)
{
        unsigned char b[16];
        return inet_pton(family, v, b) == 1;
}

static int parse_network(struct nk_run_opts *o, const char *f, const char *v, nk_error **err)
{
        if (!*v || (strncmp(v, "container:", 10) == 0 && !v[10]))
                return bad(err, f, v, "want a network name, bridge, none, host or container:ID");
        return set_str(&o->network, f, v, err);
}

static int parse_ip(struct nk_run_opts *o, const char *f, const char *v, int family, nk_error **err)
{
        if (!ip_of(v, family))
                return bad(err, f, v,
                           family == AF_INET ? "not an IPv4 address" : "not an IPv6 address");
        return nk_strv_push(&o->ips, v) < 0 ? oom(err, f) : 0;
}

static int parse_mac(struct nk_run_opts *o, const char *f, const char *v, nk_error **err)
{
        unsigned b[6];
        char end;
        if (strlen(v) != 17 || sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                                      &b[4], &b[5], &end) != 6)
                return bad(err, f, v, "not a MAC address like 02:42:ac:11:00:02");
        if (b[0] & 1)
                return bad(err, f, v, "a multicast address");
        return set_str(&o->mac, f, v, err);
}

/* HOST:IP (Docker), HOST=IP (podman); IP may be IPv6 (its colons kept). */
static int parse_add_host(struct nk_run_opts *o, const char *f, const char *v, nk_error **err)
{
        const char *sep = strchr(v, '=');
        if (!sep)
                sep = strchr(v, ':');
        if (!sep || sep == v)
                return bad(err, f, v, "want HOST:IP");
        const char *ip = sep + 1;
        char buf[64];
        if (ip[0] == '[' && strlen(ip) < sizeof buf && ip[strlen(ip) - 1] == ']') {
                snprintf(buf, sizeof buf, "%.*s", (int)strlen(ip) - 2, ip + 1);
                ip = buf;
        }
        if (!ip_of(ip, AF_INET) && !ip_of(ip, AF_INET6))
                return bad(err, f, v, "not an IP address after the host name");
        for (const char *c = v; c < sep; c++)
                if (isspace((unsigned char)*c))
                        return bad(err, f, v, "a host name has no blanks");
        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "%s\t%.*s", ip, (int)(sep - v), v) < 0)
                return oom(err, f);
        return nk_strv_push(&o->add_hosts, line) < 0 ? oom(err, f) : 0;
}

static int push_word(char ***list, const char *f, const char *v, nk_error **err)
{
        if (!*v || strpbrk(v, " \t\n"))
                return bad(err, f, v, "want one word");
        return nk_strv_push(list, v) < 0 ? oom(err, f) : 0;
}

/* nk_rate_parse's refusal ("rate `V`: why") in the flags' words. */
static int parse_rate(uint64_t *out, const char *f, const char *v, nk_error **err)
{
        _cleanup_error_ nk_error *e = NULL;
        if (nk_rate_parse(v, out, &e) == 0)
                return 0;
        const char *why = e->msg;
        size_t n = strlen("rate `") + strlen(v) + strlen("`: ");
        if (strncmp(why, "rate `", 6) == 0 && strlen(why) > n)
                why += n;
        return bad(err, f, v, why);
}

static int take_net_value(struct nk_run_opts *o, const struct opt *op, const char *v,
                          nk_error **err)
{
        const char *f = op->name;
        switch (op->id) {
        case O_NETWORK:
                return parse_network(o, f, v, err);
        case O_IP:
                return parse_ip(o, f, v, AF_INET, err);
        case O_IP6:
                return parse_ip(o, f, v, AF_INET6, err);
        case O_ALIAS:
                return push_word(&o->aliases, f, v, err);
        case O_MAC:
                return parse_mac(o, f, v, err);
        case O_PUBLISH:
                return push_word(&o->publish, f, v, err);
        case O_ADD_HOST:
                return parse_add_host(o, f, v, err);
        case O_DNS:
                if (!ip_of(v, AF_INET) && !ip_of(v, AF_INET6))
                        return bad(err, f, v, "not an IP address");
                return nk_strv_push(&o->dns, v) < 0 ? oom(err, f) : 0;
        case O_DNS_SEARCH:
                return push_word(&o->dns_search, f, v, err);
        case O_DNS_OPTION:
                return push_word(&o->dns_options, f, v, err);
        case O_EGRESS_RATE:
                return parse_rate(&o->egress_rate, f, v, err);
        case O_INGRESS_RATE:
                return parse_rate(&o->ingress_rate, f, v, err);
        default:
                return nk_error_set(err, 0, "--%s: not handled", f);
        }
}

/* --ip and the like need a network of nook's: not none, host or another
 * container's namespace (Docker's "conflicting options"). */
static int check_network(const struct nk_run_opts *o, nk_error **err)
{
        const char *m = o->network;
        bool own =
                !m || !(streq(m, "none") || streq(m, "host") || strncmp(m, "container:", 10) == 0);
        const char *what = o->ips            ? "--ip"
                           : o->publish      ? "--publish"
                           : o->publish_all  ? "--publish-all"
                           : o->aliases      ? "--network-alias"
                           : o->mac          ? "--mac-address"
                           : o->egress_rate  ? "--egress-rate"
                           : o->ingress_rate ? "--ingress-rate"
                                             : NULL;
        if (!own && what)
                return nk_error_set(err, 0, "conflicting options: %s and --network %s", what, m);
        if (m && strncmp(m, "container:", 10) == 0 &&
            (o->dns || o->dns_search || o->dns_options || o->add_hosts))
                return nk_error_set(err, 0,
                                    "conflicting options: --dns/--add-host and --network %s", m);
        if (o->aliases && (!m || streq(m, "bridge")))
                return nk_error_set(
                        err, 0,
                        "--network-alias: only on user-defined networks, not the default bridge");
        int n4 = 0, n6 = 0;
        for (char **ip = o->ips; ip && *ip; ip++) {
                if (strchr(*ip, ':'))
                        n6++;
                else
                        n4++;
        }
        if (n4 > 1 || n6 > 1)
                return nk_error_set(err, 0, "--ip/--ip6: one address of each family at most");
        return 0;
}

static int take_value(struct nk_run_opts *o, const struct opt *op, const char *v, nk_error **err)
{
        unsigned long long n;
        int64_t b;
        const char *f = op->name;
        switch (op->id) {
        case O_NAME:
                if (!nk_run_name_valid(v))
                        return bad(err, f, v, "only [a-zA-Z0-9][a-zA-Z0-9_.-]* are allowed");
                return set_str(&o->name, f, v, err);
        case O_ENV:
                if (check_env(f, v, err) < 0)
                        return -1;
                return nk_strv_push(&o->env, v) < 0 ? oom(err, f) : 0;
        case O_ENV_FILE: /* read when the options are complete: files first */
        case O_DETACH:
        case O_INTERACTIVE:
        case O_TTY:
        case O_RM:
        case O_INIT:
        case O_PRIVILEGED:
        case O_READ_ONLY:
                return 0;
        case O_WORKDIR:
                if (v[0] != '/')
                        return bad(err, f, v, "the working directory must be an absolute path");
                return set_str(&o->workdir, f, v, err);
        case O_USER:
                if (check_user(v, err) < 0)
                        return -1;
                return set_str(&o->user, f, v, err);
        case O_ENTRYPOINT:
                o->entrypoint_set = true;
                return set_str(&o->entrypoint, f, v, err);
        case O_HOSTNAME:
                /* sethostname(2) takes at most HOST_NAME_MAX (64) bytes */
                if (!*v || strlen(v) > 64 || strchr(v, '/'))
                        return bad(err, f, v, "want 1 to 64 characters, no '/'");
                return set_str(&o->hostname, f, v, err);
        case O_LABEL: {
                size_t klen = strcspn(v, "=");
                if (klen == 0)
                        return bad(err, f, v, "label name is empty");
                _cleanup_free_ char *key = strndup(v, klen);
                if (!key || json_object_set_new(o->labels, key,
                                                json_string(v[klen] ? v + klen + 1 : "")) < 0)
                        return bad(err, f, v, "label is not UTF-8");
                return 0;
        }
        case O_RESTART:
                return parse_restart(o, v, err);
        case O_STOP_SIGNAL:
                if (nk_signal_parse(v) < 0)
                        return bad(err, f, v, "not a signal name or number");
                return set_str(&o->stop_signal, f, v, err);
        case O_STOP_TIMEOUT:
                if (nk_parse_uint(v, INT_MAX, &n) < 0)
                        return bad(err, f, v, "not a number of seconds");
                o->stop_timeout = (int)n;
                return 0;
        case O_PULL:
                if (streq(v, "missing"))
                        o->pull = NK_PULL_MISSING;
                else if (streq(v, "always"))
                        o->pull = NK_PULL_ALWAYS;
                else if (streq(v, "never"))
                        o->pull = NK_PULL_NEVER;
                else
                        return bad(err, f, v, "want missing, always or never");
                return 0;
        case O_CIDFILE:
                if (!*v)
                        return bad(err, f, v, "empty path");
                return set_str(&o->cidfile, f, v, err);
        case O_INIT_PATH:
                if (v[0] != '/')
                        return bad(err, f, v, "the init binary must be an absolute path");
                return set_str(&o->init_path, f, v, err);
        case O_LOG_OPT:
                return parse_log_opt(o, v, err);
        case O_MEMORY:
                if (nk_run_parse_bytes(v, &b) < 0)
                        return bad(err, f, v, "not a size (a number and b, k, m or g)");
                /* Docker's daemon minimum: less cannot even start a runtime */
                if (b < 6 * 1024 * 1024)
                        return bad(err, f, v, "the minimum memory limit is 6MB");
                o->memory = b;
                return 0;
        case O_PIDS_LIMIT:
                /* Docker: 0 or -1 is unlimited */
                if (streq(v, "-1"))
                        n = 0;
                else if (nk_parse_uint(v, INT64_MAX, &n) < 0)
                        return bad(err, f, v, "not a number (or -1 for unlimited)");
                o->pids_limit = n ? (int64_t)n : -1;
                return 0;
        case O_CPUS:
                if (parse_nano_cpus(v, &b) < 0)
                        return bad(err, f, v, "not a number of CPUs");
                /* the kernel's least CFS quota is 1 ms of a 100 ms period */
                if (b != 0 && b < 10000000)
                        return bad(err, f, v, "less than 0.01 CPU");
                o->cpu_period = b ? 100000 : -1;
                o->cpu_quota = b ? b / 10000 : -1;
                return 0;
        case O_CPU_SHARES:
                /* cgroup v1 cpu.shares: 2..262144 (0: the default) */
                if (nk_parse_uint(v, 262144, &n) < 0 || n == 1)
                        return bad(err, f, v, "want 2 to 262144 (0: default)");
                o->cpu_shares = n ? (int64_t)n : -1;
                return 0;
        case O_CPUSET_CPUS:
                if (nk_parse_cpu_list(v, NULL) < 0)
                        return bad(err, f, v, "not a CPU list like 0-3,8");
                return set_str(&o->cpuset_cpus, f, v, err);
        case O_VOLUME:
                return parse_volume(o, v, err);
        case O_MOUNT:
                return parse_mount(o, v, err);
        case O_TMPFS:
                return parse_tmpfs(o, v, err);
        case O_MEMORY_SWAP:
                /* Docker: -1 is unlimited swap, 0 the same as not given */
                if (streq(v, "-1")) {
                        o->memory_swap = NK_RUN_UNLIMITED;
                        return 0;
                }
                if (nk_run_parse_bytes(v, &b) < 0)
                        return bad(err, f, v,
                                   "not a size (a number and b, k, m or g; -1: unlimited)");
                o->memory_swap = b ? b : -1;
                return 0;
        case O_SHM_SIZE:
                if (nk_run_parse_bytes(v, &b) < 0 || b == 0)
                        return bad(err, f, v, "not a positive size (a number and b, k, m or g)");
                o->shm_size = b;
                return 0;
        case O_ULIMIT:
                return parse_ulimit(o, v, err);
        case O_CAP_ADD:
                return parse_cap(&o->cap_add, f, v, err);
        case O_CAP_DROP:
                return parse_cap(&o->cap_drop, f, v, err);
        case O_SECURITY_OPT:
                return parse_security_opt(o, v, err);
        case O_DEVICE:
                return parse_device(o, v, err);
        case O_SYSCTL:
                return parse_sysctl(o, v, err);
        case O_USERNS:
                if (!streq(v, "host") && !streq(v, "auto") && *v)
                        return bad(err, f, v, "want host or auto");
                if (!*v) {
                        free(o->userns);
                        o->userns = NULL;
                        return 0;
                }
                return set_str(&o->userns, f, v, err);
        case O_UIDMAP:
                return parse_idmap(&o->uid_mappings, f, v, err);
        case O_GIDMAP:
                return parse_idmap(&o->gid_mappings, f, v, err);
        case O_NETWORK:
        case O_IP:
        case O_IP6:
        case O_ALIAS:
        case O_MAC:
        case O_PUBLISH:
        case O_PUBLISH_ALL:
        case O_ADD_HOST:
        case O_DNS:
        case O_DNS_SEARCH:
        case O_DNS_OPTION:
        case O_EGRESS_RATE:
        case O_INGRESS_RATE:
                return take_net_value(o, op, v, err);
        }
        return nk_error_set(err, 0, "--%s: not handled", f);
}

static void set_bool(struct nk_run_opts *o, enum opt_id id, bool v)
{
        switch (id) {
        case O_DETACH:
                o->detach = v;
                break;
        case O_INTERACTIVE:
                o->interactive = v;
                break;
        case O_TTY:
                o->tty = v;
                break;
        case O_RM:
                o->rm = v;
                break;
        case O_INIT:
                o->init = v;
                break;
        case O_PRIVILEGED:
                o->privileged = v;
                break;
        case O_READ_ONLY:
                o->read_only = v;
                break;
        case O_PUBLISH_ALL:
                o->publish_all = v;
                break;
        default:
                break;
        }
}

/* A boolean flag given a value (`--rm=false`): pflag's ParseBool words. */
static int parse_bool(const struct opt *op, const char *v, bool *out, nk_error **err)
{
        static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
        static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                if (streq(v, t[i]))
                        return *out = true, 0;
                if (streq(v, f[i]))
                        return *out = false, 0;
        }
        return bad(err, op->name, v, "want true or false");
}

static const struct opt *find_long(const char *name, size_t len)
{
        for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
                if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
                        return &opts[i];
        return NULL;
}

static const struct opt *find_short(char c)
{
        for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
                if (opts[i].shorthand == c)
                        return &opts[i];
        return NULL;
}

/* One option whose value is `inline_v` (after '=' or glued to a
 * shorthand) or else the next word. *i is advanced past what was used. */
static int apply(struct nk_run_opts *o, const struct opt *op, const char *inline_v, int argc,
                 char **argv, int *i, char ***env_files, nk_error **err)
{
        if (!op->takes_value) {
                bool v = true;
                if (inline_v && parse_bool(op, inline_v, &v, err) < 0)
                        return -1;
                set_bool(o, op->id, v);
                return 0;
        }
        const char *v = inline_v;
        if (!v) {
                if (*i + 1 >= argc)
                        return nk_error_set(err, 0, "flag needs an argument: --%s", op->name);
                v = argv[++*i];
        }
        if (op->id == O_ENV_FILE)
                return nk_strv_push(env_files, v) < 0 ? oom(err, op->name) : 0;
        return take_value(o, op, v, err);
}

static int parse_word(struct nk_run_opts *o, int argc, char **argv, int *i, char ***env_files,
                      nk_error **err)
{
        const char *a = argv[*i];
        if (a[1] == '-') {
                const char *name = a + 2, *eq = strchr(name, '=');
                size_t len = eq ? (size_t)(eq - name) : strlen(name);
                const struct opt *op = find_long(name, len);
                if (!op)
                        return nk_error_set(err, 0, "unknown flag: --%.*s", (int)len, name);
                return apply(o, op, eq ? eq + 1 : NULL, argc, argv, i, env_files, err);
        }
        for (const char *c = a + 1; *c; c++) {
                const struct opt *op = find_short(*c);
                if (!op)
                        return nk_error_set(err, 0, "unknown shorthand flag: '%c' in %s", *c, a);
                const char *rest = c[1] == '=' ? c + 2 : c[1] ? c + 1 : NULL;
                if (op->takes_value || c[1] == '=')
                        return apply(o, op, rest, argc, argv, i, env_files, err);
                if (apply(o, op, NULL, argc, argv, i, env_files, err) < 0)
                        return -1;
        }
        return 0;
}

/* Checks across flags (Docker's daemon makes the same). */
static int finish_checks(struct nk_run_opts *o, nk_error **err)
{
        if (o->memory_swap > 0 && o->memory_swap != NK_RUN_UNLIMITED) {
                char v[32];
                snprintf(v, sizeof(v), "%" PRId64, o->memory_swap);
                if (o->memory <= 0)
                        return bad(err, "memory-swap", v,
                                   "--memory must be set too (or use --memory-swap -1)");
                if (o->memory_swap < o->memory)
                        return bad(err, "memory-swap", v,
                                   "must be at least --memory (memory plus swap)");
        }
        bool maps = o->uid_mappings || o->gid_mappings;
        if (maps && o->userns && streq(o->userns, "host"))
                return nk_error_set(err, 0,
                                    "conflicting options: --userns=host and --uidmap/--gidmap");
        if (o->gid_mappings && !o->uid_mappings)
                return nk_error_set(err, 0, "--gidmap needs --uidmap too");
        /* podman: --uidmap alone maps groups the same way */
        if (o->uid_mappings && !o->gid_mappings &&
            !(o->gid_mappings = json_deep_copy(o->uid_mappings)))
                return oom(err, "gidmap");
        if (o->privileged && (maps || (o->userns && streq(o->userns, "auto"))))
                return nk_error_set(err, 0,
                                    "conflicting options: --privileged and a user namespace");
        return check_network(o, err);
}

static int finish(struct nk_run_opts *o, int argc, char **argv, int i, char **env_files,
                  nk_error **err)
{
        if (i >= argc)
                return nk_error_set(err, 0, "\"%s\" requires at least 1 argument (the image)",
                                    argv[0]);
        if (!*argv[i])
                return nk_error_set(err, 0, "the image name is empty");
        if (set_str(&o->image, "image", argv[i], err) < 0)
                return -1;
        if (i + 1 < argc && !(o->cmd = nk_strv_dup(argv + i + 1)))
                return oom(err, "command");
        /* Docker reads env files first, then -e (later wins) */
        _cleanup_strv_ char **env = NULL;
        for (char **f = env_files; f && *f; f++)
                if (read_env_file(*f, &env, err) < 0)
                        return -1;
        for (char **e = o->env; e && *e; e++)
                if (nk_strv_push(&env, *e) < 0)
                        return oom(err, "env");
        nk_strv_free(o->env);
        o->env = TAKE_PTR(env);
        if (o->rm && o->restart != NK_RESTART_NO)
                return nk_error_set(err, 0, "conflicting options: --restart and --rm");
        return finish_checks(o, err);
}

int nk_run_opts_parse(int argc, char **argv, struct nk_run_opts *out, nk_error **err)
{
        struct nk_run_opts o;
        _cleanup_strv_ char **env_files = NULL;
        opts_init(&o);
        int i = 1, r = 0;
        if (!(o.labels = json_object()))
                r = oom(err, "label");
        for (; r == 0 && i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--")) {
                        i++;
                        break;
                }
                if (a[0] != '-' || !a[1])
                        break; /* the image */
                r = parse_word(&o, argc, argv, &i, &env_files, err);
        }
        if (r == 0)
                r = finish(&o, argc, argv, i, env_files, err);
        if (r < 0) {
                nk_run_opts_clear(&o);
                return -1;
        }
        *out = o;
        return 0;
}

int nk_run_opts_env_from_host(struct nk_run_opts *o, char *const *host_env, nk_error **err)
{
        _cleanup_strv_ char **env = NULL;
        for (char **e = o->env; e && *e; e++) {
                const char *kv = *e;
                if (!strchr(kv, '=')) {
                        size_t k = strlen(kv);
                        kv = NULL;
                        for (char *const *h = host_env; h && *h && !kv; h++)
                                if (strncmp(*h, *e, k) == 0 && (*h)[k] == '=')
                                        kv = *h;
                        if (!kv)
                                continue; /* unset in the client: dropped, as Docker does */
                }
                if (nk_strv_push(&env, kv) < 0)
                        return nk_error_set(err, ENOMEM, "environment");
        }
        nk_strv_free(o->env);
        o->env = TAKE_PTR(env);
        return 0;
}

static void mounts_free(struct nk_run_mount *m, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(m[i].source);
                free(m[i].target);
                nk_strv_free(m[i].options);
        }
        free(m);
}

void nk_run_opts_clear(struct nk_run_opts *o)
{
        free(o->name);
        free(o->cidfile);
        free(o->init_path);
        free(o->stop_signal);
        json_decref(o->labels);
        free(o->image);
        nk_strv_free(o->cmd);
        free(o->entrypoint);
        nk_strv_free(o->env);
        free(o->workdir);
        free(o->user);
        free(o->hostname);
        mounts_free(o->mounts, o->n_mounts);
        nk_strv_free(o->cap_add);
        nk_strv_free(o->cap_drop);
        free(o->seccomp);
        nk_strv_free(o->devices);
        json_decref(o->sysctls);
        json_decref(o->rlimits);
        free(o->cpuset_cpus);
        free(o->userns);
        json_decref(o->uid_mappings);
        json_decref(o->gid_mappings);
        json_decref(o->seccomp_profile);
        json_decref(o->device_nodes);
        free(o->network);
        free(o->mac);
        char **lists[] = {o->ips, o->aliases,    o->publish,    o->add_hosts,
                          o->dns, o->dns_search, o->dns_options};
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
                nk_strv_free(lists[i]);
        opts_init(o);
}
