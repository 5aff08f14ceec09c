/* nook — terminals. The container's pty is made inside the container (its
 * devpts), the slave becomes its controlling terminal and stdio, and the
 * master travels over a unix socket with SCM_RIGHTS (--console-socket, as
 * runc does) or to nook itself for a foreground run, which relays it. */
#pragma once
#include "spec.h"
#include <stdbool.h>

/* Child: open a pty, size it, make the slave the controlling tty and
 * stdio, send the master over `sock`. */
int nk_terminal_setup_child(const struct nk_process *p, int sock, nk_error **err);
/* The same in two steps, for exec: a pty of the current /dev/ptmx, sized,
 * its slave made stdio and its master sent over `sock`, by a process that
 * then forks the one that runs; that one takes stdin as its controlling
 * terminal in a session of its own (a session leader's ctty goes with it,
 * so it must lead the session). */
int nk_terminal_open_stdio(const struct nk_process *p, int sock, nk_error **err);
int nk_terminal_take_stdin(nk_error **err);
/* Send / receive one fd with SCM_RIGHTS. */
int nk_send_fd(int sock, int fd, const char *name, nk_error **err);
int nk_recv_fd(int sock, nk_error **err);
/* Connect to a unix socket path (SOCK_STREAM). */
int nk_unix_connect(const char *path, nk_error **err);
/* Give the pty behind `master` our terminal's size (if stdin is one).
 * Called before the process starts, so it never sees a 0x0 terminal. */
void nk_terminal_sync_size(int master);
/* The foreground `run` loop until the process behind `pidfd` exits:
 * signals read from `sigfd` are forwarded to it (SIGWINCH resizes the pty);
 * with a pty `master` (>= 0) bytes are relayed both ways, our terminal is in
 * raw mode meanwhile and restored on return. */
int nk_foreground_loop(int master, int pidfd, int sigfd);
