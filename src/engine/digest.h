/* sha256 content digests ("sha256:<64 hex>") with OpenSSL's EVP interface. */
#pragma once
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NK_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct nk_sha256 {
        void *ctx; /* EVP_MD_CTX */
};

int nk_sha256_init(struct nk_sha256 *h, nk_error **err);
void nk_sha256_update(struct nk_sha256 *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (NK_DIGEST_LEN + 1 bytes) and frees the context. */
void nk_sha256_final(struct nk_sha256 *h, char out[NK_DIGEST_LEN + 1]);
void nk_sha256_free(struct nk_sha256 *h);
int nk_sha256_of(const void *data, size_t len, char out[NK_DIGEST_LEN + 1], nk_error **err);
/* Hash a whole fd from offset 0 (does not move the fd's offset). */
int nk_sha256_fd(int fd, struct nk_sha256 *h, uint64_t *size, nk_error **err);

/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool nk_digest_valid(const char *d);
/* The 64 hex digits of a valid digest (a pointer into d). */
const char *nk_digest_hex(const char *d);
