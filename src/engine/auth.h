/* Registry credentials in docker-style auth files:
 *   {"auths": {"registry.example.com": {"auth": base64("user:pass")}}}
 * Read from (first hit wins): the --authfile, $REGISTRY_AUTH_FILE,
 * $XDG_CONFIG_HOME/nook/auth.json (~/.config/nook/auth.json),
 * $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json.
 * `nook login` writes the first of the first three that applies. */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>

/* base64 "user:pass" for registry (as written in the ref: docker.io,
 * host:port), or *out = NULL when none is stored. */
int nk_auth_lookup(const char *auth_file, const char *registry, char **out, nk_error **err);
int nk_auth_store(const char *auth_file, const char *registry, const char *user, const char *pass,
                  nk_error **err);
int nk_auth_remove(const char *auth_file, const char *registry, nk_error **err);
/* base64 of len bytes; caller frees. */
char *nk_base64(const void *data, size_t len);

/* A WWW-Authenticate challenge: Bearer realm="...",service="...",scope="..."
 * or Basic realm="...". */
struct nk_challenge {
        char scheme[16]; /* "bearer" or "basic" (lowercase) */
        char *realm, *service, *scope;
};
int nk_challenge_parse(const char *header, struct nk_challenge *c, nk_error **err);
void nk_challenge_clear(struct nk_challenge *c);
