/* nook-init: the container's PID 1 from `create` until its program runs.
 *
 * The init does all of its work as nook, then execs this small static
 * program from a sealed memfd (see selfexe.c). From then on /proc/1/exe is
 * that sealed copy, never the host's nook binary, so nook itself need not
 * re-exec from a protected copy before every create (CVE-2019-5736). It
 * waits for `nook start` on the listening exec socket, then execs the
 * container's program; the accepted connection is close-on-exec, so
 * `start` reads EOF on success, or a record saying why execve failed.
 *
 * Until `nook create` has recorded the container it must not outlive it
 * (a killed create would leave an init nothing knows of). The death signal
 * that covered the init while it was nook is gone by now, so the creator
 * holds the write end of a socket pair whose other end is LIFE_FD: a byte on it
 * means "recorded", EOF without one means the creator died first, and
 * nook-init exits. A connection from `start` also proves the record.
 *
 *   nook-init LISTEN_FD LIFE_FD PATH ARGV0 [ARGS...]  (environment: the process's)
 *
 * No libc: a handful of raw syscalls, all of which the seccomp filter
 * (already loaded by the init) must allow; the runtime checks that before
 * choosing this path. Failure record: nook's sync error record
 * (sync_wire.h). */
#include "../sync_wire.h"
#include <asm/unistd.h>
#include <stddef.h>

#define SOCK_CLOEXEC_ 02000000
#define EINTR_        4
#define POLLIN_       1

struct pollfd_ {
        int fd;
        short events, revents;
};

#if defined(__x86_64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
        register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}
__asm__(".text\n.global _start\n_start:\n"
        "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call nk_tramp_main\n  hlt\n");
#elif defined(__aarch64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
        register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
                         x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e,
                         x5 __asm__("x5") = f;
        __asm__ volatile("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory");
        return x0;
}
__asm__(".text\n.global _start\n_start:\n"
        "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  and sp, x0, #-16\n  bl nk_tramp_main\n"
        "  brk #0\n");
#else
#error "nook-init: no syscall glue for this architecture"
#endif

#define sys1(n, a)          sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys3(n, a, b, c)    sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

__attribute__((noreturn)) static void die(int code)
{
        for (;;)
                sys1(__NR_exit_group, code);
}

static size_t slen(const char *s)
{
        size_t n = 0;
        while (s[n])
                n++;
        return n;
}

static char *put(char *p, char *end, const char *s, size_t n)
{
        while (n-- && p < end)
                *p++ = *s++;
        return p;
}

/* The failure record for `start`, the same sync error record every nook
 * socket carries (sync_wire.h): header, then "<what> `<path>`", as one
 * SEQPACKET record. */
static void report(long fd, long err, const char *what, const char *path)
{
        struct {
                struct nk_sync_hdr h;
                char text[4096];
        } rec;
        char *p = rec.text, *end = rec.text + sizeof rec.text;
        p = put(p, end, what, slen(what));
        p = put(p, end, " `", 2);
        p = put(p, end, path, slen(path));
        p = put(p, end, "`", 1);
        rec.h.magic = NK_SYNC_MAGIC;
        rec.h.type = NK_SYNC_ERROR_TYPE;
        rec.h.errno_ = (int32_t)err;
        rec.h.len = (uint32_t)(p - rec.text);
        if (fd >= 0)
                sys3(__NR_write, fd, &rec, (long)sizeof rec.h + (p - rec.text));
}

static long to_int(const char *s)
{
        long v = 0;
        if (!s || !*s)
                return -1;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > 1000000)
                        return -1;
                v = v * 10 + (*s - '0');
        }
        return v;
}

/* Wait until `start` connects. Meanwhile the life socket: a byte and
 * `create` has recorded us (stop watching it), EOF first and it died
 * before it could (exit: nothing would know of this container). */
static void wait_start(long lfd, long life)
{
        struct pollfd_ pf[2] = {{(int)lfd, POLLIN_, 0}, {(int)life, POLLIN_, 0}};
        while (life >= 0) {
                long n = sys6(__NR_ppoll, (long)pf, 2, 0, 0, 8, 0);
                if (n == -EINTR_)
                        continue;
                if (n < 0)
                        die(1);
                if (pf[0].revents)
                        break; /* `start` found the record: it is there */
                if (!pf[1].revents)
                        continue;
                char b[16];
                long r = sys3(__NR_read, life, b, sizeof b);
                if (r == -EINTR_)
                        continue;
                if (r <= 0)
                        die(1);
                pf[1].fd = -1;
                sys1(__NR_close, life);
                life = -1;
        }
        if (life >= 0)
                sys1(__NR_close, life);
}

__attribute__((noreturn, used)) void nk_tramp_main(long *sp);
void nk_tramp_main(long *sp)
{
        long argc = sp[0];
        char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
        long lfd = argc >= 5 ? to_int(argv[1]) : -1;
        long life = argc >= 5 ? to_int(argv[2]) : -1;
        if (lfd < 0)
                die(127);
        wait_start(lfd, life);
        long conn;
        do
                conn = sys4(__NR_accept4, lfd, 0, 0, SOCK_CLOEXEC_);
        while (conn == -EINTR_);
        if (conn < 0)
                die(1);
        sys1(__NR_close, lfd);
        long r = sys3(__NR_execve, argv[3], argv + 4, envp);
        report(conn, -r, "exec", argv[3]);
        die(1);
}
