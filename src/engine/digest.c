#include "engine/digest.h"
#include "engine/store.h"
#include "util/cleanup.h"
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

int nk_sha256_init(struct nk_sha256 *h, nk_error **err)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(c);
                return nk_error_set(err, ENOMEM, "initialise sha256");
        }
        h->ctx = c;
        return 0;
}

void nk_sha256_update(struct nk_sha256 *h, const void *data, size_t len)
{
        /* EVP_DigestUpdate on an initialised sha256 context cannot fail. */
        (void)EVP_DigestUpdate(h->ctx, data, len);
}

void nk_sha256_final(struct nk_sha256 *h, char out[NK_DIGEST_LEN + 1])
{
        static const char hex[] = "0123456789abcdef";
        unsigned char md[32];
        unsigned int n = 0;
        (void)EVP_DigestFinal_ex(h->ctx, md, &n);
        memcpy(out, "sha256:", 7);
        for (unsigned i = 0; i < 32; i++) {
                out[7 + 2 * i] = hex[md[i] >> 4];
                out[8 + 2 * i] = hex[md[i] & 15];
        }
        out[NK_DIGEST_LEN] = '\0';
        nk_sha256_free(h);
}

void nk_sha256_free(struct nk_sha256 *h)
{
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
}

int nk_sha256_of(const void *data, size_t len, char out[NK_DIGEST_LEN + 1], nk_error **err)
{
        struct nk_sha256 h;
        if (nk_sha256_init(&h, err) < 0)
                return -1;
        nk_sha256_update(&h, data, len);
        nk_sha256_final(&h, out);
        return 0;
}

int nk_sha256_fd(int fd, struct nk_sha256 *h, uint64_t *size, nk_error **err)
{
        char buf[65536];
        uint64_t off = 0;
        for (;;) {
                ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return nk_error_set(err, errno, "read for sha256");
                if (n == 0)
                        break;
                nk_sha256_update(h, buf, (size_t)n);
                off += (uint64_t)n;
        }
        if (size)
                *size = off;
        return 0;
}

/* The one-shot check of a blob read whole from the store (store.h). */
static int verify_blob(const void *data, size_t len, const char *digest, nk_error **err)
{
        char got[NK_DIGEST_LEN + 1];
        if (nk_sha256_of(data, len, got, err) < 0)
                return -1;
        if (!streq(got, digest))
                return nk_error_set(err, 0, "blob %s is corrupt (content hashes to %s)", digest,
                                    got);
        return 0;
}

/* Loading the engine module (or linking libengine) turns the check on. */
__attribute__((constructor)) static void install_verify(void)
{
        nk_store_blob_verify = verify_blob;
}
