/* The embedded default image `busybox`: Debian's static busybox binary,
 * embedded at build time, laid out like the familiar image (/bin/busybox
 * plus a symlink per applet, /etc/passwd, /etc/group, /tmp ...). The layer
 * is built with fixed times and owners, so its digest depends only on the
 * binary. */
#include "engine/image.h"
#include "util/cleanup.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

extern const bool nk_busybox_embedded;
extern const char *const nk_busybox_applets[];
extern const char nk_busybox_start[], nk_busybox_end[];

#define BB_CREATED "2024-01-01T00:00:00Z"
#define BB_MTIME   1704067200

bool nk_busybox_available(void)
{
        return nk_busybox_embedded && (uintptr_t)nk_busybox_end > (uintptr_t)nk_busybox_start;
}

struct bb_out {
        struct nk_blob_writer w;
        nk_error *err;
};

static la_ssize_t bb_write(struct archive *a, void *data, const void *buf, size_t len)
{
        struct bb_out *o = data;
        if (nk_blob_writer_write(&o->w, buf, len, &o->err) < 0) {
                archive_set_error(a, EIO, "write busybox layer");
                return -1;
        }
        return (la_ssize_t)len;
}

static int bb_add(struct archive *a, const char *path, mode_t mode, const char *link,
                  const void *data, size_t size)
{
        struct archive_entry *e = archive_entry_new();
        if (!e)
                return -1;
        archive_entry_set_pathname(e, path);
        archive_entry_set_mode(e, mode);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_mtime(e, BB_MTIME, 0);
        if (link)
                archive_entry_set_symlink(e, link);
        archive_entry_set_size(e, (la_int64_t)size);
        int r = archive_write_header(a, e);
        if (r == ARCHIVE_OK && size && archive_write_data(a, data, size) != (la_ssize_t)size)
                r = ARCHIVE_FATAL;
        archive_entry_free(e);
        return r == ARCHIVE_OK ? 0 : -1;
}

static int bb_entries(struct archive *a)
{
        static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                                     "nobody:x:65534:65534:nobody:/home:/bin/false\n";
        static const char group[] = "root:x:0:\nnobody:x:65534:\n";
        static const struct {
                const char *path;
                mode_t mode;
        } dirs[] = {
                {"bin", 0755},      {"dev", 0755},     {"etc", 0755},      {"home", 0755},
                {"proc", 0555},     {"root", 0700},    {"sys", 0555},      {"tmp", 01777},
                {"usr", 0755},      {"usr/bin", 0755}, {"usr/sbin", 0755}, {"var", 0755},
                {"var/tmp", 01777},
        };
        int r = 0;
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
                r |= bb_add(a, dirs[i].path, S_IFDIR | dirs[i].mode, NULL, NULL, 0);
        r |= bb_add(a, "bin/busybox", S_IFREG | 0755, NULL, nk_busybox_start,
                    (size_t)((uintptr_t)nk_busybox_end - (uintptr_t)nk_busybox_start));
        for (const char *const *ap = nk_busybox_applets; *ap; ap++) {
                char path[256];
                if (streq(*ap, "busybox") || strchr(*ap, '/') ||
                    snprintf(path, sizeof(path), "bin/%s", *ap) >= (int)sizeof(path))
                        continue;
                r |= bb_add(a, path, S_IFLNK | 0777, "busybox", NULL, 0);
        }
        r |= bb_add(a, "etc/passwd", S_IFREG | 0644, NULL, passwd, strlen(passwd));
        r |= bb_add(a, "etc/group", S_IFREG | 0644, NULL, group, strlen(group));
        return r;
}

/* Write the layer tar into a staged blob; its digest is also the diff-id. */
static int bb_layer(struct nk_txn *t, struct nk_new_layer *l, nk_error **err)
{
        struct bb_out o = {.err = NULL};
        if (nk_blob_writer_open(t, &o.w, err) < 0)
                return -1;
        struct archive *a = archive_write_new();
        int r = a ? 0 : -1;
        if (r == 0) {
                archive_write_set_format_pax_restricted(a);
                archive_write_set_bytes_in_last_block(a, 1);
                r = archive_write_open(a, &o, NULL, bb_write, NULL) == ARCHIVE_OK ? 0 : -1;
        }
        if (r == 0)
                r = bb_entries(a);
        if (a && archive_write_close(a) != ARCHIVE_OK)
                r = -1;
        if (r < 0) {
                nk_error_set(err, 0, "build busybox layer: %s",
                             o.err ? o.err->msg
                             : a   ? archive_error_string(a)
                                   : "out of memory");
                nk_error_free(o.err);
                if (a)
                        archive_write_free(a);
                nk_blob_writer_abort(&o.w);
                return -1;
        }
        archive_write_free(a);
        l->size = (int64_t)o.w.size;
        l->media_type = NK_MT_OCI_LAYER;
        if (nk_blob_writer_finish(t, &o.w, NULL, l->digest, err) < 0)
                return -1;
        memcpy(l->diff_id, l->digest, sizeof(l->diff_id));
        return 0;
}

int nk_busybox_create(struct nk_store *s, nk_error **err)
{
        if (!nk_busybox_available())
                return nk_error_set(err, 0, "nook was built without an embedded busybox");
        struct nk_txn *t;
        if (nk_txn_begin(s, &t, err) < 0)
                return -1;
        struct nk_new_layer l;
        char manifest[NK_DIGEST_LEN + 1];
        _cleanup_jansson_ json_t *config = nk_image_default_config("sh");
        int r = -1;
        if (!config)
                nk_error_set(err, ENOMEM, "busybox config");
        /* a history entry per layer: buildah (podman build) refuses a
         * base image whose history does not account for its layers */
        else if (json_object_set_new(config, "created", json_string(BB_CREATED)) == 0 &&
                 json_object_set_new(config, "history",
                                     json_pack("[{s:s,s:s}]", "created", BB_CREATED, "created_by",
                                               "nook: embedded busybox")) == 0 &&
                 bb_layer(t, &l, err) == 0 &&
                 nk_image_build(t, config, &l, 1, NK_BUSYBOX_KEY, manifest, err) == 0) {
                /* `image prune -a` keeps it: see prune_unused(). */
                json_object_set_new(json_object_get(t->names, NK_BUSYBOX_KEY), "embedded",
                                    json_true());
                r = nk_txn_commit(t, err);
        }
        nk_txn_free(t);
        return r < 0 ? nk_error_wrap(err, "embedded busybox image") : 0;
}
