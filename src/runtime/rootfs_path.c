/* nook — paths inside the rootfs: which destinations /proc allows, and
 * opening (creating) a path inside the container root so that no symlink
 * leads out of it. Used by the planner (rootfs.c) and by the mount and
 * device operations (mounts.c, devices.c) alike.
 *
 * Every lookup is openat2(2) RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS from
 * the root's fd: a destination swapped for a symlink to a host path
 * resolves inside the rootfs (CVE-2019-16884, CVE-2021-30465). */
#include "../util/cleanup.h"
#include "../util/log.h"
#include "../util/mountinfo.h"
#include "../util/syscalls.h"
#include "rootfs_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* ---- entering the root without a mount namespace ---- */

int nk_rootfs_chroot_fd(int dirfd, const char *what, nk_error **err)
{
        if (fchdir(dirfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
                return nk_error_set(err, errno, "chroot into %s", what);
        return 0;
}

/* ---- written paths ---- */

/* "/a//b/./c/" -> "/a/b/c" into `out` (room for strlen(in) + 2); a
 * relative path is taken from "/". With `dotdot`, also "/a/b/../c" ->
 * "/a/c", never above "/": where a path without symlinks leads, which is
 * how the init finds such a destination (RESOLVE_IN_ROOT; a mount root's
 * `..` goes to the mount point's parent, as here). */
void nk_path_squash(const char *in, char *out, bool dotdot)
{
        size_t n = 0;
        for (const char *p = in; *p;) {
                while (*p == '/')
                        p++;
                size_t len = strcspn(p, "/");
                if (dotdot && len == 2 && p[0] == '.' && p[1] == '.') {
                        while (n > 0 && out[--n] != '/')
                                ;
                } else if (len > 0 && !(len == 1 && p[0] == '.')) {
                        out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
        }
        if (n == 0)
                out[n++] = '/';
        out[n] = '\0';
}
static const char *const proc_mounts_ok[] = {
        "/proc/cpuinfo", "/proc/diskstats",
        "/proc/meminfo", "/proc/stat",
        "/proc/swaps",   "/proc/uptime",
        "/proc/loadavg", "/proc/slabinfo",
        "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
};

const char nk_proc_mount_list[] = "/proc/cpuinfo, /proc/diskstats, /proc/meminfo, /proc/stat, "
                                  "/proc/swaps, /proc/uptime, /proc/loadavg, /proc/slabinfo, "
                                  "/proc/net/dev, /proc/sys/kernel/ns_last_pid";

bool nk_proc_mount_allowed(const char *written)
{
        char path[4096];
        if (strlen(written) + 2 > sizeof(path))
                return false;
        nk_path_squash(written, path, true);
        if (strncmp(path, "/proc/", strlen("/proc/")) != 0)
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(proc_mounts_ok); i++)
                if (streq(path, proc_mounts_ok[i]))
                        return true;
        return false;
}
/* ---- opening inside the rootfs ---- */

int nk_root_open_raw(int rootfd, const char *path)
{
        struct open_how how = {
                .flags = O_PATH | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        /* openat2 answers EAGAIN when a rename or mount raced with a ".."
         * walk; a retry sees the settled tree. */
        for (int i = 0; i < 32; i++) {
                int fd = nk_openat2(rootfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        return fd;
        }
        return -1;
}

/* The deepest existing directory above the last component of `buf`,
 * resolved inside the root, and where the rest of the path starts there.
 * Most mount targets miss only their last component: look bottom up. */
static int root_deepest(int rootfd, char *buf, char **rest)
{
        size_t len = strlen(buf);
        while (len > 0) {
                while (len > 0 && buf[len - 1] != '/') /* cut one component */
                        len--;
                while (len > 1 && buf[len - 1] == '/')
                        len--;
                if (len <= 1)
                        break;
                char saved = buf[len];
                buf[len] = '\0';
                int fd = nk_root_open_raw(rootfd, buf);
                int e = errno;
                buf[len] = saved;
                if (fd >= 0) {
                        *rest = buf + len;
                        return fd;
                }
                if (e != ENOENT)
                        break;
        }
        *rest = buf;
        return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
}

/* `*buf` with the dangling symlink `comp` (a component of it, resolved
 * in the directory cur) replaced by its target: relative to the directory
 * holding the link, or to the root when absolute, as the kernel follows it
 * inside the root (RESOLVE_IN_ROOT keeps any `..` from climbing out). */
static int follow_dangling(int cur, char **buf, char *comp, char *end, char saved, nk_error **err)
{
        char target[4096];
        ssize_t n = readlinkat(cur, comp, target, sizeof(target) - 1);
        if (n < 0) /* not a symlink: the entry came and went under us */
                return nk_error_set(err, ENOENT, "create `%s` in the rootfs: it changed", *buf);
        target[n] = '\0';
        const char *rest = saved ? end + 1 : "";
        int dir_len = target[0] == '/' ? 0 : (int)(comp - *buf);
        char *next = NULL;
        if (asprintf(&next, "%.*s%s%s%s", dir_len, *buf, target, *rest ? "/" : "", rest) < 0)
                return nk_error_set(err, ENOMEM, "create `%s` in the rootfs", *buf);
        nk_debug("rootfs: %s is a dangling symlink to %s: creating %s", *buf, target, next);
        free(*buf);
        *buf = next;
        return 0;
}

/* Create each missing component of *buf in its parent, which was itself
 * resolved inside the root: mkdirat/mknodat never follow a final symlink,
 * and the re-open after creating resolves inside the root again. A
 * dangling symlink on the way: *buf becomes the path with its target, and
 * 1 says walk again. */
static int create_walk(int rootfd, char **buf, bool create_file, int *out, bool *made,
                       nk_error **err)
{
        char *start;
        _cleanup_close_ int cur = root_deepest(rootfd, *buf, &start);
        if (cur < 0)
                return nk_error_set(err, errno, "create `%s` in the rootfs", *buf);
        for (char *p = start; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                char *comp = p, *end = p + strcspn(p, "/");
                char saved = *end;
                *end = '\0';
                bool last = !saved || !end[1 + strspn(end + 1, "/")];
                int fd = nk_root_open_raw(rootfd, *buf);
                if (fd < 0 && errno == ENOENT) {
                        int r = last && create_file ? mknodat(cur, comp, S_IFREG | 0644, 0)
                                                    : mkdirat(cur, comp, 0755);
                        if (r < 0 && errno != EEXIST)
                                return nk_error_set(err, errno, "create `%s` in the rootfs", *buf);
                        /* What we just made, exactly: not a link put there since. */
                        *made = r == 0 && last;
                        fd = *made ? openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC)
                                   : nk_root_open_raw(rootfd, *buf);
                        if (fd < 0 && errno == ENOENT)
                                return follow_dangling(cur, buf, comp, end, saved, err) < 0 ? -1
                                                                                            : 1;
                }
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s` in the rootfs", *buf);
                nk_closep(&cur);
                cur = fd;
                *end = saved;
                p = end;
        }
        *out = TAKE_FD(cur);
        return 0;
}

/* What the kernel allows for a chain of symlinks (path_resolution(7)). */
#define MAX_LINK_HOPS 40

/* *made: the last component is a directory or file this call created. */
static int root_create(int rootfd, const char *path, bool create_file, bool *made, nk_error **err)
{
        _cleanup_free_ char *buf = strdup(path);
        if (!buf)
                return nk_error_set(err, ENOMEM, "create `%s` in the rootfs", path);
        for (int hops = 0; hops <= MAX_LINK_HOPS; hops++) {
                *made = false;
                int fd = -1, r = create_walk(rootfd, &buf, create_file, &fd, made, err);
                if (r <= 0)
                        return r < 0 ? -1 : fd;
        }
        return nk_error_set(err, ELOOP,
                            "create `%s` in the rootfs: more than %d dangling "
                            "symlinks",
                            path, MAX_LINK_HOPS);
}

int nk_root_open(int rootfd, const char *path, bool create, bool create_file, nk_error **err)
{
        int fd = nk_root_open_raw(rootfd, path);
        if (fd >= 0)
                return fd;
        if (errno != ENOENT || !create)
                return nk_error_set(err, errno, "open `%s` in the rootfs", path);
        bool made;
        return root_create(rootfd, path, create_file, &made, err);
}

int nk_root_open_parent(int rootfd, const char *path, const char **name, nk_error **err)
{
        const char *slash = strrchr(path, '/');
        if (!slash || !slash[1])
                return nk_error_set(err, 0, "`%s`: not a file path", path);
        _cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
        if (!parent)
                return nk_error_set(err, ENOMEM, "open parent of `%s`", path);
        *name = slash + 1;
        return nk_root_open(rootfd, *parent ? parent : "/", true, false, err);
}

/* ---- /proc/self/mountinfo ---- */

static int mi_below(const struct nk_mountinfo_entry *e, void *data)
{
        const char *path = data;
        size_t n = strlen(path);
        if (streq(path, "/"))
                return !streq(e->mountpoint, "/");
        return strncmp(e->mountpoint, path, n) == 0 && e->mountpoint[n] == '/';
}

bool nk_mountinfo_has_below(const char *mountinfo, const char *path)
{
        return nk_mountinfo_foreach(mountinfo, mi_below, (void *)path) != 0;
}
/* ---- mount targets ---- */

/* Where a destination really resolved may still be inside /proc (a
 * symlink in the image leading there): a target on procfs must be /proc
 * itself or one of the few files nk_proc_mount_allowed() lets be covered.
 * The path is read only for procfs. */
static int check_proc_target(const struct nk_rexec *x, int dst, const char *what,
                             const struct nk_rop *op, nk_error **err)
{
        struct statfs sf;
        char link[64], path[4096];
        if (fstatfs(dst, &sf) < 0)
                return nk_error_set(err, errno, "%s on %s: statfs", what, op->dest);
        if (sf.f_type != PROC_SUPER_MAGIC)
                return 0;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", dst);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n < 0)
                return nk_error_set(err, errno, "%s on %s: read where it leads", what, op->dest);
        path[n] = '\0';
        const char *rel = path;
        size_t rl = strlen(x->rootfs);
        if (!streq(x->rootfs, "/") && strncmp(path, x->rootfs, rl) == 0 &&
            (path[rl] == '/' || !path[rl]))
                rel = path[rl] ? path + rl : "/";
        bool inside = rel != path || streq(x->rootfs, "/");
        if (inside &&
            (streq(rel, "/proc") || (strncmp(rel, "/proc/", 6) == 0 && nk_proc_mount_allowed(rel))))
                return 0;
        return nk_error_set(err, 0,
                            "%s on %s: it leads to %s inside /proc, where only %s "
                            "may be mounted",
                            what, op->dest, rel, nk_proc_mount_list);
}

/* Whether op mounts a procfs: proc itself, or a bind of one (runc allows
 * both at /proc). */
static bool op_is_proc(const struct nk_rop *op)
{
        struct statfs sf;
        if (op->kind == NK_ROP_MOUNT)
                return op->fstype && streq(op->fstype, "proc");
        if (op->kind != NK_ROP_BIND)
                return false;
        int r = op->tree >= 0 ? fstatfs(op->tree, &sf) : statfs(op->source, &sf);
        return r == 0 && sf.f_type == PROC_SUPER_MAGIC;
}

/* Only procfs may cover /proc itself: anything else leaves maskedPaths and
 * readonlyPaths there with nothing to act on. spec.c refuses another type
 * at a written /proc; this catches a symlink leading another destination
 * onto the image's /proc directory or onto a proc already mounted there. */
static int check_proc_itself(struct nk_rexec *x, const struct nk_rop *op, int dst, const char *what,
                             nk_error **err)
{
        struct stat a, b;
        if (op_is_proc(op))
                return 0;
        _cleanup_close_ int proc = nk_root_open_raw(x->rootfd, "/proc");
        if (proc < 0 || fstat(proc, &a) < 0 || fstat(dst, &b) < 0 || a.st_dev != b.st_dev ||
            a.st_ino != b.st_ino)
                return 0;
        return nk_error_set(err, 0,
                            "%s on %s: it leads to /proc, where only proc may be "
                            "mounted",
                            what, op->dest);
}

/* A mount target, resolved and made inside the root like nk_root_open(),
 * and kept out of /proc. Cheap on the common path: a target reached
 * without any symlink is where its written path says, which planning
 * judged already (nk_proc_mount_allowed, `..` taken lexically); one this
 * call created cannot be on procfs, which has no mkdir. Only the others
 * (a symlink on the way) pay an fstatfs. */
int nk_rop_open_target(struct nk_rexec *x, const struct nk_rop *op, bool create_file,
                       const char *what, nk_error **err)
{
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS};
        int fd = nk_openat2(x->rootfd, op->dest, &how, sizeof(how));
        if (fd >= 0)
                return fd;
        bool made = false;
        fd = errno == ENOENT ? root_create(x->rootfd, op->dest, create_file, &made, err)
                             : nk_root_open(x->rootfd, op->dest, true, create_file, err);
        if (fd < 0)
                return nk_error_wrap(err, "%s on %s", what, op->dest);
        if (!made && (check_proc_target(x, fd, what, op, err) < 0 ||
                      check_proc_itself(x, op, fd, what, err) < 0)) {
                close(fd);
                return -1;
        }
        return fd;
}
