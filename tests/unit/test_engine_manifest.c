/* Manifests, indexes, configs and platform selection. */
#include "engine/manifest.h"
#include "unit.h"
#include <stdlib.h>
#include <string.h>

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char oci_manifest[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
        "\",\"size\":10},\"layers\":[{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar+gzip\","
        "\"digest\":\"" D2
        "\",\"size\":20},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
        "\"digest\":\"" D3 "\",\"size\":30}]}";

static void manifests(void)
{
        struct nk_manifest m;
        nk_error *err = NULL;
        CHECK(nk_manifest_parse(oci_manifest, sizeof(oci_manifest) - 1, NULL, &m, &err) == 0);
        CHECK(m.n_layers == 2);
        CHECK_STR(m.config.digest, D1);
        CHECK_STR(m.layers[1].media_type, NK_MT_OCI_LAYER_ZSTD);
        CHECK(m.layers[1].size == 30);
        nk_manifest_clear(&m);

        /* Docker schema2 without a mediaType field: the content type says. */
        const char docker[] =
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
                "\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D1
                "\",\"size\":1},"
                "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
                "\"digest\":\"" D2 "\",\"size\":2}]}";
        CHECK(nk_manifest_parse(docker, sizeof(docker) - 1, NK_MT_DOCKER_MANIFEST, &m, NULL) == 0);
        CHECK_STR(m.media_type, NK_MT_DOCKER_MANIFEST);
        nk_manifest_clear(&m);

        struct {
                const char *doc, *msg;
        } bad[] = {
                {"{\"schemaVersion\":1,\"fsLayers\":[]}", "schema 1"},
                {"{\"mediaType\":\"application/x-unknown\"}",
                 "`application/x-unknown` is not supported"},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
                 "vnd.oci.image.config.v1+json\","
                 "\"digest\":\"sha256:xyz\",\"size\":1},\"layers\":[]}",
                 "config.digest"},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
                 "vnd.oci.image.config.v1+json\","
                 "\"digest\":\"" D1
                 "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-foreign\","
                 "\"digest\":\"" D2 "\",\"size\":1}]}",
                 "layers[0].mediaType `application/x-foreign`"},
                {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
                 "vnd.oci.image.config.v1+json\","
                 "\"digest\":\"" D1 "\",\"size\":-4},\"layers\":[]}",
                 "config.size"},
                {"[1,2]", "not a JSON object"},
                {"{\"a\":1,\"a\":2}", "invalid JSON"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                nk_error *e = NULL;
                CHECK(nk_manifest_parse(bad[i].doc, strlen(bad[i].doc), NULL, &m, &e) < 0);
                CHECK(e && strstr(e->msg, bad[i].msg));
                if (e && !strstr(e->msg, bad[i].msg))
                        fprintf(stderr, "  message: %s\n", e->msg);
                nk_error_free(e);
        }
}

static const char index_doc[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/"
        "vnd.oci.image.index.v1+json\",\"manifests\":["
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1
        "\",\"size\":1,"
        " \"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2
        "\",\"size\":1,"
        " \"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3
        "\",\"size\":1,"
        " \"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";

static const char *pick(const struct nk_index *ix, const char *plat)
{
        struct nk_platform p;
        size_t i;
        if (nk_platform_parse(plat, &p, NULL) < 0 || nk_index_select(ix, &p, &i, NULL) < 0)
                return NULL;
        return ix->manifests[i].digest;
}

static void indexes(void)
{
        struct nk_index ix;
        CHECK(nk_index_parse(index_doc, sizeof(index_doc) - 1, NULL, &ix, NULL) == 0);
        CHECK(ix.n == 3);
        CHECK_STR(pick(&ix, "linux/amd64"), D1);
        CHECK_STR(pick(&ix, "linux/arm/v7"), D2);
        CHECK_STR(pick(&ix, "linux/arm64/v8"), D3);
        CHECK_STR(pick(&ix, "linux/arm64"), D3);
        CHECK(pick(&ix, "linux/arm/v6") == NULL);
        struct nk_platform p;
        size_t i;
        nk_error *e = NULL;
        nk_platform_parse("linux/s390x", &p, NULL);
        CHECK(nk_index_select(&ix, &p, &i, &e) < 0);
        CHECK(e && strstr(e->msg, "available: linux/amd64, linux/arm/v7, linux/arm64"));
        nk_error_free(e);
        nk_index_clear(&ix);
        const char *badp[] = {"linux", "/amd64", "linux/", "a/b/c/d", "linux//v7", NULL};
        for (const char **b = badp; *b; b++)
                CHECK(nk_platform_parse(*b, &p, NULL) < 0);
        nk_platform_host(&p);
        CHECK_STR(p.os, "linux");
        CHECK(p.arch[0] != '\0');
}

/* This build's machine picks its own entry of an index that lists amd64
 * first and arm/v7 before arm64: the arm64 build (run by qemu-user or on
 * the arm64 guest's kernel) takes the arm64 image, not the first or the
 * 32-bit arm one. uname(2) answers for the machine the binary runs on. */
static void host_platform(void)
{
        struct nk_index ix;
        struct nk_platform p;
        size_t i = 99;
        CHECK(nk_index_parse(index_doc, sizeof(index_doc) - 1, NULL, &ix, NULL) == 0);
        nk_platform_host(&p);
        CHECK(nk_index_select(&ix, &p, &i, NULL) == 0);
#if defined(__aarch64__)
        CHECK_STR(p.arch, "arm64");
        CHECK_STR(ix.manifests[i].digest, D3);
#elif defined(__x86_64__)
        CHECK_STR(p.arch, "amd64");
        CHECK_STR(ix.manifests[i].digest, D1);
#endif
        nk_index_clear(&ix);
}

static void configs(void)
{
        const char doc[] =
                "{\"architecture\":\"arm64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
                "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
        struct nk_config c;
        CHECK(nk_config_parse(doc, sizeof(doc) - 1, &c, NULL) == 0);
        CHECK(c.n_diff_ids == 2);
        CHECK_STR(c.diff_ids[1], D2);
        CHECK_STR(c.platform.arch, "arm64");
        CHECK_STR(c.created, "2024-01-01T00:00:00Z");
        nk_config_clear(&c);
        const char bad[] = "{\"rootfs\":{\"diff_ids\":[\"sha256:nothex\"]}}";
        nk_error *e = NULL;
        CHECK(nk_config_parse(bad, sizeof(bad) - 1, &c, &e) < 0);
        CHECK(e && strstr(e->msg, "rootfs.diff_ids[0]"));
        nk_error_free(e);
}

int main(void)
{
        manifests();
        indexes();
        host_platform();
        configs();
        return UNIT_END();
}
