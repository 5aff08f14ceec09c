/* Layer tarballs: safe extraction into an overlayfs layer directory.
 *
 * Extraction never uses libarchive's path-based writer: every entry is
 * created relative to directory fds opened one component at a time with
 * O_NOFOLLOW, so no entry can reach outside the layer directory. Refused,
 * with an error naming the entry: `..` components, a parent directory that
 * is a symlink (this also covers absolute symlinks an extractor would
 * follow), hardlinks whose target is outside or absent, and a directory
 * entry replacing a symlink. Whiteouts become what overlayfs reads:
 * `.wh.NAME` a 0:0 character device NAME, `.wh..wh..opq` the xattr
 * trusted.overlay.opaque=y on its directory. */
#pragma once
#include "engine/digest.h"
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>

struct nk_layer_limits {
        uint64_t max_bytes; /* uncompressed tar bytes; 0: the default */
        /* A plain tar (`nook cp -`), not a layer: `.wh.` names are ordinary
         * files, and an entry for the root itself (`./`) leaves the
         * destination directory's owner, mode and times alone. */
        bool plain;
};
/* Default bound on a layer's uncompressed size (decompression bombs). The
 * environment variable NOOK_MAX_LAYER_BYTES overrides it. */
#define NK_LAYER_MAX_BYTES (64ULL << 30)

struct nk_layer_stats {
        uint64_t tar_bytes;     /* uncompressed stream length */
        uint64_t content_bytes; /* sum of regular file sizes */
        uint64_t entries;
        char diff_id[NK_DIGEST_LEN + 1];
};

/* Extract the (optionally gzip/zstd/xz/bzip2-compressed) tar read from
 * blob_fd into the directory dest_fd. When expected_diff_id is not NULL the
 * uncompressed stream must hash to it. */
int nk_layer_extract(int blob_fd, int dest_fd, const char *expected_diff_id,
                     const struct nk_layer_limits *lim, struct nk_layer_stats *st, nk_error **err);

/* The same, recording the tar's headers into rec (tarsplit.h) on the way. */
struct nk_split_rec;
int nk_layer_extract_rec(int blob_fd, int dest_fd, const char *expected_diff_id,
                         const struct nk_layer_limits *lim, struct nk_split_rec *rec,
                         struct nk_layer_stats *st, nk_error **err);

/* Decompress (if compressed) the stream from in_fd, handing the raw bytes to
 * sink. Also hashes them: *digest_out is the diff-id of a layer. */
typedef int (*nk_bytes_sink)(const void *buf, size_t len, void *data, nk_error **err);
int nk_layer_decompress(int in_fd, nk_bytes_sink sink, void *data,
                        char digest_out[NK_DIGEST_LEN + 1], nk_error **err);

/* Normalise a tar entry name into a relative path: leading `/` and `./`
 * and empty or `.` components dropped. Refuses `..` anywhere. "" is the
 * layer root. Caller frees *out. */
int nk_tar_clean_path(const char *name, char **out, nk_error **err);
