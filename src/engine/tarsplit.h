/* A layer's tar stream without its file contents ("tar-split", as
 * containers/storage calls its own): everything but the bytes of regular
 * files, verbatim (headers, pax records, padding, the end blocks), plus
 * for each regular file its path in the extracted layer and its size.
 * With the extracted layer it rebuilds the uncompressed tar byte for byte,
 * so its digest is the layer's diff-id again; the compressed blob need not
 * be kept (store cost: docs/images.md).
 *
 * Recorded during extraction from two sides: the raw bytes as they stream
 * past (nk_split_rec_feed parses the tar headers itself), and the
 * extractor's regular files, in order (nk_split_rec_file gives the path of
 * each content run). Anything unusual (a sparse file, an unknown entry
 * type, a file replaced by a later entry, a header whose checksum fails)
 * makes the record unusable: the blob is then kept as before. */
#pragma once
#include "engine/digest.h"
#include "engine/layer.h"
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>

#define NK_SPLIT_FILE "tar-split.gz"

struct nk_split_rec;
/* Record into dirfd/NK_SPLIT_FILE. */
int nk_split_rec_open(int dirfd, struct nk_split_rec **out, nk_error **err);
/* Raw uncompressed tar bytes, in stream order. */
void nk_split_rec_feed(struct nk_split_rec *r, const void *buf, size_t n);
/* The extractor's next regular file with content (size > 0). */
void nk_split_rec_file(struct nk_split_rec *r, const char *path, uint64_t size);
/* Something the record cannot reproduce happened. */
void nk_split_rec_invalid(struct nk_split_rec *r, const char *why);
/* Write the rest and close. *usable: the file is complete and consistent
 * (otherwise it is removed). Frees r. */
int nk_split_rec_finish(struct nk_split_rec *r, int dirfd, bool *usable, nk_error **err);
void nk_split_rec_abort(struct nk_split_rec *r, int dirfd);

/* Rebuild the tar of the layer directory at layer_fd (layers/<hex>, holding
 * diff/ and NK_SPLIT_FILE), handing the bytes to sink; they must hash to
 * diff_id. */
int nk_split_assemble(int layer_fd, const char *diff_id, nk_bytes_sink sink, void *data,
                      nk_error **err);
