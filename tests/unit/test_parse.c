/* Numbers from the command line: uids/gids (nk_parse_id, used by exec's
 * --user and --additional-gids) and signals (nk_signal_parse, kill). */
#include "runtime/container.h"
#include "runtime/state.h"
#include "unit.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/mountinfo.h"
#include "util/parse.h"
#include <signal.h>
#include <stdlib.h>

static void test_ids(void)
{
        static const struct {
                const char *s;
                long long want; /* -1: refused */
        } cases[] = {
                {"0", 0},
                {"1000", 1000},
                {"65534", 65534},
                {"2147483647", 2147483647},
                {"007", 7},
                /* (uid_t)-1 means "unchanged" to setresuid: never an id */
                {"4294967295", -1},
                {"2147483648", -1},
                {"4294967296", -1},
                {"18446744073709551615", -1},
                {"99999999999999999999999", -1},
                {"-1", -1},
                {"+5", -1},
                {" 5", -1},
                {"5 ", -1},
                {"5x", -1},
                {"0x10", -1},
                {"", -1},
                {"1e3", -1},
                {"1,2", -1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                uint32_t v = 12345;
                int r = nk_parse_id(cases[i].s, &v);
                if (cases[i].want < 0) {
                        CHECK(r < 0 && v == 12345);
                        if (r == 0)
                                fprintf(stderr, "  accepted id \"%s\"\n", cases[i].s);
                } else {
                        CHECK(r == 0 && v == (uint32_t)cases[i].want);
                }
        }
        uint32_t v;
        CHECK(nk_parse_id(NULL, &v) < 0);
}

static void test_signals(void)
{
        static const struct {
                const char *s;
                int want;
        } cases[] = {
                {"9", SIGKILL},       {"KILL", SIGKILL},  {"SIGKILL", SIGKILL},
                {"sigterm", SIGTERM}, {"hup", SIGHUP},    {"15", SIGTERM},
                {"64", 64},           {"0", -1},          {"65", -1},
                {"-9", -1},           {"+9", -1},         {" 9", -1},
                {"9x", -1},           {"", -1},           {"SIG", -1},
                {"KILLX", -1},        {"4294967305", -1}, {"99999999999999999999", -1},
                {"SIGFOO", -1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                int got = nk_signal_parse(cases[i].s);
                CHECK(got == cases[i].want);
                if (got != cases[i].want)
                        fprintf(stderr, "  \"%s\": got %d, want %d\n", cases[i].s, got,
                                cases[i].want);
        }
        CHECK(nk_signal_parse("RTMIN") == SIGRTMIN);
        CHECK(nk_signal_parse("SIGRTMIN+3") == SIGRTMIN + 3);
        CHECK(nk_signal_parse("RTMAX-2") == SIGRTMAX - 2);
        CHECK(nk_signal_parse("RTMAX") == SIGRTMAX);
        CHECK(nk_signal_parse("RTMAX+1") == -1);
        CHECK(nk_signal_parse("RTMIN-1") == -1);
        /* an offset that wraps to 0 in 32 bits is not RTMIN */
        CHECK(nk_signal_parse("RTMIN+4294967296") == -1);
        CHECK(nk_signal_parse("RTMIN+18446744073709551616") == -1);
        CHECK(nk_signal_parse("RTMIN3") == -1);
        CHECK(nk_signal_parse("RTMIN+") == -1);
        CHECK(nk_signal_parse("RTMIN+ 3") == -1);
}

/* Error lines stay one line whatever a user string held. */
static void test_escape(void)
{
        static const struct {
                const char *in, *want;
        } cases[] = {
                {"plain `text` 100%", "plain `text` 100%"},
                {"a\nb\rc\td", "a\\nb\\rc\\td"},
                {"\x01\x1b[31m\x7f", "\\x01\\x1b[31m\\x7f"},
                {"x\xe2\x80\xa8y\xe2\x80\xa9z", "x\\u2028y\\u2029z"},
                {"\xc2\x85\xc2\x9b", "\\u0085\\u009b"},
                {"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80",
                 "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80"},
                {"\xe2\x80", "\\xe2\\x80"}, /* cut sequence: shown, no overread */
                /* not UTF-8: a stray byte, overlong, a surrogate, above U+10FFFF */
                {"a\xff"
                 "b",
                 "a\\xffb"},
                {"\xc0\xaf", "\\xc0\\xaf"},
                {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
                {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
                {"\xf4\x8f\xbf\xbf\xe0\xa0\x80", "\xf4\x8f\xbf\xbf\xe0\xa0\x80"},
                {"already \\n escaped", "already \\n escaped"},
                {"", ""},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                char *got = nk_log_escape(cases[i].in);
                CHECK_STR(got, cases[i].want);
                free(got);
        }
}

/* A state that could not be read names why in its `reason`, escaped as
 * an error line: the bytes that made it unreadable are shown, and the
 * reason is still a JSON string (jansson refuses text not in UTF-8). */
static void test_state_reason(void)
{
        json_t *o = nk_state_unknown_json("c1", "unknown", "bad byte \x01 then \xff\n");
        const char *r = json_string_value(json_object_get(o, "reason"));
        CHECK_STR(r, "bad byte \\x01 then \\xff\\n");
        json_decref(o);
}

/* One container id rule for the runtime (state dir) and the engine
 * (store): same answer, errno 0 (a validation error, not a syscall's). */
static void test_container_ids(void)
{
        char longest[NK_CONTAINER_ID_MAX + 2];
        memset(longest, 'a', sizeof longest);
        longest[NK_CONTAINER_ID_MAX] = '\0';
        static const char *const good[] = {"a", "web-1", "a+b", "x_y.z", "-lead", "A9"};
        for (size_t i = 0; i < sizeof good / sizeof *good; i++)
                CHECK(nk_container_id_check(good[i], NULL) == 0);
        CHECK(nk_container_id_check(longest, NULL) == 0);
        longest[NK_CONTAINER_ID_MAX] = 'a';
        longest[NK_CONTAINER_ID_MAX + 1] = '\0';
        static const char *const bad[] = {"",    ".",   "..",  ".hidden",
                                          "a/b", "a b", "a:b", "\xc3\xa9"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                nk_error *e = NULL;
                CHECK(nk_container_id_check(bad[i], &e) < 0 && e && e->errno_ == 0);
                nk_error_free(e);
        }
        nk_error *e = NULL;
        CHECK(nk_container_id_check(longest, &e) < 0 && e && e->errno_ == 0);
        CHECK(e && strstr(e->msg, "longer than 255 bytes"));
        nk_error_free(e);
}

static void test_uint(void)
{
        static const struct {
                const char *s;
                unsigned long long max;
                long long want; /* -1: refused */
        } cases[] = {
                {"0", 10, 0},
                {"10", 10, 10},
                {"11", 10, -1},
                {"9", 5, -1},
                {"65536", 65536, 65536},
                {"65537", 65536, -1},
                {"18446744073709551615", ~0ULL, -2},
                {"18446744073709551616", ~0ULL, -1},
                {"99999999999999999999999", ~0ULL, -1},
                {"", 10, -1},
                {"-1", 10, -1},
                {"+1", 10, -1},
                {" 1", 10, -1},
                {"1 ", 10, -1},
                {"3x", 10, -1},
                {"0x1", 10, -1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                unsigned long long v = 777;
                int r = nk_parse_uint(cases[i].s, cases[i].max, &v);
                if (cases[i].want == -1)
                        CHECK(r < 0 && v == 777);
                else if (cases[i].want == -2)
                        CHECK(r == 0 && v == ~0ULL);
                else
                        CHECK(r == 0 && v == (unsigned long long)cases[i].want);
                if ((r == 0) != (cases[i].want != -1))
                        fprintf(stderr, "  nk_parse_uint(\"%s\") = %d\n", cases[i].s, r);
        }
}

/* The one mountinfo parser (cgroup layout and rootfs code alike). */
static int collect(const struct nk_mountinfo_entry *e, void *data)
{
        char *out = data;
        size_t n = strlen(out);
        snprintf(out + n, 1024 - n, "%u/%u %u:%u [%s] [%s] %s %s %s|", e->id, e->parent, e->major,
                 e->minor, e->root, e->mountpoint, e->fstype, e->source, e->superopts);
        return 0;
}

static void test_mountinfo(void)
{
        static const char text[] =
                "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
                "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                /* escaped space and backslash; no optional fields */
                "41 30 0:38 /a\\040b /x\\134y rw - tmpfs none rw\n"
                /* malformed: skipped */
                "garbage\n"
                "42 30 0:39 / /m rw shared:2\n"
                "4x 30 0:39 / /m rw - tmpfs none rw\n"
                "43 30 0:ff / /m rw - tmpfs none rw\n"
                "99999999999 30 0:1 / /m rw - tmpfs none rw\n";
        char out[1024] = "";
        CHECK(nk_mountinfo_foreach(text, collect, out) == 0);
        CHECK_STR(out, "36/35 98:0 [/mnt1] [/mnt2] ext3 /dev/root rw,errors=continue|"
                       "40/30 0:37 [/] [/sys/fs/cgroup/unified] cgroup2 cgroup2 rw|"
                       "41/30 0:38 [/a b] [/x\\y] tmpfs none rw|");
}

static void test_uint_n(void)
{
        unsigned long long v = 9;
        CHECK(nk_parse_uint_n("123 456", 3, 1000, &v) == 0 && v == 123);
        CHECK(nk_parse_uint_n("123\n", 3, 1000, &v) == 0 && v == 123);
        v = 9;
        CHECK(nk_parse_uint_n("12x", 3, 1000, &v) < 0 && v == 9);
        CHECK(nk_parse_uint_n("12", 3, 1000, &v) < 0 && v == 9); /* shorter than len */
        CHECK(nk_parse_uint_n("", 0, 1000, &v) < 0 && v == 9);
        CHECK(nk_parse_uint_n("1001", 4, 1000, &v) < 0 && v == 9);
}

static void test_cpu_list(void)
{
        cpu_set_t set;
        CHECK(nk_parse_cpu_list("0-1,3", &set) == 0 && CPU_COUNT(&set) == 3 && CPU_ISSET(0, &set) &&
              CPU_ISSET(1, &set) && CPU_ISSET(3, &set));
        CHECK(nk_parse_cpu_list("1023", &set) == 0 && CPU_ISSET(1023, &set));
        static const char *const bad[] = {"",   "3-1", "1024", "0-1024",
                                          "1,", ",1",  "1-",   "-1",
                                          "1 ", "a",   "1;2",  "99999999999999999999",
                                          "0x1"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                CHECK(nk_parse_cpu_list(bad[i], NULL) < 0);
                if (nk_parse_cpu_list(bad[i], NULL) == 0)
                        fprintf(stderr, "  accepted CPU list \"%s\"\n", bad[i]);
        }
}

int main(void)
{
        test_cpu_list();
        test_uint_n();
        test_mountinfo();
        test_uint();
        test_container_ids();
        test_escape();
        test_state_reason();
        test_ids();
        test_signals();
        return UNIT_END();
}
