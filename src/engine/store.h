/* The on-disk image store (internal to src/engine).
 *
 *   <root>/lock                 flock: LOCK_SH while adding content or using
 *                               images, LOCK_EX for garbage collection
 *   <root>/repositories.json    image names -> {manifest, config} digests
 *   <root>/names.lock           flock for read-modify-write of the names file
 *   <root>/blobs/sha256/<hex>   content-addressed blobs, verified on write
 *   <root>/layers/<hex>/diff    extracted layer (hex of its diff-id); info.json
 *   <root>/containers/<id>/     image.json, upper/, work/, merged/
 *   <root>/tmp/                 staging: partial downloads, extraction dirs
 *
 * Layers are keyed by diff-id, not chain-id: each layer is extracted into its
 * own directory and overlayfs stacks them, so an extracted layer does not
 * depend on the layers below it. */
#pragma once
#include "engine/jsonutil.h"
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct nk_store {
        char *root;
        int dfd;
        int blobs; /* blobs/sha256 */
        int layers;
        int tmp;
        int containers;
        int lock_fd;
        int lock_mode; /* 0, LOCK_SH or LOCK_EX */
};

/* A directory entry of blobs/sha256 or layers/ as a digest: false when the
 * name is not 64 hex digits (staging files, strays). */
bool nk_store_name_digest(const char *name, char out[80]);

/* Open (creating when absent) the store at root. */
int nk_store_open(const char *root, struct nk_store **out, nk_error **err);
void nk_store_free(struct nk_store *s);
/* flock the store: LOCK_SH or LOCK_EX (waits). Re-locking changes the mode. */
int nk_store_lock(struct nk_store *s, int how, nk_error **err);

bool nk_store_blob_exists(struct nk_store *s, const char *digest);
int nk_store_blob_open(struct nk_store *s, const char *digest, nk_error **err);
/* Read the blob open at fd whole (at most max bytes) and check that it
 * hashes to digest (when nk_store_blob_verify is set); *out is
 * NUL-terminated. */
/* The hash check of nk_blob_read_fd, set by digest.c (the engine module,
 * with OpenSSL). Blobs are verified when written (pull, load, import hash
 * what they stage), so nook itself, which runs a container of an image
 * already in the store without loading the module, reads its manifest and
 * config unchecked: root-owned files that only verified writes made. */
extern int (*nk_store_blob_verify)(const void *data, size_t len, const char *digest,
                                   nk_error **err);
int nk_blob_read_fd(int fd, const char *digest, size_t max, char **out, size_t *len,
                    nk_error **err);
/* The same for a blob of the store. */
int nk_store_blob_read(struct nk_store *s, const char *digest, size_t max, char **out, size_t *len,
                       nk_error **err);
int64_t nk_store_blob_size(struct nk_store *s, const char *digest);

bool nk_store_layer_exists(struct nk_store *s, const char *diff_id);
/* "<root>/layers/<hex>/diff" */
char *nk_store_layer_path(struct nk_store *s, const char *diff_id);
/* Bytes of file content in the extracted layer (from its info.json), or -1. */
int64_t nk_store_layer_size(struct nk_store *s, const char *diff_id);

/* The names file: {"<name>": {"manifest": D, "config": D, "created": T}}.
 * Never NULL on success (an empty object when absent). */
int nk_store_names_read(struct nk_store *s, json_t **out, nk_error **err);
typedef int (*nk_names_edit_fn)(json_t *names, void *data, nk_error **err);
/* Read, edit and atomically rewrite the names file under names.lock. */
int nk_store_names_edit(struct nk_store *s, nk_names_edit_fn fn, void *data, nk_error **err);

/* The same in two steps, for a commit that must not change anything when
 * the disk is full: prepare takes names.lock and writes (and fsyncs) the
 * edited file under a temp name, so running out of space happens there;
 * finish renames it into place, cancel drops it. Both release the lock. */
#define NK_TEMP_NAME_MAX 512
struct nk_names_update {
        int lock_fd;
        char tmp[NK_TEMP_NAME_MAX];
};
int nk_store_names_prepare(struct nk_store *s, nk_names_edit_fn fn, void *data,
                           struct nk_names_update *u, nk_error **err);
int nk_store_names_finish(struct nk_store *s, struct nk_names_update *u, nk_error **err);
void nk_store_names_cancel(struct nk_store *s, struct nk_names_update *u);

/* Atomically write a file below a directory fd (temp + fsync + rename). */
int nk_store_write_atomic(int dirfd, const char *name, const char *data, size_t len,
                          nk_error **err);
/* Write a JSON value (compact) atomically. */
int nk_store_write_json(int dirfd, const char *name, json_t *v, nk_error **err);
/* The same, atomic (old or new) but not durable: no fsync, for what a
 * crash may lose (a --rm container's records). */
int nk_store_replace_json(int dirfd, const char *name, json_t *v, nk_error **err);
/* Load a JSON file below dirfd. */
int nk_store_read_json(int dirfd, const char *name, json_t **out, nk_error **err);

/* A staging directory tmp/<prefix>XXXXXX ("layer-", "load-" or "export-"),
 * created and flocked; returns the fd holding the lock (close it after the
 * directory is gone or moved) and its name in tmp/. */
int nk_store_mkstaging(struct nk_store *s, const char *prefix, char **name_out, nk_error **err);
/* Remove staging directories no live process holds (left by a killed
 * pull, load or export). Needs the store lock, shared is enough. */
void nk_store_sweep_staging(struct nk_store *s);
