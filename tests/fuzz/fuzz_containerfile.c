/* libFuzzer target: Containerfile text -> the parser, then every
 * instruction's words expanded (with a variable table that refers to
 * itself) and the config instructions applied to an image config. Each
 * must succeed or return an error with a message, never crash or leak. */
#include "engine/build/build.h"
#include "engine/build/containerfile.h"
#include "util/strv.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int r, nk_error *err)
{
        if (r < 0 && (!err || !err->msg))
                __builtin_trap();
        nk_error_free(err);
}

static void words(const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars)
{
        for (int whole = 0; whole < 2; whole++) {
                char **w = NULL;
                nk_error *err = NULL;
                int r = nk_bf_words(in->rest, esc, true, whole, nk_bf_vars_lookup, vars, &w, &err);
                if (r == 0 && !w)
                        __builtin_trap();
                nk_strv_free(w);
                check(r, err);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct nk_containerfile cf;
        nk_error *err = NULL;
        int r = nk_containerfile_parse((const char *)data, size, "F", &cf, &err);
        check(r, err);
        if (r < 0)
                return 0;
        json_t *doc = json_pack("{s:{s:[ss]}}", "config", "Env", "A=$A${A}", "B=${A:-$B}");
        json_t *args = json_pack("{s:s,s:n}", "X", "${X}", "Y");
        bool cmd_set = false;
        for (size_t i = 0; i < cf.n; i++) {
                json_t *env =
                        json_deep_copy(json_object_get(json_object_get(doc, "config"), "Env"));
                struct nk_bf_vars vars = {env, args};
                words(&cf.v[i], cf.escape, &vars);
                if (nk_bf_is_config(cf.v[i].kind)) {
                        err = NULL;
                        r = nk_bf_apply_config(doc, &cf.v[i], cf.escape, &vars, &cmd_set, &err);
                        check(r, err);
                }
                json_decref(env);
        }
        json_decref(doc);
        json_decref(args);
        nk_containerfile_clear(&cf);
        return 0;
}
