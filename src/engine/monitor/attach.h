/* nook engine — the attach protocol between a monitor and its clients
 * (`nook run` in the foreground, `start -a`, `attach`), over the unix
 * socket STORE/containers/<id>/attach. Both ways, frames of a 4-byte
 * header (type, 0, length as a little-endian u16) and `length` bytes:
 *   client -> monitor: 'i' stdin bytes, 'e' stdin closed, 'w' terminal
 *                      size (u16 rows, u16 cols), 's' a signal (u8) for
 *                      the init;
 *   monitor -> client: 'o' stdout bytes, 'r' stderr bytes, 'x' the exit
 *                      code (i32, -1 unknown), sent once the container is
 *                      done (stopped for good, removed with --rm);
 *                      'z' the container restarts (no payload).
 * Connecting to the socket is itself the request to attach; a monitor
 * started to wait for its first client starts the container only then. */
#pragma once
#include "util/error.h"
#include <stddef.h>
#include <stdint.h>

enum {
        NK_ATTACH_STDIN = 'i',
        NK_ATTACH_STDIN_EOF = 'e',
        NK_ATTACH_WINSIZE = 'w',
        NK_ATTACH_SIGNAL = 's',
        NK_ATTACH_STDOUT = 'o',
        NK_ATTACH_STDERR = 'r',
        NK_ATTACH_EXIT = 'x',
        NK_ATTACH_RESTART = 'z',
};
#define NK_ATTACH_MAX 65535

/* Write one whole frame (looping over short writes): 0 or -1 (errno). */
int nk_attach_send(int fd, int type, const void *data, size_t len);
/* Read one whole frame into buf (NK_ATTACH_MAX bytes): the type, with
 * *len set; 0 at a clean end of stream; -1 on error or a torn frame. */
int nk_attach_recv(int fd, void *buf, size_t *len);
/* Connect to / listen on `name` in the directory dfd (through
 * /proc/self/fd, so a long store path is no problem for sun_path). */
int nk_attach_connect(int dfd, const char *name, nk_error **err);
int nk_attach_listen(int dfd, const char *name, nk_error **err);
