/* `nook system df`: what the store holds and what could be reclaimed. */
#include "engine/engine.h"
#include "engine/image.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of regular files below dfd/name, not crossing mount points. */
static uint64_t tree_bytes(int dfd, const char *name, dev_t dev, int depth)
{
        struct stat st;
        if (depth > 256 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0;
        if (S_ISREG(st.st_mode))
                return (uint64_t)st.st_size;
        if (!S_ISDIR(st.st_mode) || (dev && st.st_dev != dev))
                return 0;
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        uint64_t total = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        total += tree_bytes(dirfd(d), de->d_name, st.st_dev, depth + 1);
        return total;
}

static void count_blobs(struct nk_store *s, json_t *used, struct nk_df_row *row)
{
        int fd = openat(s->blobs, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                struct stat st;
                if (de->d_name[0] == '.' || fstatat(s->blobs, de->d_name, &st, 0) < 0)
                        continue;
                char digest[80];
                if (!nk_store_name_digest(de->d_name, digest))
                        continue;
                row->total++;
                row->size += (uint64_t)st.st_size;
                if (json_object_get(used, digest))
                        row->active++;
                else
                        row->reclaimable += (uint64_t)st.st_size;
        }
}

static void add_image(struct nk_store *s, const char *manifest, bool active, json_t *blobs,
                      json_t *layers, struct nk_store_df *df)
{
        struct nk_image img;
        if (nk_image_read(s, manifest, &img, NULL) < 0)
                return;
        json_object_set_new(blobs, manifest, json_true());
        json_object_set_new(blobs, img.manifest.config.digest, json_true());
        for (size_t i = 0; i < img.manifest.n_layers; i++) {
                const char *d = img.config.diff_ids[i];
                json_object_set_new(blobs, img.manifest.layers[i].digest, json_true());
                json_t *prev = json_object_get(layers, d);
                int64_t sz = nk_store_layer_size(s, d);
                if (!prev) {
                        df->images.size += sz > 0 ? (uint64_t)sz : 0;
                        json_object_set_new(layers, d, json_boolean(active));
                } else if (active && !json_is_true(prev)) {
                        json_object_set_new(layers, d, json_true());
                }
        }
        nk_image_clear(&img);
}

static void layer_rows(struct nk_store *s, json_t *layers, struct nk_store_df *df)
{
        const char *d;
        json_t *active;
        json_object_foreach(layers, d, active) {
                int64_t sz = nk_store_layer_size(s, d);
                uint64_t bytes = sz > 0 ? (uint64_t)sz : 0;
                df->layers.total++;
                df->layers.size += bytes;
                if (json_is_true(active))
                        df->layers.active++;
                else
                        df->images.reclaimable += bytes;
        }
        df->layers.reclaimable = df->images.reclaimable;
}

int nk_store_df(struct nk_store *s, struct nk_store_df *df, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL, *containers = NULL;
        _cleanup_jansson_ json_t *manifests = json_object(), *blobs = json_object(),
                                 *layers = json_object();
        memset(df, 0, sizeof(*df));
        if (nk_store_names_read(s, &names, err) < 0 || nk_store_containers(s, &containers, err) < 0)
                return -1;
        const char *key;
        json_t *rec;
        size_t i;
        json_array_foreach(containers, i, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                const char *id = json_string_value(json_object_get(rec, "id"));
                df->containers.total++;
                df->containers.active++;
                if (id)
                        df->containers.size += tree_bytes(s->containers, id, 0, 0);
                if (m)
                        json_object_set_new(manifests, m, json_true());
        }
        json_object_foreach(names, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (m && !json_object_get(manifests, m))
                        json_object_set_new(manifests, m, json_false());
        }
        json_object_foreach(manifests, key, rec) {
                df->images.total++;
                df->images.active += json_is_true(rec);
                add_image(s, key, json_is_true(rec), blobs, layers, df);
        }
        layer_rows(s, layers, df);
        count_blobs(s, blobs, &df->blobs);
        return 0;
}
