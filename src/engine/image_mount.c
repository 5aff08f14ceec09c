/* `nook image mount|umount`: a root filesystem at a directory of the
 * user's, its id derived from the path's hash (OpenSSL: the engine module). */
#include "engine/engine.h"
#include "engine/image.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `nook image mount`: the id is derived from the absolute mount point. */
static int mount_id(const char *dir, char id[32], char **abs_out, nk_error **err)
{
        _cleanup_free_ char *abs = realpath(dir, NULL);
        if (!abs)
                return nk_error_set(err, errno, "mount point `%s`", dir);
        char d[NK_DIGEST_LEN + 1];
        if (nk_sha256_of(abs, strlen(abs), d, err) < 0)
                return -1;
        snprintf(id, 32, "mount-%.16s", nk_digest_hex(d));
        if (abs_out)
                *abs_out = TAKE_PTR(abs);
        return 0;
}

/* The default image, made here if it is the one asked for and missing:
 * the root filesystem code only looks. */
static int ensure_image(const char *store, const char *image, nk_error **err)
{
        struct nk_store *s;
        struct nk_image img;
        if (nk_engine_open(store, &s, err) < 0)
                return -1;
        int r = nk_image_find(s, image, &img, err);
        if (r == 0)
                nk_image_clear(&img);
        nk_store_free(s);
        return r;
}

int nk_image_mount(const char *store, const char *image, const char *dir, nk_error **err)
{
        char id[32];
        _cleanup_free_ char *abs = NULL;
        if (mount_id(dir, id, &abs, err) < 0 || ensure_image(store, image, err) < 0)
                return -1;
        return nk_image_rootfs_create_at(store, image, id, abs, NULL, err);
}

int nk_image_umount(const char *store, const char *dir, nk_error **err)
{
        char id[32];
        if (mount_id(dir, id, NULL, err) < 0)
                return -1;
        _cleanup_free_ char *cdir = NULL;
        if (asprintf(&cdir, "%s/containers/%s", store, id) < 0)
                return nk_error_set(err, ENOMEM, "umount");
        if (!nk_path_exists(cdir))
                return nk_error_set(err, 0, "`%s` is not an image mount of store `%s`", dir, store);
        return nk_image_rootfs_remove(store, id, err);
}
