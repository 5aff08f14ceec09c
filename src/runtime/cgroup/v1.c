/* cgroup v1 hierarchies: one or more controllers per mount. */
#include "../../util/cleanup.h"
#include "../../util/strv.h"
#include "internal.h"
#include <errno.h>
#include <string.h>

#define FREEZE_TIMEOUT_MS 10000

static int v1_before_child(const char *parent, nk_error **err)
{
        (void)parent;
        (void)err;
        return 0;
}

static bool blank(const char *s)
{
        return s[strspn(s, " \n")] == '\0';
}

/* A new v1 cpuset starts with empty cpus and mems, and the kernel refuses to
 * attach a task to it (ENOSPC) until both are set: copy the parent's. */
static int copy_if_empty(const char *dir, const char *file, nk_error **err)
{
        _cleanup_free_ char *cur = NULL, *parent = NULL, *pdir = strdup(dir);
        if (!pdir)
                return nk_error_set(err, ENOMEM, "init cpuset %s", dir);
        if (nk_cg_read(dir, file, &cur, err) < 0)
                return -1;
        if (!blank(cur))
                return 0;
        *strrchr(pdir, '/') = '\0';
        if (nk_cg_read(pdir, file, &parent, err) < 0)
                return -1;
        parent[strcspn(parent, "\n")] = '\0';
        return nk_cg_write(dir, file, parent, err);
}

/* made_parent: a parent level (/nook) this create made. With
 * cgroup.clone_children the kernel gives each new child its parent's cpus
 * and mems at mkdir, so the containers below skip reading both levels and
 * writing their own (and the scheduling domains rebuilt at each write). */
static int v1_init_dir(const struct nk_cg_mount *m, const char *dir, bool made_parent,
                       nk_error **err)
{
        if (!nk_strv_contains(m->controllers, "cpuset"))
                return 0;
        if (copy_if_empty(dir, "cpuset.cpus", err) < 0 ||
            copy_if_empty(dir, "cpuset.mems", err) < 0)
                return -1;
        if (made_parent)
                (void)nk_cg_write(dir, "cgroup.clone_children", "1", NULL); /* only a saving */
        return 0;
}

static int state_is(const char *dir, const void *want)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, "freezer.state", &s, NULL) < 0)
                return 1; /* gone: nothing left to wait for */
        return strncmp(s, want, strlen(want)) == 0;
}

static int v1_freeze(const char *dir, bool frozen, nk_error **err)
{
        const char *want = frozen ? "FROZEN" : "THAWED";
        if (nk_cg_write(dir, "freezer.state", want, err) < 0)
                return -1;
        /* FREEZING until every task stopped; writing FROZEN again retries the
         * tasks that were busy in the kernel. */
        for (int i = 0; i < 100; i++) {
                if (nk_cg_wait(dir, state_is, want, FREEZE_TIMEOUT_MS / 100) == 0)
                        return 0;
                if (nk_cg_write(dir, "freezer.state", want, err) < 0)
                        return -1;
        }
        if (frozen)
                nk_cg_write(dir, "freezer.state", "THAWED", NULL);
        return nk_error_set(err, ETIMEDOUT, "%s: freezer.state did not reach %s", dir, want);
}

static int v1_is_frozen(const char *dir)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, "freezer.state", &s, NULL) < 0)
                return -1;
        return strncmp(s, "FROZEN", 6) == 0;
}

static int v1_kill_all(const char *dir, nk_error **err)
{
        (void)dir;
        (void)err;
        return 0;
}

const struct nk_cg_ops nk_cg_v1_ops = {
        .before_child = v1_before_child,
        .init_dir = v1_init_dir,
        .freeze = v1_freeze,
        .is_frozen = v1_is_frozen,
        .kill_all = v1_kill_all,
};
