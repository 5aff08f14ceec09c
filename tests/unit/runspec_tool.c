/* nk-runspec: the OCI spec `nook run` flags make, for the integration
 * tests that run it (tests/integration/test_engine_runspec.py) before the
 * engine's own `nook run` uses it.
 *
 *   nk-runspec [--store STORE] ROOTFS IMAGE_CONFIG_JSON [RUN_ARGS...] IMAGE [CMD...]
 *
 * Prints the spec (hostname "runspec") on stdout. With --store, the
 * mounts are resolved first (volumes created in STORE, copy-up from
 * ROOTFS) and the names of the volumes made are printed on stderr, one
 * a line, as "created NAME". */
#include "engine/container/runopts.h"
#include "engine/container/volume.h"
#include "util/cleanup.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(nk_error *err)
{
        char *t = nk_error_text(err);
        fprintf(stderr, "nk-runspec: %s\n", t ? t : "error");
        free(t);
        nk_error_free(err);
        return 1;
}

int main(int argc, char **argv)
{
        const char *store = NULL;
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "--store") == 0) {
                store = argv[2];
                i = 3;
        }
        if (argc - i < 3) {
                fprintf(stderr, "usage: nk-runspec [--store STORE] ROOTFS IMAGE_CONFIG_JSON "
                                "[RUN_ARGS...] IMAGE [CMD...]\n");
                return 2;
        }
        const char *rootfs = argv[i];
        json_error_t je;
        json_t *cfg = json_loads(argv[i + 1], 0, &je);
        if (!cfg) {
                fprintf(stderr, "nk-runspec: image config: %s\n", je.text);
                return 2;
        }
        /* argv[i + 1] becomes the command name ("run") for the parser */
        char **rargv = argv + i + 1;
        int rargc = argc - i - 1;
        rargv[0] = "run";
        struct nk_run_opts o;
        nk_error *err = NULL;
        if (nk_run_opts_parse(rargc, rargv, &o, &err) < 0)
                return fail(err);
        o.hostname = strdup("runspec");
        int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0) {
                perror(rootfs);
                return 1;
        }
        struct nk_run_mount *mounts = o.mounts;
        size_t n = o.n_mounts;
        char **created = NULL;
        if (store && nk_volume_resolve_mounts(store, o.mounts, o.n_mounts, cfg, rfd, &mounts, &n,
                                              &created, &err) < 0)
                return fail(err);
        for (char **c = created; c && *c; c++)
                fprintf(stderr, "created %s\n", *c);
        json_t *spec = NULL;
        if (nk_run_spec_build(&o, cfg, rootfs, rfd, mounts, n, &spec, &err) < 0)
                return fail(err);
        char *text = json_dumps(spec, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(spec);
        json_decref(cfg);
        if (store) {
                nk_run_mounts_free(mounts, n);
                for (char **c = created; c && *c; c++)
                        free(*c);
                free(created);
        }
        nk_run_opts_clear(&o);
        close(rfd);
        return 0;
}
