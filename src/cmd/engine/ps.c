/* `nook ps`, `logs`, `inspect`, `exec`: reading containers (and entering
 * one). In the nook binary itself, like lifecycle.c. */
#include "cmd/engine/ctr_cmd.h"
#include "engine/gotmpl.h"
#include "runtime/container.h"
#include "runtime/exec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "5 seconds", "About a minute", ... (Docker's HumanDuration). */
static void human_duration(int64_t ns, char *buf, size_t size)
{
        int64_t s = ns / 1000000000;
        if (s < 1)
                snprintf(buf, size, "Less than a second");
        else if (s == 1)
                snprintf(buf, size, "1 second");
        else if (s < 60)
                snprintf(buf, size, "%lld seconds", (long long)s);
        else if (s / 60 == 1)
                snprintf(buf, size, "About a minute");
        else if (s < 3600)
                snprintf(buf, size, "%lld minutes", (long long)(s / 60));
        else if (s / 3600 == 1)
                snprintf(buf, size, "About an hour");
        else if (s < 48 * 3600)
                snprintf(buf, size, "%lld hours", (long long)(s / 3600));
        else
                snprintf(buf, size, "%lld days", (long long)(s / 86400));
}

/* Seconds since the epoch of a UTC date and time (proleptic Gregorian):
 * timegm() would read the time zone file again at each call, once per
 * container in ps. */
static int64_t utc_seconds(const struct tm *tm)
{
        int64_t y = (int64_t)tm->tm_year + 1900, m = tm->tm_mon + 1;
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + tm->tm_mday - 1;
        int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
        return days * 86400 + tm->tm_hour * 3600 + tm->tm_min * 60 + tm->tm_sec;
}

static int64_t parse_time(const char *t)
{
        struct tm tm = {0};
        const char *rest = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
        if (!rest)
                return 0;
        long ns = 0;
        if (*rest == '.')
                ns = strtol(rest + 1, NULL, 10);
        return utc_seconds(&tm) * 1000000000 + ns;
}

static char *labels_text(json_t *labels)
{
        char *out = strdup("");
        const char *k;
        json_t *v;
        json_object_foreach (labels, k, v) {
                _cleanup_free_ char *prev = out;
                if (asprintf(&out, "%s%s%s=%s", prev, *prev ? "," : "", k,
                             json_string_value(v) ?: "") < 0)
                        return NULL;
        }
        return out;
}

/* A row for a directory without a readable record: a creation or a
 * removal cut short. */
static json_t *removing_row(const char *id, bool no_trunc)
{
        char sid[NK_CTR_ID_LEN + 1];
        snprintf(sid, sizeof sid, no_trunc ? "%s" : "%.12s", id);
        return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{}}", "ID", sid, "Names", "",
                         "Image", "", "Command", "", "CreatedAt", "", "State", "removing", "Status",
                         "Removal In Progress", "RunningFor", "", "Ports", "", "Labels");
}

/* STATUS: "Up 5 seconds", "Exited (0) 2 minutes ago", ... */
static void status_text(const struct nk_ctr_state *st, int64_t now, char *text, size_t size)
{
        char d[48];
        if (st->status == NK_CTR_RUNNING || st->status == NK_CTR_PAUSED) {
                human_duration(now - st->started_ns, d, sizeof d);
                snprintf(text, size, "Up %s%s", d, st->status == NK_CTR_PAUSED ? " (Paused)" : "");
        } else if (st->status == NK_CTR_EXITED || st->status == NK_CTR_RESTARTING) {
                human_duration(st->finished_ns > 0 ? now - st->finished_ns : 0, d, sizeof d);
                if (st->finished_ns > 0)
                        snprintf(text, size, "%s (%d) %s ago",
                                 st->status == NK_CTR_EXITED ? "Exited" : "Restarting",
                                 st->exit_code, d);
                else
                        snprintf(text, size, "Exited (unknown)");
        } else {
                snprintf(text, size, "Created");
        }
}

/* One `ps` row: Docker's --format fields, from the record and the state
 * (what inspect shows, read with one directory fd and no more than ps
 * needs: it does this for every container). */
static json_t *ps_row(const struct nk_global *g, const char *id, bool no_trunc)
{
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, NULL);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        json_error_t je;
        _cleanup_jansson_ json_t *rec =
                dfd >= 0 && nk_read_file_at(dfd, "container.json", &text, &len, NULL) == 0
                        ? json_loadb(text, len, 0, &je)
                        : NULL;
        if (!json_is_object(rec))
                return removing_row(id, no_trunc);
        struct nk_ctr_state st;
        nk_ctr_state_at(dfd, NK_CTR_STATE_HAVE_RECORD | NK_CTR_STATE_BRIEF, &st);
        int64_t now = nk_ctr_now_ns();
        char status[96], d[48];
        status_text(&st, now, status, sizeof status);
        /* COMMAND: the args, quoted and cut as Docker does. */
        _cleanup_free_ char *cmd = NULL;
        json_t *args = json_object_get(rec, "Args");
        cmd = strdup(json_string_value(json_object_get(rec, "Path")) ?: "");
        size_t i;
        json_t *a;
        json_array_foreach (args, i, a) {
                _cleanup_free_ char *prev = cmd;
                if (asprintf(&cmd, "%s %s", prev, json_string_value(a) ?: "") < 0)
                        cmd = NULL;
        }
        char quoted[64];
        if (!no_trunc && cmd && strlen(cmd) > 20)
                snprintf(quoted, sizeof quoted, "\"%.19s…\"", cmd);
        else
                snprintf(quoted, sizeof quoted, "\"%.60s\"", cmd ? cmd : "");
        const char *name = json_string_value(json_object_get(rec, "Name")) ?: "/";
        json_t *cfg = json_object_get(rec, "Config");
        _cleanup_free_ char *labels = labels_text(json_object_get(cfg, "Labels"));
        const char *created = json_string_value(json_object_get(rec, "Created")) ?: "";
        human_duration(now - parse_time(created), d, sizeof d);
        char ago[64];
        snprintf(ago, sizeof ago, "%s ago", d);
        char short_id[NK_CTR_ID_LEN + 1];
        snprintf(short_id, sizeof short_id, no_trunc ? "%s" : "%.12s", id);
        _cleanup_free_ char *ports = nk_ctr_ports_text(rec);
        return json_pack(
                "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:s,s:i}", "ID", short_id, "Names",
                name[0] == '/' ? name + 1 : name, "Image",
                json_string_value(json_object_get(cfg, "Image")) ?: "", "Command", quoted,
                "CreatedAt", created, "State", nk_ctr_status_name(st.status), "Status", status,
                "RunningFor", ago, "Ports", ports ? ports : "", "LabelsText", labels ? labels : "",
                "Labels", json_object_get(cfg, "Labels") ?: json_null(), "ImageID",
                json_string_value(json_object_get(rec, "Image")) ?: "", "Pid", (int)st.pid);
}

/* Docker's filters: name (substring), id (prefix), status, label (KEY or
 * KEY=VALUE), ancestor (the image as given, or its id). */
static bool matches(json_t *row, const char *full_id, char **filters)
{
        for (char **f = filters; f && *f; f++) {
                const char *eq = strchr(*f, '=');
                size_t kl = (size_t)(eq - *f);
                const char *v = eq + 1;
                bool ok;
                if (strncmp(*f, "name", kl) == 0 && kl == 4)
                        ok = strstr(json_string_value(json_object_get(row, "Names")), v) != NULL;
                else if (strncmp(*f, "id", kl) == 0 && kl == 2)
                        ok = strncmp(full_id, v, strlen(v)) == 0;
                else if (strncmp(*f, "status", kl) == 0 && kl == 6)
                        ok = streq(json_string_value(json_object_get(row, "State")), v);
                else if (strncmp(*f, "ancestor", kl) == 0 && kl == 8) {
                        const char *img = json_string_value(json_object_get(row, "Image"));
                        const char *iid = json_string_value(json_object_get(row, "ImageID"));
                        size_t n = strlen(v);
                        ok = streq(img, v) || (strncmp(img, v, n) == 0 && img[n] == ':') ||
                             (n >= 4 && strstr(iid, v) != NULL);
                } else if (strncmp(*f, "label", kl) == 0 && kl == 5) {
                        const char *veq = strchr(v, '=');
                        _cleanup_free_ char *key = strndup(v, veq ? (size_t)(veq - v) : strlen(v));
                        json_t *lv = json_object_get(json_object_get(row, "Labels"), key);
                        ok = lv && (!veq || streq(json_string_value(lv) ?: "", veq + 1));
                } else
                        ok = false;
                if (!ok)
                        return false;
        }
        return true;
}

/* Display width of n bytes of UTF-8 (continuation bytes count 0). */
static size_t cells(const char *s, size_t n)
{
        size_t w = 0;
        for (size_t i = 0; i < n; i++)
                w += ((unsigned char)s[i] & 0xc0) != 0x80;
        return w;
}

int nk_ctr_print_templated(const char *cmd, const char *format, json_t *hdr, json_t *rows)
{
        bool table = strncmp(format, "table", 5) == 0;
        const char *tmpl = table ? format + 5 + strspn(format + 5, " ") : format;
        struct nk_tmpl *t = nk_ctr_template_parse(cmd, tmpl);
        _cleanup_strv_ char **lines = NULL;
        if (!t)
                return 1;
        char *h = table ? nk_ctr_template_exec(cmd, t, hdr) : NULL;
        int rc = table && !h;
        if (h)
                nk_strv_push(&lines, h);
        free(h);
        size_t i;
        json_t *row;
        json_array_foreach (rows, i, row) {
                _cleanup_free_ char *out = rc ? NULL : nk_ctr_template_exec(cmd, t, row);
                if (!out) {
                        rc = 1;
                        break;
                }
                if (table)
                        nk_strv_push(&lines, out);
                else
                        printf("%s\n", out);
        }
        nk_tmpl_free(t);
        if (lines && !rc)
                nk_ctr_print_table(lines);
        return rc;
}

void nk_ctr_print_table(char **lines)
{
        size_t width[32] = {0};
        for (char **l = lines; *l; l++) {
                size_t col = 0;
                for (char *c = *l, *t; col < 32; col++, c = t + 1) {
                        t = strchr(c, '\t');
                        size_t n = cells(c, t ? (size_t)(t - c) : strlen(c));
                        if (n > width[col])
                                width[col] = n;
                        if (!t)
                                break;
                }
        }
        for (char **l = lines; *l; l++) {
                size_t col = 0;
                for (char *c = *l, *t; col < 32; col++, c = t + 1) {
                        t = strchr(c, '\t');
                        size_t n = t ? (size_t)(t - c) : strlen(c);
                        if (!t) {
                                printf("%s\n", c);
                                break;
                        }
                        printf("%.*s%*s", (int)n, c, (int)(width[col] - cells(c, n) + 3), "");
                }
        }
}

static void tmpl_freep(struct nk_tmpl **t)
{
        nk_tmpl_free(*t);
}

static const char *const ps_filter_keys[] = {"name", "id", "status", "label", "ancestor", NULL};

int nk_cmd_ps(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"all", no_argument, NULL, 'a'},          {"quiet", no_argument, NULL, 'q'},
                {"no-trunc", no_argument, NULL, 'T'},     {"format", required_argument, NULL, 'F'},
                {"filter", required_argument, NULL, 'f'}, {0}};
        bool all = false, quiet = false, no_trunc = false;
        const char *format = NULL;
        _cleanup_strv_ char **filters = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+aqf:", opts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        all = true;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'T':
                        no_trunc = true;
                        break;
                case 'F':
                        format = optarg;
                        break;
                case 'f': {
                        const char *eq = strchr(optarg, '=');
                        bool known = false;
                        for (size_t k = 0; eq && ps_filter_keys[k]; k++)
                                known |= strlen(ps_filter_keys[k]) == (size_t)(eq - optarg) &&
                                         strncmp(optarg, ps_filter_keys[k],
                                                 (size_t)(eq - optarg)) == 0;
                        if (!known)
                                return nk_cmd_usage_error("ps",
                                                          "--filter: `%s` is not KEY=VALUE "
                                                          "with KEY name, id, status, label or "
                                                          "ancestor",
                                                          optarg);
                        nk_strv_push(&filters, optarg);
                        if (strncmp(optarg, "status=", 7) == 0)
                                all = true;
                        break;
                }
                default:
                        return nk_cmd_usage_error("ps", "unknown option");
                }
        }
        if (optind != argc)
                return nk_cmd_usage_error("ps", "takes no arguments");
        _cleanup_strv_ char **ids = NULL;
        nk_error *e = NULL;
        nk_ctr_sweep_trash(g->store, g->root); /* what a killed rm left */
        if (nk_ctr_list(g->store, &ids, &e) < 0)
                return nk_ctr_fail(e, 1);
        bool json = format && streq(format, "json");
        bool table = !format || strncmp(format, "table", 5) == 0;
        const char *tmpl =
                !format || streq(format, "table")
                        ? "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}"
                          "\t{{.Ports}}\t{{.Names}}"
                        : (table ? format + 5 + strspn(format + 5, " ") : format);
        _cleanup_strv_ char **lines = NULL;
        _cleanup_(tmpl_freep) struct nk_tmpl *pt = NULL;
        if (table && !quiet) {
                _cleanup_jansson_ json_t *hdr = json_pack(
                        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "ID", "CONTAINER ID",
                        "Names", "NAMES", "Image", "IMAGE", "Command", "COMMAND", "CreatedAt",
                        "CREATED AT", "State", "STATE", "Status", "STATUS", "RunningFor", "CREATED",
                        "Ports", "PORTS", "Labels", "LABELS", "Pid", "PID");
                if (!pt && !(pt = nk_ctr_template_parse("ps", tmpl)))
                        return 1;
                _cleanup_free_ char *h = nk_ctr_template_exec("ps", pt, hdr);
                if (!h)
                        return 1;
                nk_strv_push(&lines, h);
        }
        for (char **p = ids; *p; p++) {
                _cleanup_jansson_ json_t *row = ps_row(g, *p, no_trunc);
                const char *st = json_string_value(json_object_get(row, "State"));
                bool up = streq(st, "running") || streq(st, "paused") || streq(st, "restarting");
                if (!row || (!all && !up) || !matches(row, *p, filters))
                        continue;
                if (quiet) {
                        printf("%s\n", json_string_value(json_object_get(row, "ID")));
                        continue;
                }
                /* {{.Labels}} prints Docker's k=v,k=v. */
                json_object_set(row, "Labels", json_object_get(row, "LabelsText"));
                json_object_del(row, "LabelsText");
                /* the template read once (at its first use, as before),
                 * run for each row: parsing it again per row was a good
                 * part of ps with a thousand containers */
                if (!json && !pt && !(pt = nk_ctr_template_parse("ps", tmpl)))
                        return 1;
                _cleanup_free_ char *out = json ? json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS)
                                                : nk_ctr_template_exec("ps", pt, row);
                if (!out)
                        return 1;
                if (table)
                        nk_strv_push(&lines, out);
                else
                        printf("%s\n", out);
        }
        if (lines)
                nk_ctr_print_table(lines);
        return 0;
}

/* ---- logs ------------------------------------------------------------- */

struct log_opts {
        bool timestamps, follow;
        long tail;            /* -1 all */
        int64_t since, until; /* ns since the epoch, 0: none */
};

/* --since/--until: RFC 3339 (2026-12-06T08:00:00[.frac](Z|+01:00), or a
 * date alone), a Unix time (1765000000[.frac]) or a duration back from now
 * as Go writes them (10m, 1h30m, 2.5s; ns us ms s m h). */
static int log_time_arg(const char *s, int64_t now, int64_t *out)
{
        size_t n = strlen(s);
        if (n == 0)
                return -1;
        /* a duration */
        if (!strchr(s, '-') && !strchr(s, ':') && strpbrk(s, "hmsun")) {
                static const struct {
                        const char *u;
                        double ns;
                } units[] = {{"ns", 1},  {"us", 1e3}, {"ms", 1e6},
                             {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
                double total = 0;
                const char *p = s;
                while (*p) {
                        char *end;
                        if (!((*p >= '0' && *p <= '9') || *p == '.'))
                                return -1;
                        double v = strtod(p, &end);
                        if (end == p)
                                return -1;
                        p = end;
                        size_t best = 0, k = 0;
                        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                                size_t ul = strlen(units[i].u);
                                if (strncmp(p, units[i].u, ul) == 0 && ul > best) {
                                        best = ul;
                                        k = i;
                                }
                        }
                        if (!best)
                                return -1;
                        total += v * units[k].ns;
                        p += best;
                }
                if (total > 1e19)
                        return -1;
                *out = now - (int64_t)total;
                return 0;
        }
        /* a Unix time */
        if (strspn(s, "0123456789.") == n) {
                char *end;
                double v = strtod(s, &end);
                if (*end || v > 1e11)
                        return -1;
                *out = (int64_t)(v * 1e9);
                return 0;
        }
        struct tm tm = {0};
        const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest) {
                memset(&tm, 0, sizeof tm);
                rest = strptime(s, "%Y-%m-%d", &tm);
                if (!rest || *rest)
                        return -1;
        }
        int64_t ns = 0;
        if (*rest == '.') {
                int digits = 0;
                for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
                        if (digits < 9)
                                ns = ns * 10 + (*rest - '0');
                if (!digits)
                        return -1;
                for (; digits < 9; digits++)
                        ns *= 10;
        }
        int64_t off = 0;
        if (*rest == 'Z' || *rest == 'z')
                rest++;
        else if (*rest == '+' || *rest == '-') {
                int hh, mm, k = 0;
                if (sscanf(rest + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || k != 5 || hh > 23 ||
                    mm > 59)
                        return -1;
                off = (int64_t)(hh * 3600 + mm * 60) * (*rest == '+' ? 1 : -1);
                rest += 6;
        }
        if (*rest)
                return -1;
        *out = ((int64_t)timegm(&tm) - off) * 1000000000 + ns;
        return 0;
}

/* One k8s-file line: "TIME STREAM F|P TEXT". */
static void emit(const char *line, size_t n, const struct log_opts *o, bool *at_start)
{
        const char *sp1 = memchr(line, ' ', n);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line)) : NULL;
        if (!sp2 || (size_t)(sp2 - line) + 3 > n)
                return;
        if (o->since || o->until) {
                char t[64];
                snprintf(t, sizeof t, "%.*s", (int)(sp1 - line), line);
                int64_t at = parse_time(t);
                if ((o->since && at < o->since) || (o->until && at > o->until))
                        return;
        }
        bool err = strncmp(sp1 + 1, "stderr", 6) == 0;
        bool full = sp2[1] == 'F';
        const char *text = sp2 + 3;
        size_t tl = n - (size_t)(text - line);
        FILE *f = err ? stderr : stdout;
        if (o->timestamps && *at_start)
                fprintf(f, "%.*s ", (int)(sp1 - line), line);
        fwrite(text, 1, tl, f);
        if (full)
                fputc('\n', f);
        fflush(f);
        *at_start = full;
}

/* The log from `off` on: whole lines only; returns the offset read to. */
static off_t show(int fd, off_t off, const struct log_opts *o, long skip, bool *at_start)
{
        char buf[65536];
        size_t have = 0;
        for (;;) {
                ssize_t r = pread(fd, buf + have, sizeof buf - have, off + (off_t)have);
                if (r <= 0)
                        break;
                have += (size_t)r;
                char *p = buf, *nl;
                while ((nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
                        if (skip > 0)
                                skip--;
                        else
                                emit(p, (size_t)(nl - p), o, at_start);
                        p = nl + 1;
                }
                size_t used = (size_t)(p - buf);
                off += (off_t)used;
                memmove(buf, p, have - used);
                have -= used;
                if (have == sizeof buf) { /* a line longer than the buffer: cut */
                        emit(buf, have, o, at_start);
                        off += (off_t)have;
                        have = 0;
                }
        }
        return off;
}

static long count_lines(int fd)
{
        char buf[65536];
        long n = 0;
        ssize_t r;
        off_t off = 0;
        while ((r = pread(fd, buf, sizeof buf, off)) > 0) {
                for (ssize_t i = 0; i < r; i++)
                        n += buf[i] == '\n';
                off += r;
        }
        return n;
}

int nk_cmd_logs(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"follow", no_argument, NULL, 'f'},      {"timestamps", no_argument, NULL, 't'},
                {"tail", required_argument, NULL, 'n'},  {"since", required_argument, NULL, 'S'},
                {"until", required_argument, NULL, 'U'}, {0}};
        struct log_opts o = {.tail = -1};
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        int c;
        unsigned long long v;
        while ((c = getopt_long(argc, argv, "+ftn:", opts, NULL)) != -1) {
                if (c == 'f')
                        o.follow = true;
                else if (c == 't')
                        o.timestamps = true;
                else if (c == 'n' && streq(optarg, "all"))
                        o.tail = -1;
                else if (c == 'n' && nk_parse_uint(optarg, 1ULL << 40, &v) == 0)
                        o.tail = (long)v;
                else if (c == 'S' || c == 'U') {
                        if (log_time_arg(optarg, now_ns, c == 'S' ? &o.since : &o.until) < 0)
                                return nk_cmd_usage_error(
                                        "logs",
                                        "--%s: `%s` is not a time (RFC 3339, a Unix time or a "
                                        "duration like 10m)",
                                        c == 'S' ? "since" : "until", optarg);
                } else
                        return nk_cmd_usage_error("logs",
                                                  c == 'n' ? "--tail: `%s` is not a number"
                                                           : "unknown option%s",
                                                  c == 'n' ? optarg : "");
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("logs", "expects one container");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        if (nk_ctr_resolve(g->store, argv[optind], id, &e) < 0)
                return nk_ctr_fail(e, 1);
        _cleanup_close_ int dfd = nk_ctr_dir_open(g->store, id, &e);
        if (dfd < 0)
                return nk_ctr_fail(e, 1);
        int fd = openat(dfd, "ctr.log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT)
                return nk_ctr_fail((nk_error_set(&e, errno, "open the log of %s", argv[optind]), e),
                                   1);
        bool at_start = true;
        off_t off = 0;
        /* The rotated files (--log-opt max-file), oldest first, then ctr.log;
         * --tail counts over all of them. */
        int fds[10];
        size_t n = 0;
        for (int i = 9; i >= 1; i--) {
                char name[32];
                snprintf(name, sizeof name, "ctr.log.%d", i);
                int r = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (r >= 0)
                        fds[n++] = r;
        }
        if (fd >= 0)
                fds[n++] = fd;
        long total = 0;
        for (size_t i = 0; i < n; i++)
                total += count_lines(fds[i]);
        long skip = o.tail >= 0 && o.tail < total ? total - o.tail : 0;
        for (size_t i = 0; i < n; i++) {
                long lines = count_lines(fds[i]);
                off_t end = show(fds[i], 0, &o, skip, &at_start);
                skip = skip > lines ? skip - lines : 0;
                if (fds[i] == fd)
                        off = end;
                else
                        close(fds[i]);
        }
        while (o.follow) {
                struct nk_ctr_state st;
                bool live = nk_ctr_state(g->store, g->root, id, &st, NULL) == 0 && st.monitor;
                if (fd < 0)
                        fd = openat(dfd, "ctr.log", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd >= 0) {
                        struct stat sb;
                        if (fstat(fd, &sb) == 0 && sb.st_size < off)
                                off = 0; /* rotated or truncated */
                        off = show(fd, off, &o, 0, &at_start);
                }
                if (!live)
                        break;
                if (o.until) { /* nothing later is shown: stop once it passed */
                        struct timespec t;
                        clock_gettime(CLOCK_REALTIME, &t);
                        if ((int64_t)t.tv_sec * 1000000000 + t.tv_nsec > o.until)
                                break;
                }
                usleep(50000);
        }
        if (fd >= 0)
                close(fd);
        return 0;
}

/* ---- inspect ---------------------------------------------------------- */

int nk_cmd_inspect(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                             {"type", required_argument, NULL, 'T'},
                                             {0}};
        const char *format = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
                if (c == 'f')
                        format = optarg;
                else if (c != 'T')
                        return nk_cmd_usage_error("inspect", "unknown option");
        }
        if (optind >= argc)
                return nk_cmd_usage_error("inspect", "requires at least one container");
        _cleanup_jansson_ json_t *all = json_array();
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                char id[NK_CTR_ID_LEN + 1];
                nk_error *e = NULL;
                json_t *obj = NULL;
                if (nk_ctr_resolve(g->store, argv[i], id, &e) < 0 ||
                    !(obj = nk_ctr_inspect_json(g, id, &e))) {
                        rc = nk_ctr_fail(e, 1);
                        continue;
                }
                if (format) {
                        _cleanup_free_ char *t = nk_ctr_template("inspect", format, obj);
                        json_decref(obj);
                        if (!t)
                                return 1;
                        printf("%s\n", t);
                } else {
                        json_array_append_new(all, obj);
                }
        }
        if (!format)
                json_dumpf(all, stdout, JSON_INDENT(4)), putchar('\n');
        return rc;
}

/* ---- exec ------------------------------------------------------------- */

int nk_cmd_ctr_exec(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"interactive", no_argument, NULL, 'i'},
                                             {"tty", no_argument, NULL, 't'},
                                             {"detach", no_argument, NULL, 'd'},
                                             {"env", required_argument, NULL, 'e'},
                                             {"user", required_argument, NULL, 'u'},
                                             {"workdir", required_argument, NULL, 'w'},
                                             {0}};
        bool tty = false, detach = false;
        const char *user = NULL, *workdir = NULL;
        _cleanup_strv_ char **env = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+itde:u:w:", opts, NULL)) != -1) {
                switch (c) {
                case 'i':
                        break; /* stdin is passed as it is */
                case 't':
                        tty = true;
                        break;
                case 'd':
                        detach = true;
                        break;
                case 'e':
                        if (strchr(optarg, '='))
                                nk_strv_push(&env, optarg);
                        else if (getenv(optarg)) {
                                _cleanup_free_ char *kv = NULL;
                                if (asprintf(&kv, "%s=%s", optarg, getenv(optarg)) > 0)
                                        nk_strv_push(&env, kv);
                        }
                        break;
                case 'u':
                        user = optarg;
                        break;
                case 'w':
                        workdir = optarg;
                        break;
                default:
                        return nk_cmd_usage_error("exec", "unknown option");
                }
        }
        if (argc - optind < 2)
                return nk_cmd_usage_error("exec", "expects CONTAINER COMMAND [ARG...]");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        struct nk_ctr_state st;
        if (nk_ctr_resolve(g->store, argv[optind], id, &e) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, &e) < 0)
                return nk_ctr_fail(e, 1);
        if (st.status != NK_CTR_RUNNING) {
                nk_log(NK_LOG_ERROR, "container %s is not running (%s)", argv[optind],
                       nk_ctr_status_name(st.status));
                return 1;
        }
        struct nk_container *ct = NULL;
        if (nk_container_open(g->root, id, 0, &ct, &e) < 0)
                return nk_ctr_fail(e, 126);
        _cleanup_jansson_ json_t *proc = nk_exec_process_from_config(ct);
        if (!proc) {
                nk_container_close(ct);
                nk_log(NK_LOG_ERROR, "exec in %s: no process in its config", argv[optind]);
                return 126;
        }
        json_t *args = json_array();
        for (int i = optind + 1; i < argc; i++)
                json_array_append_new(args, json_string(argv[i]));
        json_object_set_new(proc, "args", args);
        json_object_set_new(proc, "terminal", json_boolean(tty && !detach));
        json_t *penv = json_object_get(proc, "env");
        for (char **p = env; p && *p; p++)
                json_array_append_new(penv, json_string(*p));
        if (workdir)
                json_object_set_new(proc, "cwd", json_string(workdir));
        if (user) {
                unsigned long long uid, gid = 0;
                const char *colon = strchr(user, ':');
                _cleanup_free_ char *u =
                        strndup(user, colon ? (size_t)(colon - user) : strlen(user));
                if (nk_parse_uint(u, UINT32_MAX - 1, &uid) < 0 ||
                    (colon && nk_parse_uint(colon + 1, UINT32_MAX - 1, &gid) < 0)) {
                        nk_log(NK_LOG_ERROR, "exec -u: `%s`: only numeric UID[:GID] here", user);
                        nk_container_close(ct);
                        return 125;
                }
                json_object_set_new(
                        proc, "user",
                        json_pack("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid));
        }
        struct nk_exec_opts xo = {.process = proc, .detach = detach};
        int code = 0;
        int r = nk_container_exec(ct, &xo, &code, &e);
        nk_container_close(ct);
        if (r < 0) {
                _cleanup_free_ char *t = nk_error_text(e);
                int rc = t && strstr(t, "exec: ") &&
                                         (strstr(t, "not found") || strstr(t, "no such file"))
                                 ? 127
                                 : 126;
                return nk_ctr_fail(e, rc);
        }
        return code;
}
