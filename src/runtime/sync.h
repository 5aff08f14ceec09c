/* nook — the parent <-> container init protocol over a SOCK_SEQPACKET
 * socketpair (and the failure record on exec.sock). Each message is a
 * header {type, errno, length} and a payload of any length (sync_wire.h).
 * The points come in this order; each side checks it got the one it
 * expects, and a SYNC_ERROR record is rebuilt into an nk_error on the
 * receiving side. */
#pragma once
#include "sync_wire.h"
#include "util/error.h"
#include <stddef.h>

enum nk_sync {
        NK_SYNC_GO = 1,                     /* parent: id maps written, cgroup entered */
        NK_SYNC_PRESTART,                   /* child: mounts done; run prestart/createRuntime */
        NK_SYNC_PRESTART_DONE,              /* parent: hooks ran; carry on to pivot_root */
        NK_SYNC_CREATED,                    /* child: set up, about to wait for `start` */
        NK_SYNC_PID,                        /* child: the process that goes on in the container's
                                               pid namespace is this pid (text); in create it
                                               waits for GO */
        NK_SYNC_ERROR = NK_SYNC_ERROR_TYPE, /* either side: errno + message, then exit */
};

/* The largest payload a receiver accepts (a garbage length is refused,
 * not allocated). */
#define NK_SYNC_MAX ((size_t)64 << 20)

int nk_sync_send(int fd, enum nk_sync type, nk_error **err);
/* Send an error record built from e (best effort, never blocks: the text is
 * cut to NK_SYNC_ERROR_MAX bytes so it is one record). */
void nk_sync_send_error(int fd, const nk_error *e);
/* Wait for `want`. A SYNC_ERROR record becomes *err with its errno and text;
 * EOF means the other side died. */
int nk_sync_expect(int fd, enum nk_sync want, nk_error **err);
/* Send a blob (e.g. the state JSON) of any size as a NK_SYNC_* message. */
int nk_sync_send_data(int fd, enum nk_sync type, const void *data, size_t len, nk_error **err);
int nk_sync_send_text(int fd, enum nk_sync type, const char *text, nk_error **err);
/* Receive `want` with its payload, NUL-terminated (*len without the NUL). */
int nk_sync_expect_data(int fd, enum nk_sync want, char **data, size_t *len, nk_error **err);
int nk_sync_expect_text(int fd, enum nk_sync want, char **text, nk_error **err);
/* After a send failed because the other side is gone (EPIPE): the error
 * record it sent before it went, if any, as *out (1); else 0. Never
 * blocks on a closed peer. */
int nk_sync_take_error(int fd, nk_error **out);
/* Wait for the other side to close its end (its close-on-exec copy goes at
 * execve): 0 on EOF; an error record becomes *err. */
int nk_sync_expect_eof(int fd, const char *what, nk_error **err);
