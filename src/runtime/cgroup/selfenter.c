/* Entering the container cgroup without the kernel's global lock.
 *
 * A write to cgroup.procs takes cgroup_threadgroup_rwsem for writing, and
 * the first writer after a quiet spell waits a whole RCU grace period for
 * it (about 10 ms here: most of a container start). The kernel skips that
 * lock when a task moves only itself, as a single thread ("0" written to a
 * v1 `tasks` file): it cannot exit or exec under our feet. The container
 * init is single-threaded, so it moves itself that way through fds the
 * parent opened (permission is checked against the opener's credentials,
 * so this works from inside a new user namespace too). The unified
 * hierarchy, where single-thread moves need threaded mode, is entered with
 * clone3(CLONE_INTO_CGROUP), which takes the lock only for reading. */
#include "internal.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int nk_cgroup_clone_fd(struct nk_cgroup *cg)
{
        if (cg->v2_fd < 0) {
                struct nk_cg_hier *h = nk_cg_hier_v2(cg);
                if (h)
                        cg->v2_fd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        return cg->v2_fd;
}

int nk_cgroup_self_enter_open(struct nk_cgroup *cg, int **fds, size_t *n, nk_error **err)
{
        int *v = calloc(cg->n ? cg->n : 1, sizeof(int));
        size_t k = 0;
        if (!v)
                return nk_error_set(err, ENOMEM, "cgroup");
        for (size_t i = 0; i < cg->n; i++) {
                if (cg->h[i].mnt->v2)
                        continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/tasks", cg->h[i].dir);
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0) {
                        int e = errno;
                        nk_cgroup_self_enter_close(v, k);
                        return nk_error_set(err, e, "open `%s`", path);
                }
                v[k++] = fd;
        }
        *fds = v;
        *n = k;
        return 0;
}

int nk_cgroup_self_enter(const int *fds, size_t n, nk_error **err)
{
        for (size_t i = 0; i < n; i++)
                if (write(fds[i], "0", 1) < 0)
                        return nk_error_set(err, errno, "enter the container cgroup");
        return 0;
}

void nk_cgroup_self_enter_close(int *fds, size_t n)
{
        for (size_t i = 0; fds && i < n; i++)
                close(fds[i]);
        free(fds);
}
