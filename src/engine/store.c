#include "engine/store.h"
#include "engine/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_subdir(int dfd, const char *name, mode_t mode, nk_error **err)
{
        if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
                return nk_error_set(err, errno, "mkdir `%s`", name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", name);
        return fd;
}

void nk_store_free(struct nk_store *s)
{
        if (!s)
                return;
        int *fds[] = {&s->dfd, &s->blobs, &s->layers, &s->tmp, &s->containers, &s->lock_fd};
        for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
                if (*fds[i] >= 0)
                        close(*fds[i]);
        free(s->root);
        free(s);
}

static int store_open_dirs(struct nk_store *s, nk_error **err)
{
        _cleanup_close_ int blobs = -1;
        if ((blobs = open_subdir(s->dfd, "blobs", 0700, err)) < 0 ||
            (s->blobs = open_subdir(blobs, "sha256", 0700, err)) < 0 ||
            (s->layers = open_subdir(s->dfd, "layers", 0700, err)) < 0 ||
            (s->tmp = open_subdir(s->dfd, "tmp", 0700, err)) < 0 ||
            (s->containers = open_subdir(s->dfd, "containers", 0711, err)) < 0)
                return -1;
        s->lock_fd = openat(s->dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd < 0)
                return nk_error_set(err, errno, "open `%s/lock`", s->root);
        return 0;
}

int nk_store_open(const char *root, struct nk_store **out, nk_error **err)
{
        struct nk_store *s = calloc(1, sizeof(*s));
        if (!s)
                return nk_error_set(err, ENOMEM, "open store `%s`", root);
        s->dfd = s->blobs = s->layers = s->tmp = s->containers = s->lock_fd = -1;
        s->root = strdup(root);
        if (!s->root || nk_mkdir_p(root, 0711, err) < 0)
                goto fail;
        s->dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dfd < 0) {
                nk_error_set(err, errno, "open `%s`", root);
                goto fail;
        }
        if (store_open_dirs(s, err) < 0)
                goto fail;
        *out = s;
        return 0;
fail:
        nk_store_free(s);
        nk_error_set(err, ENOMEM, "open store");
        return nk_error_wrap(err, "store `%s`", root);
}

int nk_store_lock(struct nk_store *s, int how, nk_error **err)
{
        if (s->lock_mode == how)
                return 0;
        if (nk_flock_wait(s->lock_fd, how) < 0)
                return nk_error_set(err, errno, "lock store `%s`", s->root);
        s->lock_mode = how;
        return 0;
}

bool nk_store_blob_exists(struct nk_store *s, const char *digest)
{
        struct stat st;
        return nk_digest_valid(digest) &&
               fstatat(s->blobs, nk_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISREG(st.st_mode);
}

int nk_store_blob_open(struct nk_store *s, const char *digest, nk_error **err)
{
        if (!nk_digest_valid(digest))
                return nk_error_set(err, 0, "invalid digest `%s`", digest);
        int fd = openat(s->blobs, nk_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "blob %s", digest);
        return fd;
}

int64_t nk_store_blob_size(struct nk_store *s, const char *digest)
{
        struct stat st;
        if (!nk_digest_valid(digest) ||
            fstatat(s->blobs, nk_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -1;
        return st.st_size;
}

int (*nk_store_blob_verify)(const void *data, size_t len, const char *digest, nk_error **err);

int nk_blob_read_fd(int fd, const char *digest, size_t max, char **out, size_t *len, nk_error **err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "blob %s", digest);
        if ((uint64_t)st.st_size > max)
                return nk_error_set(err, 0, "blob %s: %lld bytes, more than %zu", digest,
                                    (long long)st.st_size, max);
        size_t n = (size_t)st.st_size;
        _cleanup_free_ char *buf = malloc(n + 1);
        if (!buf)
                return nk_error_set(err, ENOMEM, "blob %s", digest);
        for (size_t off = 0; off < n;) {
                ssize_t r = pread(fd, buf + off, n - off, (off_t)off);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return nk_error_set(err, r < 0 ? errno : EIO, "read blob %s", digest);
                off += (size_t)r;
        }
        buf[n] = '\0';
        if (nk_store_blob_verify && nk_store_blob_verify(buf, n, digest, err) < 0)
                return -1;
        *out = TAKE_PTR(buf);
        if (len)
                *len = n;
        return 0;
}

int nk_store_blob_read(struct nk_store *s, const char *digest, size_t max, char **out, size_t *len,
                       nk_error **err)
{
        if (!nk_digest_valid(digest))
                return nk_error_set(err, 0, "invalid digest `%s`", digest);
        _cleanup_close_ int fd =
                openat(s->blobs, nk_digest_hex(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno == ENOENT ? 0 : errno, "blob %s is not in the store",
                                    digest);
        return nk_blob_read_fd(fd, digest, max, out, len, err);
}

bool nk_store_layer_exists(struct nk_store *s, const char *diff_id)
{
        struct stat st;
        return nk_digest_valid(diff_id) &&
               fstatat(s->layers, nk_digest_hex(diff_id), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode);
}

char *nk_store_layer_path(struct nk_store *s, const char *diff_id)
{
        char *p = NULL;
        if (asprintf(&p, "%s/layers/%s/diff", s->root, nk_digest_hex(diff_id)) < 0)
                return NULL;
        return p;
}

int64_t nk_store_layer_size(struct nk_store *s, const char *diff_id)
{
        char name[128];
        snprintf(name, sizeof(name), "%s/info.json", nk_digest_hex(diff_id));
        _cleanup_jansson_ json_t *info = NULL;
        if (nk_store_read_json(s->layers, name, &info, NULL) < 0)
                return -1;
        json_t *size = json_object_get(info, "size");
        return json_is_integer(size) ? json_integer_value(size) : -1;
}

/* Write data to a new temp file below dirfd and fsync it (if durable);
 * *tmp_out names it. */
static int write_temp(int dirfd, const char *name, const char *data, size_t len, bool durable,
                      char tmp_out[NK_TEMP_NAME_MAX], nk_error **err)
{
        snprintf(tmp_out, NK_TEMP_NAME_MAX, ".%s.tmp.%d", name, (int)getpid());
        _cleanup_close_ int fd =
                openat(dirfd, tmp_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return nk_error_set(err, errno, "create `%s`", tmp_out);
        size_t off = 0;
        while (off < len) {
                ssize_t w = write(fd, data + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        goto fail;
                off += (size_t)w;
        }
        if (durable && fsync(fd) < 0)
                goto fail;
        return 0;
fail:;
        int e = errno;
        unlinkat(dirfd, tmp_out, 0);
        return nk_error_set(err, e, "write `%s`", name);
}

static int write_replace(int dirfd, const char *name, const char *data, size_t len, bool durable,
                         nk_error **err)
{
        char tmp[NK_TEMP_NAME_MAX];
        if (write_temp(dirfd, name, data, len, durable, tmp, err) < 0)
                return -1;
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                int e = errno;
                unlinkat(dirfd, tmp, 0);
                return nk_error_set(err, e, "write `%s`", name);
        }
        if (durable)
                (void)fsync(dirfd);
        return 0;
}

int nk_store_write_atomic(int dirfd, const char *name, const char *data, size_t len, nk_error **err)
{
        return write_replace(dirfd, name, data, len, true, err);
}

static int write_json(int dirfd, const char *name, json_t *v, bool durable, nk_error **err)
{
        _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return nk_error_set(err, ENOMEM, "encode `%s`", name);
        return write_replace(dirfd, name, text, strlen(text), durable, err);
}

int nk_store_write_json(int dirfd, const char *name, json_t *v, nk_error **err)
{
        return write_json(dirfd, name, v, true, err);
}

int nk_store_replace_json(int dirfd, const char *name, json_t *v, nk_error **err)
{
        return write_json(dirfd, name, v, false, err);
}

int nk_store_read_json(int dirfd, const char *name, json_t **out, nk_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (nk_read_file_at(dirfd, name, &text, &len, err) < 0)
                return -1;
        json_error_t je;
        json_t *v = json_loadb(text, len, 0, &je);
        if (!v)
                return nk_error_set(err, 0, "parse `%s`: line %d: %s", name, je.line, je.text);
        *out = v;
        return 0;
}

int nk_store_names_read(struct nk_store *s, json_t **out, nk_error **err)
{
        json_t *v = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(s->dfd, "repositories.json", &v, &e) < 0) {
                if (e->errno_ != ENOENT) {
                        nk_error_pass(err, e);
                        return nk_error_wrap(err, "store `%s`", s->root);
                }
                nk_error_free(e);
                v = json_object();
        }
        if (!json_is_object(v)) {
                json_decref(v);
                return nk_error_set(err, 0, "`%s/repositories.json`: not a JSON object", s->root);
        }
        *out = v;
        return 0;
}

int nk_store_names_prepare(struct nk_store *s, nk_names_edit_fn fn, void *data,
                           struct nk_names_update *u, nk_error **err)
{
        u->lock_fd = openat(s->dfd, "names.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        u->tmp[0] = '\0';
        if (u->lock_fd < 0)
                return nk_error_set(err, errno, "open `%s/names.lock`", s->root);
        if (nk_flock_wait(u->lock_fd, LOCK_EX) < 0) {
                int e = errno;
                nk_store_names_cancel(s, u);
                return nk_error_set(err, e, "lock `%s/names.lock`", s->root);
        }
        _cleanup_jansson_ json_t *names = NULL;
        _cleanup_free_ char *text = NULL;
        int r = nk_store_names_read(s, &names, err);
        if (r == 0)
                r = fn(names, data, err);
        if (r == 0 && !(text = json_dumps(names, JSON_COMPACT | JSON_SORT_KEYS)))
                r = nk_error_set(err, ENOMEM, "encode `repositories.json`");
        if (r == 0)
                r = write_temp(s->dfd, "repositories.json", text, strlen(text), true, u->tmp, err);
        if (r < 0) {
                u->tmp[0] = '\0';
                nk_store_names_cancel(s, u);
                return -1;
        }
        return 0;
}

int nk_store_names_finish(struct nk_store *s, struct nk_names_update *u, nk_error **err)
{
        int r = 0;
        if (renameat(s->dfd, u->tmp, s->dfd, "repositories.json") < 0)
                r = nk_error_set(err, errno, "write `%s/repositories.json`", s->root);
        else
                u->tmp[0] = '\0';
        (void)fsync(s->dfd);
        nk_store_names_cancel(s, u);
        return r;
}

void nk_store_names_cancel(struct nk_store *s, struct nk_names_update *u)
{
        if (u->tmp[0])
                unlinkat(s->dfd, u->tmp, 0);
        u->tmp[0] = '\0';
        if (u->lock_fd >= 0)
                close(u->lock_fd); /* drops the flock */
        u->lock_fd = -1;
}

int nk_store_names_edit(struct nk_store *s, nk_names_edit_fn fn, void *data, nk_error **err)
{
        struct nk_names_update u;
        if (nk_store_names_prepare(s, fn, data, &u, err) < 0)
                return -1;
        return nk_store_names_finish(s, &u, err);
}

bool nk_store_name_digest(const char *name, char out[80])
{
        if (strlen(name) != 64)
                return false;
        memcpy(out, "sha256:", 7);
        memcpy(out + 7, name, 65);
        return nk_digest_valid(out);
}

/* ---- staging directories ---------------------------------------------- */

static const char *const staging_prefixes[] = {"layer-", "load-", "export-", "build-"};

int nk_store_mkstaging(struct nk_store *s, const char *prefix, char **name_out, nk_error **err)
{
        for (int attempt = 0; attempt < 10; attempt++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/tmp/%sXXXXXX", s->root, prefix) < 0)
                        return nk_error_set(err, ENOMEM, "staging directory");
                if (!mkdtemp(path))
                        return nk_error_set(err, errno, "create staging directory in `%s/tmp`",
                                            s->root);
                const char *name = strrchr(path, '/') + 1;
                int fd = openat(s->tmp, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue; /* swept before we locked it */
                        return nk_error_set(err, errno, "open `%s`", path);
                }
                if (nk_flock_wait(fd, LOCK_EX) < 0) {
                        int e = errno;
                        close(fd);
                        return nk_error_set(err, e, "lock `%s`", path);
                }
                /* A sweeper may have taken it between mkdtemp and flock. */
                struct stat a, b;
                if (fstat(fd, &a) == 0 && a.st_nlink > 0 &&
                    fstatat(s->tmp, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
                    a.st_dev == b.st_dev) {
                        char *n = strdup(name);
                        if (!n) {
                                close(fd);
                                return nk_error_set(err, ENOMEM, "staging directory");
                        }
                        *name_out = n;
                        return fd;
                }
                close(fd);
        }
        return nk_error_set(err, 0, "create staging directory in `%s/tmp`: keeps vanishing",
                            s->root);
}

void nk_store_sweep_staging(struct nk_store *s)
{
        int fd = openat(s->tmp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                bool staging = false;
                for (size_t i = 0; i < ARRAY_SIZE(staging_prefixes); i++)
                        staging = staging || strncmp(de->d_name, staging_prefixes[i],
                                                     strlen(staging_prefixes[i])) == 0;
                if (!staging)
                        continue;
                _cleanup_close_ int dfd =
                        openat(s->tmp, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 || flock(dfd, LOCK_EX | LOCK_NB) < 0)
                        continue; /* gone, or its owner is alive */
                _cleanup_free_ char *path = NULL;
                nk_error *e = NULL;
                if (asprintf(&path, "%s/tmp/%s", s->root, de->d_name) >= 0 &&
                    nk_rm_rf(path, &e) < 0)
                        nk_error_free(e);
        }
}
