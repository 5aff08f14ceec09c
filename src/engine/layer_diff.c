/* A layer from an overlay upper directory: what a container (commit) or a
 * build step changed, as the tar layer an image carries.
 *
 * The tree is walked through directory fds (O_NOFOLLOW, one component at
 * a time), entries in byte order, so the same tree always gives the same
 * tar. overlayfs' own records become the image format's: a 0:0 character
 * device is a deletion (`.wh.NAME`), trusted.overlay.opaque=y on a
 * directory hides everything below it in the lower layers
 * (`DIR/.wh..wh..opq`). The uncompressed tar goes to a temp file (its
 * sha256 is the diff-id), then gzip-compressed into a staged blob, and the
 * layer is extracted through the transaction as any pulled layer is. */
#include "engine/image.h"
#include "engine/layer.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

struct hardlink {
        dev_t dev;
        ino_t ino;
        char *path;
};

struct diff {
        struct archive *a;
        const struct nk_diff_opts *o;
        struct nk_sha256 h;
        int out_fd;
        uint64_t bytes, entries;
        nk_error *werr;
        struct hardlink *links;
        size_t n_links;
};

static la_ssize_t tar_write(struct archive *a, void *data, const void *buf, size_t len)
{
        struct diff *d = data;
        if (nk_write_all(d->out_fd, buf, len) < 0) {
                nk_error_set(&d->werr, errno, "write layer");
                archive_set_error(a, EIO, "write layer");
                return -1;
        }
        nk_sha256_update(&d->h, buf, len);
        d->bytes += len;
        return (la_ssize_t)len;
}

static bool excluded(const struct diff *d, const char *path)
{
        for (char *const *e = d->o ? d->o->exclude : NULL; e && *e; e++)
                if (streq(*e, path))
                        return true;
        return false;
}

static int64_t clamp_time(const struct diff *d, int64_t t)
{
        return d->o && d->o->timestamp >= 0 && t > d->o->timestamp ? d->o->timestamp : t;
}

static int entry_error(struct diff *d, const char *path, nk_error **err)
{
        if (d->werr)
                return nk_error_pass(err, TAKE_PTR(d->werr));
        return nk_error_set(err, 0, "layer entry `%s`: %s", path, archive_error_string(d->a));
}

/* The xattrs an image carries (what extraction keeps): user.* and file
 * capabilities. overlayfs' trusted.* records are its own bookkeeping. */
static int add_xattrs(struct archive_entry *e, int dfd, const char *name, const char *path,
                      nk_error **err)
{
        char p[64 + 256 + 8];
        snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dfd, name);
        ssize_t n = llistxattr(p, NULL, 0);
        if (n <= 0)
                return 0;
        _cleanup_free_ char *list = malloc((size_t)n);
        if (!list)
                return nk_error_set(err, ENOMEM, "xattrs of `%s`", path);
        n = llistxattr(p, list, (size_t)n);
        for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(list + off) + 1) {
                const char *k = list + off;
                if (strncmp(k, "user.", 5) != 0 && !streq(k, "security.capability"))
                        continue;
                char val[65536];
                ssize_t vl = lgetxattr(p, k, val, sizeof val);
                if (vl < 0)
                        return nk_error_set(err, errno, "xattr %s of `%s`", k, path);
                archive_entry_xattr_add_entry(e, k, val, (size_t)vl);
        }
        return 0;
}

static int write_whiteout(struct diff *d, const char *dir, const char *name, int64_t mtime,
                          nk_error **err)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s%s.wh.%s", dir, dir[0] ? "/" : "", name) < 0)
                return nk_error_set(err, ENOMEM, "whiteout");
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, p);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0);
        archive_entry_set_mtime(e, clamp_time(d, mtime), 0);
        int r = archive_write_header(d->a, e);
        archive_entry_free(e);
        d->entries++;
        return r == ARCHIVE_OK ? 0 : entry_error(d, p, err);
}

static int copy_data(struct diff *d, int fd, const char *path, nk_error **err)
{
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read `%s`", path);
                if (n == 0)
                        return 0;
                if (archive_write_data(d->a, buf, (size_t)n) != n)
                        return entry_error(d, path, err);
        }
}

/* A regular file seen before under another name (same inode) is a
 * hardlink to it. */
static const char *link_target(struct diff *d, const struct stat *st, const char *path)
{
        if (st->st_nlink < 2)
                return NULL;
        for (size_t i = 0; i < d->n_links; i++)
                if (d->links[i].dev == st->st_dev && d->links[i].ino == st->st_ino)
                        return d->links[i].path;
        struct hardlink *v = realloc(d->links, (d->n_links + 1) * sizeof(*v));
        if (v) {
                d->links = v;
                v[d->n_links].dev = st->st_dev;
                v[d->n_links].ino = st->st_ino;
                if ((v[d->n_links].path = strdup(path)))
                        d->n_links++;
        }
        return NULL;
}

static int fill_entry(struct diff *d, struct archive_entry *e, int dfd, const char *name,
                      const char *path, const struct stat *st, nk_error **err)
{
        archive_entry_set_pathname(e, path);
        archive_entry_set_mode(e, st->st_mode);
        archive_entry_set_uid(e, st->st_uid);
        archive_entry_set_gid(e, st->st_gid);
        archive_entry_set_mtime(e, clamp_time(d, st->st_mtim.tv_sec),
                                d->o && d->o->timestamp >= 0 ? 0 : st->st_mtim.tv_nsec);
        if (S_ISLNK(st->st_mode)) {
                char target[4097];
                ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
                if (n < 0)
                        return nk_error_set(err, errno, "read link `%s`", path);
                target[n] = '\0';
                archive_entry_set_symlink(e, target);
        } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
                archive_entry_set_rdevmajor(e, major(st->st_rdev));
                archive_entry_set_rdevminor(e, minor(st->st_rdev));
        } else if (S_ISREG(st->st_mode)) {
                const char *to = link_target(d, st, path);
                if (to) {
                        archive_entry_set_hardlink(e, to);
                        archive_entry_set_size(e, 0);
                        return 0;
                }
                archive_entry_set_size(e, st->st_size);
        }
        return add_xattrs(e, dfd, name, path, err);
}

static int walk(struct diff *d, int dfd, const char *dir, nk_error **err);

static int add_one(struct diff *d, int dfd, const char *dir, const char *name, nk_error **err)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s%s%s", dir, dir[0] ? "/" : "", name) < 0)
                return nk_error_set(err, ENOMEM, "layer");
        if (excluded(d, path))
                return 0;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "stat `%s`", path);
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
                return write_whiteout(d, dir, name, st.st_mtim.tv_sec, err);
        if (strncmp(name, ".wh.", 4) == 0)
                return nk_error_set(err, 0,
                                    "`%s`: a name starting with `.wh.` would be read as a "
                                    "deletion (whiteout) in a layer",
                                    path);
        if (S_ISSOCK(st.st_mode))
                return 0; /* tar has no sockets: Docker leaves them out too */
        _cleanup_close_ int fd = -1;
        if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
                fd = openat(dfd, name,
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
                                    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s`", path);
        }
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return nk_error_set(err, ENOMEM, "layer");
        int r = fill_entry(d, e, dfd, name, path, &st, err);
        bool hardlink = archive_entry_hardlink(e) != NULL;
        if (r == 0 && archive_write_header(d->a, e) != ARCHIVE_OK)
                r = entry_error(d, path, err);
        archive_entry_free(e);
        d->entries++;
        if (r == 0 && S_ISREG(st.st_mode) && !hardlink)
                r = copy_data(d, fd, path, err);
        if (r < 0 || !S_ISDIR(st.st_mode))
                return r;
        char opq[2];
        if (fgetxattr(fd, "trusted.overlay.opaque", opq, sizeof opq) == 1 && opq[0] == 'y' &&
            write_whiteout(d, path, ".wh..opq", st.st_mtim.tv_sec, err) < 0)
                return -1;
        return walk(d, fd, path, err);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct diff *d, int dfd, const char *dir, nk_error **err)
{
        int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dp) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "read directory `%s`", dir[0] ? dir : "/");
        }
        _cleanup_strv_ char **names = NULL;
        struct dirent *de;
        int r = 0;
        while (r == 0 && (de = readdir(dp)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        r = nk_strv_push(&names, de->d_name);
        closedir(dp);
        if (r < 0)
                return nk_error_set(err, ENOMEM, "layer");
        size_t n = nk_strv_len(names);
        if (n)
                qsort(names, n, sizeof(char *), cmp_names);
        for (size_t i = 0; i < n; i++)
                if (add_one(d, dfd, dir, names[i], err) < 0)
                        return -1;
        return 0;
}

static int open_archive(struct diff *d, nk_error **err)
{
        d->a = archive_write_new();
        if (!d->a)
                return nk_error_set(err, ENOMEM, "layer");
        archive_write_set_format_pax_restricted(d->a);
        /* names are bytes: a file name need not be UTF-8 in any locale */
        archive_write_set_format_option(d->a, "pax", "hdrcharset", "BINARY");
        archive_write_set_bytes_in_last_block(d->a, 1);
        if (archive_write_open(d->a, d, NULL, tar_write, NULL) != ARCHIVE_OK)
                return nk_error_set(err, 0, "layer: %s", archive_error_string(d->a));
        return 0;
}

/* The tar of the tree at upper_fd into out_fd; d->h ends as the diff-id. */
static int write_tar(struct diff *d, int upper_fd, char diff_id[NK_DIGEST_LEN + 1], nk_error **err)
{
        if (nk_sha256_init(&d->h, err) < 0)
                return -1;
        int r = open_archive(d, err);
        if (r == 0)
                r = walk(d, upper_fd, "", err);
        if (d->a && archive_write_close(d->a) != ARCHIVE_OK && r == 0)
                r = entry_error(d, "(end of archive)", err);
        if (d->a)
                archive_write_free(d->a);
        d->a = NULL;
        nk_sha256_final(&d->h, diff_id);
        return r;
}

struct gz_out {
        struct nk_blob_writer *w;
        nk_error *err;
};

static la_ssize_t gz_write(struct archive *a, void *data, const void *buf, size_t len)
{
        struct gz_out *o = data;
        if (nk_blob_writer_write(o->w, buf, len, &o->err) < 0) {
                archive_set_error(a, EIO, "write layer blob");
                return -1;
        }
        return (la_ssize_t)len;
}

/* gzip the file at fd (from offset 0) into w: libarchive's raw format is
 * a single stream through its filters. No name or time in the gzip
 * header, so the blob depends only on the tar. */
static int gzip_fd(int fd, struct nk_blob_writer *w, nk_error **err)
{
        struct gz_out o = {.w = w};
        struct archive *a = archive_write_new();
        if (!a)
                return nk_error_set(err, ENOMEM, "compress layer");
        archive_write_set_format_raw(a);
        archive_write_add_filter_gzip(a);
        archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
        archive_write_set_filter_option(a, "gzip", "compression-level", "3");
        archive_write_set_bytes_per_block(a, 0);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "layer");
        archive_entry_set_filetype(e, AE_IFREG);
        int r = archive_write_open(a, &o, NULL, gz_write, NULL) == ARCHIVE_OK &&
                                archive_write_header(a, e) == ARCHIVE_OK
                        ? 0
                        : -1;
        archive_entry_free(e);
        char buf[1 << 16];
        off_t off = 0;
        while (r == 0) {
                ssize_t n = pread(fd, buf, sizeof buf, off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -1 : 0;
                        break;
                }
                off += n;
                if (archive_write_data(a, buf, (size_t)n) != n)
                        r = -1;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                r = -1;
        if (r < 0)
                nk_error_set(err, o.err ? o.err->errno_ : errno, "compress layer: %s",
                             o.err ? o.err->msg : archive_error_string(a));
        nk_error_free(o.err);
        archive_write_free(a);
        return r;
}

int nk_layer_from_upper(struct nk_txn *t, int upper_fd, const struct nk_diff_opts *o,
                        struct nk_new_layer *out, uint64_t *entries, nk_error **err)
{
        _cleanup_close_ int tmp = openat(t->s->tmp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (tmp < 0)
                return nk_error_set(err, errno, "temp file in `%s/tmp`", t->s->root);
        struct diff d = {.o = o, .out_fd = tmp};
        struct nk_new_layer l = {.media_type = NK_MT_OCI_LAYER_GZIP};
        int r = write_tar(&d, upper_fd, l.diff_id, err);
        for (size_t i = 0; i < d.n_links; i++)
                free(d.links[i].path);
        free(d.links);
        nk_error_free(d.werr);
        if (r < 0)
                return nk_error_wrap(err, "layer from changes");
        struct nk_blob_writer w;
        if (nk_blob_writer_open(t, &w, err) < 0)
                return -1;
        if (gzip_fd(tmp, &w, err) < 0) {
                nk_blob_writer_abort(&w);
                return -1;
        }
        l.size = (int64_t)w.size;
        if (nk_blob_writer_finish(t, &w, NULL, l.digest, err) < 0 ||
            nk_txn_layer(t, l.digest, l.diff_id, err) < 0)
                return -1;
        if (entries)
                *entries = d.entries;
        *out = l;
        return 0;
}
