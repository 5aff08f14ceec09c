/* nook events [--stats] [--interval D] ID
 *
 * JSON lines as runc prints them: {"type":"stats","id":..,"data":{..}} every
 * interval, {"type":"oom","id":..} as OOM kills happen. With --stats: one
 * stats object, then exit. Ends when the container's init exits. */
#include "cmd/cg_cmds.h"
#include "util/cleanup.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void emit(enum nk_event_kind kind, json_t *data, void *id)
{
        json_t *o = json_pack("{s:s, s:s}", "type", kind == NK_EVENT_OOM ? "oom" : "stats", "id",
                              (const char *)id);
        if (data)
                json_object_set(o, "data", data);
        nk_cmd_json_out(o, false);
}

static int stats_once(struct nk_container *c, const char *id)
{
        nk_error *err = NULL;
        _cleanup_(json_decrefp) json_t *s = nk_container_stats(c, &err);
        if (!s)
                return nk_cmd_fail(err);
        emit(NK_EVENT_STATS, s, (void *)id);
        return 0;
}

int nk_cmd_events(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"stats", no_argument, NULL, 's'}, {"interval", required_argument, NULL, 'i'}, {0}};
        bool once = false;
        long long interval = 5000;
        int c;
        while ((c = getopt_long_only(argc, argv, "+si:", opts, NULL)) != -1) {
                if (c == 's')
                        once = true;
                else if (c == 'i' && (interval = parse_duration_ms(optarg)) <= 0)
                        return nk_cmd_usage_error("events",
                                                  "--interval: `%s` is not a "
                                                  "duration like 5s or 500ms",
                                                  optarg);
                else if (c != 'i')
                        return 1;
        }
        if (optind + 1 != argc)
                return nk_cmd_usage_error("events", "expects exactly one container ID");
        nk_error *err = NULL;
        struct nk_container *ct = NULL;
        if (nk_container_open(g->root, argv[optind], 0, &ct, &err) < 0)
                return nk_cmd_fail(err);
        const char *id = nk_container_state(ct)->id;
        int rc = 0;
        if (once)
                rc = stats_once(ct, id);
        else if (nk_container_watch(ct, interval, emit, (void *)id, &err) < 0)
                rc = nk_cmd_fail(err);
        nk_container_close(ct);
        return rc;
}
