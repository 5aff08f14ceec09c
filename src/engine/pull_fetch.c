/* Parallel, resumable, verified blob downloads for `nook pull`. */
#include "engine/pull.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct fetch {
        struct puller *p;
        size_t idx; /* layer index */
        const struct nk_descriptor *d;
        char id[16];      /* short hex, for progress */
        char partial[80]; /* tmp/<hex>.partial */
        int fd;           /* the partial, flocked while we write it */
        struct nk_sha256 h;
        uint64_t got, offset; /* bytes on disk; where this request started */
        bool status_checked, bad_status, retried;
        bool busy; /* another pull holds the partial */
        CURL *easy;
        struct curl_slist *hdrs;
        char ebuf[CURL_ERROR_SIZE];
        nk_error *err;
};

enum { FETCH_NEED, FETCH_READY, FETCH_BUSY };

bool nk_pull_blob_ready(struct puller *p, const struct nk_descriptor *d)
{
        if (nk_txn_has_blob(p->t, d->digest))
                return true;
        char name[80];
        struct stat st;
        snprintf(name, sizeof(name), "%s.blob", nk_digest_hex(d->digest));
        int fd = openat(p->s->tmp, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        /* Left by an earlier pull that failed later, maybe before its
         * data reached the disk: hash it again. */
        struct nk_sha256 h;
        char got[NK_DIGEST_LEN + 1];
        if (fstat(fd, &st) < 0 || st.st_size != d->size || nk_sha256_init(&h, NULL) < 0) {
                close(fd);
                return false;
        }
        if (nk_sha256_fd(fd, &h, NULL, NULL) < 0) {
                nk_sha256_free(&h);
                close(fd);
                return false;
        }
        nk_sha256_final(&h, got);
        if (!streq(got, d->digest)) {
                close(fd);
                (void)unlinkat(p->s->tmp, name, 0);
                return false;
        }
        char *n = strdup(name);
        return n && nk_txn_stage_file(p->t, d->digest, fd, n, true, NULL) == 0;
}

static void fetch_release(struct fetch *f)
{
        if (f->easy)
                curl_easy_cleanup(f->easy);
        curl_slist_free_all(f->hdrs);
        f->easy = NULL;
        f->hdrs = NULL;
        if (f->fd >= 0) {
                /* The partial stays for the next pull to resume, unless the
                 * disk is full: then it holds the space that is missing. */
                if (nk_txn_out_of_space(f->p->t))
                        (void)unlinkat(f->p->s->tmp, f->partial, 0);
                flock(f->fd, LOCK_UN);
                close(f->fd);
        }
        f->fd = -1;
        nk_sha256_free(&f->h);
        nk_error_free(f->err);
        f->err = NULL;
}

/* Lock our partial file; the path must still name the inode we locked (a
 * previous holder renames it when done). */
static int lock_partial(struct fetch *f, bool wait, nk_error **err)
{
        int tmp = f->p->s->tmp;
        for (int attempt = 0; attempt < 5; attempt++) {
                int fd = openat(tmp, f->partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return nk_error_set(err, errno, "open `%s/tmp/%s`", f->p->s->root,
                                            f->partial);
                if (nk_flock_wait(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                        int e = errno;
                        close(fd);
                        if (e == EWOULDBLOCK)
                                return FETCH_BUSY;
                        return nk_error_set(err, e, "lock `%s`", f->partial);
                }
                struct stat a, b;
                if (fstat(fd, &a) == 0 && fstatat(tmp, f->partial, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                    a.st_ino == b.st_ino) {
                        f->fd = fd;
                        return FETCH_NEED;
                }
                close(fd);
        }
        return nk_error_set(err, 0, "lock `%s`: keeps changing", f->partial);
}

static int fetch_open(struct fetch *f, bool wait, nk_error **err)
{
        snprintf(f->partial, sizeof(f->partial), "%s.partial", nk_digest_hex(f->d->digest));
        int r = lock_partial(f, wait, err);
        if (r != FETCH_NEED)
                return r;
        if (nk_pull_blob_ready(f->p, f->d)) {
                /* Finished by a concurrent pull meanwhile; the partial we
                 * just created (and hold locked) is of no use. */
                (void)unlinkat(f->p->s->tmp, f->partial, 0);
                return FETCH_READY;
        }
        if (nk_sha256_init(&f->h, err) < 0 || nk_sha256_fd(f->fd, &f->h, &f->got, err) < 0)
                return -1;
        if (f->got > (uint64_t)f->d->size) {
                if (ftruncate(f->fd, 0) < 0)
                        return nk_error_set(err, errno, "truncate `%s`", f->partial);
                nk_sha256_free(&f->h);
                if (nk_sha256_init(&f->h, err) < 0)
                        return -1;
                f->got = 0;
        }
        f->offset = f->got;
        return FETCH_NEED;
}

static int restart_from_zero(struct fetch *f)
{
        if (ftruncate(f->fd, 0) < 0)
                return -1;
        nk_sha256_free(&f->h);
        if (nk_sha256_init(&f->h, NULL) < 0)
                return -1;
        f->got = f->offset = 0;
        return 0;
}

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *ud)
{
        struct fetch *f = ud;
        size_t n = size * nmemb;
        if (!f->status_checked) {
                long code = 0;
                curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
                f->status_checked = true;
                f->bad_status = code < 200 || code >= 300;
                /* 200 to a range request: the whole blob comes again. */
                if (!f->bad_status && f->offset > 0 && code != 206 && restart_from_zero(f) < 0)
                        return 0;
        }
        if (f->bad_status)
                return n; /* an error body: the status says enough */
        if (f->got + n > (uint64_t)f->d->size) {
                nk_error_set(&f->err, 0, "blob %s: more than the %lld bytes the manifest says",
                             f->d->digest, (long long)f->d->size);
                return 0;
        }
        for (size_t done = 0; done < n;) {
                ssize_t w = pwrite(f->fd, data + done, n - done, (off_t)(f->got + done));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        nk_error_set(&f->err, errno, "write `%s/tmp/%s`", f->p->s->root,
                                     f->partial);
                        nk_txn_note_error(f->p->t, f->err);
                        return 0;
                }
                done += (size_t)w;
        }
        nk_sha256_update(&f->h, data, n);
        f->got += n;
        return n;
}

static int fetch_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
                      curl_off_t uln)
{
        struct fetch *f = ud;
        nk_pull_progress(f->p, NK_PROGRESS_LAYER_BYTES, f->id, f->got, (uint64_t)f->d->size, NULL);
        return nk_pull_failed(f->p) ? 1 : 0; /* extraction failed: stop */
}

static int fetch_start(struct fetch *f, CURLM *m, nk_error **err)
{
        char path[512];
        snprintf(path, sizeof(path), "/v2/%s/blobs/%s", f->p->reg.repo, f->d->digest);
        f->easy = nk_registry_easy(&f->p->reg, path, &f->hdrs, err);
        if (!f->easy)
                return -1;
        f->status_checked = f->bad_status = false;
        curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, fetch_write);
        curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(f->easy, CURLOPT_XFERINFOFUNCTION, fetch_xfer);
        curl_easy_setopt(f->easy, CURLOPT_XFERINFODATA, f);
        curl_easy_setopt(f->easy, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
        curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->ebuf);
        curl_easy_setopt(f->easy, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)f->offset);
        f->ebuf[0] = '\0';
        nk_pull_progress(f->p, NK_PROGRESS_LAYER_START, f->id, f->got, (uint64_t)f->d->size, NULL);
        if (curl_multi_add_handle(m, f->easy) != CURLM_OK)
                return nk_error_set(err, 0, "curl_multi_add_handle");
        return 0;
}

/* Verified: rename to <hex>.blob, stage it, queue extraction (the commit
 * syncs it to disk).
 * Returns 1 when resumed bytes turned out bad and the caller may fetch the
 * whole blob again (may_retry). */
static int fetch_complete(struct fetch *f, bool may_retry, nk_error **err)
{
        char got[NK_DIGEST_LEN + 1], blob[80];
        if (f->got != (uint64_t)f->d->size)
                return nk_error_set(err, 0, "blob %s: got %llu of %lld bytes", f->d->digest,
                                    (unsigned long long)f->got, (long long)f->d->size);
        nk_sha256_final(&f->h, got);
        if (!streq(got, f->d->digest)) {
                if (may_retry && restart_from_zero(f) == 0)
                        return 1;
                /* Corrupt content is not worth resuming (waiters notice the
                 * unlinked inode and start over). */
                (void)unlinkat(f->p->s->tmp, f->partial, 0);
                return nk_error_set(err, 0, "blob %s: content hashes to %s", f->d->digest, got);
        }
        snprintf(blob, sizeof(blob), "%s.blob", nk_digest_hex(f->d->digest));
        if (renameat(f->p->s->tmp, f->partial, f->p->s->tmp, blob) < 0)
                return nk_error_set(err, errno, "store `%s`", blob);
        flock(f->fd, LOCK_UN);
        char *name = strdup(blob);
        int fd = TAKE_FD(f->fd);
        if (!name || nk_txn_stage_file(f->p->t, f->d->digest, fd, name, true, err) < 0)
                return nk_error_set(err, ENOMEM, "stage %s", blob);
        nk_pull_progress(f->p, NK_PROGRESS_LAYER_DONE, f->id, f->got, f->got, NULL);
        nk_pull_queue_layer(f->p, f->idx);
        return 0;
}

/* A finished transfer: complete it, retry a resumed one once, or fail. */
static int fetch_done(struct fetch *f, CURLM *m, CURLcode cc, nk_error **err)
{
        curl_multi_remove_handle(m, f->easy);
        long code = 0;
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(f->easy);
        curl_slist_free_all(f->hdrs);
        f->easy = NULL;
        f->hdrs = NULL;
        if (f->err) {
                return nk_error_pass(err, TAKE_PTR(f->err));
        }
        if (cc != CURLE_OK)
                return nk_error_set(err, 0, "blob %s: %s", f->d->digest,
                                    f->ebuf[0] ? f->ebuf : curl_easy_strerror(cc));
        if (code < 200 || code >= 300)
                return nk_error_set(err, 0, "blob %s: HTTP %ld%s", f->d->digest, code,
                                    code == 404 ? " (missing)" : "");
        int r = fetch_complete(f, f->offset > 0 && !f->retried, err);
        if (r <= 0)
                return r;
        f->retried = true; /* resumed bytes were bad: once more from zero */
        return fetch_start(f, m, err);
}

static int run_multi(CURLM *m, struct puller *p, nk_error **err)
{
        int running = 1;
        while (running) {
                if (curl_multi_perform(m, &running) != CURLM_OK)
                        return nk_error_set(err, 0, "curl_multi_perform");
                CURLMsg *msg;
                int left;
                bool restarted = false;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct fetch *f;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
                        if (fetch_done(f, m, msg->data.result, err) < 0)
                                return -1;
                        restarted = restarted || f->easy != NULL;
                }
                if (nk_pull_failed(p))
                        return 0; /* the workers' error is reported by the caller */
                if (restarted)
                        running = 1;
                else if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
                        return nk_error_set(err, 0, "curl_multi_poll");
        }
        return 0;
}

static CURLM *new_multi(const struct puller *p)
{
        CURLM *m = curl_multi_init();
        long par = p->o->max_parallel > 0 ? p->o->max_parallel : 4;
        if (m) {
                curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, par);
                curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, par);
        }
        return m;
}

/* Open (and lock) f; start its transfer unless nothing is left to fetch. */
static int begin(struct fetch *f, CURLM *m, bool wait, nk_error **err)
{
        int r = fetch_open(f, wait, err);
        if (r == FETCH_READY) {
                nk_pull_progress(f->p, NK_PROGRESS_LAYER_DONE, f->id, 0, 0, "already exists");
                nk_pull_queue_layer(f->p, f->idx);
                return 0;
        }
        if (r != FETCH_NEED)
                return r;
        if (f->got == (uint64_t)f->d->size) {
                int c = fetch_complete(f, true, err);
                if (c <= 0)
                        return c;
        }
        return fetch_start(f, m, err);
}

/* Blobs another pull is downloading: wait for each in turn, holding no
 * other lock meanwhile (two pulls never wait on each other). */
static int fetch_busy(struct fetch *fs, size_t n, struct puller *p, nk_error **err)
{
        for (size_t i = 0; i < n; i++) {
                if (!fs[i].busy)
                        continue;
                CURLM *m = new_multi(p);
                int r = m ? begin(&fs[i], m, true, err) : nk_error_set(err, ENOMEM, "curl");
                if (r == 0)
                        r = run_multi(m, p, err);
                if (m)
                        curl_multi_cleanup(m);
                fetch_release(&fs[i]);
                if (r < 0)
                        return -1;
        }
        return 0;
}

int nk_pull_fetch_layers(struct puller *p, const size_t *idx, size_t n, nk_error **err)
{
        struct fetch *fs = calloc(n + 1, sizeof(*fs));
        CURLM *m = new_multi(p);
        int r = fs && m ? 0 : nk_error_set(err, ENOMEM, "pull");
        bool busy = false;
        for (size_t i = 0; r == 0 && i < n; i++) {
                struct fetch *f = &fs[i];
                f->p = p;
                f->idx = idx[i];
                f->d = &p->m.layers[idx[i]];
                f->fd = -1;
                snprintf(f->id, sizeof(f->id), "%.12s", nk_digest_hex(f->d->digest));
                r = begin(f, m, false, err);
                if (r == FETCH_BUSY) {
                        f->busy = busy = true;
                        r = 0;
                }
        }
        if (r == 0)
                r = run_multi(m, p, err);
        for (size_t i = 0; fs && i < n; i++) {
                if (fs[i].easy)
                        curl_multi_remove_handle(m, fs[i].easy);
                fetch_release(&fs[i]);
        }
        if (r == 0 && busy)
                r = fetch_busy(fs, n, p, err);
        if (m)
                curl_multi_cleanup(m);
        free(fs);
        return r < 0 ? -1 : 0;
}
