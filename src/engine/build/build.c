/* `nook build`: a Containerfile's stages executed in order. Each stage
 * keeps an image config document, its layers and a cache chain (a hash
 * over the base and every instruction so far, with what each one read);
 * a step whose key is in the build cache reuses what it made before, so
 * an unchanged rebuild runs nothing and makes the same image. */
#include "engine/build/build.h"
#include "engine/build/cache.h"
#include "engine/layer_blob.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

struct stage {
        char *name; /* AS name, or NULL */
        json_t *config;
        struct nk_new_layer *layers;
        size_t n;
        char chain[NK_DIGEST_LEN + 1];
        json_t *args; /* ARGs in scope: name -> string or null */
        bool cmd_set;
};

struct build {
        struct nk_store *s;
        const struct nk_build_opts *o;
        struct nk_containerfile cf;
        json_t *global_args; /* ARGs before the first FROM */
        json_t *build_args;  /* --build-arg */
        struct stage *stages;
        size_t n_stages;
        json_t *cache, *fresh; /* read at start; new entries to write */
        int ctx_fd;
        char **ignore;
        size_t step, n_steps;
        int64_t now;
};

static void say(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct build *b, const char *fmt, ...)
{
        if (!b->o->say)
                return;
        va_list ap;
        va_start(ap, fmt);
        char *line = NULL;
        if (vasprintf(&line, fmt, ap) >= 0) {
                b->o->say(line, b->o->say_data);
                free(line);
        }
        va_end(ap);
}

static void stage_clear(struct stage *st)
{
        free(st->name);
        json_decref(st->config);
        json_decref(st->args);
        free(st->layers);
        memset(st, 0, sizeof(*st));
}

/* chain = sha256(chain "\n" part "\n" part ...) */
static int chain_step(char chain[NK_DIGEST_LEN + 1], const char *const *parts, nk_error **err)
{
        struct nk_sha256 h;
        if (nk_sha256_init(&h, err) < 0)
                return -1;
        nk_sha256_update(&h, chain, strlen(chain));
        for (; *parts; parts++) {
                nk_sha256_update(&h, "\n", 1);
                nk_sha256_update(&h, *parts, strlen(*parts));
        }
        nk_sha256_final(&h, chain);
        return 0;
}

static json_t *layer_json(const struct nk_new_layer *l)
{
        return json_pack("{s:s,s:s,s:I,s:s}", "digest", l->digest, "diff_id", l->diff_id, "size",
                         (json_int_t)l->size, "mediaType", l->media_type);
}

static int push_layer(struct stage *st, const struct nk_new_layer *l, nk_error **err)
{
        struct nk_new_layer *v = realloc(st->layers, (st->n + 1) * sizeof(*v));
        if (!v)
                return nk_error_set(err, ENOMEM, "layers");
        st->layers = v;
        v[st->n++] = *l;
        return 0;
}

/* A cache entry still usable: its layer (if any) is in the store. */
static json_t *cache_lookup(struct build *b, const char *key)
{
        if (b->o->no_cache)
                return NULL;
        json_t *e = json_object_get(b->fresh, key);
        if (!e)
                e = json_object_get(b->cache, key);
        json_t *l = json_object_get(e, "layer");
        if (!e || !json_is_string(json_object_get(e, "created")))
                return NULL;
        /* The compressed blob may be gone once a tar-split can make it
         * again (layer_blob.h): the unpacked layer is what a step needs. */
        const char *diff_id = json_string_value(json_object_get(l, "diff_id"));
        if (l && (!nk_store_layer_exists(b->s, diff_id) ||
                  (!nk_store_blob_exists(b->s, json_string_value(json_object_get(l, "digest"))) &&
                   !nk_layer_rebuildable(b->s, diff_id))))
                return NULL;
        return e;
}

/* The OCI name of a layer's type (a Docker image's layers go into an OCI
 * manifest). */
static const char *media_type_static(const char *mt)
{
        if (mt && strstr(mt, "zstd"))
                return NK_MT_OCI_LAYER_ZSTD;
        if (mt && !strstr(mt, "gzip") && (streq(mt, NK_MT_OCI_LAYER) || strstr(mt, "diff.tar")))
                return NK_MT_OCI_LAYER;
        return NK_MT_OCI_LAYER_GZIP;
}

static int layer_from_json(json_t *l, struct nk_new_layer *out)
{
        const char *d = json_string_value(json_object_get(l, "digest"));
        const char *id = json_string_value(json_object_get(l, "diff_id"));
        if (!d || !id || strlen(d) > NK_DIGEST_LEN || strlen(id) > NK_DIGEST_LEN)
                return -1;
        snprintf(out->digest, sizeof out->digest, "%s", d);
        snprintf(out->diff_id, sizeof out->diff_id, "%s", id);
        out->size = json_integer_value(json_object_get(l, "size"));
        out->media_type = media_type_static(json_string_value(json_object_get(l, "mediaType")));
        return 0;
}

static void created_text(struct build *b, char *buf, size_t n)
{
        nk_bf_time_text(b->o->timestamp >= 0 ? b->o->timestamp : b->now, buf, n);
}

/* ---- steps that make layers ------------------------------------------------ */

static int stage_diff_ids(struct stage *st, char ***out, nk_error **err)
{
        char **v = calloc(st->n + 1, sizeof(char *));
        for (size_t i = 0; v && i < st->n; i++)
                v[i] = strdup(st->layers[i].diff_id);
        if (!v)
                return nk_error_set(err, ENOMEM, "layers");
        *out = v;
        return 0;
}

/* After a layer step: the layer (if any) on the stage, history, cache. */
static int finish_layer_step(struct build *b, struct stage *st, const struct nk_bf_instr *in,
                             const char *key, json_t *hit, const struct nk_new_layer *made,
                             bool got, nk_error **err)
{
        struct nk_new_layer l;
        char created[40];
        if (hit) {
                snprintf(created, sizeof created, "%s",
                         json_string_value(json_object_get(hit, "created")));
                json_t *lj = json_object_get(hit, "layer");
                got = lj != NULL;
                if (got && layer_from_json(lj, &l) < 0)
                        return nk_error_set(err, 0, "build cache entry %s is damaged", key);
                say(b, "--> Using cache %.19s", got ? l.diff_id + 7 : key + 7);
        } else {
                created_text(b, created, sizeof created);
                if (got)
                        l = *made;
                json_t *e = json_pack("{s:s}", "created", created);
                if (got)
                        json_object_set_new(e, "layer", layer_json(&l));
                json_object_set_new(b->fresh, key, e);
                if (nk_build_cache_add(b->s, b->fresh, err) < 0)
                        return -1;
                say(b, "--> %.12s", got ? l.diff_id + 7 : "(no changes)");
        }
        if (got && push_layer(st, &l, err) < 0)
                return -1;
        nk_bf_history_add(st->config, created, in->text, NULL, !got);
        snprintf(st->chain, sizeof st->chain, "%s", key);
        return 0;
}

static char **extra_env(struct stage *st)
{
        char **v = NULL;
        const char *k;
        json_t *val;
        json_object_foreach (st->args, k, val) {
                _cleanup_free_ char *kv = NULL;
                if (json_is_string(val) && asprintf(&kv, "%s=%s", k, json_string_value(val)) >= 0)
                        nk_strv_push(&v, kv);
        }
        return v;
}

/* RUN needs a root filesystem this machine can execute: no emulation. */
static int check_runnable(json_t *doc, nk_error **err)
{
        struct nk_platform host;
        nk_platform_host(&host);
        const char *os = json_string_value(json_object_get(doc, "os"));
        const char *arch = json_string_value(json_object_get(doc, "architecture"));
        if ((os && !streq(os, host.os)) || (arch && !streq(arch, host.arch)))
                return nk_error_set(err, 0,
                                    "the stage is for %s/%s and this machine runs %s/%s "
                                    "(no emulation)",
                                    os ? os : host.os, arch ? arch : host.arch, host.os, host.arch);
        return 0;
}

/* The file --secret gave for id, or NULL. */
static const char *secret_file(struct build *b, const char *id)
{
        size_t n = strlen(id);
        for (char **s = b->o->secrets; s && *s; s++)
                if (strncmp(*s, id, n) == 0 && (*s)[n] == '=')
                        return *s + n + 1;
        return NULL;
}

static void secrets_free(struct nk_bf_secret *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].src);
                free(v[i].target);
        }
        free(v);
}

/* type=bind: source (default the context's top) resolved beneath the
 * context, bound read-only; *key_part the content hash of what it holds
 * (as COPY's), for the cache key. */
static int bind_source(struct build *b, const char *spec, const char *source, char **abs,
                       char key_part[NK_DIGEST_LEN + 1], nk_error **err)
{
        if (b->ctx_fd < 0)
                return nk_error_set(err, 0, "--mount=%s: a bind needs a build context", spec);
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int fd = nk_openat2(b->ctx_fd, source, &how, sizeof how);
        if (fd < 0)
                return nk_error_set(err, errno, "--mount=%s: source `%s`", spec, source);
        char p[64], t[PATH_MAX];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, t, sizeof t - 1);
        if (n < 0)
                return nk_error_set(err, errno, "--mount=%s: source `%s`", spec, source);
        t[n] = '\0';
        char *srcs[] = {(char *)source, NULL};
        struct nk_bf_copy c = {.s = b->s,
                               .o = b->o,
                               .src_root = b->ctx_fd,
                               .from_context = true,
                               .ignore = b->ignore,
                               .sources = srcs,
                               .dest = "/",
                               .chmod = -1,
                               .instr = spec};
        if (nk_bf_copy_hash(&c, key_part, err) < 0)
                return -1;
        return (*abs = strdup(t)) ? 0 : nk_error_set(err, ENOMEM, "--mount");
}

/* One --mount=type=secret,id=ID[,target=PATH][,required=BOOL] or
 * type=bind,target=PATH[,source=PATH][,ro]: appended to *v (a missing
 * optional secret adds nothing); *key_part what the cache key takes from
 * it. Other types refused. */
static int parse_mount(struct build *b, const char *spec, struct nk_bf_secret **v, size_t *n,
                       char key_part[NK_DIGEST_LEN + 1], nk_error **err)
{
        _cleanup_free_ char *copy = strdup(spec);
        const char *type = NULL, *id = NULL, *target = NULL, *source = NULL;
        bool required = false;
        key_part[0] = '\0';
        if (!copy)
                return nk_error_set(err, ENOMEM, "--mount");
        char *save = NULL;
        for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(kv, '=');
                const char *val = eq ? eq + 1 : "true";
                if (eq)
                        *eq = '\0';
                if (streq(kv, "type"))
                        type = val;
                else if (streq(kv, "id"))
                        id = val;
                else if (streq(kv, "target") || streq(kv, "dst") || streq(kv, "destination"))
                        target = val;
                else if (streq(kv, "required"))
                        required = streq(val, "true") || streq(val, "1");
                else if (streq(kv, "source") || streq(kv, "src"))
                        source = val;
                else if (!((streq(kv, "ro") || streq(kv, "readonly")) && streq(val, "true")))
                        return nk_error_set(err, 0, "--mount=%s: `%s` is not supported", spec, kv);
        }
        bool bind = type && streq(type, "bind");
        if (!type || (!streq(type, "secret") && !bind))
                return nk_error_set(err, 0,
                                    "--mount=%s: type=%s is not supported (only secret and bind)",
                                    spec, type ? type : "(none)");
        if (bind && (!target || *target != '/'))
                return nk_error_set(err, 0, "--mount=%s: a bind needs an absolute target=", spec);
        if (bind) {
                char *abs = NULL;
                if (bind_source(b, spec, source ? source : ".", &abs, key_part, err) < 0)
                        return -1;
                struct nk_bf_secret *nv = realloc(*v, (*n + 1) * sizeof(*nv));
                char *tgt = strdup(target);
                if (!nv || !tgt) {
                        free(abs);
                        free(tgt);
                        if (nv)
                                *v = nv;
                        return nk_error_set(err, ENOMEM, "--mount");
                }
                *v = nv;
                nv[(*n)++] = (struct nk_bf_secret){.src = abs, .target = tgt, .exec = true};
                return 0;
        }
        if (!id || !*id || strchr(id, '/') || streq(id, ".") || streq(id, ".."))
                return nk_error_set(err, 0, "--mount=%s: a secret needs id=NAME", spec);
        if (target && *target != '/')
                return nk_error_set(err, 0, "--mount=%s: target must be absolute", spec);
        const char *src = secret_file(b, id);
        if (!src)
                return required ? nk_error_set(err, 0, "--mount=%s: no --secret id=%s given", spec,
                                               id)
                                : 0;
        struct nk_bf_secret *nv = realloc(*v, (*n + 1) * sizeof(*nv));
        if (!nv)
                return nk_error_set(err, ENOMEM, "--mount");
        *v = nv;
        nv[*n].src = strdup(src);
        nv[*n].target = NULL;
        if (target)
                nv[*n].target = strdup(target);
        else if (asprintf(&nv[*n].target, "/run/secrets/%s", id) < 0)
                nv[*n].target = NULL;
        (*n)++;
        return nv[*n - 1].src && nv[*n - 1].target ? 0 : nk_error_set(err, ENOMEM, "--mount");
}

static int do_run(struct build *b, struct stage *st, const struct nk_bf_instr *in, nk_error **err)
{
        json_t *cfg = json_object_get(st->config, "config");
        if (check_runnable(st->config, err) < 0)
                return -1;
        _cleanup_jansson_ json_t *argv = NULL;
        if (in->exec_form) {
                argv = json_array();
                for (char **a = in->argv; *a; a++)
                        json_array_append_new(argv, json_string(*a));
        } else {
                json_t *sh = json_object_get(cfg, "Shell");
                argv = json_is_array(sh) && json_array_size(sh)
                               ? json_deep_copy(sh)
                               : json_pack("[ss]", "/bin/sh", "-c");
                json_array_append_new(argv, json_string(in->rest));
        }
        _cleanup_strv_ char **env = extra_env(st), **args = NULL;
        size_t i;
        json_t *a;
        json_array_foreach (argv, i, a)
                nk_strv_push(&args, json_string_value(a));
        _cleanup_free_ char *argv_text = json_dumps(argv, JSON_COMPACT);
        _cleanup_jansson_ json_t *envj = json_array();
        for (char **e = env; e && *e; e++)
                json_array_append_new(envj, json_string(*e));
        _cleanup_free_ char *env_text = json_dumps(envj, JSON_COMPACT);
        char key[NK_DIGEST_LEN + 1];
        snprintf(key, sizeof key, "%s", st->chain);
        /* the cache key names the secrets mounted, never their content */
        struct nk_bf_secret *secrets = NULL;
        size_t n_secrets = 0;
        _cleanup_free_ char *mounts_text = NULL;
        for (char **f = in->flags; f && *f; f++) {
                if (strncmp(*f, "mount=", 6) != 0)
                        continue;
                char part[NK_DIGEST_LEN + 1];
                if (parse_mount(b, *f + 6, &secrets, &n_secrets, part, err) < 0) {
                        secrets_free(secrets, n_secrets);
                        return -1;
                }
                char *t = NULL;
                if (asprintf(&t, "%s%s %s;", mounts_text ? mounts_text : "", *f + 6, part) < 0) {
                        secrets_free(secrets, n_secrets);
                        return nk_error_set(err, ENOMEM, "RUN");
                }
                free(mounts_text);
                mounts_text = t;
        }
        const char *parts[] = {"RUN",          argv_text ?: "",
                               env_text ?: "", b->o->network_host ? "host" : "none",
                               mounts_text,    NULL};
        int rc = chain_step(key, parts, err);
        json_t *hit = rc == 0 ? cache_lookup(b, key) : NULL;
        struct nk_new_layer made;
        bool got = false;
        if (rc == 0 && !hit) {
                _cleanup_strv_ char **ids = NULL;
                struct nk_bf_run r = {.s = b->s,
                                      .o = b->o,
                                      .config = st->config,
                                      .argv = args,
                                      .extra_env = env,
                                      .n_layers = st->n,
                                      .secrets = secrets,
                                      .n_secrets = n_secrets};
                rc = stage_diff_ids(st, &ids, err);
                r.diff_ids = ids;
                if (rc == 0)
                        rc = nk_bf_run_step(&r, &made, &got, err);
        }
        secrets_free(secrets, n_secrets);
        if (rc < 0)
                return -1;
        return finish_layer_step(b, st, in, key, hit, &made, got, err);
}

/* ---- COPY / ADD ------------------------------------------------------------- */

static struct stage *find_stage(struct build *b, const char *name)
{
        char *end;
        long idx = strtol(name, &end, 10);
        if (*name && !*end && idx >= 0 && (size_t)idx < b->n_stages)
                return &b->stages[idx];
        for (size_t i = 0; i < b->n_stages; i++)
                if (b->stages[i].name && strcasecmp(b->stages[i].name, name) == 0)
                        return &b->stages[i];
        return NULL;
}

static int parse_chmod(const char *s, int *out)
{
        char *end;
        long m = strtol(s, &end, 8);
        if (!*s || *end || m < 0 || m > 07777)
                return -1;
        *out = (int)m;
        return 0;
}

struct copy_src {
        struct nk_bf_mount m; /* another stage's or an image's rootfs */
        char chain[NK_DIGEST_LEN + 1];
};

/* --from: a stage (its chain identifies its content) or an image. */
static int mount_from(struct build *b, const char *from, struct copy_src *cs, nk_error **err)
{
        struct stage *src = find_stage(b, from);
        if (src) {
                _cleanup_strv_ char **ids = NULL;
                snprintf(cs->chain, sizeof cs->chain, "%s", src->chain);
                return stage_diff_ids(src, &ids, err) < 0
                               ? -1
                               : nk_bf_mount(b->s, ids, src->n, &cs->m, err);
        }
        _cleanup_free_ char *key = NULL;
        struct nk_image img = {0};
        if (nk_engine_image_get(b->s, from, false, false, &key, err) < 0 ||
            nk_image_find(b->s, key, &img, err) < 0)
                return nk_error_wrap(err, "--from=%s", from);
        snprintf(cs->chain, sizeof cs->chain, "%s", img.manifest_digest);
        int r = nk_bf_mount(b->s, img.config.diff_ids, img.config.n_diff_ids, &cs->m, err);
        nk_image_clear(&img);
        return r;
}

static int copy_args(struct build *b, struct stage *st, const struct nk_bf_instr *in,
                     struct nk_bf_copy *c, char ***words, nk_error **err)
{
        struct nk_bf_vars vars = {json_object_get(json_object_get(st->config, "config"), "Env"),
                                  st->args};
        if (in->exec_form)
                *words = nk_strv_dup(in->argv);
        else if (nk_bf_words(in->rest, b->cf.escape, true, false, nk_bf_vars_lookup, &vars, words,
                             err) < 0)
                return -1;
        size_t n = nk_strv_len(*words);
        if (n < 2)
                return nk_error_set(err, 0, "%s:%u: %s needs a source and a destination",
                                    b->cf.file, in->line, nk_bf_kind_name(in->kind));
        c->dest = (*words)[n - 1]; /* the caller's to free */
        (*words)[n - 1] = NULL;
        c->sources = *words;
        size_t urls = 0;
        for (char **s = *words; *s; s++) {
                if (!strstr(*s, "://"))
                        continue;
                urls++;
                if (in->kind == NK_BF_COPY)
                        return nk_error_set(err, 0,
                                            "%s:%u: COPY cannot fetch a URL (`%s`): use ADD",
                                            b->cf.file, in->line, *s);
                if (strncmp(*s, "http://", 7) != 0 && strncmp(*s, "https://", 8) != 0)
                        return nk_error_set(err, 0, "%s:%u: ADD %s: only http and https URLs",
                                            b->cf.file, in->line, *s);
                if (!b->o->network_host)
                        return nk_error_set(err, 0,
                                            "%s:%u: ADD of a URL (`%s`) needs --network host "
                                            "(the build's network is none)",
                                            b->cf.file, in->line, *s);
        }
        if (urls && urls != n - 1)
                return nk_error_set(err, 0, "%s:%u: ADD mixes URLs and local sources", b->cf.file,
                                    in->line);
        const char *sum = nk_bf_flag(in->flags, "checksum");
        if (sum && (!urls || strncmp(sum, "sha256:", 7) != 0 || strlen(sum) != 71 ||
                    strspn(sum + 7, "0123456789abcdef") != 64))
                return nk_error_set(err, 0,
                                    "%s:%u: --checksum=%s: expected sha256:<64 hex> on an ADD of "
                                    "a URL",
                                    b->cf.file, in->line, sum);
        const char *chmod = nk_bf_flag(in->flags, "chmod");
        c->chmod = -1;
        if (chmod && parse_chmod(chmod, &c->chmod) < 0)
                return nk_error_set(err, 0, "%s:%u: --chmod=%s: not an octal mode", b->cf.file,
                                    in->line, chmod);
        c->chown = nk_bf_flag(in->flags, "chown");
        return 0;
}

/* ADD URL...: the files fetched into a staging dir of their own, which
 * then serves as the source (their names the URLs' last components);
 * *content the digests of what came, for the cache key. */
struct fetched {
        int lock_fd, dir_fd;
        char *dir;
        char **names;
};

static void fetched_clear(struct fetched *f)
{
        if (f->dir_fd >= 0)
                close(f->dir_fd);
        if (f->dir) {
                nk_error *e = NULL;
                if (nk_rm_rf(f->dir, &e) < 0)
                        nk_error_free(e);
        }
        if (f->lock_fd >= 0)
                close(f->lock_fd);
        free(f->dir);
        nk_strv_free(f->names);
}

static int fetch_urls(struct build *b, const struct nk_bf_instr *in, char **urls, struct fetched *f,
                      char content[NK_DIGEST_LEN + 1], nk_error **err)
{
        char *name = NULL;
        f->lock_fd = nk_store_mkstaging(b->s, "addurl-", &name, err);
        if (f->lock_fd < 0)
                return -1;
        int r = asprintf(&f->dir, "%s/tmp/%s", b->s->root, name);
        free(name);
        if (r < 0) {
                f->dir = NULL;
                return nk_error_set(err, ENOMEM, "ADD");
        }
        f->dir_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dir_fd < 0)
                return nk_error_set(err, errno, "open `%s`", f->dir);
        snprintf(content, NK_DIGEST_LEN + 1, "url");
        for (char **u = urls; *u; u++) {
                size_t plen = strcspn(*u, "?#");
                const char *slash = memrchr(*u, '/', plen);
                _cleanup_free_ char *base = strndup(slash + 1, plen - (size_t)(slash + 1 - *u));
                if (!base)
                        return nk_error_set(err, ENOMEM, "ADD");
                if (!*base || streq(base, ".") || streq(base, "..") || strchr(base, '/'))
                        return nk_error_set(err, 0, "ADD %s: the URL names no file", *u);
                say(b, "fetching %s", *u);
                char digest[NK_DIGEST_LEN + 1];
                if (nk_bf_fetch_url(*u, f->dir_fd, base, nk_bf_flag(in->flags, "checksum"), digest,
                                    err) < 0 ||
                    nk_strv_push(&f->names, base) < 0)
                        return -1;
                const char *parts[] = {*u, digest, NULL};
                if (chain_step(content, parts, err) < 0)
                        return -1;
        }
        return 0;
}

static int do_copy(struct build *b, struct stage *st, const struct nk_bf_instr *in, nk_error **err)
{
        struct nk_bf_copy c = {.s = b->s,
                               .o = b->o,
                               .add = in->kind == NK_BF_ADD,
                               .instr = in->text,
                               .n_layers = st->n};
        _cleanup_strv_ char **words = NULL, **ids = NULL;
        if (copy_args(b, st, in, &c, &words, err) < 0) {
                free((char *)c.dest);
                return nk_error_wrap(err, "%s:%u", b->cf.file, in->line);
        }
        const char *from = nk_bf_flag(in->flags, "from");
        struct copy_src cs = {.m = {.lock_fd = -1, .root_fd = -1, .upper_fd = -1}};
        char content[NK_DIGEST_LEN + 1] = "";
        struct fetched f = {.lock_fd = -1, .dir_fd = -1};
        bool url = in->kind == NK_BF_ADD && strstr(c.sources[0], "://");
        int r = 0;
        if (url) {
                r = fetch_urls(b, in, c.sources, &f, content, err);
                if (r < 0)
                        nk_error_wrap(err, "%s:%u", b->cf.file, in->line);
                c.src_root = f.dir_fd;
                c.sources = f.names;
                c.add = false; /* a fetched archive is not extracted (Docker) */
        } else if (from) {
                r = mount_from(b, from, &cs, err);
                c.src_root = cs.m.root_fd;
                snprintf(content, sizeof content, "%s", cs.chain);
        } else if (b->ctx_fd < 0) {
                r = nk_error_set(err, 0, "%s:%u: %s needs a build context (not `-`)", b->cf.file,
                                 in->line, nk_bf_kind_name(in->kind));
        } else {
                c.src_root = b->ctx_fd;
                c.from_context = true;
                c.ignore = b->ignore;
        }
        json_t *cfg = json_object_get(st->config, "config");
        c.workdir = json_string_value(json_object_get(cfg, "WorkingDir"));
        if (r == 0 && !from && !url)
                r = nk_bf_copy_hash(&c, content, err);
        char key[NK_DIGEST_LEN + 1];
        snprintf(key, sizeof key, "%s", st->chain);
        json_t *hit = NULL;
        struct nk_new_layer made;
        bool got = false;
        if (r == 0) {
                const char *parts[] = {nk_bf_kind_name(in->kind), in->text, content,
                                       c.workdir ? c.workdir : "/", NULL};
                r = chain_step(key, parts, err);
                hit = r == 0 ? cache_lookup(b, key) : NULL;
        }
        if (r == 0 && !hit) {
                r = stage_diff_ids(st, &ids, err);
                c.diff_ids = ids;
                if (r == 0)
                        r = nk_bf_copy_step(&c, &made, &got, err);
        }
        free((char *)c.dest);
        if (from)
                nk_bf_unmount(&cs.m);
        fetched_clear(&f);
        if (r < 0)
                return -1;
        return finish_layer_step(b, st, in, key, hit, &made, got, err);
}

/* ---- config steps, ARG, FROM ------------------------------------------------ */

static int do_config(struct build *b, struct stage *st, const struct nk_bf_instr *in,
                     nk_error **err)
{
        json_t *cfg = json_object_get(st->config, "config");
        struct nk_bf_vars vars = {json_object_get(cfg, "Env"), st->args};
        /* vars.env is the Env array the instruction may replace: expand
         * from a copy so ENV a=1 b=$a sees the old a, as Docker does */
        _cleanup_jansson_ json_t *env = json_deep_copy(vars.env);
        vars.env = env;
        if (nk_bf_apply_config(st->config, in, b->cf.escape, &vars, &st->cmd_set, err) < 0)
                return nk_error_wrap(err, "%s", b->cf.file);
        _cleanup_free_ char *after =
                json_dumps(json_object_get(st->config, "config"), JSON_COMPACT | JSON_SORT_KEYS);
        char key[NK_DIGEST_LEN + 1];
        snprintf(key, sizeof key, "%s", st->chain);
        const char *parts[] = {"CONFIG", in->text, after ? after : "", NULL};
        if (chain_step(key, parts, err) < 0)
                return -1;
        json_t *hit = cache_lookup(b, key);
        char created[40];
        if (hit) {
                snprintf(created, sizeof created, "%s",
                         json_string_value(json_object_get(hit, "created")));
        } else {
                created_text(b, created, sizeof created);
                json_object_set_new(b->fresh, key, json_pack("{s:s}", "created", created));
        }
        nk_bf_history_add(st->config, created, in->text, NULL, true);
        snprintf(st->chain, sizeof st->chain, "%s", key);
        return 0;
}

/* ARG NAME[=default]: --build-arg wins, then the default, then a global
 * ARG of that name (redeclared in the stage). */
static int do_arg(struct build *b, json_t *scope, struct stage *st, const struct nk_bf_instr *in,
                  nk_error **err)
{
        struct nk_bf_vars vars = {
                st ? json_object_get(json_object_get(st->config, "config"), "Env") : NULL, scope};
        _cleanup_strv_ char **w = NULL;
        if (nk_bf_words(in->rest, b->cf.escape, true, false, nk_bf_vars_lookup, &vars, &w, err) < 0)
                return nk_error_wrap(err, "%s:%u", b->cf.file, in->line);
        for (char **p = w; *p; p++) {
                char *eq = strchr(*p, '=');
                if (eq)
                        *eq = '\0';
                if (!**p)
                        return nk_error_set(err, 0, "%s:%u: ARG: an empty name", b->cf.file,
                                            in->line);
                json_t *v = json_object_get(b->build_args, *p);
                if (!v && eq)
                        v = json_string(eq + 1);
                else if (!v && st)
                        v = json_incref(json_object_get(b->global_args, *p));
                else
                        v = json_incref(v);
                json_object_set_new(scope, *p, v ? v : json_null());
                if (st) {
                        _cleanup_free_ char *kv = NULL;
                        if (asprintf(&kv, "%s=%s", *p, json_string_value(v) ?: "") < 0)
                                return nk_error_set(err, ENOMEM, "ARG");
                        const char *parts[] = {"ARG", kv, NULL};
                        if (chain_step(st->chain, parts, err) < 0)
                                return -1;
                }
        }
        return 0;
}

/* The platform FROM asks for: --platform, else this machine's. */
static int want_platform(struct build *b, struct nk_platform *p, nk_error **err)
{
        if (!b->o->platform) {
                nk_platform_host(p);
                return 0;
        }
        return nk_platform_parse(b->o->platform, p, err) < 0 ? nk_error_wrap(err, "--platform") : 0;
}

static json_t *scratch_config(const struct nk_platform *p)
{
        json_t *c = json_pack("{s:s,s:s,s:{}}", "architecture", p->arch, "os", p->os, "config");
        if (c && p->variant[0])
                json_object_set_new(c, "variant", json_string(p->variant));
        return c;
}

static bool platform_is(const struct nk_platform *have, const struct nk_platform *want)
{
        return streq(have->os, want->os) && streq(have->arch, want->arch) &&
               (!want->variant[0] || streq(have->variant, want->variant));
}

/* The image FROM names: the store's copy, unless --pull, or --platform
 * asks for another platform than the copy's; then a pull of that
 * platform (of a multi-arch index: its entry). */
static int find_base(struct build *b, const char *ref, struct nk_image *img, nk_error **err)
{
        if (!b->o->pull && !b->o->platform) {
                _cleanup_free_ char *key = NULL;
                return nk_engine_image_get(b->s, ref, false, false, &key, err) < 0
                               ? -1
                               : nk_image_find(b->s, key, img, err);
        }
        struct nk_platform want;
        if (want_platform(b, &want, err) < 0)
                return -1;
        nk_error *miss = NULL;
        if (!b->o->pull && nk_image_find(b->s, ref, img, &miss) == 0) {
                if (platform_is(&img->config.platform, &want))
                        return 0;
        }
        nk_image_clear(img);
        nk_error_free(miss);
        struct nk_pull_opts po = {.platform = b->o->platform};
        _cleanup_free_ char *key = NULL;
        say(b, "pulling %s%s%s", ref, b->o->platform ? " for " : "",
            b->o->platform ? b->o->platform : "");
        if (nk_image_pull(b->s, ref, &po, &key, err) < 0 ||
            nk_image_find(b->s, key ? key : ref, img, err) < 0)
                return -1;
        if (!platform_is(&img->config.platform, &want))
                return nk_error_set(err, 0, "the image is for %s/%s, not %s/%s",
                                    img->config.platform.os, img->config.platform.arch, want.os,
                                    want.arch);
        return 0;
}

static int from_image(struct build *b, struct stage *st, const char *ref, nk_error **err)
{
        struct nk_image img = {0};
        if (find_base(b, ref, &img, err) < 0) {
                nk_image_clear(&img);
                return -1;
        }
        int r = 0;
        for (size_t i = 0; r == 0 && i < img.manifest.n_layers; i++) {
                struct nk_new_layer l = {.size = img.manifest.layers[i].size};
                snprintf(l.digest, sizeof l.digest, "%s", img.manifest.layers[i].digest);
                snprintf(l.diff_id, sizeof l.diff_id, "%s", img.config.diff_ids[i]);
                l.media_type = media_type_static(img.manifest.layers[i].media_type);
                r = push_layer(st, &l, err);
        }
        st->config = json_deep_copy(img.config.root);
        json_object_del(st->config, "rootfs");
        nk_bf_history_fit(st->config, st->n);
        snprintf(st->chain, sizeof st->chain, "%s", img.manifest_digest);
        nk_image_clear(&img);
        return r;
}

static int do_from(struct build *b, struct stage *st, const struct nk_bf_instr *in, nk_error **err)
{
        struct nk_bf_vars vars = {NULL, b->global_args};
        _cleanup_strv_ char **w = NULL;
        if (nk_bf_words(in->rest, b->cf.escape, true, false, nk_bf_vars_lookup, &vars, &w, err) < 0)
                return nk_error_wrap(err, "%s:%u", b->cf.file, in->line);
        size_t n = nk_strv_len(w);
        if (!(n == 1 || (n == 3 && strcasecmp(w[1], "AS") == 0)))
                return nk_error_set(err, 0, "%s:%u: FROM takes IMAGE [AS NAME]", b->cf.file,
                                    in->line);
        if (n == 3 && !(st->name = strdup(w[2])))
                return nk_error_set(err, ENOMEM, "FROM");
        st->args = json_object();
        struct stage *prev = find_stage(b, w[0]);
        int r = 0;
        if (prev && prev != st && prev->config) {
                st->config = json_deep_copy(prev->config);
                st->layers = malloc((prev->n + 1) * sizeof(*st->layers));
                if (!st->layers)
                        return nk_error_set(err, ENOMEM, "FROM");
                memcpy(st->layers, prev->layers, prev->n * sizeof(*st->layers));
                st->n = prev->n;
                snprintf(st->chain, sizeof st->chain, "%s", prev->chain);
        } else if (streq(w[0], "scratch")) {
                struct nk_platform p;
                if (want_platform(b, &p, err) < 0)
                        return -1;
                st->config = scratch_config(&p);
                snprintf(st->chain, sizeof st->chain, "scratch");
        } else {
                r = from_image(b, st, w[0], err);
        }
        if (r < 0)
                return nk_error_wrap(err, "%s:%u: FROM %s", b->cf.file, in->line, w[0]);
        if (!json_is_object(json_object_get(st->config, "config")))
                json_object_set_new(st->config, "config", json_object());
        const char *parts[] = {"FROM", NULL};
        return chain_step(st->chain, parts, err);
}

/* ---- the whole build ----------------------------------------------------------- */

static int exec_instr(struct build *b, struct stage *st, const struct nk_bf_instr *in,
                      nk_error **err);

/* ONBUILD: the base's triggers run right after its FROM, in order, as if
 * written there (Docker's semantics); the new image does not inherit
 * them. A trigger is parsed as one instruction of a file of its own. */
static int run_triggers(struct build *b, struct stage *st, unsigned line, nk_error **err)
{
        json_t *cfg = json_object_get(st->config, "config");
        _cleanup_jansson_ json_t *ob = json_incref(json_object_get(cfg, "OnBuild"));
        json_object_del(cfg, "OnBuild");
        if (!json_is_array(ob))
                return 0;
        size_t i;
        json_t *t;
        json_array_foreach (ob, i, t) {
                const char *text = json_string_value(t);
                if (!text)
                        return nk_error_set(err, 0, "%s:%u: the base's OnBuild[%zu] is not text",
                                            b->cf.file, line, i);
                say(b, "ONBUILD %s", text);
                _cleanup_free_ char *file = NULL;
                if (asprintf(&file, "FROM scratch\n%s\n", text) < 0)
                        return nk_error_set(err, ENOMEM, "ONBUILD");
                struct nk_containerfile one = {0};
                if (nk_containerfile_parse(file, strlen(file), b->cf.file, &one, err) < 0)
                        return nk_error_wrap(err, "%s:%u: the base's ONBUILD %s", b->cf.file, line,
                                             text);
                int r = 0;
                if (one.n != 2 || one.v[1].kind == NK_BF_FROM || one.v[1].kind == NK_BF_ONBUILD ||
                    one.v[1].kind == NK_BF_MAINTAINER)
                        r = nk_error_set(err, 0, "%s:%u: the base's ONBUILD %s: not a trigger",
                                         b->cf.file, line, text);
                /* errors name the FROM's line: the trigger runs there */
                one.v[1].line = line;
                if (r == 0 && exec_instr(b, st, &one.v[1], err) < 0)
                        r = nk_error_wrap(err, "the base's ONBUILD");
                nk_containerfile_clear(&one);
                if (r < 0)
                        return -1;
        }
        return 0;
}

/* The options each instruction takes here; any other is refused, not
 * ignored. */
static int check_flags(struct build *b, const struct nk_bf_instr *in, nk_error **err)
{
        static const char *const copy[] = {"from", "chown", "chmod", "link", NULL};
        static const char *const add[] = {"chown", "chmod", "link", "checksum", NULL};
        static const char *const run[] = {"mount", NULL};
        static const char *const hc[] = {"interval",       "timeout", "start-period",
                                         "start-interval", "retries", NULL};
        static const char *const none[] = {NULL};
        const char *const *ok = in->kind == NK_BF_COPY          ? copy
                                : in->kind == NK_BF_ADD         ? add
                                : in->kind == NK_BF_HEALTHCHECK ? hc
                                : in->kind == NK_BF_RUN         ? run
                                                                : none;
        for (char **f = in->flags; f && *f; f++) {
                size_t n = strcspn(*f, "=");
                bool known = false;
                for (const char *const *k = ok; *k && !known; k++)
                        known = strlen(*k) == n && strncmp(*f, *k, n) == 0;
                if (!known)
                        return nk_error_set(err, 0, "%s:%u: %s: option `--%.*s` is not supported",
                                            b->cf.file, in->line, nk_bf_kind_name(in->kind), (int)n,
                                            *f);
        }
        return 0;
}

static int exec_instr(struct build *b, struct stage *st, const struct nk_bf_instr *in,
                      nk_error **err)
{
        if (check_flags(b, in, err) < 0)
                return -1;
        switch (in->kind) {
        case NK_BF_FROM:
                return do_from(b, st, in, err) < 0 ? -1 : run_triggers(b, st, in->line, err);
        case NK_BF_ARG:
                return do_arg(b, st->args, st, in, err);
        case NK_BF_RUN:
                return do_run(b, st, in, err) < 0
                               ? nk_error_wrap(err, "%s:%u: RUN", b->cf.file, in->line)
                               : 0;
        case NK_BF_COPY:
        case NK_BF_ADD:
                return do_copy(b, st, in, err);
        default:
                return do_config(b, st, in, err);
        }
}

static int step(struct build *b, struct stage *st, const struct nk_bf_instr *in, nk_error **err)
{
        b->step++;
        say(b, "STEP %zu/%zu: %s", b->step, b->n_steps, in->text + strspn(in->text, " \t"));
        return exec_instr(b, st, in, err);
}

static size_t target_end(struct build *b, nk_error **err)
{
        if (!b->o->target)
                return b->cf.n;
        /* the instruction after the target stage's last one */
        bool in_target = false;
        for (size_t i = 0; i < b->cf.n; i++) {
                const struct nk_bf_instr *in = &b->cf.v[i];
                if (in->kind != NK_BF_FROM)
                        continue;
                if (in_target)
                        return i;
                _cleanup_strv_ char **w = NULL;
                if (nk_bf_words(in->rest, b->cf.escape, false, false, NULL, NULL, &w, NULL) == 0 &&
                    nk_strv_len(w) == 3 && strcasecmp(w[2], b->o->target) == 0)
                        in_target = true;
        }
        if (in_target)
                return b->cf.n;
        nk_error_set(err, 0, "--target %s: no stage of that name in %s", b->o->target, b->cf.file);
        return 0;
}

static int run_all(struct build *b, size_t end, struct stage **last, nk_error **err)
{
        size_t n_from = 0;
        for (size_t i = 0; i < end; i++)
                n_from += b->cf.v[i].kind == NK_BF_FROM;
        b->stages = calloc(n_from + 1, sizeof(*b->stages));
        if (!b->stages)
                return nk_error_set(err, ENOMEM, "build");
        b->n_steps = end;
        struct stage *st = NULL;
        for (size_t i = 0; i < end; i++) {
                const struct nk_bf_instr *in = &b->cf.v[i];
                if (!st && in->kind == NK_BF_ARG) {
                        b->step++;
                        say(b, "STEP %zu/%zu: %s", b->step, b->n_steps, in->text);
                        if (do_arg(b, b->global_args, NULL, in, err) < 0)
                                return -1;
                        continue;
                }
                if (in->kind == NK_BF_FROM)
                        st = &b->stages[b->n_stages++];
                if (step(b, st, in, err) < 0)
                        return -1;
        }
        *last = st;
        return nk_build_cache_add(b->s, b->fresh, err);
}

static char *name_key(const char *name, nk_error **err)
{
        struct nk_ref r;
        if (nk_ref_parse(name, &r, err) < 0)
                return NULL;
        char *key = r.digest ? NULL : nk_ref_key(&r);
        if (r.digest)
                nk_error_set(err, 0, "tag `%s`: a digest cannot name a new image", name);
        else if (!key)
                nk_error_set(err, ENOMEM, "tag %s", name);
        nk_ref_clear(&r);
        return key;
}

/* Every tag names this very config already (and so its manifest: the
 * same config lists the same layers). */
static bool already_named(struct build *b, const char *config_text, char **keys, char id_out[72])
{
        char cdigest[NK_DIGEST_LEN + 1];
        _cleanup_jansson_ json_t *names = NULL;
        nk_error *e = NULL;
        if (!keys || nk_sha256_of(config_text, strlen(config_text), cdigest, &e) < 0 ||
            nk_store_names_read(b->s, &names, &e) < 0) {
                nk_error_free(e);
                return false;
        }
        for (char **k = keys; *k; k++) {
                json_t *rec = json_object_get(names, *k);
                const char *c = json_string_value(json_object_get(rec, "config"));
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (!c || !streq(c, cdigest) || !m || !nk_store_blob_exists(b->s, m))
                        return false;
        }
        snprintf(id_out, 72, "%s", cdigest);
        return true;
}

/* The last stage's config and layers as an image, named by every tag. */
static int commit_image(struct build *b, struct stage *st, char **keys, char id_out[72],
                        nk_error **err)
{
        json_t *cfg = json_object_get(st->config, "config");
        if (b->o->labels && json_object_size(b->o->labels)) {
                json_t *labels = json_object_get(cfg, "Labels");
                if (!json_is_object(labels))
                        json_object_set_new(cfg, "Labels", labels = json_object());
                json_object_update(labels, b->o->labels);
        }
        json_t *hist = json_object_get(st->config, "history");
        json_t *lastc = json_object_get(json_array_get(hist, json_array_size(hist) - 1), "created");
        char now[40];
        created_text(b, now, sizeof now);
        json_object_set_new(st->config, "created", json_string(json_string_value(lastc) ?: now));
        json_t *ids = json_array();
        for (size_t i = 0; i < st->n; i++)
                json_array_append_new(ids, json_string(st->layers[i].diff_id));
        json_object_set_new(st->config, "rootfs",
                            json_pack("{s:s,s:o}", "type", "layers", "diff_ids", ids));
        _cleanup_free_ char *text = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return nk_error_set(err, ENOMEM, "config");
        if (already_named(b, text, keys, id_out))
                return 0; /* an unchanged rebuild: nothing to write, no sync */
        struct nk_txn *t;
        if (nk_txn_begin(b->s, &t, err) < 0)
                return -1;
        char cdigest[NK_DIGEST_LEN + 1], manifest[NK_DIGEST_LEN + 1];
        int r = nk_txn_put_blob(t, text, strlen(text), NULL, cdigest, err);
        if (r == 0)
                r = nk_image_build_from(t, cdigest, (int64_t)strlen(text), st->layers, st->n,
                                        keys ? keys[0] : NULL, manifest, err);
        for (char **k = keys; r == 0 && k && *k; k++)
                r = nk_txn_set_name(t, *k, manifest, cdigest, err);
        _cleanup_free_ char *fallback = keys || r < 0 ? NULL : nk_bf_unnamed_key(cdigest);
        if (r == 0 && !keys)
                r = fallback ? nk_txn_set_name(t, fallback, manifest, cdigest, err)
                             : nk_error_set(err, ENOMEM, "build");
        if (r == 0)
                r = nk_txn_commit(t, err);
        nk_txn_free(t);
        if (r == 0)
                snprintf(id_out, 72, "%s", cdigest);
        return r;
}

static int open_context(struct build *b, nk_error **err)
{
        b->ctx_fd = -1;
        if (!b->o->context)
                return 0;
        b->ctx_fd = open(b->o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->ctx_fd < 0)
                return nk_error_set(err, errno, "build context `%s`", b->o->context);
        static const char *const names[] = {".containerignore", ".dockerignore"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *text = NULL;
                size_t len;
                nk_error *e = NULL;
                if (nk_read_file_at(b->ctx_fd, names[i], &text, &len, &e) < 0) {
                        nk_error_free(e);
                        continue;
                }
                return nk_bf_ignore_parse(text, len, &b->ignore, err);
        }
        return 0;
}

static int build_args(struct build *b, nk_error **err)
{
        b->build_args = json_object();
        for (char **a = b->o->build_args; a && *a; a++) {
                const char *eq = strchr(*a, '=');
                if (!eq || eq == *a)
                        return nk_error_set(err, 0, "--build-arg `%s`: expected KEY=VALUE", *a);
                _cleanup_free_ char *k = strndup(*a, (size_t)(eq - *a));
                json_object_set_new(b->build_args, k, json_string(eq + 1));
        }
        return 0;
}

/* RUN's overlay mounts are made in a mount namespace of this process's
 * own, so none can outlive it (a kill -9 included). */
static int private_mounts(nk_error **err)
{
        if (unshare(CLONE_NEWNS) < 0)
                return nk_error_set(err, errno, "unshare a mount namespace for the build");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return nk_error_set(err, errno, "make the build's mounts private");
        return 0;
}

static int build_main(struct build *b, char id_out[72], nk_error **err)
{
        _cleanup_strv_ char **keys = NULL;
        for (char **t = b->o->tags; t && *t; t++) {
                _cleanup_free_ char *k = name_key(*t, err);
                if (!k || nk_strv_push(&keys, k) < 0)
                        return nk_error_wrap(err, "-t %s", *t);
        }
        if (build_args(b, err) < 0 ||
            nk_containerfile_parse(b->o->file_text, b->o->file_len, b->o->file_name, &b->cf, err) <
                    0 ||
            open_context(b, err) < 0)
                return -1;
        size_t end = target_end(b, err);
        if (end == 0 || nk_store_lock(b->s, LOCK_SH, err) < 0 || private_mounts(err) < 0)
                return -1;
        nk_bf_sweep_containers(b->s, b->o->root);
        b->cache = nk_build_cache_read(b->s);
        struct stage *last = NULL;
        if (run_all(b, end, &last, err) < 0)
                return -1;
        if (keys)
                say(b, "COMMIT %s", b->o->tags[0]);
        return commit_image(b, last, keys, id_out, err);
}

int nk_image_build_file(struct nk_store *s, const struct nk_build_opts *o, char id_out[72],
                        nk_error **err)
{
        struct build b = {.s = s, .o = o, .ctx_fd = -1, .now = (int64_t)time(NULL)};
        b.global_args = json_object();
        b.fresh = json_object();
        int r = build_main(&b, id_out, err);
        for (size_t i = 0; i < b.n_stages; i++)
                stage_clear(&b.stages[i]);
        free(b.stages);
        nk_containerfile_clear(&b.cf);
        json_decref(b.global_args);
        json_decref(b.build_args);
        json_decref(b.cache);
        json_decref(b.fresh);
        nk_strv_free(b.ignore);
        if (b.ctx_fd >= 0)
                close(b.ctx_fd);
        return r;
}
