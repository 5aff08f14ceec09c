/* nook engine — named volumes and a run's mounts resolved to host paths
 * (volume.h has the layout and the rules). */
#include "engine/container/volume.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* jansson's own cleanup helper (json_auto_t's) */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* volume.json is a few hundred bytes; labels can make it bigger. */
#define META_MAX (1 << 20)
/* Copy-up: deeper trees than this are refused rather than recursed. */
#define COPY_DEPTH_MAX 256

/* ---- the volumes directory and its lock ---------------------------------- */

struct vdir {
        char *path; /* STORE/volumes */
        int fd;     /* that directory */
        int lock;   /* STORE/volumes/.lock, flock'ed */
};

static void vdir_close(struct vdir *d)
{
        if (d->lock >= 0)
                close(d->lock); /* drops the flock */
        if (d->fd >= 0)
                close(d->fd);
        free(d->path);
        *d = (struct vdir){.fd = -1, .lock = -1};
}

/* Open (creating) STORE/volumes and take its lock in mode `how`. */
static int vdir_open(const char *store, int how, struct vdir *d, nk_error **err)
{
        *d = (struct vdir){.fd = -1, .lock = -1};
        if (!store || !*store)
                return nk_error_set(err, 0, "volumes: no store directory");
        if (asprintf(&d->path, "%s/volumes", store) < 0) {
                d->path = NULL;
                return nk_error_set(err, ENOMEM, "volumes");
        }
        if (nk_mkdir_p(d->path, 0700, err) < 0)
                goto fail;
        d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->fd < 0) {
                nk_error_set(err, errno, "open `%s`", d->path);
                goto fail;
        }
        d->lock = openat(d->fd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (d->lock < 0 || nk_flock_wait(d->lock, how) < 0) {
                nk_error_set(err, errno, "lock `%s/.lock`", d->path);
                goto fail;
        }
        return 0;
fail:
        vdir_close(d);
        return -1;
}

/* Staging left by a creation or removal that was killed halfway: under
 * LOCK_EX nobody else is at work, so every one is stale. */
static void sweep_staging(struct vdir *d)
{
        int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (strncmp(de->d_name, ".tmp-", 5) != 0 && strncmp(de->d_name, ".rm-", 4) != 0)
                        continue;
                _cleanup_free_ char *p = NULL;
                nk_error *e = NULL;
                if (asprintf(&p, "%s/%s", d->path, de->d_name) >= 0 && nk_rm_rf(p, &e) < 0)
                        nk_error_free(e);
        }
}

static int check_name(const char *name, nk_error **err)
{
        if (!nk_volume_name_valid(name))
                return nk_error_set(err, 0,
                                    "invalid volume name `%s`: only [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
                                    "are allowed",
                                    name);
        return 0;
}

/* ---- one volume -------------------------------------------------------------- */

void nk_volume_clear(struct nk_volume *v)
{
        free(v->name);
        free(v->mountpoint);
        free(v->created);
        json_decref(v->labels);
        *v = (struct nk_volume){0};
}

void nk_volumes_free(struct nk_volume *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                nk_volume_clear(&v[i]);
        free(v);
}

/* Read `name`'s volume.json, never through a symlink. 1 and *out filled,
 * 0 when there is no such volume, -1 on error (a damaged volume). */
static int volume_read(struct vdir *d, const char *name, struct nk_volume *out, nk_error **err)
{
        _cleanup_close_ int vfd =
                openat(d->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (vfd < 0)
                return errno == ENOENT
                               ? 0
                               : nk_error_set(err, errno, "volume `%s`: open its directory", name);
        _cleanup_close_ int fd = openat(vfd, "volume.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return nk_error_set(err, errno, "volume `%s`: open volume.json", name);
        if (!S_ISREG(st.st_mode) || st.st_size > META_MAX)
                return nk_error_set(err, 0,
                                    "volume `%s`: volume.json is not a regular file of at most "
                                    "%d bytes",
                                    name, META_MAX);
        json_error_t je;
        _cleanup_json_ json_t *meta = json_loadfd(fd, JSON_REJECT_DUPLICATES, &je);
        if (!meta || !json_is_object(meta))
                return nk_error_set(err, 0, "volume `%s`: volume.json: %s", name,
                                    meta ? "not an object" : je.text);
        const char *created = json_string_value(json_object_get(meta, "created"));
        json_t *labels = json_object_get(meta, "labels");
        if (!streq(json_string_value(json_object_get(meta, "name")) ?: "", name) || !created ||
            (labels && !json_is_object(labels)))
                return nk_error_set(err, 0,
                                    "volume `%s`: volume.json: want {\"name\": \"%s\", "
                                    "\"created\": STRING, \"labels\": OBJECT}",
                                    name, name);
        *out = (struct nk_volume){0};
        out->name = strdup(name);
        out->created = strdup(created);
        out->labels = labels ? json_deep_copy(labels) : json_object();
        out->anonymous = json_object_get(out->labels, NK_VOLUME_ANON_LABEL) != NULL;
        if (asprintf(&out->mountpoint, "%s/%s/_data", d->path, name) < 0)
                out->mountpoint = NULL;
        if (!out->name || !out->created || !out->labels || !out->mountpoint) {
                nk_volume_clear(out);
                return nk_error_set(err, ENOMEM, "volume `%s`", name);
        }
        return 1;
}

static void rfc3339_now(char *buf, size_t n)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int random_hex(char *out, size_t bytes)
{
        unsigned char raw[64];
        if (bytes > sizeof(raw) || getrandom(raw, bytes, 0) != (ssize_t)bytes)
                return -1;
        for (size_t i = 0; i < bytes; i++)
                sprintf(out + 2 * i, "%02x", raw[i]);
        return 0;
}

/* A new file in dirfd, written whole and synced. */
static int write_new(int dirfd, const char *name, const char *text, nk_error **err)
{
        _cleanup_close_ int fd =
                openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return nk_error_set(err, errno, "create `%s`", name);
        for (size_t off = 0, len = strlen(text); off < len;) {
                ssize_t w = write(fd, text + off, len - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return nk_error_set(err, errno, "write `%s`", name);
                off += (size_t)w;
        }
        if (fsync(fd) < 0)
                return nk_error_set(err, errno, "fsync `%s`", name);
        return 0;
}

/* Build the volume in a .tmp- directory and rename it into place (the
 * caller holds LOCK_EX and knows the name is free). */
static int volume_make(struct vdir *d, const char *name, const json_t *labels, nk_error **err)
{
        char tmp[96], created[40];
        if (random_hex(tmp + 5, 16) < 0)
                return nk_error_set(err, errno, "volume `%s`: random name", name);
        memcpy(tmp, ".tmp-", 5);
        if (mkdirat(d->fd, tmp, 0755) < 0)
                return nk_error_set(err, errno, "volume `%s`: mkdir %s/%s", name, d->path, tmp);
        _cleanup_close_ int tfd =
                openat(d->fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_json_ json_t *lab = labels ? json_deep_copy(labels) : json_object();
        _cleanup_free_ char *text = NULL;
        int r = -1;
        rfc3339_now(created, sizeof(created));
        json_t *meta = lab ? json_pack("{s:s, s:s, s:O, s:s}", "name", name, "created", created,
                                       "labels", lab, "driver", "local")
                           : NULL;
        text = meta ? json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(meta);
        if (tfd < 0 || !text) {
                nk_error_set(err, tfd < 0 ? errno : ENOMEM, "volume `%s`", name);
        } else if (mkdirat(tfd, "_data", 0755) < 0) {
                nk_error_set(err, errno, "volume `%s`: mkdir _data", name);
        } else if (write_new(tfd, "volume.json", text, err) < 0 || fsync(tfd) < 0) {
                nk_error_set(err, errno, "volume `%s`: write volume.json", name);
        } else if (renameat2(d->fd, tmp, d->fd, name, RENAME_NOREPLACE) < 0) {
                nk_error_set(err, errno, "volume `%s`: rename into place", name);
        } else {
                fsync(d->fd);
                return 0;
        }
        _cleanup_free_ char *p = NULL;
        nk_error *e = NULL;
        if (asprintf(&p, "%s/%s", d->path, tmp) >= 0 && nk_rm_rf(p, &e) < 0)
                nk_error_free(e);
        return r;
}

/* Create under the lock held by the caller (LOCK_EX). */
static int create_locked(struct vdir *d, const char *name, const json_t *labels, bool *created,
                         struct nk_volume *out, nk_error **err)
{
        char anon[72];
        if (!name) {
                if (random_hex(anon, 32) < 0)
                        return nk_error_set(err, errno, "volume: random name");
                name = anon;
        } else if (check_name(name, err) < 0) {
                return -1;
        }
        const char *k;
        json_t *v;
        if (labels && !json_is_object(labels))
                return nk_error_set(err, 0, "volume `%s`: labels must be an object", name);
        json_object_foreach ((json_t *)labels, k, v)
                if (!json_is_string(v))
                        return nk_error_set(err, 0, "volume `%s`: label `%s` is not a string", name,
                                            k);
        struct nk_volume tmp = {0};
        int r = volume_read(d, name, &tmp, err);
        if (r < 0)
                return -1;
        if (created)
                *created = r == 0;
        if (r == 0 && volume_make(d, name, labels, err) < 0)
                return -1;
        if (r == 0 && volume_read(d, name, &tmp, err) <= 0)
                return nk_error_set(err, 0, "volume `%s`: gone after creation", name);
        if (out)
                *out = tmp;
        else
                nk_volume_clear(&tmp);
        return 0;
}

int nk_volume_create(const char *store, const char *name, const json_t *labels, bool *created,
                     struct nk_volume *out, nk_error **err)
{
        struct vdir d;
        if ((name && check_name(name, err) < 0) || vdir_open(store, LOCK_EX, &d, err) < 0)
                return -1;
        sweep_staging(&d);
        int r = create_locked(&d, name, labels, created, out, err);
        vdir_close(&d);
        return r;
}

int nk_volume_inspect(const char *store, const char *name, struct nk_volume *out, nk_error **err)
{
        struct vdir d;
        if (check_name(name, err) < 0 || vdir_open(store, LOCK_SH, &d, err) < 0)
                return -1;
        int r = volume_read(&d, name, out, err);
        vdir_close(&d);
        if (r == 0)
                return nk_error_set(err, 0, "no such volume: %s", name);
        return r < 0 ? -1 : 0;
}

static int by_name(const void *a, const void *b)
{
        return strcmp(((const struct nk_volume *)a)->name, ((const struct nk_volume *)b)->name);
}

/* Every volume under the lock the caller holds; damaged ones (a
 * volume.json missing or bad, a symlink in place of the directory) are
 * skipped: `ls` lists what can be used. */
static int list_locked(struct vdir *d, struct nk_volume **out, size_t *n, nk_error **err)
{
        int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "read `%s`", d->path);
        }
        struct nk_volume *v = NULL;
        size_t count = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (!nk_volume_name_valid(de->d_name))
                        continue;
                struct nk_volume one;
                nk_error *e = NULL;
                if (volume_read(d, de->d_name, &one, &e) <= 0) {
                        nk_error_free(e);
                        continue;
                }
                struct nk_volume *t = realloc(v, (count + 1) * sizeof(*v));
                if (!t) {
                        nk_volume_clear(&one);
                        nk_volumes_free(v, count);
                        return nk_error_set(err, ENOMEM, "volumes");
                }
                v = t;
                v[count++] = one;
        }
        if (count)
                qsort(v, count, sizeof(*v), by_name);
        *out = v;
        *n = count;
        return 0;
}

int nk_volume_list(const char *store, struct nk_volume **out, size_t *n, nk_error **err)
{
        struct vdir d;
        if (vdir_open(store, LOCK_SH, &d, err) < 0)
                return -1;
        int r = list_locked(&d, out, n, err);
        vdir_close(&d);
        return r;
}

/* Rename the volume out of its name (so it is gone at once for everyone),
 * then delete it; nk_rm_rf unlinks symlinks and never follows them. */
static int remove_locked(struct vdir *d, const char *name, nk_error **err)
{
        char tmp[96];
        memcpy(tmp, ".rm-", 4);
        if (random_hex(tmp + 4, 16) < 0)
                return nk_error_set(err, errno, "volume `%s`: random name", name);
        if (renameat(d->fd, name, d->fd, tmp) < 0)
                return nk_error_set(err, errno, "remove volume `%s`", name);
        fsync(d->fd);
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", d->path, tmp) < 0)
                return nk_error_set(err, ENOMEM, "remove volume `%s`", name);
        if (nk_rm_rf(p, err) < 0)
                return nk_error_wrap(err, "remove volume `%s` (left as %s)", name, p);
        return 0;
}

int nk_volume_remove(const char *store, const char *name, bool missing_ok,
                     nk_volume_in_use_fn in_use, void *data, nk_error **err)
{
        struct vdir d;
        if (check_name(name, err) < 0 || vdir_open(store, LOCK_EX, &d, err) < 0)
                return -1;
        sweep_staging(&d);
        struct stat st;
        int r = 0;
        if (fstatat(d.fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        r = nk_error_set(err, errno, "volume `%s`", name);
                else if (!missing_ok)
                        r = nk_error_set(err, 0, "no such volume: %s", name);
        } else if (in_use && in_use(name, data)) {
                r = nk_error_set(err, EBUSY, "volume %s is in use by a container", name);
        } else {
                /* a damaged volume (no volume.json, even a symlink put in
                 * its place) is removed all the same: only the link goes */
                r = remove_locked(&d, name, err);
        }
        vdir_close(&d);
        return r;
}

int nk_volume_filters_check(char *const *filters, nk_error **err)
{
        for (char *const *f = filters; f && *f; f++) {
                const char *v = *f;
                if (strncmp(v, "name=", 5) == 0 || strncmp(v, "label=", 6) == 0)
                        continue;
                if (streq(v, "dangling=true") || streq(v, "dangling=false") ||
                    streq(v, "dangling=1") || streq(v, "dangling=0"))
                        continue;
                return nk_error_set(err, 0,
                                    "invalid filter `%s` (name=NAME, label=KEY[=VALUE], "
                                    "dangling=true|false)",
                                    v);
        }
        return 0;
}

bool nk_volume_matches(const struct nk_volume *v, char *const *filters, nk_volume_in_use_fn in_use,
                       void *data)
{
        bool any_name = false, name_ok = false;
        for (char *const *f = filters; f && *f; f++) {
                const char *s = *f;
                if (strncmp(s, "name=", 5) == 0) {
                        any_name = true;
                        name_ok |= strstr(v->name, s + 5) != NULL;
                } else if (strncmp(s, "label=", 6) == 0) {
                        const char *k = s + 6, *eq = strchr(k, '=');
                        _cleanup_free_ char *key = eq ? strndup(k, (size_t)(eq - k)) : strdup(k);
                        json_t *lv = key ? json_object_get(v->labels, key) : NULL;
                        if (!lv || (eq && !streq(json_string_value(lv) ?: "", eq + 1)))
                                return false;
                } else if (strncmp(s, "dangling=", 9) == 0) {
                        bool want = streq(s + 9, "true") || streq(s + 9, "1");
                        bool dangling = !(in_use && in_use(v->name, data));
                        if (dangling != want)
                                return false;
                }
        }
        return !any_name || name_ok;
}

int nk_volume_prune(const char *store, bool all, char *const *filters, nk_volume_in_use_fn in_use,
                    void *data, char ***removed, nk_error **err)
{
        struct vdir d;
        struct nk_volume *v = NULL;
        size_t n = 0;
        _cleanup_strv_ char **names = NULL;
        if (nk_volume_filters_check(filters, err) < 0 || vdir_open(store, LOCK_EX, &d, err) < 0)
                return -1;
        sweep_staging(&d);
        int r = list_locked(&d, &v, &n, err);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if ((!all && !v[i].anonymous) || (in_use && in_use(v[i].name, data)) ||
                    !nk_volume_matches(&v[i], filters, in_use, data))
                        continue;
                if ((r = remove_locked(&d, v[i].name, err)) == 0 &&
                    nk_strv_push(&names, v[i].name) < 0)
                        r = nk_error_set(err, ENOMEM, "volume prune");
        }
        nk_volumes_free(v, n);
        vdir_close(&d);
        if (removed)
                *removed = TAKE_PTR(names);
        return r;
}

/* ---- copy-up: the image's content at a volume's target ------------------------ */

static int copy_tree(int src, int dst, const char *where, int depth, nk_error **err);

static int copy_data(int from, int to, const char *where, nk_error **err)
{
        char buf[65536];
        for (;;) {
                ssize_t n = read(from, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "copy-up: read `%s`", where);
                if (n == 0)
                        return 0;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(to, buf + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return nk_error_set(err, errno, "copy-up: write `%s`", where);
                        off += w;
                }
        }
}

/* One entry `name` of directory src into dst, with its mode and owner. */
static int copy_entry(int src, int dst, const char *name, const char *where, int depth,
                      nk_error **err)
{
        struct stat st;
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "copy-up: stat `%s`", where);
        mode_t perm = st.st_mode & 07777;
        if (S_ISDIR(st.st_mode)) {
                if (mkdirat(dst, name, 0700) < 0)
                        return nk_error_set(err, errno, "copy-up: mkdir `%s`", where);
                _cleanup_close_ int s =
                        openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d =
                        openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return nk_error_set(err, errno, "copy-up: open `%s`", where);
                if (copy_tree(s, d, where, depth + 1, err) < 0)
                        return -1;
                if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, perm) < 0)
                        return nk_error_set(err, errno, "copy-up: chown/chmod `%s`", where);
                return 0;
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d = openat(
                        dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (s < 0 || d < 0)
                        return nk_error_set(err, errno, "copy-up: open `%s`", where);
                if (copy_data(s, d, where, err) < 0)
                        return -1;
                if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, perm) < 0)
                        return nk_error_set(err, errno, "copy-up: chown/chmod `%s`", where);
                return 0;
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
                if (n < 0)
                        return nk_error_set(err, errno, "copy-up: readlink `%s`", where);
                target[n] = '\0';
                if (symlinkat(target, dst, name) < 0 ||
                    fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return nk_error_set(err, errno, "copy-up: symlink `%s`", where);
                return 0;
        }
        if (S_ISFIFO(st.st_mode)) {
                if (mkfifoat(dst, name, 0600) < 0 ||
                    fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    fchmodat(dst, name, perm, 0) < 0)
                        return nk_error_set(err, errno, "copy-up: mkfifo `%s`", where);
                return 0;
        }
        return 0; /* device nodes and sockets: not content */
}

static int copy_tree(int src, int dst, const char *where, int depth, nk_error **err)
{
        if (depth > COPY_DEPTH_MAX)
                return nk_error_set(err, ELOOP, "copy-up: `%s` is more than %d levels deep", where,
                                    COPY_DEPTH_MAX);
        int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return nk_error_set(err, errno, "copy-up: read `%s`", where);
        }
        struct dirent *de;
        while ((de = readdir(dir))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s/%s", where, de->d_name) < 0)
                        return nk_error_set(err, ENOMEM, "copy-up");
                if (copy_entry(src, dst, de->d_name, sub, depth, err) < 0)
                        return -1;
        }
        return 0;
}

/* Seed volume `name` (just made, empty) with the image's content at
 * `target`, resolved beneath rootfs_fd as if it were / (a symlink on the
 * way cannot lead out). No such directory in the image: nothing to do. */
static int copy_up(struct vdir *d, const char *name, int rootfs_fd, const char *target,
                   nk_error **err)
{
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int src = nk_openat2(rootfs_fd, target, &how, sizeof(how));
        if (src < 0 && (errno == ENOENT || errno == ENOTDIR))
                return 0;
        if (src < 0)
                return nk_error_set(err, errno, "copy-up: open `%s` in the image", target);
        _cleanup_free_ char *data = NULL;
        if (asprintf(&data, "%s/_data", name) < 0)
                return nk_error_set(err, ENOMEM, "copy-up");
        _cleanup_close_ int dst =
                openat(d->fd, data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (dst < 0 || fstat(src, &st) < 0)
                return nk_error_set(err, errno, "copy-up: volume `%s`", name);
        if (copy_tree(src, dst, target, 0, err) < 0)
                return nk_error_wrap(err, "volume `%s`", name);
        /* Docker: the volume's root takes the image directory's owner and mode */
        if (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
                return nk_error_set(err, errno, "copy-up: chown/chmod volume `%s`", name);
        return 0;
}

/* ---- a run's mounts ------------------------------------------------------------ */

void nk_run_mounts_free(struct nk_run_mount *m, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(m[i].source);
                free(m[i].target);
                nk_strv_free(m[i].options);
        }
        free(m);
}

/* "/data/" and "/data" are one target. */
static bool same_target(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        while (la > 1 && a[la - 1] == '/')
                la--;
        while (lb > 1 && b[lb - 1] == '/')
                lb--;
        return la == lb && strncmp(a, b, la) == 0;
}

struct resolve {
        struct vdir d;
        struct nk_run_mount *m;
        size_t n;
        char **created;
        int rootfs_fd;
};

static int push_mount(struct resolve *r, const struct nk_run_mount *in, const char *source)
{
        struct nk_run_mount *t = realloc(r->m, (r->n + 1) * sizeof(*t));
        if (!t)
                return -1;
        r->m = t;
        struct nk_run_mount *m = &r->m[r->n];
        *m = (struct nk_run_mount){
                .kind = in->kind, .readonly = in->readonly, .nocopy = in->nocopy};
        r->n++;
        if (!(m->target = strdup(in->target)) || (source && !(m->source = strdup(source))) ||
            (in->options && !(m->options = nk_strv_dup(in->options))))
                return -1;
        return 0;
}

/* Docker copies the image's content into a volume whenever the volume is
 * empty when mounted (new, or created by `volume create`): an unreadable
 * directory counts as not empty (nothing is copied). */
static bool dir_empty(int dfd, const char *path)
{
        int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        struct dirent *de;
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return false;
        return true;
}

/* A volume for a mount: the named one (made when missing) or a new
 * anonymous one; its _data must be a real directory. */
static int resolve_volume(struct resolve *r, const struct nk_run_mount *in, nk_error **err)
{
        struct nk_volume v = {0};
        bool created = false;
        _cleanup_json_ json_t *anon =
                in->source ? NULL : json_pack("{s:s}", NK_VOLUME_ANON_LABEL, "");
        if (create_locked(&r->d, in->source, anon, &created, &v, err) < 0)
                return -1;
        int ret = 0;
        struct stat st;
        _cleanup_free_ char *data = NULL;
        if (created && nk_strv_push(&r->created, v.name) < 0)
                ret = nk_error_set(err, ENOMEM, "volume `%s`", v.name);
        else if (asprintf(&data, "%s/_data", v.name) < 0)
                ret = nk_error_set(err, ENOMEM, "volume `%s`", v.name);
        else if (fstatat(r->d.fd, data, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                ret = nk_error_set(err, 0,
                                   "volume `%s`: %s is not a directory (refusing to "
                                   "follow it)",
                                   v.name, v.mountpoint);
        else if (!in->nocopy && r->rootfs_fd >= 0 && dir_empty(r->d.fd, data) &&
                 copy_up(&r->d, v.name, r->rootfs_fd, in->target, err) < 0)
                ret = -1;
        else if (push_mount(r, in, v.mountpoint) < 0)
                ret = nk_error_set(err, ENOMEM, "mounts");
        nk_volume_clear(&v);
        return ret;
}

static int resolve_one(struct resolve *r, const struct nk_run_mount *in, nk_error **err)
{
        if (!in->target || in->target[0] != '/')
                return nk_error_set(err, 0, "mount target `%s` is not an absolute path",
                                    in->target ?: "");
        switch (in->kind) {
        case NK_MOUNT_BIND: {
                struct stat st;
                if (!in->source || in->source[0] != '/')
                        return nk_error_set(err, 0, "bind source `%s` is not an absolute path",
                                            in->source ?: "");
                if (stat(in->source, &st) < 0)
                        return nk_error_set(err, errno, "bind source path `%s`", in->source);
                return push_mount(r, in, in->source) < 0 ? nk_error_set(err, ENOMEM, "mounts") : 0;
        }
        case NK_MOUNT_VOLUME:
                return resolve_volume(r, in, err);
        case NK_MOUNT_TMPFS:
                return push_mount(r, in, NULL) < 0 ? nk_error_set(err, ENOMEM, "mounts") : 0;
        }
        return nk_error_set(err, 0, "mount on `%s`: unknown kind", in->target);
}

/* The image's config.Volumes ({"/data": {}}) not covered by a mount. */
static int resolve_image_volumes(struct resolve *r, const json_t *image_config, nk_error **err)
{
        json_t *vols = json_object_get(json_object_get(image_config, "config"), "Volumes");
        const char *target;
        json_t *v;
        if (vols && !json_is_object(vols) && !json_is_null(vols))
                return nk_error_set(err, 0, "image config: Volumes is not an object");
        json_object_foreach (vols, target, v) {
                if (target[0] != '/')
                        return nk_error_set(err, 0,
                                            "image config: volume `%s` is not an absolute "
                                            "path",
                                            target);
                bool covered = false;
                for (size_t i = 0; i < r->n && !covered; i++)
                        covered = same_target(r->m[i].target, target);
                if (covered)
                        continue;
                struct nk_run_mount anon = {.kind = NK_MOUNT_VOLUME, .target = (char *)target};
                if (resolve_volume(r, &anon, err) < 0)
                        return -1;
        }
        return 0;
}

int nk_volume_resolve_mounts(const char *store, const struct nk_run_mount *in, size_t n_in,
                             const json_t *image_config, int rootfs_fd, struct nk_run_mount **out,
                             size_t *n_out, char ***created, nk_error **err)
{
        struct resolve r = {.rootfs_fd = rootfs_fd};
        if (vdir_open(store, LOCK_EX, &r.d, err) < 0)
                return -1;
        sweep_staging(&r.d);
        int ret = 0;
        for (size_t i = 0; ret == 0 && i < n_in; i++)
                ret = resolve_one(&r, &in[i], err);
        if (ret == 0)
                ret = resolve_image_volumes(&r, image_config, err);
        if (ret < 0) {
                /* nothing made here is left behind */
                for (char **c = r.created; c && *c; c++) {
                        nk_error *e = NULL;
                        if (remove_locked(&r.d, *c, &e) < 0)
                                nk_error_free(e);
                }
                nk_strv_free(r.created);
                nk_run_mounts_free(r.m, r.n);
        } else {
                *out = r.m;
                *n_out = r.n;
                if (created)
                        *created = r.created;
                else
                        nk_strv_free(r.created);
        }
        vdir_close(&r.d);
        return ret;
}
