/* The instructions that only change an image's config (build and commit
 * --change), with Docker's rules for each. */
#include "engine/build/build.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *nk_bf_vars_lookup_env(json_t *env, const char *name, size_t n)
{
        size_t i;
        json_t *e;
        json_array_foreach (env, i, e) {
                const char *s = json_string_value(e);
                if (s && strncmp(s, name, n) == 0 && s[n] == '=')
                        return s + n + 1;
        }
        return NULL;
}

const char *nk_bf_vars_lookup(const char *name, void *data)
{
        struct nk_bf_vars *v = data;
        const char *val = nk_bf_vars_lookup_env(v->env, name, strlen(name));
        return val ? val : json_string_value(json_object_get(v->args, name));
}

bool nk_bf_is_config(enum nk_bf_kind k)
{
        return k != NK_BF_FROM && k != NK_BF_RUN && k != NK_BF_COPY && k != NK_BF_ADD &&
               k != NK_BF_ARG;
}

void nk_bf_time_text(int64_t t, char *buf, size_t size)
{
        time_t tt = (time_t)t;
        struct tm tm;
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

void nk_bf_history_add(json_t *doc, const char *created, const char *created_by,
                       const char *comment, bool empty_layer)
{
        json_t *h = json_object_get(doc, "history");
        if (!json_is_array(h))
                json_object_set_new(doc, "history", h = json_array());
        json_t *e = json_pack("{s:s,s:s}", "created", created, "created_by", created_by);
        if (comment)
                json_object_set_new(e, "comment", json_string(comment));
        if (empty_layer)
                json_object_set_new(e, "empty_layer", json_true());
        json_array_append_new(h, e);
}

static json_t *cfg_of(json_t *doc)
{
        json_t *c = json_object_get(doc, "config");
        if (!json_is_object(c))
                json_object_set_new(doc, "config", c = json_object());
        return c;
}

/* "line N: KIND: what" */
static int __attribute__((format(printf, 3, 4)))
fail(nk_error **err, const struct nk_bf_instr *in, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *what = NULL;
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return nk_error_set(err, ENOMEM, "config");
        return nk_error_set(err, 0, "line %u: %s: %s", in->line, nk_bf_kind_name(in->kind), what);
}
#define FAIL(in, ...) fail(err, in, __VA_ARGS__)

static json_t *strv_array(char *const *v)
{
        json_t *a = json_array();
        for (; v && *v; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

/* Shell form: the config's Shell (default /bin/sh -c) and the text. */
static json_t *shell_form(json_t *cfg, const char *text)
{
        json_t *sh = json_object_get(cfg, "Shell");
        json_t *a = json_is_array(sh) && json_array_size(sh) ? json_deep_copy(sh)
                                                             : json_pack("[ss]", "/bin/sh", "-c");
        json_array_append_new(a, json_string(text));
        return a;
}

static json_t *command_of(json_t *cfg, const struct nk_bf_instr *in)
{
        return in->exec_form ? strv_array(in->argv) : shell_form(cfg, in->rest);
}

/* K=V pairs (ENV, LABEL), or the legacy `K V...` form; keys and vals
 * parallel (NULL-terminated). */
static int key_values(const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars, char ***keys,
                      char ***vals, nk_error **err)
{
        _cleanup_strv_ char **w = NULL;
        if (nk_bf_words(in->rest, esc, true, false, nk_bf_vars_lookup, vars, &w, err) < 0)
                return nk_error_wrap(err, "line %u: %s", in->line, nk_bf_kind_name(in->kind));
        if (w[0] && !strchr(w[0], '=')) { /* ENV K some value */
                size_t kn = strcspn(in->rest, " \t");
                const char *v = in->rest + kn + strspn(in->rest + kn, " \t");
                if (!*v)
                        return FAIL(in, "`%s` needs a value (K=V or K V)", w[0]);
                _cleanup_free_ char *val = nk_bf_expand(v, esc, nk_bf_vars_lookup, vars, err);
                if (!val || nk_strv_push(keys, w[0]) < 0 || nk_strv_push(vals, val) < 0)
                        return -1;
                return 0;
        }
        for (char **p = w; *p; p++) {
                char *eq = strchr(*p, '=');
                if (!eq || eq == *p)
                        return FAIL(in, "`%s` is not KEY=VALUE", *p);
                *eq = '\0';
                if (nk_strv_push(keys, *p) < 0 || nk_strv_push(vals, eq + 1) < 0)
                        return nk_error_set(err, ENOMEM, "config");
        }
        return 0;
}

static void env_set(json_t *cfg, const char *k, const char *v)
{
        json_t *env = json_object_get(cfg, "Env");
        if (!json_is_array(env))
                json_object_set_new(cfg, "Env", env = json_array());
        _cleanup_free_ char *kv = NULL;
        if (asprintf(&kv, "%s=%s", k, v) < 0)
                return;
        size_t n = strlen(k), i;
        json_t *e;
        json_array_foreach (env, i, e) {
                const char *s = json_string_value(e);
                if (s && strncmp(s, k, n) == 0 && s[n] == '=') {
                        json_array_set_new(env, i, json_string(kv));
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
}

static int do_env_label(json_t *cfg, const struct nk_bf_instr *in, char esc,
                        struct nk_bf_vars *vars, nk_error **err)
{
        _cleanup_strv_ char **keys = NULL, **vals = NULL;
        if (key_values(in, esc, vars, &keys, &vals, err) < 0)
                return -1;
        json_t *labels = json_object_get(cfg, "Labels");
        if (in->kind == NK_BF_LABEL && !json_is_object(labels))
                json_object_set_new(cfg, "Labels", labels = json_object());
        for (size_t i = 0; keys && keys[i]; i++) {
                if (in->kind == NK_BF_ENV)
                        env_set(cfg, keys[i], vals[i]);
                else
                        json_object_set_new(labels, keys[i], json_string(vals[i]));
        }
        return 0;
}

static int do_expose(json_t *cfg, const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars,
                     nk_error **err)
{
        _cleanup_strv_ char **w = NULL;
        if (nk_bf_words(in->rest, esc, true, false, nk_bf_vars_lookup, vars, &w, err) < 0)
                return -1;
        json_t *ports = json_object_get(cfg, "ExposedPorts");
        if (!json_is_object(ports))
                json_object_set_new(cfg, "ExposedPorts", ports = json_object());
        for (char **p = w; *p; p++) {
                char *proto = strchr(*p, '/');
                if (proto)
                        *proto++ = '\0';
                size_t n = strspn(*p, "0123456789-");
                if (!**p || (*p)[n] ||
                    (proto && !streq(proto, "tcp") && !streq(proto, "udp") &&
                     !streq(proto, "sctp")))
                        return FAIL(in, "bad port `%s%s%s`", *p, proto ? "/" : "",
                                    proto ? proto : "");
                _cleanup_free_ char *k = NULL;
                if (asprintf(&k, "%s/%s", *p, proto ? proto : "tcp") < 0)
                        return nk_error_set(err, ENOMEM, "config");
                json_object_set_new(ports, k, json_object());
        }
        return 0;
}

static int do_volume(json_t *cfg, const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars,
                     nk_error **err)
{
        _cleanup_strv_ char **w = NULL;
        if (in->exec_form)
                w = nk_strv_dup(in->argv);
        else if (nk_bf_words(in->rest, esc, true, false, nk_bf_vars_lookup, vars, &w, err) < 0)
                return -1;
        json_t *vols = json_object_get(cfg, "Volumes");
        if (!json_is_object(vols))
                json_object_set_new(cfg, "Volumes", vols = json_object());
        for (char **p = w; p && *p; p++) {
                if (!**p)
                        return FAIL(in, "an empty path");
                json_object_set_new(vols, *p, json_object());
        }
        return 0;
}

/* Go's time.ParseDuration subset: "30s", "1m30s", "500ms", "1h". */
static int parse_duration(const char *s, int64_t *ns)
{
        static const struct {
                const char *u;
                int64_t mul;
        } units[] = {{"ns", 1},           {"us", 1000},         {"ms", 1000000},
                     {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
        int64_t total = 0;
        if (!*s)
                return -1;
        while (*s) {
                char *end;
                double v = strtod(s, &end);
                if (end == s || v < 0)
                        return -1;
                size_t i = 0;
                for (; i < ARRAY_SIZE(units); i++)
                        if (strncmp(end, units[i].u, strlen(units[i].u)) == 0 &&
                            !isalpha((unsigned char)end[strlen(units[i].u)]))
                                break;
                if (i == ARRAY_SIZE(units))
                        return -1;
                total += (int64_t)(v * (double)units[i].mul);
                s = end + strlen(units[i].u);
        }
        *ns = total;
        return 0;
}

static int do_healthcheck(json_t *cfg, const struct nk_bf_instr *in, nk_error **err)
{
        if (strcasecmp(in->rest, "NONE") == 0) {
                json_object_set_new(cfg, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
                return 0;
        }
        if (strncasecmp(in->rest, "CMD", 3) != 0 || !isspace((unsigned char)in->rest[3]))
                return FAIL(in, "expects NONE or CMD ...");
        const char *cmd = in->rest + 3 + strspn(in->rest + 3, " \t");
        json_t *hc = json_object();
        json_object_set_new(cfg, "Healthcheck", hc);
        json_t *test;
        if (cmd[0] == '[' && (test = json_loads(cmd, 0, NULL)) && json_is_array(test)) {
                json_array_insert_new(test, 0, json_string("CMD"));
        } else {
                test = json_pack("[ss]", "CMD-SHELL", cmd);
        }
        json_object_set_new(hc, "Test", test);
        static const char *const dur[] = {"interval", "timeout", "start-period", "start-interval"};
        static const char *const key[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
        for (size_t i = 0; i < ARRAY_SIZE(dur); i++) {
                const char *v = nk_bf_flag(in->flags, dur[i]);
                int64_t ns;
                if (!v)
                        continue;
                if (parse_duration(v, &ns) < 0)
                        return FAIL(in, "--%s: bad duration `%s`", dur[i], v);
                json_object_set_new(hc, key[i], json_integer(ns));
        }
        const char *retries = nk_bf_flag(in->flags, "retries");
        if (retries) {
                char *end;
                long n = strtol(retries, &end, 10);
                if (!*retries || *end || n < 0 || n > 1000000)
                        return FAIL(in, "--retries: bad number `%s`", retries);
                json_object_set_new(hc, "Retries", json_integer(n));
        }
        return 0;
}

static int do_single(json_t *cfg, const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars,
                     const char *key, nk_error **err)
{
        _cleanup_free_ char *v = nk_bf_expand(in->rest, esc, nk_bf_vars_lookup, vars, err);
        if (!v)
                return -1;
        if (in->kind == NK_BF_WORKDIR && v[0] != '/') {
                /* relative to the previous WORKDIR */
                const char *prev = json_string_value(json_object_get(cfg, "WorkingDir"));
                char *abs = NULL;
                if (asprintf(&abs, "%s/%s", prev && *prev ? prev : "", v) < 0)
                        return nk_error_set(err, ENOMEM, "config");
                free(v);
                v = abs;
        }
        if (in->kind == NK_BF_STOPSIGNAL && !*v)
                return FAIL(in, "an empty signal");
        json_object_set_new(cfg, key, json_string(v));
        return 0;
}

int nk_bf_apply_config(json_t *doc, const struct nk_bf_instr *in, char esc, struct nk_bf_vars *vars,
                       bool *cmd_set, nk_error **err)
{
        json_t *cfg = cfg_of(doc);
        switch (in->kind) {
        case NK_BF_ENV:
        case NK_BF_LABEL:
                return do_env_label(cfg, in, esc, vars, err);
        case NK_BF_WORKDIR:
                return do_single(cfg, in, esc, vars, "WorkingDir", err);
        case NK_BF_USER:
                return do_single(cfg, in, esc, vars, "User", err);
        case NK_BF_STOPSIGNAL:
                return do_single(cfg, in, esc, vars, "StopSignal", err);
        case NK_BF_CMD:
                json_object_set_new(cfg, "Cmd", command_of(cfg, in));
                if (cmd_set)
                        *cmd_set = true;
                return 0;
        case NK_BF_ENTRYPOINT:
                json_object_set_new(cfg, "Entrypoint", command_of(cfg, in));
                if (cmd_set && !*cmd_set) /* Docker: a CMD inherited is dropped */
                        json_object_set_new(cfg, "Cmd", json_null());
                return 0;
        case NK_BF_SHELL:
                json_object_set_new(cfg, "Shell", strv_array(in->argv));
                return 0;
        case NK_BF_EXPOSE:
                return do_expose(cfg, in, esc, vars, err);
        case NK_BF_VOLUME:
                return do_volume(cfg, in, esc, vars, err);
        case NK_BF_HEALTHCHECK:
                return do_healthcheck(cfg, in, err);
        case NK_BF_ONBUILD: {
                json_t *ob = json_object_get(cfg, "OnBuild");
                if (!json_is_array(ob))
                        json_object_set_new(cfg, "OnBuild", ob = json_array());
                size_t n = strcspn(in->rest, " \t");
                if ((n == 6 && strncasecmp(in->rest, "ONBUILD", 7) == 0) ||
                    (n == 4 && strncasecmp(in->rest, "FROM", 4) == 0))
                        return FAIL(in, "ONBUILD %.*s is not allowed", (int)n, in->rest);
                json_array_append_new(ob, json_string(in->rest));
                return 0;
        }
        case NK_BF_MAINTAINER:
                json_object_set_new(doc, "author", json_string(in->rest));
                return 0;
        default:
                return FAIL(in, "not a config instruction");
        }
}

char *nk_bf_unnamed_key(const char *config_digest)
{
        char *k = NULL;
        if (asprintf(&k, "localhost/%.12s:latest", nk_digest_hex(config_digest)) < 0)
                return NULL;
        return k;
}

void nk_bf_history_fit(json_t *doc, size_t n_layers)
{
        json_t *h = json_object_get(doc, "history");
        size_t i, non_empty = 0;
        json_t *e;
        json_array_foreach (h, i, e)
                non_empty += !json_is_true(json_object_get(e, "empty_layer"));
        if (json_is_array(h) && non_empty == n_layers)
                return;
        const char *created = json_string_value(json_object_get(doc, "created"));
        json_t *fresh = json_array();
        for (i = 0; i < n_layers; i++)
                json_array_append_new(fresh, json_pack("{s:s,s:s}", "created",
                                                       created ? created : "1970-01-01T00:00:00Z",
                                                       "created_by", "(layer of the base image)"));
        json_object_set_new(doc, "history", fresh);
}
