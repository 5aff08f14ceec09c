/* What finding an image needs from the engine module: the embedded
 * busybox image (made with libarchive, hashed with OpenSSL) when the store
 * is new or has lost it, and pulling for `nook run` (libcurl). */
#include "engine/engine.h"
#include "engine/image.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* A new store (no names file yet) gets the default image. */
static int default_image(struct nk_store *s, nk_error **err)
{
        if (faccessat(s->dfd, "repositories.json", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
            errno == ENOENT && nk_busybox_available() && nk_busybox_create(s, err) < 0)
                return nk_error_wrap(err, "create the default busybox image");
        return 0;
}

int nk_engine_open(const char *root, struct nk_store **out, nk_error **err)
{
        struct nk_store *s;
        if (nk_store_open(root, &s, err) < 0)
                return -1;
        if (default_image(s, err) < 0) {
                nk_store_free(s);
                return -1;
        }
        *out = s;
        return 0;
}

static bool is_busybox_ref(const char *ref)
{
        struct nk_ref r;
        if (nk_ref_parse(ref, &r, NULL) < 0)
                return false;
        _cleanup_free_ char *key = nk_ref_key(&r);
        nk_ref_clear(&r);
        return key && streq(key, NK_BUSYBOX_KEY);
}

int nk_image_find(struct nk_store *s, const char *ref, struct nk_image *img, nk_error **err)
{
        nk_error *miss = NULL;
        if (nk_image_find_local(s, ref, img, &miss) == 0)
                return 0;
        /* The default image comes back without network (when it is gone,
         * not when it is there but unreadable). */
        if (!is_busybox_ref(ref) || !nk_busybox_available() || nk_image_named(s, ref))
                return nk_error_pass(err, miss);
        nk_error_free(miss);
        if (nk_busybox_create(s, err) < 0)
                return -1;
        return nk_image_find_local(s, ref, img, err);
}

int nk_engine_image_get(struct nk_store *s, const char *ref, bool always, bool never,
                        char **key_out, nk_error **err)
{
        if (default_image(s, err) < 0)
                return -1;
        struct nk_image img = {0};
        nk_error *miss = NULL;
        if (!always && nk_image_find(s, ref, &img, &miss) == 0) {
                char *key = strdup(img.key ? img.key : img.manifest_digest);
                nk_image_clear(&img);
                if (!key)
                        return nk_error_set(err, ENOMEM, "image %s", ref);
                *key_out = key;
                return 0;
        }
        if (miss && nk_image_named(s, ref)) /* there, but unreadable: say why */
                return nk_error_pass(err, miss);
        nk_error_free(miss);
        if (never)
                return nk_error_set(err, ENOENT, "image `%s` not found (--pull=never)", ref);
        struct nk_pull_opts po = {0};
        if (nk_image_pull(s, ref, &po, key_out, err) < 0)
                return nk_error_wrap(err, "image `%s` not found locally, and pulling it failed",
                                     ref);
        return 0;
}
