#include "engine/layer.h"
#include "engine/engine.h"
#include "engine/jsonutil.h"
#include "engine/layer_pipe.h"
#include "engine/tarsplit.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct dirtime {
        char *path;
        struct timespec ts[2];
        bool gone; /* the directory was replaced by a later entry */
};

/* The open directories from the layer root down to the last parent used:
 * tar streams list a tree depth first, so the next entry's parent is
 * almost always on this path or one level below it, and reaching it costs
 * at most one openat (a new directory is pushed as it is made: none). */
#define STACK_MAX 64
struct dstack {
        char path[PATH_MAX];    /* "a/b/c": the deepest directory */
        size_t ends[STACK_MAX]; /* path length up to component i */
        int fds[STACK_MAX];
        size_t depth;
};

/* One extraction. */
struct xt {
        int root;
        struct archive *tar;
        const char *name; /* current entry, as in the archive, for messages */
        struct dstack *stack;
        int deep_fd;      /* a parent below STACK_MAX levels (borrowed like the stack's) */
        bool stack_stale; /* a directory was removed: forget the stack */
        const char *path; /* current entry, cleaned */
        struct dirtime *dirs;
        size_t n_dirs, cap_dirs;
        struct nk_layer_stats *st;
        bool plain;                 /* nk_layer_limits.plain */
        struct nk_split_rec *split; /* or NULL */
};

int nk_tar_clean_path(const char *name, char **out, nk_error **err)
{
        size_t n = strlen(name);
        _cleanup_free_ char *res = malloc(n + 1);
        if (!res)
                return nk_error_set(err, ENOMEM, "entry `%s`", name);
        size_t len = 0;
        for (const char *p = name; *p;) {
                while (*p == '/')
                        p++;
                const char *end = strchrnul(p, '/');
                size_t cl = (size_t)(end - p);
                if (cl == 2 && p[0] == '.' && p[1] == '.')
                        return nk_error_set(err, 0, "entry `%s`: path contains `..`", name);
                if (cl > 0 && !(cl == 1 && p[0] == '.')) {
                        if (len > 0)
                                res[len++] = '/';
                        memcpy(res + len, p, cl);
                        len += cl;
                }
                p = end;
        }
        res[len] = '\0';
        *out = TAKE_PTR(res);
        return 0;
}

static int open_component(struct xt *x, int dfd, const char *comp, const char *rel, size_t j,
                          bool create, nk_error **err);

/* Open directory rel[from..len) below dfd one component at a time, never
 * following a symlink, making missing ones when `create`. */
static int walk_below(struct xt *x, int dfd, const char *rel, size_t from, size_t len, bool create,
                      nk_error **err)
{
        _cleanup_close_ int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return nk_error_set(err, errno, "entry `%s`: dup", x->name);
        size_t i = from;
        while (i < len) {
                size_t j = i;
                while (j < len && rel[j] != '/')
                        j++;
                char comp[NAME_MAX + 1];
                if (j - i > NAME_MAX)
                        return nk_error_set(err, ENAMETOOLONG, "entry `%s`", x->name);
                memcpy(comp, rel + i, j - i);
                comp[j - i] = '\0';
                int nfd = open_component(x, fd, comp, rel, j, create, err);
                if (nfd < 0)
                        return -1;
                close(fd);
                fd = nfd;
                i = j + 1;
        }
        return TAKE_FD(fd);
}

/* Open directory `rel` below root one component at a time, never following
 * a symlink (hardlink targets: nothing is created). */
static int walk_dir(struct xt *x, const char *rel, size_t rel_len, bool create, nk_error **err)
{
        return walk_below(x, x->root, rel, 0, rel_len, create, err);
}

static void stack_pop_to(struct xt *x, size_t depth)
{
        while (x->stack->depth > depth)
                close(x->stack->fds[--x->stack->depth]);
        x->stack->path[depth ? x->stack->ends[depth - 1] : 0] = '\0';
}

static void parent_forget(struct xt *x)
{
        stack_pop_to(x, 0);
        if (x->deep_fd >= 0)
                close(x->deep_fd);
        x->deep_fd = -1;
}

static int stack_top(struct xt *x)
{
        return x->stack->depth ? x->stack->fds[x->stack->depth - 1] : x->root;
}

/* Push directory fd (taken), one component below the top: comp. */
static void stack_push(struct xt *x, int fd, const char *comp, size_t len)
{
        struct dstack *st = x->stack;
        size_t at = st->depth ? st->ends[st->depth - 1] : 0;
        size_t need = at + (st->depth ? 1 : 0) + len;
        if (st->depth == STACK_MAX || need >= sizeof(st->path)) {
                close(fd);
                return;
        }
        if (st->depth)
                st->path[at++] = '/';
        memcpy(st->path + at, comp, len);
        st->path[need] = '\0';
        st->ends[st->depth] = need;
        st->fds[st->depth++] = fd;
}

/* Open (creating when missing, mode 0755) directory comp below dfd,
 * never following a symlink. rel[0..j) names it, for messages. */
static int open_component(struct xt *x, int dfd, const char *comp, const char *rel, size_t j,
                          bool create, nk_error **err)
{
        int nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
                if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
                        return nk_error_set(err, errno, "entry `%s`: mkdir `%.*s`", x->name, (int)j,
                                            rel);
                nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0) {
                int e = errno;
                struct stat st;
                if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                        return nk_error_set(err, 0, "entry `%s`: parent `%.*s` is a symlink",
                                            x->name, (int)j, rel);
                return nk_error_set(err, e, "entry `%s`: open parent `%.*s`", x->name, (int)j, rel);
        }
        return nfd;
}

/* How many of the stack's directories are a prefix of rel[0..len). */
static size_t stack_common(struct xt *x, const char *rel, size_t len)
{
        struct dstack *st = x->stack;
        size_t k = 0;
        while (k < st->depth) {
                size_t e = st->ends[k];
                if (e > len || memcmp(st->path, rel, e) != 0 || (e < len && rel[e] != '/'))
                        break;
                k++;
        }
        return k;
}

/* The (borrowed) fd of directory rel[0..len) below the layer root, made
 * when missing; *leaf points into path. */
static int parent_of(struct xt *x, const char *path, const char **leaf, nk_error **err)
{
        const char *slash = strrchr(path, '/');
        size_t plen = slash ? (size_t)(slash - path) : 0;
        *leaf = slash ? slash + 1 : path;
        if (x->stack_stale) {
                parent_forget(x);
                x->stack_stale = false;
        }
        size_t k = stack_common(x, path, plen);
        stack_pop_to(x, k);
        size_t i = k ? x->stack->ends[k - 1] + 1 : 0;
        while (i < plen) {
                size_t j = i;
                while (j < plen && path[j] != '/')
                        j++;
                char comp[NAME_MAX + 1];
                if (j - i > NAME_MAX)
                        return nk_error_set(err, ENAMETOOLONG, "entry `%s`", x->name);
                memcpy(comp, path + i, j - i);
                comp[j - i] = '\0';
                int nfd = open_component(x, stack_top(x), comp, path, j, true, err);
                if (nfd < 0)
                        return -1;
                if (x->stack->depth < STACK_MAX) {
                        stack_push(x, nfd, comp, j - i);
                } else {
                        /* Deeper than the stack: walk on from its top. */
                        if (x->deep_fd >= 0)
                                close(x->deep_fd);
                        x->deep_fd = nfd;
                        int fd = walk_below(x, nfd, path, j + 1, plen, true, err);
                        if (fd < 0)
                                return -1;
                        close(x->deep_fd);
                        x->deep_fd = fd;
                        return fd;
                }
                i = j + 1;
        }
        return stack_top(x);
}

/* Clear the way for a new entry at pfd/leaf. Tar semantics: a later entry
 * replaces an earlier one, except that a directory never replaces a symlink
 * (that is how extractors are tricked into writing through it) and a
 * non-empty directory is never removed. */
static int make_room(struct xt *x, int pfd, const char *leaf, bool want_dir, bool *is_dir,
                     nk_error **err)
{
        struct stat st;
        *is_dir = false;
        if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return nk_error_set(err, errno, "entry `%s`: stat", x->name);
        }
        if (want_dir && S_ISDIR(st.st_mode)) {
                *is_dir = true;
                return 0;
        }
        if (want_dir && S_ISLNK(st.st_mode))
                return nk_error_set(err, 0, "entry `%s`: a directory would replace a symlink",
                                    x->name);
        /* The replaced file's content is gone: the tar cannot be rebuilt
         * from the layer. */
        if (x->split)
                nk_split_rec_invalid(x->split, "an entry replaces another");
        if (S_ISDIR(st.st_mode)) {
                if (unlinkat(pfd, leaf, AT_REMOVEDIR) < 0)
                        return nk_error_set(err, errno, "entry `%s`: replace directory", x->name);
                /* pfd may be on the stack: the caller still uses it. */
                x->stack_stale = true;
                for (size_t i = 0; i < x->n_dirs; i++)
                        if (streq(x->dirs[i].path, x->path))
                                x->dirs[i].gone = true;
                return 0;
        }
        if (unlinkat(pfd, leaf, 0) < 0)
                return nk_error_set(err, errno, "entry `%s`: replace existing", x->name);
        return 0;
}

static bool xattr_allowed(const char *name)
{
        /* trusted.* (overlay's own xattrs among them) and security labels
         * other than file capabilities are never taken from an image. */
        return strncmp(name, "user.", 5) == 0 || streq(name, "security.capability");
}

/* Set the entry's xattrs on fd, or (fd < 0) on pfd/leaf without following it. */
static int set_xattrs(struct xt *x, struct archive_entry *e, int fd, int pfd, const char *leaf,
                      nk_error **err)
{
        const char *name;
        const void *val;
        size_t size;
        if (archive_entry_xattr_reset(e) == 0)
                return 0;
        char proc[64 + NAME_MAX];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", pfd, leaf);
        while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
                if (!xattr_allowed(name)) {
                        nk_debug("entry `%s`: xattr %s ignored", x->name, name);
                        continue;
                }
                int r = fd >= 0 ? fsetxattr(fd, name, val, size, 0)
                                : lsetxattr(proc, name, val, size, 0);
                if (r < 0)
                        return nk_error_set(err, errno, "entry `%s`: set xattr %s", x->name, name);
        }
        return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
        ts[0].tv_sec =
                archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
        ts[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e)
                                                      : archive_entry_mtime_nsec(e);
        ts[1].tv_sec = archive_entry_mtime(e);
        ts[1].tv_nsec = archive_entry_mtime_nsec(e);
}

/* Owner, then mode (chown clears setuid bits), then xattrs (chown also
 * drops security.capability), then times. */
static int set_meta_fd(struct xt *x, struct archive_entry *e, int fd, int pfd, const char *leaf,
                       bool times, nk_error **err)
{
        if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
                return nk_error_set(err, errno, "entry `%s`: chown", x->name);
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
                return nk_error_set(err, errno, "entry `%s`: chmod", x->name);
        if (set_xattrs(x, e, fd, pfd, leaf, err) < 0)
                return -1;
        struct timespec ts[2];
        entry_times(e, ts);
        if (times && futimens(fd, ts) < 0)
                return nk_error_set(err, errno, "entry `%s`: set times", x->name);
        return 0;
}

static int write_data(struct xt *x, int fd, struct archive_entry *e, nk_error **err)
{
        const void *buf;
        size_t size;
        la_int64_t off, end = 0;
        for (;;) {
                int r = archive_read_data_block(x->tar, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return nk_error_set(err, nk_archive_errno(x->tar), "entry `%s`: read: %s",
                                            x->name, archive_error_string(x->tar));
                for (size_t done = 0; done < size;) {
                        ssize_t w = pwrite(fd, (const char *)buf + done, size - done,
                                           off + (off_t)done);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return nk_error_set(err, errno, "entry `%s`: write", x->name);
                        done += (size_t)w;
                }
                if (off + (la_int64_t)size > end)
                        end = off + (la_int64_t)size;
        }
        /* Sparse entries end in a hole when their last block is one. */
        if (archive_entry_size(e) > end && ftruncate(fd, archive_entry_size(e)) < 0)
                return nk_error_set(err, errno, "entry `%s`: truncate", x->name);
        x->st->content_bytes += (uint64_t)archive_entry_size(e);
        return 0;
}

static int do_file(struct xt *x, struct archive_entry *e, const char *path, int pfd,
                   const char *leaf, nk_error **err)
{
        /* Create first: only when the name is taken (rare: tar streams
         * seldom repeat a path) does make_room look at what is there. */
        const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
        bool is_dir;
        _cleanup_close_ int fd = openat(pfd, leaf, flags, 0600);
        if (fd < 0 && errno == EEXIST) {
                if (make_room(x, pfd, leaf, false, &is_dir, err) < 0)
                        return -1;
                fd = openat(pfd, leaf, flags, 0600);
        }
        if (fd < 0)
                return nk_error_set(err, errno, "entry `%s`: create", x->name);
        if (write_data(x, fd, e, err) < 0)
                return -1;
        if (x->split && archive_entry_sparse_count(e) > 0)
                nk_split_rec_invalid(x->split, "sparse file");
        else if (x->split && archive_entry_size(e) > 0)
                nk_split_rec_file(x->split, path, (uint64_t)archive_entry_size(e));
        return set_meta_fd(x, e, fd, pfd, leaf, true, err);
}

static int remember_dir_times(struct xt *x, const char *path, struct archive_entry *e,
                              nk_error **err)
{
        if (x->n_dirs == x->cap_dirs) {
                size_t cap = x->cap_dirs ? x->cap_dirs * 2 : 64;
                struct dirtime *d = realloc(x->dirs, cap * sizeof(*d));
                if (!d)
                        return nk_error_set(err, ENOMEM, "entry `%s`", x->name);
                x->dirs = d;
                x->cap_dirs = cap;
        }
        struct dirtime *d = &x->dirs[x->n_dirs];
        if (!(d->path = strdup(path)))
                return nk_error_set(err, ENOMEM, "entry `%s`", x->name);
        entry_times(e, d->ts);
        x->n_dirs++;
        return 0;
}

static int do_dir(struct xt *x, struct archive_entry *e, const char *path, int pfd,
                  const char *leaf, nk_error **err)
{
        bool is_dir = false;
        _cleanup_close_ int fd = -1;
        if (*path == '\0') {
                fd = fcntl(x->root, F_DUPFD_CLOEXEC, 3);
        } else {
                int r = mkdirat(pfd, leaf, 0700);
                if (r < 0 && errno == EEXIST) {
                        if (make_room(x, pfd, leaf, true, &is_dir, err) < 0)
                                return -1;
                        r = is_dir ? 0 : mkdirat(pfd, leaf, 0700);
                }
                if (r < 0)
                        return nk_error_set(err, errno, "entry `%s`: mkdir", x->name);
                fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return nk_error_set(err, errno, "entry `%s`: open directory", x->name);
        if (set_meta_fd(x, e, fd, pfd, leaf, false, err) < 0 ||
            remember_dir_times(x, path, e, err) < 0)
                return -1;
        /* Its entries most likely come next: keep it open as their parent. */
        if (*path && pfd == stack_top(x) && !x->stack_stale && x->stack->depth < STACK_MAX)
                stack_push(x, TAKE_FD(fd), leaf, strlen(leaf));
        return 0;
}

/* Metadata of a node we cannot open for writing (symlink, device, fifo). */
static int set_meta_at(struct xt *x, struct archive_entry *e, int pfd, const char *leaf,
                       bool is_link, nk_error **err)
{
        if (fchownat(pfd, leaf, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "entry `%s`: chown", x->name);
        /* The node was created by us a moment ago in a directory only we
         * write to, so fchmodat's following of the name cannot be misled. */
        if (!is_link && fchmodat(pfd, leaf, archive_entry_perm(e) & 07777, 0) < 0)
                return nk_error_set(err, errno, "entry `%s`: chmod", x->name);
        /* Linux refuses user.* xattrs on symlinks; none matter there. */
        if (!is_link && set_xattrs(x, e, -1, pfd, leaf, err) < 0)
                return -1;
        struct timespec ts[2];
        entry_times(e, ts);
        if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "entry `%s`: set times", x->name);
        return 0;
}

static int do_symlink(struct xt *x, struct archive_entry *e, int pfd, const char *leaf,
                      nk_error **err)
{
        const char *target = archive_entry_symlink(e);
        bool is_dir;
        if (!target || !*target)
                return nk_error_set(err, 0, "entry `%s`: symlink without target", x->name);
        int r = symlinkat(target, pfd, leaf);
        if (r < 0 && errno == EEXIST) {
                if (make_room(x, pfd, leaf, false, &is_dir, err) < 0)
                        return -1;
                r = symlinkat(target, pfd, leaf);
        }
        if (r < 0)
                return nk_error_set(err, errno, "entry `%s`: symlink", x->name);
        return set_meta_at(x, e, pfd, leaf, true, err);
}

static int do_node(struct xt *x, struct archive_entry *e, int pfd, const char *leaf, nk_error **err)
{
        bool is_dir;
        mode_t type = archive_entry_filetype(e);
        dev_t dev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
        int r = mknodat(pfd, leaf, type | 0600, dev);
        if (r < 0 && errno == EEXIST) {
                if (make_room(x, pfd, leaf, false, &is_dir, err) < 0)
                        return -1;
                r = mknodat(pfd, leaf, type | 0600, dev);
        }
        if (r < 0)
                return nk_error_set(err, errno, "entry `%s`: mknod", x->name);
        return set_meta_at(x, e, pfd, leaf, false, err);
}

static int do_hardlink(struct xt *x, const char *raw_target, int pfd, const char *leaf,
                       const char *path, nk_error **err)
{
        _cleanup_free_ char *target = NULL;
        if (nk_tar_clean_path(raw_target, &target, err) < 0)
                return nk_error_wrap(err, "entry `%s`: hardlink target", x->name);
        if (streq(target, path) || *target == '\0')
                return nk_error_set(err, 0, "entry `%s`: hardlink to itself or the root", x->name);
        const char *slash = strrchr(target, '/');
        const char *tleaf = slash ? slash + 1 : target;
        nk_error *werr = NULL;
        _cleanup_close_ int tfd =
                walk_dir(x, target, slash ? (size_t)(slash - target) : 0, false, &werr);
        if (tfd < 0) {
                bool absent = werr->errno_ == ENOENT;
                if (!absent) {
                        nk_error_pass(err, werr);
                        return nk_error_wrap(err, "hardlink target `%s`", raw_target);
                }
                nk_error_free(werr);
                return nk_error_set(err, 0,
                                    "entry `%s`: hardlink target `%s` is not a file in "
                                    "the layer",
                                    x->name, raw_target);
        }
        struct stat st;
        if (fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
                return nk_error_set(err, S_ISDIR(st.st_mode) ? 0 : errno,
                                    "entry `%s`: hardlink target `%s` is not a file in the layer",
                                    x->name, raw_target);
        bool is_dir;
        /* linkat without AT_SYMLINK_FOLLOW links a symlink itself, never
         * what it points to. */
        int r = linkat(tfd, tleaf, pfd, leaf, 0);
        if (r < 0 && errno == EEXIST) {
                if (make_room(x, pfd, leaf, false, &is_dir, err) < 0)
                        return -1;
                r = linkat(tfd, tleaf, pfd, leaf, 0);
        }
        if (r < 0)
                return nk_error_set(err, errno, "entry `%s`: hardlink to `%s`", x->name,
                                    raw_target);
        return 0;
}

static int do_whiteout(struct xt *x, int pfd, const char *leaf, nk_error **err)
{
        if (streq(leaf, ".wh..wh..opq")) {
                if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return nk_error_set(err, errno, "entry `%s`: mark directory opaque",
                                            x->name);
                return 0;
        }
        if (strncmp(leaf, ".wh..wh.", 8) == 0)
                return 0; /* aufs bookkeeping (.wh..wh.plnk ...), meaningless here */
        const char *name = leaf + 4;
        if (!*name || streq(name, ".") || streq(name, ".."))
                return nk_error_set(err, 0, "entry `%s`: invalid whiteout", x->name);
        struct stat st;
        /* A whiteout hides lower layers only: content of this same layer
         * under that name stays. */
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) < 0)
                return nk_error_set(err, errno, "entry `%s`: create whiteout", x->name);
        return 0;
}

static int extract_entry(struct xt *x, struct archive_entry *e, nk_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (nk_tar_clean_path(x->name, &path, err) < 0)
                return -1;
        x->path = path;
        const char *hl = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (*path == '\0') {
                if (hl || type != AE_IFDIR)
                        return nk_error_set(err, 0,
                                            "entry `%s`: the layer root must be a "
                                            "directory",
                                            x->name);
                return x->plain ? 0 : do_dir(x, e, path, -1, path, err);
        }
        const char *leaf;
        int pfd = parent_of(x, path, &leaf, err);
        if (pfd < 0)
                return -1;
        if (!x->plain && strncmp(leaf, ".wh.", 4) == 0)
                return do_whiteout(x, pfd, leaf, err);
        if (hl)
                return do_hardlink(x, hl, pfd, leaf, path, err);
        switch (type) {
        case AE_IFREG:
                return do_file(x, e, path, pfd, leaf, err);
        case AE_IFDIR:
                return do_dir(x, e, path, pfd, leaf, err);
        case AE_IFLNK:
                return do_symlink(x, e, pfd, leaf, err);
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                return do_node(x, e, pfd, leaf, err);
        case AE_IFSOCK:
                return 0; /* sockets are not archived content */
        default:
                return nk_error_set(err, 0, "entry `%s`: unknown file type 0%o", x->name,
                                    (unsigned)type);
        }
}

/* Directory times last: creating entries inside a directory changes them.
 * Deepest first (the reverse of the stream), through the stack. */
static int apply_dir_times(struct xt *x, nk_error **err)
{
        for (size_t i = x->n_dirs; i-- > 0;) {
                struct dirtime *d = &x->dirs[i];
                if (d->gone)
                        continue;
                x->name = d->path;
                if (*d->path == '\0') {
                        if (futimens(x->root, d->ts) < 0)
                                return nk_error_set(err, errno, "layer root: set times");
                        continue;
                }
                const char *leaf;
                int pfd = parent_of(x, d->path, &leaf, err);
                if (pfd < 0)
                        return -1;
                if (utimensat(pfd, leaf, d->ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return nk_error_set(err, errno, "entry `%s`: set times", d->path);
        }
        return 0;
}

static int extract_loop(struct xt *x, nk_error **err)
{
        struct archive_entry *e;
        for (;;) {
                int r = archive_read_next_header(x->tar, &e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return nk_error_set(err, nk_archive_errno(x->tar), "read tar: %s",
                                            archive_error_string(x->tar));
                x->name = archive_entry_pathname(e);
                if (!x->name)
                        return nk_error_set(err, 0, "tar entry %llu has no readable name",
                                            (unsigned long long)x->st->entries);
                x->st->entries++;
                if (extract_entry(x, e, err) < 0)
                        return -1;
        }
}

static uint64_t limit_of(const struct nk_layer_limits *lim)
{
        if (lim && lim->max_bytes)
                return lim->max_bytes;
        uint64_t env = nk_engine_get_env()->max_layer_bytes;
        return env ? env : NK_LAYER_MAX_BYTES;
}

static void xt_free(struct xt *x)
{
        if (x->stack)
                parent_forget(x);
        free(x->stack);
        for (size_t i = 0; i < x->n_dirs; i++)
                free(x->dirs[i].path);
        free(x->dirs);
        if (x->tar)
                archive_read_free(x->tar);
}

static int run_extract(struct xt *x, struct nk_pipe *p, nk_error **err)
{
        x->tar = archive_read_new();
        if (!x->tar)
                return nk_error_set(err, ENOMEM, "libarchive");
        archive_read_support_format_tar(x->tar);
        archive_read_support_format_empty(x->tar);
        if (archive_read_open(x->tar, p, NULL, nk_pipe_read_cb, NULL) != ARCHIVE_OK ||
            extract_loop(x, err) < 0) {
                /* The pipe's own failure (bad compression, size bound) is
                 * the real cause of a tar read error. */
                if (p->err_msg) {
                        nk_error_free(err ? *err : NULL);
                        if (err)
                                *err = NULL;
                        return nk_error_set(err, p->err_errno, "%s", p->err_msg);
                }
                return nk_error_set(err, nk_archive_errno(x->tar), "read tar: %s",
                                    archive_error_string(x->tar));
        }
        if (nk_pipe_drain(p, err) < 0 || apply_dir_times(x, err) < 0)
                return -1;
        return 0;
}

int nk_layer_extract(int blob_fd, int dest_fd, const char *expected_diff_id,
                     const struct nk_layer_limits *lim, struct nk_layer_stats *st, nk_error **err)
{
        return nk_layer_extract_rec(blob_fd, dest_fd, expected_diff_id, lim, NULL, st, err);
}

int nk_layer_extract_rec(int blob_fd, int dest_fd, const char *expected_diff_id,
                         const struct nk_layer_limits *lim, struct nk_split_rec *rec,
                         struct nk_layer_stats *st, nk_error **err)
{
        struct nk_layer_stats local = {0};
        struct xt x = {.root = dest_fd,
                       .deep_fd = -1,
                       .st = &local,
                       .plain = lim && lim->plain,
                       .split = rec};
        if (!(x.stack = calloc(1, sizeof(*x.stack))))
                return nk_error_set(err, ENOMEM, "extract layer");
        struct nk_pipe *p = malloc(sizeof(*p));
        if (!p) {
                free(x.stack);
                return nk_error_set(err, ENOMEM, "extract layer");
        }
        int r = nk_pipe_open(p, blob_fd, limit_of(lim), err);
        p->split = rec;
        if (r == 0)
                r = run_extract(&x, p, err);
        if (r == 0) {
                local.tar_bytes = p->total;
                nk_sha256_final(&p->h, local.diff_id);
                if (expected_diff_id && !streq(expected_diff_id, local.diff_id))
                        r = nk_error_set(err, 0,
                                         "uncompressed layer hashes to %s, the image "
                                         "config says %s",
                                         local.diff_id, expected_diff_id);
        }
        xt_free(&x);
        nk_pipe_close(p);
        free(p);
        if (r == 0 && st)
                *st = local;
        return r;
}

int nk_layer_decompress(int in_fd, nk_bytes_sink sink, void *data,
                        char digest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        struct nk_pipe *p = malloc(sizeof(*p));
        if (!p)
                return nk_error_set(err, ENOMEM, "decompress");
        int r = nk_pipe_open(p, in_fd, limit_of(NULL), err);
        ssize_t n = 0;
        while (r == 0 && (n = nk_pipe_next(p)) > 0)
                r = sink(p->buf, (size_t)n, data, err);
        if (r == 0 && n < 0)
                r = nk_error_set(err, p->err_errno, "%s", p->err_msg);
        if (r == 0)
                nk_sha256_final(&p->h, digest_out);
        nk_pipe_close(p);
        free(p);
        return r;
}
