/* Building an image in a store transaction: the config blob, an OCI
 * manifest over staged layers, the name. What busybox.c, import.c and
 * load.c make images with; below image.c, which finds them (and makes the
 * busybox image on first use). */
#include "engine/image.h"
#include "util/cleanup.h"
#include <errno.h>
#include <string.h>

json_t *nk_image_default_config(const char *cmd)
{
        struct nk_platform p;
        nk_platform_host(&p);
        json_t *c = json_pack("{s:s,s:s,s:{s:[s]}}", "architecture", p.arch, "os", p.os, "config",
                              "Env",
                              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        if (c && p.variant[0])
                json_object_set_new(c, "variant", json_string(p.variant));
        if (c && cmd)
                json_object_set_new(json_object_get(c, "config"), "Cmd", json_pack("[s]", cmd));
        return c;
}

static json_t *descriptor_json(const char *mt, const char *digest, int64_t size)
{
        return json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", digest, "size",
                         (json_int_t)size);
}

static int put_json_blob(struct nk_txn *t, json_t *v, char digest[NK_DIGEST_LEN + 1], size_t *len,
                         nk_error **err)
{
        _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return nk_error_set(err, ENOMEM, "encode JSON");
        *len = strlen(text);
        return nk_txn_put_blob(t, text, *len, NULL, digest, err);
}

int nk_image_build_from(struct nk_txn *t, const char *config_digest, int64_t config_size,
                        const struct nk_new_layer *layers, size_t n, const char *key,
                        char manifest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        json_t *ldesc = json_array();
        _cleanup_jansson_ json_t *manifest = json_pack(
                "{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType", NK_MT_OCI_MANIFEST, "config",
                descriptor_json(NK_MT_OCI_CONFIG, config_digest, config_size), "layers", ldesc);
        if (!manifest)
                return nk_error_set(err, ENOMEM, "build image");
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ldesc, descriptor_json(layers[i].media_type, layers[i].digest,
                                                             layers[i].size));
        size_t mlen;
        if (put_json_blob(t, manifest, manifest_out, &mlen, err) < 0)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (nk_txn_layer(t, layers[i].digest, layers[i].diff_id, err) < 0)
                        return -1;
        return key ? nk_txn_set_name(t, key, manifest_out, config_digest, err) : 0;
}

int nk_image_build(struct nk_txn *t, json_t *config, const struct nk_new_layer *layers, size_t n,
                   const char *key, char manifest_out[NK_DIGEST_LEN + 1], nk_error **err)
{
        json_t *ids = json_array();
        if (!ids)
                return nk_error_set(err, ENOMEM, "build image");
        for (size_t i = 0; i < n; i++)
                json_array_append_new(ids, json_string(layers[i].diff_id));
        json_object_set_new(config, "rootfs",
                            json_pack("{s:s,s:o}", "type", "layers", "diff_ids", ids));
        char cdigest[NK_DIGEST_LEN + 1];
        size_t clen;
        if (put_json_blob(t, config, cdigest, &clen, err) < 0)
                return -1;
        return nk_image_build_from(t, cdigest, (int64_t)clen, layers, n, key, manifest_out, err);
}
