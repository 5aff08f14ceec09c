/* nook — container lifecycle (OCI runtime operations). No printing, no exit. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>
#include "spec.h"
#include "state.h"

struct nk_create_opts {
        const char *root;            /* --root */
        const char *id;
        const char *bundle;          /* NULL = cwd */
        const char *pid_file;
        const char *console_socket;
        bool no_pivot;
        bool no_new_keyring;
        int preserve_fds;            /* fds 3 .. 3+N-1 pass to the container */
        bool systemd_cgroup;
        bool no_cgroup;              /* --cgroup-manager disabled: no cgroup at all */
        const char *config;          /* --config FILE instead of BUNDLE/config.json */
        /* for run: */
        bool detach;
        bool keep;                   /* run: don't delete after exit */
};

/* create: the init waits for `start`. */
int nk_container_create(const struct nk_create_opts *o, nk_error **err);
/* start: release the init to exec, run poststart hooks. */
int nk_container_start(const char *root, const char *id, nk_error **err);
/* run: create + start; in the foreground wait for the process, forward
 * signals, relay the terminal, delete (unless keep), and set *exit_code. */
int nk_container_run(const struct nk_create_opts *o, int *exit_code, nk_error **err);
int nk_container_kill(const char *root, const char *id, int sig, bool all, nk_error **err);
int nk_container_delete(const char *root, const char *id, bool force, nk_error **err);
/* Parse "KILL", "SIGKILL", "9" -> 9; -1 if unknown. */
int nk_signal_parse(const char *s);

/* Internal, shared by container.c and child.c. */
struct nk_child_ctx;
