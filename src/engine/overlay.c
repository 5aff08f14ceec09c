#include "engine/overlay.h"
#include "engine/engine.h"
#include "engine/jsonutil.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel explains fsconfig failures in the fs context's message log:
 * read(2) on the fsopen fd returns lines like "e overlay: ...". */
static int fs_error(int fsfd, int e, const char *what, nk_error **err)
{
        char buf[512];
        ssize_t n = read(fsfd, buf, sizeof(buf) - 1);
        if (n > 2) {
                buf[n] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                return nk_error_set(err, e, "overlay %s: %s", what, buf + 2);
        }
        return nk_error_set(err, e, "overlay %s", what);
}

/* Forget the messages of a failed attempt we recovered from, so a later
 * error is not explained by them. */
static void fs_log_drain(int fsfd)
{
        char buf[512];
        for (int i = 0; i < 64 && read(fsfd, buf, sizeof(buf)) > 0; i++)
                ;
}

/* fsconfig copies at most 256 bytes of a string value, and a store's
 * layer paths can be longer. So every directory is opened and handed over
 * as an fd (Linux 6.13+), or else as the short path of that fd,
 * "/proc/self/fd/N", which the kernel resolves at fsconfig time. */
struct dir_arg {
        int fd;
        char path[32];
};

static int dir_open(const char *path, struct dir_arg *d, nk_error **err)
{
        d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->fd < 0)
                return nk_error_set(err, errno, "overlay: open `%s`", path);
        snprintf(d->path, sizeof(d->path), "/proc/self/fd/%d", d->fd);
        return 0;
}

static void dir_close(struct dir_arg *d)
{
        if (d->fd >= 0)
                close(d->fd);
        d->fd = -1;
}

/* Cleared when the kernel takes no fds (before 6.13), or by the test knob
 * overlay_no_fd (NOOK_OVERLAY_NO_FD=1) to exercise the path form on newer
 * kernels. */
static int fd_params = -1;

static int set_dir(int fsfd, const char *key, const char *path, nk_error **err)
{
        struct dir_arg d;
        if (dir_open(path, &d, err) < 0)
                return -1;
        if (fd_params < 0)
                fd_params = !nk_engine_get_env()->overlay_no_fd;
        int r = fd_params ? nk_fsconfig(fsfd, FSCONFIG_SET_FD, key, NULL, d.fd) : -1;
        if (r < 0 && (!fd_params || errno == EINVAL)) {
                if (fd_params)
                        fs_log_drain(fsfd);
                r = nk_fsconfig(fsfd, FSCONFIG_SET_STRING, key, d.path, 0);
                if (r == 0)
                        fd_params = 0;
        }
        int e = errno;
        dir_close(&d);
        if (r < 0)
                return fs_error(fsfd, e, key, err);
        return 0;
}

/* Pre-6.8 kernels: one "lowerdir=a:b:c" string, limited to a page. */
static int set_lower_legacy(int fsfd, char *const *lowers, size_t n, nk_error **err)
{
        struct dir_arg *d = calloc(n + 1, sizeof(*d));
        _cleanup_free_ char *s = calloc(n + 1, sizeof(d->path) + 1);
        int r = d && s ? 0 : nk_error_set(err, ENOMEM, "overlay");
        size_t opened = 0;
        for (; r == 0 && opened < n; opened++) {
                if (dir_open(lowers[opened], &d[opened], err) < 0) {
                        r = -1;
                        break;
                }
                if (opened)
                        strcat(s, ":");
                strcat(s, d[opened].path);
        }
        if (r == 0 && strlen(s) >= 4000)
                r = nk_error_set(err, 0,
                                 "overlay: %zu layers do not fit in the lowerdir "
                                 "option on this kernel (needs Linux 6.8 for more)",
                                 n);
        if (r == 0 && nk_fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", s, 0) < 0)
                r = fs_error(fsfd, errno, "lowerdir", err);
        for (size_t i = 0; d && i < opened; i++)
                dir_close(&d[i]);
        free(d);
        return r;
}

static int set_lowers(int fsfd, char *const *lowers, size_t n, nk_error **err)
{
        for (size_t i = 0; i < n; i++) {
                nk_error *e = NULL;
                if (set_dir(fsfd, "lowerdir+", lowers[i], &e) == 0)
                        continue;
                if (i == 0 && e->errno_ == EINVAL) {
                        nk_error_free(e);
                        fs_log_drain(fsfd);
                        return set_lower_legacy(fsfd, lowers, n, err);
                }
                return nk_error_pass(err, e);
        }
        return 0;
}

int nk_overlay_create(char *const *lowers, size_t n, const char *upper, const char *work,
                      nk_error **err)
{
        if (n == 0)
                return nk_error_set(err, 0, "overlay: no lower layer");
        _cleanup_close_ int fsfd = nk_fsopen("overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return nk_error_set(err, errno, "fsopen overlay");
        if (set_lowers(fsfd, lowers, n, err) < 0)
                return -1;
        if (upper &&
            (set_dir(fsfd, "upperdir", upper, err) < 0 || set_dir(fsfd, "workdir", work, err) < 0))
                return -1;
        /* Lower layers are shared by many mounts: the inode index would tie
         * each lower to the first upper that used it. */
        (void)nk_fsconfig(fsfd, FSCONFIG_SET_STRING, "index", "off", 0);
        /* A container's upper layer is scratch space: without `volatile`
         * every unmount syncs the whole filesystem the store is on (tens
         * to hundreds of ms on a busy disk, at each `run --rm`). Kernels
         * before 5.10 refuse the flag; the mount is then made without it. */
        if (upper)
                (void)nk_fsconfig(fsfd, FSCONFIG_SET_FLAG, "volatile", NULL, 0);
        if (nk_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fs_error(fsfd, errno, "create", err);
        int mfd = nk_fsmount(fsfd, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
        if (mfd < 0)
                return nk_error_set(err, errno, "fsmount overlay");
        return mfd;
}

int nk_overlay_attach(int mnt_fd, const char *target, nk_error **err)
{
        if (nk_move_mount(mnt_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "mount overlay on `%s`", target);
        return 0;
}
