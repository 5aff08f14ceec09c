#include "cmd/engine/engine_cmd.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Run when the engine module is loaded, before any engine command, after
 * main has set up logging. */
__attribute__((constructor)) static void engine_env_from_environ(void)
{
        nk_cmd_engine_env_init();
}

struct nk_store *nk_cmd_store(const struct nk_global *g)
{
        struct nk_store *s = NULL;
        nk_error *err = NULL;
        if (nk_engine_open(g->store, &s, &err) < 0) {
                nk_cmd_fail(err);
                return NULL;
        }
        return s;
}

int nk_cmd_store_fail(const struct nk_store *s, nk_error *err)
{
        bool full = err && (err->errno_ == ENOSPC || err->errno_ == EDQUOT);
        int rc = nk_cmd_fail(err);
        if (full)
                nk_log(NK_LOG_ERROR, "the store `%s` ran out of space and was left as it was",
                       nk_engine_root(s));
        return rc;
}

void nk_cmd_human_size(uint64_t bytes, char *buf, size_t len)
{
        static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
        double v = (double)bytes;
        size_t u = 0;
        while (v >= 1000.0 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1000.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, len, "%lluB", (unsigned long long)bytes);
        else
                snprintf(buf, len, "%.3g%s", v, units[u]);
}

void nk_cmd_human_age(const char *rfc3339, char *buf, size_t len)
{
        struct tm tm = {0};
        if (!rfc3339 || !strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm)) {
                snprintf(buf, len, "N/A");
                return;
        }
        double secs = difftime(time(NULL), timegm(&tm));
        static const struct {
                double secs;
                const char *unit;
        } steps[] = {
                {365 * 86400.0, "year"}, {30 * 86400.0, "month"}, {7 * 86400.0, "week"},
                {86400.0, "day"},        {3600.0, "hour"},        {60.0, "minute"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
                long n = (long)(secs / steps[i].secs);
                if (n >= 1) {
                        snprintf(buf, len, "%ld %s%s ago", n, steps[i].unit, n > 1 ? "s" : "");
                        return;
                }
        }
        snprintf(buf, len, "Less than a minute ago");
}

int nk_cmd_confirm(const char *question)
{
        if (!isatty(STDIN_FILENO))
                return -1;
        char line[16] = "";
        fprintf(stderr, "%s [y/N] ", question);
        fflush(stderr);
        if (!fgets(line, sizeof(line), stdin))
                return 0;
        return line[0] == 'y' || line[0] == 'Y';
}

int nk_cmd_print_json(json_t *v)
{
        _cleanup_free_ char *s = json_dumps(v, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        if (!s)
                return 1;
        printf("%s\n", s);
        return 0;
}
