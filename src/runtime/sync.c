#include "sync.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char *sync_name(int t)
{
        switch (t) {
        case NK_SYNC_GO: return "GO";
        case NK_SYNC_PRESTART: return "PRESTART";
        case NK_SYNC_PRESTART_DONE: return "PRESTART_DONE";
        case NK_SYNC_CREATED: return "CREATED";
        case NK_SYNC_PID: return "PID";
        case NK_SYNC_ERROR: return "ERROR";
        default: return "?";
        }
}

int nk_sync_send_text(int fd, enum nk_sync type, const char *text, nk_error **err)
{
        struct nk_sync_msg m = {.type = type};
        if (text)
                snprintf(m.text, sizeof m.text, "%s", text);
        size_t len = offsetof(struct nk_sync_msg, text) + strlen(m.text) + 1;
        if (send(fd, &m, len, MSG_NOSIGNAL) < 0)
                return nk_error_set(err, errno, "sync %s: send", sync_name(type));
        return 0;
}

int nk_sync_send(int fd, enum nk_sync type, nk_error **err)
{
        return nk_sync_send_text(fd, type, NULL, err);
}

void nk_sync_send_error(int fd, const nk_error *e)
{
        struct nk_sync_msg m = {.type = NK_SYNC_ERROR, .errno_ = e ? e->errno_ : 0};
        snprintf(m.text, sizeof m.text, "%s", e ? e->msg : "unknown error");
        (void)send(fd, &m, offsetof(struct nk_sync_msg, text) + strlen(m.text) + 1, MSG_NOSIGNAL);
}

/* One record: 1, or 0 at EOF (the other side closed or exec'd); an error
 * record becomes *err (-1) with its errno and text. */
static int recv_record(int fd, const char *what, struct nk_sync_msg *m, nk_error **err)
{
        ssize_t n;
        do
                n = recv(fd, m, sizeof *m, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return nk_error_set(err, errno, "sync %s: receive", what);
        if (n == 0)
                return 0;
        if ((size_t)n < offsetof(struct nk_sync_msg, text) + 1)
                return nk_error_set(err, EPROTO, "sync %s: short message", what);
        m->text[sizeof m->text - 1] = '\0';
        if (m->type == NK_SYNC_ERROR)
                return nk_error_set(err, m->errno_, "%s", m->text);
        return 1;
}

int nk_sync_expect_text(int fd, enum nk_sync want, char **text, nk_error **err)
{
        struct nk_sync_msg m;
        int r = recv_record(fd, sync_name(want), &m, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return nk_error_set(err, EPIPE, "container init exited before sync %s",
                                    sync_name(want));
        if (m.type != (int)want)
                return nk_error_set(err, EPROTO, "sync: expected %s, got %s", sync_name(want),
                                    sync_name(m.type));
        if (text && !(*text = strdup(m.text)))
                return nk_error_set(err, ENOMEM, "sync");
        return 0;
}

int nk_sync_expect(int fd, enum nk_sync want, nk_error **err)
{
        return nk_sync_expect_text(fd, want, NULL, err);
}

int nk_sync_expect_eof(int fd, const char *what, nk_error **err)
{
        struct nk_sync_msg m;
        int r = recv_record(fd, what, &m, err);
        if (r <= 0)
                return r;
        return nk_error_set(err, EPROTO, "sync %s: unexpected %s", what, sync_name(m.type));
}
