#include "engine/layer_pipe.h"
#include "engine/tarsplit.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void pipe_fail(struct nk_pipe *p, int e, const char *msg)
{
        if (p->err_msg)
                return;
        p->err_errno = e;
        p->err_msg = strdup(msg ? msg : "read error");
}

int nk_pipe_open(struct nk_pipe *p, int fd, uint64_t limit, nk_error **err)
{
        memset(p, 0, offsetof(struct nk_pipe, buf));
        p->limit = limit;
        p->raw = archive_read_new();
        if (!p->raw)
                return nk_error_set(err, ENOMEM, "libarchive");
        /* Only built-in decoders: support_filter_all would also allow
         * filters that run external programs. */
        archive_read_support_filter_gzip(p->raw);
        archive_read_support_filter_zstd(p->raw);
        archive_read_support_filter_xz(p->raw);
        archive_read_support_filter_bzip2(p->raw);
        archive_read_support_format_raw(p->raw);
        archive_read_support_format_empty(p->raw);
        if (nk_sha256_init(&p->h, err) < 0)
                return -1;
        struct archive_entry *e;
        if (archive_read_open_fd(p->raw, fd, 128 * 1024) != ARCHIVE_OK)
                return nk_error_set(err, nk_archive_errno(p->raw), "decompress: %s",
                                    archive_error_string(p->raw));
        int r = archive_read_next_header(p->raw, &e);
        if (r == ARCHIVE_EOF)
                p->eof = true;
        else if (r < ARCHIVE_WARN)
                return nk_error_set(err, nk_archive_errno(p->raw), "decompress: %s",
                                    archive_error_string(p->raw));
        return 0;
}

ssize_t nk_pipe_next(struct nk_pipe *p)
{
        if (p->err_msg)
                return -1;
        if (p->eof)
                return 0;
        la_ssize_t n = archive_read_data(p->raw, p->buf, sizeof(p->buf));
        if (n < 0) {
                const char *m = archive_error_string(p->raw);
                char msg[512];
                snprintf(msg, sizeof(msg), "decompress: %s", m ? m : "read error");
                pipe_fail(p, nk_archive_errno(p->raw), msg);
                return -1;
        }
        if (n == 0) {
                p->eof = true;
                return 0;
        }
        p->total += (uint64_t)n;
        if (p->total > p->limit) {
                char msg[128];
                snprintf(msg, sizeof(msg), "uncompressed size exceeds the limit of %llu bytes",
                         (unsigned long long)p->limit);
                pipe_fail(p, 0, msg);
                return -1;
        }
        nk_sha256_update(&p->h, p->buf, (size_t)n);
        if (p->split)
                nk_split_rec_feed(p->split, p->buf, (size_t)n);
        return n;
}

la_ssize_t nk_pipe_read_cb(struct archive *a, void *data, const void **buf)
{
        struct nk_pipe *p = data;
        ssize_t n = nk_pipe_next(p);
        if (n < 0) {
                archive_set_error(a, p->err_errno, "%s", p->err_msg);
                return -1;
        }
        *buf = p->buf;
        return n;
}

int nk_pipe_drain(struct nk_pipe *p, nk_error **err)
{
        ssize_t n;
        while ((n = nk_pipe_next(p)) > 0)
                ;
        if (n < 0)
                return nk_error_set(err, p->err_errno, "%s", p->err_msg);
        return 0;
}

void nk_pipe_close(struct nk_pipe *p)
{
        if (p->raw)
                archive_read_free(p->raw);
        p->raw = NULL;
        nk_sha256_free(&p->h);
        free(p->err_msg);
        p->err_msg = NULL;
}
