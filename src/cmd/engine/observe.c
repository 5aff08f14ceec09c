/* `nook top`, `stats`, `update`: a running container's processes, its
 * resource use and its limits, through the runtime library's handle. In the
 * nook binary itself (no engine module: they start in milliseconds). */
#include "cmd/commands.h"
#include "cmd/engine/ctr_cmd.h"
#include "engine/container/iostats.h"
#include "engine/container/runopts.h"
#include "net/ctrnet.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/rate.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static bool is_up(enum nk_ctr_status s)
{
        return s == NK_CTR_RUNNING || s == NK_CTR_PAUSED;
}

/* The handle of a running (or paused) container named ref. */
static int open_running(const struct nk_global *g, const char *ref, char id[NK_CTR_ID_LEN + 1],
                        unsigned flags, struct nk_container **c, nk_error **err)
{
        struct nk_ctr_state st;
        if (nk_ctr_resolve(g->store, ref, id, err) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        if (!is_up(st.status))
                return nk_error_set(err, 0, "container %s is not running", ref);
        if (nk_container_open(g->root, id, flags, c, err) < 0)
                return nk_error_wrap(err, "container %s", ref);
        return 0;
}

/* ---- top ---------------------------------------------------------------- */

struct pinfo {
        pid_t pid, ppid;
        uid_t uid;
        char state;
        unsigned long long ticks, vsz, rss;
        char comm[64];
        char *cmd; /* the command line, spaces between the arguments */
};

/* /proc/PID/stat, status and cmdline; -1 if it is gone meanwhile. */
static int read_pinfo(pid_t pid, struct pinfo *p)
{
        char path[64];
        _cleanup_free_ char *stat = NULL, *status = NULL, *cmd = NULL;
        size_t n = 0, cn = 0;
        nk_error *e = NULL;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        if (nk_read_file(path, &stat, &n, &e) < 0)
                goto gone;
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        if (nk_read_file(path, &status, &n, &e) < 0)
                goto gone;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
        if (nk_read_file(path, &cmd, &cn, &e) < 0)
                goto gone;
        /* "PID (COMM) S PPID ..." : the comm may hold anything, ')' too */
        char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        if (!open || !close || close < open || !close[1])
                return -1;
        snprintf(p->comm, sizeof p->comm, "%.*s", (int)(close - open - 1), open + 1);
        unsigned long long f[24] = {0};
        char *s = close + 2, *end;
        p->state = *s;
        s++;
        for (int i = 4; i < 24 && *s; i++) { /* fields 4..23 of proc(5) */
                f[i] = strtoull(s, &end, 10);
                if (end == s)
                        break;
                s = end;
        }
        p->pid = pid;
        p->ppid = (pid_t)f[4];
        p->ticks = f[14] + f[15];
        p->vsz = f[23];
        char *rss = close + 2;
        for (int i = 3; i < 24 && rss; i++) /* field 24: rss in pages */
                if ((rss = strchr(rss, ' ')))
                        rss++;
        p->rss = rss ? strtoull(rss, NULL, 10) * (unsigned long long)sysconf(_SC_PAGESIZE) : 0;
        const char *u = strstr(status, "\nUid:");
        unsigned real = 0, eff = 0;
        if (!u || sscanf(u + 5, "%u %u", &real, &eff) != 2)
                return -1;
        p->uid = eff;
        for (size_t i = 0; i + 1 < cn; i++)
                if (cmd[i] == '\0')
                        cmd[i] = ' ';
        if (cn == 0 || !cmd[0]) { /* a kernel thread or a zombie: ps shows [comm] */
                free(cmd);
                cmd = NULL;
                if (asprintf(&cmd, "[%s]", p->comm) < 0)
                        return -1;
        }
        p->cmd = TAKE_PTR(cmd);
        return 0;
gone:
        nk_error_free(e);
        return -1;
}

/* ps's TIME: [DD-]HH:MM:SS of user+system time. */
static void cpu_time_text(unsigned long long ticks, char *buf, size_t size)
{
        long hz = sysconf(_SC_CLK_TCK);
        unsigned long long s = ticks / (unsigned long long)(hz > 0 ? hz : 100);
        if (s >= 86400)
                snprintf(buf, size, "%llu-%02llu:%02llu:%02llu", s / 86400, s / 3600 % 24,
                         s / 60 % 60, s % 60);
        else
                snprintf(buf, size, "%02llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
}

static const struct {
        const char *key, *header;
} top_fields[] = {
        {"pid", "PID"},       {"ppid", "PPID"}, {"user", "USER"},    {"uid", "UID"},
        {"time", "TIME"},     {"stat", "STAT"}, {"rss", "RSS"},      {"vsz", "VSZ"},
        {"comm", "COMMAND"},  {"cmd", "CMD"},   {"args", "COMMAND"}, {"command", "COMMAND"},
        {"ucomm", "COMMAND"},
};

static char *top_cell(const struct pinfo *p, const char *key)
{
        char *out = NULL, t[48];
        int r = 0;
        if (streq(key, "pid"))
                r = asprintf(&out, "%d", (int)p->pid);
        else if (streq(key, "ppid"))
                r = asprintf(&out, "%d", (int)p->ppid);
        else if (streq(key, "uid"))
                r = asprintf(&out, "%u", (unsigned)p->uid);
        else if (streq(key, "user")) {
                struct passwd *pw = getpwuid(p->uid);
                r = pw ? asprintf(&out, "%s", pw->pw_name) : asprintf(&out, "%u", (unsigned)p->uid);
        } else if (streq(key, "time")) {
                cpu_time_text(p->ticks, t, sizeof t);
                r = asprintf(&out, "%s", t);
        } else if (streq(key, "stat"))
                r = asprintf(&out, "%c", p->state);
        else if (streq(key, "rss"))
                r = asprintf(&out, "%llu", p->rss / 1024);
        else if (streq(key, "vsz"))
                r = asprintf(&out, "%llu", p->vsz / 1024);
        else if (streq(key, "comm") || streq(key, "ucomm"))
                r = asprintf(&out, "%s", p->comm);
        else
                r = asprintf(&out, "%s", p->cmd);
        return r < 0 ? NULL : out;
}

/* Tab-separated cells, one row a line: a tab, newline or other control
 * character inside a command line (anyone's to choose) would split the
 * row or drive the terminal. */
static void untab(char *s)
{
        for (; s && *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        *s = ' ';
}

int nk_cmd_top(const struct nk_global *g, int argc, char **argv)
{
        optind = 1;
        if (argc < 2 || argv[1][0] == '-')
                return nk_cmd_usage_error("top", "expects CONTAINER [ps options]");
        /* ps options: -o LIST chooses the columns; -e, -A, -f, -ef, aux
         * (every process: the container's are all shown anyway) are
         * accepted as the default. */
        _cleanup_strv_ char **cols = NULL;
        for (int i = 2; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "-o") || strncmp(a, "-o", 2) == 0 || strncmp(a, "--format", 8) == 0) {
                        const char *list = streq(a, "-o") || streq(a, "--format") ? argv[++i]
                                           : a[1] == 'o'                          ? a + 2
                                                                                  : a + 9;
                        if (!list || !*list)
                                return nk_cmd_usage_error("top", "-o: expects a field list");
                        _cleanup_free_ char *copy = strdup(list);
                        char *save = NULL;
                        for (char *f = strtok_r(copy, ",", &save); f;
                             f = strtok_r(NULL, ",", &save)) {
                                bool known = false;
                                for (size_t k = 0; k < ARRAY_SIZE(top_fields); k++)
                                        known |= streq(f, top_fields[k].key);
                                if (!known)
                                        return nk_cmd_usage_error(
                                                "top",
                                                "-o: unknown field `%s` (pid, ppid, user, uid, "
                                                "time, stat, rss, vsz, comm, cmd, args)",
                                                f);
                                nk_strv_push(&cols, f);
                        }
                } else if (!streq(a, "-e") && !streq(a, "-A") && !streq(a, "-f") &&
                           !streq(a, "-ef") && !streq(a, "aux") && !streq(a, "-aux"))
                        return nk_cmd_usage_error("top",
                                                  "unsupported ps option `%s` (-o LIST, -e, "
                                                  "-ef, aux)",
                                                  a);
        }
        if (!cols) {
                const char *def[] = {"pid", "user", "time", "cmd"};
                for (size_t k = 0; k < ARRAY_SIZE(def); k++)
                        nk_strv_push(&cols, def[k]);
        }
        char id[NK_CTR_ID_LEN + 1];
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        pid_t *pids = NULL;
        size_t n = 0;
        if (open_running(g, argv[1], id, 0, &c, &e) < 0)
                return nk_ctr_fail(e, 1);
        int r = nk_container_pids(c, &pids, &n, &e);
        nk_container_close(c);
        if (r < 0)
                return nk_ctr_fail(e, 1);
        _cleanup_strv_ char **lines = NULL;
        _cleanup_free_ char *hdr = strdup("");
        for (char **k = cols; *k && hdr; k++)
                for (size_t f = 0; f < ARRAY_SIZE(top_fields); f++)
                        if (streq(*k, top_fields[f].key)) {
                                _cleanup_free_ char *prev = hdr;
                                if (asprintf(&hdr, "%s%s%s", prev, k == cols ? "" : "\t",
                                             top_fields[f].header) < 0)
                                        hdr = NULL;
                                break;
                        }
        nk_strv_push(&lines, hdr ? hdr : "");
        for (size_t i = 0; i < n; i++) {
                struct pinfo p = {0};
                if (read_pinfo(pids[i], &p) < 0)
                        continue; /* exited meanwhile */
                char *line = strdup("");
                for (char **k = cols; *k && line; k++) {
                        _cleanup_free_ char *cell = top_cell(&p, *k), *prev = line;
                        untab(cell);
                        if (asprintf(&line, "%s%s%s", prev, k == cols ? "" : "\t",
                                     cell ? cell : "") < 0)
                                line = NULL;
                }
                nk_strv_push(&lines, line ? line : "");
                free(line);
                free(p.cmd);
        }
        free(pids);
        nk_ctr_print_table(lines);
        return 0;
}

/* ---- stats -------------------------------------------------------------- */

struct sample {
        char id[NK_CTR_ID_LEN + 1];
        char *name;
        bool up;
        unsigned long long cpu_ns; /* the cgroup's CPU time */
        int64_t at_ns;             /* CLOCK_MONOTONIC when read */
        unsigned long long mem, limit, pids;
        struct nk_io_totals io;
};

static unsigned long long ju(json_t *o, const char *a, const char *b, const char *c)
{
        json_t *v = json_object_get(o, a);
        if (b)
                v = json_object_get(v, b);
        if (c)
                v = json_object_get(v, c);
        json_int_t i = json_integer_value(v);
        return i > 0 ? (unsigned long long)i : 0;
}

static int64_t mono_ns(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void take_sample(const struct nk_global *g, struct sample *s)
{
        struct nk_container *c = NULL;
        nk_error *e = NULL;
        s->up = false;
        s->cpu_ns = s->mem = s->limit = s->pids = 0;
        s->io = (struct nk_io_totals){0};
        s->at_ns = mono_ns();
        if (nk_container_open(g->root, s->id, 0, &c, &e) < 0) {
                nk_error_free(e);
                return;
        }
        _cleanup_jansson_ json_t *st = nk_container_stats(c, &e);
        nk_container_close(c);
        if (!st) {
                nk_error_free(e);
                return;
        }
        s->up = true;
        nk_blkio_totals(st, &s->io.read, &s->io.write);
        struct nk_ctr_state cs;
        if (nk_ctr_state(g->store, g->root, s->id, &cs, &e) < 0 || cs.pid <= 0 ||
            nk_ctr_net_io(cs.pid, &s->io.rx, &s->io.tx, &e) < 0) {
                nk_error_free(e); /* it stopped meanwhile: no network figures */
                e = NULL;
        }
        s->cpu_ns = ju(st, "cpu", "usage", "total");
        /* Docker's usage: without the page cache that can be dropped */
        unsigned long long usage = ju(st, "memory", "usage", "usage");
        json_t *raw = json_object_get(json_object_get(st, "memory"), "raw");
        unsigned long long inactive = json_object_get(raw, "total_inactive_file")
                                              ? ju(raw, "total_inactive_file", NULL, NULL)
                                              : ju(raw, "inactive_file", NULL, NULL);
        s->mem = inactive < usage ? usage - inactive : usage;
        s->limit = ju(st, "memory", "usage", "limit");
        struct sysinfo si;
        if (sysinfo(&si) == 0) { /* no limit: the host's memory, as Docker shows */
                unsigned long long total = (unsigned long long)si.totalram * si.mem_unit;
                if (s->limit == 0 || s->limit > total)
                        s->limit = total;
        }
        s->pids = ju(st, "pids", "current", NULL);
}

/* Docker's BytesSize: binary units, four significant digits. */
static void bytes_text(unsigned long long v, char *buf, size_t size)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double d = (double)v;
        size_t u = 0;
        while (d >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                d /= 1024;
                u++;
        }
        snprintf(buf, size, "%.4g%s", d, units[u]);
}

/* Docker's HumanSizeWithPrecision(v, 3): decimal units, as its NET I/O
 * and BLOCK I/O columns print them. */
static void decimal_text(unsigned long long v, char *buf, size_t size)
{
        static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
        double d = (double)v;
        size_t u = 0;
        while (d >= 1000 && u + 1 < ARRAY_SIZE(units)) {
                d /= 1000;
                u++;
        }
        snprintf(buf, size, "%.3g%s", d, units[u]);
}

static void pair_text(unsigned long long a, unsigned long long b, char *buf, size_t size)
{
        char x[32], y[32];
        decimal_text(a, x, sizeof x);
        decimal_text(b, y, sizeof y);
        snprintf(buf, size, "%s / %s", x, y);
}

static json_t *stats_row(const struct sample *prev, const struct sample *s)
{
        double cpu = 0, mem = 0;
        if (s->up && prev->up && s->at_ns > prev->at_ns && s->cpu_ns >= prev->cpu_ns)
                cpu = (double)(s->cpu_ns - prev->cpu_ns) * 100.0 / (double)(s->at_ns - prev->at_ns);
        if (s->limit)
                mem = (double)s->mem * 100.0 / (double)s->limit;
        char cpu_t[32], mem_t[32], use[32], lim[32], both[80], pids[32], net[80], blk[80];
        snprintf(cpu_t, sizeof cpu_t, "%.2f%%", cpu);
        snprintf(mem_t, sizeof mem_t, "%.2f%%", mem);
        bytes_text(s->mem, use, sizeof use);
        bytes_text(s->up ? s->limit : 0, lim, sizeof lim);
        snprintf(both, sizeof both, "%s / %s", use, lim);
        snprintf(pids, sizeof pids, "%llu", s->pids);
        pair_text(s->io.rx, s->io.tx, net, sizeof net);
        pair_text(s->io.read, s->io.write, blk, sizeof blk);
        char sid[13];
        snprintf(sid, sizeof sid, "%.12s", s->id);
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ID", sid, "Container", sid,
                         "Name", s->name ? s->name : "", "CPUPerc", cpu_t, "MemUsage", both,
                         "MemPerc", mem_t, "NetIO", net, "BlockIO", blk, "PIDs", pids);
}

static volatile sig_atomic_t stats_stop;
static void on_stop(int sig)
{
        (void)sig;
        stats_stop = 1;
}

static void sleep_ms(int ms)
{
        struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
        while (!stats_stop && nanosleep(&t, &t) < 0 && errno == EINTR)
                ;
}

/* The running containers, or those named. */
static int stats_targets(const struct nk_global *g, int argc, char **argv, struct sample **out,
                         size_t *n)
{
        _cleanup_strv_ char **ids = NULL;
        nk_error *e = NULL;
        bool all = optind >= argc;
        if (all) {
                if (nk_ctr_list(g->store, &ids, &e) < 0)
                        return nk_ctr_fail(e, 1);
        } else {
                for (int i = optind; i < argc; i++) {
                        char id[NK_CTR_ID_LEN + 1];
                        if (nk_ctr_resolve(g->store, argv[i], id, &e) < 0)
                                return nk_ctr_fail(e, 1);
                        nk_strv_push(&ids, id);
                }
        }
        size_t cnt = nk_strv_len(ids);
        struct sample *s = calloc(cnt + 1, sizeof *s);
        if (!s)
                return 1;
        *n = 0;
        for (size_t i = 0; i < cnt; i++) {
                struct nk_ctr_state st;
                if (nk_ctr_state(g->store, g->root, ids[i], &st, &e) < 0) {
                        nk_error_free(e);
                        e = NULL;
                        continue;
                }
                if (all && !is_up(st.status))
                        continue;
                struct sample *x = &s[(*n)++];
                snprintf(x->id, sizeof x->id, "%s", ids[i]);
                json_t *rec = nk_ctr_record(g->store, ids[i], &e);
                nk_error_free(e);
                e = NULL;
                const char *name = json_string_value(json_object_get(rec, "Name"));
                x->name = strdup(name ? (name[0] == '/' ? name + 1 : name) : "");
                json_decref(rec);
        }
        *out = s;
        return 0;
}

int nk_cmd_stats(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"no-stream", no_argument, NULL, 'n'},
                                             {"format", required_argument, NULL, 'F'},
                                             {"all", no_argument, NULL, 'a'},
                                             {"no-trunc", no_argument, NULL, 'T'},
                                             {0}};
        bool stream = true;
        const char *format = NULL;
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+a", opts, NULL)) != -1) {
                if (c == 'n')
                        stream = false;
                else if (c == 'F')
                        format = optarg;
                else if (c != 'a' && c != 'T')
                        return nk_cmd_usage_error("stats", "unknown option `%s`", argv[optind - 1]);
        }
        struct sample *prev = NULL, *cur = NULL;
        size_t n = 0;
        int rc = stats_targets(g, argc, argv, &prev, &n);
        if (rc)
                return rc;
        cur = calloc(n + 1, sizeof *cur);
        if (!cur) {
                free(prev);
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                cur[i] = prev[i];
                take_sample(g, &prev[i]);
        }
        bool json = format && streq(format, "json");
        bool table = !format || strncmp(format, "table", 5) == 0;
        const char *tmpl = !format || streq(format, "table")
                                   ? "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}"
                                     "\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
                                   : (table ? format + 5 + strspn(format + 5, " ") : format);
        struct sigaction sa = {.sa_handler = on_stop};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        bool clear = stream && isatty(STDOUT_FILENO);
        while (!stats_stop) {
                /* two samples for CPU %: Docker's are a second apart */
                sleep_ms(stream ? 1000 : 500);
                if (stats_stop)
                        break;
                _cleanup_strv_ char **lines = NULL;
                if (table) {
                        _cleanup_jansson_ json_t *hdr = json_pack(
                                "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ID", "CONTAINER ID",
                                "Container", "CONTAINER", "Name", "NAME", "CPUPerc", "CPU %",
                                "MemUsage", "MEM USAGE / LIMIT", "MemPerc", "MEM %", "NetIO",
                                "NET I/O", "BlockIO", "BLOCK I/O", "PIDs", "PIDS");
                        _cleanup_free_ char *h = nk_ctr_template("stats", tmpl, hdr);
                        if (!h) {
                                rc = 1;
                                break;
                        }
                        nk_strv_push(&lines, h);
                }
                for (size_t i = 0; i < n; i++) {
                        take_sample(g, &cur[i]);
                        _cleanup_jansson_ json_t *row = stats_row(&prev[i], &cur[i]);
                        _cleanup_free_ char *out =
                                json ? json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)
                                     : nk_ctr_template("stats", tmpl, row);
                        if (!out) {
                                rc = 1;
                                break;
                        }
                        if (table)
                                nk_strv_push(&lines, out);
                        else
                                printf("%s\n", out);
                        prev[i].cpu_ns = cur[i].cpu_ns;
                        prev[i].at_ns = cur[i].at_ns;
                        prev[i].up = cur[i].up;
                }
                if (rc)
                        break;
                if (clear)
                        printf("\033[2J\033[H");
                if (lines)
                        nk_ctr_print_table(lines);
                fflush(stdout);
                if (!stream)
                        break;
        }
        for (size_t i = 0; i < n; i++)
                free(prev[i].name);
        free(prev);
        free(cur);
        return rc;
}

/* ---- update ------------------------------------------------------------- */

static const char *const restart_names[] = {"no", "on-failure", "always", "unless-stopped"};

/* The OCI LinuxResources fragment for the flags given (run's parser checks
 * every value, so update takes what run takes). */
static json_t *update_resources(const struct nk_run_opts *o, const bool *given, json_t *host)
{
        enum { G_MEM, G_SWAP, G_CPUS, G_SHARES, G_CPUSET, G_PIDS };
        json_t *res = json_object(), *cpu = json_object(), *mem = json_object();
        if (given[G_MEM]) {
                json_object_set_new(mem, "limit", json_integer(o->memory));
                json_object_set_new(host, "Memory", json_integer(o->memory));
        }
        if (given[G_SWAP] || given[G_MEM]) {
                /* Docker: no --memory-swap means as much swap as memory,
                 * unless swap was unlimited */
                json_int_t old = json_integer_value(json_object_get(host, "MemorySwap"));
                int64_t swap = o->memory_swap == NK_RUN_UNLIMITED ? -1
                               : o->memory_swap > 0               ? o->memory_swap
                               : old == -1 && !given[G_SWAP]      ? -1
                                                                  : 2 * o->memory;
                json_object_set_new(mem, "swap", json_integer(swap));
                json_object_set_new(host, "MemorySwap", json_integer(swap));
        }
        if (given[G_CPUS]) {
                json_object_set_new(cpu, "quota",
                                    json_integer(o->cpu_quota > 0 ? o->cpu_quota : -1));
                json_object_set_new(cpu, "period", json_integer(100000));
                json_object_set_new(host, "NanoCpus",
                                    json_integer(o->cpu_quota > 0 ? o->cpu_quota * 10000 : 0));
        }
        if (given[G_SHARES]) {
                /* 0: back to the kernel's default */
                json_int_t v = o->cpu_shares > 0 ? o->cpu_shares : 1024;
                json_object_set_new(cpu, "shares", json_integer(v));
                json_object_set_new(host, "CpuShares", json_integer(o->cpu_shares > 0 ? v : 0));
        }
        if (given[G_CPUSET]) {
                json_object_set_new(cpu, "cpus", json_string(o->cpuset_cpus));
                json_object_set_new(host, "CpusetCpus", json_string(o->cpuset_cpus));
        }
        if (given[G_PIDS]) {
                json_int_t v = o->pids_limit > 0 ? o->pids_limit : -1;
                json_object_set_new(res, "pids", json_pack("{s:I}", "limit", v));
                json_object_set_new(host, "PidsLimit", json_integer(v > 0 ? v : 0));
        }
        if (json_object_size(mem))
                json_object_set(res, "memory", mem);
        if (json_object_size(cpu))
                json_object_set(res, "cpu", cpu);
        json_decref(mem);
        json_decref(cpu);
        return res;
}

/* config.json's linux.resources: what the next start applies. */
static int save_spec_resources(const struct nk_global *g, const char *id, json_t *res,
                               nk_error **err)
{
        _cleanup_free_ char *dir = nk_ctr_dir(g->store, id), *path = NULL;
        if (!dir || asprintf(&path, "%s/config.json", dir) < 0)
                return nk_error_set(err, ENOMEM, "config.json");
        json_error_t je;
        _cleanup_jansson_ json_t *spec = json_load_file(path, 0, &je);
        json_t *linux_ = json_object_get(spec, "linux");
        if (!json_is_object(linux_))
                return nk_error_set(err, EINVAL, "`%s`: %s", path, spec ? "no linux" : je.text);
        json_t *cur = json_object_get(linux_, "resources");
        if (!json_is_object(cur)) {
                cur = json_object();
                json_object_set_new(linux_, "resources", cur);
        }
        nk_resources_merge(cur, res);
        _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT);
        if (!text)
                return nk_error_set(err, ENOMEM, "config.json");
        return nk_write_file_atomic(path, text, strlen(text), 0600, err);
}

/* --egress-rate/--ingress-rate of update: NK_RATE_KEEP when not given. */
static int rate_flag(const char *flag, const char *v, uint64_t *out)
{
        nk_error *e = NULL;
        *out = NK_RATE_KEEP;
        if (v && nk_rate_parse(v, out, &e) < 0) {
                nk_error_wrap(&e, "%s", flag);
                return nk_ctr_fail(e, 125);
        }
        return 0;
}

/* The limits on the container's interfaces now (the net module), into rec. */
static int update_rates(const struct nk_global *g, const char *id, json_t *rec, uint64_t egress,
                        uint64_t ingress, nk_error **err)
{
        if (egress == NK_RATE_KEEP && ingress == NK_RATE_KEEP)
                return 0;
        const struct nk_net_ops *net = nk_cmd_net_ops();
        if (!net)
                return nk_error_set(err, ENOENT, "--egress-rate: the networking module is missing");
        return net->rate(g->store, id, rec, egress, ingress, err);
}

int nk_cmd_ctr_update(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"memory", required_argument, NULL, 'm'},
                                             {"memory-swap", required_argument, NULL, 's'},
                                             {"cpus", required_argument, NULL, 'C'},
                                             {"cpu-shares", required_argument, NULL, 'c'},
                                             {"cpuset-cpus", required_argument, NULL, 'S'},
                                             {"pids-limit", required_argument, NULL, 'p'},
                                             {"restart", required_argument, NULL, 'r'},
                                             {"egress-rate", required_argument, NULL, 'E'},
                                             {"ingress-rate", required_argument, NULL, 'I'},
                                             {0}};
        static const char keys[] = "msCcSp";
        static const char *const flags[] = {"--memory",     "--memory-swap", "--cpus",
                                            "--cpu-shares", "--cpuset-cpus", "--pids-limit"};
        const char *val[6] = {0}, *restart = NULL, *egress_text = NULL, *ingress_text = NULL;
        bool given[6] = {false};
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+m:c:", opts, NULL)) != -1) {
                const char *k = c > 0 ? strchr(keys, c) : NULL;
                if (k) {
                        given[k - keys] = true;
                        val[k - keys] = optarg;
                } else if (c == 'r')
                        restart = optarg;
                else if (c == 'E')
                        egress_text = optarg;
                else if (c == 'I')
                        ingress_text = optarg;
                else
                        return nk_cmd_usage_error("update", "unknown option `%s`",
                                                  argv[optind - 1]);
        }
        if (optind >= argc)
                return nk_cmd_usage_error("update", "requires at least one container");
        uint64_t egress, ingress;
        if (rate_flag("--egress-rate", egress_text, &egress) ||
            rate_flag("--ingress-rate", ingress_text, &ingress))
                return 125;
        bool any = restart || egress_text || ingress_text;
        for (int i = 0; i < 6; i++)
                any |= given[i];
        if (!any)
                return nk_cmd_usage_error("update", "nothing to update: give a flag (see --help)");
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                char id[NK_CTR_ID_LEN + 1];
                nk_error *e = NULL;
                _cleanup_jansson_ json_t *rec = NULL;
                if (nk_ctr_resolve(g->store, argv[i], id, &e) < 0 ||
                    !(rec = nk_ctr_record(g->store, id, &e))) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                json_t *host = json_object_get(rec, "HostConfig");
                if (!json_is_object(host)) {
                        host = json_object();
                        json_object_set_new(rec, "HostConfig", host);
                }
                /* run's parser over these flags (and a placeholder image) */
                char mem[32];
                char *v[20];
                int n = 0;
                v[n++] = "update";
                for (int k = 0; k < 6; k++)
                        if (given[k]) {
                                v[n++] = (char *)flags[k];
                                v[n++] = (char *)val[k];
                        }
                json_int_t cur_mem = json_integer_value(json_object_get(host, "Memory"));
                if (given[1] && !given[0] && cur_mem > 0) { /* swap against today's memory */
                        snprintf(mem, sizeof mem, "%lld", (long long)cur_mem);
                        v[n++] = "--memory";
                        v[n++] = mem;
                }
                if (restart) {
                        v[n++] = "--restart";
                        v[n++] = (char *)restart;
                }
                v[n++] = "-";
                v[n] = NULL;
                struct nk_run_opts o;
                if (nk_run_opts_parse(n, v, &o, &e) < 0)
                        return nk_ctr_fail(e, 125);
                if (restart && json_is_true(json_object_get(host, "AutoRemove"))) {
                        nk_run_opts_clear(&o);
                        nk_log(NK_LOG_ERROR,
                               "container %s: its restart policy cannot be updated: it was "
                               "made with --rm",
                               argv[i]);
                        rc = 1;
                        continue;
                }
                if (given[1] && !given[0])
                        o.memory = cur_mem;
                _cleanup_jansson_ json_t *res = update_resources(&o, given, host);
                int policy = (int)o.restart, max = o.restart_max;
                if (restart)
                        json_object_set_new(host, "RestartPolicy",
                                            json_pack("{s:s,s:i}", "Name", restart_names[o.restart],
                                                      "MaximumRetryCount", o.restart_max));
                nk_run_opts_clear(&o);
                /* A running container's cgroup now; config.json for its next
                 * start; the record for inspect. */
                struct nk_ctr_state st;
                struct nk_container *h = NULL;
                if (nk_ctr_state(g->store, g->root, id, &st, &e) < 0) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                if (json_object_size(res) && is_up(st.status)) {
                        int r = nk_container_open(g->root, id, NK_CONTAINER_LOCK, &h, &e);
                        if (r == 0)
                                r = nk_container_update(h, res, &e);
                        nk_container_close(h);
                        if (r < 0) {
                                nk_error_wrap(&e, "container %s", argv[i]);
                                rc = nk_ctr_fail(e, 1);
                                continue;
                        }
                }
                if (update_rates(g, id, rec, egress, ingress, &e) < 0) {
                        nk_error_wrap(&e, "container %s", argv[i]);
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                if ((json_object_size(res) && save_spec_resources(g, id, res, &e) < 0) ||
                    nk_ctr_record_save(g->store, id, rec, &e) < 0) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                /* a running monitor reads it at the next exit */
                _cleanup_close_ int dfd = restart ? nk_ctr_dir_open(g->store, id, &e) : -1;
                if (restart && (dfd < 0 || nk_ctr_write_restart(dfd, policy, max, &e) < 0)) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                printf("%s\n", argv[i]);
        }
        return rc;
}

/* ---- diff --------------------------------------------------------------- */

struct change {
        char kind; /* A, C, D */
        char *path;
        bool quiet_dir; /* a directory copied up for its children only */
};

struct diff_ctx {
        int lowers[128]; /* the image's layers, top-most first */
        size_t n;
        char **mounts; /* the spec's mount destinations: not the user's changes */
        struct change *v;
        size_t len, cap;
};

static bool is_whiteout(const struct stat *st)
{
        return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* rel (no leading slash) in the image: its stat from the top-most layer
 * holding it, nothing followed. false if absent or whited out. */
static bool in_image(const struct diff_ctx *c, const char *rel, struct stat *st)
{
        _cleanup_free_ char *copy = strdup(rel);
        if (!copy)
                return false;
        char *slash = strrchr(copy, '/');
        const char *base = slash ? slash + 1 : copy;
        if (slash)
                *slash = '\0';
        for (size_t i = 0; i < c->n; i++) {
                struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
                _cleanup_close_ int d =
                        slash ? nk_openat2(c->lowers[i], copy, &how, sizeof how) : -1;
                if (fstatat(slash ? d : c->lowers[i], base, st, AT_SYMLINK_NOFOLLOW) == 0)
                        return !is_whiteout(st);
        }
        return false;
}

static bool under_mount(const struct diff_ctx *c, const char *path)
{
        for (char **m = c->mounts; m && *m; m++) {
                size_t n = strlen(*m);
                if (strncmp(path, *m, n) == 0 && (path[n] == '\0' || path[n] == '/'))
                        return true;
        }
        return false;
}

static void add_change(struct diff_ctx *c, char kind, const char *rel, bool quiet_dir)
{
        char *path = NULL;
        if (asprintf(&path, "/%s", rel) < 0)
                return;
        if (under_mount(c, path)) {
                free(path);
                return;
        }
        if (c->len == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                struct change *v = realloc(c->v, cap * sizeof *v);
                if (!v) {
                        free(path);
                        return;
                }
                c->v = v;
                c->cap = cap;
        }
        c->v[c->len++] = (struct change){kind, path, quiet_dir};
}

static bool opaque(int fd)
{
        char v[2] = {0};
        return (fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v) == 1 ||
                fgetxattr(fd, "user.overlay.opaque", v, sizeof v) == 1) &&
               v[0] == 'y';
}

/* An opaque directory hides what the image had there: each such entry is
 * deleted unless the upper directory has one of that name. */
static void opaque_deletions(struct diff_ctx *c, int upper_dir, const char *rel)
{
        for (size_t i = 0; i < c->n; i++) {
                struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                                       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
                int fd = nk_openat2(c->lowers[i], rel, &how, sizeof how);
                DIR *d = fd < 0 ? NULL : fdopendir(fd);
                if (!d) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                struct dirent *de;
                while ((de = readdir(d))) {
                        struct stat st;
                        if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                            fstatat(upper_dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                                continue;
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s", rel, de->d_name) < 0)
                                continue;
                        bool dup = false;
                        for (size_t k = 0; k < c->len && !dup; k++)
                                dup = c->v[k].kind == 'D' && streq(c->v[k].path + 1, p);
                        if (!dup)
                                add_change(c, 'D', p, false);
                }
                closedir(d);
        }
}

static void walk_upper(struct diff_ctx *c, int dir, const char *rel, int depth)
{
        int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 || depth > 512 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = NULL;
                struct stat st, low;
                if (asprintf(&p, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0 ||
                    fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (is_whiteout(&st)) {
                        add_change(c, 'D', p, false);
                        continue;
                }
                bool was = in_image(c, p, &low);
                if (!S_ISDIR(st.st_mode)) {
                        add_change(c, was ? 'C' : 'A', p, false);
                        continue;
                }
                bool same = was && S_ISDIR(low.st_mode) && low.st_mode == st.st_mode &&
                            low.st_uid == st.st_uid && low.st_gid == st.st_gid;
                add_change(c, was ? 'C' : 'A', p, same);
                _cleanup_close_ int sub =
                        openat(dir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        continue;
                if (was && opaque(sub))
                        opaque_deletions(c, sub, p);
                walk_upper(c, sub, p, depth + 1);
        }
        closedir(d);
}

/* One line a path: a newline or other control byte in a name (the
 * container's to choose) and the backslash itself as \ooo, as ls -b. */
static void print_path(const char *p)
{
        for (; *p; p++) {
                unsigned char ch = (unsigned char)*p;
                if (ch < 0x20 || ch == 0x7f || ch == '\\')
                        printf("\\%03o", ch);
                else
                        putchar(ch);
        }
        putchar('\n');
}

static int change_cmp(const void *a, const void *b)
{
        return strcmp(((const struct change *)a)->path, ((const struct change *)b)->path);
}

/* The image's layer directories, top-most first, from image.json. */
static int open_lowers(const char *store, int cdir, struct diff_ctx *c, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (nk_read_file_at(cdir, "image.json", &text, &len, err) < 0)
                return -1;
        _cleanup_jansson_ json_t *img = json_loadb(text, len, 0, NULL);
        json_t *layers = json_object_get(img, "layers");
        if (!json_is_array(layers) || json_array_size(layers) > ARRAY_SIZE(c->lowers))
                return nk_error_set(err, EINVAL, "image.json: no usable `layers`");
        for (size_t i = json_array_size(layers); i-- > 0;) {
                const char *d = json_string_value(json_array_get(layers, i));
                const char *hex = d ? strchr(d, ':') : NULL;
                if (!hex || strspn(hex + 1, "0123456789abcdef") != strlen(hex + 1) || !hex[1])
                        return nk_error_set(err, EINVAL, "image.json: layers[%zu]: `%s`", i,
                                            d ? d : "?");
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/layers/%s/diff", store, hex + 1) < 0)
                        return nk_error_set(err, ENOMEM, "layers");
                int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return nk_error_set(err, errno, "layer `%s`", path);
                c->lowers[c->n++] = fd;
        }
        return 0;
}

static char **spec_mounts(int cdir)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        nk_error *e = NULL;
        char **out = NULL;
        if (nk_read_file_at(cdir, "config.json", &text, &len, &e) < 0) {
                nk_error_free(e);
                return NULL;
        }
        _cleanup_jansson_ json_t *spec = json_loadb(text, len, 0, NULL);
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(spec, "mounts"), i, m) {
                const char *dst = json_string_value(json_object_get(m, "destination"));
                if (dst && dst[0] == '/')
                        nk_strv_push(&out, dst);
        }
        return out;
}

int nk_cmd_diff(const struct nk_global *g, int argc, char **argv)
{
        optind = 1;
        if (argc != 2 || argv[1][0] == '-')
                return nk_cmd_usage_error("diff", "expects one container");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        if (nk_ctr_resolve(g->store, argv[1], id, &e) < 0)
                return nk_ctr_fail(e, 1);
        _cleanup_close_ int cdir = nk_ctr_dir_open(g->store, id, &e);
        if (cdir < 0)
                return nk_ctr_fail(e, 1);
        struct diff_ctx c = {.n = 0};
        _cleanup_close_ int upper =
                openat(cdir, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int rc = 0;
        if (upper < 0) {
                nk_error_set(&e, errno, "container %s: its upper directory", argv[1]);
                rc = nk_ctr_fail(e, 1);
        } else if (open_lowers(g->store, cdir, &c, &e) < 0) {
                nk_error_wrap(&e, "container %s", argv[1]);
                rc = nk_ctr_fail(e, 1);
        } else {
                c.mounts = spec_mounts(cdir);
                walk_upper(&c, upper, "", 0);
                qsort(c.v, c.len, sizeof *c.v, change_cmp);
                for (size_t i = 0; i < c.len; i++) {
                        /* a directory copied up only for what changed below it,
                         * with nothing left below it (mount points): not shown */
                        size_t n = strlen(c.v[i].path);
                        bool below = false;
                        for (size_t k = i + 1; k < c.len && !below; k++)
                                below = strncmp(c.v[k].path, c.v[i].path, n) == 0 &&
                                        c.v[k].path[n] == '/';
                        if (c.v[i].quiet_dir && !below)
                                continue;
                        printf("%c ", c.v[i].kind);
                        print_path(c.v[i].path);
                }
        }
        for (size_t i = 0; i < c.len; i++)
                free(c.v[i].path);
        free(c.v);
        nk_strv_free(c.mounts);
        for (size_t i = 0; i < c.n; i++)
                close(c.lowers[i]);
        return rc;
}
