#include "parse.h"

int nk_parse_id(const char *s, uint32_t *out)
{
        uint64_t v = 0;
        if (!s || !*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -1;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > NK_ID_MAX)
                        return -1;
        }
        *out = (uint32_t)v;
        return 0;
}
