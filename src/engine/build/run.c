/* A build step's root filesystem (an overlay of the stage's layers over a
 * fresh upper dir in the store's tmp/) and RUN: a container of the
 * runtime library on it, in the foreground, then its changes as a layer. */
#include "engine/build/build.h"
#include "engine/container/runopts.h"
#include "engine/overlay.h"
#include "runtime/container.h"
#include "runtime/security.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char **lower_paths(struct nk_store *s, char *const *diff_ids, size_t n, nk_error **err)
{
        char **v = calloc(n + 1, sizeof(char *));
        if (!v) {
                nk_error_set(err, ENOMEM, "layers");
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                const char *d = diff_ids[n - 1 - i]; /* overlayfs: top-most first */
                if (!nk_store_layer_exists(s, d) || !(v[i] = nk_store_layer_path(s, d))) {
                        nk_strv_free(v);
                        nk_error_set(err, 0, "layer %s is missing from the store", d);
                        return NULL;
                }
        }
        return v;
}

void nk_bf_unmount(struct nk_bf_mount *m)
{
        if (m->root_fd > 0)
                close(m->root_fd);
        if (m->upper_fd > 0)
                close(m->upper_fd);
        if (m->root)
                umount2(m->root, MNT_DETACH | UMOUNT_NOFOLLOW);
        if (m->dir) {
                nk_error *e = NULL;
                if (nk_rm_rf(m->dir, &e) < 0)
                        nk_error_free(e);
        }
        if (m->lock_fd > 0)
                close(m->lock_fd);
        free(m->dir);
        free(m->root);
        memset(m, 0, sizeof(*m));
}

static int mount_in(struct nk_store *s, char *const *diff_ids, size_t n, struct nk_bf_mount *m,
                    nk_error **err)
{
        _cleanup_free_ char *upper = NULL, *work = NULL, *empty = NULL;
        if (asprintf(&upper, "%s/upper", m->dir) < 0 || asprintf(&work, "%s/work", m->dir) < 0 ||
            asprintf(&empty, "%s/empty", m->dir) < 0 || asprintf(&m->root, "%s/root", m->dir) < 0)
                return nk_error_set(err, ENOMEM, "build rootfs");
        if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 || mkdir(m->root, 0755) < 0 ||
            (n == 0 && mkdir(empty, 0755) < 0))
                return nk_error_set(err, errno, "create `%s`", m->dir);
        _cleanup_strv_ char **lowers = lower_paths(s, diff_ids, n, err);
        if (!lowers)
                return -1;
        char *only_empty[] = {empty, NULL};
        _cleanup_close_ int mfd =
                nk_overlay_create(n ? lowers : only_empty, n ? n : 1, upper, work, -1, err);
        if (mfd < 0)
                return -1;
        if (nk_overlay_attach(mfd, m->root, err) < 0) {
                free(m->root); /* nothing to unmount */
                m->root = NULL;
                return -1;
        }
        m->root_fd = open(m->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        m->upper_fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->root_fd < 0 || m->upper_fd < 0)
                return nk_error_set(err, errno, "open `%s`", m->root);
        return 0;
}

int nk_bf_mount(struct nk_store *s, char *const *diff_ids, size_t n, struct nk_bf_mount *m,
                nk_error **err)
{
        memset(m, 0, sizeof(*m));
        m->root_fd = m->upper_fd = -1;
        char *name = NULL;
        m->lock_fd = nk_store_mkstaging(s, "build-", &name, err);
        if (m->lock_fd < 0)
                return -1;
        int r = asprintf(&m->dir, "%s/tmp/%s", s->root, name);
        free(name);
        if (r < 0) {
                m->dir = NULL;
                nk_bf_unmount(m);
                return nk_error_set(err, ENOMEM, "build rootfs");
        }
        if (mount_in(s, diff_ids, n, m, err) < 0) {
                nk_bf_unmount(m);
                return -1;
        }
        return 0;
}

bool nk_bf_upper_empty(int upper_fd)
{
        int fd = openat(upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        struct dirent *de;
        bool empty = true;
        while (empty && (de = readdir(d)))
                empty = streq(de->d_name, ".") || streq(de->d_name, "..");
        closedir(d);
        return empty;
}

int nk_bf_step_layer(struct nk_store *s, struct nk_bf_mount *m, int64_t timestamp, bool *got_layer,
                     struct nk_new_layer *out, nk_error **err)
{
        *got_layer = !nk_bf_upper_empty(m->upper_fd);
        if (!*got_layer)
                return 0;
        struct nk_txn *t;
        struct nk_diff_opts d = {.timestamp = timestamp};
        if (nk_txn_begin(s, &t, err) < 0)
                return -1;
        int rc = nk_layer_from_upper(t, m->upper_fd, &d, out, NULL, err);
        if (rc == 0)
                rc = nk_txn_commit(t, err);
        nk_txn_free(t);
        return rc;
}

/* run's options for a build container: the config's env (and the build
 * args), user, workdir; no entrypoint; the argv given. */
static int run_opts(const struct nk_bf_run *r, struct nk_run_opts *ro, nk_error **err)
{
        memset(ro, 0, sizeof(*ro));
        nk_run_opts_clear(ro); /* the defaults */
        json_t *cfg = json_object_get(r->config, "config");
        const char *user = json_string_value(json_object_get(cfg, "User"));
        const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
        ro->cmd = nk_strv_dup(r->argv);
        ro->entrypoint = strdup("");
        ro->entrypoint_set = true;
        ro->hostname = strdup("nook-build");
        ro->image = strdup("build");
        ro->user = user && *user ? strdup(user) : NULL;
        ro->workdir = wd && *wd ? strdup(wd) : NULL;
        for (char *const *e = r->extra_env; e && *e; e++) {
                size_t k = strcspn(*e, "=");
                if (!nk_bf_vars_lookup_env(json_object_get(cfg, "Env"), *e, k) &&
                    nk_strv_push(&ro->env, *e) < 0)
                        return nk_error_set(err, ENOMEM, "RUN");
        }
        if (!ro->cmd || !ro->entrypoint || !ro->hostname || !ro->image)
                return nk_error_set(err, ENOMEM, "RUN");
        return 0;
}

static void drop_netns(json_t *spec)
{
        json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
        for (size_t i = json_array_size(ns); i-- > 0;)
                if (streq(json_string_value(json_object_get(json_array_get(ns, i), "type")) ?: "",
                          "network"))
                        json_array_remove(ns, i);
}

static int make_spec(const struct nk_bf_run *r, const struct nk_bf_mount *m, const char *id,
                     struct nk_spec **out, nk_error **err)
{
        struct nk_run_opts ro;
        _cleanup_jansson_ json_t *spec = NULL;
        int rc = run_opts(r, &ro, err);
        if (rc == 0)
                rc = nk_run_spec_build(&ro, r->config, m->root, m->root_fd, NULL, 0, &spec, err);
        nk_run_opts_clear(&ro);
        if (rc < 0)
                return -1;
        _cleanup_free_ char *cg = NULL;
        if (asprintf(&cg, "%s/%s", r->o->cgroup_parent ? r->o->cgroup_parent : "/nook", id) < 0)
                return nk_error_set(err, ENOMEM, "RUN");
        json_t *linux_ = json_object_get(spec, "linux");
        json_object_set_new(linux_, "cgroupsPath", json_string(cg));
        if (r->o->network_host)
                drop_netns(spec);
        json_t *mounts = json_object_get(spec, "mounts");
        for (size_t i = 0; i < r->n_secrets; i++)
                json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:[sssss]}", "destination",
                                                        r->secrets[i].target, "type", "bind",
                                                        "source", r->secrets[i].src, "options",
                                                        "rbind", "ro", "nosuid", "nodev",
                                                        r->secrets[i].exec ? "exec" : "noexec"));
        return nk_spec_from_json(spec, "build step", out, err);
}

/* The container in the foreground with /dev/null as its stdin and the
 * build's output fds: the runtime hands the init its creator's fds 0-2. */
static int run_container(const struct nk_bf_run *r, const struct nk_bf_mount *m, int *code,
                         nk_error **err)
{
        /* named after the staging dir: its flock tells a later build
         * whether the container's builder still lives */
        char id[128];
        snprintf(id, sizeof id, "nook-%s", strrchr(m->dir, '/') + 1);
        struct nk_spec *spec = NULL;
        if (make_spec(r, m, id, &spec, err) < 0)
                return -1;
        int init_fd = -1;
        int rc = nk_self_exe_guard(NULL, nk_container_may_hand_over(spec), &init_fd, err);
        struct nk_create_opts co = {
                .root = r->o->root,
                .id = id,
                .bundle = m->dir,
                .init_fd = init_fd,
        };
        int saved[3] = {-1, -1, -1};
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        for (int fd = 0; fd < 3; fd++)
                saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (null >= 0)
                dup2(null, 0);
        if (r->o->out_fd > 2)
                dup2(r->o->out_fd, 1);
        if (r->o->err_fd > 2)
                dup2(r->o->err_fd, 2);
        if (rc == 0)
                rc = nk_container_run(spec, m->root, &co, code, err);
        for (int fd = 0; fd < 3; fd++)
                if (saved[fd] >= 0) {
                        dup2(saved[fd], fd);
                        close(saved[fd]);
                }
        if (null >= 0)
                close(null);
        if (init_fd >= 0)
                close(init_fd);
        nk_spec_free(spec);
        return rc;
}

/* A container `nook-build-X` whose staging dir tmp/build-X is gone or
 * not locked lost its builder (a kill -9): kill and delete it. */
static bool orphaned(struct nk_store *s, const char *staging)
{
        _cleanup_close_ int fd =
                openat(s->tmp, staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0;
}

void nk_bf_sweep_containers(struct nk_store *s, const char *root)
{
        int fd = root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "nook-build-", 11) != 0 || !orphaned(s, de->d_name + 5))
                        continue;
                nk_error *e = NULL;
                if (nk_container_delete(root, de->d_name, true, &e) < 0)
                        nk_error_free(e);
        }
        closedir(d);
}

/* How much of a secret's target path (its components, from the top)
 * exists in the rootfs before the RUN. */
static size_t existing_depth(int root_fd, const char *target)
{
        _cleanup_free_ char *p = strdup(target + strspn(target, "/"));
        size_t depth = 0;
        for (char *c = p; c && *c;) {
                char *slash = strchr(c, '/');
                if (slash)
                        *slash = '\0';
                struct stat st;
                if (fstatat(root_fd, p, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        break;
                depth++;
                if (!slash)
                        break;
                *slash = '/';
                c = slash + 1;
        }
        return depth;
}

/* Take out of the upper dir the mount point a secret needed: the target
 * when the RUN made it (an empty file or dir), then every parent left
 * empty (made for it, or copied up by overlayfs to hold it). What the
 * command itself wrote there stays. */
static void drop_mount_point(int upper_fd, const char *target, size_t existed)
{
        _cleanup_free_ char *p = strdup(target + strspn(target, "/"));
        if (!p)
                return;
        size_t depth = 1;
        for (char *c = p; (c = strchr(c, '/')); c++)
                depth++;
        struct stat st;
        if (existed < depth && fstatat(upper_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            ((S_ISREG(st.st_mode) && st.st_size == 0) || S_ISDIR(st.st_mode)))
                (void)unlinkat(upper_fd, p, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
        for (char *slash; (slash = strrchr(p, '/'));) {
                *slash = '\0';
                if (unlinkat(upper_fd, p, AT_REMOVEDIR) < 0)
                        break;
        }
}

int nk_bf_run_step(const struct nk_bf_run *r, struct nk_new_layer *out, bool *got_layer,
                   nk_error **err)
{
        struct nk_bf_mount m;
        if (nk_bf_mount(r->s, r->diff_ids, r->n_layers, &m, err) < 0)
                return -1;
        size_t existed[r->n_secrets + 1];
        for (size_t i = 0; i < r->n_secrets; i++)
                existed[i] = existing_depth(m.root_fd, r->secrets[i].target);
        int code = 0;
        int rc = run_container(r, &m, &code, err);
        if (rc == 0 && code != 0)
                rc = nk_error_set(err, 0, "the command exited with code %d", code);
        if (rc == 0) {
                /* unmounted first: the upper is read as it is at rest */
                umount2(m.root, MNT_DETACH | UMOUNT_NOFOLLOW);
                for (size_t i = r->n_secrets; i-- > 0;)
                        drop_mount_point(m.upper_fd, r->secrets[i].target, existed[i]);
                rc = nk_bf_step_layer(r->s, &m, r->o->timestamp, got_layer, out, err);
        }
        nk_bf_unmount(&m);
        return rc;
}
