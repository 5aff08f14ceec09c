/* libFuzzer target: registry documents and strings -> the manifest, index
 * and config parsers, platform selection, reference and WWW-Authenticate
 * parsing. Each must accept or return an error, never crash or leak.
 * (Messages quote the offending value, which may itself hold a newline.) */
#include "engine/auth.h"
#include "engine/manifest.h"
#include "engine/ref.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nk_error *take(nk_error **e)
{
        nk_error *r = *e;
        *e = NULL;
        return r;
}

static void check(int r, nk_error *err)
{
        if (r < 0 && (!err || !err->msg))
                __builtin_trap();
        nk_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        nk_error *err = NULL;
        struct nk_manifest m;
        int r = nk_manifest_parse(s, size, NULL, &m, &err);
        if (r == 0)
                nk_manifest_clear(&m);
        check(r, take(&err));
        struct nk_index ix;
        r = nk_index_parse(s, size, NULL, &ix, &err);
        if (r == 0) {
                struct nk_platform p;
                size_t pick;
                nk_error *e2 = NULL;
                nk_platform_host(&p);
                check(nk_index_select(&ix, &p, &pick, &e2), e2);
                nk_index_clear(&ix);
        }
        check(r, take(&err));
        struct nk_config c;
        r = nk_config_parse(s, size, &c, &err);
        if (r == 0)
                nk_config_clear(&c);
        check(r, take(&err));
        char *str = strndup(s, size);
        if (!str)
                return 0;
        struct nk_ref ref;
        r = nk_ref_parse(str, &ref, &err);
        if (r == 0) {
                free(nk_ref_key(&ref));
                nk_ref_clear(&ref);
        }
        check(r, take(&err));
        struct nk_challenge ch;
        r = nk_challenge_parse(str, &ch, &err);
        if (r == 0)
                nk_challenge_clear(&ch);
        check(r, take(&err));
        struct nk_platform p;
        check(nk_platform_parse(str, &p, &err), take(&err));
        free(str);
        return 0;
}
