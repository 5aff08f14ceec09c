/* nook — mount operations of the rootfs plan, run by the container init in
 * its new mount namespace, and the cgroup mount planning.
 *
 * Every destination is opened inside the rootfs with openat2(2)
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS and mounted on through that fd
 * (move_mount(2) MOVE_MOUNT_T_EMPTY_PATH, or mount(2) on /proc/self/fd/N for
 * a fresh filesystem): a destination swapped for a symlink to a host path
 * resolves inside the rootfs, so no mount lands outside it
 * (CVE-2019-16884, CVE-2021-30465). */
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/log.h"
#include "../util/mountinfo.h"
#include "../util/syscalls.h"
#include "cgroup/cgroup.h"
#include "namespaces.h"
#include "rootfs_internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

/* ---- cgroup mounts (planning, pure) ---- */

#define CG_BASE "/sys/fs/cgroup"
#define CG_MAX  32

struct cg_hier {
        const struct nk_cg_mount *m; /* as the cgroup module parsed it */
        char name[64];               /* directory under /sys/fs/cgroup */
        char controllers[256];       /* v1: "cpu,cpuacct" / "name=systemd"; v2: "" */
        bool v2;
};

struct cg_layout {
        const struct nk_cg_mount *unified; /* cgroup2 on /sys/fs/cgroup itself */
        struct cg_hier h[CG_MAX];
        size_t n;
};

/* The hierarchies to show in the container, from the cgroup module's list:
 * /sys/fs/cgroup itself (pure v2) or one directory below it each. */
static void cg_collect(const struct nk_cg_mount *v, size_t nv, struct cg_layout *l)
{
        for (size_t k = 0; k < nv; k++) {
                const struct nk_cg_mount *e = &v[k];
                const char *name = e->mount + strlen(CG_BASE "/");
                if (streq(e->mount, CG_BASE)) {
                        l->unified = e->v2 ? e : NULL;
                        continue;
                }
                if (strncmp(e->mount, CG_BASE "/", strlen(CG_BASE "/")) != 0 || !*name ||
                    strchr(name, '/') || strlen(name) >= sizeof(l->h[0].name) || l->n == CG_MAX)
                        continue;
                struct cg_hier *h = &l->h[l->n++];
                *h = (struct cg_hier){.m = e, .v2 = e->v2};
                snprintf(h->name, sizeof(h->name), "%s", name);
                size_t n = 0;
                for (char **c = e->v2 ? NULL : e->controllers; c && *c; c++)
                        n += (size_t)snprintf(
                                h->controllers + n,
                                n < sizeof(h->controllers) ? sizeof(h->controllers) - n : 0, "%s%s",
                                n ? "," : "", *c);
        }
}

/* Same set of comma-separated names? */
static bool same_set(const char *a, size_t alen, const char *b)
{
        size_t na = 0, nb = 0;
        for (const char *p = a; p < a + alen; p += strcspn(p, ",") + 1) {
                size_t len = strcspn(p, ",");
                if (p + len > a + alen)
                        len = (size_t)(a + alen - p);
                na++;
                const char *q = b;
                bool found = false;
                for (; *q; q += strcspn(q, ","), q += *q == ',') {
                        if (strncmp(q, p, len) == 0 && (q[len] == ',' || !q[len]))
                                found = true;
                }
                if (!found)
                        return false;
        }
        for (const char *q = b; *q; q += strcspn(q, ","), q += *q == ',')
                nb++;
        return na == nb;
}

/* Our cgroup on hierarchy h per /proc/self/cgroup ("4:memory:/x", "0::/x"). */
static bool self_cgroup_path(const char *self, const struct cg_hier *h, char *out, size_t size)
{
        for (const char *l = self; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                const char *eol = l + strcspn(l, "\n");
                if (!c2 || c2 > eol)
                        continue;
                bool match = h->v2 ? c2 == c1 + 1 && strncmp(l, "0:", 2) == 0
                                   : c2 > c1 + 1 && same_set(c1 + 1, (size_t)(c2 - c1 - 1),
                                                             h->controllers);
                if (match) {
                        snprintf(out, size, "%.*s", (int)(eol - c2 - 1), c2 + 1);
                        return true;
                }
        }
        return false;
}

/* The host directory of the container's cgroup on hierarchy h: the rule
 * the cgroup module made the directory with (nk_cg_dir_of). */
static char *cg_host_dir(const struct cg_hier *h, const char *mountpoint,
                         const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                         nk_error **err)
{
        char self[512];
        const char *path = opts->cgroup_path;
        if (!path && !self_cgroup_path(env->self_cgroup, h, self, sizeof(self))) {
                nk_error_set(err, ENOENT, "mount cgroup on %s: no cgroup of ours in %s", mountpoint,
                             h->v2 ? "the unified hierarchy" : h->controllers);
                return NULL;
        }
        char *dir = nk_cg_dir_of(h->m, path ? path : self);
        if (!dir)
                nk_error_set(err, ENOMEM, "rootfs plan");
        return dir;
}

/* One hierarchy at `dest`: a fresh cgroupfs in a new cgroup namespace (its
 * root is then the namespace's root, the container's cgroup), else a bind
 * of the container's own cgroup directory from the host. */
static int plan_hier(struct nk_rplan *plan, const struct nk_mount *m, const char *dest,
                     const struct cg_hier *h, const char *mountpoint,
                     const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                     nk_error **err)
{
        _cleanup_free_ char *dir = cg_host_dir(h, mountpoint, opts, env, err);
        if (!dir)
                return -1;
        struct nk_rop *op;
        if (opts->new_cgroupns) {
                /* The kernel may refuse: EPERM for a v1 hierarchy in a user
                 * namespace, EBUSY when the host's cgroup2 (same superblock)
                 * is already right there through a bound /sys. The bind of our
                 * own directory shows the same tree. */
                op = nk_rplan_add(plan, NK_ROP_MOUNT, dest, "cgroup", err);
                if (!op || !(op->fstype = strdup(h->v2 ? "cgroup2" : "cgroup")) ||
                    !(op->data = strdup(h->controllers)) || !(op->fallback = strdup(dir)))
                        return nk_error_set(err, ENOMEM, "rootfs plan");
                op->flags = m->flags & NK_MS_MOUNT_FLAGS;
                return 0;
        }
        op = nk_rplan_add(plan, NK_ROP_BIND, dest, dir, err);
        if (!op)
                return -1;
        nk_ms_to_attr(m->flags, 0, &op->attr_set, &op->attr_clr);
        return 0;
}

/* Aliases the host has for joint hierarchies: cpu -> cpu,cpuacct. */
static int plan_cg_links(struct nk_rplan *plan, const char *dest, const struct cg_layout *l,
                         const struct cg_hier *h, nk_error **err)
{
        if (!strchr(h->name, ','))
                return 0;
        char buf[64], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", h->name);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                bool taken = false;
                for (size_t i = 0; i < l->n; i++)
                        taken |= streq(l->h[i].name, t);
                _cleanup_free_ char *link = NULL;
                if (taken)
                        continue;
                if (asprintf(&link, "%s/%s", dest, t) < 0 ||
                    !nk_rplan_add(plan, NK_ROP_SYMLINK, link, h->name, err))
                        return nk_error_set(err, ENOMEM, "rootfs plan");
        }
        return 0;
}

/* v1 and hybrid: a tmpfs holding one directory per hierarchy, as on the host. */
static int plan_cg_v1(struct nk_rplan *plan, const struct nk_mount *m, const char *dest,
                      const struct cg_layout *l, const struct nk_rootfs_opts *opts,
                      const struct nk_rootfs_env *env, nk_error **err)
{
        struct nk_rop *op = nk_rplan_add(plan, NK_ROP_MOUNT, dest, "tmpfs", err);
        if (!op || !(op->fstype = strdup("tmpfs")) || !(op->data = strdup("mode=755")))
                return nk_error_set(err, ENOMEM, "rootfs plan");
        op->flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *sub = NULL, *mp = NULL;
                if (asprintf(&sub, "%s/%s", dest, l->h[i].name) < 0 ||
                    asprintf(&mp, CG_BASE "/%s", l->h[i].name) < 0)
                        return nk_error_set(err, ENOMEM, "rootfs plan");
                if (plan_hier(plan, m, sub, &l->h[i], mp, opts, env, err) < 0 ||
                    plan_cg_links(plan, dest, l, &l->h[i], err) < 0)
                        return -1;
        }
        if (!(m->flags & MS_RDONLY) && !m->propagation)
                return 0;
        /* The tmpfs stays writable until every directory and link exists. */
        op = nk_rplan_add(plan, NK_ROP_SETATTR, dest, NULL, err);
        if (!op)
                return -1;
        op->attr_set = (m->flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0;
        op->propagation = m->propagation;
        return 0;
}

int nk_rplan_add_cgroup(struct nk_rplan *plan, const struct nk_mount *m, const char *dest,
                        const struct nk_rootfs_opts *opts, const struct nk_rootfs_env *env,
                        nk_error **err)
{
        struct nk_cg_mount *parsed = NULL;
        size_t n = env->n_cg_mounts;
        const struct nk_cg_mount *v = env->cg_mounts;
        if (!v && env->mountinfo && nk_cg_parse_mountinfo(env->mountinfo, &parsed, &n, err) < 0)
                return -1;
        if (!v)
                v = parsed;
        struct cg_layout l = {0};
        cg_collect(v, v ? n : 0, &l);
        int r;
        if (l.unified) {
                /* Pure v2: the one hierarchy straight on the destination. */
                struct cg_hier h = {.m = l.unified, .v2 = true};
                r = plan_hier(plan, m, dest, &h, CG_BASE, opts, env, err);
                if (r == 0)
                        plan->ops[plan->n - 1].propagation = m->propagation;
        } else if (l.n == 0) {
                r = nk_error_set(err, ENOENT,
                                 "mount cgroup on %s: no cgroup hierarchy under " CG_BASE
                                 " on the host",
                                 dest);
        } else {
                r = plan_cg_v1(plan, m, dest, &l, opts, env, err);
        }
        for (size_t i = 0; parsed && i < n; i++)
                nk_cg_mount_clear(&parsed[i]);
        free(parsed);
        return r;
}

/* ---- running ---- */

static int set_attrs(int fd, const struct nk_rop *op)
{
        struct mount_attr a = {.attr_set = op->attr_set, .attr_clr = op->attr_clr};
        if ((a.attr_set | a.attr_clr) && nk_mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
                return -1;
        a = (struct mount_attr){.attr_set = op->rattr_set, .attr_clr = op->rattr_clr};
        if ((a.attr_set | a.attr_clr) &&
            nk_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                return -1;
        return 0;
}

static int set_propagation(int fd, unsigned long p)
{
        struct mount_attr a = {.propagation = p & NK_MS_PROPAGATION};
        if (!a.propagation)
                return 0;
        return nk_mount_setattr(fd, "", AT_EMPTY_PATH | ((p & MS_REC) ? AT_RECURSIVE : 0), &a,
                                sizeof(a));
}

static int run_propagation(const struct nk_rop *op, nk_error **err)
{
        if (mount(NULL, "/", NULL, op->propagation, NULL) < 0)
                return nk_error_set(err, errno, "set propagation of / in the new mount namespace");
        return 0;
}

/* The root of the mount holding `path`, opened O_PATH: walking up while
 * ".." is on the same mount (statx STATX_MNT_ID); ".." of a mount's root
 * is on the mount below it, and "/" is its own "..". A few statx calls
 * where reading mountinfo would cost as much as the host has mounts. */
static int open_mount_root(const char *path, nk_error **err)
{
        _cleanup_close_ int cur = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct statx a, b;
        if (cur < 0 || statx(cur, "", AT_EMPTY_PATH, STATX_MNT_ID | STATX_INO, &a) < 0)
                return nk_error_set(err, errno, "stat rootfs `%s`", path);
        for (int depth = 0; depth < 4096; depth++) {
                _cleanup_close_ int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (up < 0 || statx(up, "", AT_EMPTY_PATH, STATX_MNT_ID | STATX_INO, &b) < 0)
                        return nk_error_set(err, errno, "find the mount holding rootfs `%s`", path);
                bool top = b.stx_ino == a.stx_ino && b.stx_dev_major == a.stx_dev_major &&
                           b.stx_dev_minor == a.stx_dev_minor && b.stx_mnt_id == a.stx_mnt_id;
                if (top || b.stx_mnt_id != a.stx_mnt_id)
                        return TAKE_FD(cur);
                close(cur);
                cur = TAKE_FD(up);
                a = b;
        }
        return nk_error_set(err, ELOOP, "find the mount holding rootfs `%s`", path);
}

static int run_parent_private(const struct nk_rop *op, nk_error **err)
{
        _cleanup_close_ int root = open_mount_root(op->source, err);
        if (root < 0)
                return -1;
        if (set_propagation(root, MS_PRIVATE) < 0)
                return nk_error_set(err, errno, "make the mount holding rootfs `%s` private",
                                    op->source);
        return 0;
}

static int run_bind_rootfs(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        if (mount(op->source, op->source, NULL, MS_BIND | MS_REC, NULL) < 0)
                return nk_error_set(err, errno, "bind rootfs %s on itself", op->source);
        /* Opened after the bind: lookups from an fd of the directory below
         * the new mount would not enter it. */
        x->rootfd = open(op->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (x->rootfd < 0)
                return nk_error_set(err, errno, "open rootfs %s", op->source);
        return 0;
}

/* The rootfs directory gets the caller's overlay (a detached mount from
 * fsmount): move_mount into this, the container's own, namespace. The fd
 * is ours (a copy of the creator's table) and goes once attached: the
 * container's processes never hold it (it is close-on-exec anyway). */
static int run_attach_rootfs(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        _cleanup_close_ int dir = open(op->source, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0)
                return nk_error_set(err, errno, "open rootfs %s", op->source);
        if (nk_move_mount(op->tree, "", dir, "",
                          MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "attach the root filesystem on %s", op->source);
        close(op->tree);
        /* Opened after the attach, as after the bind below. */
        x->rootfd = open(op->source, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (x->rootfd < 0)
                return nk_error_set(err, errno, "open rootfs %s", op->source);
        return 0;
}

/* Attach a detached mount tree at op->dest, flags set before it is visible. */
static int attach_tree(struct nk_rexec *x, const struct nk_rop *op, int tree, const char *what,
                       nk_error **err)
{
        struct stat st;
        if (fstat(tree, &st) < 0)
                return nk_error_set(err, errno, "%s on %s: stat", what, op->dest);
        _cleanup_close_ int dst = nk_rop_open_target(x, op, !S_ISDIR(st.st_mode), what, err);
        if (dst < 0)
                return -1;
        if (set_attrs(tree, op) < 0)
                return nk_error_set(err, errno, "%s on %s: set mount flags", what, op->dest);
        if (nk_move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "%s on %s", what, op->dest);
        if (set_propagation(tree, op->propagation) < 0)
                return nk_error_set(err, errno, "%s on %s: set propagation", what, op->dest);
        return 0;
}

/* crun's copy-symlink: a symlink source is recreated, not followed. */
static int copy_symlink(struct nk_rexec *x, const struct nk_rop *op, bool *done, nk_error **err)
{
        struct stat st;
        char target[4096];
        *done = false;
        if (lstat(op->source, &st) < 0 || !S_ISLNK(st.st_mode))
                return 0;
        ssize_t n = readlink(op->source, target, sizeof(target) - 1);
        if (n < 0)
                return nk_error_set(err, errno, "readlink %s", op->source);
        target[n] = '\0';
        struct nk_rop link = {.kind = NK_ROP_SYMLINK, .dest = op->dest, .source = target};
        *done = true;
        return nk_rop_run_device(x, &link, err);
}

static int run_bind(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        _cleanup_free_ char *what = NULL;
        if (asprintf(&what, "bind mount %s", op->source) < 0)
                return nk_error_set(err, ENOMEM, "bind mount on %s", op->dest);
        bool done = false;
        if (op->copy_symlink && (copy_symlink(x, op, &done, err) < 0 || done))
                return done ? 0 : nk_error_wrap(err, "%s on %s", what, op->dest);
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (op->recursive ? AT_RECURSIVE : 0);
        _cleanup_close_ int tree = op->tree >= 0 ? fcntl(op->tree, F_DUPFD_CLOEXEC, 3)
                                                 : nk_open_tree(AT_FDCWD, op->source, flags);
        if (tree < 0 && errno == EACCES && x->in_userns)
                return nk_error_set(err, errno,
                                    "%s on %s: the container's root cannot reach "
                                    "it, and in a joined user namespace nook cannot open it "
                                    "for the container with the mounts below it locked",
                                    what, op->dest);
        if (tree < 0)
                return nk_error_set(err, errno, "%s on %s", what, op->dest);
        return attach_tree(x, op, tree, what, err);
}

/* The kernel refused a fresh sysfs/mqueue/cgroup (see plan_fresh and
 * plan_hier): bind the host's instead, every flag applied to the whole tree. */
static int run_fallback(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        struct nk_rop b = *op;
        uint64_t s, c;
        nk_ms_to_attr(op->flags, 0, &s, &c);
        b.kind = NK_ROP_BIND;
        b.source = op->fallback;
        b.recursive = true;
        b.attr_set = b.attr_clr = 0;
        b.rattr_set = s | op->rattr_set;
        b.rattr_clr = c | op->rattr_clr;
        nk_debug("rootfs: %s on %s refused (%s), binding %s", op->fstype, op->dest, strerror(errno),
                 op->fallback);
        return run_bind(x, &b, err);
}

/* ---- tmpcopyup: what the directory held, copied into the new tmpfs ---- */

static int copy_tree(int src, int dst, const char *path, nk_error **err);

static int copy_file(int src, int dst, const char *name, const struct stat *st)
{
        _cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int out =
                openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       st->st_mode & 07777);
        if (in < 0 || out < 0)
                return -1;
        for (;;) {
                ssize_t n = sendfile(out, in, NULL, 1 << 20);
                if (n < 0 && errno != EINTR)
                        return -1;
                if (n == 0)
                        return 0;
        }
}

static int copy_entry(int src, int dst, const char *name, const char *path, nk_error **err)
{
        struct stat st;
        char target[4096];
        ssize_t n;
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "copy up %s/%s", path, name);
        int r;
        if (S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *sub = NULL;
                if (mkdirat(dst, name, st.st_mode & 07777) < 0)
                        return nk_error_set(err, errno, "copy up %s/%s", path, name);
                _cleanup_close_ int s =
                        openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d =
                        openat(dst, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0 || asprintf(&sub, "%s/%s", path, name) < 0)
                        return nk_error_set(err, errno, "copy up %s/%s", path, name);
                r = copy_tree(s, d, sub, err);
                if (r < 0)
                        return -1;
        } else if (S_ISREG(st.st_mode)) {
                r = copy_file(src, dst, name, &st);
        } else if (S_ISLNK(st.st_mode)) {
                n = readlinkat(src, name, target, sizeof(target) - 1);
                r = n < 0 ? -1 : (target[n] = '\0', symlinkat(target, dst, name));
        } else {
                r = mknodat(dst, name, st.st_mode, st.st_rdev);
        }
        /* chown first: it drops set-id bits that the chmod then restores. */
        if (r < 0 || fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            (!S_ISLNK(st.st_mode) && fchmodat(dst, name, st.st_mode & 07777, 0) < 0))
                return nk_error_set(err, errno, "copy up %s/%s", path, name);
        return 0;
}

static int copy_tree(int src, int dst, const char *path, nk_error **err)
{
        int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "copy up %s", path);
        }
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (copy_entry(src, dst, de->d_name, path, err) < 0)
                        return -1;
        }
        return errno ? nk_error_set(err, errno, "copy up %s: read directory", path) : 0;
}

/* The directory below the mount, readable, taken before the mount hides it. */
static int open_lower(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        int fd = nk_openat2(x->rootfd, op->dest, &how, sizeof(how));
        if (fd < 0)
                return nk_error_set(err, errno, "mount %s on %s: open for copy up", op->fstype,
                                    op->dest);
        return fd;
}

/* After mounting: flags mount(2) cannot set (recursive ones, propagation)
 * and the copy up, on the new mount reached again from the root (dst is
 * the directory below it). */
static int finish_fresh(struct nk_rexec *x, const struct nk_rop *op, int lower, nk_error **err)
{
        if (!(op->rattr_set | op->rattr_clr) && !(op->propagation & NK_MS_PROPAGATION) && lower < 0)
                return 0;
        _cleanup_close_ int top = nk_root_open(x->rootfd, op->dest, false, false, err);
        if (top < 0)
                return nk_error_wrap(err, "mount %s on %s", op->fstype, op->dest);
        if (lower >= 0 && copy_tree(lower, top, op->dest, err) < 0)
                return nk_error_wrap(err, "mount %s on %s", op->fstype, op->dest);
        struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
        if (lower >= 0 && (op->flags & MS_RDONLY) &&
            nk_mount_setattr(top, "", AT_EMPTY_PATH, &ro, sizeof(ro)) < 0)
                return nk_error_set(err, errno, "mount %s on %s: make read-only", op->fstype,
                                    op->dest);
        if (set_attrs(top, op) < 0 || set_propagation(top, op->propagation) < 0)
                return nk_error_set(err, errno, "mount %s on %s: set mount flags", op->fstype,
                                    op->dest);
        return 0;
}

/* procfs for a pid namespace we are not in, where procfs has no pidns=
 * (before Linux 6.15): the context comes from a helper born there
 * (nk_ns_procfs_context), the options and flags are applied here. */
static int proc_context_options(int fc, const char *source, const char *data)
{
        if (source && nk_fsconfig(fc, FSCONFIG_SET_STRING, "source", source, 0) < 0)
                return -1;
        _cleanup_free_ char *copy = strdup(data ? data : "");
        if (!copy)
                return -1;
        char *save = NULL;
        for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(o, '=');
                if (eq)
                        *eq = '\0';
                if (nk_fsconfig(fc, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, o,
                                eq ? eq + 1 : NULL, 0) < 0)
                        return -1;
        }
        return nk_fsconfig(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
}

static int run_proc_in_pidns(struct nk_rexec *x, const struct nk_rop *op, int dst, nk_error **err)
{
        _cleanup_close_ int fc = nk_ns_procfs_context(x->proc_pidns_fd, err);
        if (fc < 0)
                return nk_error_wrap(err, "mount proc on %s", op->dest);
        uint64_t set, clr;
        nk_ms_to_attr(op->flags, 0, &set, &clr);
        if (proc_context_options(fc, op->source, op->data) < 0)
                return nk_error_set(err, errno, "mount proc on %s: options `%s`", op->dest,
                                    op->data ? op->data : "");
        _cleanup_close_ int mnt = nk_fsmount(fc, FSMOUNT_CLOEXEC, (unsigned)set);
        if (mnt < 0 ||
            nk_move_mount(mnt, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "mount proc on %s", op->dest);
        return finish_fresh(x, op, -1, err);
}

/* The first of the filesystem options in `data` that fsconfig(2), which
 * takes them one at a time, refuses for fstype; NULL when none is (a
 * filesystem without its own parser takes anything there). */
static char *refused_option(const char *fstype, const char *data)
{
        _cleanup_close_ int fs = nk_fsopen(fstype, FSOPEN_CLOEXEC);
        _cleanup_free_ char *copy = strdup(data);
        char *save = NULL;
        if (fs < 0 || !copy)
                return NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(t, '=');
                if (eq)
                        *eq = '\0';
                int r = eq ? nk_fsconfig(fs, FSCONFIG_SET_STRING, t, eq + 1, 0)
                           : nk_fsconfig(fs, FSCONFIG_SET_FLAG, t, NULL, 0);
                if (eq)
                        *eq = '=';
                if (r < 0)
                        return strdup(t);
        }
        return NULL;
}

/* mount(2) answers EINVAL for any option it does not like, without saying
 * which: name it. */
static int fail_fresh(const struct nk_rop *op, int e, nk_error **err)
{
        if (e != EINVAL || !op->data || !op->data[0])
                return nk_error_set(err, e, "mount %s on %s", op->fstype, op->dest);
        _cleanup_free_ char *bad = refused_option(op->fstype, op->data);
        if (bad)
                return nk_error_set(err, e, "mount %s on %s: option \"%s\" refused", op->fstype,
                                    op->dest, bad);
        return nk_error_set(err, e, "mount %s on %s with options \"%s\"", op->fstype, op->dest,
                            op->data);
}

static int run_fresh(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        char what[96];
        snprintf(what, sizeof(what), "mount %s", op->fstype);
        _cleanup_close_ int dst = nk_rop_open_target(x, op, false, what, err);
        if (dst < 0)
                return -1;
        _cleanup_close_ int lower = op->copyup ? open_lower(x, op, err) : -1;
        if (op->copyup && lower < 0)
                return -1;
        char target[64];
        snprintf(target, sizeof(target), "/proc/self/fd/%d", dst);
        /* A read-only copy-up target is made read-only once filled. */
        unsigned long flags = op->flags & ~(op->copyup ? (unsigned long)MS_RDONLY : 0UL);
        _cleanup_free_ char *data = NULL;
        bool pidns = x->proc_pidns_fd > 0 && streq(op->fstype, "proc");
        if (pidns && asprintf(&data, "%s%spidns=/proc/self/fd/%d", op->data ? op->data : "",
                              op->data && *op->data ? "," : "", x->proc_pidns_fd) < 0)
                return nk_error_set(err, ENOMEM, "mount %s on %s", op->fstype, op->dest);
        if (mount(op->source, target, op->fstype, flags, pidns ? data : op->data) < 0) {
                /* Not the host's /proc instead: it shows another pid namespace. */
                if ((errno == EPERM || errno == EBUSY) && op->fallback && !pidns)
                        return run_fallback(x, op, err);
                if (pidns && errno == EINVAL)
                        return run_proc_in_pidns(x, op, dst, err);
                return fail_fresh(op, errno, err);
        }
        return finish_fresh(x, op, lower, err);
}

static int run_setattr(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        _cleanup_close_ int fd = nk_root_open(x->rootfd, op->dest, false, false, err);
        if (fd < 0)
                return nk_error_wrap(err, "remount %s", op->dest);
        if (set_attrs(fd, op) < 0 || set_propagation(fd, op->propagation) < 0)
                return nk_error_set(err, errno, "remount %s", op->dest);
        return 0;
}

static int reopen_root(struct nk_rexec *x, nk_error **err)
{
        nk_closep(&x->rootfd);
        x->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (x->rootfd < 0)
                return nk_error_set(err, errno, "open / after entering the rootfs");
        x->rootfs = "/";
        return 0;
}

/* pivot_root(".", ".") stacks the old root on the new one; it is made a
 * slave before the lazy detach so the unmount cannot propagate to the
 * host's mount namespace (pivot_root(2), NOTES). */
static int run_pivot(struct nk_rexec *x, nk_error **err)
{
        _cleanup_close_ int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (oldroot < 0)
                return nk_error_set(err, errno, "pivot_root: open /");
        if (fchdir(x->rootfd) < 0)
                return nk_error_set(err, errno, "pivot_root: chdir to %s", x->rootfs);
        if (nk_pivot_root(".", ".") < 0)
                return nk_error_set(err, errno, "pivot_root to %s", x->rootfs);
        if (fchdir(oldroot) < 0)
                return nk_error_set(err, errno, "pivot_root: chdir to the old root");
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return nk_error_set(err, errno, "pivot_root: make the old root a slave");
        if (umount2(".", MNT_DETACH) < 0)
                return nk_error_set(err, errno, "pivot_root: detach the old root");
        if (chdir("/") < 0)
                return nk_error_set(err, errno, "chdir /");
        return reopen_root(x, err);
}

static bool path_within(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        return streq(dir, "/") ||
               (strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0'));
}

struct outside {
        const char *rootfs;
        char **v;
        size_t n;
};

static int collect_outside(const struct nk_mountinfo_entry *e, void *data)
{
        struct outside *o = data;
        if (streq(e->mountpoint, "/") || path_within(e->mountpoint, o->rootfs) ||
            path_within(o->rootfs, e->mountpoint))
                return 0;
        char **nv = realloc(o->v, (o->n + 1) * sizeof(*nv));
        if (!nv || !(nv[o->n] = strdup(e->mountpoint))) {
                if (nv)
                        o->v = nv;
                return -1;
        }
        o->v = nv;
        o->n++;
        return 0;
}

static int by_length(const void *a, const void *b)
{
        size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
        return la < lb ? -1 : la > lb;
}

/* Without pivot_root the host's mounts stay in the container's namespace,
 * under the rootfs moved on top of them: unreachable after chroot, but
 * still there (a full /proc or /sys lets the kernel allow fresh proc and
 * sysfs mounts it would otherwise refuse). Detach every mount that is
 * neither inside the rootfs nor holding it; the shallowest first, which
 * takes what is below it along. Mounts the kernel keeps locked (inside a
 * user namespace) stay, as they would with runc. */
static int detach_outside(struct nk_rexec *x, nk_error **err)
{
        _cleanup_free_ char *mi = NULL;
        if (nk_read_file("/proc/self/mountinfo", &mi, NULL, err) < 0)
                return nk_error_wrap(err, "--no-pivot");
        struct outside o = {.rootfs = x->rootfs};
        int r = nk_mountinfo_foreach(mi, collect_outside, &o);
        if (r < 0)
                nk_error_set(err, ENOMEM, "--no-pivot: list host mounts");
        else
                qsort(o.v, o.n, sizeof(*o.v), by_length);
        for (size_t i = 0; i < o.n; i++) {
                if (r == 0 && umount2(o.v[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 &&
                    errno != EINVAL && errno != ENOENT)
                        nk_debug("rootfs: --no-pivot: %s stays: %s", o.v[i], strerror(errno));
                free(o.v[i]);
        }
        free(o.v);
        return r < 0 ? -1 : 0;
}

/* --no-pivot: move the rootfs mount over / and chroot into it. */
static int run_chroot(struct nk_rexec *x, nk_error **err)
{
        if (detach_outside(x, err) < 0)
                return -1;
        if (fchdir(x->rootfd) < 0)
                return nk_error_set(err, errno, "chdir to %s", x->rootfs);
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return nk_error_set(err, errno, "move rootfs %s on /", x->rootfs);
        if (chroot(".") < 0)
                return nk_error_set(err, errno, "chroot to %s", x->rootfs);
        if (chdir("/") < 0)
                return nk_error_set(err, errno, "chdir /");
        return reopen_root(x, err);
}

/* A bind of the path on itself, read-only down the whole subtree; the
 * other flags (nosuid, nodev, noexec) are kept as they are. */
static int run_readonly(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        _cleanup_close_ int fd = nk_root_open_raw(x->rootfd, op->dest);
        if (fd < 0)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "readonly path %s", op->dest);
        _cleanup_close_ int tree = nk_open_tree(
                fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        if (tree < 0 ||
            nk_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0 ||
            nk_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "readonly path %s", op->dest);
        return 0;
}

static int mask_tree_dir(const char *path, nk_error **err)
{
        _cleanup_close_ int fs = nk_fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0 || nk_fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
            nk_fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return nk_error_set(err, errno, "mask %s: create tmpfs", path);
        int tree = nk_fsmount(fs, FSMOUNT_CLOEXEC,
                              MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                      MOUNT_ATTR_NOEXEC);
        if (tree < 0)
                return nk_error_set(err, errno, "mask %s: create tmpfs", path);
        return tree;
}

/* The container's own /dev/null, checked to be the null device. */
static int mask_tree_file(struct nk_rexec *x, const char *path, nk_error **err)
{
        if (x->devnull < 0) {
                struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                                       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS};
                struct stat st;
                x->devnull = nk_openat2(x->rootfd, "/dev/null", &how, sizeof(how));
                if (x->devnull < 0)
                        return nk_error_set(err, errno, "mask %s: open /dev/null", path);
                if (fstat(x->devnull, &st) < 0 || !S_ISCHR(st.st_mode) ||
                    st.st_rdev != makedev(1, 3)) {
                        nk_closep(&x->devnull);
                        x->devnull = -1;
                        return nk_error_set(err, 0, "mask %s: /dev/null is not the null device",
                                            path);
                }
        }
        int tree =
                nk_open_tree(x->devnull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (tree < 0)
                return nk_error_set(err, errno, "mask %s: bind /dev/null", path);
        return tree;
}

/* A masked file shows /dev/null, a masked directory an empty read-only
 * tmpfs; a path the container does not have needs no mask. */
static int run_mask(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        struct stat st;
        _cleanup_close_ int fd = nk_root_open_raw(x->rootfd, op->dest);
        if (fd < 0)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "mask %s", op->dest);
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "mask %s", op->dest);
        _cleanup_close_ int tree = S_ISDIR(st.st_mode) ? mask_tree_dir(op->dest, err)
                                                       : mask_tree_file(x, op->dest, err);
        if (tree < 0)
                return -1;
        if (nk_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "mask %s", op->dest);
        return 0;
}

static int run_cwd(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        /* Made with the caller's umask, as mkdir(2) by the init would. */
        mode_t ours = umask(x->caller_umask);
        int fd = nk_root_open(x->rootfd, op->dest, true, false, err);
        umask(ours);
        if (fd < 0)
                return nk_error_wrap(err, "process.cwd");
        close(fd);
        return 0;
}

int nk_rop_run_mount(struct nk_rexec *x, const struct nk_rop *op, nk_error **err)
{
        switch (op->kind) {
        case NK_ROP_PROPAGATION:
                return run_propagation(op, err);
        case NK_ROP_PARENT_PRIVATE:
                return run_parent_private(op, err);
        case NK_ROP_BIND_ROOTFS:
                return run_bind_rootfs(x, op, err);
        case NK_ROP_ATTACH_ROOTFS:
                return run_attach_rootfs(x, op, err);
        case NK_ROP_BIND:
                return run_bind(x, op, err);
        case NK_ROP_MOUNT:
                return run_fresh(x, op, err);
        case NK_ROP_SETATTR:
                return run_setattr(x, op, err);
        case NK_ROP_PIVOT:
                return run_pivot(x, err);
        case NK_ROP_CHROOT:
                return run_chroot(x, err);
        case NK_ROP_READONLY:
                return run_readonly(x, op, err);
        case NK_ROP_MASK:
                return run_mask(x, op, err);
        case NK_ROP_CWD:
                return run_cwd(x, op, err);
        default:
                return nk_error_set(err, 0, "rootfs op %d is not a mount", (int)op->kind);
        }
}
