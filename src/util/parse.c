#include "parse.h"
#include <string.h>

int nk_parse_uint_n(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
        unsigned long long v = 0;
        if (!s || len == 0 || strnlen(s, len) < len)
                return -1;
        for (const char *e = s + len; s < e; s++) {
                unsigned d = (unsigned)(*s - '0');
                if (*s < '0' || *s > '9' || d > max || v > (max - d) / 10)
                        return -1;
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

int nk_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
        return nk_parse_uint_n(s, s ? strlen(s) : 0, max, out);
}

int nk_parse_id(const char *s, uint32_t *out)
{
        unsigned long long v;
        if (nk_parse_uint(s, NK_ID_MAX, &v) < 0)
                return -1;
        *out = (uint32_t)v;
        return 0;
}

int nk_container_id_check(const char *id, nk_error **err)
{
        size_t n = id ? strlen(id) : 0;
        if (n == 0 || id[0] == '.')
                return nk_error_set(err, 0, "invalid container id `%s`", id ? id : "");
        if (n > NK_CONTAINER_ID_MAX)
                return nk_error_set(err, 0, "invalid container id `%.32s...`: longer than %d bytes",
                                    id, NK_CONTAINER_ID_MAX);
        for (const char *p = id; *p; p++)
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
                      ('0' <= *p && *p <= '9') || strchr("_.+-", *p)))
                        return nk_error_set(
                                err, 0, "invalid container id `%s`: only [A-Za-z0-9_.+-] allowed",
                                id);
        return 0;
}

/* One "N" or "A-B" of a CPU list: *end is where it stopped. */
static int cpu_range(const char *s, unsigned long long *a, unsigned long long *b, const char **end)
{
        size_t n = strspn(s, "0123456789");
        if (nk_parse_uint_n(s, n, CPU_SETSIZE - 1, a) < 0)
                return -1;
        s += n;
        *b = *a;
        if (*s == '-') {
                n = strspn(++s, "0123456789");
                if (nk_parse_uint_n(s, n, CPU_SETSIZE - 1, b) < 0 || *b < *a)
                        return -1;
                s += n;
        }
        *end = s;
        return 0;
}

int nk_parse_cpu_list(const char *s, cpu_set_t *set)
{
        cpu_set_t r;
        CPU_ZERO(&r);
        if (!s)
                return -1;
        for (;;) {
                unsigned long long a, b;
                if (cpu_range(s, &a, &b, &s) < 0)
                        return -1;
                for (unsigned long long c = a; c <= b; c++)
                        CPU_SET(c, &r);
                if (!*s)
                        break;
                if (*s++ != ',')
                        return -1;
        }
        if (set)
                *set = r;
        return 0;
}
