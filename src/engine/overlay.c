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
 * "/proc/self/fd/N". The fds stay open until the mount is created: before
 * Linux 6.5 the kernel resolves those paths only then (see is_legacy). */
struct dir_arg {
        int fd;
        int tree; /* an idmapped layer's detached mount, else -1 */
        char path[32];
};

/* userns >= 0: the directory through an idmapped clone of it (a detached
 * mount that shows its owners shifted by userns's maps), as a lower of a
 * user-namespaced container: its root then owns the image's files.
 * overlayfs takes idmapped layers since Linux 5.19; it can't be idmapped
 * itself. The clone's fd stays open until the overlay exists: closing it
 * dissolves the clone, which overlayfs then refuses to take as a layer
 * ("failed to clone lowerpath"). */
static int dir_open(const char *path, int userns, struct dir_arg *d, nk_error **err)
{
        d->tree = -1;
        if (userns >= 0) {
                d->fd = -1;
                d->tree = nk_open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
                struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)userns};
                if (d->tree < 0 || nk_mount_setattr(d->tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
                        return nk_error_set(err, errno, "overlay: idmapped layer `%s`", path);
                d->fd = openat(d->tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
                d->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (d->fd < 0)
                return nk_error_set(err, errno, "overlay: open `%s`", path);
        snprintf(d->path, sizeof(d->path), "/proc/self/fd/%d", d->fd);
        return 0;
}

/* Before Linux 6.5 overlayfs takes its options the legacy way: fsconfig
 * only collects "key=value" strings, any key accepted (so `lowerdir+`
 * would be taken, then refused at create), and the whole string is parsed
 * at FSCONFIG_CMD_CREATE. fsconfig refuses an fd there with EOPNOTSUPP
 * whatever the key; a newer overlay answers EINVAL to an unknown key.
 * Learnt once, from a key no kernel knows. */
static int legacy_ctx = -1;

static bool is_legacy(int fsfd)
{
        if (legacy_ctx < 0) {
                legacy_ctx = nk_fsconfig(fsfd, FSCONFIG_SET_FD, "nook-probe", NULL, fsfd) < 0 &&
                             errno == EOPNOTSUPP;
                fs_log_drain(fsfd);
        }
        return legacy_ctx;
}

/* Cleared when the kernel takes no fds (before 6.13), or by the test knob
 * overlay_no_fd (NOOK_OVERLAY_NO_FD=1) to exercise the path form on newer
 * kernels. */
static int fd_params = -1;

static int set_dir(int fsfd, const char *key, const struct dir_arg *d, nk_error **err)
{
        if (fd_params < 0)
                fd_params = !nk_engine_get_env()->overlay_no_fd && !is_legacy(fsfd);
        int r = fd_params ? nk_fsconfig(fsfd, FSCONFIG_SET_FD, key, NULL, d->fd) : -1;
        if (r < 0 && (!fd_params || errno == EINVAL)) {
                if (fd_params)
                        fs_log_drain(fsfd);
                r = nk_fsconfig(fsfd, FSCONFIG_SET_STRING, key, d->path, 0);
                if (r == 0)
                        fd_params = 0;
        }
        if (r < 0)
                return fs_error(fsfd, errno, key, err);
        return 0;
}

/* Pre-6.8 kernels: one "lowerdir=a:b:c" string, limited to a page. */
static int set_lower_legacy(int fsfd, const struct dir_arg *d, size_t n, nk_error **err)
{
        _cleanup_free_ char *s = calloc(n + 1, sizeof(d->path) + 1);
        if (!s)
                return nk_error_set(err, ENOMEM, "overlay");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(s, ":");
                strcat(s, d[i].path);
        }
        if (strlen(s) >= 4000)
                return nk_error_set(err, 0,
                                    "overlay: %zu layers do not fit in the lowerdir "
                                    "option on this kernel (needs Linux 6.8 for more)",
                                    n);
        if (nk_fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", s, 0) < 0)
                return fs_error(fsfd, errno, "lowerdir", err);
        return 0;
}

static int set_lowers(int fsfd, const struct dir_arg *d, size_t n, nk_error **err)
{
        if (is_legacy(fsfd))
                return set_lower_legacy(fsfd, d, n, err);
        for (size_t i = 0; i < n; i++) {
                nk_error *e = NULL;
                if (set_dir(fsfd, "lowerdir+", &d[i], &e) == 0)
                        continue;
                if (i == 0 && e->errno_ == EINVAL) {
                        nk_error_free(e);
                        fs_log_drain(fsfd);
                        return set_lower_legacy(fsfd, d, n, err);
                }
                return nk_error_pass(err, e);
        }
        return 0;
}

static void dirs_close(struct dir_arg *d, size_t n)
{
        for (size_t i = 0; d && i < n; i++) {
                if (d[i].fd >= 0)
                        close(d[i].fd);
                if (d[i].tree >= 0)
                        close(d[i].tree);
        }
        free(d);
}

/* The lowers, then upper and work: d[n], d[n + 1]. */
static int configure(int fsfd, const struct dir_arg *d, size_t n, bool upper, nk_error **err)
{
        if (set_lowers(fsfd, d, n, err) < 0)
                return -1;
        if (upper && (set_dir(fsfd, "upperdir", &d[n], err) < 0 ||
                      set_dir(fsfd, "workdir", &d[n + 1], err) < 0))
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
        return 0;
}

int nk_overlay_create(char *const *lowers, size_t n, const char *upper, const char *work,
                      int userns, nk_error **err)
{
        if (n == 0)
                return nk_error_set(err, 0, "overlay: no lower layer");
        _cleanup_close_ int fsfd = nk_fsopen("overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return nk_error_set(err, errno, "fsopen overlay");
        size_t total = n + (upper ? 2 : 0), opened = 0;
        struct dir_arg *d = calloc(total, sizeof(*d));
        if (!d)
                return nk_error_set(err, ENOMEM, "overlay");
        int r = 0;
        for (; r == 0 && opened < total; opened++)
                r = dir_open(opened < n    ? lowers[opened]
                             : opened == n ? upper
                                           : work,
                             opened < n ? userns : -1, &d[opened], err);
        if (r == 0)
                r = configure(fsfd, d, n, upper != NULL, err);
        dirs_close(d, opened);
        if (r < 0)
                return -1;
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
