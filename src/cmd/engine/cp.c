/* `nook cp SRC DST`: files between a container and the host, one side
 * CONTAINER:PATH. Archive mode: owner, mode and times are kept; directories
 * are copied whole; symlinks are copied as links, never followed.
 *
 * No escape from the container: its side is a directory fd on its root
 * (/proc/PID/root of a running one, so its volumes are seen; else its
 * overlay as a detached mount made for the copy), every path given is resolved with openat2
 * RESOLVE_IN_ROOT (a symlink to /etc/shadow or ../../.. stays inside it),
 * and below that every step is one name opened with O_NOFOLLOW relative to
 * the fd of its directory: a container swapping a directory for a link
 * meanwhile makes the copy fail, never leave its root. */
#include "cmd/engine/ctr_cmd.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/syscalls.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct side {
        int root;     /* the container's root (O_PATH), or AT_FDCWD: the host */
        bool in_root; /* resolve beneath root */
        const char *ref;
};

/* path on this side, resolved (symlinks in it followed, beneath the root
 * for a container); open flags as openat's. */
static int side_open(const struct side *s, const char *path, int flags)
{
        if (!s->in_root)
                return open(path, flags | O_CLOEXEC);
        struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        return nk_openat2(s->root, path, &how, sizeof how);
}

/* Split path into its directory (opened O_PATH on side s) and last name.
 * "", ".", ".." and "/" as last name: name is NULL (the directory itself:
 * its contents are what is meant). */
static int side_parent(const struct side *s, const char *path, char **name, nk_error **err)
{
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return nk_error_set(err, ENOMEM, "cp");
        size_t n = strlen(copy);
        bool dir_only = n == 0 || copy[n - 1] == '/';
        while (n > 1 && copy[n - 1] == '/')
                copy[--n] = '\0';
        char *slash = strrchr(copy, '/');
        const char *base = slash ? slash + 1 : copy;
        *name = NULL;
        if (!*base || streq(base, ".") || streq(base, "..") || (dir_only && streq(copy, "/"))) {
                int fd = side_open(s, *copy ? copy : ".", O_PATH | O_DIRECTORY);
                if (fd < 0)
                        return nk_error_set(err, errno, "%s%s%s", s->in_root ? s->ref : "",
                                            s->in_root ? ":" : "", path);
                return fd;
        }
        if (!(*name = strdup(base)))
                return nk_error_set(err, ENOMEM, "cp");
        const char *dir = ".";
        if (slash == copy)
                dir = "/";
        else if (slash) {
                *slash = '\0';
                dir = copy;
        }
        int fd = side_open(s, dir, O_PATH | O_DIRECTORY);
        if (fd < 0) {
                free(*name);
                *name = NULL;
                return nk_error_set(err, errno, "%s%s%s", s->in_root ? s->ref : "",
                                    s->in_root ? ":" : "", path);
        }
        return fd;
}

/* Owner, mode, times of st onto fd (an opened entry) or dir/name (a link). */
static int keep_attrs(int fd, int dir, const char *name, const struct stat *st, const char *what,
                      nk_error **err)
{
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        if (S_ISLNK(st->st_mode)) {
                if (fchownat(dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return nk_error_set(err, errno, "`%s`: keep owner and times", what);
                return 0;
        }
        if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 ||
            futimens(fd, ts) < 0)
                return nk_error_set(err, errno, "`%s`: keep owner, mode and times", what);
        return 0;
}

static int copy_data(int in, int out, const char *what, nk_error **err)
{
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n == 0)
                        return 0;
                if (n > 0)
                        continue;
                if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
                        return nk_error_set(err, errno, "`%s`: copy", what);
                break;
        }
        char buf[65536];
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "`%s`: read", what);
                if (n == 0)
                        return 0;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return nk_error_set(err, errno, "`%s`: write", what);
                        off += w;
                }
        }
}

static int copy_entry(int sdir, const char *sname, int ddir, const char *dname, int depth,
                      nk_error **err);

/* Every entry of directory src into directory dst (both opened). */
static int copy_children(int src, int dst, int depth, nk_error **err)
{
        int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "read a directory");
        }
        int r = 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = copy_entry(src, de->d_name, dst, de->d_name, depth + 1, err);
        closedir(d);
        return r;
}

/* sdir/sname -> ddir/dname, a name each (never a path: nothing followed).
 * An existing destination directory is merged into; another existing
 * entry is replaced. */
static int copy_entry(int sdir, const char *sname, int ddir, const char *dname, int depth,
                      nk_error **err)
{
        struct stat st, dst;
        if (depth > 256)
                return nk_error_set(err, ELOOP, "`%s`: too deep", sname);
        if (fstatat(sdir, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "`%s`", sname);
        bool exists = fstatat(ddir, dname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
        if (exists && !(S_ISDIR(st.st_mode) && S_ISDIR(dst.st_mode))) {
                if (S_ISDIR(dst.st_mode))
                        return nk_error_set(err, EISDIR,
                                            "cannot overwrite directory `%s` with a non-directory",
                                            dname);
                if (unlinkat(ddir, dname, 0) < 0)
                        return nk_error_set(err, errno, "`%s`: replace", dname);
                exists = false;
        }
        if (S_ISDIR(st.st_mode)) {
                if (!exists && mkdirat(ddir, dname, 0700) < 0)
                        return nk_error_set(err, errno, "`%s`: mkdir", dname);
                _cleanup_close_ int s =
                        openat(sdir, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d =
                        openat(ddir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return nk_error_set(err, errno, "`%s`: open", s < 0 ? sname : dname);
                if (copy_children(s, d, depth, err) < 0)
                        return nk_error_wrap(err, "`%s`", sname);
                return keep_attrs(d, -1, NULL, &st, dname, err);
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int s = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d = openat(
                        ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (s < 0 || d < 0)
                        return nk_error_set(err, errno, "`%s`: open", s < 0 ? sname : dname);
                if (copy_data(s, d, sname, err) < 0)
                        return -1;
                return keep_attrs(d, -1, NULL, &st, dname, err);
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(sdir, sname, target, sizeof target - 1);
                if (n < 0)
                        return nk_error_set(err, errno, "`%s`: readlink", sname);
                target[n] = '\0';
                if (symlinkat(target, ddir, dname) < 0)
                        return nk_error_set(err, errno, "`%s`: symlink", dname);
                return keep_attrs(-1, ddir, dname, &st, dname, err);
        }
        /* fifos, devices, sockets (as the node only) */
        if (mknodat(ddir, dname, st.st_mode, st.st_rdev) < 0)
                return nk_error_set(err, errno, "`%s`: mknod", dname);
        if (fchownat(ddir, dname, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(ddir, dname, st.st_mode & 07777, 0) < 0)
                return nk_error_set(err, errno, "`%s`: keep owner and mode", dname);
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        (void)utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW);
        return 0;
}

/* "CONTAINER:PATH" -> the container's part and the path; NULL: a host path
 * (a path with a slash before any colon is the host's, as Docker says). */
static char *split_ref(const char *arg, const char **path)
{
        const char *colon = strchr(arg, ':');
        const char *slash = strchr(arg, '/');
        if (!colon || colon == arg || (slash && slash < colon))
                return NULL;
        *path = colon + 1;
        return strndup(arg, (size_t)(colon - arg));
}

/* The root of a running container's init, /proc/PID/root (its volumes
 * seen), if that very init still runs once it is open (its pid could have
 * been reused); else -1. */
static int running_root(const struct nk_global *g, const char *id, const struct nk_ctr_state *st)
{
        if (st->pid <= 0)
                return -1;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/root", (int)st->pid);
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct nk_ctr_state again;
        nk_error *e = NULL;
        if (fd >= 0 && (nk_ctr_state(g->store, g->root, id, &again, &e) < 0 ||
                        again.pid != st->pid || again.started_ns != st->started_ns)) {
                nk_error_free(e);
                close(fd);
                fd = -1;
        }
        return fd;
}

/* The container's root: its init's while it runs; else its overlay made
 * here as a detached mount (attached nowhere: a cp killed halfway leaves
 * no mount), under the rootfs lock (*lock, held until the copy is done)
 * so that no start makes another overlay on the same upper meanwhile. */
static int container_root(const struct nk_global *g, const char *ref, int *lock, nk_error **err)
{
        char id[NK_CTR_ID_LEN + 1];
        struct nk_ctr_state st;
        if (nk_ctr_resolve(g->store, ref, id, err) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        if (st.status == NK_CTR_REMOVING)
                return nk_error_set(err, 0, "container %s is being removed", ref);
        int fd = running_root(g, id, &st);
        if (fd >= 0)
                return fd;
        if ((*lock = nk_image_rootfs_lock(g->store, id, true, err)) < 0 ||
            nk_ctr_state(g->store, g->root, id, &st, err) < 0)
                return -1;
        if (st.status == NK_CTR_REMOVING)
                return nk_error_set(err, 0, "container %s is being removed", ref);
        if ((fd = running_root(g, id, &st)) >= 0) { /* started meanwhile */
                close(TAKE_FD(*lock));
                return fd;
        }
        if (st.pid > 0)
                return nk_error_set(err, 0, "container %s: the root of its init %d", ref,
                                    (int)st.pid);
        fd = nk_image_rootfs_open(g->store, id, err);
        return fd < 0 ? nk_error_wrap(err, "container %s", ref) : fd;
}

/* `cp CONTAINER:SRC -`: SRC as a tar on stdout, named by its last
 * component (its entries only for `/` and `DIR/.`). */
static int cp_to_stream(const struct nk_global *g, const char *ref, const char *path)
{
        nk_error *e = NULL;
        if (!*path)
                return nk_cmd_usage_error("cp", "empty path");
        nk_engine_cp_tar_out_fn out = nk_cmd_engine_symbol("nk_engine_cp_tar_out");
        if (!out)
                return 1;
        _cleanup_close_ int lock = -1;
        _cleanup_close_ int root = container_root(g, ref, &lock, &e);
        if (root < 0)
                return nk_ctr_fail(e, 1);
        struct side s = {root, true, ref};
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = side_parent(&s, path, &name, &e);
        size_t n = strlen(path);
        if (dir >= 0 && name && n >= 2 && streq(path + n - 2, "/.")) {
                close(dir); /* its contents: the directory itself, opened beneath the root */
                dir = side_open(&s, path, O_RDONLY | O_DIRECTORY);
                free(TAKE_PTR(name));
                if (dir < 0)
                        nk_error_set(&e, errno, "%s:%s", ref, path);
        }
        struct stat st; /* before any byte of the stream: a missing SRC is no archive */
        if (dir >= 0 && name && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                nk_error_set(&e, errno, "%s:%s", ref, path);
                return nk_ctr_fail(e, 1);
        }
        if (dir < 0 || out(dir, name, STDOUT_FILENO, &e) < 0)
                return nk_ctr_fail(e, 1);
        return 0;
}

/* `cp - CONTAINER:DST`: a tar from stdin extracted into DST, an existing
 * directory of the container (Docker's rule), through the layer
 * extractor's checks: no `..`, no parent followed through a link, hard
 * links only to entries inside, so nothing lands outside DST. */
static int cp_from_stream(const struct nk_global *g, const char *ref, const char *path)
{
        nk_error *e = NULL;
        if (!*path)
                return nk_cmd_usage_error("cp", "empty path");
        nk_engine_cp_tar_in_fn in = nk_cmd_engine_symbol("nk_engine_cp_tar_in");
        if (!in)
                return 1;
        _cleanup_close_ int lock = -1;
        _cleanup_close_ int root = container_root(g, ref, &lock, &e);
        if (root < 0)
                return nk_ctr_fail(e, 1);
        struct side s = {root, true, ref};
        _cleanup_close_ int dir = side_open(&s, path, O_RDONLY | O_DIRECTORY);
        if (dir < 0) {
                nk_error_set(&e, errno, "%s:%s: the destination of `-` must be a directory", ref,
                             path);
                return nk_ctr_fail(e, 1);
        }
        if (in(STDIN_FILENO, dir, &e) < 0) {
                nk_error_wrap(&e, "extract into %s:%s", ref, path);
                return nk_ctr_fail(e, 1);
        }
        return 0;
}

int nk_cmd_cp(const struct nk_global *g, int argc, char **argv)
{
        optind = 1;
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "-a") || streq(argv[i], "--archive"))
                        memmove(argv + i, argv + i + 1, (size_t)(argc-- - i - 1) * sizeof *argv),
                                i--; /* always archive mode */
                else if (argv[i][0] == '-' && argv[i][1])
                        return nk_cmd_usage_error("cp", "unknown option `%s`", argv[i]);
        if (argc != 3)
                return nk_cmd_usage_error("cp", "expects SRC DST, one of them CONTAINER:PATH");
        const char *spath = argv[1], *dpath = argv[2];
        _cleanup_free_ char *sref = split_ref(argv[1], &spath);
        _cleanup_free_ char *dref = split_ref(argv[2], &dpath);
        if (!sref == !dref)
                return nk_cmd_usage_error("cp", "one of SRC and DST must be CONTAINER:PATH, "
                                                "the other a host path");
        if (!sref && streq(spath, "-"))
                return cp_from_stream(g, dref, dpath);
        if (!dref && streq(dpath, "-"))
                return cp_to_stream(g, sref, spath);
        nk_error *e = NULL;
        struct side src = {AT_FDCWD, false, sref}, dst = {AT_FDCWD, false, dref};
        _cleanup_close_ int lock = -1;
        _cleanup_close_ int croot = container_root(g, sref ? sref : dref, &lock, &e);
        if (croot < 0)
                return nk_ctr_fail(e, 1);
        if (sref)
                src = (struct side){croot, true, sref};
        else
                dst = (struct side){croot, true, dref};
        if (!*spath || !*dpath)
                return nk_cmd_usage_error("cp", "empty path");
        /* the source: its directory and name (NULL: a directory's contents) */
        _cleanup_free_ char *sname = NULL;
        _cleanup_close_ int sdir = side_parent(&src, spath, &sname, &e);
        if (sdir < 0)
                return nk_ctr_fail(e, 1);
        size_t sl = strlen(spath);
        bool contents = !sname || (sl >= 2 && streq(spath + sl - 2, "/."));
        struct stat sst;
        if (sname && fstatat(sdir, sname, &sst, AT_SYMLINK_NOFOLLOW) < 0) {
                nk_error_set(&e, errno, "%s%s%s", sref ? sref : "", sref ? ":" : "", spath);
                return nk_ctr_fail(e, 1);
        }
        bool sdir_is = !sname || S_ISDIR(sst.st_mode);
        /* the destination: an existing directory takes the source by its
         * name; else the source takes the destination's name */
        _cleanup_close_ int dfd = side_open(&dst, dpath, O_PATH);
        struct stat dst_st;
        bool d_dir = dfd >= 0 && fstat(dfd, &dst_st) == 0 && S_ISDIR(dst_st.st_mode);
        size_t dl = strlen(dpath);
        if (dfd < 0 && dpath[dl - 1] == '/') {
                nk_error_set(&e, errno, "%s%s%s: not an existing directory", dref ? dref : "",
                             dref ? ":" : "", dpath);
                return nk_ctr_fail(e, 1);
        }
        if (dfd >= 0 && !d_dir && sdir_is) {
                nk_log(NK_LOG_ERROR, "cannot copy a directory to a file: %s%s%s", dref ? dref : "",
                       dref ? ":" : "", dpath);
                return 1;
        }
        int r;
        if (d_dir && contents) {
                _cleanup_close_ int s =
                        sname ? openat(sdir, sname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                              : dup(sdir);
                r = s < 0 ? nk_error_set(&e, errno, "%s", spath) : copy_children(s, dfd, 0, &e);
        } else if (d_dir) {
                r = copy_entry(sdir, sname, dfd, sname, 0, &e);
        } else if (dfd >= 0 && S_ISREG(dst_st.st_mode) && S_ISREG(sst.st_mode)) {
                /* an existing file (through links, beneath the root): its
                 * content replaced where it is */
                close(dfd);
                dfd = side_open(&dst, dpath, O_WRONLY | O_TRUNC);
                _cleanup_close_ int s = openat(sdir, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 || s < 0)
                        r = nk_error_set(&e, errno, "%s", dfd < 0 ? dpath : spath);
                else
                        r = copy_data(s, dfd, spath, &e) < 0
                                    ? -1
                                    : keep_attrs(dfd, -1, NULL, &sst, dpath, &e);
        } else {
                _cleanup_free_ char *dname = NULL;
                _cleanup_close_ int ddir = side_parent(&dst, dpath, &dname, &e);
                if (ddir < 0)
                        return nk_ctr_fail(e, 1);
                if (!dname) {
                        nk_log(NK_LOG_ERROR, "cp: bad destination `%s`", dpath);
                        return 1;
                }
                if (contents) {
                        _cleanup_close_ int s =
                                sname ? openat(sdir, sname,
                                               O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                      : dup(sdir);
                        struct stat ds;
                        r = s < 0 || fstat(s, &ds) < 0 ? nk_error_set(&e, errno, "%s", spath)
                            : mkdirat(ddir, dname, 0700) < 0
                                    ? nk_error_set(&e, errno, "%s: mkdir", dpath)
                                    : 0;
                        _cleanup_close_ int d =
                                r < 0 ? -1
                                      : openat(ddir, dname,
                                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (r == 0 && d < 0)
                                r = nk_error_set(&e, errno, "%s", dpath);
                        if (r == 0)
                                r = copy_children(s, d, 0, &e);
                        if (r == 0)
                                r = keep_attrs(d, -1, NULL, &ds, dpath, &e);
                } else {
                        r = copy_entry(sdir, sname, ddir, dname, 0, &e);
                }
        }
        return r < 0 ? nk_ctr_fail(e, 1) : 0;
}
