/* jansson ownership helper for the engine, and error hand-over. */
#pragma once
#include <jansson.h>
#include "util/error.h"

static inline void nk_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_jansson_ __attribute__((cleanup(nk_json_decrefp)))

/* Hand an error we hold to the caller's err (or free it). Returns -1. */
static inline int nk_error_pass(nk_error **err, nk_error *e)
{
        if (err && !*err)
                *err = e;
        else
                nk_error_free(e);
        return -1;
}
