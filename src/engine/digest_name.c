/* Digest names ("sha256:<hex>"): text only, no hashing, so the store
 * code in nook itself needs no OpenSSL (the hashing is in digest.c). */
#include "engine/digest.h"
#include <string.h>

bool nk_digest_valid(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != NK_DIGEST_LEN)
                return false;
        for (const char *p = d + 7; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

const char *nk_digest_hex(const char *d)
{
        return d + 7;
}
