/* Images in the store (internal): resolving names and ids, reading the
 * manifest and config, building new images from staged layers. */
#pragma once
#include "engine/digest.h"
#include "engine/manifest.h"
#include "engine/store.h"
#include "engine/txn.h"

#define NK_MANIFEST_MAX (4u << 20)
#define NK_CONFIG_MAX   (32u << 20)
#define NK_BUSYBOX_KEY  "docker.io/library/busybox:latest"

struct nk_image {
        char *key; /* the store name matched; NULL when found by id */
        char manifest_digest[NK_DIGEST_LEN + 1];
        struct nk_manifest manifest;
        struct nk_config config;
};

/* Resolve a name, id (prefix of the config digest) or manifest digest.
 * nk_image_find (the engine module) makes the default busybox image when
 * it is asked for and missing; nk_image_find_local (nook itself) only looks. */
int nk_image_find_local(struct nk_store *s, const char *ref, struct nk_image *img, nk_error **err);
int nk_image_find(struct nk_store *s, const char *ref, struct nk_image *img, nk_error **err);
/* Whether ref names an image of the store (readable or not). */
bool nk_image_named(struct nk_store *s, const char *ref);
/* Read the manifest and config of a stored manifest digest. */
int nk_image_read(struct nk_store *s, const char *manifest_digest, struct nk_image *img,
                  nk_error **err);
void nk_image_clear(struct nk_image *img);

struct nk_new_layer {
        char digest[NK_DIGEST_LEN + 1]; /* the blob */
        char diff_id[NK_DIGEST_LEN + 1];
        const char *media_type;
        int64_t size;
};
/* Stage config (rootfs.diff_ids filled in here), an OCI manifest and the
 * layers' extraction; name it key when key is not NULL. */
int nk_image_build(struct nk_txn *t, json_t *config, const struct nk_new_layer *layers, size_t n,
                   const char *key, char manifest_out[NK_DIGEST_LEN + 1], nk_error **err);
/* The same around an already staged config blob. */
int nk_image_build_from(struct nk_txn *t, const char *config_digest, int64_t config_size,
                        const struct nk_new_layer *layers, size_t n, const char *key,
                        char manifest_out[NK_DIGEST_LEN + 1], nk_error **err);
/* A layer from an overlay upper directory (layer_diff.c): entries sorted,
 * whiteouts and opaque directories in the image format, owner, mode,
 * xattrs (user.*, security.capability); gzip-compressed, staged in t and
 * extracted like any pulled layer. *entries (may be NULL): tar entries. */
struct nk_diff_opts {
        int64_t timestamp; /* clamp mtimes to it (and drop nanoseconds); -1: keep */
        char **exclude;    /* relative paths left out (mount points the engine made) */
};
int nk_layer_from_upper(struct nk_txn *t, int upper_fd, const struct nk_diff_opts *o,
                        struct nk_new_layer *out, uint64_t *entries, nk_error **err);
/* A minimal image config for this machine, with PATH set. */
json_t *nk_image_default_config(const char *cmd);

/* containers/<id>/image.json of every container root filesystem: an
 * array of {id, manifest, image, ...}. */
int nk_store_containers(struct nk_store *s, json_t **out, nk_error **err);

/* Remove unreferenced blobs, layers and tmp/ (takes the store lock
 * exclusively). */
struct nk_gc_stats;
int nk_store_gc(struct nk_store *s, struct nk_gc_stats *st, nk_error **err);

/* The embedded busybox image (busybox.c): stage and name it. */
int nk_busybox_create(struct nk_store *s, nk_error **err);
bool nk_busybox_available(void);
