/* libFuzzer target: config.json bytes -> nk_spec_parse. Any input must give
 * either a spec or one error, with no crash, leak or undefined behaviour. */
#include "runtime/spec.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct nk_spec *s = NULL;
        nk_error *err = NULL;
        if (nk_spec_parse((const char *)data, size, "fuzz/config.json", &s, &err) == 0) {
                nk_spec_free(s);
        } else {
                /* every error is one line */
                if (!err || !err->msg || strchr(err->msg, '\n'))
                        __builtin_trap();
                nk_error_free(err);
        }
        return 0;
}
