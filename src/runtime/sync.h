/* nook — the parent <-> container init protocol over a SOCK_SEQPACKET
 * socketpair. Each message is one record {type, errno, text}. The points
 * come in this order; each side checks it got the one it expects, and a
 * SYNC_ERROR from the child is rebuilt into an nk_error in the parent. */
#pragma once
#include "util/error.h"

enum nk_sync {
        NK_SYNC_GO = 1,          /* parent: id maps written, cgroup entered */
        NK_SYNC_PRESTART,        /* child: mounts done; run prestart/createRuntime */
        NK_SYNC_PRESTART_DONE,   /* parent: hooks ran; carry on to pivot_root */
        NK_SYNC_CREATED,         /* child: set up, about to wait for `start` */
        NK_SYNC_PID,             /* child: the process that goes on in the container's
                                    pid namespace is this pid (text); in create it
                                    waits for GO */
        NK_SYNC_ERROR = 99,      /* either side: errno + message, then exit */
};

struct nk_sync_msg {
        int type;
        int errno_;
        char text[4000];
};

int nk_sync_send(int fd, enum nk_sync type, nk_error **err);
/* Send an error record built from e (child side, best effort). */
void nk_sync_send_error(int fd, const nk_error *e);
/* Wait for `want`. A SYNC_ERROR record becomes *err with its errno and text;
 * EOF means the other side died. */
int nk_sync_expect(int fd, enum nk_sync want, nk_error **err);
/* Send a blob (e.g. the state JSON) as a NK_SYNC_* message's text. */
int nk_sync_send_text(int fd, enum nk_sync type, const char *text, nk_error **err);
int nk_sync_expect_text(int fd, enum nk_sync want, char **text, nk_error **err);
/* Wait for the other side to close its end (its close-on-exec copy goes at
 * execve): 0 on EOF; an error record becomes *err. */
int nk_sync_expect_eof(int fd, const char *what, nk_error **err);
