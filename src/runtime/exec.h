/* nook — exec: a new process in a running container's namespaces, cgroup
 * and security context. */
#pragma once
#include <jansson.h>
#include <stdbool.h>

#include "util/error.h"

struct nk_container;

struct nk_exec_opts {
        json_t *process; /* OCI process object (owned by caller) */
        const char *console_socket;
        const char *pid_file;
        const char *cgroup_sub; /* crun --cgroup SUBPATH */
        bool detach;
        bool ignore_paused;
        int preserve_fds;
};

/* Builds the process object for `exec ID ARGS...` from the container's
 * config.json process, as runc does. Caller owns the result. */
json_t *nk_exec_process_from_config(const struct nk_container *c);

/* A process in the container of the handle `c` (nk_container_open).
 * Foreground: waits and sets *exit_code; detached: returns once exec'd. */
int nk_container_exec(struct nk_container *c, const struct nk_exec_opts *o, int *exit_code,
                      nk_error **err);
