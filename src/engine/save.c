/* `nook save`: docker-archive (manifest.json + <config>.json +
 * <diff-id>/layer.tar, layers uncompressed as docker writes them) or
 * oci-archive (an OCI image layout: oci-layout, index.json, blobs/). */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/layer.h"
#include "engine/layer_blob.h"
#include "engine/layer_pipe.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct saver {
        struct nk_store *s;
        struct archive *a;
        json_t *written; /* archive paths already written */
};

static int ar_err(struct saver *sv, const char *path, nk_error **err)
{
        return nk_error_set(err, nk_archive_errno(sv->a), "write `%s`: %s", path,
                            archive_error_string(sv->a));
}

static int header(struct saver *sv, const char *path, mode_t mode, int64_t size, nk_error **err)
{
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return nk_error_set(err, ENOMEM, "save");
        archive_entry_set_pathname(e, path);
        archive_entry_set_mode(e, mode);
        archive_entry_set_size(e, size);
        archive_entry_set_mtime(e, 0, 0);
        int r = archive_write_header(sv->a, e);
        archive_entry_free(e);
        json_object_set_new(sv->written, path, json_true());
        return r < ARCHIVE_WARN ? ar_err(sv, path, err) : 0;
}

static int put_dir(struct saver *sv, const char *path, nk_error **err)
{
        if (json_object_get(sv->written, path))
                return 0;
        return header(sv, path, S_IFDIR | 0755, 0, err);
}

static int put_mem(struct saver *sv, const char *path, const char *data, size_t len, nk_error **err)
{
        if (header(sv, path, S_IFREG | 0644, (int64_t)len, err) < 0)
                return -1;
        if (archive_write_data(sv->a, data, len) != (la_ssize_t)len)
                return ar_err(sv, path, err);
        return 0;
}

static int put_fd(struct saver *sv, const char *path, int fd, nk_error **err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "stat for `%s`", path);
        if (header(sv, path, S_IFREG | 0644, st.st_size, err) < 0)
                return -1;
        char buf[65536];
        for (off_t off = 0;;) {
                ssize_t n = pread(fd, buf, sizeof(buf), off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read for `%s`", path);
                if (n == 0)
                        return 0;
                if (archive_write_data(sv->a, buf, (size_t)n) != n)
                        return ar_err(sv, path, err);
                off += n;
        }
}

static int put_blob(struct saver *sv, const char *path, const char *digest, nk_error **err)
{
        if (json_object_get(sv->written, path))
                return 0;
        _cleanup_close_ int fd = nk_store_blob_open(sv->s, digest, err);
        return fd < 0 ? -1 : put_fd(sv, path, fd, err);
}

static int sink_fd(const void *buf, size_t len, void *data, nk_error **err)
{
        if (nk_write_all(*(int *)data, buf, len) < 0)
                return nk_error_set(err, errno, "write");
        return 0;
}

static int sink_archive(const void *buf, size_t len, void *data, nk_error **err)
{
        struct saver *sv = data;
        if (archive_write_data(sv->a, buf, len) != (la_ssize_t)len)
                return nk_error_set(err, nk_archive_errno(sv->a), "write: %s",
                                    archive_error_string(sv->a));
        return 0;
}

/* docker-archive wants the uncompressed tar: rebuilt from the layer when it
 * has a tar-split (its size is known), else decompressed from the blob
 * into a temporary file first, as the tar header needs the size. */
static int put_layer_tar(struct saver *sv, const char *path, const char *digest,
                         const char *diff_id, nk_error **err)
{
        if (json_object_get(sv->written, path))
                return 0;
        int64_t tar_size =
                nk_layer_rebuildable(sv->s, diff_id) ? nk_layer_tar_size(sv->s, diff_id) : -1;
        if (tar_size >= 0) {
                if (header(sv, path, S_IFREG | 0644, tar_size, err) < 0 ||
                    nk_layer_rebuild(sv->s, diff_id, sink_archive, sv, err) < 0)
                        return nk_error_wrap(err, "`%s`", path);
                return 0;
        }
        _cleanup_close_ int in = nk_store_blob_open(sv->s, digest, err);
        if (in < 0)
                return -1;
        _cleanup_close_ int tmp = openat(sv->s->tmp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        char diff[NK_DIGEST_LEN + 1];
        if (tmp < 0)
                return nk_error_set(err, errno, "temporary file in `%s/tmp`", sv->s->root);
        if (nk_layer_decompress(in, sink_fd, &tmp, diff, err) < 0)
                return nk_error_wrap(err, "layer %s", digest);
        return put_fd(sv, path, tmp, err);
}

static json_t *repo_tags(json_t *names, const struct nk_image *img)
{
        json_t *tags = json_array();
        const char *key;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                const char *m = json_string_value(json_object_get(rec, "manifest"));
                if (!m || !streq(m, img->manifest_digest) || strchr(key, '@') ||
                    (img->key && !streq(key, img->key) && !strchr(img->key, '@')))
                        continue;
                const char *suffix;
                char sep;
                _cleanup_free_ char *repo = nk_ref_key_split(key, &suffix, &sep);
                char *t = NULL;
                if (repo && asprintf(&t, "%s:%s", nk_ref_familiar(repo), suffix) >= 0) {
                        json_array_append_new(tags, json_string(t));
                        free(t);
                }
        }
        return tags;
}

static int save_docker_one(struct saver *sv, const struct nk_image *img, json_t *names,
                           json_t *manifest, nk_error **err)
{
        char cpath[80], lpath[80], ldir[80];
        snprintf(cpath, sizeof(cpath), "%s.json", nk_digest_hex(img->manifest.config.digest));
        json_t *layers = json_array();
        json_array_append_new(manifest, json_pack("{s:s,s:o,s:o}", "Config", cpath, "RepoTags",
                                                  repo_tags(names, img), "Layers", layers));
        if (put_blob(sv, cpath, img->manifest.config.digest, err) < 0)
                return -1;
        for (size_t i = 0; i < img->manifest.n_layers; i++) {
                const char *hex = nk_digest_hex(img->config.diff_ids[i]);
                snprintf(ldir, sizeof(ldir), "%s", hex);
                snprintf(lpath, sizeof(lpath), "%s/layer.tar", hex);
                json_array_append_new(layers, json_string(lpath));
                if (put_dir(sv, ldir, err) < 0 ||
                    put_layer_tar(sv, lpath, img->manifest.layers[i].digest,
                                  img->config.diff_ids[i], err) < 0)
                        return -1;
        }
        return 0;
}

static int blob_entry(struct saver *sv, const char *digest, nk_error **err)
{
        char path[100];
        snprintf(path, sizeof(path), "blobs/sha256/%s", nk_digest_hex(digest));
        return put_blob(sv, path, digest, err);
}

/* Layers whose blob the store did not keep go as gzip blobs made from the
 * layer (the same ones push sends), in a rewritten manifest. */
static int oci_layers(struct saver *sv, const struct nk_image *img, char **digests, int64_t *sizes,
                      bool *rewritten, nk_error **err)
{
        for (size_t i = 0; i < img->manifest.n_layers; i++) {
                const char *d = img->manifest.layers[i].digest;
                if (nk_store_blob_exists(sv->s, d)) {
                        if (blob_entry(sv, d, err) < 0)
                                return -1;
                        continue;
                }
                char nd[NK_DIGEST_LEN + 1], path[100];
                const char *diff = img->config.diff_ids[i];
                /* An uncompressed layer's blob is its rebuilt tar. */
                bool plain = streq(d, diff);
                if (plain)
                        snprintf(nd, sizeof(nd), "%s", d);
                snprintf(path, sizeof(path), "blobs/sha256/%s", nk_digest_hex(d));
                if (plain && json_object_get(sv->written, path))
                        continue;
                _cleanup_close_ int fd =
                        plain ? nk_layer_make_tar(sv->s, diff, &sizes[i], err)
                              : nk_layer_make_gzip(sv->s, diff, nd, &sizes[i], err);
                if (fd < 0)
                        return nk_error_wrap(err, "layer %s", diff);
                snprintf(path, sizeof(path), "blobs/sha256/%s", nk_digest_hex(nd));
                if (!json_object_get(sv->written, path) && put_fd(sv, path, fd, err) < 0)
                        return -1;
                if (plain)
                        continue;
                if (!(digests[i] = strdup(nd)))
                        return nk_error_set(err, ENOMEM, "save");
                *rewritten = true;
        }
        return 0;
}

/* The manifest to write: the stored one, or its rewrite; its digest. */
static int oci_manifest(struct saver *sv, const struct nk_image *img, nk_error **err,
                        char digest[NK_DIGEST_LEN + 1], int64_t *size)
{
        size_t n = img->manifest.n_layers;
        char **digests = calloc(n + 1, sizeof(char *));
        int64_t *sizes = calloc(n + 1, sizeof(int64_t));
        bool rewritten = false;
        int r = -1;
        if (!digests || !sizes) {
                nk_error_set(err, ENOMEM, "save");
        } else if (oci_layers(sv, img, digests, sizes, &rewritten, err) == 0) {
                _cleanup_free_ char *body = NULL, *nb = NULL;
                size_t len, nlen;
                char path[100];
                if (!rewritten) {
                        snprintf(digest, NK_DIGEST_LEN + 1, "%s", img->manifest_digest);
                        *size = nk_store_blob_size(sv->s, img->manifest_digest);
                        r = blob_entry(sv, img->manifest_digest, err);
                } else if (nk_store_blob_read(sv->s, img->manifest_digest, NK_MANIFEST_MAX, &body,
                                              &len, err) == 0 &&
                           nk_manifest_replace_layers(body, len, digests, sizes, &nb, &nlen, err) ==
                                   0 &&
                           nk_sha256_of(nb, nlen, digest, err) == 0) {
                        snprintf(path, sizeof(path), "blobs/sha256/%s", nk_digest_hex(digest));
                        *size = (int64_t)nlen;
                        r = json_object_get(sv->written, path) ? 0
                                                               : put_mem(sv, path, nb, nlen, err);
                }
        }
        for (size_t i = 0; digests && i < n; i++)
                free(digests[i]);
        free(digests);
        free(sizes);
        return r;
}

static int save_oci_one(struct saver *sv, const struct nk_image *img, json_t *names, json_t *index,
                        nk_error **err)
{
        char mdigest[NK_DIGEST_LEN + 1];
        int64_t size;
        if (put_dir(sv, "blobs", err) < 0 || put_dir(sv, "blobs/sha256", err) < 0 ||
            blob_entry(sv, img->manifest.config.digest, err) < 0 ||
            oci_manifest(sv, img, err, mdigest, &size) < 0)
                return -1;
        _cleanup_jansson_ json_t *tags = repo_tags(names, img);
        size_t i;
        json_t *t;
        json_array_foreach (tags, i, t) {
                json_array_append_new(
                        index, json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "mediaType",
                                         img->manifest.media_type, "digest", mdigest, "size",
                                         (json_int_t)size, "annotations",
                                         "org.opencontainers.image.ref.name", json_string_value(t),
                                         "io.containerd.image.name", json_string_value(t)));
        }
        if (json_array_size(tags) == 0)
                json_array_append_new(index, json_pack("{s:s,s:s,s:I}", "mediaType",
                                                       img->manifest.media_type, "digest", mdigest,
                                                       "size", (json_int_t)size));
        return 0;
}

static int put_json(struct saver *sv, const char *path, json_t *v, nk_error **err)
{
        _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT);
        return text ? put_mem(sv, path, text, strlen(text), err)
                    : nk_error_set(err, ENOMEM, "save");
}

static int save_all(struct saver *sv, char *const *refs, enum nk_save_format fmt, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL, *list = json_array();
        if (!list)
                return nk_error_set(err, ENOMEM, "save images");
        if (nk_store_names_read(sv->s, &names, err) < 0)
                return -1;
        if (fmt == NK_SAVE_OCI_ARCHIVE &&
            put_mem(sv, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, err) < 0)
                return -1;
        for (char *const *r = refs; *r; r++) {
                struct nk_image img;
                if (nk_image_find(sv->s, *r, &img, err) < 0)
                        return -1;
                int rc = fmt == NK_SAVE_OCI_ARCHIVE ? save_oci_one(sv, &img, names, list, err)
                                                    : save_docker_one(sv, &img, names, list, err);
                nk_image_clear(&img);
                if (rc < 0)
                        return nk_error_wrap(err, "image `%s`", *r);
        }
        if (fmt == NK_SAVE_DOCKER_ARCHIVE)
                return put_json(sv, "manifest.json", list, err);
        _cleanup_jansson_ json_t *index =
                json_pack("{s:i,s:s,s:O}", "schemaVersion", 2, "mediaType", NK_MT_OCI_INDEX,
                          "manifests", list);
        return put_json(sv, "index.json", index, err);
}

int nk_image_save(struct nk_store *s, char *const *refs, enum nk_save_format fmt,
                  const char *out_path, nk_error **err)
{
        bool to_stdout = streq(out_path, "-");
        _cleanup_close_ int fd =
                to_stdout ? fcntl(1, F_DUPFD_CLOEXEC, 3)
                          : open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", out_path);
        struct saver sv = {s, archive_write_new(), json_object()};
        int r = -1;
        /* Shared store lock: garbage collection keeps the layers read. */
        if (nk_store_lock(s, LOCK_SH, err) < 0) {
                /* wrapped below */
        } else if (!sv.a || !sv.written) {
                nk_error_set(err, ENOMEM, "save");
        } else {
                archive_write_set_format_pax_restricted(sv.a);
                if (archive_write_open_fd(sv.a, fd) != ARCHIVE_OK)
                        ar_err(&sv, out_path, err);
                else if (save_all(&sv, refs, fmt, err) == 0)
                        r = archive_write_close(sv.a) == ARCHIVE_OK ? 0
                                                                    : ar_err(&sv, out_path, err);
        }
        if (sv.a)
                archive_write_free(sv.a);
        json_decref(sv.written);
        if (r < 0 && !to_stdout)
                unlink(out_path);
        return r < 0 ? nk_error_wrap(err, "save") : 0;
}
