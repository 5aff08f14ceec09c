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
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include "util/strv.h"
#include <ctype.h>
#include <limits.h>
#include <string.h>

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
        O_LOG_OPT,
        O_MEMORY,
        O_PIDS_LIMIT,
        O_CPUS,
        O_CPU_SHARES,
        O_CPUSET_CPUS,
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
        {"log-opt", 0, true, O_LOG_OPT},
        {"memory", 'm', true, O_MEMORY},
        {"pids-limit", 0, true, O_PIDS_LIMIT},
        {"cpus", 0, true, O_CPUS},
        {"cpu-shares", 0, true, O_CPU_SHARES},
        {"cpuset-cpus", 0, true, O_CPUSET_CPUS},
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
        return 0;
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
        opts_init(o);
}
