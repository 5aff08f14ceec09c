/* The unified (v2) hierarchy: controllers are enabled from the parent's
 * cgroup.subtree_control, freezing and killing are core files. */
#include "../../util/cleanup.h"
#include "../../util/strv.h"
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FREEZE_TIMEOUT_MS 10000

static bool has_word(const char *list, const char *w)
{
        size_t wl = strlen(w);
        for (const char *p = list; (p = strstr(p, w)); p += wl)
                if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || !p[wl]))
                        return true;
        return false;
}

/* Enable in `parent` every controller it offers and has not enabled yet, so
 * the child gets their files. One controller per write: the kernel refuses
 * a whole write when one controller cannot be enabled (EBUSY for a domain
 * controller in a cgroup with processes, except the root); such a
 * controller is then simply absent below, and a resource needing it fails
 * later naming the missing file. */
static int v2_before_child(const char *parent, nk_error **err)
{
        _cleanup_free_ char *avail = NULL, *on = NULL;
        if (nk_cg_read(parent, "cgroup.controllers", &avail, err) < 0 ||
            nk_cg_read(parent, "cgroup.subtree_control", &on, err) < 0)
                return -1;
        char *save = NULL;
        for (char *t = strtok_r(avail, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
                if (has_word(on, t))
                        continue;
                char buf[64];
                snprintf(buf, sizeof(buf), "+%s", t);
                nk_cg_write(parent, "cgroup.subtree_control", buf, NULL);
        }
        return 0;
}

static int v2_init_dir(const struct nk_cg_mount *m, const char *dir, bool made_parent,
                       nk_error **err)
{
        (void)m;
        (void)dir;
        (void)made_parent;
        (void)err;
        return 0;
}

static int frozen_is(const char *dir, const void *want)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, "cgroup.events", &s, NULL) < 0)
                return 1;
        return nk_cg_kv_get(s, "frozen") == *(const long long *)want;
}

static int v2_freeze(const char *dir, bool frozen, nk_error **err)
{
        static const long long one = 1, zero = 0;
        if (nk_cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
                return -1;
        /* cgroup.freeze is the wish; cgroup.events "frozen 1" is the fact. */
        if (nk_cg_wait(dir, frozen_is, frozen ? &one : &zero, FREEZE_TIMEOUT_MS) == 0)
                return 0;
        if (frozen)
                nk_cg_write(dir, "cgroup.freeze", "0", NULL);
        return nk_error_set(err, ETIMEDOUT, "%s: cgroup.events did not report frozen %d", dir,
                            frozen);
}

static int v2_is_frozen(const char *dir)
{
        _cleanup_free_ char *s = NULL;
        if (nk_cg_read(dir, "cgroup.events", &s, NULL) < 0)
                return -1;
        return nk_cg_kv_get(s, "frozen") == 1;
}

static int v2_kill_all(const char *dir, nk_error **err)
{
        if (!nk_cg_file_exists(dir, "cgroup.kill"))
                return 0;
        return nk_cg_write(dir, "cgroup.kill", "1", err) < 0 ? -1 : 1;
}

const struct nk_cg_ops nk_cg_v2_ops = {
        .before_child = v2_before_child,
        .init_dir = v2_init_dir,
        .freeze = v2_freeze,
        .is_frozen = v2_is_frozen,
        .kill_all = v2_kill_all,
};
