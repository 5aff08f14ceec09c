/* Bandwidth rates as tc and Docker write them (util/rate.h). */
#include "util/rate.h"
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

struct rate_unit {
        const char *name;
        uint64_t bits; /* bits per second of one unit */
};

static const struct rate_unit rate_units[] = {
        {"bit", 1},
        {"kbit", 1000ULL},
        {"mbit", 1000000ULL},
        {"gbit", 1000000000ULL},
        {"tbit", 1000000000000ULL},
        {"kibit", 1ULL << 10},
        {"mibit", 1ULL << 20},
        {"gibit", 1ULL << 30},
        {"tibit", 1ULL << 40},
        {"bps", 8},
        {"kbps", 8000ULL},
        {"mbps", 8000000ULL},
        {"gbps", 8000000000ULL},
        {"tbps", 8000000000000ULL},
        {"kibps", 8ULL << 10},
        {"mibps", 8ULL << 20},
        {"gibps", 8ULL << 30},
        {"tibps", 8ULL << 40},
        {0},
};

/* digits[.digits] into an integer part and a fraction num/den (den a power
 * of ten up to 10^18); *end at the first other character. */
static int parse_decimal(const char *s, uint64_t *whole, uint64_t *num, uint64_t *den,
                         const char **end)
{
        const char *p = s;
        uint64_t w = 0, n = 0, d = 1;
        bool any = false;
        for (; *p >= '0' && *p <= '9'; p++, any = true) {
                if (w > (UINT64_MAX - 9) / 10)
                        return -1;
                w = w * 10 + (uint64_t)(*p - '0');
        }
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++, any = true)
                        if (d < 1000000000000000000ULL) { /* finer digits cannot matter */
                                n = n * 10 + (uint64_t)(*p - '0');
                                d *= 10;
                        }
        }
        if (!any)
                return -1;
        *whole = w;
        *num = n;
        *den = d;
        *end = p;
        return 0;
}

int nk_rate_parse(const char *text, uint64_t *bits, nk_error **err)
{
        if (!text || !*text)
                return nk_error_set(err, 0,
                                    "rate ``: empty (a number and a unit: 10mbit, 500kbps)");
        if (strcasecmp(text, "none") == 0) {
                *bits = 0;
                return 0;
        }
        uint64_t w, n, d;
        const char *unit;
        if (parse_decimal(text, &w, &n, &d, &unit) < 0)
                return nk_error_set(err, 0, "rate `%s`: not a number and a unit (10mbit, 500kbps)",
                                    text);
        const struct rate_unit *u = *unit ? NULL : &rate_units[0];
        for (const struct rate_unit *k = rate_units; !u && k->name; k++)
                if (strcasecmp(k->name, unit) == 0)
                        u = k;
        if (!u)
                return nk_error_set(err, 0,
                                    "rate `%s`: unknown unit `%s` (bit, kbit, mbit, gbit, tbit, "
                                    "bps, kbps, mbps, gbps, tbps, or kibit, mibps... for 1024)",
                                    text, unit);
        /* whole * unit + fraction * unit, in 128 bits: no overflow to hide */
        unsigned __int128 v = (unsigned __int128)w * u->bits + (unsigned __int128)n * u->bits / d;
        if (w == 0 && n == 0) {
                *bits = 0;
                return 0;
        }
        if (v > NK_RATE_MAX)
                return nk_error_set(err, 0, "rate `%s`: above the largest, 1tbit", text);
        if (v < NK_RATE_MIN)
                return nk_error_set(err, 0, "rate `%s`: below the smallest, 8bit (1 byte/s)", text);
        *bits = (uint64_t)v;
        return 0;
}

void nk_rate_format(uint64_t bits, char out[NK_RATE_STR_MAX])
{
        static const struct rate_unit dec[] = {
                {"tbit", 1000000000000ULL},
                {"gbit", 1000000000ULL},
                {"mbit", 1000000ULL},
                {"kbit", 1000ULL},
                {"bit", 1},
        };
        if (bits == 0) {
                snprintf(out, NK_RATE_STR_MAX, "none");
                return;
        }
        for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++)
                if (bits % dec[i].bits == 0) {
                        snprintf(out, NK_RATE_STR_MAX, "%llu%s",
                                 (unsigned long long)(bits / dec[i].bits), dec[i].name);
                        return;
                }
}
