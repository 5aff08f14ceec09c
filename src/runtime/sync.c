#include "sync.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static const char *sync_name(int t)
{
        switch (t) {
        case NK_SYNC_GO:
                return "GO";
        case NK_SYNC_PRESTART:
                return "PRESTART";
        case NK_SYNC_PRESTART_DONE:
                return "PRESTART_DONE";
        case NK_SYNC_CREATED:
                return "CREATED";
        case NK_SYNC_PID:
                return "PID";
        case NK_SYNC_ERROR:
                return "ERROR";
        default:
                return "?";
        }
}

static size_t min_sz(size_t a, size_t b)
{
        return a < b ? a : b;
}

static ssize_t send_iov(int fd, struct iovec *iov, int n, int flags)
{
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t r;
        do
                r = sendmsg(fd, &mh, flags | MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        return r;
}

/* The header with the first chunk as one record, then the rest in chunks. */
static int send_record(int fd, uint32_t type, int errno_, const void *data, size_t len, int flags)
{
        if (len > NK_SYNC_MAX) {
                errno = EMSGSIZE;
                return -1;
        }
        struct nk_sync_hdr h = {
                .magic = NK_SYNC_MAGIC, .type = type, .errno_ = errno_, .len = (uint32_t)len};
        size_t first = min_sz(len, NK_SYNC_CHUNK);
        struct iovec iov[2] = {{&h, sizeof h}, {(void *)data, first}};
        if (send_iov(fd, iov, first ? 2 : 1, flags) < 0)
                return -1;
        for (size_t off = first; off < len; off += NK_SYNC_CHUNK) {
                struct iovec part = {(char *)data + off, min_sz(len - off, NK_SYNC_CHUNK)};
                if (send_iov(fd, &part, 1, flags) < 0)
                        return -1;
        }
        return 0;
}

int nk_sync_send_data(int fd, enum nk_sync type, const void *data, size_t len, nk_error **err)
{
        if (send_record(fd, type, 0, data, len, 0) < 0)
                return nk_error_set(err, errno, "sync %s: send %zu bytes", sync_name(type), len);
        return 0;
}

int nk_sync_send_text(int fd, enum nk_sync type, const char *text, nk_error **err)
{
        return nk_sync_send_data(fd, type, text, text ? strlen(text) : 0, err);
}

int nk_sync_send(int fd, enum nk_sync type, nk_error **err)
{
        return nk_sync_send_data(fd, type, NULL, 0, err);
}

void nk_sync_send_error(int fd, const nk_error *e)
{
        const char *text = e ? e->msg : "unknown error";
        /* Never block: the receiver may sleep until we exit (nk_clone_vm). */
        (void)send_record(fd, NK_SYNC_ERROR, e ? e->errno_ : 0, text,
                          min_sz(strlen(text), NK_SYNC_ERROR_MAX), MSG_DONTWAIT);
}

/* One SEQPACKET record into buf: its length, 0 at EOF, -1 with errno. A
 * record larger than buf is an error (EMSGSIZE), never silently cut.
 * ECONNRESET is read past, once: a peer that exits with our last message
 * unread in its queue (a child failing before it took GO) leaves that
 * error on our socket, and the kernel reports it before the records still
 * queued for us (the child's error record among them), then clears it. */
static ssize_t recv_one(int fd, void *buf, size_t cap)
{
        struct iovec iov = {buf, cap};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;
        bool reset = false;
        for (;;) {
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
                if (n >= 0 || (errno != EINTR && (errno != ECONNRESET || reset)))
                        break;
                reset = reset || errno == ECONNRESET;
        }
        if (n > 0 && (mh.msg_flags & MSG_TRUNC)) {
                errno = EMSGSIZE;
                return -1;
        }
        return n;
}

struct record {
        uint32_t type;
        int errno_;
        char *data; /* NUL-terminated */
        size_t len;
};

static int recv_rest(int fd, const char *what, struct record *r, size_t got, nk_error **err)
{
        while (got < r->len) {
                ssize_t n = recv_one(fd, r->data + got, min_sz(r->len - got, NK_SYNC_CHUNK));
                if (n < 0)
                        return nk_error_set(err, errno, "sync %s: receive", what);
                if (n == 0)
                        return nk_error_set(err, EPROTO,
                                            "sync %s: message cut short after %zu of %zu bytes",
                                            what, got, r->len);
                got += (size_t)n;
        }
        r->data[r->len] = '\0';
        return 0;
}

/* One message: 1, or 0 at EOF (the other side closed or exec'd); an error
 * record becomes *err (-1) with its errno and text. */
static int recv_record(int fd, const char *what, struct record *r, nk_error **err)
{
        _cleanup_free_ char *first = malloc(sizeof(struct nk_sync_hdr) + NK_SYNC_CHUNK);
        if (!first)
                return nk_error_set(err, ENOMEM, "sync %s", what);
        ssize_t n = recv_one(fd, first, sizeof(struct nk_sync_hdr) + NK_SYNC_CHUNK);
        if (n < 0)
                return nk_error_set(err, errno, "sync %s: receive", what);
        if (n == 0)
                return 0;
        struct nk_sync_hdr h;
        if ((size_t)n < sizeof h)
                return nk_error_set(err, EPROTO, "sync %s: truncated record of %zd bytes", what, n);
        memcpy(&h, first, sizeof h);
        size_t got = (size_t)n - sizeof h;
        if (h.magic != NK_SYNC_MAGIC)
                return nk_error_set(err, EPROTO, "sync %s: garbage record (magic 0x%08x)", what,
                                    h.magic);
        if (h.len > NK_SYNC_MAX || got > h.len || (got < h.len && got < NK_SYNC_CHUNK))
                return nk_error_set(err, EPROTO, "sync %s: bad record length %u (%zu in the first)",
                                    what, h.len, got);
        *r = (struct record){.type = h.type,
                             .errno_ = h.errno_,
                             .len = h.len,
                             .data = malloc((size_t)h.len + 1)};
        if (!r->data)
                return nk_error_set(err, ENOMEM, "sync %s", what);
        memcpy(r->data, first + sizeof h, got);
        if (recv_rest(fd, what, r, got, err) < 0) {
                free(r->data);
                return -1;
        }
        if (r->type == NK_SYNC_ERROR) {
                nk_error_set(err, r->errno_, "%s", r->len ? r->data : "unknown error");
                free(r->data);
                return -1;
        }
        return 1;
}

int nk_sync_expect_data(int fd, enum nk_sync want, char **data, size_t *len, nk_error **err)
{
        struct record r;
        int n = recv_record(fd, sync_name(want), &r, err);
        if (n < 0)
                return -1;
        if (n == 0)
                return nk_error_set(err, EPIPE, "container init exited before sync %s",
                                    sync_name(want));
        _cleanup_free_ char *d = r.data;
        if (r.type != (uint32_t)want)
                return nk_error_set(err, EPROTO, "sync: expected %s, got %s", sync_name(want),
                                    sync_name((int)r.type));
        if (len)
                *len = r.len;
        if (data)
                *data = TAKE_PTR(d);
        return 0;
}

int nk_sync_expect_text(int fd, enum nk_sync want, char **text, nk_error **err)
{
        return nk_sync_expect_data(fd, want, text, NULL, err);
}

int nk_sync_expect(int fd, enum nk_sync want, nk_error **err)
{
        return nk_sync_expect_data(fd, want, NULL, NULL, err);
}

int nk_sync_expect_eof(int fd, const char *what, nk_error **err)
{
        struct record r;
        int n = recv_record(fd, what, &r, err);
        if (n <= 0)
                return n;
        free(r.data);
        return nk_error_set(err, EPROTO, "sync %s: unexpected %s", what, sync_name((int)r.type));
}

int nk_sync_take_error(int fd, nk_error **out)
{
        struct record r = {0};
        nk_error *e = NULL;
        int n = recv_record(fd, "ERROR", &r, &e);
        if (n > 0)
                free(r.data);
        if (n < 0 && r.type == NK_SYNC_ERROR) {
                *out = e;
                return 1;
        }
        nk_error_free(e);
        return 0;
}
