#include "runtime/spec.h"
#include "cmd/commands.h"
#include "runtime/security.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --seccomp: the engine's default profile, resolved for the bounding set
 * the spec lists, as linux.seccomp. */
static int add_default_seccomp(json_t *spec, nk_error **err)
{
        json_t *bnd = json_object_get(
                json_object_get(json_object_get(spec, "process"), "capabilities"), "bounding");
        uint64_t caps = 0;
        size_t i;
        json_t *v;
        json_array_foreach (bnd, i, v)
                if (nk_cap_from_name(json_string_value(v)) >= 0)
                        caps |= 1ULL << nk_cap_from_name(json_string_value(v));
        json_t *prof = nk_seccomp_default_profile(caps, err);
        if (!prof)
                return -1;
        json_object_set_new(json_object_get(spec, "linux"), "seccomp", prof);
        return 0;
}

int nk_cmd_spec(const struct nk_global *g, int argc, char **argv);
int nk_cmd_spec(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"bundle", required_argument, NULL, 'b'},
                                             {"rootless", no_argument, NULL, 'r'},
                                             {"seccomp", no_argument, NULL, 's'},
                                             {0}};
        const char *bundle = ".";
        bool rootless = false, seccomp = false;
        int c;
        while ((c = getopt_long_only(argc, argv, "+b:", opts, NULL)) != -1) {
                if (c == 'b')
                        bundle = optarg;
                else if (c == 'r')
                        rootless = true;
                else if (c == 's')
                        seccomp = true;
                else
                        return 1;
        }
        if (optind != argc)
                return nk_cmd_usage_error("spec", "takes no arguments");
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return 1;
        if (nk_path_exists(path))
                return nk_cmd_usage_error("spec", "`%s` already exists; remove it first", path);
        json_t *o = nk_spec_default(rootless);
        nk_error *err = NULL;
        if (seccomp && add_default_seccomp(o, &err) < 0) {
                json_decref(o);
                return nk_cmd_fail(err);
        }
        _cleanup_free_ char *text = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (!text || nk_write_file(path, text, strlen(text), 0644, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}
