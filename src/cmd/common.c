#include "cmd/commands.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *nk_cmd_prog = "nook";

int nk_cmd_fail(nk_error *err)
{
        if (!err) {
                nk_log(NK_LOG_ERROR, "unknown error");
                return 1;
        }
        _cleanup_free_ char *text = nk_error_text(err);
        nk_log(NK_LOG_ERROR, "%s", text);
        nk_error_free(err);
        return 1;
}

int nk_cmd_usage_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;
        char *msg = NULL;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        _cleanup_free_ char *line = msg ? nk_log_escape(msg) : NULL; /* one line */
        fprintf(stderr, "%s %s: %s\n", nk_cmd_prog, cmd, line ? line : "usage error");
        free(msg);
        return 1;
}

bool nk_cmd_help(int argc, char **argv, const char *usage, const char *help)
{
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                /* Stop at the first positional argument (the container ID):
                 * what follows belongs to the container's command. A token
                 * right after a bare option may be that option's value. */
                bool after_opt = i > 1 && argv[i - 1][0] == '-' && !strchr(argv[i - 1], '=');
                if (argv[i][0] != '-' && !after_opt)
                        break;
                if (streq(argv[i], "-h") || streq(argv[i], "--help") || streq(argv[i], "-help")) {
                        printf("usage: %s %s\n%s", nk_cmd_prog, usage, help ? help : "");
                        return true;
                }
        }
        return false;
}

void nk_cmd_getopt_reset(void)
{
        optind = 0; /* glibc: 0 also resets its internal state */
        opterr = 1;
}
