/* COPY and ADD: files from the build context (or another stage's root
 * filesystem) into the step's rootfs, through directory fds. Sources are
 * opened beneath their root (openat2 RESOLVE_IN_ROOT: a symlink in the
 * context cannot reach the host); below a source directory nothing is
 * followed. The destination is made inside the overlay rootfs the same
 * way, so its existing parents keep their owners and modes, and the
 * overlay's upper dir becomes the step's layer. */
#include "engine/build/build.h"
#include "engine/container/runopts.h"
#include "engine/layer.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strv.h"
#include "util/syscalls.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- .dockerignore ------------------------------------------------------- */

/* Lexically cleaned relative path: no leading `/` or `./`, `..` resolved;
 * NULL when it climbs above the root. */
static char *clean_rel(const char *p)
{
        _cleanup_free_ char *copy = strdup(p);
        char *out = calloc(1, strlen(p) + 1), *save = NULL;
        if (!copy || !out) {
                free(out);
                return NULL;
        }
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        char *slash = strrchr(out, '/');
                        if (!*out) {
                                free(out);
                                return NULL;
                        }
                        if (slash)
                                *slash = '\0';
                        else
                                *out = '\0';
                        continue;
                }
                if (*out)
                        strcat(out, "/");
                strcat(out, c);
        }
        return out;
}

int nk_bf_ignore_parse(const char *text, size_t len, char ***out, nk_error **err)
{
        _cleanup_free_ char *copy = strndup(text, len);
        char **v = NULL, *save = NULL;
        if (!copy)
                return nk_error_set(err, ENOMEM, ".dockerignore");
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                l += strspn(l, " \t");
                size_t n = strlen(l);
                while (n && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
                        l[--n] = '\0';
                if (!*l || *l == '#')
                        continue;
                bool neg = *l == '!';
                _cleanup_free_ char *c = clean_rel(l + neg), *pat = NULL;
                if (!c || !*c || asprintf(&pat, "%s%s", neg ? "!" : "", c) < 0)
                        continue; /* `..` or nothing: matches nothing in the context */
                if (nk_strv_push(&v, pat) < 0) {
                        nk_strv_free(v);
                        return nk_error_set(err, ENOMEM, ".dockerignore");
                }
        }
        *out = v;
        return 0;
}

/* Pattern components against path components; `**` any number of them. */
static bool match_parts(char **pat, size_t np, char **path, size_t nn)
{
        if (np == 0)
                return true; /* the pattern matched a parent: everything below */
        if (streq(pat[0], "**")) {
                for (size_t k = 0; k <= nn; k++)
                        if (match_parts(pat + 1, np - 1, path + k, nn - k))
                                return true;
                return false;
        }
        return nn > 0 && fnmatch(pat[0], path[0], 0) == 0 &&
               match_parts(pat + 1, np - 1, path + 1, nn - 1);
}

static size_t split(char *s, char **parts, size_t max)
{
        size_t n = 0;
        char *save = NULL;
        for (char *c = strtok_r(s, "/", &save); c && n < max; c = strtok_r(NULL, "/", &save))
                parts[n++] = c;
        return n;
}

static bool pattern_matches(const char *pattern, const char *path)
{
        char pbuf[PATH_MAX], nbuf[PATH_MAX];
        char *pp[256], *np[256];
        if (snprintf(pbuf, sizeof pbuf, "%s", pattern) >= (int)sizeof pbuf ||
            snprintf(nbuf, sizeof nbuf, "%s", path) >= (int)sizeof nbuf)
                return false;
        size_t a = split(pbuf, pp, 256), b = split(nbuf, np, 256);
        return match_parts(pp, a, np, b);
}

bool nk_bf_ignored(char *const *patterns, const char *path)
{
        bool ignored = false;
        for (char *const *p = patterns; p && *p; p++) {
                bool neg = **p == '!';
                if (pattern_matches(*p + neg, path))
                        ignored = !neg;
        }
        return ignored;
}

/* ---- sources ------------------------------------------------------------- */

static bool has_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

/* Each source cleaned and its globs expanded against root_path; sorted. */
static int expand_sources(const struct nk_bf_copy *c, const char *root_path, char ***out,
                          nk_error **err)
{
        char **v = NULL;
        for (char **s = c->sources; s && *s; s++) {
                _cleanup_free_ char *rel = clean_rel(*s);
                if (!rel) {
                        nk_strv_free(v);
                        return nk_error_set(err, 0, "%s: `%s` is outside the build context",
                                            c->instr, *s);
                }
                if (!has_glob(rel) && c->from_context && *rel && nk_bf_ignored(c->ignore, rel)) {
                        nk_strv_free(v);
                        return nk_error_set(err, 0, "%s: `%s` is excluded by .dockerignore",
                                            c->instr, *s);
                }
                if (!has_glob(rel)) {
                        nk_strv_push(&v, rel);
                        continue;
                }
                _cleanup_free_ char *pat = NULL;
                if (asprintf(&pat, "%s/%s", root_path, rel) < 0)
                        return nk_error_set(err, ENOMEM, "COPY");
                glob_t g;
                /* as Docker's (Go's) matching: `*` matches a leading dot too,
                 * but never . or .. */
                int gr = glob(pat, GLOB_PERIOD, NULL, &g);
                size_t skip = strlen(root_path) + 1;
                for (size_t i = 0; gr == 0 && i < g.gl_pathc; i++) {
                        const char *base = strrchr(g.gl_pathv[i], '/');
                        base = base ? base + 1 : g.gl_pathv[i];
                        if (streq(base, ".") || streq(base, ".."))
                                continue;
                        if (!c->from_context || !nk_bf_ignored(c->ignore, g.gl_pathv[i] + skip))
                                nk_strv_push(&v, g.gl_pathv[i] + skip);
                }
                if (gr == 0)
                        globfree(&g);
        }
        if (!v) {
                return nk_error_set(err, ENOENT, "%s: no source files were specified or matched",
                                    c->instr);
        }
        *out = v;
        return 0;
}

static int open_source(const struct nk_bf_copy *c, const char *rel, nk_error **err)
{
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        int fd = nk_openat2(c->src_root, *rel ? rel : ".", &how, sizeof how);
        if (fd < 0)
                return nk_error_set(err, errno, "%s: source `%s`", c->instr, rel);
        return fd;
}

/* openat, or for "" the O_PATH fd itself opened again (a top-level source). */
static int reopen(int dfd, const char *name, int flags)
{
        if (*name)
                return openat(dfd, name, flags);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", dfd);
        return open(p, flags & ~O_NOFOLLOW);
}

/* ---- the content hash ---------------------------------------------------- */

struct hashing {
        const struct nk_bf_copy *c;
        struct nk_sha256 h;
};

static void hash_str(struct hashing *hs, const char *s)
{
        nk_sha256_update(&hs->h, s, strlen(s) + 1);
}

static int hash_tree(struct hashing *hs, int dfd, const char *name, const char *rel,
                     nk_error **err);

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory fd, but . and .. (*out NULL when empty). */
static int dir_names(int fd, const char *rel, char ***out, nk_error **err)
{
        int d2 = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
        if (!d) {
                if (d2 >= 0)
                        close(d2);
                return nk_error_set(err, errno, "read `%s`", rel);
        }
        char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        nk_strv_push(&names, de->d_name);
        closedir(d);
        *out = names;
        return 0;
}

static int hash_dir(struct hashing *hs, int fd, const char *rel, nk_error **err)
{
        _cleanup_strv_ char **names = NULL;
        if (dir_names(fd, rel, &names, err) < 0)
                return -1;
        size_t n = nk_strv_len(names);
        if (n)
                qsort(names, n, sizeof(char *), cmp_names);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0)
                        return nk_error_set(err, ENOMEM, "hash");
                if (hs->c->from_context && nk_bf_ignored(hs->c->ignore, sub))
                        continue;
                if (hash_tree(hs, fd, names[i], sub, err) < 0)
                        return -1;
        }
        return 0;
}

static int hash_tree(struct hashing *hs, int dfd, const char *name, const char *rel, nk_error **err)
{
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "stat `%s`", rel);
        char meta[128];
        snprintf(meta, sizeof meta, "%o %lld", st.st_mode, (long long)st.st_size);
        hash_str(hs, rel);
        hash_str(hs, meta);
        if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX];
                ssize_t n = readlinkat(dfd, name, t, sizeof t - 1);
                t[n < 0 ? 0 : n] = '\0';
                hash_str(hs, t);
        } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = reopen(dfd, name,
                                                O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
                                                        (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s`", rel);
                if (S_ISDIR(st.st_mode))
                        return hash_dir(hs, fd, rel, err);
                uint64_t size;
                return nk_sha256_fd(fd, &hs->h, &size, err);
        }
        return 0;
}

int nk_bf_copy_hash(const struct nk_bf_copy *c, char out[NK_DIGEST_LEN + 1], nk_error **err)
{
        struct hashing hs = {.c = c};
        _cleanup_strv_ char **srcs = NULL;
        char root_path[64];
        snprintf(root_path, sizeof root_path, "/proc/self/fd/%d", c->src_root);
        if (expand_sources(c, root_path, &srcs, err) < 0 || nk_sha256_init(&hs.h, err) < 0)
                return -1;
        for (char **s = srcs; *s; s++) {
                _cleanup_close_ int fd = open_source(c, *s, err);
                if (fd < 0 || hash_tree(&hs, fd, "", *s, err) < 0) {
                        nk_sha256_free(&hs.h);
                        return -1;
                }
        }
        nk_sha256_final(&hs.h, out);
        return 0;
}

/* ---- the copy ------------------------------------------------------------ */

/* A source file with several links, copied once: its copy's fd. */
struct copied_link {
        dev_t dev;
        ino_t ino;
        int fd; /* O_PATH on the copy */
};

struct copying {
        const struct nk_bf_copy *c;
        bool chown;
        uint32_t uid, gid;
        struct copied_link *links; /* hardlinks stay hardlinks within a COPY */
        size_t n_links;
};

static void copying_clear(struct copying *cp)
{
        for (size_t i = 0; i < cp->n_links; i++)
                close(cp->links[i].fd);
        free(cp->links);
        cp->links = NULL;
        cp->n_links = 0;
}

/* Another name of a file already copied: a link to the copy (1), else 0. */
static int link_copied(struct copying *cp, const struct stat *st, int ddfd, const char *dname,
                       const char *rel, nk_error **err)
{
        for (size_t i = 0; st->st_nlink > 1 && i < cp->n_links; i++) {
                if (cp->links[i].dev != st->st_dev || cp->links[i].ino != st->st_ino)
                        continue;
                char p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", cp->links[i].fd);
                if (linkat(AT_FDCWD, p, ddfd, dname, AT_SYMLINK_FOLLOW) < 0)
                        return nk_error_set(err, errno, "link `%s`", rel);
                return 1;
        }
        return 0;
}

static void remember_copy(struct copying *cp, const struct stat *st, int ddfd, const char *dname)
{
        if (st->st_nlink < 2)
                return;
        struct copied_link *v = realloc(cp->links, (cp->n_links + 1) * sizeof(*v));
        if (!v)
                return; /* copied, not linked: still correct content */
        cp->links = v;
        int fd = openat(ddfd, dname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
                v[cp->n_links++] = (struct copied_link){st->st_dev, st->st_ino, fd};
}

/* Make the directory `path` (absolute in the rootfs) and open it; every
 * component resolved beneath the root. */
static int mkdir_in_root(int root, const char *path, nk_error **err)
{
        _cleanup_free_ char *rel = clean_rel(path), *done = calloc(1, strlen(path) + 2);
        if (!rel || !done)
                return nk_error_set(err, ENOMEM, "mkdir");
        struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        char *save = NULL;
        for (char *c = strtok_r(rel, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                /* the parent so far, resolved from the root each time: an
                 * absolute link in the image points within the image */
                _cleanup_close_ int parent = nk_openat2(root, *done ? done : ".", &how, sizeof how);
                if (parent < 0)
                        return nk_error_set(err, errno, "directory `/%s`", done);
                if (mkdirat(parent, c, 0755) < 0 && errno != EEXIST)
                        return nk_error_set(err, errno, "create directory `%s`", path);
                if (*done)
                        strcat(done, "/");
                strcat(done, c);
        }
        int fd = nk_openat2(root, *done ? done : ".", &how, sizeof how);
        return fd < 0 ? nk_error_set(err, errno, "directory `%s`", path) : fd;
}

static int set_meta(struct copying *cp, int dfd, const char *name, const struct stat *st,
                    const char *rel, nk_error **err)
{
        uid_t uid = cp->chown ? cp->uid : cp->c->from_context ? 0 : st->st_uid;
        gid_t gid = cp->chown ? cp->gid : cp->c->from_context ? 0 : st->st_gid;
        if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "chown `%s`", rel);
        if (!S_ISLNK(st->st_mode)) {
                mode_t mode = cp->c->chmod >= 0 ? (mode_t)cp->c->chmod : st->st_mode & 07777;
                if (fchmodat(dfd, name, mode, 0) < 0)
                        return nk_error_set(err, errno, "chmod `%s`", rel);
        }
        struct timespec ts[2] = {st->st_atim, st->st_mtim};
        if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return nk_error_set(err, errno, "times of `%s`", rel);
        return 0;
}

static int copy_file(int src, int dfd, const char *name, const char *rel, nk_error **err)
{
        _cleanup_close_ int out =
                openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return nk_error_set(err, errno, "create `%s`", rel);
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(src, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read `%s`", rel);
                if (n == 0)
                        return 0;
                if (nk_write_all(out, buf, (size_t)n) < 0)
                        return nk_error_set(err, errno, "write `%s`", rel);
        }
}

static int copy_tree(struct copying *cp, int sdfd, const char *sname, int ddfd, const char *dname,
                     const char *rel, nk_error **err);

static int copy_dir_contents(struct copying *cp, int sfd, int dfd, const char *rel, nk_error **err)
{
        _cleanup_strv_ char **names = NULL;
        if (dir_names(sfd, rel, &names, err) < 0)
                return -1;
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *sub = NULL;
                if (asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", *n) < 0)
                        return nk_error_set(err, ENOMEM, "COPY");
                if (cp->c->from_context && nk_bf_ignored(cp->c->ignore, sub))
                        continue;
                if (copy_tree(cp, sfd, *n, dfd, *n, sub, err) < 0)
                        return -1;
        }
        return 0;
}

/* What is at the destination goes, unless both are directories (merged). */
static int clear_dest(int ddfd, const char *dname, bool dir, const char *rel, nk_error **err)
{
        struct stat st;
        if (fstatat(ddfd, dname, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : nk_error_set(err, errno, "stat `%s`", rel);
        if (dir && S_ISDIR(st.st_mode))
                return 1;
        if (S_ISDIR(st.st_mode)) {
                return nk_error_set(err, EISDIR, "cannot replace directory `%s` with a file", rel);
        }
        if (unlinkat(ddfd, dname, 0) < 0)
                return nk_error_set(err, errno, "replace `%s`", rel);
        return 0;
}

static int copy_tree(struct copying *cp, int sdfd, const char *sname, int ddfd, const char *dname,
                     const char *rel, nk_error **err)
{
        struct stat st;
        if (fstatat(sdfd, sname, &st, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) < 0)
                return nk_error_set(err, errno, "stat `%s`", rel);
        int ex = clear_dest(ddfd, dname, S_ISDIR(st.st_mode), rel, err);
        if (ex < 0)
                return -1;
        if (S_ISDIR(st.st_mode)) {
                if (!ex && mkdirat(ddfd, dname, 0700) < 0)
                        return nk_error_set(err, errno, "create `%s`", rel);
                _cleanup_close_ int s =
                        reopen(sdfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d =
                        openat(ddfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return nk_error_set(err, errno, "open `%s`", rel);
                if (copy_dir_contents(cp, s, d, rel, err) < 0)
                        return -1;
        } else if (S_ISREG(st.st_mode)) {
                int linked = link_copied(cp, &st, ddfd, dname, rel, err);
                if (linked)
                        return linked < 0 ? -1 : 0;
                _cleanup_close_ int s =
                        reopen(sdfd, sname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (s < 0 || copy_file(s, ddfd, dname, rel, err) < 0 ||
                    set_meta(cp, ddfd, dname, &st, rel, err) < 0)
                        return s < 0 ? nk_error_set(err, errno, "open `%s`", rel) : -1;
                remember_copy(cp, &st, ddfd, dname);
                return 0;
        } else if (S_ISLNK(st.st_mode)) {
                char t[PATH_MAX];
                ssize_t n = readlinkat(sdfd, sname, t, sizeof t - 1);
                if (n < 0)
                        return nk_error_set(err, errno, "read link `%s`", rel);
                t[n] = '\0';
                if (symlinkat(t, ddfd, dname) < 0)
                        return nk_error_set(err, errno, "create `%s`", rel);
        } else if (S_ISSOCK(st.st_mode)) {
                return 0;
        } else if (mknodat(ddfd, dname, st.st_mode, st.st_rdev) < 0) {
                return nk_error_set(err, errno, "create `%s`", rel);
        }
        return set_meta(cp, ddfd, dname, &st, rel, err);
}

/* ADD of a local archive: whether fd holds a tar (any compression). */
static bool is_archive(int fd)
{
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        _cleanup_close_ int rfd = open(p, O_RDONLY | O_CLOEXEC);
        struct archive *a = archive_read_new();
        if (rfd < 0 || !a) {
                if (a)
                        archive_read_free(a);
                return false;
        }
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        struct archive_entry *e;
        bool ok = archive_read_open_fd(a, rfd, 65536) == ARCHIVE_OK &&
                  archive_read_next_header(a, &e) == ARCHIVE_OK;
        archive_read_free(a);
        return ok;
}

static int extract_into(int src, int dfd, const char *rel, nk_error **err)
{
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", src);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", rel);
        struct nk_layer_limits lim = {0};
        struct nk_layer_stats st;
        if (nk_layer_extract(fd, dfd, NULL, &lim, &st, err) < 0)
                return nk_error_wrap(err, "ADD: extract `%s`", rel);
        return 0;
}

/* Dest as a directory: ends with `/`, several sources, or a directory. */
static int copy_one(struct copying *cp, int root, const char *dest, bool dest_dir, const char *src,
                    nk_error **err)
{
        _cleanup_close_ int sfd = open_source(cp->c, src, err);
        if (sfd < 0)
                return -1;
        struct stat st;
        if (fstat(sfd, &st) < 0)
                return nk_error_set(err, errno, "stat `%s`", src);
        if (S_ISDIR(st.st_mode)) { /* its contents go into dest */
                _cleanup_close_ int d = mkdir_in_root(root, dest, err);
                _cleanup_close_ int s = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (d < 0 || s < 0)
                        return d < 0 ? -1 : nk_error_set(err, errno, "open `%s`", src);
                return copy_dir_contents(cp, s, d, src, err);
        }
        const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
        _cleanup_free_ char *dir = strdup(dest), *name = NULL;
        if (!dir)
                return nk_error_set(err, ENOMEM, "COPY");
        if (dest_dir) {
                name = strdup(base);
        } else {
                char *slash = strrchr(dir, '/');
                name = strdup(slash + 1);
                slash[1] = '\0';
        }
        _cleanup_close_ int d = name ? mkdir_in_root(root, dir, err) : -1;
        if (d < 0)
                return name ? -1 : nk_error_set(err, ENOMEM, "COPY");
        if (cp->c->add && S_ISREG(st.st_mode) && is_archive(sfd))
                return extract_into(sfd, d, src, err);
        return copy_tree(cp, sfd, "", d, name, src, err);
}

static int dest_path(const struct nk_bf_copy *c, char **out, bool *is_dir)
{
        const char *wd = c->workdir && *c->workdir ? c->workdir : "/";
        size_t n = strlen(c->dest);
        *is_dir = n && (c->dest[n - 1] == '/' || streq(c->dest, ".") ||
                        (n >= 2 && streq(c->dest + n - 2, "/.")));
        if (c->dest[0] == '/')
                return asprintf(out, "%s", c->dest) < 0 ? -1 : 0;
        return asprintf(out, "%s/%s", wd, c->dest) < 0 ? -1 : 0;
}

static int copy_all(struct copying *cp, struct nk_bf_mount *m, nk_error **err)
{
        const struct nk_bf_copy *c = cp->c;
        _cleanup_strv_ char **srcs = NULL;
        _cleanup_free_ char *dest = NULL;
        bool dest_dir;
        char root_path[64];
        snprintf(root_path, sizeof root_path, "/proc/self/fd/%d", c->src_root);
        if (expand_sources(c, root_path, &srcs, err) < 0)
                return -1;
        if (dest_path(c, &dest, &dest_dir) < 0)
                return nk_error_set(err, ENOMEM, "COPY");
        if (nk_strv_len(srcs) > 1 || has_glob(c->sources[0]))
                dest_dir = true;
        if (nk_strv_len(c->sources) > 1 && !dest_dir)
                return nk_error_set(err, 0,
                                    "%s: with several sources the destination must "
                                    "end with /",
                                    c->instr);
        /* an existing directory at dest takes the file inside */
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int probe = nk_openat2(m->root_fd, dest, &how, sizeof how);
        struct stat st;
        if (probe >= 0 && fstat(probe, &st) == 0 && S_ISDIR(st.st_mode))
                dest_dir = true;
        if (c->chown && nk_run_user_ids(c->chown, m->root_fd, &cp->uid, &cp->gid, err) < 0)
                return nk_error_wrap(err, "%s: --chown", c->instr);
        cp->chown = c->chown != NULL;
        for (char **s = srcs; *s; s++)
                if (copy_one(cp, m->root_fd, dest, dest_dir, *s, err) < 0)
                        return nk_error_wrap(err, "%s", c->instr);
        return 0;
}

int nk_bf_copy_step(const struct nk_bf_copy *c, struct nk_new_layer *out, bool *got_layer,
                    nk_error **err)
{
        struct nk_bf_mount m;
        if (nk_bf_mount(c->s, c->diff_ids, c->n_layers, &m, err) < 0)
                return -1;
        struct copying cp = {.c = c};
        int rc = copy_all(&cp, &m, err);
        copying_clear(&cp);
        if (rc == 0) {
                umount2(m.root, MNT_DETACH | UMOUNT_NOFOLLOW);
                rc = nk_bf_step_layer(c->s, &m, c->o->timestamp, got_layer, out, err);
        }
        nk_bf_unmount(&m);
        return rc;
}
