#include "strv.h"
#include <stdlib.h>
#include <string.h>

size_t nk_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void nk_strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

char **nk_strv_dup(char *const *v)
{
        size_t n = nk_strv_len(v);
        char **r = calloc(n + 1, sizeof(char *));
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                r[i] = strdup(v[i]);
                if (!r[i]) {
                        nk_strv_free(r);
                        return NULL;
                }
        }
        return r;
}

int nk_strv_push(char ***v, const char *s)
{
        size_t n = nk_strv_len(*v);
        char **r = realloc(*v, (n + 2) * sizeof(char *));
        if (!r)
                return -1;
        *v = r;
        r[n] = strdup(s);
        r[n + 1] = NULL;
        return r[n] ? 0 : -1;
}

bool nk_strv_contains(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}
