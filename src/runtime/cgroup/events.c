/* OOM notification: v1 registers an eventfd on memory.oom_control through
 * cgroup.event_control; v2 has memory.events, which the kernel reports as
 * modified (inotify IN_MODIFY) whenever a counter in it moves. */
#include "../../util/cleanup.h"
#include "internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

long long nk_cgroup_oom_kills(struct nk_cgroup *cg)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "memory");
        _cleanup_free_ char *s = NULL;
        if (!h ||
            nk_cg_read(h->dir, h->mnt->v2 ? "memory.events" : "memory.oom_control", &s, NULL) < 0)
                return -1;
        return nk_cg_kv_get(s, "oom_kill");
}

static int oom_fd_v1(const char *dir, nk_error **err)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/memory.oom_control", dir) < 0)
                return nk_error_set(err, ENOMEM, "oom watch");
        _cleanup_close_ int ofd = open(p, O_RDONLY | O_CLOEXEC);
        if (ofd < 0)
                return nk_error_set(err, errno, "open `%s`", p);
        _cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
                return nk_error_set(err, errno, "eventfd");
        char buf[64];
        snprintf(buf, sizeof(buf), "%d %d", efd, ofd);
        if (nk_cg_write(dir, "cgroup.event_control", buf, err) < 0)
                return -1;
        return TAKE_FD(efd);
}

static int oom_fd_v2(const char *dir, nk_error **err)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/memory.events", dir) < 0)
                return nk_error_set(err, ENOMEM, "oom watch");
        _cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (fd < 0)
                return nk_error_set(err, errno, "inotify_init1");
        if (inotify_add_watch(fd, p, IN_MODIFY) < 0)
                return nk_error_set(err, errno, "inotify_add_watch `%s`", p);
        return TAKE_FD(fd);
}

int nk_cgroup_oom_fd(struct nk_cgroup *cg, nk_error **err)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "memory");
        if (!h)
                return nk_error_set(err, ENOTSUP, "watch OOM of cgroup %s: no memory controller",
                                    cg->path);
        int fd = h->mnt->v2 ? oom_fd_v2(h->dir, err) : oom_fd_v1(h->dir, err);
        return fd < 0 ? nk_error_wrap(err, "watch OOM of cgroup %s", cg->path) : fd;
}

/* v1 signals its eventfd when the OOM killer is about to run, before the
 * oom_kill counter moves: give the counter a moment to catch up. On v1 a
 * notification without a new kill (OOM killer disabled: the task waits) is
 * still one OOM event, as runc reports it; on v2 memory.events also changes
 * for high/max events, so only new kills count. */
int nk_cgroup_oom_events(struct nk_cgroup *cg, int fd, long long *seen)
{
        char buf[4096];
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "memory");
        long long now = nk_cgroup_oom_kills(cg);
        if (!h || now < 0)
                return -1; /* v1 also signals when the cgroup is removed */
        bool v2 = h->mnt->v2;
        for (int i = 0; i < 100 && now <= *seen && !v2; i++) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
                now = nk_cgroup_oom_kills(cg);
        }
        if (now < 0)
                return -1;
        int n = now > *seen ? (int)(now - *seen) : (v2 ? 0 : 1);
        if (now > *seen)
                *seen = now;
        return n;
}
