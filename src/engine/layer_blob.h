/* Layer blobs the store no longer keeps (tarsplit.h): the uncompressed tar
 * rebuilt from the extracted layer, or a gzip blob made from it for push
 * and oci-archive save. The gzip is deterministic (zlib, no name, mtime 0),
 * so the same layer always makes the same blob; its digest is remembered in
 * layers/<hex>/gzip.json so a second push can ask the registry (HEAD)
 * without compressing again. */
#pragma once
#include "engine/digest.h"
#include "engine/layer.h"
#include "engine/store.h"

/* The layer is stored with a tar-split. */
bool nk_layer_rebuildable(struct nk_store *s, const char *diff_id);
/* Length of the layer's uncompressed tar (info.json), or -1. */
int64_t nk_layer_tar_size(struct nk_store *s, const char *diff_id);
/* Stream the layer's tar (checked against diff_id) to sink. */
int nk_layer_rebuild(struct nk_store *s, const char *diff_id, nk_bytes_sink sink, void *data,
                     nk_error **err);
/* The uncompressed tar into an unnamed file of tmp/ (an uncompressed
 * layer's blob: its digest is the diff-id); returns its fd. */
int nk_layer_make_tar(struct nk_store *s, const char *diff_id, int64_t *size, nk_error **err);
/* Make the gzip blob into an unnamed file of tmp/; returns its fd. */
int nk_layer_make_gzip(struct nk_store *s, const char *diff_id, char digest[NK_DIGEST_LEN + 1],
                       int64_t *size, nk_error **err);
/* The digest and size an earlier nk_layer_make_gzip found: true if known. */
bool nk_layer_gzip_known(struct nk_store *s, const char *diff_id, char digest[NK_DIGEST_LEN + 1],
                         int64_t *size);
/* A copy of a manifest (body) with layer i's descriptor replaced where
 * digests[i] is not NULL (gzip media type of the manifest's family). */
int nk_manifest_replace_layers(const char *body, size_t len, char *const *digests,
                               const int64_t *sizes, char **out, size_t *out_len, nk_error **err);
