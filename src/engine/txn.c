#include "engine/txn.h"
#include "engine/layer.h"
#include "engine/tarsplit.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int nk_txn_begin(struct nk_store *s, struct nk_txn **out, nk_error **err)
{
        if (s->lock_mode == 0 && nk_store_lock(s, LOCK_SH, err) < 0)
                return -1;
        nk_store_sweep_staging(s); /* what killed transactions left */
        struct nk_txn *t = calloc(1, sizeof(*t));
        if (!t || !(t->names = json_object()) || !(t->layer_blobs = json_object())) {
                if (t)
                        json_decref(t->names);
                free(t);
                return nk_error_set(err, ENOMEM, "begin store transaction");
        }
        t->s = s;
        pthread_mutex_init(&t->mu, NULL);
        *out = t;
        return 0;
}

static void tmp_remove(struct nk_store *s, const char *name)
{
        _cleanup_free_ char *path = NULL;
        nk_error *e = NULL;
        if (asprintf(&path, "%s/tmp/%s", s->root, name) >= 0 && nk_rm_rf(path, &e) < 0)
                nk_error_free(e);
}

static void staged_clear(struct nk_txn *t, bool abort)
{
        for (size_t i = 0; i < t->n_blobs; i++) {
                struct nk_staged_blob *b = &t->blobs[i];
                if (abort && b->tmp_name && (!b->keep_on_abort || nk_txn_out_of_space(t)))
                        unlinkat(t->s->tmp, b->tmp_name, 0);
                if (b->fd >= 0)
                        close(b->fd);
                free(b->tmp_name);
        }
        for (size_t i = 0; i < t->n_layers; i++) {
                if (abort && t->layers[i].tmp_name)
                        tmp_remove(t->s, t->layers[i].tmp_name);
                free(t->layers[i].tmp_name);
                if (t->layers[i].lock_fd >= 0)
                        close(t->layers[i].lock_fd);
        }
        free(t->blobs);
        free(t->layers);
        t->blobs = NULL;
        t->layers = NULL;
        t->n_blobs = t->n_layers = 0;
}

void nk_txn_free(struct nk_txn *t)
{
        if (!t)
                return;
        staged_clear(t, true);
        json_decref(t->names);
        json_decref(t->layer_blobs);
        pthread_mutex_destroy(&t->mu);
        free(t);
}

void nk_txn_note_error(struct nk_txn *t, const nk_error *e)
{
        if (!t || !e || (e->errno_ != ENOSPC && e->errno_ != EDQUOT))
                return;
        pthread_mutex_lock(&t->mu);
        t->out_of_space = true;
        pthread_mutex_unlock(&t->mu);
}

bool nk_txn_out_of_space(struct nk_txn *t)
{
        pthread_mutex_lock(&t->mu);
        bool r = t->out_of_space;
        pthread_mutex_unlock(&t->mu);
        return r;
}

static struct nk_staged_blob *staged_blob(struct nk_txn *t, const char *digest)
{
        for (size_t i = 0; i < t->n_blobs; i++)
                if (streq(t->blobs[i].digest, digest))
                        return &t->blobs[i];
        return NULL;
}

/* Takes fd and tmp_name in every case. */
static int stage_blob(struct nk_txn *t, const char *digest, int fd, char *tmp_name, bool keep,
                      nk_error **err)
{
        pthread_mutex_lock(&t->mu);
        int r = 0;
        struct nk_staged_blob *prev = staged_blob(t, digest);
        if (prev || nk_store_blob_exists(t->s, digest)) {
                close(fd);
                bool same = prev && prev->tmp_name && tmp_name && streq(prev->tmp_name, tmp_name);
                if (tmp_name && !keep && !same)
                        unlinkat(t->s->tmp, tmp_name, 0);
                free(tmp_name);
                goto out;
        }
        struct nk_staged_blob *nb = realloc(t->blobs, (t->n_blobs + 1) * sizeof(*nb));
        if (!nb) {
                close(fd);
                free(tmp_name);
                r = nk_error_set(err, ENOMEM, "stage blob %s", digest);
                goto out;
        }
        t->blobs = nb;
        nb = &t->blobs[t->n_blobs++];
        memcpy(nb->digest, digest, sizeof(nb->digest));
        nb->fd = fd;
        nb->tmp_name = tmp_name;
        nb->keep_on_abort = keep;
out:
        pthread_mutex_unlock(&t->mu);
        return r;
}

int nk_txn_stage_file(struct nk_txn *t, const char *digest, int fd, char *tmp_name, bool keep,
                      nk_error **err)
{
        return stage_blob(t, digest, fd, tmp_name, keep, err);
}

int nk_blob_writer_open(struct nk_txn *t, struct nk_blob_writer *w, nk_error **err)
{
        w->size = 0;
        w->h.ctx = NULL;
        w->fd = openat(t->s->tmp, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (w->fd < 0)
                return nk_error_set(err, errno, "create temporary blob in `%s/tmp`", t->s->root);
        if (nk_sha256_init(&w->h, err) < 0) {
                nk_blob_writer_abort(w);
                return -1;
        }
        return 0;
}

int nk_blob_writer_write(struct nk_blob_writer *w, const void *buf, size_t len, nk_error **err)
{
        nk_sha256_update(&w->h, buf, len);
        w->size += len;
        if (nk_write_all(w->fd, buf, len) < 0)
                return nk_error_set(err, errno, "write blob");
        return 0;
}

void nk_blob_writer_abort(struct nk_blob_writer *w)
{
        if (w->fd >= 0)
                close(w->fd);
        w->fd = -1;
        nk_sha256_free(&w->h);
}

int nk_blob_writer_finish(struct nk_txn *t, struct nk_blob_writer *w, const char *expected,
                          char digest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        char d[NK_DIGEST_LEN + 1];
        nk_sha256_final(&w->h, d);
        if (expected && !streq(d, expected)) {
                nk_blob_writer_abort(w);
                return nk_error_set(err, 0, "blob content hashes to %s, expected %s", d, expected);
        }
        int fd = TAKE_FD(w->fd);
        if (digest_out)
                memcpy(digest_out, d, sizeof(d));
        return stage_blob(t, d, fd, NULL, false, err);
}

int nk_txn_put_blob(struct nk_txn *t, const void *data, size_t len, const char *expected,
                    char digest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        struct nk_blob_writer w;
        if (nk_blob_writer_open(t, &w, err) < 0)
                return -1;
        if (nk_blob_writer_write(&w, data, len, err) < 0) {
                nk_blob_writer_abort(&w);
                return -1;
        }
        return nk_blob_writer_finish(t, &w, expected, digest_out, err);
}

bool nk_txn_has_blob(struct nk_txn *t, const char *digest)
{
        pthread_mutex_lock(&t->mu);
        bool r = staged_blob(t, digest) != NULL;
        pthread_mutex_unlock(&t->mu);
        return r || nk_store_blob_exists(t->s, digest);
}

int nk_txn_blob_open(struct nk_txn *t, const char *digest, nk_error **err)
{
        pthread_mutex_lock(&t->mu);
        struct nk_staged_blob *b = staged_blob(t, digest);
        int fd = -1, e = 0;
        if (b) {
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", b->fd);
                fd = open(proc, O_RDONLY | O_CLOEXEC);
                e = errno;
        }
        pthread_mutex_unlock(&t->mu);
        if (b && fd < 0)
                return nk_error_set(err, e, "reopen staged blob %s", digest);
        return b ? fd : nk_store_blob_open(t->s, digest, err);
}

int nk_txn_blob_read(struct nk_txn *t, const char *digest, size_t max, char **out, size_t *len,
                     nk_error **err)
{
        _cleanup_close_ int fd = nk_txn_blob_open(t, digest, err);
        if (fd < 0)
                return -1;
        return nk_blob_read_fd(fd, digest, max, out, len, err);
}

static int write_layer_info(int dirfd, const char *digest, const struct nk_layer_stats *st,
                            bool split, nk_error **err)
{
        _cleanup_jansson_ json_t *info = json_pack(
                "{s:s,s:s,s:I,s:I,s:I,s:b}", "diff_id", st->diff_id, "blob", digest, "size",
                (json_int_t)st->content_bytes, "tar_size", (json_int_t)st->tar_bytes, "entries",
                (json_int_t)st->entries, "split", split);
        if (!info)
                return nk_error_set(err, ENOMEM, "layer info");
        return nk_store_write_json(dirfd, "info.json", info, err);
}

static bool layer_present(struct nk_txn *t, const char *diff_id)
{
        pthread_mutex_lock(&t->mu);
        bool r = false;
        for (size_t i = 0; i < t->n_layers && !r; i++)
                r = streq(t->layers[i].diff_id, diff_id);
        pthread_mutex_unlock(&t->mu);
        return r || nk_store_layer_exists(t->s, diff_id);
}

/* Extract into tmp/<name>/diff; the directory is removed on failure. On
 * success *lock_out holds the directory's flock (see nk_store_mkstaging). */
static int extract_to_tmp(struct nk_txn *t, const char *digest, const char *diff_id,
                          char **name_out, int *lock_out, bool *split, nk_error **err)
{
        struct nk_split_rec *rec = NULL;
        char prefix[32];
        _cleanup_free_ char *name = NULL;
        snprintf(prefix, sizeof(prefix), "layer-%.12s-", nk_digest_hex(diff_id));
        _cleanup_close_ int dfd = nk_store_mkstaging(t->s, prefix, &name, err);
        if (dfd < 0)
                return -1;
        _cleanup_close_ int blob = -1, diff = -1;
        struct nk_layer_stats st;
        int r = -1;
        if (mkdirat(dfd, "diff", 0755) < 0 ||
            (diff = openat(dfd, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
                nk_error_set(err, errno, "create `%s/tmp/%s/diff`", t->s->root, name);
                goto out;
        }
        if ((blob = nk_txn_blob_open(t, digest, err)) < 0 ||
            nk_split_rec_open(dfd, &rec, err) < 0 ||
            nk_layer_extract_rec(blob, diff, diff_id, NULL, rec, &st, err) < 0)
                goto out;
        int fr = nk_split_rec_finish(TAKE_PTR(rec), dfd, split, err);
        if (fr < 0 || write_layer_info(dfd, digest, &st, *split, err) < 0)
                goto out;
        r = 0;
out:
        nk_split_rec_abort(rec, dfd);
        if (r < 0) {
                tmp_remove(t->s, name);
                return -1;
        }
        *name_out = TAKE_PTR(name);
        *lock_out = TAKE_FD(dfd);
        return 0;
}

int nk_txn_layer(struct nk_txn *t, const char *digest, const char *diff_id, nk_error **err)
{
        if (!nk_digest_valid(diff_id))
                return nk_error_set(err, 0, "invalid diff-id `%s`", diff_id);
        pthread_mutex_lock(&t->mu);
        int jr = json_object_set_new(t->layer_blobs, digest, json_string(diff_id));
        pthread_mutex_unlock(&t->mu);
        if (jr < 0)
                return nk_error_set(err, ENOMEM, "stage layer %s", diff_id);
        if (layer_present(t, diff_id))
                return 0;
        char *name = NULL;
        int lock = -1;
        bool split = false;
        if (extract_to_tmp(t, digest, diff_id, &name, &lock, &split, err) < 0)
                return nk_error_wrap(err, "layer %s", digest);
        pthread_mutex_lock(&t->mu);
        struct nk_staged_layer *nl = realloc(t->layers, (t->n_layers + 1) * sizeof(*nl));
        if (nl) {
                t->layers = nl;
                nl = &t->layers[t->n_layers++];
                memcpy(nl->diff_id, diff_id, sizeof(nl->diff_id));
                nl->tmp_name = name;
                nl->lock_fd = lock;
                nl->split = split;
        }
        pthread_mutex_unlock(&t->mu);
        if (!nl) {
                tmp_remove(t->s, name);
                free(name);
                close(lock);
                return nk_error_set(err, ENOMEM, "stage layer %s", diff_id);
        }
        return 0;
}

int nk_txn_set_name(struct nk_txn *t, const char *name, const char *manifest, const char *config,
                    nk_error **err)
{
        json_t *rec = json_pack("{s:s,s:s,s:I}", "manifest", manifest, "config", config, "updated",
                                (json_int_t)time(NULL));
        if (!rec || json_object_set_new(t->names, name, rec) < 0)
                return nk_error_set(err, ENOMEM, "name %s", name);
        return 0;
}

/* A layer blob whose layer (staged here or stored) has a tar-split: the
 * layer's files and that record rebuild its tar, so it is not kept. */
static bool blob_rebuildable(struct nk_txn *t, const char *digest)
{
        const char *diff = json_string_value(json_object_get(t->layer_blobs, digest));
        if (!diff)
                return false;
        for (size_t i = 0; i < t->n_layers; i++)
                if (streq(t->layers[i].diff_id, diff))
                        return t->layers[i].split;
        char rel[NK_DIGEST_LEN + 64];
        snprintf(rel, sizeof(rel), "%s/%s", nk_digest_hex(diff), NK_SPLIT_FILE);
        return faccessat(t->s->layers, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int commit_blob(struct nk_txn *t, struct nk_staged_blob *b, nk_error **err)
{
        const char *hex = nk_digest_hex(b->digest);
        int r;
        if (blob_rebuildable(t, b->digest)) {
                if (b->tmp_name)
                        (void)unlinkat(t->s->tmp, b->tmp_name, 0);
                free(b->tmp_name);
                b->tmp_name = NULL;
                return 0;
        }
        if (b->tmp_name) {
                /* link + unlink, not rename: a concurrent pull may have staged
                 * the same verified file and committed it already. */
                r = linkat(t->s->tmp, b->tmp_name, t->s->blobs, hex, 0);
                if (r < 0 &&
                    (errno == EEXIST || (errno == ENOENT && nk_store_blob_exists(t->s, b->digest))))
                        r = 0;
                if (r == 0)
                        (void)unlinkat(t->s->tmp, b->tmp_name, 0);
        } else {
                char proc[64];
                snprintf(proc, sizeof(proc), "/proc/self/fd/%d", b->fd);
                r = linkat(AT_FDCWD, proc, t->s->blobs, hex, AT_SYMLINK_FOLLOW);
                if (r < 0 && errno == EEXIST)
                        r = 0; /* same content, put there by someone else */
        }
        if (r < 0)
                return nk_error_set(err, errno, "store blob %s", b->digest);
        free(b->tmp_name);
        b->tmp_name = NULL;
        return 0;
}

static int commit_layer(struct nk_txn *t, struct nk_staged_layer *l, nk_error **err)
{
        const char *hex = nk_digest_hex(l->diff_id);
        if (renameat(t->s->tmp, l->tmp_name, t->s->layers, hex) < 0) {
                if (errno != EEXIST && errno != ENOTEMPTY)
                        return nk_error_set(err, errno, "store layer %s", l->diff_id);
                tmp_remove(t->s, l->tmp_name); /* a concurrent pull stored it first */
        }
        free(l->tmp_name);
        l->tmp_name = NULL;
        return 0;
}

static int merge_names(json_t *names, void *data, nk_error **err)
{
        if (json_object_update(names, data) < 0)
                return nk_error_set(err, ENOMEM, "update names");
        return 0;
}

/* The names file is written first, under a temp name: when the disk is
 * full that is where it fails, before anything has moved. Then one syncfs
 * makes every staged blob and extracted file durable (cheaper than an fsync
 * per file: on ext4 each fsync commits the journal anyway), blobs and
 * layers are moved into place, and the names file renamed last. A crash in
 * between leaves only unreferenced content, which garbage collection
 * removes. */
int nk_txn_commit(struct nk_txn *t, nk_error **err)
{
        struct nk_names_update u = {.lock_fd = -1};
        bool names = json_object_size(t->names) > 0;
        if (names && nk_store_names_prepare(t->s, merge_names, t->names, &u, err) < 0)
                goto fail;
        if (t->n_layers + t->n_blobs > 0 && syncfs(t->s->tmp) < 0) {
                nk_error_set(err, errno, "sync `%s`", t->s->root);
                goto fail;
        }
        for (size_t i = 0; i < t->n_blobs; i++)
                if (commit_blob(t, &t->blobs[i], err) < 0)
                        goto fail;
        (void)fsync(t->s->blobs);
        for (size_t i = 0; i < t->n_layers; i++)
                if (commit_layer(t, &t->layers[i], err) < 0)
                        goto fail;
        (void)fsync(t->s->layers);
        if (names && nk_store_names_finish(t->s, &u, err) < 0)
                goto fail;
        json_object_clear(t->names);
        staged_clear(t, false);
        return 0;
fail:
        nk_store_names_cancel(t->s, &u);
        if (err)
                nk_txn_note_error(t, *err);
        return -1;
}
