/* Image references: [domain/]path[:tag][@sha256:hex], normalised like
 * docker: no domain means docker.io, a one-component docker.io path gets
 * library/, and no tag or digest means :latest. */
#pragma once
#include "util/error.h"

struct nk_ref {
        char *domain; /* "docker.io", "127.0.0.1:5000" */
        char *path;   /* "library/busybox" */
        char *tag;    /* NULL when only a digest was given */
        char *digest; /* NULL or "sha256:..." */
};

int nk_ref_parse(const char *s, struct nk_ref *r, nk_error **err);
void nk_ref_clear(struct nk_ref *r);
/* "domain/path" */
char *nk_ref_repo(const struct nk_ref *r);
/* The store key: "domain/path@digest" when a digest was given, else
 * "domain/path:tag". */
char *nk_ref_key(const struct nk_ref *r);
/* docker.io/library/x -> x, docker.io/u/x -> u/x; others unchanged. */
const char *nk_ref_familiar(const char *repo);
/* Split a store key into repository and tag-or-digest ("latest",
 * "sha256:..."); *sep is ':' or '@'. Returns the repository (caller frees). */
char *nk_ref_key_split(const char *key, const char **suffix, char *sep);
/* The host to contact for a domain (docker.io -> registry-1.docker.io). */
const char *nk_ref_registry_host(const char *domain);
