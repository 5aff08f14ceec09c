/* nook info [--format table|json]: the host as nook sees it
 * (runtime/hostinfo.c gathers it). */
#include "cmd/cg_cmds.h"
#include "runtime/hostinfo.h"
#include "util/cleanup.h"
#include <stdio.h>

void nk_cmd_info_print(json_t *o)
{
        json_t *cg = json_object_get(o, "cgroups");
        printf("kernel:          %s\n", json_string_value(json_object_get(o, "kernel")));
        json_t *arch = json_object_get(o, "architecture");
        printf("architecture:    %s (nook built for %s)\n",
               json_string_value(json_object_get(arch, "machine")),
               json_string_value(json_object_get(arch, "build")));
        printf("cgroup layout:   %s\n", json_string_value(json_object_get(cg, "layout")));
        size_t i, j;
        json_t *h, *c;
        json_array_foreach (json_object_get(cg, "hierarchies"), i, h) {
                printf("  v%lld %-28s",
                       (long long)json_integer_value(json_object_get(h, "version")),
                       json_string_value(json_object_get(h, "mount")));
                json_array_foreach (json_object_get(h, "controllers"), j, c)
                        printf(" %s", json_string_value(c));
                printf("\n");
        }
        printf("not mounted:    ");
        json_array_foreach (json_object_get(cg, "unmounted"), i, c)
                printf(" %s", json_string_value(c));
        printf("\nnamespaces:     ");
        json_array_foreach (json_object_get(o, "namespaces"), i, c)
                printf(" %s", json_string_value(c));
        printf("\noverlayfs:       %s\n",
               json_is_true(json_object_get(o, "overlayfs")) ? "yes" : "no");
        printf("psi:             %s\n", json_is_true(json_object_get(o, "psi")) ? "yes" : "no");
        printf("seccomp actions:");
        json_array_foreach (json_object_get(json_object_get(o, "seccomp"), "actions"), i, c)
                printf(" %s", json_string_value(c));
        json_t *un = json_object_get(o, "userNamespaces"), *sc = json_object_get(o, "syscalls");
        printf("\nuser namespaces: %s (max %lld)\n",
               json_is_true(json_object_get(un, "available")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(un, "max")));
        const char *k;
        json_object_foreach (sc, k, c)
                printf("%-16s %s\n", k, json_is_true(c) ? "yes" : "no");
        printf("state root:      %s\n", json_string_value(json_object_get(o, "root")));
        printf("image store:     %s\n", json_string_value(json_object_get(o, "store")));
}

int nk_cmd_info(const struct nk_global *g, int argc, char **argv)
{
        bool json = false;
        int r = nk_cmd_format_option("info", argc, argv, &json);
        if (r)
                return r;
        if (optind != argc)
                return nk_cmd_usage_error("info", "takes no arguments");
        nk_error *err = NULL;
        json_t *o = nk_host_info(g->root, g->store, &err);
        if (!o)
                return nk_cmd_fail(err);
        if (json)
                return nk_cmd_json_out(o, true);
        nk_cmd_info_print(o);
        json_decref(o);
        return 0;
}
