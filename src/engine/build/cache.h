/* The build cache (cache.c): step key -> {"created": T, "layer":
 * {digest, diff_id, size, mediaType} or absent}. */
#pragma once
#include "engine/store.h"
#include <jansson.h>

/* The whole cache (an empty object when absent or unreadable). */
json_t *nk_build_cache_read(struct nk_store *s);
/* Merge entries into the file (under its lock); entries is emptied. */
int nk_build_cache_add(struct nk_store *s, json_t *entries, nk_error **err);
/* Call mark for every layer the cache names (garbage collection). */
void nk_build_cache_mark(struct nk_store *s,
                         void (*mark)(const char *blob, const char *diff_id, void *data),
                         void *data);
