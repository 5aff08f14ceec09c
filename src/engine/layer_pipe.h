/* A decompressing, hashing, size-bounded byte stream over a blob fd, fed to
 * a second libarchive reader (the tar parser) through its read callback, so
 * the diff-id is computed in the same pass as the extraction. */
#pragma once
#include "engine/digest.h"
#include <archive.h>
#include <errno.h>

/* libarchive's errno when it is a system error worth showing: format
 * errors come as EILSEQ (ARCHIVE_ERRNO_FILE_FORMAT) or -1, which would only
 * add a misleading strerror text to the message. */
static inline int nk_archive_errno(struct archive *a)
{
        int e = archive_errno(a);
        return e > 0 && e != EILSEQ ? e : 0;
}

struct nk_split_rec;
struct nk_pipe {
        struct archive *raw;
        struct nk_split_rec *split; /* sees every uncompressed byte, or NULL */
        struct nk_sha256 h;
        uint64_t total, limit;
        bool eof;
        int err_errno;
        char *err_msg; /* first failure on the raw side */
        char buf[128 * 1024];
};

int nk_pipe_open(struct nk_pipe *p, int fd, uint64_t limit, nk_error **err);
/* Next chunk: >0 bytes at p->buf, 0 at the end, -1 with err_msg set. */
ssize_t nk_pipe_next(struct nk_pipe *p);
/* libarchive read callback over nk_pipe_next (client data: the pipe). */
la_ssize_t nk_pipe_read_cb(struct archive *a, void *data, const void **buf);
/* Read to the end (trailing tar blocks still count in the digest). */
int nk_pipe_drain(struct nk_pipe *p, nk_error **err);
void nk_pipe_close(struct nk_pipe *p);
