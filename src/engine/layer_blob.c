#include "engine/layer_blob.h"
#include "engine/manifest.h"
#include "engine/tarsplit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static int layer_dir(struct nk_store *s, const char *diff_id, nk_error **err)
{
        int fd = openat(s->layers, nk_digest_hex(diff_id),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "layer %s", diff_id);
        return fd;
}

bool nk_layer_rebuildable(struct nk_store *s, const char *diff_id)
{
        char rel[NK_DIGEST_LEN + 64];
        snprintf(rel, sizeof(rel), "%s/%s", nk_digest_hex(diff_id), NK_SPLIT_FILE);
        return faccessat(s->layers, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int64_t nk_layer_tar_size(struct nk_store *s, const char *diff_id)
{
        char rel[NK_DIGEST_LEN + 64];
        _cleanup_jansson_ json_t *info = NULL;
        snprintf(rel, sizeof(rel), "%s/info.json", nk_digest_hex(diff_id));
        if (nk_store_read_json(s->layers, rel, &info, NULL) < 0)
                return -1;
        json_t *v = json_object_get(info, "tar_size");
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int nk_layer_rebuild(struct nk_store *s, const char *diff_id, nk_bytes_sink sink, void *data,
                     nk_error **err)
{
        _cleanup_close_ int dfd = layer_dir(s, diff_id, err);
        if (dfd < 0)
                return -1;
        return nk_split_assemble(dfd, diff_id, sink, data, err);
}

struct tar_out {
        int fd;
        uint64_t size;
};

static int tar_sink(const void *buf, size_t len, void *data, nk_error **err)
{
        struct tar_out *t = data;
        if (nk_write_all(t->fd, buf, len) < 0)
                return nk_error_set(err, errno, "write layer tar");
        t->size += len;
        return 0;
}

int nk_layer_make_tar(struct nk_store *s, const char *diff_id, int64_t *size, nk_error **err)
{
        struct tar_out t = {openat(s->tmp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), 0};
        if (t.fd < 0)
                return nk_error_set(err, errno, "temporary file in `%s/tmp`", s->root);
        if (nk_layer_rebuild(s, diff_id, tar_sink, &t, err) < 0) {
                close(t.fd);
                return -1;
        }
        *size = (int64_t)t.size;
        return t.fd;
}

struct gz_out {
        z_stream z;
        int fd;
        struct nk_sha256 h;
        uint64_t size;
        unsigned char buf[128 * 1024];
};

static int gz_drain(struct gz_out *g, int flush, nk_error **err)
{
        do {
                g->z.next_out = g->buf;
                g->z.avail_out = sizeof(g->buf);
                int zr = deflate(&g->z, flush);
                if (zr == Z_STREAM_ERROR)
                        return nk_error_set(err, 0, "gzip: %s", g->z.msg ? g->z.msg : "error");
                size_t n = sizeof(g->buf) - g->z.avail_out;
                if (n && nk_write_all(g->fd, g->buf, n) < 0)
                        return nk_error_set(err, errno, "write gzip layer");
                nk_sha256_update(&g->h, g->buf, n);
                g->size += n;
        } while (g->z.avail_out == 0);
        return 0;
}

static int gz_sink(const void *buf, size_t len, void *data, nk_error **err)
{
        struct gz_out *g = data;
        g->z.next_in = (Bytef *)buf;
        g->z.avail_in = (uInt)len;
        return gz_drain(g, Z_NO_FLUSH, err);
}

static void remember_gzip(struct nk_store *s, const char *diff_id, const char *digest, int64_t size)
{
        _cleanup_close_ int dfd = layer_dir(s, diff_id, NULL);
        _cleanup_jansson_ json_t *v =
                json_pack("{s:s,s:I}", "digest", digest, "size", (json_int_t)size);
        if (dfd >= 0 && v)
                (void)nk_store_write_json(dfd, "gzip.json", v, NULL);
}

bool nk_layer_gzip_known(struct nk_store *s, const char *diff_id, char digest[NK_DIGEST_LEN + 1],
                         int64_t *size)
{
        char rel[NK_DIGEST_LEN + 64];
        _cleanup_jansson_ json_t *v = NULL;
        snprintf(rel, sizeof(rel), "%s/gzip.json", nk_digest_hex(diff_id));
        if (nk_store_read_json(s->layers, rel, &v, NULL) < 0)
                return false;
        const char *d = json_string_value(json_object_get(v, "digest"));
        json_t *sz = json_object_get(v, "size");
        if (!d || !nk_digest_valid(d) || !json_is_integer(sz))
                return false;
        snprintf(digest, NK_DIGEST_LEN + 1, "%s", d);
        *size = (int64_t)json_integer_value(sz);
        return true;
}

int nk_layer_make_gzip(struct nk_store *s, const char *diff_id, char digest[NK_DIGEST_LEN + 1],
                       int64_t *size, nk_error **err)
{
        struct gz_out *g = calloc(1, sizeof(*g));
        if (!g)
                return nk_error_set(err, ENOMEM, "gzip layer");
        g->fd = openat(s->tmp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        /* windowBits 16+15: a gzip wrapper with no name and mtime 0, so
         * the output depends on the bytes (and zlib) only. */
        int r = -1;
        if (g->fd < 0)
                nk_error_set(err, errno, "temporary file in `%s/tmp`", s->root);
        else if (deflateInit2(&g->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8,
                              Z_DEFAULT_STRATEGY) != Z_OK)
                nk_error_set(err, ENOMEM, "gzip");
        else {
                if (nk_sha256_init(&g->h, err) == 0 &&
                    nk_layer_rebuild(s, diff_id, gz_sink, g, err) == 0 &&
                    gz_drain(g, Z_FINISH, err) == 0) {
                        nk_sha256_final(&g->h, digest);
                        *size = (int64_t)g->size;
                        r = 0;
                }
                nk_sha256_free(&g->h);
                deflateEnd(&g->z);
        }
        int fd = g->fd;
        free(g);
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        remember_gzip(s, diff_id, digest, *size);
        return fd;
}

int nk_manifest_replace_layers(const char *body, size_t len, char *const *digests,
                               const int64_t *sizes, char **out, size_t *out_len, nk_error **err)
{
        _cleanup_jansson_ json_t *doc = json_loadb(body, len, 0, NULL);
        json_t *layers = json_object_get(doc, "layers");
        if (!json_is_array(layers))
                return nk_error_set(err, 0, "manifest: no layers array");
        const char *mt = json_string_value(json_object_get(doc, "mediaType"));
        const char *gz = mt && streq(mt, NK_MT_DOCKER_MANIFEST) ? NK_MT_DOCKER_LAYER_GZIP
                                                                : NK_MT_OCI_LAYER_GZIP;
        size_t i;
        json_t *l;
        json_array_foreach (layers, i, l) {
                if (!digests[i])
                        continue;
                if (json_object_set_new(l, "mediaType", json_string(gz)) < 0 ||
                    json_object_set_new(l, "digest", json_string(digests[i])) < 0 ||
                    json_object_set_new(l, "size", json_integer(sizes[i])) < 0)
                        return nk_error_set(err, ENOMEM, "manifest");
        }
        char *text = json_dumps(doc, JSON_COMPACT);
        if (!text)
                return nk_error_set(err, ENOMEM, "manifest");
        *out = text;
        *out_len = strlen(text);
        return 0;
}
