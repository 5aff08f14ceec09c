/* `nook export`: the flattened filesystem of a container or an image as a
 * tar. Layers are flattened by overlayfs itself: a detached, read-only
 * overlay mount (never attached anywhere) is walked through fds. */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/layer.h"
#include "engine/layer_pipe.h"
#include "engine/overlay.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct exporter {
        struct archive *a;
        struct archive_entry_linkresolver *lr;
};

static int ar_fail(struct exporter *x, const char *path, nk_error **err)
{
        return nk_error_set(err, nk_archive_errno(x->a), "write `%s`: %s", path,
                            archive_error_string(x->a));
}

/* xattrs of an opened file: file capabilities and user.* only. */
static void add_xattrs(struct archive_entry *e, int fd)
{
        char names[4096];
        ssize_t n = flistxattr(fd, names, sizeof(names));
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
                const char *name = names + i;
                if (strncmp(name, "user.", 5) != 0 && !streq(name, "security.capability"))
                        continue;
                char val[4096];
                ssize_t vl = fgetxattr(fd, name, val, sizeof(val));
                if (vl >= 0)
                        archive_entry_xattr_add_entry(e, name, val, (size_t)vl);
        }
}

static int write_data(struct exporter *x, int fd, const char *path, nk_error **err)
{
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read `%s`", path);
                if (n == 0)
                        return 0;
                if (archive_write_data(x->a, buf, (size_t)n) != n)
                        return ar_fail(x, path, err);
        }
}

static int emit(struct exporter *x, struct archive_entry *e, int fd, const char *path,
                nk_error **err)
{
        struct archive_entry *spare = NULL;
        archive_entry_linkify(x->lr, &e, &spare);
        if (e) {
                if (archive_write_header(x->a, e) < ARCHIVE_WARN)
                        return ar_fail(x, path, err);
                if (fd >= 0 && archive_entry_size(e) > 0 && write_data(x, fd, path, err) < 0)
                        return -1;
        }
        return 0;
}

static int walk(struct exporter *x, int dfd, const char *prefix, int depth, nk_error **err);

static int export_one(struct exporter *x, int dfd, const char *name, const char *path, int depth,
                      nk_error **err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "stat `%s`", path);
        if (S_ISSOCK(st.st_mode))
                return 0;
        _cleanup_close_ int fd = -1;
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
                fd = openat(dfd, name,
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
                                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s`", path);
        }
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return nk_error_set(err, ENOMEM, "export");
        archive_entry_copy_stat(e, &st);
        archive_entry_set_pathname(e, path);
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
                if (n < 0) {
                        archive_entry_free(e);
                        return nk_error_set(err, errno, "readlink `%s`", path);
                }
                target[n] = '\0';
                archive_entry_set_symlink(e, target);
        }
        if (fd >= 0)
                add_xattrs(e, fd);
        int r = emit(x, e, S_ISREG(st.st_mode) ? fd : -1, path, err);
        archive_entry_free(e);
        if (r == 0 && S_ISDIR(st.st_mode))
                r = walk(x, fd, path, depth + 1, err);
        return r;
}

static int walk(struct exporter *x, int dfd, const char *prefix, int depth, nk_error **err)
{
        if (depth > 512)
                return nk_error_set(err, 0, "export: `%s` is nested too deep", prefix);
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "open `%s`", *prefix ? prefix : "/");
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) < 0)
                        return nk_error_set(err, ENOMEM, "export");
                if (export_one(x, dirfd(d), de->d_name, path, depth, err) < 0)
                        return -1;
        }
        return 0;
}

/* The tree at dir_fd/name (name NULL: dir_fd's entries, not itself) as a
 * tar on out_fd, names relative (name first). */
static int write_tar(int dir_fd, const char *name, int out_fd, nk_error **err)
{
        struct exporter x = {archive_write_new(), archive_entry_linkresolver_new()};
        int r = -1;
        if (!x.a || !x.lr) {
                nk_error_set(err, ENOMEM, "export");
                goto out;
        }
        archive_write_set_format_pax_restricted(x.a);
        archive_entry_linkresolver_set_strategy(x.lr, archive_format(x.a));
        if (archive_write_open_fd(x.a, out_fd) != ARCHIVE_OK) {
                ar_fail(&x, "output", err);
                goto out;
        }
        if ((name ? export_one(&x, dir_fd, name, name, 0, err) : walk(&x, dir_fd, "", 0, err)) ==
            0) {
                r = archive_write_close(x.a) == ARCHIVE_OK ? 0 : ar_fail(&x, "output", err);
        }
out:
        if (x.lr)
                archive_entry_linkresolver_free(x.lr);
        /* A failed stream gets no end-of-archive blocks (which free would
         * write): a reader must not take a cut archive for a whole one. */
        if (x.a && r < 0)
                archive_write_fail(x.a);
        if (x.a)
                archive_write_free(x.a);
        return r;
}

/* A read-only overlay of lowers plus an empty bottom layer (overlayfs
 * needs two lowers without an upper). */
static int export_lowers(struct nk_store *s, char ***lowers, int out_fd, nk_error **err)
{
        _cleanup_free_ char *name = NULL, *empty = NULL;
        _cleanup_close_ int lock = nk_store_mkstaging(s, "export-", &name, err);
        if (lock < 0)
                return nk_error_wrap(err, "empty layer");
        if (asprintf(&empty, "%s/tmp/%s", s->root, name) < 0) {
                unlinkat(s->tmp, name, AT_REMOVEDIR);
                return nk_error_set(err, ENOMEM, "export");
        }
        size_t n = nk_strv_len(*lowers);
        int r = nk_strv_push(lowers, empty) < 0 ? nk_error_set(err, ENOMEM, "export") : 0;
        _cleanup_close_ int mfd =
                r < 0 ? -1 : nk_overlay_create(*lowers, n + 1, NULL, NULL, -1, err);
        if (mfd >= 0)
                r = write_tar(mfd, NULL, out_fd, err);
        else
                r = -1;
        rmdir(empty);
        return r;
}

static char **image_lowers(struct nk_store *s, const struct nk_image *img, nk_error **err)
{
        char **v = NULL;
        for (size_t i = img->config.n_diff_ids; i-- > 0;) {
                _cleanup_free_ char *p = nk_store_layer_path(s, img->config.diff_ids[i]);
                if (!p || nk_strv_push(&v, p) < 0) {
                        nk_strv_free(v);
                        nk_error_set(err, ENOMEM, "export");
                        return NULL;
                }
        }
        if (!v)
                v = calloc(1, sizeof(char *));
        return v;
}

/* The container's overlay when it is mounted: a mount point's device
 * differs from its parent directory's. */
static int mounted_rootfs(const char *mp)
{
        _cleanup_free_ char *parent = NULL;
        struct stat a, b;
        if (!mp || asprintf(&parent, "%s/..", mp) < 0)
                return -1;
        int fd = open(mp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -1;
        if (fstat(fd, &a) < 0 || stat(parent, &b) < 0 || a.st_dev == b.st_dev) {
                close(fd);
                return -1;
        }
        return fd;
}

/* A container: its upper directory on top of its image's layers. */
static int export_container(struct nk_store *s, const char *id, json_t *rec, int out_fd,
                            nk_error **err)
{
        _cleanup_close_ int mfd =
                mounted_rootfs(json_string_value(json_object_get(rec, "mountpoint")));
        if (mfd < 0) {
                _cleanup_free_ char *merged = NULL;
                if (asprintf(&merged, "%s/containers/%s/merged", s->root, id) >= 0)
                        mfd = mounted_rootfs(merged);
        }
        if (mfd >= 0)
                return write_tar(mfd, NULL, out_fd, err);
        const char *man = json_string_value(json_object_get(rec, "manifest"));
        struct nk_image img;
        if (!man || nk_image_read(s, man, &img, err) < 0)
                return nk_error_set(err, 0, "container `%s`: no image", id);
        char **lowers = image_lowers(s, &img, err);
        nk_image_clear(&img);
        _cleanup_free_ char *upper = NULL;
        if (!lowers || asprintf(&upper, "%s/containers/%s/upper", s->root, id) < 0) {
                nk_strv_free(lowers);
                return nk_error_set(err, ENOMEM, "export");
        }
        /* The upper joins as the top lower: its whiteouts still hide. */
        char **all = NULL;
        int r = nk_strv_push(&all, upper);
        for (char **p = lowers; r == 0 && *p; p++)
                r = nk_strv_push(&all, *p);
        nk_strv_free(lowers);
        r = r < 0 ? nk_error_set(err, ENOMEM, "export") : export_lowers(s, &all, out_fd, err);
        nk_strv_free(all);
        return r;
}

int nk_image_export(struct nk_store *s, const char *what, int out_fd, nk_error **err)
{
        char name[512];
        snprintf(name, sizeof(name), "%s/image.json", what);
        _cleanup_jansson_ json_t *rec = NULL;
        if (nk_store_lock(s, LOCK_SH, err) < 0)
                return -1;
        if (!strchr(what, '/') && nk_store_read_json(s->containers, name, &rec, NULL) == 0)
                return export_container(s, what, rec, out_fd, err) < 0
                               ? nk_error_wrap(err, "export container `%s`", what)
                               : 0;
        struct nk_image img;
        if (nk_image_find(s, what, &img, err) < 0)
                return -1;
        char **lowers = image_lowers(s, &img, err);
        nk_image_clear(&img);
        int r = lowers ? export_lowers(s, &lowers, out_fd, err) : -1;
        nk_strv_free(lowers);
        return r < 0 ? nk_error_wrap(err, "export image `%s`", what) : 0;
}

int nk_engine_cp_tar_out(int dir_fd, const char *name, int out_fd, nk_error **err)
{
        return write_tar(dir_fd, name, out_fd, err);
}

int nk_engine_cp_tar_in(int in_fd, int dest_fd, nk_error **err)
{
        struct nk_layer_limits lim = {.plain = true};
        return nk_layer_extract(in_fd, dest_fd, NULL, &lim, NULL, err);
}
