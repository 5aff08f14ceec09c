/* jansson ownership helper for the engine (error hand-over: nk_error_pass
 * in util/error.h). */
#pragma once
#include "util/error.h"
#include <jansson.h>

static inline void nk_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_jansson_ __attribute__((cleanup(nk_json_decrefp)))
