/* nook events [--stats] [--interval D] ID
 *
 * JSON lines as runc prints them: {"type":"stats","id":..,"data":{..}} every
 * interval, {"type":"oom","id":..} as OOM kills happen. With --stats: one
 * stats object, then exit. Ends when the container's init exits. */
#include "cmd/cg_cmds.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "5s", "100ms", "1m", "1.5s", "2" (seconds) -> milliseconds. */
static long long parse_duration_ms(const char *s)
{
        char *end = NULL;
        double v = strtod(s, &end);
        if (end == s || v < 0)
                return -1;
        if (*end == '\0' || streq(end, "s"))
                return (long long)(v * 1000);
        if (streq(end, "ms"))
                return (long long)v;
        if (streq(end, "m"))
                return (long long)(v * 60000);
        if (streq(end, "h"))
                return (long long)(v * 3600000);
        return -1;
}

static void emit(const char *type, const char *id, json_t *data)
{
        json_t *o = json_pack("{s:s, s:s}", "type", type, "id", id);
        if (data)
                json_object_set_new(o, "data", data);
        nk_cg_cmd_print_json(o, false);
}

static int stats_once(struct nk_cgroup *cg, const char *id)
{
        nk_error *err = NULL;
        json_t *s = nk_cgroup_stats(cg, &err);
        if (!s)
                return nk_cmd_fail(err);
        emit("stats", id, s);
        return 0;
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void emit_n(const char *id, long long n)
{
        for (long long i = 0; i < n; i++)
                emit("oom", id, NULL);
}

static int watch(struct nk_state *st, struct nk_cgroup *cg, long long interval)
{
        nk_error *err = NULL;
        _cleanup_close_ int ofd = nk_cgroup_oom_fd(cg, &err);
        if (ofd < 0)
                return nk_cmd_fail(err);
        _cleanup_close_ int pfd = st->pid > 0 ? nk_pidfd_open(st->pid, 0) : -1;
        long long seen = nk_cgroup_oom_kills(cg), next = now_ms() + interval;
        for (;;) {
                struct pollfd p[2] = {{ofd, POLLIN, 0}, {pfd, POLLIN, 0}};
                long long wait = next - now_ms();
                int r = poll(p, pfd >= 0 ? 2 : 1, wait < 0 ? 0 : (int)wait);
                if (r < 0 && errno != EINTR)
                        return nk_cmd_fail(NULL);
                if (r > 0 && (p[0].revents & POLLIN)) {
                        int n = nk_cgroup_oom_events(cg, ofd, &seen);
                        if (n < 0)
                                return 0; /* cgroup removed: container deleted */
                        emit_n(st->id, n);
                }
                if (r > 0 && pfd >= 0 && (p[1].revents & POLLIN)) {
                        /* The init is gone: report kills that ended it. */
                        long long now = nk_cgroup_oom_kills(cg);
                        emit_n(st->id, now > seen ? now - seen : 0);
                        return 0;
                }
                if (now_ms() >= next) {
                        if (stats_once(cg, st->id) != 0)
                                return 0; /* cgroup removed: container deleted */
                        next = now_ms() + interval;
                }
        }
}

int nk_cmd_events(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"stats", no_argument, NULL, 's'},
                                             {"interval", required_argument, NULL, 'i'}, {0}};
        bool once = false;
        long long interval = 5000;
        int c;
        while ((c = getopt_long_only(argc, argv, "+si:", opts, NULL)) != -1) {
                if (c == 's')
                        once = true;
                else if (c == 'i' && (interval = parse_duration_ms(optarg)) <= 0)
                        return nk_cmd_usage_error("events", "--interval: `%s` is not a "
                                                            "duration like 5s or 500ms",
                                                  optarg);
                else if (c != 'i')
                        return 1;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("events", "expects exactly one container ID");
        nk_error *err = NULL;
        struct nk_state *st = NULL;
        struct nk_cgroup *cg = NULL;
        if (nk_cg_cmd_open(g, argv[optind], false, NULL, &st, &cg, &err) < 0)
                return nk_cmd_fail(err);
        int rc = once ? stats_once(cg, st->id) : watch(st, cg, interval);
        nk_cgroup_free(cg);
        nk_state_free(st);
        return rc;
}
