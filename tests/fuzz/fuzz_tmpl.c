/* libFuzzer target: --format template text -> the parser, then the
 * template run over an inspect-like object. Each must succeed or fail with
 * a one-line message, never crash, hang or leak. */
#include "engine/gotmpl.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *dot;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!dot)
                dot = json_loads(
                        "{\"Name\":\"/web\",\"State\":{\"Pid\":42,\"Running\":true},"
                        "\"Config\":{\"Cmd\":[\"sh\",\"-c\",\"x\"],\"Labels\":{\"a\":\"1\"}},"
                        "\"Mounts\":[{\"Type\":\"bind\"}],\"N\":3,\"R\":0.25,\"Z\":null}",
                        0, NULL);
        if (size > 4096) /* a --format is a line; nested ranges over 4 KiB only grow output */
                return 0;
        char *text = strndup((const char *)data, size);
        nk_error *err = NULL;
        struct nk_tmpl *t = text ? nk_tmpl_parse(text, &err) : NULL;
        if (text && !t && (!err || !err->msg || strchr(err->msg, '\n')))
                __builtin_trap();
        char *out = t ? nk_tmpl_exec(t, dot, &err) : NULL;
        if (t && !out && (!err || !err->msg))
                __builtin_trap();
        nk_error_free(err);
        free(out);
        nk_tmpl_free(t);
        free(text);
        return 0;
}
