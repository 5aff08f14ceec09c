/* Container cgroup lifecycle over every mounted hierarchy: open, create
 * (with parents), enter, kill + destroy, pids, freeze. What differs between
 * v1 and v2 hierarchies lives behind struct nk_cg_ops (v1.c, v2.c). */
#include "../../util/cleanup.h"
#include "../../util/fs.h"
#include "../../util/strv.h"
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define DESTROY_TIMEOUT_MS 10000

void nk_cgroup_free(struct nk_cgroup *cg)
{
        if (!cg)
                return;
        for (size_t i = 0; i < cg->n; i++) {
                free(cg->h[i].dir);
                free(cg->h[i].top_created);
        }
        free(cg->h);
        if (cg->v2_fd >= 0)
                close(cg->v2_fd);
        nk_cg_host_clear(&cg->host);
        free(cg->path);
        free(cg);
}
DEFINE_CLEANUP(nk_cgroup, nk_cgroup_free)

/* No "." or ".." component anywhere (also not a trailing one). */
static bool nk_cg_path_is_clean(const char *path)
{
        for (const char *c = path; c && *c; c = strchr(c, '/')) {
                c += *c == '/';
                size_t len = strcspn(c, "/");
                if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                c += len;
        }
        return true;
}

int nk_cgroup_open(const char *path, struct nk_cgroup **out, nk_error **err)
{
        if (!path || path[0] != '/' || !nk_cg_path_is_clean(path))
                return nk_error_set(err, 0, "cgroup path `%s`: must be absolute and clean",
                                    path ? path : "(null)");
        _cleanup_(nk_cgroup_freep) struct nk_cgroup *cg = calloc(1, sizeof(*cg));
        if (!cg)
                return nk_error_set(err, ENOMEM, "open cgroup %s", path);
        cg->v2_fd = -1;
        if (nk_cg_host_detect(&cg->host, err) < 0)
                return -1;
        cg->path = strdup(path);
        cg->h = calloc(cg->host.n, sizeof(*cg->h));
        if (!cg->path || !cg->h)
                return nk_error_set(err, ENOMEM, "open cgroup %s", path);
        for (size_t i = 0; i < cg->host.n; i++) {
                struct nk_cg_hier *h = &cg->h[cg->n];
                h->mnt = &cg->host.m[i];
                if (!(h->dir = nk_cg_dir_of(h->mnt, path)))
                        return nk_error_set(err, ENOMEM, "open cgroup %s", path);
                cg->n++;
        }
        *out = TAKE_PTR(cg);
        return 0;
}

/* ---- removal ---- */

/* rmdir dir after its sub-cgroups, deepest first (a container may have made
 * its own below its cgroup). */
static int rmdir_tree(const char *dir)
{
        DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -1;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_type != DT_DIR || e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/%s", dir, e->d_name) < 0 || rmdir_tree(sub) < 0) {
                        closedir(d);
                        return -1;
                }
        }
        closedir(d);
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

static int rmdir_done(const char *dir, const void *arg)
{
        (void)arg;
        return rmdir_tree(dir) == 0 ? 1 : (errno == EBUSY ? 0 : 1);
}

/* Remove the parents above `dir` that nook made (marked with an xattr),
 * stopping at `stop` (the mount) or the first one that is not ours or not
 * empty: rmdir(2) of a cgroup with children or processes fails with EBUSY,
 * so a parent another container still uses stays. */
static void remove_parents(const char *mount, const char *dir, const char *stop_at)
{
        _cleanup_free_ char *p = strdup(dir);
        size_t ml = strlen(mount);
        while (p) {
                char *slash = strrchr(p, '/');
                if (!slash || (size_t)(slash - p) <= ml)
                        return;
                *slash = '\0';
                if (getxattr(p, NK_CG_XATTR_PARENT, NULL, 0) < 0)
                        return;
                if (rmdir(p) < 0)
                        return;
                if (stop_at && streq(p, stop_at))
                        return;
        }
}

/* Undo what create() made on one hierarchy. */
static void rollback_hier(struct nk_cg_hier *h)
{
        if (h->created)
                rmdir(h->dir);
        if (h->top_created)
                remove_parents(h->mnt->mount, h->dir, h->top_created);
        h->created = false;
        free(h->top_created);
        h->top_created = NULL;
}

/* ---- create ---- */

static int mark_parent(const char *dir)
{
        /* Without xattrs on this cgroupfs the parent just stays on delete. */
        if (setxattr(dir, NK_CG_XATTR_PARENT, "1", 1, 0) < 0 && errno != ENOTSUP)
                return -1;
        return 0;
}

static int mkdir_level(struct nk_cg_hier *h, const char *parent, const char *cur, bool leaf,
                       nk_error **err)
{
        const struct nk_cg_ops *ops = nk_cg_ops_of(h->mnt);
        bool made_parent = false;
        if (ops->before_child(parent, err) < 0)
                return -1;
        if (mkdir(cur, 0755) == 0) {
                made_parent = !leaf;
                if (leaf) {
                        h->created = true;
                } else {
                        if (!h->top_created && !(h->top_created = strdup(cur)))
                                return nk_error_set(err, ENOMEM, "mkdir `%s`", cur);
                        if (mark_parent(cur) < 0)
                                return nk_error_set(err, errno, "mark `%s`", cur);
                }
        } else if (errno != EEXIST) {
                return nk_error_set(err, errno, "mkdir `%s`", cur);
        }
        return ops->init_dir(h->mnt, cur, made_parent, err);
}

/* mkdir each level of h->dir below the mount point (h->dir is cg->path
 * made relative to what the mount shows, nk_cg_dir_of). */
static int mkdir_walk(struct nk_cgroup *cg, struct nk_cg_hier *h, nk_error **err)
{
        (void)cg;
        _cleanup_free_ char *rel = strdup(h->dir + strlen(h->mnt->mount));
        _cleanup_free_ char *cur = strdup(h->mnt->mount);
        char *save = NULL;
        if (!rel || !cur)
                return nk_error_set(err, ENOMEM, "create cgroup");
        char *t = strtok_r(rel, "/", &save);
        while (t) {
                char *next = strtok_r(NULL, "/", &save);
                _cleanup_free_ char *parent = TAKE_PTR(cur);
                if (asprintf(&cur, "%s/%s", parent, t) < 0)
                        return nk_error_set(err, ENOMEM, "create cgroup");
                if (mkdir_level(h, parent, cur, next == NULL, err) < 0)
                        return -1;
                t = next;
        }
        return 0;
}

static int create_hier(struct nk_cgroup *cg, struct nk_cg_hier *h, nk_error **err)
{
        /* A concurrent delete may remove a shared parent (/nook) between our
         * mkdir of it and of the child: ENOENT, walk again. */
        for (int attempt = 0;; attempt++) {
                nk_error *e = NULL;
                if (mkdir_walk(cg, h, &e) == 0)
                        break;
                if (e->errno_ != ENOENT || attempt >= 8) {
                        nk_error_pass(err, e);
                        return -1;
                }
                nk_error_free(e);
        }
        if (h->created) /* a cgroup we just made has no processes yet */
                return 0;
        _cleanup_free_ char *procs = NULL;
        if (nk_cg_read(h->dir, "cgroup.procs", &procs, err) < 0)
                return -1;
        if (procs[0] != '\0')
                return nk_error_set(err, EBUSY, "cgroup `%s` already has processes", h->dir);
        return 0;
}

static void rollback(struct nk_cgroup *cg)
{
        for (size_t i = 0; i < cg->n; i++)
                rollback_hier(&cg->h[i]);
}

int nk_cgroup_create(struct nk_cgroup *cg, json_t *resources, nk_error **err)
{
        for (size_t i = 0; i < cg->n; i++) {
                if (create_hier(cg, &cg->h[i], err) < 0) {
                        rollback(cg);
                        return nk_error_wrap(err, "create cgroup %s", cg->path);
                }
        }
        if (resources && nk_cg_apply(cg, resources, false, err) < 0) {
                rollback(cg);
                return nk_error_wrap(err, "create cgroup %s", cg->path);
        }
        return 0;
}

int nk_cgroup_enter(struct nk_cgroup *cg, pid_t pid, nk_error **err)
{
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)pid);
        for (size_t i = 0; i < cg->n; i++)
                if (nk_cg_write(cg->h[i].dir, "cgroup.procs", buf, err) < 0)
                        return nk_error_wrap(err, "move pid %d into cgroup %s", (int)pid, cg->path);
        return 0;
}

int nk_cgroup_v2_fd(struct nk_cgroup *cg)
{
        if (cg->host.layout != NK_CGROUP_V2)
                return -1;
        if (cg->v2_fd < 0) {
                struct nk_cg_hier *h = nk_cg_hier_v2(cg);
                if (h)
                        cg->v2_fd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        return cg->v2_fd;
}

/* ---- pids, kill, destroy ---- */

int nk_cgroup_pids(struct nk_cgroup *cg, pid_t **pids, size_t *n, nk_error **err)
{
        pid_t *v = NULL;
        size_t cnt = 0;
        /* Every container process is in every hierarchy; the union still
         * catches one moved out of some hierarchy by hand. */
        for (size_t i = 0; i < cg->n; i++) {
                nk_error *e = NULL;
                if (nk_cg_collect_pids(cg->h[i].dir, &v, &cnt, &e) < 0) {
                        if (e->errno_ == ENOENT) {
                                nk_error_free(e);
                                continue;
                        }
                        nk_error_pass(err, e);
                        free(v);
                        return nk_error_wrap(err, "list pids of cgroup %s", cg->path);
                }
        }
        *pids = v;
        *n = cnt;
        return 0;
}

static struct nk_cg_hier *freezer_hier(struct nk_cgroup *cg)
{
        struct nk_cg_hier *h = nk_cg_hier_for(cg, "freezer");
        if (h)
                return h;
        h = nk_cg_hier_v2(cg);
        return h && nk_cg_file_exists(h->dir, "cgroup.freeze") ? h : NULL;
}

/* One round: cgroup.kill where the kernel has it, else freeze (so nothing
 * forks past us) and SIGKILL every pid; then thaw, because a task frozen by
 * the v1 freezer dies of SIGKILL only once it runs again (the v2 freezer
 * lets fatal signals through). Returns the number of pids seen. */
static size_t kill_round(struct nk_cgroup *cg)
{
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        nk_error *e = NULL;
        if (nk_cgroup_pids(cg, &pids, &n, &e) < 0)
                nk_error_free(e);
        if (n == 0)
                return 0;
        bool killed = false;
        for (size_t i = 0; i < cg->n; i++) {
                e = NULL;
                if (cg->h[i].mnt->v2 && nk_cg_v2_ops.kill_all(cg->h[i].dir, &e) > 0)
                        killed = true;
                nk_error_free(e);
        }
        struct nk_cg_hier *fz = freezer_hier(cg);
        const struct nk_cg_ops *ops = fz ? nk_cg_ops_of(fz->mnt) : NULL;
        e = NULL;
        if (!killed && fz && ops->freeze(fz->dir, true, &e) < 0) {
                nk_error_free(e);
                e = NULL;
        }
        for (size_t i = 0; !killed && i < n; i++)
                kill(pids[i], SIGKILL);
        if (fz && ops->freeze(fz->dir, false, &e) < 0)
                nk_error_free(e);
        return n;
}

static int empty_done(const char *dir, const void *arg)
{
        (void)dir;
        struct nk_cgroup *cg = (struct nk_cgroup *)arg;
        return kill_round(cg) == 0;
}

/* The common case, a container whose processes are all gone and which made
 * no cgroups of its own: one rmdir per hierarchy. False if any stays busy
 * (processes, child cgroups, a v1 task still exiting). */
static bool rmdir_all_empty(struct nk_cgroup *cg)
{
        bool all = true;
        for (size_t i = 0; i < cg->n; i++)
                if (rmdir(cg->h[i].dir) < 0 && errno != ENOENT)
                        all = false;
        return all;
}

int nk_cgroup_destroy(struct nk_cgroup *cg, nk_error **err)
{
        if (rmdir_all_empty(cg)) {
                for (size_t i = 0; i < cg->n; i++)
                        remove_parents(cg->h[i].mnt->mount, cg->h[i].dir, NULL);
                return 0;
        }
        if (nk_cg_wait(cg->path, empty_done, cg, DESTROY_TIMEOUT_MS) < 0)
                return nk_error_set(err, EBUSY,
                                    "destroy cgroup %s: processes still alive "
                                    "after SIGKILL",
                                    cg->path);
        for (size_t i = 0; i < cg->n; i++) {
                struct nk_cg_hier *h = &cg->h[i];
                /* Exiting tasks keep a v1 cgroup busy for a moment after
                 * they left cgroup.procs. */
                if (nk_cg_wait(h->dir, rmdir_done, NULL, DESTROY_TIMEOUT_MS) < 0 ||
                    nk_path_exists(h->dir))
                        return nk_error_set(err, errno ? errno : EBUSY,
                                            "destroy cgroup: rmdir `%s`", h->dir);
                remove_parents(h->mnt->mount, h->dir, NULL);
        }
        return 0;
}

const char *nk_cgroup_path(const struct nk_cgroup *cg)
{
        return cg->path;
}

const struct nk_cg_mount *nk_cgroup_mounts(const struct nk_cgroup *cg, size_t *n)
{
        *n = cg->host.n;
        return cg->host.m;
}

const char *nk_cgroup_mountinfo(const struct nk_cgroup *cg)
{
        return cg->host.mountinfo;
}

/* ---- freeze ---- */

int nk_cgroup_freeze(struct nk_cgroup *cg, bool frozen, nk_error **err)
{
        struct nk_cg_hier *h = freezer_hier(cg);
        if (!h)
                return nk_error_set(err, ENOTSUP,
                                    "%s cgroup %s: no freezer on this host "
                                    "(neither v1 freezer nor cgroup.freeze)",
                                    frozen ? "freeze" : "thaw", cg->path);
        if (nk_cg_ops_of(h->mnt)->freeze(h->dir, frozen, err) < 0)
                return nk_error_wrap(err, "%s cgroup %s", frozen ? "freeze" : "thaw", cg->path);
        return 0;
}

bool nk_cgroup_is_frozen(struct nk_cgroup *cg)
{
        struct nk_cg_hier *h = freezer_hier(cg);
        return h && nk_cg_ops_of(h->mnt)->is_frozen(h->dir) == 1;
}
