/* A store transaction: blobs, extracted layers and names are staged in
 * <store>/tmp and moved into place only by nk_txn_commit(), so a failed or
 * killed pull/load/import leaves blobs/, layers/ and the names file as they
 * were. Holds the store lock shared from begin to free. Layers may be staged
 * from several threads at once. */
#pragma once
#include "engine/digest.h"
#include "engine/store.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct nk_staged_blob {
        char digest[NK_DIGEST_LEN + 1];
        int fd;             /* O_TMPFILE, or the named file below */
        char *tmp_name;     /* name in tmp/, or NULL */
        bool keep_on_abort; /* partial downloads stay so a pull can resume */
};

struct nk_staged_layer {
        char diff_id[NK_DIGEST_LEN + 1];
        bool split;     /* has a usable tar-split: its blob need not be kept */
        char *tmp_name; /* directory in tmp/, holds diff/ and info.json */
        int lock_fd;    /* flock on it: a live transaction owns it */
};

struct nk_txn {
        struct nk_store *s;
        pthread_mutex_t mu;
        struct nk_staged_blob *blobs;
        size_t n_blobs;
        struct nk_staged_layer *layers;
        size_t n_layers;
        json_t *names;       /* name -> record, set at commit */
        json_t *layer_blobs; /* blob digest -> diff-id of every nk_txn_layer */
        bool out_of_space;   /* failed on a full disk: keep no downloads */
};

/* Record why the transaction fails: on ENOSPC/EDQUOT its downloads
 * (partial or verified, normally kept for the next pull) are deleted on
 * abort too, giving the space back. */
void nk_txn_note_error(struct nk_txn *t, const nk_error *e);
bool nk_txn_out_of_space(struct nk_txn *t);

int nk_txn_begin(struct nk_store *s, struct nk_txn **out, nk_error **err);
/* Abort anything not committed and free. */
void nk_txn_free(struct nk_txn *t);

/* Streaming blob writer: bytes are hashed as written to an O_TMPFILE. */
struct nk_blob_writer {
        int fd;
        struct nk_sha256 h;
        uint64_t size;
};
int nk_blob_writer_open(struct nk_txn *t, struct nk_blob_writer *w, nk_error **err);
int nk_blob_writer_write(struct nk_blob_writer *w, const void *buf, size_t len, nk_error **err);
/* Finish: the content must hash to expected (when not NULL); staged in t. */
int nk_blob_writer_finish(struct nk_txn *t, struct nk_blob_writer *w, const char *expected,
                          char digest_out[NK_DIGEST_LEN + 1], nk_error **err);
void nk_blob_writer_abort(struct nk_blob_writer *w);
/* Stage a small in-memory blob. */
int nk_txn_put_blob(struct nk_txn *t, const void *data, size_t len, const char *expected,
                    char digest_out[NK_DIGEST_LEN + 1], nk_error **err);
/* Stage a verified file already in tmp/ (takes fd and tmp_name). */
int nk_txn_stage_file(struct nk_txn *t, const char *digest, int fd, char *tmp_name, bool keep,
                      nk_error **err);

/* In the store or staged. */
bool nk_txn_has_blob(struct nk_txn *t, const char *digest);
/* A new read-only fd on the staged or stored blob. */
int nk_txn_blob_open(struct nk_txn *t, const char *digest, nk_error **err);
int nk_txn_blob_read(struct nk_txn *t, const char *digest, size_t max, char **out, size_t *len,
                     nk_error **err);

/* Make sure the layer with this diff-id is extracted (stored or staged),
 * extracting blob `digest` when it is not. Thread-safe. The extraction
 * records the tar's headers (tarsplit.h); when that worked, the commit
 * does not keep the blob: save and push rebuild the layer from the
 * extracted files (docs/images.md, "Store cost"). */
int nk_txn_layer(struct nk_txn *t, const char *digest, const char *diff_id, nk_error **err);

/* Point name at a manifest (and its config) at commit time. */
int nk_txn_set_name(struct nk_txn *t, const char *name, const char *manifest, const char *config,
                    nk_error **err);
int nk_txn_commit(struct nk_txn *t, nk_error **err);
