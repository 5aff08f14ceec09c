/* nook — the cache of built seccomp programs (see seccomp_cache.h).
 *
 * One file per profile in the caller's directory, named by a 64-bit hash
 * of this binary's GNU build id and the profile's canonical text:
 *
 *     header: magic, the lengths below, a checksum of the rest
 *     the build id, the profile text, the actions in use, the unknown
 *     names, the BPF program
 *
 * A hit needs the build id and the text equal byte for byte, so neither a
 * hash collision nor another build of nook (whose prefix or libseccomp
 * may differ) can hand out a program that was not built from this very
 * profile. Written to a temporary name and renamed, without fsync: a file
 * a crash cut short fails its checksum and is built again. The directory
 * and its files must be ours and writable by nobody else (the program
 * decides what a container may do). */
#include "seccomp_cache.h"
#include "util/cleanup.h"
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC       "nkscmp1\n"
#define ID_MAX      64
#define KEY_MAX     (16u << 20)
#define PROG_MAX    8192
#define ENTRIES_MAX 64 /* distinct profiles kept before the directory is emptied */

struct header {
        char magic[8];
        uint32_t id_len, key_len, n_prog, n_used, notify, unknown_len;
        uint64_t sum; /* FNV-1a of everything after the header */
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
        const unsigned char *p = data;
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
#define FNV_START 0xcbf29ce484222325ULL

/* ---- this binary's build id -------------------------------------------- */

struct build_id {
        unsigned char bytes[ID_MAX];
        size_t len;
};

/* The main program comes first in dl_iterate_phdr's order. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
        (void)size;
        struct build_id *id = arg;
        for (int i = 0; i < info->dlpi_phnum && !id->len; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
                if (ph->p_type != PT_NOTE)
                        continue;
                const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
                const char *end = p + ph->p_memsz;
                while (p + sizeof(ElfW(Nhdr)) <= end) {
                        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
                        size_t name_sz = (nh->n_namesz + 3) & ~3u;
                        size_t desc_sz = (nh->n_descsz + 3) & ~3u;
                        const char *name = p + sizeof *nh, *desc = name + name_sz;
                        if (desc + desc_sz > end)
                                break;
                        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                            memcmp(name, "GNU", 4) == 0 && nh->n_descsz > 0 &&
                            nh->n_descsz <= ID_MAX) {
                                memcpy(id->bytes, desc, nh->n_descsz);
                                id->len = nh->n_descsz;
                                break;
                        }
                        p = desc + desc_sz;
                }
        }
        return 1; /* the main program only */
}

/* false without one: then nothing is cached (no way to tell builds apart). */
static bool self_build_id(struct build_id *id)
{
        static struct build_id cached;
        static bool done;
        if (!done) {
                dl_iterate_phdr(find_build_id, &cached);
                done = true;
        }
        *id = cached;
        return id->len > 0;
}

/* ---- files --------------------------------------------------------------- */

static void entry_name(const struct build_id *id, const char *key, size_t key_len, char *out,
                       size_t size)
{
        uint64_t h = fnv1a(fnv1a(FNV_START, id->bytes, id->len), key, key_len);
        snprintf(out, size, "%016llx", (unsigned long long)h);
}

/* A directory or file of ours that nobody else may write. */
static bool ours(int fd, bool dir)
{
        struct stat st;
        return fstat(fd, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) &&
               st.st_uid == geteuid() && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static int open_dir(const char *dir, bool create)
{
        if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -1;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && !ours(fd, true)) {
                close(fd);
                return -1;
        }
        return fd;
}

static bool parse(const char *buf, size_t len, const struct build_id *id, const char *key,
                  size_t key_len, struct nk_seccomp_built *out)
{
        struct header h;
        if (len < sizeof h)
                return false;
        memcpy(&h, buf, sizeof h);
        const char *p = buf + sizeof h;
        size_t rest = len - sizeof h;
        if (memcmp(h.magic, MAGIC, 8) != 0 || h.id_len != id->len || h.key_len != key_len ||
            h.n_prog == 0 || h.n_prog > PROG_MAX || h.n_used > NK_SECCOMP_CACHE_ACTIONS ||
            h.unknown_len >= sizeof out->unknown ||
            rest != (size_t)h.id_len + h.key_len + h.n_used * sizeof(uint32_t) + h.unknown_len +
                            h.n_prog * sizeof(struct sock_filter) ||
            fnv1a(FNV_START, p, rest) != h.sum)
                return false;
        if (memcmp(p, id->bytes, id->len) != 0 || memcmp(p + id->len, key, key_len) != 0)
                return false;
        p += id->len + key_len;
        struct sock_filter *prog = malloc(h.n_prog * sizeof *prog);
        if (!prog)
                return false;
        *out = (struct nk_seccomp_built){
                .prog = prog, .n_prog = h.n_prog, .notify = h.notify != 0, .n_used = h.n_used};
        memcpy(out->used, p, h.n_used * sizeof(uint32_t));
        p += h.n_used * sizeof(uint32_t);
        memcpy(out->unknown, p, h.unknown_len);
        out->unknown[h.unknown_len] = '\0';
        memcpy(prog, p + h.unknown_len, h.n_prog * sizeof *prog);
        return true;
}

bool nk_seccomp_cache_get(const char *dir, const char *key, size_t key_len,
                          struct nk_seccomp_built *out)
{
        struct build_id id;
        if (!dir || !self_build_id(&id))
                return false;
        char name[32];
        entry_name(&id, key, key_len, name, sizeof name);
        _cleanup_close_ int dfd = open_dir(dir, false);
        _cleanup_close_ int fd =
                dfd < 0 ? -1 : openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || !ours(fd, false) || fstat(fd, &st) < 0 ||
            (size_t)st.st_size > KEY_MAX + (PROG_MAX + 1) * sizeof(struct sock_filter) + 4096)
                return false;
        size_t len = (size_t)st.st_size;
        _cleanup_free_ char *buf = malloc(len ? len : 1);
        if (!buf || pread(fd, buf, len, 0) != (ssize_t)len)
                return false;
        return parse(buf, len, &id, key, key_len, out);
}

/* Past ENTRIES_MAX files (many distinct profiles, or old builds' entries)
 * the directory starts again empty; files being written are left. */
static void prune(int dfd)
{
        int fd = dup(dfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return;
        }
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.' && !strstr(de->d_name, ".tmp.");
        if (n >= ENTRIES_MAX) {
                rewinddir(d);
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.' && !strstr(de->d_name, ".tmp."))
                                (void)unlinkat(dfd, de->d_name, 0);
        }
        closedir(d);
}

static bool write_all(int fd, const void *data, size_t n)
{
        const char *p = data;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return false;
                p += w;
                n -= (size_t)w;
        }
        return true;
}

void nk_seccomp_cache_put(const char *dir, const char *key, size_t key_len,
                          const struct nk_seccomp_built *b)
{
        struct build_id id;
        if (!dir || !self_build_id(&id) || key_len > KEY_MAX || b->n_prog == 0 ||
            b->n_prog > PROG_MAX || b->n_used > NK_SECCOMP_CACHE_ACTIONS)
                return;
        _cleanup_close_ int dfd = open_dir(dir, true);
        if (dfd < 0)
                return;
        prune(dfd);
        size_t ulen = strnlen(b->unknown, sizeof b->unknown - 1);
        struct header h = {.id_len = (uint32_t)id.len,
                           .key_len = (uint32_t)key_len,
                           .n_prog = (uint32_t)b->n_prog,
                           .n_used = (uint32_t)b->n_used,
                           .notify = b->notify,
                           .unknown_len = (uint32_t)ulen};
        memcpy(h.magic, MAGIC, 8);
        struct {
                const void *p;
                size_t n;
        } parts[] = {{id.bytes, id.len},
                     {key, key_len},
                     {b->used, b->n_used * sizeof(uint32_t)},
                     {b->unknown, ulen},
                     {b->prog, b->n_prog * sizeof(struct sock_filter)}};
        uint64_t sum = FNV_START;
        for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
                sum = fnv1a(sum, parts[i].p, parts[i].n);
        h.sum = sum;
        char name[32], tmp[64];
        entry_name(&id, key, key_len, name, sizeof name);
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", name, (int)getpid());
        _cleanup_close_ int fd =
                openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        bool ok = write_all(fd, &h, sizeof h);
        for (size_t i = 0; ok && i < ARRAY_SIZE(parts); i++)
                ok = write_all(fd, parts[i].p, parts[i].n);
        if (!ok || renameat(dfd, tmp, dfd, name) < 0)
                (void)unlinkat(dfd, tmp, 0);
}
