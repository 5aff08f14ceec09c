/* nook — the rootfs setup as a plan: the spec (plus what the host looks
 * like) turns into a flat list of operations, built by pure code that unit
 * tests check and `--debug` prints, then run in one loop by the container
 * init. Private to the rootfs files: rootfs_plan.c (the list) and
 * rootfs_path.c (paths inside the root) below mounts.c and devices.c (the
 * operations) below rootfs.c (planning and the loop). */
#pragma once
#include "rootfs.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/types.h>

/* The MS_* flags that describe a mount (not an operation like MS_BIND,
 * MS_REMOUNT or a propagation change). */
#define NK_MS_MOUNT_FLAGS                                                                          \
        (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_MANDLOCK |             \
         MS_DIRSYNC | MS_NOSYMFOLLOW | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | \
         MS_LAZYTIME | MS_SILENT)
#define NK_MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

enum nk_rop_kind {
        NK_ROP_PROPAGATION,    /* mount("", "/", propagation): the whole new mount ns */
        NK_ROP_PARENT_PRIVATE, /* the mount holding the rootfs becomes private */
        NK_ROP_BIND_ROOTFS,    /* bind the rootfs on itself (pivot_root needs a mount) */
        NK_ROP_ATTACH_ROOTFS,  /* move_mount the caller's detached rootfs (`tree`) on it */
        NK_ROP_BIND,           /* bind host `source` on `dest` */
        NK_ROP_MOUNT,          /* a fresh `fstype` filesystem on `dest` */
        NK_ROP_SETATTR,        /* change flags/propagation of the mount at `dest` */
        NK_ROP_SYMLINK,        /* `dest` -> `source` */
        NK_ROP_MKNOD,          /* device node `dest` */
        NK_ROP_BIND_DEVICE,    /* bind the host's node `source` on an empty file `dest` */
        NK_ROP_PIVOT,          /* pivot_root into the rootfs, detach the old root */
        NK_ROP_CHROOT,         /* move the rootfs on / and chroot (--no-pivot) */
        NK_ROP_READONLY,       /* bind `dest` on itself read-only (recursive) */
        NK_ROP_MASK,           /* hide `dest`: /dev/null over a file, empty ro tmpfs over a dir */
        NK_ROP_CWD,            /* make the directory `dest` (process.cwd) if it is missing */
};

struct nk_rop {
        enum nk_rop_kind kind;
        char *dest;   /* path inside the container (absolute) */
        char *source; /* host path (bind), fs source (mount), link target */
        char *fstype;
        char *data;
        unsigned long flags;           /* MS_* for mount(2) (MOUNT) */
        uint64_t attr_set, attr_clr;   /* MOUNT_ATTR_* on the top mount */
        uint64_t rattr_set, rattr_clr; /* MOUNT_ATTR_* with AT_RECURSIVE */
        unsigned long propagation;     /* MS_SHARED|MS_SLAVE|... (| MS_REC), 0 = keep */
        bool recursive;                /* BIND: rbind */
        int tree;                      /* BIND: a prepared detached tree (idmapped), or -1;
                                          ATTACH_ROOTFS: the rootfs mount;
                                          not owned by the plan */
        bool copy_symlink;             /* BIND: a symlink source is copied, not followed */
        bool copyup;                   /* MOUNT: copy what the directory held into the new fs */
        bool replace;                  /* SYMLINK: remove what is there first */
        bool if_kcore;                 /* SYMLINK: only when the host has /proc/kcore */
        char *fallback;                /* MOUNT: rbind this host path when the kernel refuses
                                          the fresh mount (EPERM, EBUSY): sysfs and mqueue
                                          in a user namespace, cgroupfs */
        mode_t mode;                   /* MKNOD: S_IF* | permissions */
        dev_t rdev;
        uid_t uid;
        gid_t gid;
};

struct nk_rplan {
        struct nk_rop *ops;
        size_t n, cap;
};

struct nk_cg_mount;

/* What the host looks like, read by the caller so planning stays pure. */
struct nk_rootfs_env {
        const char *mountinfo; /* /proc/self/mountinfo of the new mount namespace */
        /* The cgroup hierarchies as the cgroup module parsed and checked
         * them (nk_cgroup_mounts), or NULL: then parsed from mountinfo
         * with the same parser (nk_cg_parse_mountinfo). */
        const struct nk_cg_mount *cg_mounts;
        size_t n_cg_mounts;
        const char *self_cgroup; /* /proc/self/cgroup, used when opts->cgroup_path is NULL */
};

int nk_rplan_build(const struct nk_spec *spec, const char *rootfs,
                   const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                   struct nk_rplan *plan, nk_error **err);
void nk_rplan_clear(struct nk_rplan *plan);
/* Append one op (strings are copied; NULL stays NULL). Returns the new op
 * or NULL on ENOMEM (err set). */
struct nk_rop *nk_rplan_add(struct nk_rplan *plan, enum nk_rop_kind kind, const char *dest,
                            const char *source, nk_error **err);
/* *out = a copy of s (NULL stays NULL); -1 on ENOMEM, *out then NULL. */
int nk_rop_strdup(const char *s, char **out);
/* One line describing the op, e.g. "bind /src on /dst rbind set=ro". Caller frees. */
char *nk_rop_format(const struct nk_rop *op);

/* "/a//b/./c/" -> "/a/b/c" into `out` (room for strlen(in) + 2); with
 * `dotdot` also "/a/b/../c" -> "/a/c", never above "/". */
void nk_path_squash(const char *in, char *out, bool dotdot);

/* Whether `path` (absolute, clean, inside the container) may be a mount
 * destination as far as /proc goes: anything outside /proc, /proc itself,
 * and inside it only the files lxcfs stands in for (runc's list, in
 * libcontainer's checkProcMount). A mount elsewhere below /proc could
 * redirect what nook and the kernel's users write there (oom_score_adj,
 * attr/exec, sysctls) to a file of the mount's choosing. */
bool nk_proc_mount_allowed(const char *path);
/* The one-line list of those files, for error messages. */
extern const char nk_proc_mount_list[];

/* Whether mountinfo (proc(5) text) has a mount strictly below `path`. */
bool nk_mountinfo_has_below(const char *mountinfo, const char *path);

/* MS_* flags (from mount options) -> MOUNT_ATTR_* to set and clear. */
void nk_ms_to_attr(unsigned long set, unsigned long clear, uint64_t *attr_set, uint64_t *attr_clr);

/* Planning pieces (pure). */
int nk_rplan_add_cgroup(struct nk_rplan *plan, const struct nk_mount *m, const char *dest,
                        const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                        nk_error **err);
int nk_rplan_add_devices(struct nk_rplan *plan, const struct nk_spec *spec,
                         const struct nk_rootfs_opts *opts, nk_error **err);

/* Execution (container init, inside the new mount namespace). */
struct nk_rexec {
        const char *rootfs; /* host path, until the pivot */
        int rootfd;         /* O_PATH of the container root, -1 before the rootfs bind */
        bool in_userns;
        bool have_kcore;
        int devnull;         /* O_PATH of the container's /dev/null (for masks), lazily */
        mode_t caller_umask; /* the setup runs under umask 0 */
        int proc_pidns_fd;   /* see nk_rootfs_opts */
};

/* Open `path` (absolute, inside the container) as O_PATH, resolving every
 * component inside rootfd (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): a
 * symlink can never lead out of the rootfs. With `create`, missing
 * components are made as directories, the last one as a directory or, if
 * `create_file`, an empty regular file. */
int nk_root_open(int rootfd, const char *path, bool create, bool create_file, nk_error **err);
/* The same lookup, no creating, no error: -1 with errno. */
int nk_root_open_raw(int rootfd, const char *path);
/* Open (creating directories) the parent of `path`; *name points into path
 * at the last component. */
int nk_root_open_parent(int rootfd, const char *path, const char **name, nk_error **err);

/* op->dest opened as a mount target: resolved and made (a directory, or
 * an empty file with `create_file`) inside the root like nk_root_open(),
 * and refused when it turns out to be inside /proc where
 * nk_proc_mount_allowed() says no. `what` starts the error ("bind mount
 * SRC"). */
int nk_rop_open_target(struct nk_rexec *x, const struct nk_rop *op, bool create_file,
                       const char *what, nk_error **err);
int nk_rop_run_mount(struct nk_rexec *x, const struct nk_rop *op, nk_error **err);
int nk_rop_run_device(struct nk_rexec *x, const struct nk_rop *op, nk_error **err);
