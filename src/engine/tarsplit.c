/* Recording and replaying a layer's tar headers (tarsplit.h).
 *
 * The file: gzip of "NKSPLIT1" then records, little-endian:
 *   'R' u32 len, len bytes      verbatim bytes of the stream
 *   'F' u64 size, u16 len, path  size bytes of the layer's file at path
 *
 * The raw side runs ahead of the extractor (it sees the bytes before
 * libarchive parses them), so content runs wait in a short queue until the
 * extractor names their file; only then are they written, in order. */
#include "engine/tarsplit.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC     "NKSPLIT1"
#define BLOCK     512
#define PAX_MAX   (1u << 20)
#define RAW_LIMIT (64u << 10) /* flush a raw run this long when nothing waits */

struct item {
        char *raw; /* a raw run (len bytes), or NULL for a file */
        uint64_t len;
        char *path; /* a file: NULL until the extractor names it */
};

struct nk_split_rec {
        gzFile gz;
        bool bad;
        char why[128];
        /* the tar parser */
        unsigned char hdr[BLOCK];
        size_t hdr_fill;
        uint64_t data_left, pad_left;
        bool data_is_content, collect_pax;
        int64_t pax_size; /* size= of the pending pax header, or -1 */
        char *pax;
        size_t pax_len;
        /* output */
        char *run; /* the current raw run */
        size_t run_len, run_cap;
        struct item *q;
        size_t q_head, q_n, q_cap;
};

void nk_split_rec_invalid(struct nk_split_rec *r, const char *why)
{
        if (r->bad)
                return;
        r->bad = true;
        snprintf(r->why, sizeof(r->why), "%s", why);
}

static void put_u(struct nk_split_rec *r, uint64_t v, int bytes)
{
        unsigned char b[8];
        for (int i = 0; i < bytes; i++)
                b[i] = (unsigned char)(v >> (8 * i));
        if (gzwrite(r->gz, b, (unsigned)bytes) != bytes)
                nk_split_rec_invalid(r, "write");
}

static void write_raw(struct nk_split_rec *r, const char *data, uint64_t len)
{
        if (r->bad || len == 0)
                return;
        gzputc(r->gz, 'R');
        put_u(r, len, 4);
        if (gzwrite(r->gz, data, (unsigned)len) != (int)len)
                nk_split_rec_invalid(r, "write");
}

static void write_file(struct nk_split_rec *r, const char *path, uint64_t size)
{
        size_t n = strlen(path);
        if (r->bad)
                return;
        if (n > 65535) {
                nk_split_rec_invalid(r, "path too long");
                return;
        }
        gzputc(r->gz, 'F');
        put_u(r, size, 8);
        put_u(r, n, 2);
        if (gzwrite(r->gz, path, (unsigned)n) != (int)n)
                nk_split_rec_invalid(r, "write");
}

static void q_push(struct nk_split_rec *r, struct item it)
{
        if (r->q_n == r->q_cap) {
                /* compact, then grow */
                if (r->q_head) /* never with an empty (NULL) queue */
                        memmove(r->q, r->q + r->q_head, (r->q_n - r->q_head) * sizeof(*r->q));
                r->q_n -= r->q_head;
                r->q_head = 0;
                if (r->q_n == r->q_cap) {
                        size_t cap = r->q_cap ? r->q_cap * 2 : 64;
                        struct item *nq = realloc(r->q, cap * sizeof(*nq));
                        if (!nq) {
                                free(it.raw);
                                nk_split_rec_invalid(r, "out of memory");
                                return;
                        }
                        r->q = nq;
                        r->q_cap = cap;
                }
        }
        r->q[r->q_n++] = it;
}

/* Write out what no unnamed file precedes. */
static void q_flush(struct nk_split_rec *r)
{
        while (r->q_head < r->q_n) {
                struct item *it = &r->q[r->q_head];
                if (!it->raw && !it->path)
                        return;
                if (it->raw)
                        write_raw(r, it->raw, it->len);
                else
                        write_file(r, it->path, it->len);
                free(it->raw);
                free(it->path);
                r->q_head++;
        }
}

/* End the current raw run: straight to the file when nothing waits. */
static void run_end(struct nk_split_rec *r)
{
        if (r->run_len == 0)
                return;
        if (r->q_head == r->q_n) {
                write_raw(r, r->run, r->run_len);
        } else {
                char *copy = malloc(r->run_len);
                if (!copy) {
                        nk_split_rec_invalid(r, "out of memory");
                        return;
                }
                memcpy(copy, r->run, r->run_len);
                q_push(r, (struct item){.raw = copy, .len = r->run_len});
        }
        r->run_len = 0;
}

static void emit_raw(struct nk_split_rec *r, const void *buf, size_t n)
{
        if (r->run_len + n > r->run_cap) {
                size_t cap = r->run_cap ? r->run_cap : 4096;
                while (cap < r->run_len + n)
                        cap *= 2;
                char *nr = realloc(r->run, cap);
                if (!nr) {
                        nk_split_rec_invalid(r, "out of memory");
                        return;
                }
                r->run = nr;
                r->run_cap = cap;
        }
        memcpy(r->run + r->run_len, buf, n);
        r->run_len += n;
        if (r->run_len >= RAW_LIMIT && r->q_head == r->q_n)
                run_end(r);
}

static uint64_t tar_number(const unsigned char *f, size_t len, bool *ok)
{
        uint64_t v = 0;
        if (f[0] & 0x80) { /* base-256 (GNU, star) */
                if (f[0] != 0x80) {
                        *ok = false;
                        return 0;
                }
                for (size_t i = 1; i < len; i++) {
                        if (v >> 56) {
                                *ok = false;
                                return 0;
                        }
                        v = v << 8 | f[i];
                }
                return v;
        }
        size_t i = 0;
        while (i < len && f[i] == ' ')
                i++;
        for (; i < len && f[i] >= '0' && f[i] <= '7'; i++)
                v = v << 3 | (uint64_t)(f[i] - '0');
        if (i < len && f[i] != ' ' && f[i] != '\0')
                *ok = false;
        return v;
}

static bool checksum_ok(const unsigned char *h)
{
        bool ok = true;
        uint64_t want = tar_number(h + 148, 8, &ok);
        uint64_t sum = 0;
        for (size_t i = 0; i < BLOCK; i++)
                sum += (i >= 148 && i < 156) ? ' ' : h[i];
        return ok && sum == want;
}

/* The records of a pax header: size= overrides the next entry's size;
 * sparse files (GNU.sparse.*) are not reproduced from the layer. */
static void pax_done(struct nk_split_rec *r, bool global)
{
        const char *p = r->pax, *end = r->pax + r->pax_len;
        while (p < end) {
                char *sp;
                unsigned long rl = strtoul(p, &sp, 10);
                if (sp == p || *sp != ' ' || rl == 0 || rl > (unsigned long)(end - p)) {
                        nk_split_rec_invalid(r, "malformed pax header");
                        break;
                }
                const char *kv = sp + 1, *rend = p + rl;
                size_t klen = strcspn(kv, "=");
                if (klen == 4 && strncmp(kv, "size", 4) == 0 && kv + 5 <= rend) {
                        if (global)
                                nk_split_rec_invalid(r, "global pax size");
                        r->pax_size = (int64_t)strtoull(kv + 5, NULL, 10);
                } else if (klen > 11 && strncmp(kv, "GNU.sparse.", 11) == 0) {
                        nk_split_rec_invalid(r, "sparse file");
                }
                p = rend;
        }
        free(r->pax);
        r->pax = NULL;
        r->pax_len = 0;
        r->collect_pax = false;
}

static void header(struct nk_split_rec *r)
{
        static const unsigned char zero[BLOCK];
        if (memcmp(r->hdr, zero, BLOCK) == 0)
                return; /* end-of-archive blocks: raw */
        if (!checksum_ok(r->hdr)) {
                nk_split_rec_invalid(r, "tar header checksum");
                return;
        }
        bool ok = true;
        uint64_t size = tar_number(r->hdr + 124, 12, &ok);
        if (!ok) {
                nk_split_rec_invalid(r, "tar size field");
                return;
        }
        if (r->pax_size >= 0)
                size = (uint64_t)r->pax_size;
        r->pax_size = -1;
        r->data_is_content = false;
        switch (r->hdr[156]) {
        case 'x':
        case 'g':
                if (size > PAX_MAX) {
                        nk_split_rec_invalid(r, "pax header too large");
                        return;
                }
                r->collect_pax = true;
                r->pax = malloc(size + 1);
                if (!r->pax) {
                        nk_split_rec_invalid(r, "out of memory");
                        return;
                }
                break;
        case '0':
        case '\0':
        case '7':
                r->data_is_content = size > 0;
                break;
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case 'L':
        case 'K':
                break;
        default:
                nk_split_rec_invalid(r, "tar entry type");
                return;
        }
        r->data_left = size;
        r->pad_left = (BLOCK - size % BLOCK) % BLOCK;
        if (r->collect_pax && size == 0)
                pax_done(r, r->hdr[156] == 'g');
        if (r->data_is_content) {
                run_end(r);
                q_push(r, (struct item){.len = size});
        }
}

void nk_split_rec_feed(struct nk_split_rec *r, const void *buf, size_t n)
{
        const unsigned char *p = buf;
        while (n > 0 && !r->bad) {
                size_t k;
                if (r->data_left > 0) {
                        k = n < r->data_left ? n : (size_t)r->data_left;
                        if (!r->data_is_content) {
                                emit_raw(r, p, k);
                                if (r->collect_pax) {
                                        memcpy(r->pax + r->pax_len, p, k);
                                        r->pax_len += k;
                                }
                        }
                        r->data_left -= k;
                        if (r->data_left == 0 && r->collect_pax)
                                pax_done(r, r->hdr[156] == 'g');
                } else if (r->pad_left > 0) {
                        k = n < r->pad_left ? n : (size_t)r->pad_left;
                        emit_raw(r, p, k);
                        r->pad_left -= k;
                } else {
                        k = BLOCK - r->hdr_fill < n ? BLOCK - r->hdr_fill : n;
                        memcpy(r->hdr + r->hdr_fill, p, k);
                        emit_raw(r, p, k);
                        r->hdr_fill += k;
                        if (r->hdr_fill == BLOCK) {
                                r->hdr_fill = 0;
                                header(r);
                        }
                }
                p += k;
                n -= k;
        }
}

void nk_split_rec_file(struct nk_split_rec *r, const char *path, uint64_t size)
{
        if (r->bad)
                return;
        struct item *it = NULL;
        for (size_t i = r->q_head; i < r->q_n && !it; i++)
                if (!r->q[i].raw && !r->q[i].path)
                        it = &r->q[i];
        if (!it || it->len != size) {
                nk_split_rec_invalid(r, "file entries out of step");
                return;
        }
        if (!(it->path = strdup(path))) {
                nk_split_rec_invalid(r, "out of memory");
                return;
        }
        q_flush(r);
}

int nk_split_rec_open(int dirfd, struct nk_split_rec **out, nk_error **err)
{
        struct nk_split_rec *r = calloc(1, sizeof(*r));
        if (!r)
                return nk_error_set(err, ENOMEM, "tar-split");
        r->pax_size = -1;
        int fd = openat(dirfd, NK_SPLIT_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                free(r);
                return nk_error_set(err, errno, "create %s", NK_SPLIT_FILE);
        }
        /* Level 1: the headers compress well at any level; speed matters. */
        if (!(r->gz = gzdopen(fd, "wb1"))) {
                close(fd);
                free(r);
                return nk_error_set(err, ENOMEM, "create %s", NK_SPLIT_FILE);
        }
        gzwrite(r->gz, MAGIC, 8);
        *out = r;
        return 0;
}

static void rec_free(struct nk_split_rec *r)
{
        for (size_t i = r->q_head; i < r->q_n; i++) {
                free(r->q[i].raw);
                free(r->q[i].path);
        }
        free(r->q);
        free(r->run);
        free(r->pax);
        free(r);
}

void nk_split_rec_abort(struct nk_split_rec *r, int dirfd)
{
        if (!r)
                return;
        gzclose(r->gz);
        unlinkat(dirfd, NK_SPLIT_FILE, 0);
        rec_free(r);
}

int nk_split_rec_finish(struct nk_split_rec *r, int dirfd, bool *usable, nk_error **err)
{
        run_end(r);
        q_flush(r);
        if (!r->bad && (r->q_head != r->q_n || r->hdr_fill || r->data_left || r->pad_left))
                nk_split_rec_invalid(r, "stream ends inside an entry");
        int zr = gzclose(r->gz);
        r->gz = NULL;
        if (!r->bad && zr != Z_OK)
                nk_split_rec_invalid(r, "write");
        *usable = !r->bad;
        int ret = 0;
        if (r->bad) {
                if (unlinkat(dirfd, NK_SPLIT_FILE, 0) < 0 && errno != ENOENT)
                        ret = nk_error_set(err, errno, "remove %s", NK_SPLIT_FILE);
        }
        rec_free(r);
        return ret;
}

/* ---- replay ---------------------------------------------------------------- */

struct player {
        gzFile gz;
        int diff;
        struct nk_sha256 h;
        nk_bytes_sink sink;
        void *data;
        char buf[128 * 1024];
};

static int get(struct player *p, void *buf, size_t n, nk_error **err)
{
        if (gzread(p->gz, buf, (unsigned)n) != (int)n)
                return nk_error_set(err, 0, "%s: truncated or corrupt", NK_SPLIT_FILE);
        return 0;
}

static uint64_t le(const unsigned char *b, int n)
{
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; i--)
                v = v << 8 | b[i];
        return v;
}

static int out(struct player *p, const void *buf, size_t n, nk_error **err)
{
        nk_sha256_update(&p->h, buf, n);
        return p->sink(buf, n, p->data, err);
}

static int play_raw(struct player *p, nk_error **err)
{
        unsigned char b[4];
        if (get(p, b, 4, err) < 0)
                return -1;
        for (uint64_t left = le(b, 4); left > 0;) {
                size_t k = left < sizeof(p->buf) ? (size_t)left : sizeof(p->buf);
                if (get(p, p->buf, k, err) < 0 || out(p, p->buf, k, err) < 0)
                        return -1;
                left -= k;
        }
        return 0;
}

static int play_file(struct player *p, nk_error **err)
{
        unsigned char b[10];
        char path[65536];
        if (get(p, b, 10, err) < 0)
                return -1;
        uint64_t size = le(b, 8);
        size_t plen = (size_t)le(b + 8, 2);
        if (get(p, path, plen, err) < 0)
                return -1;
        path[plen] = '\0';
        /* Beneath the layer, no symlink on the way: extraction made none
         * of its parents one, and a layer changed since is refused. */
        struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                          RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
        _cleanup_close_ int fd = nk_openat2(p->diff, path, &how, sizeof(how));
        if (fd < 0)
                return nk_error_set(err, errno, "layer file `%s`", path);
        for (uint64_t off = 0; off < size;) {
                size_t k = size - off < sizeof(p->buf) ? (size_t)(size - off) : sizeof(p->buf);
                ssize_t n = pread(fd, p->buf, k, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read layer file `%s`", path);
                if (n == 0)
                        return nk_error_set(err, 0, "layer file `%s` is shorter than recorded",
                                            path);
                if (out(p, p->buf, (size_t)n, err) < 0)
                        return -1;
                off += (uint64_t)n;
        }
        return 0;
}

static int play(struct player *p, nk_error **err)
{
        char magic[8];
        if (get(p, magic, 8, err) < 0)
                return -1;
        if (memcmp(magic, MAGIC, 8) != 0)
                return nk_error_set(err, 0, "%s: not a tar-split file", NK_SPLIT_FILE);
        for (;;) {
                int c = gzgetc(p->gz);
                if (c == -1) {
                        int e;
                        gzerror(p->gz, &e);
                        if (e != Z_OK)
                                return nk_error_set(err, 0, "%s: corrupt", NK_SPLIT_FILE);
                        return 0;
                }
                int r = c == 'R'   ? play_raw(p, err)
                        : c == 'F' ? play_file(p, err)
                                   : nk_error_set(err, 0, "%s: corrupt", NK_SPLIT_FILE);
                if (r < 0)
                        return -1;
        }
}

int nk_split_assemble(int layer_fd, const char *diff_id, nk_bytes_sink sink, void *data,
                      nk_error **err)
{
        struct player *p = calloc(1, sizeof(*p));
        if (!p)
                return nk_error_set(err, ENOMEM, "tar-split");
        p->sink = sink;
        p->data = data;
        p->diff = openat(layer_fd, "diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int fd = openat(layer_fd, NK_SPLIT_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int r = -1;
        if (p->diff < 0 || fd < 0) {
                nk_error_set(err, errno, "open %s", p->diff < 0 ? "diff" : NK_SPLIT_FILE);
        } else if (!(p->gz = gzdopen(fd, "rb"))) {
                nk_error_set(err, ENOMEM, "open %s", NK_SPLIT_FILE);
        } else {
                fd = -1; /* gzclose closes it */
                if (nk_sha256_init(&p->h, err) == 0) {
                        r = play(p, err);
                        char got[NK_DIGEST_LEN + 1];
                        nk_sha256_final(&p->h, got);
                        if (r == 0 && !streq(got, diff_id))
                                r = nk_error_set(err, 0,
                                                 "rebuilt tar hashes to %s, not %s (was the "
                                                 "layer changed?)",
                                                 got, diff_id);
                        nk_sha256_free(&p->h);
                }
        }
        if (p->gz)
                gzclose(p->gz);
        if (fd >= 0)
                close(fd);
        if (p->diff >= 0)
                close(p->diff);
        free(p);
        return r < 0 ? nk_error_wrap(err, "layer %s", diff_id) : 0;
}
