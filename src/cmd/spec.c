#include "cmd/commands.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nk_cmd_spec(const struct nk_global *g, int argc, char **argv);
int nk_cmd_spec(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"bundle", required_argument, NULL, 'b'},
                                             {"rootless", no_argument, NULL, 'r'}, {0}};
        const char *bundle = ".";
        bool rootless = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+b:", opts, NULL)) != -1) {
                if (c == 'b')
                        bundle = optarg;
                else if (c == 'r')
                        rootless = true;
                else
                        return 1;
        }
        if (optind != argc)
                return nk_cmd_usage_error("spec", "takes no arguments");
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return 1;
        if (nk_path_exists(path)) {
                fprintf(stderr, "nook spec: `%s` already exists; remove it first\n", path);
                return 1;
        }
        json_t *o = nk_spec_default(rootless);
        _cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        nk_error *err = NULL;
        if (!text || nk_write_file(path, text, strlen(text), 0644, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}
