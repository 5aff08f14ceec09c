/* nook — the container's filesystem view: the spec becomes a plan (a flat
 * list of mount/device operations, see rootfs_internal.h) and the container
 * init runs it in one loop. This file builds and prints the plan and runs
 * it; mounts.c and devices.c hold the operations, rootfs_plan.c and
 * rootfs_path.c what all of them share. */
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/log.h"
#include "../util/syscalls.h"
#include "cgroup/cgroup.h"
#include "namespaces.h"
#include "rootfs_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A mount destination squashed, `..` left as written. */
static char *clean_dest(const char *path)
{
        char *out = malloc(strlen(path) + 2);
        if (out)
                nk_path_squash(path, out, false);
        return out;
}

static char *bind_source(const struct nk_spec *spec, const char *source)
{
        char *s = NULL;
        if (source[0] == '/' || !spec->bundle)
                return strdup(source);
        if (asprintf(&s, "%s/%s", spec->bundle, source) < 0)
                return NULL;
        return s;
}

static bool is_bind(const struct nk_mount *m)
{
        return m->bind || m->rbind || (m->type && streq(m->type, "bind"));
}

static int plan_bind(struct nk_rplan *plan, const struct nk_spec *spec, const struct nk_mount *m,
                     const char *dest, nk_error **err)
{
        if (!m->source)
                return nk_error_set(err, 0, "bind mount on %s: no source", dest);
        _cleanup_free_ char *src = bind_source(spec, m->source);
        struct nk_rop *op = src ? nk_rplan_add(plan, NK_ROP_BIND, dest, src, err) : NULL;
        if (!op)
                return nk_error_set(err, ENOMEM, "rootfs plan");
        op->recursive = m->rbind;
        op->copy_symlink = m->copy_symlink;
        op->propagation = m->propagation;
        nk_ms_to_attr(m->flags, m->clear, &op->attr_set, &op->attr_clr);
        if (m->recursive_attrs) {
                op->rattr_set = m->attr_set;
                op->rattr_clr = m->attr_clr;
        } else {
                op->attr_set |= m->attr_set;
                op->attr_clr |= m->attr_clr;
        }
        return 0;
}

void nk_rootfs_trees_close(int *trees, size_t n)
{
        for (size_t i = 0; trees && i < n; i++)
                if (trees[i] >= 0)
                        close(trees[i]);
        free(trees);
}

/* The propagation the child gives every mount of its new namespace before
 * the spec's mounts (plan_prepare): a tree cloned here, in the host's
 * namespace, gets the same, or it would stay a peer of the host's mounts. */
static unsigned long tree_propagation(const struct nk_spec *spec)
{
        unsigned long p = spec->rootfs_propagation & NK_MS_PROPAGATION;
        return !p || (p & MS_UNBINDABLE) ? MS_PRIVATE : p;
}

/* A detached clone of the bind source, looked up with the runtime's own
 * credentials: inside a user namespace the init could not reach a source
 * below a root-only host directory (EACCES). */
static int clone_source(const struct nk_spec *spec, size_t i, bool rec, nk_error **err)
{
        const struct nk_mount *m = &spec->mounts[i];
        if (!m->source)
                return nk_error_set(err, 0, "mounts[%zu]: bind mount without source", i);
        _cleanup_free_ char *src = bind_source(spec, m->source);
        if (!src)
                return nk_error_set(err, ENOMEM, "mounts[%zu]", i);
        _cleanup_close_ int tree = nk_open_tree(
                AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
        if (tree < 0)
                return nk_error_set(err, errno, "mounts[%zu]: bind source `%s`", i, src);
        struct mount_attr a = {.propagation = tree_propagation(spec)};
        if (nk_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                return nk_error_set(err, errno, "mounts[%zu]: bind source `%s`: set propagation", i,
                                    src);
        return TAKE_FD(tree);
}

static int idmapped_tree(const struct nk_spec *spec, size_t i, nk_error **err)
{
        const struct nk_mount *m = &spec->mounts[i];
        const struct nk_idmap *u = m->uid_mappings, *g = m->gid_mappings;
        size_t nu = m->n_uid_mappings, ng = m->n_gid_mappings;
        if (!nu) { /* "idmap" alone: the container's own mappings */
                u = spec->uid_mappings, nu = spec->n_uid_mappings;
                g = spec->gid_mappings, ng = spec->n_gid_mappings;
        }
        if (!nu || !ng)
                return nk_error_set(err, 0,
                                    "mounts[%zu]: idmap without uidMappings and "
                                    "gidMappings, and no user namespace mappings to use",
                                    i);
        _cleanup_close_ int userns = nk_ns_userns_fd(u, nu, g, ng, err);
        if (userns < 0)
                return nk_error_wrap(err, "mounts[%zu]", i);
        _cleanup_close_ int tree = clone_source(spec, i, m->rbind || m->ridmap, err);
        if (tree < 0)
                return -1;
        struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
        if (nk_mount_setattr(tree, "", AT_EMPTY_PATH | (m->ridmap ? AT_RECURSIVE : 0), &a,
                             sizeof(a)) < 0) {
                int e = errno;
                return nk_error_set(err, e, "mounts[%zu]: id-map `%s`%s", i, m->source,
                                    e == EINVAL ? " (its filesystem may not support idmapped "
                                                  "mounts)"
                                                : "");
        }
        return TAKE_FD(tree);
}

enum tree_kind { TREE_NONE, TREE_HERE, TREE_IN_INIT };

/* In a user namespace a plain bind source is cloned here only when no host
 * mount lies below it. The init's own clone comes from its copy of the
 * host's mounts, in which the kernel locks every mount below the source
 * (MNT_LOCKED: a container root holding CAP_SYS_ADMIN cannot unmount one
 * to see what it covers); a clone made here would not be locked. With a
 * new user and mount namespace such a source is opened by the runtime in
 * the init's namespace instead (nk_rootfs_open_source_in) and cloned by
 * the init from that fd (nk_rootfs_clone_source_fd). A copy-symlink source
 * that is a symlink is recreated by the init, not bound. */
static enum tree_kind wants_tree(const struct nk_spec *spec, const struct nk_mount *m,
                                 char **mountinfo)
{
        if (m->idmap || m->ridmap)
                return TREE_HERE;
        if (!is_bind(m) || !spec->ns[NK_NS_USER].present || !m->source)
                return TREE_NONE;
        _cleanup_free_ char *src = bind_source(spec, m->source);
        char real[PATH_MAX];
        struct stat st;
        if (!src || !realpath(src, real))
                return TREE_NONE; /* the init reports what is wrong with it */
        if (m->copy_symlink && lstat(src, &st) == 0 && S_ISLNK(st.st_mode))
                return TREE_NONE;
        if (!*mountinfo && nk_read_file("/proc/self/mountinfo", mountinfo, NULL, NULL) < 0)
                return TREE_NONE;
        if (!nk_mountinfo_has_below(*mountinfo, real))
                return TREE_HERE;
        return nk_ns_new(spec, NK_NS_USER) && nk_ns_new(spec, NK_NS_MOUNT) ? TREE_IN_INIT
                                                                           : TREE_NONE;
}

static int alloc_trees(const struct nk_spec *spec, int **trees, bool **in_init)
{
        if (*trees)
                return 0;
        *trees = malloc(spec->n_mounts * sizeof(**trees));
        *in_init = calloc(spec->n_mounts, sizeof(**in_init));
        if (!*trees || !*in_init)
                return -1;
        for (size_t j = 0; j < spec->n_mounts; j++)
                (*trees)[j] = -1;
        return 0;
}

int nk_rootfs_bind_trees(const struct nk_spec *spec, int **trees, bool **in_init, nk_error **err)
{
        _cleanup_free_ char *mountinfo = NULL;
        *trees = NULL;
        *in_init = NULL;
        for (size_t i = 0; i < spec->n_mounts; i++) {
                const struct nk_mount *m = &spec->mounts[i];
                enum tree_kind k = wants_tree(spec, m, &mountinfo);
                if (k == TREE_NONE)
                        continue;
                if (!is_bind(m))
                        return nk_error_set(err, 0,
                                            "mounts[%zu] on %s: idmap needs a bind "
                                            "mount",
                                            i, m->destination ? m->destination : "");
                if (alloc_trees(spec, trees, in_init) < 0) {
                        nk_error_set(err, ENOMEM, "bind mount sources");
                        goto fail;
                }
                int t;
                if (k == TREE_IN_INIT) {
                        /* A placeholder: the plan records its number, the init
                         * puts its clone there (nk_rootfs_clone_source_fd). */
                        t = open("/dev/null", O_RDONLY | O_CLOEXEC);
                        if (t < 0)
                                nk_error_set(err, errno, "mounts[%zu]: open /dev/null", i);
                        (*in_init)[i] = true;
                } else {
                        t = m->idmap || m->ridmap ? idmapped_tree(spec, i, err)
                                                  : clone_source(spec, i, m->rbind, err);
                }
                if (((*trees)[i] = t) < 0)
                        goto fail;
        }
        return 0;
fail:
        nk_rootfs_trees_close(*trees, spec->n_mounts);
        *trees = NULL;
        free(*in_init);
        *in_init = NULL;
        return -1;
}

int nk_rootfs_open_source_in(const struct nk_spec *spec, size_t i, int rootfd, nk_error **err)
{
        const struct nk_mount *m = &spec->mounts[i];
        _cleanup_free_ char *src = bind_source(spec, m->source);
        if (!src)
                return nk_error_set(err, ENOMEM, "mounts[%zu]", i);
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        int fd = nk_openat2(rootfd, src, &how, sizeof how);
        if (fd < 0)
                return nk_error_set(err, errno,
                                    "mounts[%zu]: bind source `%s` in the "
                                    "container's mount namespace",
                                    i, src);
        return fd;
}

int nk_rootfs_clone_source_fd(const struct nk_spec *spec, size_t i, int src, int slot,
                              nk_error **err)
{
        const struct nk_mount *m = &spec->mounts[i];
        _cleanup_close_ int tree =
                nk_open_tree(src, "",
                             OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                     (m->rbind ? AT_RECURSIVE : 0));
        /* The kernel refuses a non-recursive bind of a source with locked
         * mounts below it: it would uncover what they hide. */
        if (tree < 0 && errno == EINVAL && !m->rbind)
                return nk_error_set(err, errno,
                                    "mounts[%zu]: bind source `%s` has host mounts "
                                    "below it, which a user namespace may only bind with "
                                    "them (rbind)",
                                    i, m->source);
        if (tree < 0)
                return nk_error_set(err, errno, "mounts[%zu]: bind source `%s`", i, m->source);
        struct mount_attr a = {.propagation = tree_propagation(spec)};
        if (nk_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                return nk_error_set(err, errno, "mounts[%zu]: bind source `%s`: set propagation", i,
                                    m->source);
        if (dup3(tree, slot, O_CLOEXEC) < 0)
                return nk_error_set(err, errno, "mounts[%zu]: bind source `%s`", i, m->source);
        return 0;
}

/* A fresh filesystem. In a user namespace the kernel refuses sysfs unless
 * the network namespace is ours too, and mqueue unless the IPC namespace is
 * ours: then the host's mount is bound instead, as runc does. */
static int plan_fresh(struct nk_rplan *plan, const struct nk_mount *m, const char *dest,
                      const struct nk_rootfs_opts *opts, nk_error **err)
{
        if (!m->type)
                return nk_error_set(err, 0, "mount on %s: no type and not a bind mount", dest);
        struct nk_rop *op =
                nk_rplan_add(plan, NK_ROP_MOUNT, dest, m->source ? m->source : m->type, err);
        if (!op || nk_rop_strdup(m->type, &op->fstype) < 0 || nk_rop_strdup(m->data, &op->data) < 0)
                return nk_error_set(err, ENOMEM, "rootfs plan");
        op->flags = m->flags & NK_MS_MOUNT_FLAGS;
        op->copyup = m->tmpcopyup;
        op->propagation = m->propagation;
        op->rattr_set = m->attr_set;
        op->rattr_clr = m->attr_clr;
        const char *fallback = streq(m->type, "sysfs")    ? "/sys"
                               : streq(m->type, "mqueue") ? "/dev/mqueue"
                                                          : NULL;
        if (opts->in_userns && fallback && nk_rop_strdup(fallback, &op->fallback) < 0)
                return nk_error_set(err, ENOMEM, "rootfs plan");
        return 0;
}

static int plan_spec_mount(struct nk_rplan *plan, const struct nk_spec *spec, size_t i,
                           const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                           nk_error **err)
{
        const struct nk_mount *m = &spec->mounts[i];
        _cleanup_free_ char *dest = clean_dest(m->destination ? m->destination : "");
        if (!dest)
                return nk_error_set(err, ENOMEM, "rootfs plan");
        if (streq(dest, "/"))
                return nk_error_set(err, 0, "mounts[%zu]: destination `%s` would hide the rootfs",
                                    i, m->destination ? m->destination : "");
        /* The lexical check fails early; mounts.c checks again where the
         * destination really resolved (a symlink in the image may lead
         * into /proc). */
        if (!nk_proc_mount_allowed(dest))
                return nk_error_set(err, 0,
                                    "mounts[%zu]: destination %s is inside /proc, "
                                    "where only %s may be mounted",
                                    i, dest, nk_proc_mount_list);
        if ((m->idmap || m->ridmap) && !is_bind(m))
                return nk_error_set(err, 0, "mounts[%zu] on %s: idmap needs a bind mount", i, dest);
        if (m->idmap || m->ridmap) {
                if (!opts->mount_trees || opts->mount_trees[i] < 0)
                        return nk_error_set(err, 0,
                                            "mounts[%zu] on %s: idmapped mount "
                                            "not prepared",
                                            i, dest);
                if (plan_bind(plan, spec, m, dest, err) < 0)
                        return -1;
                plan->ops[plan->n - 1].tree = opts->mount_trees[i];
                return 0;
        }
        if (is_bind(m)) {
                if (plan_bind(plan, spec, m, dest, err) < 0)
                        return -1;
                if (opts->mount_trees) /* cloned by the runtime (user namespace) */
                        plan->ops[plan->n - 1].tree = opts->mount_trees[i];
                return 0;
        }
        if (m->type && (streq(m->type, "cgroup") || streq(m->type, "cgroup2")))
                return nk_rplan_add_cgroup(plan, m, dest, opts, env, err);
        return plan_fresh(plan, m, dest, opts, err);
}

/* Before any mount: the new mount namespace's copy of the host tree gets
 * rootfsPropagation (default private, so nothing the container mounts
 * reaches the host). An unbindable tree could not be bound on itself, so
 * that type waits for the end. A shared tree needs the rootfs's parent
 * mount private: pivot_root(2) refuses a new root whose parent is shared. */
static int plan_prepare(struct nk_rplan *plan, const struct nk_spec *spec, const char *rootfs,
                        const struct nk_rootfs_opts *opts, nk_error **err)
{
        unsigned long p = spec->rootfs_propagation;
        if (!(p & NK_MS_PROPAGATION) || (p & MS_UNBINDABLE))
                p = MS_REC | MS_PRIVATE;
        struct nk_rop *op = nk_rplan_add(plan, NK_ROP_PROPAGATION, "/", NULL, err);
        if (!op)
                return -1;
        op->propagation = p;
        if ((p & MS_SHARED) && !nk_rplan_add(plan, NK_ROP_PARENT_PRIVATE, NULL, rootfs, err))
                return -1;
        if (opts->rootfs_mount_fd <= 0)
                return nk_rplan_add(plan, NK_ROP_BIND_ROOTFS, NULL, rootfs, err) ? 0 : -1;
        /* The caller's detached overlay becomes the root here, in the
         * container's own mount namespace: the host's table never holds
         * it, and it goes when this namespace does. Already a mount, so
         * pivot_root takes it as it is. After the parent went private: a
         * mount attached below a shared one would propagate to the host. */
        op = nk_rplan_add(plan, NK_ROP_ATTACH_ROOTFS, NULL, rootfs, err);
        if (!op)
                return -1;
        op->tree = opts->rootfs_mount_fd;
        return 0;
}

static int plan_paths(struct nk_rplan *plan, enum nk_rop_kind kind, char *const *paths,
                      nk_error **err)
{
        for (size_t i = 0; paths && paths[i]; i++) {
                _cleanup_free_ char *dest = clean_dest(paths[i]);
                if (!dest || !nk_rplan_add(plan, kind, dest, NULL, err))
                        return nk_error_set(err, ENOMEM, "rootfs plan");
        }
        return 0;
}

/* After the pivot: runc's order (read-only paths, then masks, then the
 * read-only root, then the final rootfs propagation). */
static int plan_finish(struct nk_rplan *plan, const struct nk_spec *spec, nk_error **err)
{
        if (plan_paths(plan, NK_ROP_READONLY, spec->readonly_paths, err) < 0 ||
            plan_paths(plan, NK_ROP_MASK, spec->masked_paths, err) < 0)
                return -1;
        if (spec->root_readonly) {
                struct nk_rop *op = nk_rplan_add(plan, NK_ROP_SETATTR, "/", NULL, err);
                if (!op)
                        return -1;
                op->attr_set = MOUNT_ATTR_RDONLY;
        }
        unsigned long p = spec->rootfs_propagation;
        if ((p & NK_MS_PROPAGATION) && !(p & MS_PRIVATE)) {
                struct nk_rop *op = nk_rplan_add(plan, NK_ROP_SETATTR, "/", NULL, err);
                if (!op)
                        return -1;
                op->propagation = p;
        }
        return 0;
}

/* process.cwd is made before the root can turn read-only, and after the
 * mounts, which may hold it. It is made as the container's root, and
 * resolved inside the rootfs like a mount destination (a symlinked cwd
 * leads somewhere inside it); the init enters it after the user switch. */
static int plan_cwd(struct nk_rplan *plan, const struct nk_spec *spec, nk_error **err)
{
        const char *cwd = spec->has_process ? spec->process.cwd : NULL;
        if (!cwd || strspn(cwd, "/") == strlen(cwd))
                return 0;
        return nk_rplan_add(plan, NK_ROP_CWD, cwd, NULL, err) ? 0 : -1;
}

int nk_rootfs_make_cwd_child(const char *cwd, nk_error **err)
{
        if (!cwd || strspn(cwd, "/") == strlen(cwd))
                return 0;
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return nk_error_set(err, errno, "process.cwd: open /");
        int fd = nk_root_open(root, cwd, true, false, err);
        if (fd < 0)
                return nk_error_wrap(err, "process.cwd");
        close(fd);
        return 0;
}

int nk_rplan_build(const struct nk_spec *spec, const char *rootfs,
                   const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                   struct nk_rplan *plan, nk_error **err)
{
        struct nk_rplan p = {0};
        int r = plan_prepare(&p, spec, rootfs, opts, err);
        for (size_t i = 0; r == 0 && i < spec->n_mounts; i++)
                r = plan_spec_mount(&p, spec, i, opts, env, err);
        if (r == 0)
                r = nk_rplan_add_devices(&p, spec, opts, err);
        if (r == 0)
                r = plan_cwd(&p, spec, err);
        if (r == 0 &&
            !nk_rplan_add(&p, opts->no_pivot ? NK_ROP_CHROOT : NK_ROP_PIVOT, NULL, rootfs, err))
                r = -1;
        if (r == 0)
                r = plan_finish(&p, spec, err);
        if (r < 0) {
                nk_rplan_clear(&p);
                return -1;
        }
        *plan = p;
        return 0;
}

/* ---- printing ---- */

static void put_ms_flags(FILE *f, const char *key, unsigned long flags)
{
        static const struct {
                unsigned long bit;
                const char *name;
        } names[] = {
                {MS_RDONLY, "ro"},         {MS_NOSUID, "nosuid"},
                {MS_NODEV, "nodev"},       {MS_NOEXEC, "noexec"},
                {MS_SYNCHRONOUS, "sync"},  {MS_MANDLOCK, "mand"},
                {MS_DIRSYNC, "dirsync"},   {MS_NOSYMFOLLOW, "nosymfollow"},
                {MS_NOATIME, "noatime"},   {MS_NODIRATIME, "nodiratime"},
                {MS_RELATIME, "relatime"}, {MS_STRICTATIME, "strictatime"},
                {MS_LAZYTIME, "lazytime"}, {MS_SILENT, "silent"},
        };
        const char *sep = "=";
        if (!flags)
                return;
        fprintf(f, " %s", key);
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (flags & names[i].bit) {
                        fprintf(f, "%s%s", sep, names[i].name);
                        sep = ",";
                }
}

/* `with_atime`: the atime field is being changed, print the mode set. */
static void put_attrs(FILE *f, const char *key, uint64_t attrs, bool with_atime)
{
        static const struct {
                uint64_t bit;
                const char *name;
        } names[] = {
                {MOUNT_ATTR_RDONLY, "ro"},
                {MOUNT_ATTR_NOSUID, "nosuid"},
                {MOUNT_ATTR_NODEV, "nodev"},
                {MOUNT_ATTR_NOEXEC, "noexec"},
                {MOUNT_ATTR_NODIRATIME, "nodiratime"},
                {MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"},
                {MOUNT_ATTR_IDMAP, "idmap"},
        };
        const char *sep = "=";
        uint64_t atime = attrs & MOUNT_ATTR__ATIME;
        attrs &= ~(uint64_t)MOUNT_ATTR__ATIME;
        if (!attrs && !with_atime)
                return;
        fprintf(f, " %s", key);
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (attrs & names[i].bit) {
                        fprintf(f, "%s%s", sep, names[i].name);
                        sep = ",";
                }
        if (with_atime)
                fprintf(f, "%s%s", sep,
                        atime == MOUNT_ATTR_NOATIME       ? "noatime"
                        : atime == MOUNT_ATTR_STRICTATIME ? "strictatime"
                                                          : "relatime");
}

static void put_propagation(FILE *f, unsigned long p)
{
        if (!(p & NK_MS_PROPAGATION))
                return;
        fprintf(f, " propagation=%s%s", (p & MS_REC) ? "r" : "",
                (p & MS_SHARED)    ? "shared"
                : (p & MS_SLAVE)   ? "slave"
                : (p & MS_PRIVATE) ? "private"
                                   : "unbindable");
}

static void put_attr_pairs(FILE *f, const struct nk_rop *op)
{
        put_attrs(f, "set", op->attr_set, op->attr_clr & MOUNT_ATTR__ATIME);
        put_attrs(f, "clear", op->attr_clr, false);
        put_attrs(f, "rset", op->rattr_set, op->rattr_clr & MOUNT_ATTR__ATIME);
        put_attrs(f, "rclear", op->rattr_clr, false);
}

static void put_op(FILE *f, const struct nk_rop *op)
{
        static const char *const kinds[] = {
                [NK_ROP_PROPAGATION] = "propagation",
                [NK_ROP_PARENT_PRIVATE] = "parent-private",
                [NK_ROP_BIND_ROOTFS] = "bind-rootfs",
                [NK_ROP_ATTACH_ROOTFS] = "attach-rootfs",
                [NK_ROP_BIND] = "bind",
                [NK_ROP_MOUNT] = "mount",
                [NK_ROP_SETATTR] = "setattr",
                [NK_ROP_SYMLINK] = "symlink",
                [NK_ROP_MKNOD] = "mknod",
                [NK_ROP_BIND_DEVICE] = "bind-device",
                [NK_ROP_PIVOT] = "pivot_root",
                [NK_ROP_CHROOT] = "chroot",
                [NK_ROP_READONLY] = "readonly",
                [NK_ROP_MASK] = "mask",
                [NK_ROP_CWD] = "cwd",
        };
        fputs(kinds[op->kind], f);
        switch (op->kind) {
        case NK_ROP_MOUNT:
                fprintf(f, " %s %s on %s", op->fstype, op->source, op->dest);
                break;
        case NK_ROP_BIND:
        case NK_ROP_BIND_DEVICE:
                fprintf(f, " %s on %s", op->source, op->dest);
                break;
        case NK_ROP_SYMLINK:
                fprintf(f, " %s -> %s", op->dest, op->source);
                break;
        case NK_ROP_MKNOD:
                fprintf(f, " %s %c %u:%u %04o %u:%u", op->dest,
                        S_ISCHR(op->mode)   ? 'c'
                        : S_ISBLK(op->mode) ? 'b'
                                            : 'p',
                        major(op->rdev), minor(op->rdev), (unsigned)(op->mode & 07777),
                        (unsigned)op->uid, (unsigned)op->gid);
                break;
        default:
                fprintf(f, " %s", op->dest ? op->dest : op->source);
                break;
        }
}

char *nk_rop_format(const struct nk_rop *op)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        put_op(f, op);
        if (op->recursive)
                fputs(" rbind", f);
        if (op->copy_symlink)
                fputs(" copy-symlink", f);
        if (op->copyup)
                fputs(" copyup", f);
        if (op->replace)
                fputs(" replace", f);
        if (op->if_kcore)
                fputs(" if-kcore", f);
        put_ms_flags(f, "flags", op->flags);
        if (op->data && *op->data)
                fprintf(f, " data=%s", op->data);
        put_attr_pairs(f, op);
        put_propagation(f, op->propagation);
        if (op->fallback)
                fprintf(f, " fallback=%s", op->fallback);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- running ---- */

static int run_op(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        switch (op->kind) {
        case NK_ROP_SYMLINK:
        case NK_ROP_MKNOD:
        case NK_ROP_BIND_DEVICE:
                return nk_rop_run_device(x, op, err);
        default:
                return nk_rop_run_mount(x, op, err);
        }
}

static int run_plan(const struct nk_rplan *plan, struct nk_rexec *x,
                    const struct nk_rootfs_opts *opts, nk_error **err)
{
        for (size_t i = 0; i < plan->n; i++) {
                const struct nk_rop *op = &plan->ops[i];
                bool entering = op->kind == NK_ROP_PIVOT || op->kind == NK_ROP_CHROOT;
                /* createContainer hooks run with every mount in place, before
                 * pivot_root (runtime-spec config.md, "createContainer Hooks"),
                 * under the caller's umask. */
                if (entering && opts->before_pivot) {
                        mode_t ours = umask(x->caller_umask);
                        int r = opts->before_pivot(opts->before_pivot_data, err);
                        umask(ours);
                        if (r < 0)
                                return -1;
                }
                if (nk_log_debug_enabled()) {
                        _cleanup_free_ char *line = nk_rop_format(op);
                        nk_debug("rootfs: %s", line ? line : "?");
                }
                if (run_op(x, op, err) < 0)
                        return -1;
        }
        return 0;
}

/* nk_rplan_build() with what it needs of the host besides mountinfo; the
 * cgroup hierarchies from `cg` when the caller has opened the cgroup. */
static int plan_into(const struct nk_spec *spec, const char *rootfs,
                     const struct nk_rootfs_opts *opts, const char *mountinfo,
                     const struct nk_cgroup *cg, struct nk_rplan *plan, nk_error **err)
{
        _cleanup_free_ char *self_cgroup = NULL;
        if (!opts->cgroup_path)
                (void)nk_read_file("/proc/self/cgroup", &self_cgroup, NULL, NULL);
        struct nk_rootfs_env env = {.mountinfo = mountinfo, .self_cgroup = self_cgroup};
        if (cg)
                env.cg_mounts = nk_cgroup_mounts(cg, &env.n_cg_mounts);
        return nk_rplan_build(spec, rootfs, opts, &env, plan, err);
}

int nk_rootfs_plan(const struct nk_spec *spec, const char *rootfs,
                   const struct nk_rootfs_opts *opts, const struct nk_cgroup *cg,
                   struct nk_rplan **out, nk_error **err)
{
        struct nk_rplan *plan = calloc(1, sizeof *plan);
        if (!plan)
                return nk_error_set(err, ENOMEM, "plan the rootfs");
        if (plan_into(spec, rootfs, opts, nk_cgroup_mountinfo(cg), cg, plan, err) < 0) {
                free(plan);
                return -1;
        }
        *out = plan;
        return 0;
}

void nk_rootfs_plan_free(struct nk_rplan *plan)
{
        if (!plan)
                return;
        nk_rplan_clear(plan);
        free(plan);
}

int nk_rootfs_setup_child(const struct nk_spec *spec, const char *rootfs,
                          const struct nk_rootfs_opts *opts, nk_error **err)
{
        static const struct nk_rootfs_opts no_opts;
        _cleanup_free_ char *mountinfo = NULL;
        if (!opts)
                opts = &no_opts;
        /* Everything below changes the mount namespace it runs in. */
        if (!spec->ns[NK_NS_MOUNT].present)
                return nk_error_set(err, 0,
                                    "linux.namespaces: the rootfs setup needs a "
                                    "mount namespace");
        struct nk_rplan plan = {0};
        if (!opts->plan && (nk_read_file("/proc/self/mountinfo", &mountinfo, NULL, err) < 0 ||
                            plan_into(spec, rootfs, opts, mountinfo, NULL, &plan, err) < 0))
                return -1;
        const struct nk_rplan *use = opts->plan ? opts->plan : &plan;

        struct nk_rexec x = {
                .rootfs = rootfs,
                .rootfd = -1,
                .devnull = -1,
                .in_userns = opts->in_userns,
                .have_kcore = access("/proc/kcore", F_OK) == 0,
                .proc_pidns_fd = opts->proc_pidns_fd,
        };
        /* Device nodes, mount points and links get exactly the modes asked for. */
        x.caller_umask = umask(0);
        int r = run_plan(use, &x, opts, err);
        umask(x.caller_umask);
        nk_closep(&x.rootfd);
        nk_closep(&x.devnull);
        nk_rplan_clear(&plan);
        return r;
}
