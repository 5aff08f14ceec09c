/* `nook push`: an image of the store to an OCI distribution registry.
 *
 * Each blob (layers, then the config) is skipped when the repository has
 * it already (HEAD), mounted from another repository of the same registry
 * that an image of the store came from (POST ?mount=&from=) when the
 * registry offers it, and otherwise uploaded in chunks (POST for a session,
 * PATCH with Content-Range per chunk, PUT ?digest= to close it). The
 * manifest goes last, so the registry never holds a manifest whose blobs
 * are missing. Same authentication as pull (registry.c). */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/layer.h"
#include "engine/layer_blob.h"
#include "engine/ref.h"
#include "engine/registry.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define NK_PUSH_CHUNK_DEFAULT (16u << 20)

struct pusher {
        struct nk_store *s;
        struct nk_registry reg;
        const struct nk_push_opts *o;
        json_t *mount_from; /* blob digest -> repository of this registry */
        uint64_t chunk;
        const char *dest_domain;
};

static void progress(struct pusher *p, enum nk_progress_kind k, const char *digest, uint64_t done,
                     uint64_t total, const char *msg)
{
        if (!p->o->progress)
                return;
        char id[16] = "";
        if (digest)
                snprintf(id, sizeof(id), "%.12s", nk_digest_hex(digest));
        struct nk_progress ev = {k, digest ? id : NULL, done, total, msg};
        p->o->progress(&ev, p->o->progress_data);
}

static int unexpected(struct pusher *p, const char *what, const char *digest,
                      struct nk_http_resp *resp, nk_error **err)
{
        _cleanup_free_ char *text = nk_registry_status_text(resp);
        return nk_error_set(err, 0, "%s %s to %s/%s: %s", what, digest, p->reg.domain, p->reg.repo,
                            text ? text : "unexpected status");
}

/* 1: the repository has the blob, 0: it does not. */
static int blob_exists(struct pusher *p, const char *digest, nk_error **err)
{
        char path[512];
        struct nk_http_resp resp;
        snprintf(path, sizeof(path), "/v2/%s/blobs/%s", p->reg.repo, digest);
        if (nk_registry_request(&p->reg, "HEAD", path, NULL, &resp, err) < 0)
                return -1;
        int r = resp.status == 200 ? 1 : resp.status == 404 ? 0 : -2;
        if (r == -2)
                r = unexpected(p, "check blob", digest, &resp, err);
        nk_http_resp_clear(&resp);
        return r;
}

/* Start an upload session (with a mount attempt when from is set).
 * 1: mounted, nothing to upload; 0: *location is the session. */
static int upload_start(struct pusher *p, const char *digest, const char *from, char **location,
                        nk_error **err)
{
        char path[1024];
        struct nk_http_resp resp;
        if (from)
                snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/?mount=%s&from=%s", p->reg.repo,
                         digest, from);
        else
                snprintf(path, sizeof(path), "/v2/%s/blobs/uploads/", p->reg.repo);
        if (nk_registry_request(&p->reg, "POST", path, NULL, &resp, err) < 0)
                return -1;
        int r;
        if (from && resp.status == 201)
                r = 1;
        else if (resp.status == 202 && resp.location)
                r = (*location = TAKE_PTR(resp.location)) ? 0 : -1;
        else
                r = unexpected(p, from ? "mount blob" : "start upload of", digest, &resp, err);
        nk_http_resp_clear(&resp);
        return r;
}

static int upload_chunks(struct pusher *p, char **location, int fd, uint64_t size,
                         const char *digest, nk_error **err)
{
        for (uint64_t off = 0; off < size;) {
                uint64_t n = size - off < p->chunk ? size - off : p->chunk;
                char range[64];
                snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
                         (unsigned long long)(off + n - 1));
                struct nk_http_body b = {.fd = fd, .off = off, .len = n, .content_range = range};
                struct nk_http_resp resp;
                if (nk_registry_request(&p->reg, "PATCH", *location, &b, &resp, err) < 0)
                        return nk_error_wrap(err, "upload blob %s", digest);
                if (resp.status != 202 || !resp.location) {
                        int r = unexpected(p, "upload chunk of", digest, &resp, err);
                        nk_http_resp_clear(&resp);
                        return r;
                }
                free(*location);
                *location = TAKE_PTR(resp.location);
                nk_http_resp_clear(&resp);
                off += n;
                progress(p, NK_PROGRESS_LAYER_BYTES, digest, off, size, NULL);
        }
        _cleanup_free_ char *url = NULL;
        if (asprintf(&url, "%s%sdigest=%s", *location, strchr(*location, '?') ? "&" : "?", digest) <
            0)
                return nk_error_set(err, ENOMEM, "upload blob %s", digest);
        struct nk_http_resp resp;
        if (nk_registry_request(&p->reg, "PUT", url, NULL, &resp, err) < 0)
                return nk_error_wrap(err, "finish upload of blob %s", digest);
        int r = resp.status == 201 ? 0 : unexpected(p, "finish upload of", digest, &resp, err);
        nk_http_resp_clear(&resp);
        return r;
}

/* Make the blob (size bytes at fd) exist in the repository. */
static int push_blob(struct pusher *p, const char *digest, int fd, uint64_t size, nk_error **err)
{
        int have = blob_exists(p, digest, err);
        if (have < 0)
                return -1;
        if (have) {
                progress(p, NK_PROGRESS_LAYER_DONE, digest, 0, 0, "already exists");
                return 0;
        }
        const char *from = json_string_value(json_object_get(p->mount_from, digest));
        _cleanup_free_ char *location = NULL;
        int r = upload_start(p, digest, from, &location, err);
        if (r < 0)
                return -1;
        if (r == 1) {
                char msg[600];
                snprintf(msg, sizeof(msg), "mounted from %s", from);
                progress(p, NK_PROGRESS_LAYER_DONE, digest, 0, 0, msg);
                return 0;
        }
        progress(p, NK_PROGRESS_LAYER_START, digest, 0, size, NULL);
        if (upload_chunks(p, &location, fd, size, digest, err) < 0)
                return -1;
        progress(p, NK_PROGRESS_LAYER_DONE, digest, size, size, "pushed");
        return 0;
}

static int push_store_blob(struct pusher *p, const char *digest, nk_error **err)
{
        _cleanup_close_ int fd = nk_store_blob_open(p->s, digest, err);
        struct stat st;
        if (fd < 0)
                return -1;
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "blob %s", digest);
        return push_blob(p, digest, fd, (uint64_t)st.st_size, err);
}

/* Every blob of an image of the store that came from another repository
 * of the destination registry can be mounted from there. */
static int find_mount_sources(struct pusher *p, const char *dest_repo, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL;
        if (nk_store_names_read(p->s, &names, err) < 0)
                return -1;
        const char *key;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                struct nk_ref r;
                const char *man = json_string_value(json_object_get(rec, "manifest"));
                if (!man || nk_ref_parse(key, &r, NULL) < 0)
                        continue;
                struct nk_image img;
                bool same = streq(r.domain, p->dest_domain) && !streq(r.path, dest_repo);
                if (same && nk_image_read(p->s, man, &img, NULL) == 0) {
                        json_object_set_new(p->mount_from, img.manifest.config.digest,
                                            json_string(r.path));
                        for (size_t i = 0; i < img.manifest.n_layers; i++)
                                json_object_set_new(p->mount_from, img.manifest.layers[i].digest,
                                                    json_string(r.path));
                        nk_image_clear(&img);
                }
                nk_ref_clear(&r);
        }
        return 0;
}

static int put_manifest(struct pusher *p, const char *tag, const char *body, size_t len,
                        const char *media_type, char digest[NK_DIGEST_LEN + 1], nk_error **err)
{
        char path[1024];
        snprintf(path, sizeof(path), "/v2/%s/manifests/%s", p->reg.repo, tag);
        struct nk_http_body b = {.mem = body, .fd = -1, .len = len, .content_type = media_type};
        struct nk_http_resp resp;
        if (nk_sha256_of(body, len, digest, err) < 0 ||
            nk_registry_request(&p->reg, "PUT", path, &b, &resp, err) < 0)
                return -1;
        int r = resp.status == 201 || resp.status == 200
                        ? 0
                        : unexpected(p, "put manifest", digest, &resp, err);
        if (r == 0 && resp.digest && !streq(resp.digest, digest))
                r = nk_error_set(err, 0, "registry %s stored manifest %s as %s", p->reg.domain,
                                 digest, resp.digest);
        nk_http_resp_clear(&resp);
        return r;
}

/* Cancel an upload session we will not use (best effort). */
static void upload_cancel(struct pusher *p, const char *location)
{
        struct nk_http_resp resp;
        nk_error *e = NULL;
        if (nk_registry_request(&p->reg, "DELETE", location, NULL, &resp, &e) == 0)
                nk_http_resp_clear(&resp);
        nk_error_free(e);
}

/* A layer whose blob the store did not keep (tarsplit.h). The registry
 * may have the original (HEAD) or another repository of it may (mount);
 * else a gzip blob made from the layer goes instead, and *new_digest and
 * *new_size say so (the manifest is rewritten; the config, and so the
 * image id, stay). */
static int push_rebuilt_layer(struct pusher *p, const struct nk_descriptor *d, const char *diff_id,
                              char **new_digest, int64_t *new_size, nk_error **err)
{
        if (!nk_layer_rebuildable(p->s, diff_id))
                return nk_error_set(err, 0, "layer %s: its blob %s is not in the store", diff_id,
                                    d->digest);
        int have = blob_exists(p, d->digest, err);
        if (have < 0)
                return -1;
        if (have) {
                progress(p, NK_PROGRESS_LAYER_DONE, d->digest, 0, 0, "already exists");
                return 0;
        }
        const char *from = json_string_value(json_object_get(p->mount_from, d->digest));
        if (from) {
                _cleanup_free_ char *location = NULL;
                int r = upload_start(p, d->digest, from, &location, err);
                if (r < 0)
                        return -1;
                if (r == 1) {
                        char msg[600];
                        snprintf(msg, sizeof(msg), "mounted from %s", from);
                        progress(p, NK_PROGRESS_LAYER_DONE, d->digest, 0, 0, msg);
                        return 0;
                }
                upload_cancel(p, location);
        }
        if (streq(d->digest, diff_id)) {
                /* An uncompressed layer: the rebuilt tar is the blob itself. */
                int64_t tsize;
                _cleanup_close_ int fd = nk_layer_make_tar(p->s, diff_id, &tsize, err);
                return fd < 0 ? -1 : push_blob(p, d->digest, fd, (uint64_t)tsize, err);
        }
        char digest[NK_DIGEST_LEN + 1];
        int64_t size;
        if (nk_layer_gzip_known(p->s, diff_id, digest, &size) &&
            blob_exists(p, digest, NULL) == 1) {
                progress(p, NK_PROGRESS_LAYER_DONE, digest, 0, 0, "already exists");
        } else {
                _cleanup_close_ int fd = nk_layer_make_gzip(p->s, diff_id, digest, &size, err);
                if (fd < 0 || push_blob(p, digest, fd, (uint64_t)size, err) < 0)
                        return -1;
        }
        if (!(*new_digest = strdup(digest)))
                return nk_error_set(err, ENOMEM, "push");
        *new_size = size;
        return 0;
}

static int push_layers(struct pusher *p, const struct nk_image *img, char **digests, int64_t *sizes,
                       bool *rewritten, nk_error **err)
{
        for (size_t i = 0; i < img->manifest.n_layers; i++) {
                const struct nk_descriptor *d = &img->manifest.layers[i];
                int r = nk_store_blob_exists(p->s, d->digest)
                                ? push_store_blob(p, d->digest, err)
                                : push_rebuilt_layer(p, d, img->config.diff_ids[i], &digests[i],
                                                     &sizes[i], err);
                if (r < 0)
                        return nk_error_wrap(err, "layer %zu", i + 1);
                *rewritten = *rewritten || digests[i];
        }
        return 0;
}

static int push_image(struct pusher *p, const struct nk_image *img, const char *tag,
                      char digest[NK_DIGEST_LEN + 1], nk_error **err)
{
        size_t n = img->manifest.n_layers;
        char **digests = calloc(n + 1, sizeof(char *));
        int64_t *sizes = calloc(n + 1, sizeof(int64_t));
        _cleanup_free_ char *body = NULL;
        size_t len;
        bool rewritten = false;
        int r = -1;
        if (!digests || !sizes)
                nk_error_set(err, ENOMEM, "push");
        else if (push_layers(p, img, digests, sizes, &rewritten, err) == 0 &&
                 push_store_blob(p, img->manifest.config.digest, err) == 0 &&
                 nk_store_blob_read(p->s, img->manifest_digest, NK_MANIFEST_MAX, &body, &len,
                                    err) == 0) {
                char *nb = NULL;
                size_t nlen = 0;
                if (!rewritten ||
                    nk_manifest_replace_layers(body, len, digests, sizes, &nb, &nlen, err) == 0) {
                        r = put_manifest(p, tag, nb ? nb : body, nb ? nlen : len,
                                         img->manifest.media_type, digest, err);
                        free(nb);
                }
        }
        for (size_t i = 0; digests && i < n; i++)
                free(digests[i]);
        free(digests);
        free(sizes);
        return r;
}

/* The destination: DEST, or the name IMAGE is (not an id: an image found
 * by id has no name to push to, even when it has names). */
static int dest_ref(const struct nk_image *img, const char *image, const char *dest,
                    struct nk_ref *r, nk_error **err)
{
        bool named = false;
        if (!dest && img->key && nk_ref_parse(image, r, NULL) == 0) {
                _cleanup_free_ char *key = nk_ref_key(r);
                named = key && streq(key, img->key);
                nk_ref_clear(r);
        }
        if (!dest && !named)
                return nk_error_set(err, 0,
                                    "push `%s`: name a destination (REGISTRY/REPO[:TAG]); an "
                                    "image id or digest reference has no tag to push to",
                                    image);
        const char *d = dest ? dest : img->key;
        if (nk_ref_parse(d, r, err) < 0)
                return -1;
        if (r->digest) {
                nk_ref_clear(r);
                return nk_error_set(err, 0, "push to `%s`: a destination cannot be a digest", d);
        }
        return 0;
}

int nk_image_push(struct nk_store *s, const char *image, const char *dest,
                  const struct nk_push_opts *o, char **digest_out, nk_error **err)
{
        static const struct nk_push_opts defaults = {0};
        struct pusher p = {.s = s, .o = o ? o : &defaults, .mount_from = json_object()};
        struct nk_image img;
        struct nk_ref r = {0};
        char digest[NK_DIGEST_LEN + 1];
        p.chunk = p.o->chunk_size ? p.o->chunk_size : NK_PUSH_CHUNK_DEFAULT;
        if (!p.mount_from)
                return nk_error_set(err, ENOMEM, "push");
        if (nk_image_find(s, image, &img, err) < 0) {
                json_decref(p.mount_from);
                return -1;
        }
        int rc = -1;
        if (dest_ref(&img, image, dest, &r, err) < 0)
                goto out;
        p.dest_domain = r.domain;
        /* Shared store lock: garbage collection keeps the layers read. */
        if (nk_store_lock(s, LOCK_SH, err) < 0)
                goto out;
        if (find_mount_sources(&p, r.path, err) < 0 ||
            nk_registry_open(&p.reg, r.domain, r.path, p.o->insecure, p.o->auth_file, NULL, err) <
                    0)
                goto out;
        rc = push_image(&p, &img, r.tag ? r.tag : "latest", digest, err);
        nk_registry_close(&p.reg);
out:
        if (rc == 0 && digest_out && !(*digest_out = strdup(digest)))
                rc = nk_error_set(err, ENOMEM, "push");
        nk_ref_clear(&r);
        nk_image_clear(&img);
        json_decref(p.mount_from);
        return rc < 0 ? nk_error_wrap(err, "push %s", image) : 0;
}
