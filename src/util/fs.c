#include "fs.h"
#include "cleanup.h"
#include "syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

int nk_read_file_at(int dirfd, const char *path, char **out, size_t *len, nk_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        size_t cap = 4096, n = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return nk_error_set(err, ENOMEM, "read `%s`", path);
        for (;;) {
                if (cap - n < 2) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb)
                                return nk_error_set(err, ENOMEM, "read `%s`", path);
                        buf = nb;
                        cap *= 2;
                }
                ssize_t r = read(fd, buf + n, cap - n - 1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return nk_error_set(err, errno, "read `%s`", path);
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        buf[n] = '\0';
        if (len)
                *len = n;
        *out = TAKE_PTR(buf);
        return 0;
}

int nk_read_file(const char *path, char **out, size_t *len, nk_error **err)
{
        return nk_read_file_at(AT_FDCWD, path, out, len, err);
}

int nk_write_all(int fd, const void *buf, size_t len)
{
        const char *data = buf;
        while (len > 0) {
                ssize_t w = write(fd, data, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                data += w;
                len -= (size_t)w;
        }
        return 0;
}

int nk_write_file_at(int dirfd, const char *path, const char *data, size_t len, nk_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        if (nk_write_all(fd, data, len) < 0)
                return nk_error_set(err, errno, "write `%s`", path);
        return 0;
}

#ifndef PROC_ROOT_INO
#define PROC_ROOT_INO 1
#endif

int nk_proc_open(const char *rel, int flags, nk_error **err)
{
        struct statfs sf;
        struct stat st;
        _cleanup_close_ int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (proc < 0)
                return nk_error_set(err, errno, "open /proc");
        if (fstatfs(proc, &sf) < 0 || fstat(proc, &st) < 0)
                return nk_error_set(err, errno, "stat /proc");
        if (sf.f_type != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO)
                return nk_error_set(err, EXDEV,
                                    "/proc is not the root of a procfs: "
                                    "not opening /proc/%s there",
                                    rel);
        struct open_how how = {
                .flags = (uint64_t)(flags & ~(O_CREAT | O_TMPFILE)) | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
        };
        int fd = nk_openat2(proc, rel, &how, sizeof(how));
        if (fd < 0 && errno == EXDEV)
                return nk_error_set(err, EXDEV,
                                    "open /proc/%s: a mount covers it or a "
                                    "directory on its way, not procfs's own file",
                                    rel);
        if (fd < 0)
                return nk_error_set(err, errno, "open /proc/%s", rel);
        return fd;
}

int nk_proc_write(const char *rel, const char *data, size_t len, nk_error **err)
{
        _cleanup_close_ int fd = nk_proc_open(rel, O_WRONLY, err);
        if (fd < 0)
                return -1;
        if (nk_write_all(fd, data, len) < 0)
                return nk_error_set(err, errno, "write /proc/%s", rel);
        return 0;
}

int nk_write_file(const char *path, const char *data, size_t len, mode_t mode, nk_error **err)
{
        _cleanup_close_ int fd =
                open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        if (nk_write_all(fd, data, len) < 0)
                return nk_error_set(err, errno, "write `%s`", path);
        return 0;
}

static int write_replace(const char *path, const char *data, size_t len, mode_t mode, bool durable,
                         nk_error **err)
{
        _cleanup_free_ char *tmp = NULL, *dircopy = strdup(path);
        if (!dircopy || asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
                return nk_error_set(err, ENOMEM, "write `%s`", path);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return nk_error_set(err, errno, "create `%s`", tmp);
        if (nk_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
                int e = errno;
                unlink(tmp);
                return nk_error_set(err, e, "write `%s`", tmp);
        }
        if (rename(tmp, path) < 0) {
                int e = errno;
                unlink(tmp);
                return nk_error_set(err, e, "rename `%s` to `%s`", tmp, path);
        }
        if (!durable)
                return 0;
        _cleanup_close_ int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void)fsync(dfd);
        return 0;
}

int nk_write_file_atomic(const char *path, const char *data, size_t len, mode_t mode,
                         nk_error **err)
{
        return write_replace(path, data, len, mode, true, err);
}

int nk_write_file_replace(const char *path, const char *data, size_t len, mode_t mode,
                          nk_error **err)
{
        return write_replace(path, data, len, mode, false, err);
}

int nk_swap_in_at(int dirfd, const char *tmp, const char *name)
{
        if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0) {
                (void)unlinkat(dirfd, tmp, 0);
                return 0;
        }
        if (errno != ENOENT && errno != EINVAL)
                return -1;
        return renameat(dirfd, tmp, dirfd, name);
}

int nk_mkdir_p(const char *path, mode_t mode, nk_error **err)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return nk_error_set(err, ENOMEM, "mkdir `%s`", path);
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char saved = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return nk_error_set(err, errno, "mkdir `%s`", p);
                *s = saved;
                if (saved == '\0')
                        break;
        }
        return 0;
}

static int rm_rf_at(int dfd, const char *name, dev_t dev, nk_error **err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "stat `%s`", name);
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                        return nk_error_set(err, errno, "unlink `%s`", name);
                return 0;
        }
        if (st.st_dev != dev)
                return nk_error_set(err, EBUSY, "`%s` is a mount point", name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", name);
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return nk_error_set(err, errno, "opendir `%s`", name);
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (rm_rf_at(dirfd(d), de->d_name, dev, err) < 0)
                        return nk_error_wrap(err, "remove `%s`", name);
        }
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return nk_error_set(err, errno, "rmdir `%s`", name);
        return 0;
}

int nk_rm_rf(const char *path, nk_error **err)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "stat `%s`", path);
        return rm_rf_at(AT_FDCWD, path, st.st_dev, err);
}

bool nk_path_exists(const char *path)
{
        return access(path, F_OK) == 0;
}

int nk_flock_wait(int fd, int how)
{
        int r;
        do
                r = flock(fd, how);
        while (r < 0 && errno == EINTR);
        return r;
}

int nk_close_fds_except(unsigned first, const int *keep, size_t n)
{
        /* Ascending, then close each gap between two kept fds. */
        int sorted[16];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned)keep[i] < first)
                        continue;
                if (m == ARRAY_SIZE(sorted)) {
                        errno = E2BIG;
                        return -1;
                }
                size_t j = m++;
                for (; j > 0 && sorted[j - 1] > keep[i]; j--)
                        sorted[j] = sorted[j - 1];
                sorted[j] = keep[i];
        }
        unsigned from = first;
        for (size_t i = 0; i < m; i++) {
                if ((unsigned)sorted[i] > from &&
                    nk_close_range(from, (unsigned)sorted[i] - 1, 0) < 0)
                        return -1;
                from = (unsigned)sorted[i] + 1;
        }
        return nk_close_range(from, ~0U, 0);
}
