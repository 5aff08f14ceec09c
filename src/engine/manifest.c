#include "engine/manifest.h"
#include "engine/digest.h"
#include "engine/jsonutil.h"
#include "util/cleanup.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static json_t *load(const char *body, size_t len, const char *what, nk_error **err)
{
        json_error_t je;
        json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!v) {
                nk_error_set(err, 0, "%s: invalid JSON at line %d: %s", what, je.line, je.text);
                return NULL;
        }
        if (!json_is_object(v)) {
                json_decref(v);
                nk_error_set(err, 0, "%s: not a JSON object", what);
                return NULL;
        }
        return v;
}

static const char *str_field(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static bool is_index_type(const char *mt)
{
        return streq(mt, NK_MT_OCI_INDEX) || streq(mt, NK_MT_DOCKER_LIST);
}

static bool is_manifest_type(const char *mt)
{
        return streq(mt, NK_MT_OCI_MANIFEST) || streq(mt, NK_MT_DOCKER_MANIFEST);
}

int nk_doc_kind(json_t *doc, const char *content_type, const char **media_type, nk_error **err)
{
        json_t *sv = json_object_get(doc, "schemaVersion");
        if (json_is_integer(sv) && json_integer_value(sv) == 1)
                return nk_error_set(err, 0, "docker schema 1 manifests are not supported");
        const char *mt = str_field(doc, "mediaType");
        if (!mt && content_type && *content_type && !streq(content_type, "application/json") &&
            !streq(content_type, "text/plain"))
                mt = content_type;
        if (!mt)
                mt = json_is_array(json_object_get(doc, "manifests")) ? NK_MT_OCI_INDEX
                                                                      : NK_MT_OCI_MANIFEST;
        *media_type = mt;
        if (is_index_type(mt))
                return NK_DOC_INDEX;
        if (is_manifest_type(mt))
                return NK_DOC_MANIFEST;
        return nk_error_set(err, 0, "manifest media type `%s` is not supported", mt);
}

static int parse_platform_obj(json_t *o, struct nk_platform *p, const char *path, nk_error **err)
{
        memset(p, 0, sizeof(*p));
        if (!o)
                return 0;
        if (!json_is_object(o))
                return nk_error_set(err, 0, "%s.platform: not an object", path);
        const char *os = str_field(o, "os"), *arch = str_field(o, "architecture");
        const char *var = str_field(o, "variant");
        snprintf(p->os, sizeof(p->os), "%s", os ? os : "");
        snprintf(p->arch, sizeof(p->arch), "%s", arch ? arch : "");
        snprintf(p->variant, sizeof(p->variant), "%s", var ? var : "");
        return 0;
}

static int parse_descriptor(json_t *o, struct nk_descriptor *d, const char *path, nk_error **err)
{
        if (!json_is_object(o))
                return nk_error_set(err, 0, "%s: not an object", path);
        const char *mt = str_field(o, "mediaType"), *dg = str_field(o, "digest");
        json_t *size = json_object_get(o, "size");
        if (!mt)
                return nk_error_set(err, 0, "%s.mediaType: missing", path);
        if (!nk_digest_valid(dg))
                return nk_error_set(err, 0, "%s.digest: `%s` is not a sha256 digest", path,
                                    dg ? dg : "(missing)");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return nk_error_set(err, 0, "%s.size: missing or negative", path);
        d->media_type = strdup(mt);
        d->digest = strdup(dg);
        d->size = json_integer_value(size);
        if (!d->media_type || !d->digest)
                return nk_error_set(err, ENOMEM, "%s", path);
        return parse_platform_obj(json_object_get(o, "platform"), &d->platform, path, err);
}

static void descriptor_clear(struct nk_descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        memset(d, 0, sizeof(*d));
}

static int parse_descriptors(json_t *arr, const char *key, struct nk_descriptor **out, size_t *n,
                             nk_error **err)
{
        if (!json_is_array(arr))
                return nk_error_set(err, 0, "%s: missing or not an array", key);
        size_t count = json_array_size(arr);
        struct nk_descriptor *d = calloc(count ? count : 1, sizeof(*d));
        if (!d)
                return nk_error_set(err, ENOMEM, "%s", key);
        *out = d;
        *n = count;
        for (size_t i = 0; i < count; i++) {
                char path[64];
                snprintf(path, sizeof(path), "%s[%zu]", key, i);
                if (parse_descriptor(json_array_get(arr, i), &d[i], path, err) < 0)
                        return -1;
        }
        return 0;
}

void nk_manifest_clear(struct nk_manifest *m)
{
        free(m->media_type);
        descriptor_clear(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_clear(&m->layers[i]);
        free(m->layers);
        memset(m, 0, sizeof(*m));
}

bool nk_layer_media_supported(const char *mt)
{
        static const char *const ok[] = {
                NK_MT_OCI_LAYER,
                NK_MT_OCI_LAYER_GZIP,
                NK_MT_OCI_LAYER_ZSTD,
                NK_MT_DOCKER_LAYER_GZIP,
                "application/vnd.docker.image.rootfs.diff.tar",
                "application/vnd.docker.image.rootfs.diff.tar.zstd",
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
                if (streq(mt, ok[i]))
                        return true;
        return false;
}

static int check_manifest(struct nk_manifest *m, nk_error **err)
{
        const char *cmt = m->config.media_type;
        if (!streq(cmt, NK_MT_OCI_CONFIG) && !streq(cmt, NK_MT_DOCKER_CONFIG))
                return nk_error_set(err, 0,
                                    "manifest: config.mediaType `%s` is not an "
                                    "image config",
                                    cmt);
        for (size_t i = 0; i < m->n_layers; i++)
                if (!nk_layer_media_supported(m->layers[i].media_type))
                        return nk_error_set(err, 0,
                                            "manifest: layers[%zu].mediaType `%s` "
                                            "is not supported",
                                            i, m->layers[i].media_type);
        return 0;
}

/* body as a JSON document of kind `want` ("manifest" or "index" is
 * `what`), *mt its media type (pointing into it); NULL with err. */
static json_t *load_kind(const char *body, size_t len, const char *content_type,
                         enum nk_doc_kind want, const char *what, const char **mt, nk_error **err)
{
        json_t *doc = load(body, len, what, err);
        if (!doc)
                return NULL;
        int kind = nk_doc_kind(doc, content_type, mt, err);
        if (kind == (int)want)
                return doc;
        if (kind >= 0)
                nk_error_set(err, 0, "expected an image %s, got `%s`", what, *mt);
        json_decref(doc);
        return NULL;
}

int nk_manifest_parse(const char *body, size_t len, const char *content_type, struct nk_manifest *m,
                      nk_error **err)
{
        const char *mt;
        _cleanup_jansson_ json_t *doc =
                load_kind(body, len, content_type, NK_DOC_MANIFEST, "manifest", &mt, err);
        if (!doc)
                return -1;
        memset(m, 0, sizeof(*m));
        m->media_type = strdup(mt);
        if (!m->media_type ||
            parse_descriptor(json_object_get(doc, "config"), &m->config, "manifest: config", err) <
                    0 ||
            parse_descriptors(json_object_get(doc, "layers"), "manifest: layers", &m->layers,
                              &m->n_layers, err) < 0 ||
            check_manifest(m, err) < 0) {
                nk_manifest_clear(m);
                return nk_error_set(err, ENOMEM, "manifest");
        }
        return 0;
}

void nk_index_clear(struct nk_index *ix)
{
        free(ix->media_type);
        for (size_t i = 0; i < ix->n; i++)
                descriptor_clear(&ix->manifests[i]);
        free(ix->manifests);
        memset(ix, 0, sizeof(*ix));
}

int nk_index_parse(const char *body, size_t len, const char *content_type, struct nk_index *ix,
                   nk_error **err)
{
        const char *mt;
        _cleanup_jansson_ json_t *doc =
                load_kind(body, len, content_type, NK_DOC_INDEX, "index", &mt, err);
        if (!doc)
                return -1;
        memset(ix, 0, sizeof(*ix));
        ix->media_type = strdup(mt);
        if (!ix->media_type ||
            parse_descriptors(json_object_get(doc, "manifests"), "index: manifests", &ix->manifests,
                              &ix->n, err) < 0) {
                nk_index_clear(ix);
                return nk_error_set(err, ENOMEM, "index");
        }
        return 0;
}

void nk_config_clear(struct nk_config *c)
{
        for (size_t i = 0; i < c->n_diff_ids; i++)
                free(c->diff_ids[i]);
        free(c->diff_ids);
        free(c->created);
        json_decref(c->root);
        memset(c, 0, sizeof(*c));
}

static int config_diff_ids(struct nk_config *c, nk_error **err)
{
        json_t *ids = json_object_get(json_object_get(c->root, "rootfs"), "diff_ids");
        if (!json_is_array(ids))
                return nk_error_set(err, 0, "config: rootfs.diff_ids: missing");
        c->n_diff_ids = json_array_size(ids);
        c->diff_ids = calloc(c->n_diff_ids + 1, sizeof(char *));
        if (!c->diff_ids)
                return nk_error_set(err, ENOMEM, "config");
        for (size_t i = 0; i < c->n_diff_ids; i++) {
                const char *d = json_string_value(json_array_get(ids, i));
                if (!nk_digest_valid(d))
                        return nk_error_set(err, 0,
                                            "config: rootfs.diff_ids[%zu]: `%s` is "
                                            "not a sha256 digest",
                                            i, d ? d : "(not a string)");
                if (!(c->diff_ids[i] = strdup(d)))
                        return nk_error_set(err, ENOMEM, "config");
        }
        return 0;
}

int nk_config_parse(const char *body, size_t len, struct nk_config *c, nk_error **err)
{
        memset(c, 0, sizeof(*c));
        c->root = load(body, len, "image config", err);
        if (!c->root)
                return -1;
        const char *os = str_field(c->root, "os"), *arch = str_field(c->root, "architecture");
        const char *var = str_field(c->root, "variant"), *created = str_field(c->root, "created");
        snprintf(c->platform.os, sizeof(c->platform.os), "%s", os ? os : "");
        snprintf(c->platform.arch, sizeof(c->platform.arch), "%s", arch ? arch : "");
        snprintf(c->platform.variant, sizeof(c->platform.variant), "%s", var ? var : "");
        if ((created && !(c->created = strdup(created))) || config_diff_ids(c, err) < 0) {
                nk_config_clear(c);
                return nk_error_set(err, ENOMEM, "config");
        }
        return 0;
}

int nk_platform_parse(const char *s, struct nk_platform *p, nk_error **err)
{
        memset(p, 0, sizeof(*p));
        const char *a = strchr(s, '/');
        const char *v = a ? strchr(a + 1, '/') : NULL;
        if (!a || a == s || !a[1] || a[1] == '/' || (v && (!v[1] || strchr(v + 1, '/'))))
                return nk_error_set(err, 0, "platform `%s`: want os/arch[/variant]", s);
        size_t osl = (size_t)(a - s), archl = v ? (size_t)(v - a - 1) : strlen(a + 1);
        if (osl >= sizeof(p->os) || archl >= sizeof(p->arch) ||
            (v && strlen(v + 1) >= sizeof(p->variant)))
                return nk_error_set(err, 0, "platform `%s`: too long", s);
        memcpy(p->os, s, osl);
        memcpy(p->arch, a + 1, archl);
        if (v)
                snprintf(p->variant, sizeof(p->variant), "%s", v + 1);
        return 0;
}

void nk_platform_host(struct nk_platform *p)
{
        static const struct {
                const char *uname, *arch, *variant;
        } map[] = {
                {"x86_64", "amd64", ""},    {"aarch64", "arm64", ""}, {"armv7l", "arm", "v7"},
                {"armv6l", "arm", "v6"},    {"i686", "386", ""},      {"i386", "386", ""},
                {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""},   {"riscv64", "riscv64", ""},
        };
        struct utsname u;
        memset(p, 0, sizeof(*p));
        snprintf(p->os, sizeof(p->os), "linux");
        if (uname(&u) < 0)
                return;
        snprintf(p->arch, sizeof(p->arch), "%.31s", u.machine);
        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
                if (streq(u.machine, map[i].uname)) {
                        snprintf(p->arch, sizeof(p->arch), "%s", map[i].arch);
                        snprintf(p->variant, sizeof(p->variant), "%s", map[i].variant);
                }
}

static bool variant_matches(const struct nk_platform *want, const struct nk_platform *have)
{
        if (!want->variant[0] || streq(want->variant, have->variant))
                return true;
        /* arm64 images usually leave out their only variant, v8. */
        return streq(want->arch, "arm64") && streq(want->variant, "v8") && !have->variant[0];
}

int nk_index_select(const struct nk_index *ix, const struct nk_platform *p, size_t *out,
                    nk_error **err)
{
        for (size_t i = 0; i < ix->n; i++) {
                const struct nk_platform *h = &ix->manifests[i].platform;
                if (streq(h->os, p->os) && streq(h->arch, p->arch) && variant_matches(p, h) &&
                    is_manifest_type(ix->manifests[i].media_type)) {
                        *out = i;
                        return 0;
                }
        }
        char avail[512] = "";
        for (size_t i = 0, n = 0; i < ix->n; i++) {
                const struct nk_platform *h = &ix->manifests[i].platform;
                if (!h->os[0] || streq(h->os, "unknown"))
                        continue;
                n += (size_t)snprintf(avail + n, n < sizeof(avail) ? sizeof(avail) - n : 0,
                                      "%s%s/%s%s%s", n ? ", " : "", h->os, h->arch,
                                      h->variant[0] ? "/" : "", h->variant);
                if (n >= sizeof(avail))
                        break;
        }
        return nk_error_set(err, 0, "no image for platform %s/%s%s%s (available: %s)", p->os,
                            p->arch, p->variant[0] ? "/" : "", p->variant,
                            avail[0] ? avail : "none");
}
