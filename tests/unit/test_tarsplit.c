/* The tar-split recorder fed in chunks of every awkward size (headers, pax
 * records and padding cut anywhere), replayed against the files, must give
 * the tar back byte for byte; records it cannot stand behind are refused. */
#include "engine/digest.h"
#include "engine/tarsplit.h"
#include "unit.h"
#include "util/fs.h"
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct file {
        const char *path;
        size_t size;
};

static const struct file files[] = {
        {"d/empty", 0},
        {"d/one", 1},
        {"d/b511", 511},
        {"d/b512", 512},
        {"d/b513", 513},
        {"d/big", 70000},
        {"d/a-very-long-name-that-needs-a-pax-path-record-because-ustar-has-only-one-hundred-"
         "bytes-for-names-and-one-hundred-fifty-five-for-prefixes/x",
         3},
};
#define N_FILES (sizeof(files) / sizeof(files[0]))

static unsigned char *content(size_t i)
{
        unsigned char *b = malloc(files[i].size + 1);
        for (size_t k = 0; k < files[i].size; k++)
                b[k] = (unsigned char)(i * 31 + k * 7);
        return b;
}

/* A pax tar of files[], with a directory, a symlink and a hardlink. */
static size_t make_tar(unsigned char *buf, size_t cap)
{
        struct archive *a = archive_write_new();
        size_t used = 0;
        archive_write_set_format_pax(a);
        archive_write_open_memory(a, buf, cap, &used);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "d/");
        archive_entry_set_filetype(e, AE_IFDIR);
        archive_entry_set_perm(e, 0755);
        archive_write_header(a, e);
        for (size_t i = 0; i < N_FILES; i++) {
                archive_entry_clear(e);
                archive_entry_set_pathname(e, files[i].path);
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t)files[i].size);
                archive_entry_set_mtime(e, 1600000000, 250000000); /* a pax mtime record */
                archive_write_header(a, e);
                unsigned char *c = content(i);
                archive_write_data(a, c, files[i].size);
                free(c);
        }
        archive_entry_clear(e);
        archive_entry_set_pathname(e, "d/link");
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, "one");
        archive_write_header(a, e);
        archive_entry_clear(e);
        archive_entry_set_pathname(e, "d/hard");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, "d/one");
        archive_write_header(a, e);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        return used;
}

static int write_files(int diff)
{
        for (size_t i = 0; i < N_FILES; i++) {
                char dir[512];
                snprintf(dir, sizeof(dir), "%s", files[i].path);
                *strrchr(dir, '/') = '\0';
                mkdirat(diff, "d", 0755);
                if (strchr(dir, '/'))
                        mkdirat(diff, dir, 0755);
                int fd =
                        openat(diff, files[i].path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                unsigned char *c = content(i);
                int r = fd >= 0 ? nk_write_all(fd, c, files[i].size) : -1;
                free(c);
                if (fd >= 0)
                        close(fd);
                if (r < 0)
                        return -1;
        }
        return 0;
}

struct collect {
        unsigned char *buf;
        size_t len, cap;
};

static int collect_sink(const void *buf, size_t len, void *data, nk_error **err)
{
        struct collect *c = data;
        if (c->len + len > c->cap)
                return nk_error_set(err, 0, "too long");
        memcpy(c->buf + c->len, buf, len);
        c->len += len;
        return 0;
}

/* Record tar in chunks of `chunk` bytes, naming each file after its
 * header went past (as the extractor does), then replay. */
static void roundtrip(int dir, const unsigned char *tar, size_t len, size_t chunk,
                      const char *diff_id)
{
        struct nk_split_rec *r = NULL;
        CHECK(nk_split_rec_open(dir, &r, NULL) == 0);
        size_t named = 0;
        for (size_t off = 0; off < len; off += chunk) {
                nk_split_rec_feed(r, tar + off, off + chunk < len ? chunk : len - off);
                /* Name what has surely been seen: all files but the last
                 * two until the end (the real extractor is never ahead). */
                for (; named + 2 < N_FILES && off > len / 2; named++)
                        if (files[named].size)
                                nk_split_rec_file(r, files[named].path, files[named].size);
        }
        for (; named < N_FILES; named++)
                if (files[named].size)
                        nk_split_rec_file(r, files[named].path, files[named].size);
        bool usable = false;
        CHECK(nk_split_rec_finish(r, dir, &usable, NULL) == 0);
        CHECK(usable);
        struct collect c = {malloc(len), 0, len};
        nk_error *err = NULL;
        int rc = nk_split_assemble(dir, diff_id, collect_sink, &c, &err);
        if (rc < 0)
                fprintf(stderr, "chunk %zu: %s\n", chunk, err ? err->msg : "?");
        CHECK(rc == 0);
        CHECK(c.len == len && memcmp(c.buf, tar, len) == 0);
        nk_error_free(err);
        free(c.buf);
}

int main(void)
{
        /* replay opens each layer file with openat2 (RESOLVE_BENEATH) */
        unit_require_syscall(SYS_openat2, "openat2");
        char tmpl[] = "/tmp/nk-tarsplit-XXXXXX";
        CHECK(mkdtemp(tmpl) != NULL);
        int dir = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(mkdirat(dir, "diff", 0755) == 0);
        int diff = openat(dir, "diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(write_files(diff) == 0);
        size_t cap = 1 << 20;
        unsigned char *tar = malloc(cap);
        size_t len = make_tar(tar, cap);
        CHECK(len > 70000 && len % 512 == 0);
        char diff_id[NK_DIGEST_LEN + 1];
        CHECK(nk_sha256_of(tar, len, diff_id, NULL) == 0);

        static const size_t chunks[] = {1, 7, 100, 511, 512, 513, 4096, 65536, 1 << 20};
        for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
                roundtrip(dir, tar, len, chunks[i], diff_id);

        /* Files named out of step (a wrong size): not usable, file gone. */
        struct nk_split_rec *r = NULL;
        bool usable = true;
        CHECK(nk_split_rec_open(dir, &r, NULL) == 0);
        nk_split_rec_feed(r, tar, len);
        nk_split_rec_file(r, files[1].path, files[1].size + 1);
        CHECK(nk_split_rec_finish(r, dir, &usable, NULL) == 0);
        CHECK(!usable && faccessat(dir, NK_SPLIT_FILE, F_OK, 0) < 0);

        /* A file never named: not usable. */
        CHECK(nk_split_rec_open(dir, &r, NULL) == 0);
        nk_split_rec_feed(r, tar, len);
        CHECK(nk_split_rec_finish(r, dir, &usable, NULL) == 0);
        CHECK(!usable);

        /* A damaged header checksum: not usable. */
        unsigned char *bad = malloc(len);
        memcpy(bad, tar, len);
        bad[10] ^= 0x40; /* the first header's name, not its checksum */
        CHECK(nk_split_rec_open(dir, &r, NULL) == 0);
        nk_split_rec_feed(r, bad, len);
        for (size_t i = 0; i < N_FILES; i++)
                if (files[i].size)
                        nk_split_rec_file(r, files[i].path, files[i].size);
        CHECK(nk_split_rec_finish(r, dir, &usable, NULL) == 0);
        CHECK(!usable);

        /* A layer file changed after recording: replay refuses it. */
        roundtrip(dir, tar, len, 4096, diff_id);
        int fd = openat(diff, "d/b512", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && pwrite(fd, "X", 1, 100) == 1);
        close(fd);
        struct collect c = {malloc(len), 0, len};
        nk_error *err = NULL;
        CHECK(nk_split_assemble(dir, diff_id, collect_sink, &c, &err) < 0);
        CHECK(err && strstr(err->msg, "was the layer changed"));
        nk_error_free(err);
        free(c.buf);

        free(bad);
        free(tar);
        close(diff);
        close(dir);
        nk_rm_rf(tmpl, NULL);
        return UNIT_END();
}
