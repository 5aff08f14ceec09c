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

/* How an image's content counts: a container uses it, it belongs to the
 * embedded default image (which `image prune -a` keeps), or neither
 * (reclaimable). The strongest use wins. */
enum { USE_NONE, USE_KEPT, USE_ACTIVE };

static void mark(json_t *map, const char *digest, int use)
{
        if (json_integer_value(json_object_get(map, digest)) < use || !json_object_get(map, digest))
                json_object_set_new(map, digest, json_integer(use));
}

/* Every entry of dir (blobs/sha256 or layers/) that is a digest: counted,
 * active when a container's image uses it, reclaimable when nothing keeps
 * it (what `nook image prune -a` frees). */
static void count_dir(struct nk_store *s, int dir, bool layers, json_t *used, struct nk_df_row *row)
{
        int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0)
                close(fd);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char digest[80];
                if (de->d_name[0] == '.' || !nk_store_name_digest(de->d_name, digest))
                        continue;
                uint64_t bytes;
                if (layers) {
                        int64_t sz = nk_store_layer_size(s, digest);
                        bytes = sz > 0 ? (uint64_t)sz : 0;
                } else {
                        struct stat st;
                        if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                continue;
                        bytes = (uint64_t)st.st_size;
                }
                row->total++;
                row->size += bytes;
                json_int_t use = json_integer_value(json_object_get(used, digest));
                if (use == USE_ACTIVE)
                        row->active++;
                else if (use == USE_NONE)
                        row->reclaimable += bytes;
        }
}

/* Mark the image's blobs and layers with use. */
static void add_image(struct nk_store *s, const char *manifest, int use, json_t *blobs,
                      json_t *layers)
{
        struct nk_image img;
        if (nk_image_read(s, manifest, &img, NULL) < 0)
                return;
        mark(blobs, manifest, use);
        mark(blobs, img.manifest.config.digest, use);
        for (size_t i = 0; i < img.manifest.n_layers; i++) {
                mark(blobs, img.manifest.layers[i].digest, use);
                mark(layers, img.config.diff_ids[i], use);
        }
        nk_image_clear(&img);
}

/* Images: the layers of every image, once each (those on disk). */
static void image_bytes(struct nk_store *s, json_t *layers, struct nk_df_row *row)
{
        const char *d;
        json_t *active;
        json_object_foreach (layers, d, active) {
                int64_t sz = nk_store_layer_size(s, d);
                uint64_t bytes = sz > 0 ? (uint64_t)sz : 0;
                row->size += bytes;
                if (json_integer_value(active) == USE_NONE)
                        row->reclaimable += bytes;
        }
}

int nk_store_df(struct nk_store *s, struct nk_store_df *df, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL, *containers = NULL;
        _cleanup_jansson_ json_t *manifests = json_object(), *blobs = json_object(),
                                 *layers = json_object();
        memset(df, 0, sizeof(*df));
        if (!manifests || !blobs || !layers)
                return nk_error_set(err, ENOMEM, "system df");
        if (nk_store_names_read(s, &names, err) < 0 || nk_store_containers(s, &containers, err) < 0)
                return -1;
        const char *key;
        json_t *rec;
        size_t i;
        json_array_foreach (containers, i, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                const char *id = json_string_value(json_object_get(rec, "id"));
                df->containers.total++;
                df->containers.active++;
                if (id)
                        df->containers.size += tree_bytes(s->containers, id, 0, 0);
                if (m)
                        mark(manifests, m, USE_ACTIVE);
        }
        json_object_foreach (names, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                bool kept = json_is_true(json_object_get(rec, "embedded"));
                if (m)
                        mark(manifests, m, kept ? USE_KEPT : USE_NONE);
        }
        json_object_foreach (manifests, key, rec) {
                int use = (int)json_integer_value(rec);
                df->images.total++;
                df->images.active += use == USE_ACTIVE;
                add_image(s, key, use, blobs, layers);
        }
        image_bytes(s, layers, &df->images);
        count_dir(s, s->layers, true, layers, &df->layers);
        count_dir(s, s->blobs, false, blobs, &df->blobs);
        return 0;
}
