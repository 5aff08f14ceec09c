/* NULL-terminated string vectors. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
size_t nk_strv_len(char *const *v);
void nk_strv_free(char **v);
char **nk_strv_dup(char *const *v);
/* Append a copy of s; returns 0 or -1 (ENOMEM). */
int nk_strv_push(char ***v, const char *s);
bool nk_strv_contains(char *const *v, const char *s);
