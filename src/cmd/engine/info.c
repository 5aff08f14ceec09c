/* The engine's `nook info` and `nook version`: what Docker's users read
 * first (how many containers and images, the architecture), then the
 * host as the runtime sees it (runtime/hostinfo.c). */
#include "cmd/cg_cmds.h"
#include "cmd/engine/ctr_cmd.h"
#include "cmd/engine/engine_cmd.h"
#include "engine/container/ctr.h"
#include "runtime/hostinfo.h"
#include "util/arch.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

/* {total, running, paused, stopped} over the container store. */
static json_t *container_counts(const struct nk_global *g, nk_error **err)
{
        char **ids;
        if (nk_ctr_list(g->store, &ids, err) < 0)
                return NULL;
        json_int_t total = 0, running = 0, paused = 0;
        for (char **id = ids; *id; id++) {
                struct nk_ctr_state st;
                nk_error *e = NULL;
                if (nk_ctr_state(g->store, g->root, *id, &st, &e) < 0) {
                        nk_error_free(e); /* removed meanwhile */
                        continue;
                }
                total++;
                running += st.status == NK_CTR_RUNNING || st.status == NK_CTR_RESTARTING;
                paused += st.status == NK_CTR_PAUSED;
        }
        nk_strv_free(ids);
        return json_pack("{sI sI sI sI}", "total", total, "running", running, "paused", paused,
                         "stopped", total - running - paused);
}

/* Distinct images (an id with several names counts once), as Docker. */
static json_int_t image_count(struct nk_store *s, nk_error **err)
{
        struct nk_image_summary *v;
        size_t n;
        if (nk_image_list(s, &v, &n, err) < 0)
                return -1;
        json_int_t distinct = 0;
        for (size_t i = 0; i < n; i++) {
                size_t j = 0;
                while (j < i && strcmp(v[j].id, v[i].id) != 0)
                        j++;
                distinct += j == i;
        }
        nk_image_list_free(v, n);
        return distinct;
}

int nk_cmd_engine_info(const struct nk_global *g, int argc, char **argv)
{
        bool json = false;
        int r = nk_cmd_format_option("info", argc, argv, &json);
        if (r)
                return r;
        if (optind != argc)
                return nk_cmd_usage_error("info", "takes no arguments");
        _cleanup_(nk_engine_closep) struct nk_store *s = nk_cmd_store(g);
        if (!s)
                return 1;
        nk_error *err = NULL;
        _cleanup_jansson_ json_t *o = nk_host_info(g->root, g->store, &err);
        json_t *ctrs = o ? container_counts(g, &err) : NULL;
        json_int_t images = ctrs ? image_count(s, &err) : -1;
        if (!o || !ctrs || images < 0) {
                json_decref(ctrs);
                return nk_cmd_fail(err);
        }
        json_object_set_new(o, "containers", ctrs);
        json_object_set_new(o, "images", json_integer(images));
        if (json)
                return nk_cmd_json_out(json_incref(o), true);
        printf("containers:      %lld (running %lld, paused %lld, stopped %lld)\n",
               (long long)json_integer_value(json_object_get(ctrs, "total")),
               (long long)json_integer_value(json_object_get(ctrs, "running")),
               (long long)json_integer_value(json_object_get(ctrs, "paused")),
               (long long)json_integer_value(json_object_get(ctrs, "stopped")));
        printf("images:          %lld\n", (long long)images);
        nk_cmd_info_print(o);
        return 0;
}

int nk_cmd_engine_version(const struct nk_global *g, int argc, char **argv)
{
        (void)g;
        bool json = false;
        int r = nk_cmd_format_option("version", argc, argv, &json);
        if (r)
                return r;
        if (optind != argc)
                return nk_cmd_usage_error("version", "takes no arguments");
        struct utsname u;
        if (uname(&u) < 0)
                memset(&u, 0, sizeof(u));
        json_t *o = json_pack("{ss ss ss ss ss ss}", "Version", NOOK_VERSION, "OCISpec", "1.2.0",
                              "Os", "linux", "Arch", NK_BUILD_ARCH, "Machine", u.machine,
                              "KernelVersion", u.release);
        nk_error *err = NULL;
        if (!o) {
                nk_error_set(&err, ENOMEM, "version");
                return nk_cmd_fail(err);
        }
        if (json)
                return nk_cmd_json_out(o, true);
        printf("Version:        %s\nOCI spec:       1.2.0\nOS/Arch:        linux/%s\n"
               "Machine:        %s\nKernel:         %s\n",
               NOOK_VERSION, NK_BUILD_ARCH, u.machine, u.release);
        json_decref(o);
        return 0;
}
