/* Images in the store: opening it, finding and reading an image. In nook
 * itself (no OpenSSL, libarchive or libcurl): see image_default.c for what
 * needs the engine module. */
#include "engine/image.h"
#include "engine/engine.h"
#include "engine/ref.h"
#include "util/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

int nk_engine_open_local(const char *root, struct nk_store **out, nk_error **err)
{
        return nk_store_open(root, out, err);
}

void nk_engine_close(struct nk_store *s)
{
        nk_store_free(s);
}

const char *nk_engine_root(const struct nk_store *s)
{
        return s->root;
}

void nk_image_clear(struct nk_image *img)
{
        free(img->key);
        nk_manifest_clear(&img->manifest);
        nk_config_clear(&img->config);
        memset(img, 0, sizeof(*img));
}

int nk_image_read(struct nk_store *s, const char *manifest_digest, struct nk_image *img,
                  nk_error **err)
{
        _cleanup_free_ char *mbody = NULL, *cbody = NULL;
        size_t mlen, clen;
        memset(img, 0, sizeof(*img));
        snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", manifest_digest);
        if (nk_store_blob_read(s, manifest_digest, NK_MANIFEST_MAX, &mbody, &mlen, err) < 0 ||
            nk_manifest_parse(mbody, mlen, NULL, &img->manifest, err) < 0)
                return nk_error_wrap(err, "manifest %s", manifest_digest);
        const char *cd = img->manifest.config.digest;
        if (nk_store_blob_read(s, cd, NK_CONFIG_MAX, &cbody, &clen, err) < 0 ||
            nk_config_parse(cbody, clen, &img->config, err) < 0) {
                nk_error_wrap(err, "config %s", cd); /* cd is img's: clear after */
                nk_image_clear(img);
                return -1;
        }
        if (img->config.n_diff_ids != img->manifest.n_layers) {
                nk_error_set(err, 0,
                             "image %s: %zu layers but %zu diff_ids in the "
                             "config",
                             manifest_digest, img->manifest.n_layers, img->config.n_diff_ids);
                nk_image_clear(img);
                return -1;
        }
        return 0;
}

static bool hex_prefix(const char *s)
{
        if (strncmp(s, "sha256:", 7) == 0)
                s += 7;
        size_t n = strlen(s);
        return n >= 3 && n <= 64 && strspn(s, "0123456789abcdef") == n;
}

/* Search the names by image id prefix or manifest digest. */
static int find_by_id(json_t *names, const char *ref, char **key_out, nk_error **err)
{
        const char *want = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
        const char *key, *found = NULL, *found_cfg = NULL;
        json_t *rec;
        json_object_foreach (names, key, rec) {
                const char *cfg = json_string_value(json_object_get(rec, "config"));
                const char *man = json_string_value(json_object_get(rec, "manifest"));
                bool hit = (cfg && strncmp(cfg + 7, want, strlen(want)) == 0) ||
                           (man && streq(man + 7, want));
                if (!hit)
                        continue;
                if (found && !streq(found_cfg, cfg))
                        return nk_error_set(err, 0, "image id `%s` is ambiguous", ref);
                found = key;
                found_cfg = cfg;
        }
        if (!found)
                return 0;
        *key_out = strdup(found);
        return *key_out ? 1 : nk_error_set(err, ENOMEM, "image %s", ref);
}

/* A digest reference also matches any name of the same repository whose
 * manifest is that digest. */
static const char *find_by_digest(json_t *names, const struct nk_ref *r)
{
        _cleanup_free_ char *repo = nk_ref_repo(r);
        const char *key;
        json_t *rec;
        if (!repo || !r->digest)
                return NULL;
        json_object_foreach (names, key, rec) {
                const char *man = json_string_value(json_object_get(rec, "manifest"));
                if (man && streq(man, r->digest) && strncmp(key, repo, strlen(repo)) == 0 &&
                    (key[strlen(repo)] == ':' || key[strlen(repo)] == '@'))
                        return key;
        }
        return NULL;
}

/* 1: found (*key_out set), 0: not found. */
static int lookup(json_t *names, const char *ref, char **key_out, nk_error **err)
{
        struct nk_ref r;
        nk_error *perr = NULL;
        if (nk_ref_parse(ref, &r, &perr) == 0) {
                _cleanup_free_ char *key = nk_ref_key(&r);
                const char *hit =
                        key && json_object_get(names, key) ? key : find_by_digest(names, &r);
                *key_out = hit ? strdup(hit) : NULL;
                nk_ref_clear(&r);
                if (hit)
                        return *key_out ? 1 : nk_error_set(err, ENOMEM, "image %s", ref);
        }
        if (hex_prefix(ref)) {
                nk_error_free(perr);
                return find_by_id(names, ref, key_out, err);
        }
        if (perr) {
                return nk_error_pass(err, perr);
        }
        return 0;
}

bool nk_image_named(struct nk_store *s, const char *ref)
{
        _cleanup_jansson_ json_t *names = NULL;
        _cleanup_free_ char *key = NULL;
        nk_error *e = NULL;
        int r = nk_store_names_read(s, &names, &e) < 0 ? -1 : lookup(names, ref, &key, &e);
        nk_error_free(e);
        return r > 0;
}

int nk_image_find_local(struct nk_store *s, const char *ref, struct nk_image *img, nk_error **err)
{
        _cleanup_jansson_ json_t *names = NULL;
        _cleanup_free_ char *key = NULL;
        if (nk_store_names_read(s, &names, err) < 0)
                return -1;
        int r = lookup(names, ref, &key, err);
        if (r < 0)
                return -1;
        if (r == 0)
                return nk_error_set(err, 0, "image `%s` is not in the store (nook pull it first)",
                                    ref);
        json_t *rec = json_object_get(names, key);
        const char *man = json_string_value(json_object_get(rec, "manifest"));
        if (!man)
                return nk_error_set(err, 0, "image %s: no manifest in its record", key);
        if (nk_image_read(s, man, img, err) < 0)
                return nk_error_wrap(err, "image %s", key);
        img->key = TAKE_PTR(key);
        return 0;
}

int nk_store_containers(struct nk_store *s, json_t **out, nk_error **err)
{
        int fd = openat(s->containers, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return nk_error_set(err, errno, "open `%s/containers`", s->root);
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return nk_error_set(err, errno, "open `%s/containers`", s->root);
        }
        json_t *arr = json_array();
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char name[512];
                snprintf(name, sizeof(name), "%s/image.json", de->d_name);
                json_t *rec = NULL;
                if (nk_store_read_json(s->containers, name, &rec, NULL) == 0 &&
                    json_is_object(rec)) {
                        json_object_set_new(rec, "id", json_string(de->d_name));
                        json_array_append_new(arr, rec);
                } else {
                        json_decref(rec);
                }
        }
        *out = arr;
        return 0;
}
