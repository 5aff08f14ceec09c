#include "cmd/commands.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <jansson.h>
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
        return nk_cmd_help_flags(argc, argv, usage, help, 0);
}

bool nk_cmd_help_flags(int argc, char **argv, const char *usage, const char *help, unsigned flags)
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
                bool short_h = streq(argv[i], "-h") && !(flags & NK_CMD_H_IS_OPTION);
                if (short_h || streq(argv[i], "--help") || streq(argv[i], "-help")) {
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

int nk_cmd_one_id(const char *cmd, int argc, char **argv, const char **id)
{
        static const struct option none[] = {{0}};
        if (getopt_long_only(argc, argv, "+", none, NULL) != -1)
                return 1;
        if (optind + 1 != argc)
                return nk_cmd_usage_error(cmd, "expects exactly one container ID");
        *id = argv[optind];
        return 0;
}

int nk_cmd_format_option(const char *cmd, int argc, char **argv, bool *json)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
        const char *format = "table";
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                format = optarg;
        }
        if (!streq(format, "table") && !streq(format, "json"))
                return nk_cmd_usage_error(cmd, "--format: `%s` is not table or json", format);
        *json = streq(format, "json");
        return 0;
}

int nk_cmd_json_out(json_t *o, bool pretty)
{
        char *s = json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT);
        json_decref(o);
        if (!s)
                return 1;
        puts(s);
        fflush(stdout);
        free(s);
        return 0;
}
