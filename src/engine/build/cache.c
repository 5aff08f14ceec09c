/* The build cache: <store>/build-cache.json maps a step's key (a hash
 * chained from the base image through every instruction before it, with
 * the content of copied files) to what the step made: its layer, if any,
 * and the time its history entry records (so an unchanged rebuild gives
 * the same config, hence the same image id). Read-modify-write under an
 * flock of build-cache.lock; garbage collection keeps the layers it names
 * (gc.c) and `image prune` clears it. */
#include "engine/build/cache.h"
#include "engine/engine.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define CACHE_FILE "build-cache.json"
#define CACHE_LOCK "build-cache.lock"

static int lock_cache(struct nk_store *s, nk_error **err)
{
        int fd = openat(s->dfd, CACHE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s/%s`", s->root, CACHE_LOCK);
        if (flock(fd, LOCK_EX) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "lock `%s/%s`", s->root, CACHE_LOCK);
        }
        return fd;
}

json_t *nk_build_cache_read(struct nk_store *s)
{
        json_t *c = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(s->dfd, CACHE_FILE, &c, &e) < 0 || !json_is_object(c)) {
                nk_error_free(e); /* absent or damaged: an empty cache */
                json_decref(c);
                c = json_object();
        }
        return c;
}

int nk_build_cache_add(struct nk_store *s, json_t *entries, nk_error **err)
{
        if (!json_object_size(entries))
                return 0;
        _cleanup_close_ int lock = lock_cache(s, err);
        if (lock < 0)
                return -1;
        _cleanup_jansson_ json_t *c = nk_build_cache_read(s);
        json_object_update(c, entries);
        if (nk_store_write_json(s->dfd, CACHE_FILE, c, err) < 0)
                return nk_error_wrap(err, "build cache");
        json_object_clear(entries);
        return 0;
}

int nk_build_cache_clear(struct nk_store *s, nk_error **err)
{
        _cleanup_close_ int lock = lock_cache(s, err);
        if (lock < 0)
                return -1;
        if (unlinkat(s->dfd, CACHE_FILE, 0) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "remove `%s/%s`", s->root, CACHE_FILE);
        return 0;
}

void nk_build_cache_mark(struct nk_store *s,
                         void (*mark)(const char *blob, const char *diff_id, void *data),
                         void *data)
{
        _cleanup_jansson_ json_t *c = nk_build_cache_read(s);
        const char *k;
        json_t *v;
        json_object_foreach (c, k, v) {
                json_t *l = json_object_get(v, "layer");
                const char *blob = json_string_value(json_object_get(l, "digest"));
                const char *diff = json_string_value(json_object_get(l, "diff_id"));
                if (blob && diff)
                        mark(blob, diff, data);
        }
}
