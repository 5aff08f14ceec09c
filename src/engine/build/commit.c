/* `nook commit`: a container's upper dir as a new layer on its image. The
 * mount points the engine made for the container (its spec's mount
 * destinations: /etc/hosts, volumes, ...) are left out, as Docker does. */
#include "engine/build/build.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* -c/--change: one Containerfile instruction that changes the config. */
static int apply_change(json_t *doc, const char *change, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        if (asprintf(&text, "FROM scratch\n%s\n", change) < 0)
                return nk_error_set(err, ENOMEM, "--change");
        struct nk_containerfile cf;
        if (nk_containerfile_parse(text, strlen(text), "--change", &cf, err) < 0)
                return nk_error_wrap(err, "--change `%s`", change);
        int r = 0;
        if (cf.n != 2 || !nk_bf_is_config(cf.v[1].kind)) {
                r = nk_error_set(err, 0,
                                 "--change `%s`: only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
                                 "ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL, SHELL, "
                                 "HEALTHCHECK",
                                 change);
        } else {
                json_t *cfg = json_object_get(doc, "config");
                _cleanup_jansson_ json_t *env = json_deep_copy(json_object_get(cfg, "Env"));
                struct nk_bf_vars vars = {env, NULL};
                r = nk_bf_apply_config(doc, &cf.v[1], cf.escape, &vars, NULL, err);
                if (r < 0)
                        nk_error_wrap(err, "--change `%s`", change);
        }
        nk_containerfile_clear(&cf);
        return r;
}

/* The spec's mount destinations, relative (what the layer leaves out). */
static char **mount_points(int cfd)
{
        _cleanup_jansson_ json_t *spec = NULL;
        nk_error *e = NULL;
        char **v = NULL;
        if (nk_store_read_json(cfd, "config.json", &spec, &e) < 0) {
                nk_error_free(e);
                return NULL;
        }
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(spec, "mounts"), i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));
                while (d && *d == '/')
                        d++;
                if (d && *d)
                        nk_strv_push(&v, d);
        }
        return v;
}

static char *name_key(const char *name, nk_error **err)
{
        struct nk_ref r;
        if (nk_ref_parse(name, &r, err) < 0)
                return NULL;
        char *key = r.digest ? NULL : nk_ref_key(&r);
        if (r.digest)
                nk_error_set(err, 0, "`%s`: a digest cannot name a new image", name);
        nk_ref_clear(&r);
        return key;
}

struct commit {
        struct nk_store *s;
        const struct nk_commit_opts *o;
        struct nk_image img;
        json_t *config;
        struct nk_new_layer *layers;
        size_t n;
};

static int new_layer(struct commit *c, struct nk_txn *t, int cfd, nk_error **err)
{
        _cleanup_close_ int upper =
                openat(cfd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (upper < 0)
                return nk_error_set(err, errno, "container %s: its upper directory", c->o->id);
        _cleanup_strv_ char **exclude = mount_points(cfd);
        struct nk_diff_opts d = {.timestamp = -1, .exclude = exclude};
        if (nk_bf_upper_empty(upper))
                return 0;
        if (nk_layer_from_upper(t, upper, &d, &c->layers[c->n], NULL, err) < 0)
                return -1;
        c->n++;
        return 1;
}

static int commit_in(struct commit *c, struct nk_txn *t, int cfd, const char *key, char id_out[72],
                     nk_error **err)
{
        const struct nk_image *img = &c->img;
        c->layers = calloc(img->manifest.n_layers + 1, sizeof(*c->layers));
        if (!c->layers)
                return nk_error_set(err, ENOMEM, "commit");
        for (size_t i = 0; i < img->manifest.n_layers; i++, c->n++) {
                struct nk_new_layer *l = &c->layers[i];
                snprintf(l->digest, sizeof l->digest, "%s", img->manifest.layers[i].digest);
                snprintf(l->diff_id, sizeof l->diff_id, "%s", img->config.diff_ids[i]);
                l->size = img->manifest.layers[i].size;
                l->media_type =
                        strstr(img->manifest.layers[i].media_type, "zstd")   ? NK_MT_OCI_LAYER_ZSTD
                        : strstr(img->manifest.layers[i].media_type, "gzip") ? NK_MT_OCI_LAYER_GZIP
                                                                             : NK_MT_OCI_LAYER;
        }
        int got = new_layer(c, t, cfd, err);
        if (got < 0)
                return -1;
        char now[40];
        nk_bf_time_text((int64_t)time(NULL), now, sizeof now);
        json_object_set_new(c->config, "created", json_string(now));
        if (c->o->author)
                json_object_set_new(c->config, "author", json_string(c->o->author));
        nk_bf_history_add(c->config, now, "nook commit", c->o->message, !got);
        json_t *ids = json_array();
        for (size_t i = 0; i < c->n; i++)
                json_array_append_new(ids, json_string(c->layers[i].diff_id));
        json_object_set_new(c->config, "rootfs",
                            json_pack("{s:s,s:o}", "type", "layers", "diff_ids", ids));
        _cleanup_free_ char *text = json_dumps(c->config, JSON_COMPACT | JSON_SORT_KEYS);
        char cdigest[NK_DIGEST_LEN + 1], manifest[NK_DIGEST_LEN + 1];
        if (!text || nk_txn_put_blob(t, text, strlen(text), NULL, cdigest, err) < 0 ||
            nk_image_build_from(t, cdigest, (int64_t)strlen(text), c->layers, c->n, key, manifest,
                                err) < 0)
                return text ? -1 : nk_error_set(err, ENOMEM, "commit");
        _cleanup_free_ char *fallback = key ? NULL : nk_bf_unnamed_key(cdigest);
        if (!key && (!fallback || nk_txn_set_name(t, fallback, manifest, cdigest, err) < 0))
                return fallback ? -1 : nk_error_set(err, ENOMEM, "commit");
        snprintf(id_out, 72, "%s", cdigest);
        return 0;
}

static int commit_main(struct commit *c, char id_out[72], nk_error **err)
{
        const struct nk_commit_opts *o = c->o;
        _cleanup_free_ char *key = o->name ? name_key(o->name, err) : NULL;
        if (o->name && !key)
                return -1;
        char rel[128];
        snprintf(rel, sizeof rel, "%s/image.json", o->id);
        _cleanup_jansson_ json_t *rec = NULL;
        if (nk_store_lock(c->s, LOCK_SH, err) < 0 ||
            nk_store_read_json(c->s->containers, rel, &rec, err) < 0)
                return nk_error_wrap(err, "container %s", o->id);
        const char *man = json_string_value(json_object_get(rec, "manifest"));
        if (!man)
                return nk_error_set(err, 0, "container %s: no image in its record", o->id);
        if (nk_image_read(c->s, man, &c->img, err) < 0)
                return nk_error_wrap(err, "container %s: its image", o->id);
        c->config = json_deep_copy(c->img.config.root);
        json_object_del(c->config, "rootfs");
        nk_bf_history_fit(c->config, c->img.config.n_diff_ids);
        if (!json_is_object(json_object_get(c->config, "config")))
                json_object_set_new(c->config, "config", json_object());
        for (char **ch = o->changes; ch && *ch; ch++)
                if (apply_change(c->config, *ch, err) < 0)
                        return -1;
        _cleanup_close_ int cfd =
                openat(c->s->containers, o->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return nk_error_set(err, errno, "container %s", o->id);
        struct nk_txn *t;
        if (nk_txn_begin(c->s, &t, err) < 0)
                return -1;
        int r = commit_in(c, t, cfd, key, id_out, err);
        if (r == 0)
                r = nk_txn_commit(t, err);
        nk_txn_free(t);
        return r;
}

int nk_image_commit(struct nk_store *s, const struct nk_commit_opts *o, char id_out[72],
                    nk_error **err)
{
        struct commit c = {.s = s, .o = o};
        int r = commit_main(&c, id_out, err);
        nk_image_clear(&c.img);
        json_decref(c.config);
        free(c.layers);
        return r < 0 ? nk_error_wrap(err, "commit") : 0;
}
