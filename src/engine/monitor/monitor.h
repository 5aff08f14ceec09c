/* nook engine — the per-container monitor (see docs/engine.md).
 *
 * Started by `nook run/start` as `nook monitor ...`, exec'd fresh and
 * detached. Set-up (in a child of the monitor, or in the monitor itself
 * for a restart): create the OCI container (the monitor ends up its
 * init's parent), own its stdio, listen for attach, start it; a failure there is
 * reported as one line on the status fd ("error CODE TEXT\n", CODE 125,
 * 126 or 127) and the monitor exits. Then "ok PID\n" and the loop, which
 * never ends on a recoverable error: log lines, attach clients, the
 * init's exit (recorded atomically), the restart policy, --rm. */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stdint.h>

enum nk_monitor_restart {
        NK_MON_RESTART_NO,
        NK_MON_RESTART_ON_FAILURE,
        NK_MON_RESTART_ALWAYS,
        NK_MON_RESTART_UNLESS_STOPPED
};

struct nk_monitor_handoff;

struct nk_monitor_opts {
        const char *store, *root, *id;
        const char *name; /* released with --rm */
        bool tty, stdin_open, rm;
        bool wait_attach; /* start only once the first client connected */
        /* start only once the starter sends "g" on status_fd (a socket):
         * `nook run` readies the container's network meanwhile; the
         * starter gone without it, the creation is undone */
        bool gate;
        bool systemd_cgroup, no_cgroup;
        enum nk_monitor_restart restart;
        int restart_max;      /* on-failure:N, 0 unlimited */
        int64_t log_max_size; /* bytes, 0 unlimited */
        int log_max_file;     /* files kept with rotation, >= 1 */
        int status_fd;        /* the starter's pipe, -1 none */
        int record_pid;       /* the pid set-up writes to `monitor`, 0: its own */
        /* The rootfs overlay the starter made (a detached mount), for the
         * first create; -1: made here, as for every restart. */
        int rootfs_fd;
        char **argv; /* the whole command line (nk_self_exe_guard's re-exec) */
        /* Called by the loop after a restart (which ran the runtime's
         * create, spec parsing and all, in this process): may exec a fresh
         * image that goes on with nk_monitor_loop(h); returns if it did
         * not. NULL: the loop goes on as it is. */
        void (*fresh)(const struct nk_monitor_handoff *h, void *arg);
        void *fresh_arg;
        /* --rm, done for good: the container's networks go (before its
         * record and its clients are told), NULL: none. */
        void (*net_down)(const char *store, const char *root, const char *id);
        /* --rm with net_down, once the init runs: loads what net_down
         * needs (the networking module) while the container runs rather
         * than after it exited, when `nook run` waits for the exit code.
         * NULL: nothing. */
        void (*net_warm)(const char *store, const char *id);
};

/* What set-up hands to the loop: over a socket from set-up's process
 * (nk_monitor_setup_apart), or to a fresh image of the binary after a
 * restart (exec'd with these fds kept: the heap the create grew is gone,
 * and the init stays our child, exec keeping the PID). */
#define NK_MONITOR_CLIENTS 16
struct nk_monitor_handoff {
        int pid, restarts;
        int pidfd, out_fd, err_fd, in_fd, listen_fd, log_fd, dfd; /* -1 when none */
        int clients[NK_MONITOR_CLIENTS];                          /* attached, -1 free */
};

/* Set-up: 0 with *h filled (status "ok" reported, status fd closed), or
 * the exit code (the error reported). */
int nk_monitor_setup(const struct nk_monitor_opts *o, struct nk_monitor_handoff *h);
/* The same set-up in a child process that hands its result over and
 * exits: the caller (a child subreaper from then on, so the init becomes
 * its child) keeps the small image it had, with no exec to shed what
 * set-up grew. Returns as nk_monitor_setup. */
int nk_monitor_setup_apart(const struct nk_monitor_opts *o, struct nk_monitor_handoff *h);
/* The loop, until the container is done for good; returns 0. */
int nk_monitor_loop(const struct nk_monitor_opts *o, const struct nk_monitor_handoff *h);
