/* The sync protocol (runtime/sync.c) over a real SOCK_SEQPACKET socketpair:
 * messages of any size arrive whole, error records carry errno and text,
 * and a truncated, garbage or oversized record is a clean one-line error. */
#include "runtime/launch.h"
#include "runtime/namespaces.h"
#include "runtime/sync.h"
#include "unit.h"
#include "util/cleanup.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void pair(int sp[2])
{
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
                perror("socketpair");
                exit(2);
        }
}

static char *pattern(size_t len)
{
        char *p = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
                p[i] = (char)('a' + (i * 7 + i / 4096) % 26);
        p[len] = '\0';
        return p;
}

/* A child sends (the socket buffer holds less than 1 MB), we receive. */
static void round_trip(size_t len)
{
        int sp[2];
        pair(sp);
        _cleanup_free_ char *want = pattern(len);
        pid_t pid = fork();
        if (pid == 0) {
                close(sp[0]);
                nk_error *e = NULL;
                _exit(nk_sync_send_data(sp[1], NK_SYNC_PRESTART_DONE, want, len, &e) < 0 ? 1 : 0);
        }
        close(sp[1]);
        char *got = NULL;
        size_t got_len = 12345;
        nk_error *e = NULL;
        CHECK(nk_sync_expect_data(sp[0], NK_SYNC_PRESTART_DONE, &got, &got_len, &e) == 0);
        CHECK(e == NULL);
        CHECK(got_len == len);
        CHECK(got && memcmp(got, want, len) == 0 && got[len] == '\0');
        /* The whole message was consumed: next is EOF. */
        CHECK(nk_sync_expect_eof(sp[0], "after", &e) == 0);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        free(got);
        nk_error_free(e);
        close(sp[0]);
}

static void test_sizes(void)
{
        static const size_t sizes[] = {
                0,          1,      4000, 4001, NK_SYNC_CHUNK - 1, NK_SYNC_CHUNK, NK_SYNC_CHUNK + 1,
                200 * 1024, 1 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
                round_trip(sizes[i]);
}

static void test_plain_and_text(void)
{
        int sp[2];
        pair(sp);
        nk_error *e = NULL;
        CHECK(nk_sync_send(sp[1], NK_SYNC_GO, &e) == 0);
        CHECK(nk_sync_send_text(sp[1], NK_SYNC_CREATED, "{\"status\":\"created\"}", &e) == 0);
        CHECK(nk_sync_send_text(sp[1], NK_SYNC_PRESTART, NULL, &e) == 0);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_GO, &e) == 0);
        char *t = NULL;
        CHECK(nk_sync_expect_text(sp[0], NK_SYNC_CREATED, &t, &e) == 0);
        CHECK_STR(t, "{\"status\":\"created\"}");
        free(t);
        t = NULL;
        CHECK(nk_sync_expect_text(sp[0], NK_SYNC_PRESTART, &t, &e) == 0);
        CHECK_STR(t, "");
        free(t);
        /* The wrong point is an error naming both. */
        CHECK(nk_sync_send(sp[1], NK_SYNC_CREATED, &e) == 0);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_GO, &e) < 0);
        CHECK(e && e->errno_ == EPROTO);
        CHECK_STR(e ? e->msg : NULL, "sync: expected GO, got CREATED");
        nk_error_free(e);
        e = NULL;
        /* EOF: the other side died (expect) or exec'd (expect_eof). */
        close(sp[1]);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_GO, &e) < 0);
        CHECK_STR(e ? e->msg : NULL, "container init exited before sync GO");
        nk_error_free(e);
        e = NULL;
        CHECK(nk_sync_expect_eof(sp[0], "x", &e) == 0);
        close(sp[0]);
}

static void test_error_records(void)
{
        int sp[2];
        pair(sp);
        nk_error *src = NULL, *e = NULL;
        nk_error_set(&src, EACCES, "mount proc on `/proc`");
        nk_sync_send_error(sp[1], src);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_CREATED, &e) < 0);
        CHECK(e && e->errno_ == EACCES);
        CHECK_STR(e ? e->msg : NULL, "mount proc on `/proc`");
        nk_error_free(e);
        e = NULL;
        /* An error is also what expect_eof reports. */
        nk_sync_send_error(sp[1], src);
        CHECK(nk_sync_expect_eof(sp[0], "start", &e) < 0 && e && e->errno_ == EACCES);
        nk_error_free(e);
        e = NULL;
        /* A huge message is cut to one record and never blocks the sender. */
        nk_error_free(src);
        src = NULL;
        _cleanup_free_ char *big = pattern(300 * 1024);
        nk_error_set(&src, 0, "%s", big);
        for (int i = 0; i < 3; i++)
                nk_sync_send_error(sp[1], src);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_GO, &e) < 0);
        CHECK(e && strlen(e->msg) == NK_SYNC_ERROR_MAX && strncmp(e->msg, big, 100) == 0);
        nk_error_free(e);
        nk_error_free(src);
        /* No error given: still a record with a text. */
        e = NULL;
        nk_sync_send_error(sp[1], NULL);
        close(sp[1]);
        CHECK(nk_sync_expect(sp[0], NK_SYNC_GO, &e) < 0);
        nk_error_free(e);
        close(sp[0]);
}

/* Feed raw records; the receiver must give a clean, one-line error. */
static void expect_bad(const char *what, const void *rec, size_t n, const void *more, size_t more_n,
                       const char *prefix)
{
        int sp[2];
        pair(sp);
        CHECK(send(sp[1], rec, n, 0) == (ssize_t)n);
        if (more)
                CHECK(send(sp[1], more, more_n, 0) == (ssize_t)more_n);
        close(sp[1]);
        nk_error *e = NULL;
        char *t = NULL;
        int r = nk_sync_expect_text(sp[0], NK_SYNC_PRESTART_DONE, &t, &e);
        CHECK(r < 0 && t == NULL);
        if (!e || strncmp(e->msg, prefix, strlen(prefix)) != 0 || strchr(e->msg, '\n')) {
                unit_failures++;
                fprintf(stderr, "%s: got \"%s\", want prefix \"%s\"\n", what, e ? e->msg : "(none)",
                        prefix);
        }
        nk_error_free(e);
        close(sp[0]);
}

static void test_bad_records(void)
{
        struct nk_sync_hdr h = {.magic = NK_SYNC_MAGIC, .type = NK_SYNC_PRESTART_DONE};
        expect_bad("3 bytes", "abc", 3, NULL, 0, "sync PRESTART_DONE: truncated record of 3 bytes");
        struct nk_sync_hdr g = h;
        g.magic = 0x41414141;
        expect_bad("magic", &g, sizeof g, NULL, 0, "sync PRESTART_DONE: garbage record");
        g = h;
        g.len = 0xffffffffu;
        expect_bad("huge length", &g, sizeof g, NULL, 0, "sync PRESTART_DONE: bad record length");
        /* The header promises 100 bytes but the first record has 10. */
        struct {
                struct nk_sync_hdr h;
                char d[10];
        } short_rec = {h, "012345678"};
        short_rec.h.len = 100;
        expect_bad("short first", &short_rec, sizeof short_rec, NULL, 0,
                   "sync PRESTART_DONE: bad record length 100");
        /* More bytes than the header says. */
        short_rec.h.len = 5;
        expect_bad("long first", &short_rec, sizeof short_rec, NULL, 0,
                   "sync PRESTART_DONE: bad record length 5");
        /* A full first chunk, then the sender dies. */
        size_t n = sizeof h + NK_SYNC_CHUNK;
        _cleanup_free_ char *rec = calloc(1, n + 64);
        struct nk_sync_hdr big = h;
        big.len = NK_SYNC_CHUNK + 100;
        memcpy(rec, &big, sizeof big);
        expect_bad("cut", rec, n, NULL, 0,
                   "sync PRESTART_DONE: message cut short after 32768 of 32868 bytes");
        /* ... or sends a continuation larger than what is left. */
        expect_bad("overlong continuation", rec, n, rec, 200, "sync PRESTART_DONE: receive");
        /* A first record larger than header + one chunk. */
        big.len = NK_SYNC_CHUNK + 64;
        memcpy(rec, &big, sizeof big);
        expect_bad("oversized record", rec, n + 64, NULL, 0, "sync PRESTART_DONE: receive");
        /* An error record with no text. */
        struct nk_sync_hdr er = {.magic = NK_SYNC_MAGIC, .type = NK_SYNC_ERROR, .errno_ = EIO};
        expect_bad("empty error", &er, sizeof er, NULL, 0, "unknown error");
}

/* sync PID (nk_ns_receive_pid): the text sent is taken only as a plain
 * decimal pid of a child of ours; anything else is a protocol error, never
 * a pid that strtol would have made of it. */
static int receive_pid_text(const char *text, pid_t *pid, int *err_no)
{
        int sp[2];
        pair(sp);
        nk_error *e = NULL;
        int r = nk_sync_send_text(sp[1], NK_SYNC_PID, text, &e);
        int pidfd = -1;
        *pid = 0;
        if (r == 0)
                r = nk_ns_receive_pid(sp[0], pid, &pidfd, &e);
        *err_no = e ? e->errno_ : 0;
        nk_error_free(e);
        if (pidfd >= 0)
                close(pidfd);
        close(sp[0]);
        close(sp[1]);
        return r;
}

static void test_pid_report(void)
{
        pid_t child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        char text[64];
        pid_t got;
        int en;
        snprintf(text, sizeof text, "%d", (int)child);
        CHECK(receive_pid_text(text, &got, &en) == 0 && got == child);
        static const struct {
                const char *pre, *suf;
        } bad[] = {{"+", ""}, {" ", ""}, {"", " "}, {"", "x"}, {"0x", ""}, {"-", ""}};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                snprintf(text, sizeof text, "%s%d%s", bad[i].pre, (int)child, bad[i].suf);
                int r = receive_pid_text(text, &got, &en);
                if (r == 0 || got != 0)
                        fprintf(stderr, "sync PID `%s` taken as %d\n", text, (int)got);
                CHECK(r < 0 && got == 0);
        }
        const char *worse[] = {"", "0", "-1", "2147483648", "99999999999999999999"};
        for (size_t i = 0; i < sizeof worse / sizeof *worse; i++) {
                CHECK(receive_pid_text(worse[i], &got, &en) < 0 && en == EPROTO && got == 0);
        }
        /* A live process that is not our child: forged. */
        CHECK(receive_pid_text("1", &got, &en) < 0 && got == 0);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
}

/* A child that failed and went before our next send: the send fails
 * (EPIPE) and the user reads the child's error, not "Broken pipe". */
static void test_send_to_dead_child(void)
{
        for (int with_record = 0; with_record < 2; with_record++) {
                int sp[2];
                pair(sp);
                if (with_record) {
                        nk_error *c = NULL;
                        nk_error_set(&c, ENOENT, "mounts[7]: the child's own words");
                        nk_sync_send_error(sp[1], c);
                        nk_error_free(c);
                }
                close(sp[1]);
                struct nk_launch l;
                nk_launch_init(&l);
                l.sync_fd = sp[0];
                nk_error *e = NULL;
                CHECK(nk_launch_send(&l, NK_SYNC_GO, NULL, &e) < 0);
                if (with_record) {
                        CHECK(e && e->errno_ == ENOENT);
                        CHECK_STR(e ? e->msg : NULL, "mounts[7]: the child's own words");
                } else {
                        CHECK(e && e->errno_ == EPIPE);
                }
                nk_error_free(e);
                nk_launch_close(&l);
        }
}

/* A child that fails before it read our GO exits with GO unread: the
 * kernel then reports ECONNRESET on our end ahead of the error record the
 * child queued for us. The record is what we read. */
static void test_error_after_unread_go(void)
{
        int sp[2];
        pair(sp);
        nk_error *e = NULL;
        CHECK(nk_sync_send(sp[0], NK_SYNC_GO, &e) == 0);
        nk_error *c = NULL;
        nk_error_set(&c, EXDEV, "mounts[7]: refused before GO");
        nk_sync_send_error(sp[1], c);
        nk_error_free(c);
        close(sp[1]); /* GO unread */
        CHECK(nk_sync_expect(sp[0], NK_SYNC_PRESTART, &e) < 0);
        CHECK(e && e->errno_ == EXDEV);
        CHECK_STR(e ? e->msg : NULL, "mounts[7]: refused before GO");
        nk_error_free(e);
        close(sp[0]);
}

int main(void)
{
        test_pid_report();
        test_error_after_unread_go();
        test_send_to_dead_child();
        test_sizes();
        test_plain_and_text();
        test_error_records();
        test_bad_records();
        return UNIT_END();
}
