/* A container's network namespace as a file, ROOT/netns/<id> (podman's
 * model): in nook itself, not in nook-net.so, so `run` makes it before it
 * loads the networking module (which then attaches into it while the
 * monitor creates the container). */
#include "net/ctrnet.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

bool nk_ctrnet_is_netns(const char *path)
{
        struct statfs s;
        return statfs(path, &s) == 0 && (unsigned long)s.f_type == (unsigned long)NSFS_MAGIC;
}

/* A new network namespace bound at ROOT/netns/<id>: this (single-threaded)
 * process enters a fresh one, binds it, and goes back; the bind keeps it
 * alive without any process in it. An existing one is kept. */
int nk_ctrnet_netns_make(const char *root, const char *id, char *path, size_t len, nk_error **err)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/netns", root);
        nk_ctrnet_netns_path(root, id, path, len);
        if (nk_ctrnet_is_netns(path))
                return 0;
        if (nk_mkdir_p(dir, 0711, err) < 0)
                return -1;
        int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return nk_error_set(err, errno, "create `%s`", path);
        close(fd);
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return nk_error_set(err, errno, "open our network namespace");
        if (unshare(CLONE_NEWNET) < 0) {
                int e = errno;
                unlink(path);
                return nk_error_set(err, e, "new network namespace");
        }
        int rc = mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL), e = errno;
        if (setns(self, CLONE_NEWNET) < 0) /* cannot happen: it was ours */
                return nk_error_set(err, errno, "back to our network namespace");
        if (rc < 0) {
                unlink(path);
                return nk_error_set(err, e, "bind the network namespace at `%s`", path);
        }
        return 0;
}
