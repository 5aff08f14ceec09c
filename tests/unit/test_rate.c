/* Bandwidth rates (util/rate.h, net/tc.h): parsing as tc and Docker write them, the
 * shortest spelling back, and the tbf shape chosen for a rate. */
#include "net/tc.h"
#include "unit.h"
#include "util/rate.h"

static uint64_t rate(const char *s)
{
        uint64_t v = 12345;
        nk_error *err = NULL;
        if (nk_rate_parse(s, &v, &err) < 0) {
                fprintf(stderr, "rate %s: %s\n", s, err->msg);
                nk_error_free(err);
                unit_failures++;
        }
        return v;
}

/* The refusal's message, which must name the text. */
static char *refused(const char *s)
{
        static char msg[256];
        uint64_t v = 777;
        nk_error *err = NULL;
        if (nk_rate_parse(s, &v, &err) == 0) {
                fprintf(stderr, "rate %s: accepted as %llu\n", s, (unsigned long long)v);
                unit_failures++;
                return "";
        }
        CHECK(v == 777); /* output untouched on failure */
        CHECK(err && err->errno_ == 0);
        snprintf(msg, sizeof(msg), "%s", err ? err->msg : "");
        nk_error_free(err);
        return msg;
}

static char *fmt(uint64_t bits)
{
        static char buf[NK_RATE_STR_MAX];
        nk_rate_format(bits, buf);
        return buf;
}

static void test_units(void)
{
        CHECK(rate("10mbit") == 10000000);
        CHECK(rate("5MBit") == 5000000);
        CHECK(rate("1000") == 1000); /* a bare number is bits, as in tc */
        CHECK(rate("800bit") == 800);
        CHECK(rate("64kbit") == 64000);
        CHECK(rate("2gbit") == 2000000000ULL);
        CHECK(rate("1tbit") == 1000000000000ULL);
        CHECK(rate("1kibit") == 1024);
        CHECK(rate("1mibit") == 1048576);
        CHECK(rate("1gibit") == 1073741824ULL);
        CHECK(rate("100bps") == 800); /* bytes */
        CHECK(rate("500kbps") == 4000000);
        CHECK(rate("1MBps") == 8000000);
        CHECK(rate("1gbps") == 8000000000ULL);
        CHECK(rate("2kibps") == 16384);
        CHECK(rate("1mibps") == 8388608);
}

static void test_decimal_and_none(void)
{
        CHECK(rate("1.5mbit") == 1500000);
        CHECK(rate("0.5kbit") == 500);
        CHECK(rate(".25mbit") == 250000);
        CHECK(rate("2.mbit") == 2000000);
        CHECK(rate("0.001mbit") == 1000);
        CHECK(rate("1.0000000000000000000001mbit") == 1000000); /* digits past 10^-18 */
        CHECK(rate("0") == 0);
        CHECK(rate("0mbit") == 0);
        CHECK(rate("0.0") == 0);
        CHECK(rate("none") == 0);
        CHECK(rate("NONE") == 0);
}

static void test_refused(void)
{
        CHECK(strstr(refused("10mbits"), "`10mbits`: unknown unit `mbits`"));
        CHECK(strstr(refused("10 mbit"), "unknown unit ` mbit`"));
        CHECK(strstr(refused("-5mbit"), "`-5mbit`: not a number"));
        CHECK(strstr(refused("+5mbit"), "not a number"));
        CHECK(strstr(refused("mbit"), "`mbit`: not a number"));
        CHECK(strstr(refused("."), "not a number"));
        CHECK(strstr(refused(""), "empty"));
        CHECK(strstr(refused("1e6"), "unknown unit `e6`"));
        CHECK(strstr(refused("0x10"), "unknown unit `x10`"));
        CHECK(strstr(refused("1.2.3mbit"), "unknown unit `.3mbit`"));
        CHECK(strstr(refused("10mbit "), "unknown unit"));
        CHECK(strstr(refused("1.5tbit"), "`1.5tbit`: above the largest, 1tbit"));
        CHECK(strstr(refused("2tbps"), "above"));
        CHECK(strstr(refused("99999999999999999999999bit"), "not a number")); /* past 64 bits */
        CHECK(strstr(refused("1844674407370955161tbit"), "above")); /* 64-bit multiply overflows */
        CHECK(strstr(refused("7"), "`7`: below the smallest, 8bit"));
        CHECK(strstr(refused("0.5bps"), "below"));
        CHECK(strstr(refused("0.1bps"), "below")); /* not zero: a limit too small to keep */
        CHECK(strstr(refused("nonee"), "not a number"));
        uint64_t v;
        CHECK(nk_rate_parse(NULL, &v, NULL) < 0);
}

static void test_format(void)
{
        CHECK_STR(fmt(0), "none");
        CHECK_STR(fmt(10000000), "10mbit");
        CHECK_STR(fmt(1500000), "1500kbit");
        CHECK_STR(fmt(12345), "12345bit");
        CHECK_STR(fmt(2000000000ULL), "2gbit");
        CHECK_STR(fmt(1000000000000ULL), "1tbit");
        CHECK_STR(fmt(8388608), "8388608bit");
        /* what parse accepts, format gives back exactly */
        const char *texts[] = {"10mbit", "64kbit", "1.5gbit", "500kbps", "3kibit", "8bit", NULL};
        for (size_t i = 0; texts[i]; i++)
                CHECK(rate(fmt(rate(texts[i]))) == rate(texts[i]));
}

static void test_tbf_shape(void)
{
        struct nk_tbf t;
        nk_tbf_for(10000000, 1500, &t); /* 10mbit: 1.25 MB/s */
        CHECK(t.bytes_per_sec == 1250000);
        CHECK(t.burst == 12500);          /* 10 ms */
        CHECK(t.limit == 12500 + 125000); /* + 100 ms */
        nk_tbf_for(1000000, 1500, &t);    /* 125 kB/s: the floors hold */
        CHECK(t.burst == 8192 && t.limit == 8192 + 32768);
        nk_tbf_for(1000000, 9000, &t); /* jumbo frames: two fit in the bucket */
        CHECK(t.burst == 2 * (9000 + 14));
        nk_tbf_for(8000000000000ULL / 8, 0, &t); /* 1tbit: capped, no u32 overflow */
        CHECK(t.bytes_per_sec == 125000000000ULL);
        CHECK(t.burst == 16U << 20 && t.limit == (16U << 20) + (32U << 20));
        nk_tbf_for(9, 1500, &t); /* 9 bit/s rounds up to 2 bytes/s, never 0 */
        CHECK(t.bytes_per_sec == 2);
        nk_tbf_for(8, 1500, &t);
        CHECK(t.bytes_per_sec == 1 && t.limit > t.burst);
}

int main(void)
{
        test_units();
        test_decimal_and_none();
        test_refused();
        test_format();
        test_tbf_shape();
        return UNIT_END();
}
