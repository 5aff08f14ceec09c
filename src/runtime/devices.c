/* nook — /dev in the container: the OCI default devices, linux.devices,
 * the /dev symlinks and /dev/ptmx. Planned here (pure) and run by the
 * container init before the pivot, every path resolved inside the rootfs.
 *
 * Inside a user namespace mknod(2) of a device is refused, so the host's
 * node is bound on an empty file instead (as runc and crun do). */
#include "../util/cleanup.h"
#include "../util/syscalls.h"
#include "rootfs_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* runtime-spec config-linux.md, "Default Devices". */
static const struct {
        const char *path;
        unsigned major, minor;
} default_devices[] = {
        {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
        {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
};

static const struct {
        const char *path, *target;
} dev_links[] = {
        {"/dev/fd", "/proc/self/fd"},
        {"/dev/stdin", "/proc/self/fd/0"},
        {"/dev/stdout", "/proc/self/fd/1"},
        {"/dev/stderr", "/proc/self/fd/2"},
};

/* A bind of the host's /dev replaces the whole setup (runc needsSetupDev). */
static bool dev_is_bound(const struct nk_spec *spec)
{
        for (size_t i = 0; i < spec->n_mounts; i++) {
                const struct nk_mount *m = &spec->mounts[i];
                const char *d = m->destination ? m->destination : "";
                size_t len = strlen(d);
                while (len > 1 && d[len - 1] == '/')
                        len--;
                bool bind = m->bind || m->rbind || (m->type && streq(m->type, "bind"));
                if (bind && len == 4 && strncmp(d, "/dev", 4) == 0)
                        return true;
        }
        return false;
}

static bool spec_has_device(const struct nk_spec *spec, const char *path)
{
        for (size_t i = 0; i < spec->n_devices; i++)
                if (spec->devices[i].path && streq(spec->devices[i].path, path))
                        return true;
        return false;
}

static int add_node(struct nk_rplan *plan, const char *path, mode_t type, unsigned major,
                    unsigned minor, mode_t perm, uid_t uid, gid_t gid, bool in_userns,
                    nk_error **err)
{
        /* A FIFO needs no privilege, so it is made even in a user namespace. */
        if (in_userns && type != S_IFIFO)
                return nk_rplan_add(plan, NK_ROP_BIND_DEVICE, path, path, err) ? 0 : -1;
        struct nk_rop *op = nk_rplan_add(plan, NK_ROP_MKNOD, path, NULL, err);
        if (!op)
                return -1;
        op->mode = type | (perm & 07777);
        op->rdev = type == S_IFIFO ? 0 : makedev(major, minor);
        op->uid = uid;
        op->gid = gid;
        return 0;
}

static mode_t device_type(char t)
{
        switch (t) {
        case 'b':
                return S_IFBLK;
        case 'p':
                return S_IFIFO;
        default: /* 'c' and 'u' (unbuffered character device) */
                return S_IFCHR;
        }
}

static int plan_links(struct nk_rplan *plan, nk_error **err)
{
        struct nk_rop *op;
        for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++)
                if (!nk_rplan_add(plan, NK_ROP_SYMLINK, dev_links[i].path, dev_links[i].target,
                                  err))
                        return -1;
        op = nk_rplan_add(plan, NK_ROP_SYMLINK, "/dev/core", "/proc/kcore", err);
        if (!op)
                return -1;
        op->if_kcore = true;
        /* The devpts instance mounted with newinstance owns its own ptmx. */
        op = nk_rplan_add(plan, NK_ROP_SYMLINK, "/dev/ptmx", "pts/ptmx", err);
        if (!op)
                return -1;
        op->replace = true;
        return 0;
}

int nk_rplan_add_devices(struct nk_rplan *plan, const struct nk_spec *spec,
                         const struct nk_rootfs_opts *opts, nk_error **err)
{
        if (dev_is_bound(spec))
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(default_devices); i++) {
                if (spec_has_device(spec, default_devices[i].path))
                        continue;
                if (add_node(plan, default_devices[i].path, S_IFCHR, default_devices[i].major,
                             default_devices[i].minor, 0666, 0, 0, opts->in_userns, err) < 0)
                        return -1;
        }
        for (size_t i = 0; i < spec->n_devices; i++) {
                const struct nk_device *d = &spec->devices[i];
                if (!d->path || d->path[0] != '/')
                        return nk_error_set(err, 0,
                                            "linux.devices[%zu]: path `%s` is not "
                                            "absolute",
                                            i, d->path ? d->path : "");
                if (opts->in_userns && device_type(d->type) != S_IFIFO &&
                    !nk_proc_mount_allowed(d->path))
                        return nk_error_set(err, 0,
                                            "linux.devices[%zu]: path %s is inside "
                                            "/proc, where only %s may be mounted",
                                            i, d->path, nk_proc_mount_list);
                if (add_node(plan, d->path, device_type(d->type), (unsigned)d->major,
                             (unsigned)d->minor, d->has_mode ? d->file_mode : 0666,
                             d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0, opts->in_userns,
                             err) < 0)
                        return -1;
        }
        return plan_links(plan, err);
}

/* ---- running ---- */

static int run_symlink(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        if (op->if_kcore && !x->have_kcore)
                return 0;
        const char *name;
        _cleanup_close_ int dir = nk_root_open_parent(x->rootfd, op->dest, &name, err);
        if (dir < 0)
                return nk_error_wrap(err, "symlink %s", op->dest);
        if (op->replace && unlinkat(dir, name, 0) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "symlink %s: remove the old entry", op->dest);
        /* An entry already there (a rootfs that ships its own link) is kept. */
        if (symlinkat(op->source, dir, name) < 0 && errno != EEXIST)
                return nk_error_set(err, errno, "symlink %s -> %s", op->dest, op->source);
        return 0;
}

static int run_mknod(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        const char *name;
        _cleanup_close_ int dir = nk_root_open_parent(x->rootfd, op->dest, &name, err);
        if (dir < 0)
                return nk_error_wrap(err, "mknod %s", op->dest);
        if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "mknod %s: remove the old entry", op->dest);
        if (mknodat(dir, name, op->mode, op->rdev) < 0)
                return nk_error_set(err, errno, "mknod %s", op->dest);
        if (fchownat(dir, name, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "chown %s to %u:%u", op->dest, (unsigned)op->uid,
                                    (unsigned)op->gid);
        return 0;
}

static int run_bind_device(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        _cleanup_close_ int tree =
                nk_open_tree(AT_FDCWD, op->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (tree < 0)
                return nk_error_set(err, errno, "bind device %s from the host", op->source);
        _cleanup_close_ int dst = nk_rop_open_target(x, op, true, "bind device", err);
        if (dst < 0)
                return -1;
        if (nk_move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "bind device %s", op->dest);
        return 0;
}

int nk_rop_run_device(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        switch (op->kind) {
        case NK_ROP_SYMLINK:
                return run_symlink(x, op, err);
        case NK_ROP_MKNOD:
                return run_mknod(x, op, err);
        case NK_ROP_BIND_DEVICE:
                return run_bind_device(x, op, err);
        default:
                return nk_error_set(err, 0, "rootfs op %d is not a device", (int)op->kind);
        }
}
