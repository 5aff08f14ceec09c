/* nook — the container's filesystem view, set up inside the new mount
 * namespace by the container init (child) before the user switch.
 *
 * nk_rootfs_setup_child() does, in order: make / private-recursive (or the
 * rootfsPropagation type), bind the rootfs on itself (or attach the
 * caller's detached rootfs mount on it), every spec mount in
 * order with destinations resolved inside the rootfs (never following a
 * symlink out of it), /dev (default devices, spec devices, /dev symlinks,
 * devpts ptmx), pivot_root (or chroot for --no-pivot), maskedPaths,
 * readonlyPaths, root.readonly, rootfsPropagation. */
#pragma once
#include "spec.h"
#include <stdbool.h>

struct nk_rplan;

struct nk_rootfs_opts {
        bool no_pivot;
        bool in_userns;          /* a new user namespace: devices are bind-mounted from the host */
        bool new_cgroupns;       /* a new cgroup namespace: mount cgroupfs fresh, else bind */
        const char *cgroup_path; /* the container's cgroup (nk_cgroup_path_for) */
        /* Called once all spec mounts and /dev are in place, right before
         * pivot_root (or chroot): the lead runs the prestart/createRuntime
         * sync with the parent, sysctl, and the createContainer hooks there,
         * which the spec places after mounts and before pivot_root.
         * NULL = nothing to call. A -1 return aborts setup with its error. */
        int (*before_pivot)(void *data, nk_error **err);
        void *before_pivot_data;
        /* Per spec mount, the detached tree nk_rootfs_bind_trees() made
         * for a bind mount (idmapped, or in a user namespace), or -1. NULL: none. */
        const int *mount_trees;
        /* The plan nk_rootfs_plan() made in the parent, or NULL: planned
         * here then. */
        const struct nk_rplan *plan;
        /* > 0: procfs is mounted for this pid namespace (procfs's pidns=
         * option) instead of the mounter's: the init sets up the rootfs
         * outside a joined pid namespace. */
        int proc_pidns_fd;
        /* > 0: the container's root filesystem as a detached mount
         * (nk_create_opts.rootfs_mount_fd), attached on the rootfs
         * directory in the new mount namespace instead of binding that
         * directory on itself. */
        int rootfs_mount_fd;
};

/* The whole sequence of mount operations, planned by the runtime before
 * the clone (a bad mount option fails there, before any process exists;
 * the init inherits the plan and only runs it). `opts` as the init will
 * pass them; `cg`: the container's cgroup, opened just before the clone
 * (a new mount namespace starts as a copy of ours): its cgroup mounts are
 * planned from the hierarchies it found and the directories it made, so
 * the container sees the cgroup it was put in. */
struct nk_cgroup;
int nk_rootfs_plan(const struct nk_spec *spec, const char *rootfs,
                   const struct nk_rootfs_opts *opts, const struct nk_cgroup *cg,
                   struct nk_rplan **out, nk_error **err);
void nk_rootfs_plan_free(struct nk_rplan *plan);

/* In the runtime (host user namespace, before the init is cloned), a
 * detached clone (open_tree OPEN_TREE_CLONE) of the bind source of:
 * - every mount with idmap/ridmap or its own uid/gidMappings, id-mapped
 *   through a user namespace with the mount's mappings (or the container's
 *   when the mount has none): a process inside a new user namespace may not
 *   id-map host mounts;
 * - every other bind mount when the container has a user namespace and
 *   no host mount lies below the source: it is looked up with the
 *   runtime's credentials, so one below a root-only host directory works,
 *   as with runc (mounts below a source must stay locked, which only the
 *   init's own clone gives: those sources are left to the init).
 * - with a new user and mount namespace, every other bind mount with a
 *   host mount below its source: (*in_init)[i] is set and (*trees)[i] is
 *   a placeholder fd; after the clone the runtime opens the source in the
 *   init's mount namespace (nk_rootfs_open_source_in), where the kernel
 *   has locked the mounts below it, and sends it over the sync socket;
 *   the init clones it onto the placeholder (nk_rootfs_clone_source_fd).
 * The init attaches them with move_mount. *trees gets spec->n_mounts fds
 * (-1 where nothing is needed), or NULL when no mount needs one; *in_init
 * is NULL with it. */
int nk_rootfs_bind_trees(const struct nk_spec *spec, int **trees, bool **in_init, nk_error **err);
/* Mount i's bind source opened O_PATH below `rootfd` (the init's root,
 * /proc/PID/root: RESOLVE_IN_ROOT, no magic links), with our credentials. */
int nk_rootfs_open_source_in(const struct nk_spec *spec, size_t i, int rootfd, nk_error **err);
/* In the init: clone mount i's source fd `src` (recursively for rbind),
 * give it the mounts' propagation, and dup it onto `slot`. */
int nk_rootfs_clone_source_fd(const struct nk_spec *spec, size_t i, int src, int slot,
                              nk_error **err);
void nk_rootfs_trees_close(int *trees, size_t n);

/* Without a mount namespace of its own: make the directory `dirfd` the
 * process's root and cwd (fchdir, chroot("."), chdir("/")). Create's init
 * passes the rootfs it opened, exec's joiner the init's /proc/PID/root;
 * `what` names it in the error. */
int nk_rootfs_chroot_fd(int dirfd, const char *what, nk_error **err);

/* Without a mount namespace of its own (no plan runs), after the chroot:
 * make process.cwd inside the current root, as the plan's `cwd` step does
 * (a dangling symlink on the way followed inside it). */
int nk_rootfs_make_cwd_child(const char *cwd, nk_error **err);

/* `rootfs`: absolute path of the root filesystem on the host. */
int nk_rootfs_setup_child(const struct nk_spec *spec, const char *rootfs,
                          const struct nk_rootfs_opts *opts, nk_error **err);
