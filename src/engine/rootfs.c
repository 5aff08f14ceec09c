/* Container root filesystems: an overlay of the image's layers (read-only,
 * shared) under a per-container upper and work directory. In nook itself:
 * the image must be in the store already (image_default.c makes it). */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/overlay.h"
#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char *cpath(struct nk_store *s, const char *id, const char *sub)
{
        char *p = NULL;
        if (asprintf(&p, "%s/containers/%s%s%s", s->root, id, sub ? "/" : "", sub ? sub : "") < 0)
                return NULL;
        return p;
}

static int write_record(struct nk_store *s, int cfd, const char *image, const struct nk_image *img,
                        const char *mountpoint, json_t *idmaps, bool durable, nk_error **err)
{
        _cleanup_jansson_ json_t *ids = json_array();
        for (size_t i = 0; ids && i < img->config.n_diff_ids; i++)
                json_array_append_new(ids, json_string(img->config.diff_ids[i]));
        _cleanup_jansson_ json_t *rec =
                json_pack("{s:s,s:s,s:s,s:O,s:s?,s:O?}", "image", image, "manifest",
                          img->manifest_digest, "config", img->manifest.config.digest, "layers",
                          ids, "mountpoint", mountpoint, "idmaps", idmaps);
        if (!rec)
                return nk_error_set(err, ENOMEM, "container record");
        return durable ? nk_store_write_json(cfd, "image.json", rec, err)
                       : nk_store_replace_json(cfd, "image.json", rec, err);
}

/* Layer paths, top-most first, as overlayfs wants them. */
static char **lower_paths(struct nk_store *s, const struct nk_image *img, nk_error **err)
{
        size_t n = img->config.n_diff_ids;
        char **v = calloc(n + 1, sizeof(char *));
        if (!v) {
                nk_error_set(err, ENOMEM, "layers");
                return NULL;
        }
        for (size_t i = 0; i < n; i++) {
                const char *d = img->config.diff_ids[n - 1 - i];
                if (!nk_store_layer_exists(s, d) || !(v[i] = nk_store_layer_path(s, d))) {
                        nk_strv_freep(&v);
                        nk_error_set(err, 0, "layer %s is missing from the store", d);
                        return NULL;
                }
        }
        return v;
}

/* OCI's [{containerID, hostID, size}] as the runtime's maps; NULL (and
 * *n 0) for none or a malformed list (runopts made it, so never here). */
static struct nk_idmap *maps_of(json_t *list, size_t *n)
{
        *n = json_array_size(list);
        struct nk_idmap *m = *n ? calloc(*n, sizeof(*m)) : NULL;
        for (size_t i = 0; m && i < *n; i++) {
                json_t *e = json_array_get(list, i);
                m[i] = (struct nk_idmap){
                        (uint32_t)json_integer_value(json_object_get(e, "containerID")),
                        (uint32_t)json_integer_value(json_object_get(e, "hostID")),
                        (uint32_t)json_integer_value(json_object_get(e, "size"))};
        }
        if (!m)
                *n = 0;
        return m;
}

/* A user namespace with a container's maps ({"uidMappings", "gidMappings"}
 * of image.json), for its idmapped layers: -1 without error when it has
 * none. */
static int idmap_userns(json_t *idmaps, nk_error **err)
{
        if (!json_is_object(idmaps)) /* absent, or null in image.json */
                return -1;
        size_t nu, ng;
        _cleanup_free_ struct nk_idmap *u = maps_of(json_object_get(idmaps, "uidMappings"), &nu);
        _cleanup_free_ struct nk_idmap *g = maps_of(json_object_get(idmaps, "gidMappings"), &ng);
        if (!nu || !ng)
                return nk_error_set(err, EINVAL, "rootfs: idmaps without uid and gid maps");
        return nk_ns_userns_fd(u, nu, g, ng, err);
}

/* The host id the container's 0 maps to; -1 when 0 is not mapped. */
static long long host_root(json_t *list)
{
        size_t i;
        json_t *e;
        json_array_foreach (list, i, e) {
                json_int_t c = json_integer_value(json_object_get(e, "containerID"));
                json_int_t h = json_integer_value(json_object_get(e, "hostID"));
                if (c == 0 && json_integer_value(json_object_get(e, "size")) > 0)
                        return h;
        }
        return -1;
}

/* The overlay of lowers (top-most first; none: the container's empty/)
 * under its upper/ and work/, as a detached mount (attached nowhere).
 * With idmaps the lowers are idmapped (the container's root owns what the
 * image's root owns); the files it writes land in upper/ with its host
 * ids, as they would with no overlay at all. */
static int overlay_make(struct nk_store *s, char **lowers, const char *id, json_t *idmaps,
                        nk_error **err)
{
        _cleanup_free_ char *upper = cpath(s, id, "upper"), *work = cpath(s, id, "work");
        _cleanup_free_ char *empty = cpath(s, id, "empty");
        if (!upper || !work || !empty)
                return nk_error_set(err, ENOMEM, "rootfs");
        size_t n = 0;
        while (lowers[n])
                n++;
        char *only_empty[] = {empty, NULL};
        nk_error *e = NULL;
        _cleanup_close_ int userns = idmap_userns(idmaps, &e);
        if (userns < 0 && e)
                return nk_error_pass(err, e);
        return nk_overlay_create(n ? lowers : only_empty, n ? n : 1, upper, work, userns, err);
}

/* target NULL: the detached mount in *mnt_out, else attached at target
 * (`nook image mount`). */
static int mount_rootfs(struct nk_store *s, const struct nk_image *img, int cfd, const char *id,
                        const char *target, json_t *idmaps, int *mnt_out, nk_error **err)
{
        _cleanup_strv_ char **lowers = lower_paths(s, img, err);
        if (!lowers)
                return -1;
        if (mkdirat(cfd, "upper", 0755) < 0 || mkdirat(cfd, "work", 0700) < 0)
                return nk_error_set(err, errno, "create `%s/upper`", id);
        if (!lowers[0] && mkdirat(cfd, "empty", 0755) < 0) /* an image with no layers */
                return nk_error_set(err, errno, "create `%s/empty`", id);
        /* The root directory of the container is upper's: its root's. */
        long long uid = host_root(json_object_get(idmaps, "uidMappings"));
        long long gid = host_root(json_object_get(idmaps, "gidMappings"));
        if ((uid >= 0 || gid >= 0) &&
            fchownat(cfd, "upper", (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "chown `%s/upper` to the container's root", id);
        _cleanup_close_ int mfd = overlay_make(s, lowers, id, idmaps, err);
        if (mfd < 0 || (target && nk_overlay_attach(mfd, target, err) < 0))
                return -1;
        if (!target)
                *mnt_out = TAKE_FD(mfd);
        return 0;
}

/* The container's directory is its rootfs lock (see nk_image_rootfs_lock):
 * taken at once, nobody knows the id yet. */
static int rootfs_setup(struct nk_store *s, const struct nk_image *img, const char *image,
                        const char *id, const char *target, json_t *idmaps, bool durable,
                        int *mnt_out, int *lock_out, nk_error **err)
{
        _cleanup_close_ int cfd =
                openat(s->containers, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return nk_error_set(err, errno, "open container directory `%s`", id);
        if (!target && flock(cfd, LOCK_EX | LOCK_NB) < 0)
                return nk_error_set(err, errno, "lock container directory `%s`", id);
        /* The record goes first: from then on garbage collection keeps the
         * image's layers even if its name is removed. */
        if (write_record(s, cfd, image, img, target, idmaps, durable, err) < 0)
                return -1;
        /* merged/ stays an empty directory on the host: the root.path the
         * runtime attaches the overlay on, in the container's namespace. */
        if (!target && mkdirat(cfd, "merged", 0755) < 0)
                return nk_error_set(err, errno, "create `%s/merged`", id);
        if (mount_rootfs(s, img, cfd, id, target, idmaps, mnt_out, err) < 0)
                return -1;
        if (lock_out)
                *lock_out = TAKE_FD(cfd);
        return 0;
}

static int rootfs_create(struct nk_store *s, const char *image, const char *id, const char *target,
                         json_t *idmaps, bool durable, int *mnt_out, int *lock_out, nk_error **err)
{
        struct nk_image img;
        if (nk_store_lock(s, LOCK_SH, err) < 0 || nk_image_find_local(s, image, &img, err) < 0)
                return -1;
        int r = -1;
        if (mkdirat(s->containers, id, 0711) < 0) {
                nk_error_set(err, errno,
                             errno == EEXIST ? "container `%s` already has a root "
                                               "filesystem"
                                             : "create container directory `%s`",
                             id);
        } else if ((r = rootfs_setup(s, &img, image, id, target, idmaps, durable, mnt_out, lock_out,
                                     err)) < 0) {
                _cleanup_free_ char *dir = cpath(s, id, NULL);
                nk_error *e = NULL;
                if (dir && nk_rm_rf(dir, &e) < 0)
                        nk_error_free(e);
        }
        nk_image_clear(&img);
        return r;
}

static int create_at(const char *store, const char *image, const char *id, const char *target,
                     json_t *idmaps, bool durable, char **rootfs_out, int *mnt_out, int *lock_out,
                     nk_error **err)
{
        if (nk_container_id_check(id, err) < 0)
                return -1;
        _cleanup_free_ char *abs_target = NULL;
        if (target && !(abs_target = realpath(target, NULL)))
                return nk_error_set(err, errno, "mount point `%s`", target);
        struct nk_store *s;
        if (nk_engine_open_local(store, &s, err) < 0)
                return -1;
        int mfd = -1, lock = -1;
        int r = rootfs_create(s, image, id, abs_target, idmaps, durable, &mfd, &lock, err);
        char *out = r == 0 ? (abs_target ? strdup(abs_target) : cpath(s, id, "merged")) : NULL;
        nk_store_free(s);
        if (r < 0)
                return nk_error_wrap(err, "root filesystem for `%s` from `%s`", id, image);
        if (!out) {
                nk_closep(&mfd);
                nk_closep(&lock);
                return nk_error_set(err, ENOMEM, "rootfs");
        }
        if (rootfs_out)
                *rootfs_out = out;
        else
                free(out);
        if (mnt_out)
                *mnt_out = mfd;
        else
                nk_closep(&mfd);
        if (lock_out)
                *lock_out = lock;
        else
                nk_closep(&lock);
        return 0;
}

int nk_image_rootfs_create_at(const char *store, const char *image, const char *id,
                              const char *target, char **rootfs_out, nk_error **err)
{
        return create_at(store, image, id, target, NULL, true, rootfs_out, NULL, NULL, err);
}

int nk_image_rootfs_create(const char *store, const char *image, const char *id, json_t *idmaps,
                           bool durable, char **rootfs_out, int *mnt_out, int *lock_out,
                           nk_error **err)
{
        return create_at(store, image, id, NULL, idmaps, durable, rootfs_out, mnt_out, lock_out,
                         err);
}

static int unmount_record(struct nk_store *s, const char *id, nk_error **err)
{
        char name[512];
        snprintf(name, sizeof(name), "%s/image.json", id);
        _cleanup_jansson_ json_t *rec = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(s->containers, name, &rec, &e) < 0) {
                nk_error_free(e); /* half-created: nothing was mounted */
                return 0;
        }
        const char *mp = json_string_value(json_object_get(rec, "mountpoint"));
        _cleanup_free_ char *merged = mp ? strdup(mp) : cpath(s, id, "merged");
        if (!merged)
                return nk_error_set(err, ENOMEM, "rootfs");
        /* Detach: a process still inside keeps its view; the upper is
         * deleted only after, and rm_rf does not cross mount points. */
        if (umount2(merged, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
                return nk_error_set(err, errno, "unmount `%s`", merged);
        return 0;
}

int nk_image_rootfs_remove(const char *store, const char *id, nk_error **err)
{
        if (nk_container_id_check(id, err) < 0)
                return -1;
        struct nk_store *s;
        if (nk_store_open(store, &s, err) < 0)
                return -1;
        _cleanup_free_ char *dir = cpath(s, id, NULL);
        int r = dir ? unmount_record(s, id, err) : nk_error_set(err, ENOMEM, "rootfs");
        if (r == 0)
                r = nk_rm_rf(dir, err);
        nk_store_free(s);
        return r < 0 ? nk_error_wrap(err, "remove root filesystem of `%s`", id) : 0;
}

/* Layer paths of a container's image.json ("layers": diff ids, bottom
 * first), top-most first: what its rootfs was made of, whatever became of
 * the image's name since (the record keeps the layers from collection). */
static char **record_lowers(struct nk_store *s, json_t *rec, const char *id, nk_error **err)
{
        json_t *layers = json_object_get(rec, "layers");
        if (!json_is_array(layers))
                return nk_error_set(err, 0, "container %s: image.json has no layers", id), NULL;
        size_t n = json_array_size(layers);
        _cleanup_strv_ char **v = calloc(n + 1, sizeof(char *));
        if (!v)
                return nk_error_set(err, ENOMEM, "layers"), NULL;
        for (size_t i = 0; i < n; i++) {
                const char *d = json_string_value(json_array_get(layers, n - 1 - i));
                if (!d || !nk_store_layer_exists(s, d))
                        return nk_error_set(err, 0,
                                            "container %s: layer %s is missing from the store", id,
                                            d ? d : "(not a string)"),
                               NULL;
                if (!(v[i] = nk_store_layer_path(s, d)))
                        return nk_error_set(err, ENOMEM, "layers"), NULL;
        }
        return TAKE_PTR(v);
}

/* merged/ is an overlay mounted on the host when it is another
 * filesystem than its directory: one an older nook mounted there. */
static int rootfs_mounted(int cfd, const char *id, nk_error **err)
{
        struct stat dir, m;
        if (fstat(cfd, &dir) < 0 || fstatat(cfd, "merged", &m, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "container %s: `merged`", id);
        if (!S_ISDIR(m.st_mode))
                return nk_error_set(err, 0, "container %s: `merged` is not a directory", id);
        return m.st_dev != dir.st_dev;
}

int nk_image_rootfs_lock(const char *store, const char *id, bool wait, nk_error **err)
{
        if (nk_container_id_check(id, err) < 0)
                return -1;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/containers/%s", store, id) < 0)
                return nk_error_set(err, ENOMEM, "rootfs");
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open container directory `%s`", dir);
        if ((wait ? nk_flock_wait(fd, LOCK_EX) : flock(fd, LOCK_EX | LOCK_NB)) < 0)
                return nk_error_set(err, errno, "lock container directory `%s`", dir);
        return TAKE_FD(fd);
}

static int rootfs_open(struct nk_store *s, const char *id, nk_error **err)
{
        _cleanup_close_ int cfd =
                openat(s->containers, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return nk_error_set(err, errno, "open container directory `%s`", id);
        char name[512];
        snprintf(name, sizeof name, "%s/image.json", id);
        _cleanup_jansson_ json_t *rec = NULL;
        if (nk_store_read_json(s->containers, name, &rec, err) < 0)
                return -1;
        if (json_is_string(json_object_get(rec, "mountpoint")))
                return nk_error_set(err, 0, "`%s` is an image mount, not a container", id);
        _cleanup_strv_ char **lowers = record_lowers(s, rec, id, err);
        _cleanup_free_ char *merged = cpath(s, id, "merged");
        _cleanup_free_ char *mark = cpath(s, id, "work/work/incompat");
        if (!lowers || !merged || !mark)
                return lowers ? nk_error_set(err, ENOMEM, "rootfs") : -1;
        /* A container of an older nook, its overlay still on the host: it
         * does not run (the caller checked, under the lock), so that
         * mount has no user left that a detach would surprise. */
        int r = rootfs_mounted(cfd, id, err);
        if (r < 0)
                return -1;
        if (r > 0 && umount2(merged, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
                return nk_error_set(err, errno, "unmount `%s`", merged);
        /* The overlay is `volatile` (nk_overlay_create): its end leaves
         * work/work/incompat/volatile, and overlayfs refuses to mount over
         * it again (EINVAL) until it is removed, since after a crash the
         * upper dir may have lost unsynced writes. A container's upper is
         * scratch space that accepts that risk, as podman's does. */
        if (nk_rm_rf(mark, err) < 0)
                return -1;
        return overlay_make(s, lowers, id, json_object_get(rec, "idmaps"), err);
}

int nk_image_rootfs_open(const char *store, const char *id, nk_error **err)
{
        if (nk_container_id_check(id, err) < 0)
                return -1;
        struct nk_store *s;
        if (nk_store_open(store, &s, err) < 0)
                return -1;
        int r = nk_store_lock(s, LOCK_SH, err);
        if (r == 0)
                r = rootfs_open(s, id, err);
        nk_store_free(s);
        return r < 0 ? nk_error_wrap(err, "root filesystem of `%.12s`", id) : r;
}
