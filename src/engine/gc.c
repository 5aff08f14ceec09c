/* Removing images and garbage collection. Runs under the exclusive store
 * lock, so no pull, load or container setup is adding content meanwhile. */
#include "engine/build/cache.h"
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct marks {
        json_t *blobs;  /* digest -> true */
        json_t *layers; /* diff-id -> true */
};

static void mark_manifest(struct nk_store *s, const char *digest, struct marks *m)
{
        struct nk_image img;
        json_object_set_new(m->blobs, digest, json_true());
        if (nk_image_read(s, digest, &img, NULL) < 0)
                return; /* unreadable: keep what we can name, drop the rest */
        json_object_set_new(m->blobs, img.manifest.config.digest, json_true());
        for (size_t i = 0; i < img.manifest.n_layers; i++)
                json_object_set_new(m->blobs, img.manifest.layers[i].digest, json_true());
        for (size_t i = 0; i < img.config.n_diff_ids; i++)
                json_object_set_new(m->layers, img.config.diff_ids[i], json_true());
        nk_image_clear(&img);
}

static void mark_cached(const char *blob, const char *diff_id, void *data)
{
        struct marks *m = data;
        json_object_set_new(m->blobs, blob, json_true());
        json_object_set_new(m->layers, diff_id, json_true());
}

static int mark_all(struct nk_store *s, struct marks *m, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL, *containers = NULL;
        if (nk_store_names_read(s, &names, err) < 0 || nk_store_containers(s, &containers, err) < 0)
                return -1;
        const char *key;
        json_t *rec;
        size_t i;
        json_object_foreach (names, key, rec) {
                const char *man = json_string_value(json_object_get(rec, "manifest"));
                if (man)
                        mark_manifest(s, man, m);
        }
        json_array_foreach (containers, i, rec) {
                const char *man = json_string_value(json_object_get(rec, "manifest"));
                if (man)
                        mark_manifest(s, man, m);
        }
        /* the build cache's layers stay until `image prune` drops it */
        nk_build_cache_mark(s, mark_cached, m);
        return 0;
}

static DIR *opendir_at(int dfd, nk_error **err)
{
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                nk_error_set(err, errno, "open directory");
                if (fd >= 0)
                        close(fd);
        }
        return d;
}

static int drop_blob(struct nk_store *s, const char *name, const char *digest,
                     struct nk_gc_stats *st, nk_error **err)
{
        struct stat sb;
        if (fstatat(s->blobs, name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
                st->bytes += (uint64_t)sb.st_size;
        if (unlinkat(s->blobs, name, 0) < 0)
                return nk_error_set(err, errno, "remove blob %s", digest);
        st->blobs++;
        return 0;
}

static int rm_child(struct nk_store *s, const char *dir, const char *name, nk_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s/%s", s->root, dir, name) < 0)
                return nk_error_set(err, ENOMEM, "remove %s", name);
        return nk_rm_rf(path, err);
}

static int drop_layer(struct nk_store *s, const char *name, const char *digest,
                      struct nk_gc_stats *st, nk_error **err)
{
        int64_t sz = nk_store_layer_size(s, digest);
        if (rm_child(s, "layers", name, err) < 0)
                return -1;
        st->bytes += sz > 0 ? (uint64_t)sz : 0;
        st->layers++;
        return 0;
}

/* drop() every entry of dfd (blobs/ or layers/) named by a digest's hex
 * that `marked` lacks; other names are not ours to judge. */
static int sweep(struct nk_store *s, int dfd, json_t *marked,
                 int (*drop)(struct nk_store *s, const char *name, const char *digest,
                             struct nk_gc_stats *st, nk_error **err),
                 struct nk_gc_stats *st, nk_error **err)
{
        _cleanup_closedir_ DIR *d = opendir_at(dfd, err);
        if (!d)
                return -1;
        struct dirent *de;
        while ((de = readdir(d))) {
                char digest[80];
                if (!nk_store_name_digest(de->d_name, digest) || json_object_get(marked, digest))
                        continue;
                if (drop(s, de->d_name, digest, st, err) < 0)
                        return -1;
        }
        return 0;
}

/* Staging leftovers of killed pulls (partial downloads, half-extracted
 * layers). Nobody is writing them: we hold the lock exclusively. */
static int sweep_tmp(struct nk_store *s, nk_error **err)
{
        _cleanup_closedir_ DIR *d = opendir_at(s->tmp, err);
        if (!d)
                return -1;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    rm_child(s, "tmp", de->d_name, err) < 0)
                        return -1;
        return 0;
}

int nk_store_gc(struct nk_store *s, struct nk_gc_stats *st, nk_error **err)
{
        struct marks m = {json_object(), json_object()};
        int r = -1;
        if (!m.blobs || !m.layers)
                nk_error_set(err, ENOMEM, "garbage collection");
        else if (mark_all(s, &m, err) == 0 &&
                 sweep(s, s->blobs, m.blobs, drop_blob, st, err) == 0 &&
                 sweep(s, s->layers, m.layers, drop_layer, st, err) == 0 && sweep_tmp(s, err) == 0)
                r = 0;
        json_decref(m.blobs);
        json_decref(m.layers);
        return r < 0 ? nk_error_wrap(err, "store `%s`: garbage collection", s->root) : 0;
}

struct rm_edit {
        char **keys;
};

static int rm_cb(json_t *names, void *data, nk_error **err)
{
        struct rm_edit *e = data;
        for (char **k = e->keys; k && *k; k++)
                json_object_del(names, *k);
        return 0;
}

/* Names to remove for ref: the name itself, or every name of an id. */
static int names_to_remove(json_t *names, const struct nk_image *img, const char *ref, char ***out,
                           nk_error **err)
{
        bool by_id = true;
        struct nk_ref r;
        if (nk_ref_parse(ref, &r, NULL) == 0) {
                _cleanup_free_ char *key = nk_ref_key(&r);
                by_id = !(key && streq(key, img->key)) && !r.digest;
                nk_ref_clear(&r);
        }
        const char *key;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                const char *cfg = json_string_value(json_object_get(rec, "config"));
                bool hit = by_id ? cfg && streq(cfg, img->manifest.config.digest)
                                 : streq(key, img->key);
                if (hit && nk_strv_push(out, key) < 0)
                        return nk_error_set(err, ENOMEM, "remove %s", ref);
        }
        return 0;
}

/* A container uses the manifest and no name would be left pointing at it. */
static bool in_use_after(json_t *names, json_t *containers, char **removing, const char *manifest)
{
        const char *key;
        json_t *rec;
        size_t i;
        json_object_foreach (names, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (m && streq(m, manifest) && !nk_strv_contains(removing, key))
                        return false;
        }
        json_array_foreach (containers, i, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (m && streq(m, manifest))
                        return true;
        }
        return false;
}

int nk_image_remove_names(struct nk_store *s, const char *ref, char ***keys, nk_error **err)
{
        struct nk_image img;
        _cleanup_jansson_ json_t *names = NULL;
        if (nk_image_find(s, ref, &img, err) < 0)
                return -1;
        int r = nk_store_names_read(s, &names, err) < 0
                        ? -1
                        : names_to_remove(names, &img, ref, keys, err);
        nk_image_clear(&img);
        return r;
}

int nk_image_remove(struct nk_store *s, const char *ref, unsigned flags, char ***removed,
                    nk_error **err)
{
        bool force = flags & NK_RMI_FORCE;
        struct nk_image img;
        _cleanup_jansson_ json_t *names = NULL, *containers = NULL;
        _cleanup_strv_ char **keys = NULL;
        if (nk_store_lock(s, LOCK_EX, err) < 0 || nk_image_find(s, ref, &img, err) < 0)
                return -1;
        int r = -1;
        if (nk_store_names_read(s, &names, err) < 0 ||
            nk_store_containers(s, &containers, err) < 0 ||
            names_to_remove(names, &img, ref, &keys, err) < 0)
                goto out;
        if (!(flags & (NK_RMI_FORCE | NK_RMI_ALL_NAMES)) && nk_strv_len(keys) > 1) {
                nk_error_set(err, 0,
                             "image `%s` has %zu names (%s, ...): removing it by id removes "
                             "them all; use -f",
                             ref, nk_strv_len(keys), keys[0]);
                goto out;
        }
        if (!force && in_use_after(names, containers, keys, img.manifest_digest)) {
                nk_error_set(err, 0,
                             "image `%s` is used by a container (use -f to remove "
                             "the name anyway)",
                             ref);
                goto out;
        }
        struct rm_edit e = {keys};
        struct nk_gc_stats st = {0};
        if (nk_store_names_edit(s, rm_cb, &e, err) < 0 || nk_store_gc(s, &st, err) < 0)
                goto out;
        if (removed)
                *removed = TAKE_PTR(keys);
        r = 0;
out:
        nk_image_clear(&img);
        return r;
}

static int prune_unused(json_t *names, void *data, nk_error **err)
{
        json_t *containers = data;
        const char *key;
        json_t *rec, *tmp;
        json_object_foreach_safe (names, tmp, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                size_t i;
                json_t *c;
                bool used = false;
                json_array_foreach (containers, i, c) {
                        const char *cm = json_string_value(json_object_get(c, "manifest"));
                        used = used || (m && cm && streq(m, cm));
                }
                /* The embedded default image is never pruned: `rmi busybox`
                 * removes it explicitly (and using the name makes it again). */
                if (!used && !json_is_true(json_object_get(rec, "embedded")))
                        json_object_del(names, key);
        }
        return 0;
}

int nk_image_prune(struct nk_store *s, bool all, struct nk_gc_stats *st, char ***removed,
                   nk_error **err)
{
        struct nk_gc_stats local = {0};
        _cleanup_jansson_ json_t *before = NULL, *after = NULL, *containers = NULL;
        if (nk_store_lock(s, LOCK_EX, err) < 0 || nk_store_names_read(s, &before, err) < 0 ||
            nk_store_containers(s, &containers, err) < 0)
                return -1;
        if (all && nk_store_names_edit(s, prune_unused, containers, err) < 0)
                return -1;
        if (nk_build_cache_clear(s, err) < 0)
                return -1;
        if (nk_store_gc(s, &local, err) < 0 || nk_store_names_read(s, &after, err) < 0)
                return -1;
        const char *key;
        json_t *rec;
        json_object_foreach (before, key, rec)
                if (!json_object_get(after, key) && removed && nk_strv_push(removed, key) < 0)
                        return nk_error_set(err, ENOMEM, "prune");
        if (st)
                *st = local;
        return 0;
}
