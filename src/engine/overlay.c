#include "engine/overlay.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
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

static int set_str(int fsfd, const char *key, const char *val, nk_error **err)
{
        if (nk_fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0) < 0)
                return fs_error(fsfd, errno, key, err);
        return 0;
}

/* Pre-6.8 kernels: one "lowerdir=a:b:c" string, limited to a page. */
static int set_lower_legacy(int fsfd, char *const *lowers, size_t n, nk_error **err)
{
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
                len += strlen(lowers[i]) + 1;
        if (len > 4000)
                return nk_error_set(err, 0, "overlay: %zu layers do not fit in the lowerdir "
                                    "option on this kernel (needs Linux 6.8 for more)", n);
        _cleanup_free_ char *s = calloc(1, len);
        if (!s)
                return nk_error_set(err, ENOMEM, "overlay");
        for (size_t i = 0; i < n; i++) {
                if (i)
                        strcat(s, ":");
                strcat(s, lowers[i]);
        }
        return set_str(fsfd, "lowerdir", s, err);
}

static int set_lowers(int fsfd, char *const *lowers, size_t n, nk_error **err)
{
        for (size_t i = 0; i < n; i++) {
                if (nk_fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) == 0)
                        continue;
                if (i == 0 && errno == EINVAL)
                        return set_lower_legacy(fsfd, lowers, n, err);
                return fs_error(fsfd, errno, "lowerdir+", err);
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
        if (upper && (set_str(fsfd, "upperdir", upper, err) < 0 ||
                      set_str(fsfd, "workdir", work, err) < 0))
                return -1;
        /* Lower layers are shared by many mounts: the inode index would tie
         * each lower to the first upper that used it. */
        (void)nk_fsconfig(fsfd, FSCONFIG_SET_STRING, "index", "off", 0);
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
