/* Listing, inspecting and tagging images. */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

void nk_image_list_free(struct nk_image_summary *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].key);
                free(v[i].repository);
                free(v[i].tag);
                free(v[i].manifest);
                free(v[i].id);
                free(v[i].created);
        }
        free(v);
}

static int64_t image_size(struct nk_store *s, const struct nk_image *img)
{
        int64_t total = 0;
        for (size_t i = 0; i < img->config.n_diff_ids; i++) {
                int64_t sz = nk_store_layer_size(s, img->config.diff_ids[i]);
                if (sz > 0)
                        total += sz;
        }
        return total;
}

static size_t users_of(json_t *containers, const char *manifest)
{
        size_t n = 0, i;
        json_t *c;
        json_array_foreach (containers, i, c) {
                const char *m = json_string_value(json_object_get(c, "manifest"));
                if (m && streq(m, manifest))
                        n++;
        }
        return n;
}

static int fill_summary(struct nk_store *s, const char *key, json_t *containers,
                        struct nk_image_summary *out, nk_error **err)
{
        struct nk_image img;
        if (nk_image_find(s, key, &img, err) < 0)
                return -1;
        const char *suffix;
        char sep;
        _cleanup_free_ char *repo = nk_ref_key_split(key, &suffix, &sep);
        out->key = strdup(key);
        out->repository = repo ? strdup(nk_ref_familiar(repo)) : NULL;
        out->tag = sep == ':' ? strdup(suffix) : NULL;
        out->manifest = strdup(img.manifest_digest);
        out->id = strdup(img.manifest.config.digest);
        out->created = img.config.created ? strdup(img.config.created) : NULL;
        out->size = image_size(s, &img);
        out->n_layers = img.manifest.n_layers;
        out->containers = users_of(containers, img.manifest_digest);
        nk_image_clear(&img);
        if (!out->key || !out->repository || !out->manifest || !out->id)
                return nk_error_set(err, ENOMEM, "list images");
        return 0;
}

int nk_image_list(struct nk_store *s, struct nk_image_summary **out, size_t *n, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL, *containers = NULL;
        if (nk_store_names_read(s, &names, err) < 0 || nk_store_containers(s, &containers, err) < 0)
                return -1;
        size_t count = json_object_size(names), i = 0;
        struct nk_image_summary *v = calloc(count + 1, sizeof(*v));
        if (!v)
                return nk_error_set(err, ENOMEM, "list images");
        const char *key;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                if (fill_summary(s, key, containers, &v[i], err) < 0) {
                        nk_image_list_free(v, i + 1);
                        return -1;
                }
                i++;
        }
        *out = v;
        *n = i;
        return 0;
}

/* Every name pointing at the manifest, split into tags and digests. */
static void names_of(json_t *names, const char *manifest, json_t *tags, json_t *digests)
{
        const char *key;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (!m || !streq(m, manifest))
                        continue;
                const char *suffix;
                char sep;
                _cleanup_free_ char *repo = nk_ref_key_split(key, &suffix, &sep);
                if (!repo)
                        continue;
                if (sep == ':')
                        json_array_append_new(tags, json_string(key));
                char *rd = NULL;
                if (asprintf(&rd, "%s@%s", repo, manifest) >= 0) {
                        bool dup = false;
                        size_t i;
                        json_t *d;
                        json_array_foreach (digests, i, d)
                                dup = dup || streq(json_string_value(d), rd);
                        if (!dup)
                                json_array_append_new(digests, json_string(rd));
                        free(rd);
                }
        }
}

/* The image config's "config" with the keys Docker's inspect always shows
 * (null or "" when the image does not set them), so `.Config.Entrypoint`
 * and friends are there to read. */
static json_t *inspect_config(json_t *root)
{
        json_t *src = json_object_get(root, "config");
        json_t *c = json_is_object(src) ? json_deep_copy(src) : json_object();
        static const char *const nulls[] = {"Env",     "Cmd",    "Entrypoint", "ExposedPorts",
                                            "Volumes", "Labels", "OnBuild"};
        static const char *const strings[] = {"WorkingDir", "User"};
        for (size_t i = 0; c && i < ARRAY_SIZE(nulls); i++)
                if (!json_object_get(c, nulls[i]))
                        json_object_set_new(c, nulls[i], json_null());
        for (size_t i = 0; c && i < ARRAY_SIZE(strings); i++)
                if (!json_object_get(c, strings[i]))
                        json_object_set_new(c, strings[i], json_string(""));
        return c;
}

static const char *config_string(json_t *root, const char *key)
{
        const char *v = json_string_value(json_object_get(root, key));
        return v ? v : "";
}

int nk_image_inspect(struct nk_store *s, const char *ref, json_t **out, nk_error **err)
{
        struct nk_image img;
        _cleanup_jansson_ json_t *names = NULL;
        if (nk_image_find(s, ref, &img, err) < 0)
                return -1;
        if (nk_store_names_read(s, &names, err) < 0) {
                nk_image_clear(&img);
                return -1;
        }
        json_t *root = img.config.root, *tags = json_array(), *digests = json_array();
        json_t *layers = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
        names_of(names, img.manifest_digest, tags, digests);
        json_int_t size = (json_int_t)image_size(s, &img);
        json_t *o = json_pack(
                "{s:s,s:o,s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:s,s:o,s:I,s:I,s:{s:s,s:O},s:s,"
                "s:O?}",
                "Id", img.manifest.config.digest, "RepoTags", tags, "RepoDigests", digests,
                "Parent", "", "Comment", config_string(root, "comment"), "Digest",
                img.manifest_digest, "ManifestMediaType", img.manifest.media_type, "Os",
                img.config.platform.os, "Architecture", img.config.platform.arch, "Created",
                img.config.created, "Author", config_string(root, "author"), "DockerVersion",
                config_string(root, "docker_version"), "Config", inspect_config(root), "Size", size,
                "VirtualSize", size, "RootFS", "Type", "layers", "Layers", layers, "Store", s->root,
                "History", json_object_get(root, "history"));
        if (o && img.config.platform.variant[0])
                json_object_set_new(o, "Variant", json_string(img.config.platform.variant));
        nk_image_clear(&img);
        if (!o)
                return nk_error_set(err, ENOMEM, "inspect %s", ref);
        *out = o;
        return 0;
}

/* One history row; layer < 0 for an entry that made no layer. */
static json_t *history_row(struct nk_store *s, const struct nk_image *img, json_t *h, long layer)
{
        const char *diff = layer >= 0 ? img->config.diff_ids[layer] : NULL;
        int64_t size = diff ? nk_store_layer_size(s, diff) : 0;
        const char *created =
                h ? json_string_value(json_object_get(h, "created")) : img->config.created;
        return json_pack("{s:s?,s:s,s:s,s:I,s:s,s:b,s:s?}", "Created", created, "CreatedBy",
                         config_string(h, "created_by"), "Comment", config_string(h, "comment"),
                         "Size", (json_int_t)(size > 0 ? size : 0), "Author",
                         config_string(h, "author"), "EmptyLayer", layer < 0, "DiffID", diff);
}

/* Oldest first: the config's history entries, each that is not an
 * empty_layer taking the next diff-id; layers beyond the history (or
 * an image without one) get a row of their own. */
static int history_rows(struct nk_store *s, const struct nk_image *img, json_t *rows)
{
        json_t *hist = json_object_get(img->config.root, "history"), *h;
        size_t next = 0, i;
        json_array_foreach (hist, i, h) {
                bool empty = json_is_true(json_object_get(h, "empty_layer")) ||
                             next >= img->config.n_diff_ids;
                if (json_array_append_new(rows, history_row(s, img, h, empty ? -1 : (long)next)) <
                    0)
                        return -1;
                next += !empty;
        }
        for (; next < img->config.n_diff_ids; next++)
                if (json_array_append_new(rows, history_row(s, img, NULL, (long)next)) < 0)
                        return -1;
        return 0;
}

int nk_image_history(struct nk_store *s, const char *ref, json_t **out, nk_error **err)
{
        struct nk_image img;
        if (nk_image_find(s, ref, &img, err) < 0)
                return -1;
        _cleanup_jansson_ json_t *rows = json_array(), *newest = json_array();
        int r = rows && newest && history_rows(s, &img, rows) == 0 ? 0 : -1;
        /* Newest first, as docker shows it; the newest row carries the id. */
        for (size_t i = json_array_size(rows); r == 0 && i-- > 0;)
                r = json_array_append(newest, json_array_get(rows, i));
        if (r == 0 && json_array_size(newest) > 0)
                json_object_set_new(json_array_get(newest, 0), "ID",
                                    json_string(img.manifest.config.digest));
        nk_image_clear(&img);
        if (r < 0)
                return nk_error_set(err, ENOMEM, "history of %s", ref);
        *out = TAKE_PTR(newest);
        return 0;
}

struct tag_edit {
        const char *key, *manifest, *config;
};

static int tag_cb(json_t *names, void *data, nk_error **err)
{
        struct tag_edit *te = data;
        json_t *rec = json_pack("{s:s,s:s}", "manifest", te->manifest, "config", te->config);
        if (!rec || json_object_set_new(names, te->key, rec) < 0)
                return nk_error_set(err, ENOMEM, "tag %s", te->key);
        return 0;
}

int nk_image_tag(struct nk_store *s, const char *src, const char *dst, nk_error **err)
{
        struct nk_ref r;
        if (nk_ref_parse(dst, &r, err) < 0)
                return -1;
        _cleanup_free_ char *key = r.digest ? NULL : nk_ref_key(&r);
        bool had_digest = r.digest != NULL;
        nk_ref_clear(&r);
        if (had_digest)
                return nk_error_set(err, 0, "tag `%s`: a tag cannot contain a digest", dst);
        if (!key)
                return nk_error_set(err, ENOMEM, "tag %s", dst);
        struct nk_image img;
        /* Shared store lock: garbage collection must see the new name. */
        if (nk_store_lock(s, LOCK_SH, err) < 0 || nk_image_find(s, src, &img, err) < 0)
                return -1;
        struct tag_edit te = {key, img.manifest_digest, img.manifest.config.digest};
        int ret = nk_store_names_edit(s, tag_cb, &te, err);
        nk_image_clear(&img);
        return ret;
}
