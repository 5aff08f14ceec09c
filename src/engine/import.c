/* `nook import`: a plain rootfs tarball becomes a one-layer image. */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/layer.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int sink_blob(const void *buf, size_t len, void *data, nk_error **err)
{
        return nk_blob_writer_write(data, buf, len, err);
}

/* Decompress into a staged, uncompressed layer blob: digest == diff-id. */
static int stage_plain_layer(struct nk_txn *t, int fd, struct nk_new_layer *l, nk_error **err)
{
        struct nk_blob_writer w;
        if (nk_blob_writer_open(t, &w, err) < 0)
                return -1;
        if (nk_layer_decompress(fd, sink_blob, &w, l->diff_id, err) < 0) {
                nk_blob_writer_abort(&w);
                return -1;
        }
        l->size = (int64_t)w.size;
        l->media_type = NK_MT_OCI_LAYER;
        return nk_blob_writer_finish(t, &w, l->diff_id, l->digest, err);
}

static char *name_key(const char *name, nk_error **err)
{
        struct nk_ref r;
        if (nk_ref_parse(name, &r, err) < 0)
                return NULL;
        char *key = r.digest ? NULL : nk_ref_key(&r);
        if (r.digest)
                nk_error_set(err, 0, "name `%s`: a digest cannot name a new image", name);
        else if (!key)
                nk_error_set(err, ENOMEM, "name %s", name);
        nk_ref_clear(&r);
        return key;
}

static json_t *import_config(void)
{
        char now[32];
        time_t t = time(NULL);
        struct tm tm;
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_t *c = nk_image_default_config(NULL);
        if (c) {
                json_object_set_new(c, "created", json_string(now));
                json_object_set_new(
                        c, "history",
                        json_pack("[{s:s,s:s}]", "created", now, "created_by", "nook import"));
        }
        return c;
}

int nk_image_import(struct nk_store *s, const char *path, const char *name, char **key_out,
                    nk_error **err)
{
        _cleanup_free_ char *key = name_key(name, err);
        if (!key)
                return -1;
        _cleanup_close_ int fd =
                streq(path, "-") ? fcntl(0, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s`", path);
        struct nk_txn *t;
        if (nk_txn_begin(s, &t, err) < 0)
                return -1;
        struct nk_new_layer l;
        char manifest[NK_DIGEST_LEN + 1];
        _cleanup_jansson_ json_t *config = import_config();
        int r = -1;
        if (!config)
                nk_error_set(err, ENOMEM, "import");
        else if (stage_plain_layer(t, fd, &l, err) == 0 &&
                 nk_image_build(t, config, &l, 1, key, manifest, err) == 0)
                r = nk_txn_commit(t, err);
        nk_txn_free(t);
        if (r < 0)
                return nk_error_wrap(err, "import `%s`", path);
        if (key_out)
                *key_out = TAKE_PTR(key);
        return 0;
}
