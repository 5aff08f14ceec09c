/* OCI / Docker schema2 image manifests, indexes (manifest lists) and image
 * configs: parsing, validation (errors name the JSON path) and platform
 * selection. Pure code. */
#pragma once
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NK_MT_OCI_INDEX         "application/vnd.oci.image.index.v1+json"
#define NK_MT_DOCKER_LIST       "application/vnd.docker.distribution.manifest.list.v2+json"
#define NK_MT_OCI_MANIFEST      "application/vnd.oci.image.manifest.v1+json"
#define NK_MT_DOCKER_MANIFEST   "application/vnd.docker.distribution.manifest.v2+json"
#define NK_MT_OCI_CONFIG        "application/vnd.oci.image.config.v1+json"
#define NK_MT_DOCKER_CONFIG     "application/vnd.docker.container.image.v1+json"
#define NK_MT_OCI_LAYER         "application/vnd.oci.image.layer.v1.tar"
#define NK_MT_OCI_LAYER_GZIP    "application/vnd.oci.image.layer.v1.tar+gzip"
#define NK_MT_OCI_LAYER_ZSTD    "application/vnd.oci.image.layer.v1.tar+zstd"
#define NK_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
/* Every manifest kind we read, for the Accept header. */
#define NK_MT_ACCEPT                                                                               \
        NK_MT_OCI_INDEX ", " NK_MT_DOCKER_LIST ", " NK_MT_OCI_MANIFEST ", " NK_MT_DOCKER_MANIFEST

enum nk_doc_kind { NK_DOC_UNKNOWN, NK_DOC_INDEX, NK_DOC_MANIFEST };

struct nk_platform {
        char os[32], arch[32], variant[32];
};

struct nk_descriptor {
        char *media_type;
        char *digest;
        int64_t size;
        struct nk_platform platform; /* index entries only */
};

struct nk_manifest {
        char *media_type;
        struct nk_descriptor config;
        struct nk_descriptor *layers;
        size_t n_layers;
};

struct nk_index {
        char *media_type;
        struct nk_descriptor *manifests;
        size_t n;
};

struct nk_config {
        char **diff_ids;
        size_t n_diff_ids;
        struct nk_platform platform;
        char *created;
        json_t *root; /* the whole document */
};

/* What a document is: from its mediaType field, else the HTTP content type,
 * else its shape. *media_type: the type found (static or pointing into the
 * parsed value: use before json is freed). Schema 1 and unknown types are
 * errors naming the type. */
int nk_doc_kind(json_t *doc, const char *content_type, const char **media_type, nk_error **err);
int nk_manifest_parse(const char *body, size_t len, const char *content_type, struct nk_manifest *m,
                      nk_error **err);
int nk_index_parse(const char *body, size_t len, const char *content_type, struct nk_index *ix,
                   nk_error **err);
int nk_config_parse(const char *body, size_t len, struct nk_config *c, nk_error **err);
void nk_manifest_clear(struct nk_manifest *m);
void nk_index_clear(struct nk_index *ix);
void nk_config_clear(struct nk_config *c);

bool nk_layer_media_supported(const char *mt);

/* "os/arch[/variant]" */
int nk_platform_parse(const char *s, struct nk_platform *p, nk_error **err);
void nk_platform_host(struct nk_platform *p);
/* The index entry for platform p; an error lists the platforms available. */
int nk_index_select(const struct nk_index *ix, const struct nk_platform *p, size_t *out,
                    nk_error **err);
