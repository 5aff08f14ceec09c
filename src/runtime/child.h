/* nook — the container init between clone and execve. */
#pragma once
#include "container.h"
#include "finalize.h"
#include "namespaces.h"
#include "rootfs.h"
#include "security.h"

/* How the init gets from clone to the container's process; create
 * chooses it once (container.c, choose_init_mode). */
enum nk_init_mode {
        /* nook's binary is protected already: the init stays nook until
         * start and execs the process itself. */
        NK_INIT_EXEC,
        /* At CREATED the init execs nook-init (init_fd), which waits for
         * start; the parent drives the syncs on the way as usual. */
        NK_INIT_HAND_OVER,
        /* Hand over, and nothing for the parent to do on the way: cloned
         * vfork-style, no syncs before nook-init (the parent sleeps). */
        NK_INIT_DIRECT,
};

struct nk_child_ctx {
        const struct nk_spec *spec;
        const struct nk_create_opts *opts;
        const char *rootfs; /* absolute host path */
        const char *cgroup_path;
        const struct nk_rplan *plan; /* the mounts, planned by the parent; or NULL */
        int sync_fd;                 /* our end of the sync socketpair */
        int start_fd;                /* listening exec.sock; `start` connects */
        int start_conn;              /* the accepted `start` connection, or -1 */
        int console_fd;              /* where the pty master goes, or -1 */
        struct nk_ns_fds ns;         /* joined namespaces */
        struct nk_seccomp *seccomp;
        const int *cg_fds; /* see nk_cgroup_self_enter() */
        size_t n_cg_fds;
        const int *mount_trees;    /* see nk_rootfs_bind_trees(), or NULL */
        const bool *trees_in_init; /* ditto: their sources come before GO */
        char *state_json;          /* received at PRESTART_DONE */
        char *exec_path;           /* args[0] resolved inside the container */
        char **env;                /* process.env with HOME (see nk_process_home_env) */
        int init_fd;               /* sealed nook-init to hand over to (not
                                      NK_INIT_EXEC), or -1 */
        int life_fd;               /* our end of the creator's life socket: a
                                      byte once it recorded us, EOF if it died */
        enum nk_init_mode mode;
        bool late_pid;          /* a joined pid namespace: the init proper is
                                   cloned into it after pivot_root */
        bool seccomp_loaded;    /* the filter is on already (late_pid) */
        struct nk_finalize fin; /* late_pid: the last steps (finalize.h) */
};

/* The rootfs options the init uses (without its callbacks): the parent
 * plans the mounts with the same ones. */
void nk_child_rootfs_opts(const struct nk_spec *spec, const struct nk_create_opts *o,
                          const char *cgroup_path, const int *mount_trees,
                          struct nk_rootfs_opts *ro);

/* Never returns: execs the process or exits non-zero after sending the
 * error to the parent. */
__attribute__((noreturn)) void nk_child_main(struct nk_child_ctx *c);
