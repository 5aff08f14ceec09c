/* nook — starting a process in a container, parent side: the one launch
 * path of create/run (the init, container.c) and exec (the joiner,
 * exec.c). The channels to the child, its clone (direct, sharing our
 * memory, or a fork), the hand-over of a pid from a process that set the
 * new one up and exits, the pid file, and the foreground wait with its
 * signal forwarding and terminal relay. The child's side of the last
 * steps is finalize.h. */
#pragma once
#include "sync.h"
#include "util/error.h"
#include "util/proc.h"
#include <stdbool.h>
#include <sys/types.h>

struct nk_cgroup;

/* Every fd is -1 when not held. */
struct nk_launch {
        int sync_fd;           /* our end of the sync socketpair (sync.h) */
        int child_sync_fd;     /* the child's end, closed by nk_launch_clone */
        int console_fd;        /* where the child sends the pty master, or -1 */
        int console_parent_fd; /* foreground, no --console-socket: ours */
        pid_t pid;             /* the process started, 0 until known */
        int pidfd;             /* its pidfd, or -1 */
        bool direct;           /* cloned sharing our memory (nk_clone_vm) */
};

void nk_launch_init(struct nk_launch *l);
/* Close whatever is still open (never kills: see nk_launch_kill). */
void nk_launch_close(struct nk_launch *l);
/* SIGKILL the process started, if any, and reap it. */
void nk_launch_kill(struct nk_launch *l);

/* The sync socketpair and, for a terminal, the console channel: a
 * connection to console_socket, else (a foreground run) a socketpair whose
 * other end comes back to us. */
int nk_launch_channels(struct nk_launch *l, bool terminal, const char *console_socket,
                       nk_error **err);

/* Clone fn(arg): sharing our memory when `try_direct` and this kernel and
 * build can (nk_clone_vm: we sleep until it exec'd or exited), else a
 * fork-style nk_clone; l->direct says which. fn never returns. Then our
 * copies of the child's ends (child_sync_fd, console_fd) are closed, and a
 * clone(2) fallback without CLONE_INTO_CGROUP moves the child into `cg`
 * (when co->cgroup_fd says it should have gone there). The pid is
 * returned; l->pid/l->pidfd are the caller's to set (the clone may only be
 * a middle process, nk_launch_take_pid). */
pid_t nk_launch_clone(struct nk_launch *l, struct nk_clone_opts *co, void (*fn)(void *), void *arg,
                      bool try_direct, struct nk_cgroup *cg, nk_error **err);

/* A send to the child failed (*err): when it failed because the child is
 * gone, the error record the child sent before it went replaces *err, so
 * the user reads why it died rather than "Broken pipe". Returns -1. */
int nk_launch_send_failed(struct nk_launch *l, nk_error **err);
/* A sync message to the child (text may be NULL), nk_launch_send_failed
 * on failure. */
int nk_launch_send(struct nk_launch *l, enum nk_sync type, const char *text, nk_error **err);

/* The process a middle one cloned into the container's pid namespace
 * (nk_ns_enter_pid_last, sync PID) becomes l->pid, with its pidfd (any
 * earlier l->pidfd, the middle's, is closed). The middle is reaped (killed
 * first if the report failed) and its exit code left in *middle_code.
 * `report_follows`: the middle reports only once the new process exec'd
 * or exited (exec's joiner), so after an error record the pid may still
 * follow; it is taken too, for the caller to reap. */
int nk_launch_take_pid(struct nk_launch *l, pid_t middle, bool report_follows, int *middle_code,
                       nk_error **err);

/* --pid-file: the pid, written atomically (a relative path against our
 * cwd). NULL path: nothing. */
int nk_launch_write_pid_file(const char *path, pid_t pid, nk_error **err);

/* A foreground run or exec: the signals a terminal would send go to the
 * process (SIGWINCH resizes the pty), the pty master is taken from
 * console_parent_fd and relayed to our terminal, and we wait for the
 * process. `sync_size`: give the pty our terminal's size first (before
 * `start` lets the process look). `start`, if any, runs once the master is
 * here; its failure ends the wait before it began. *exit_code is the
 * process's, shell style; l->pid is 0 after (reaped). */
struct nk_launch_fg {
        bool sync_size;
        int (*start)(void *arg, nk_error **err);
        void *start_arg;
};
int nk_launch_foreground(struct nk_launch *l, const struct nk_launch_fg *fg, int *exit_code,
                         nk_error **err);
