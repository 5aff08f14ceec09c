/* Filters built by nook, really loaded: each case forks, sets
 * no_new_privs (so no privilege is needed), loads the filter with
 * nk_seccomp_load() and reports what the kernel answered. Checks every
 * comparison operator at its boundaries, errno values, the execve rule, the
 * flags, the default profile, and a SCMP_ACT_NOTIFY round trip. */
#include "runtime/security.h"
#include "unit.h"
#include "util/cleanup.h"
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXR 24

typedef void (*probe_fn)(long *out, int *n);

static json_t *parse(const char *text)
{
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fprintf(stderr, "bad test JSON: %s\n", je.text);
        return j;
}

/* -errno or the return value of a raw syscall. */
static long sys(long nr, long a, long b, long c)
{
        long r = syscall(nr, a, b, c);
        return r < 0 ? -errno : r;
}

/* Fork; the child loads the profile and runs probe; its results come back
 * over a pipe. Returns the number of results, -1 when loading failed. */
static int run(const char *profile, probe_fn probe, long *res)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                long out[MAXR];
                int n = 0;
                json_t *j = parse(profile);
                struct nk_seccomp *s = NULL;
                nk_error *e = NULL;
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (nk_seccomp_prepare(j, &s, &e) < 0 || nk_seccomp_load(s, NULL, &e) < 0) {
                        fprintf(stderr, "load: %s\n", e->msg);
                        _exit(1);
                }
                probe(out, &n);
                (void)!write(p[1], out, sizeof(long) * (size_t)n);
                _exit(0);
        }
        close(p[1]);
        ssize_t got = read(p[0], res, sizeof(long) * MAXR);
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return -1;
        return (int)(got / (ssize_t)sizeof(long));
}

/* getpgid(arg) on a filter with one rule: ERRNO(33) when the comparison
 * holds; otherwise the real getpgid, which fails with ESRCH for these
 * values (no such process) or returns our pgid for 0. */
static void probe_getpgid(long *out, int *n)
{
        static const long args[] = {6, 7, 8, 0x107, 0x108, 0x7fffffff};
        for (size_t i = 0; i < ARRAY_SIZE(args); i++)
                out[(*n)++] = sys(SYS_getpgid, args[i], 0, 0);
}

static const char *op_profile(const char *op, long value, long two)
{
        static char buf[512];
        snprintf(buf, sizeof buf,
                 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpgid\"],"
                 "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":33,\"args\":[{\"index\":0,"
                 "\"value\":%ld,\"valueTwo\":%ld,\"op\":\"%s\"}]}]}",
                 value, two, op);
        return buf;
}

/* Expected hit pattern over args {6, 7, 8, 0x107, 0x108, 0x7fffffff}. */
static void check_op(const char *op, long value, long two, const char *hits)
{
        long r[MAXR];
        int n = run(op_profile(op, value, two), probe_getpgid, r);
        CHECK(n == 6);
        for (int i = 0; i < 6 && n == 6; i++) {
                bool hit = r[i] == -33;
                if (hit != (hits[i] == '1')) {
                        fprintf(stderr, "%s %ld: arg #%d gave %ld\n", op, value, i, r[i]);
                        CHECK(0);
                }
        }
}

static void test_operators(void)
{
        check_op("SCMP_CMP_EQ", 7, 0, "010000");
        check_op("SCMP_CMP_NE", 7, 0, "101111");
        check_op("SCMP_CMP_LT", 8, 0, "110000");
        check_op("SCMP_CMP_LE", 8, 0, "111000");
        check_op("SCMP_CMP_GT", 8, 0, "000111");
        check_op("SCMP_CMP_GE", 8, 0, "001111");
        /* (arg & 0xff) == 7 */
        check_op("SCMP_CMP_MASKED_EQ", 0xff, 7, "010100");
        check_op("SCMP_CMP_MASKED_EQ", 0x100, 0x100, "000111");
}

static void probe_misc(long *out, int *n)
{
        out[(*n)++] = sys(SYS_getppid, 0, 0, 0);
        out[(*n)++] = sys(SYS_umask, 022, 0, 0);
        out[(*n)++] = sys(SYS_getpriority, 0, 0, 0);
        out[(*n)++] = sys(SYS_personality, 0xffffffff, 0, 0);
        out[(*n)++] = sys(SYS_personality, PER_BSD, 0, 0);
        out[(*n)++] = sys(SYS_personality, 8, 0, 0);
}

/* What a process needs to exit cleanly, also under ASan/UBSan (which map
 * memory, set a signal stack and read /proc at exit). */
#define RUNTIME_SYSCALLS                                                                           \
        "\"exit_group\",\"exit\",\"write\",\"read\",\"mmap\",\"munmap\",\"mprotect\","             \
        "\"madvise\",\"sigaltstack\",\"rt_sigaction\",\"rt_sigprocmask\",\"rt_sigreturn\","        \
        "\"getpid\",\"gettid\",\"futex\",\"prctl\",\"sched_yield\",\"openat\",\"open\","           \
        "\"close\",\"readlink\",\"fstat\",\"newfstatat\",\"prlimit64\",\"brk\",\"tgkill\","        \
        "\"sched_getaffinity\",\"clock_gettime\",\"lseek\",\"pread64\",\"getrandom\","             \
        "\"arch_prctl\",\"set_tid_address\",\"set_robust_list\",\"rseq\",\"access\""

static void test_errno_and_default(void)
{
        long r[MAXR];
        /* default errno, per-rule errno, EPERM when errnoRet is absent, and
         * one argument compared twice (either value matches) */
        int n = run("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":71,\"syscalls\":["
                    "{\"names\":[\"getppid\"," RUNTIME_SYSCALLS "],\"action\":\"SCMP_ACT_ALLOW\"},"
                    "{\"names\":[\"umask\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":12},"
                    "{\"names\":[\"getpriority\"],\"action\":\"SCMP_ACT_ERRNO\"},"
                    "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                    " {\"index\":0,\"value\":4294967295,\"op\":\"SCMP_CMP_EQ\"},"
                    " {\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                    probe_misc, r);
        CHECK(n == 6);
        CHECK(r[0] > 0);
        CHECK(r[1] == -12);
        CHECK(r[2] == -EPERM);
        CHECK(r[3] >= 0);
        CHECK(r[4] == -71);
        CHECK(r[5] >= 0);
}

static void probe_exec(long *out, int *n)
{
        pid_t pid = fork();
        if (pid == 0) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(errno);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        out[(*n)++] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* An allow-list that forgets execve still lets nook (and the container)
 * exec; one that names execve is obeyed. */
static void test_execve_rule(void)
{
        static const char *base = "\"wait4\",\"clone\",\"clone3\"," RUNTIME_SYSCALLS;
        char prof[2048];
        long r[MAXR];
        snprintf(prof, sizeof prof,
                 "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                 "{\"names\":[%s],\"action\":\"SCMP_ACT_ALLOW\"}]}",
                 base);
        CHECK(run(prof, probe_exec, r) == 1 && r[0] == 0);
        snprintf(prof, sizeof prof,
                 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
                 "{\"names\":[\"execve\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13}]}");
        CHECK(run(prof, probe_exec, r) == 1 && r[0] == 13);
}

static long status_field(const char *name)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        size_t len = strlen(name);
        while (f && fgets(line, sizeof line, f))
                if (strncmp(line, name, len) == 0 && line[len] == ':')
                        return strtol(line + len + 1, NULL, 10);
        return -1;
}

static void probe_status(long *out, int *n)
{
        out[(*n)++] = status_field("Seccomp");
        out[(*n)++] = status_field("Seccomp_filters");
}

static void test_flags(void)
{
        long r[MAXR];
        int n = run(
                "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\","
                "\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\","
                "\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
                "\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_LOG\"}]}",
                probe_status, r);
        CHECK(n == 2 && r[0] == 2 && r[1] == 1);
}

/* TSYNC reaches the kernel: a thread that exists before the load gets the
 * filter too (its /proc/self/task/TID/status shows seccomp mode 2); without
 * the flag it keeps running unfiltered. */
static void *idle_thread(void *arg)
{
        int *tid_fd = arg;
        pid_t tid = (pid_t)syscall(SYS_gettid);
        (void)!write(tid_fd[1], &tid, sizeof tid);
        char c;
        (void)!read(tid_fd[2], &c, 1); /* until the main thread is done */
        return NULL;
}

static long other_thread_seccomp(const char *flags)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -100;
        pid_t pid = fork();
        if (pid == 0) {
                int tp[2], hold[2];
                if (pipe(tp) < 0 || pipe(hold) < 0)
                        _exit(1);
                int fds[3] = {tp[0], tp[1], hold[0]};
                pthread_t th;
                pid_t tid = 0;
                if (pthread_create(&th, NULL, idle_thread, fds) != 0 ||
                    read(tp[0], &tid, sizeof tid) != sizeof tid)
                        _exit(1);
                char prof[256];
                snprintf(prof, sizeof prof,
                         "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[%s],\"syscalls\":"
                         "[{\"names\":[\"getpgid\"],\"action\":\"SCMP_ACT_ERRNO\"}]}",
                         flags);
                json_t *j = parse(prof);
                struct nk_seccomp *sc = NULL;
                nk_error *e = NULL;
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (nk_seccomp_prepare(j, &sc, &e) < 0 || nk_seccomp_load(sc, NULL, &e) < 0) {
                        fprintf(stderr, "load: %s\n", e->msg);
                        _exit(1);
                }
                char path[64];
                snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
                _cleanup_fclose_ FILE *f = fopen(path, "re");
                char line[256];
                long mode = -1;
                while (f && fgets(line, sizeof line, f))
                        if (strncmp(line, "Seccomp:", 8) == 0)
                                mode = strtol(line + 8, NULL, 10);
                (void)!write(p[1], &mode, sizeof mode);
                _exit(0);
        }
        close(p[1]);
        long mode = -100;
        if (read(p[0], &mode, sizeof mode) != sizeof mode)
                mode = -100;
        close(p[0]);
        waitpid(pid, NULL, 0);
        return mode;
}

static void test_tsync(void)
{
        CHECK(other_thread_seccomp("\"SECCOMP_FILTER_FLAG_TSYNC\"") == 2);
        CHECK(other_thread_seccomp("") == 0);
}

static void probe_default(long *out, int *n)
{
        out[(*n)++] = sys(SYS_unshare, CLONE_NEWUSER, 0, 0);
        out[(*n)++] = sys(SYS_mount, (long)"none", (long)"/tmp", (long)"tmpfs");
        out[(*n)++] = sys(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
        out[(*n)++] = sys(SYS_bpf, 0, 0, 0);
        out[(*n)++] = sys(SYS_kcmp, getpid(), getppid(), 0 /* KCMP_FILE */);
        out[(*n)++] = sys(SYS_kexec_load, 0, 0, 0);
        out[(*n)++] = sys(SYS_clone3, 0, 0, 0);
        out[(*n)++] = sys(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0);
        long s = sys(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
        out[(*n)++] = s;
        out[(*n)++] = sys(SYS_personality, PER_BSD, 0, 0);
        out[(*n)++] = sys(SYS_personality, 0xffffffff, 0, 0);
        /* fork is clone without namespace flags */
        pid_t pid = fork();
        if (pid == 0)
                _exit(7);
        int st = 0;
        waitpid(pid, &st, 0);
        out[(*n)++] = pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        out[(*n)++] = sys(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0);
        out[(*n)++] = sys(SYS_io_uring_setup, 4, (long)calloc(1, 256), 0);
        out[(*n)++] = sys(SYS_socket, (1L << 32) | 40 /* AF_VSOCK */, SOCK_STREAM, 0);
        out[(*n)++] = sys(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0);
        out[(*n)++] = sys(468 /* file_getattr, newer than the profile */, 0, 0, 0);
        out[(*n)++] = sys(462 /* mseal, unknown to libseccomp 2.5.4 */, 0, 0, 0);
        out[(*n)++] = sys(SYS_ptrace, PTRACE_TRACEME, 0, 0);
}

static void test_default_profile(void)
{
        nk_error *e = NULL;
        json_t *prof = nk_seccomp_default_profile(0, &e);
        char *text = json_dumps(prof, JSON_COMPACT);
        /* What mseal says without a filter: 0, or ENOSYS before 6.10 (the
         * arm64 guest's kernel is 6.1). */
        long mseal_unfiltered = syscall(462, 0, 0, 0) == 0 ? 0 : -errno;
        long r[MAXR];
        int n = run(text, probe_default, r);
        CHECK(n == 19);
        CHECK(r[0] == -EPERM);            /* unshare */
        CHECK(r[1] == -EPERM);            /* mount */
        CHECK(r[2] == -EPERM);            /* keyctl */
        CHECK(r[3] == -EPERM);            /* bpf */
        CHECK(r[4] == -EPERM);            /* kcmp: needs CAP_SYS_PTRACE */
        CHECK(r[5] == -EPERM);            /* kexec_load */
        CHECK(r[6] == -ENOSYS);           /* clone3 */
        CHECK(r[7] == -EPERM);            /* AF_VSOCK */
        CHECK(r[8] >= 0);                 /* AF_UNIX */
        CHECK(r[9] == -EPERM);            /* personality(PER_BSD) */
        CHECK(r[10] >= 0);                /* personality query */
        CHECK(r[11] == 7);                /* fork */
        CHECK(r[12] == -EPERM);           /* clone(CLONE_NEWUSER) */
        CHECK(r[13] == -EPERM);           /* io_uring_setup */
        CHECK(r[14] == -EPERM);           /* AF_VSOCK with a high bit set */
        CHECK(r[15] == -EPERM);           /* AF_ALG */
        CHECK(r[16] == -ENOSYS);          /* newer than the profile */
        CHECK(r[17] == mseal_unfiltered); /* mseal(0, 0, 0) reached the kernel */
        CHECK(r[18] == 0);                /* ptrace */
        free(text);
        json_decref(prof);
}

/* ---- notify ------------------------------------------------------------ */

static void probe_notified(long *out, int *n)
{
        out[(*n)++] = sys(SYS_getpgid, 4242, 0, 0);
        out[(*n)++] = sys(SYS_getpgid, 4243, 0, 0);
}

static int recv_fd(int sock, char *buf, size_t len, ssize_t *got)
{
        union {
                char b[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
        *got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        int fd = -1;
        if (*got > 0 && c && c->cmsg_type == SCM_RIGHTS)
                memcpy(&fd, CMSG_DATA(c), sizeof fd);
        buf[*got > 0 ? *got : 0] = '\0';
        return fd;
}

/* Answer one notification: ERRNO 55 for 4242, the value 99 otherwise. */
static int answer(int nfd)
{
        struct seccomp_notif req = {0};
        struct seccomp_notif_resp resp = {0};
        if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
                return -1;
        resp.id = req.id;
        if (req.data.args[0] == 4242)
                resp.error = -55;
        else
                resp.val = 99;
        return ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

static void test_notify(void)
{
        char dir[] = "/tmp/nook-unit-XXXXXX", path[64], prof[512], buf[4096];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/agent.sock", dir);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0);
        snprintf(prof, sizeof prof,
                 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"%s\","
                 "\"listenerMetadata\":\"hello\",\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\"],"
                 "\"syscalls\":[{\"names\":[\"getpgid\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                 path);
        long r[MAXR];
        pid_t pid = fork();
        if (pid == 0) {
                /* the agent */
                int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                ssize_t got;
                int nfd = recv_fd(c, buf, sizeof buf, &got);
                json_t *msg = json_loads(buf, 0, NULL);
                bool ok = nfd >= 0 && msg &&
                          streq(json_string_value(json_object_get(msg, "metadata")), "hello") &&
                          streq(json_string_value(json_array_get(json_object_get(msg, "fds"), 0)),
                                "seccompFd") &&
                          json_integer_value(json_object_get(msg, "pid")) == 1234 &&
                          streq(json_string_value(
                                        json_object_get(json_object_get(msg, "state"), "id")),
                                "unit");
                _exit(ok && answer(nfd) == 0 && answer(nfd) == 0 ? 0 : 1);
        }
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        pid_t child = fork();
        if (child == 0) {
                long out[MAXR];
                int n = 0;
                json_t *j = parse(prof);
                struct nk_seccomp *s = NULL;
                nk_error *e = NULL;
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (nk_seccomp_prepare(j, &s, &e) < 0 ||
                    nk_seccomp_load(s, "{\"ociVersion\":\"1.2.0\",\"id\":\"unit\",\"pid\":1234}",
                                    &e) < 0) {
                        fprintf(stderr, "notify: %s\n", e->msg);
                        _exit(1);
                }
                probe_notified(out, &n);
                (void)!write(p[1], out, sizeof(long) * (size_t)n);
                _exit(0);
        }
        close(p[1]);
        ssize_t got = read(p[0], r, sizeof r);
        close(p[0]);
        int st1 = 0, st2 = 0;
        waitpid(child, &st1, 0);
        waitpid(pid, &st2, 0);
        CHECK(WIFEXITED(st1) && WEXITSTATUS(st1) == 0);
        CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
        CHECK(got == 2 * (ssize_t)sizeof(long) && r[0] == -55 && r[1] == 99);
        close(ls);
        unlink(path);
        rmdir(dir);
}

/* WAIT_KILLABLE_RECV reaches the kernel: once the agent has received the
 * notification, the waiting task sleeps killable only (state D), so a
 * SIGUSR1 does not interrupt it and the agent's answer still lands. */
static void on_usr1(int sig)
{
        (void)sig;
}

static char task_state(pid_t pid)
{
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof buf, f))
                return '?';
        char *p = strrchr(buf, ')');
        return p && p[1] && p[2] ? p[2] : '?';
}

static void test_wait_killable_recv(void)
{
        char dir[] = "/tmp/nook-unit-XXXXXX", path[64], prof[512], buf[4096];
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/agent.sock", dir);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0);
        snprintf(prof, sizeof prof,
                 "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"%s\","
                 "\"flags\":[\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
                 "\"syscalls\":[{\"names\":[\"getpgid\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                 path);
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        pid_t child = fork();
        if (child == 0) {
                struct sigaction sa_usr1 = {.sa_handler = on_usr1}; /* no SA_RESTART */
                sigaction(SIGUSR1, &sa_usr1, NULL);
                json_t *j = parse(prof);
                struct nk_seccomp *s = NULL;
                nk_error *e = NULL;
                prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if (nk_seccomp_prepare(j, &s, &e) < 0 ||
                    nk_seccomp_load(s, "{\"ociVersion\":\"1.2.0\",\"id\":\"unit\",\"pid\":1}", &e) <
                            0) {
                        fprintf(stderr, "killable: %s\n", e->msg);
                        _exit(1);
                }
                long r = sys(SYS_getpgid, 7, 0, 0);
                (void)!write(p[1], &r, sizeof r);
                _exit(0);
        }
        close(p[1]);
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        ssize_t got;
        int nfd = recv_fd(c, buf, sizeof buf, &got);
        struct seccomp_notif req = {0};
        CHECK(nfd >= 0 && ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0);
        kill(child, SIGUSR1);
        char st = '?';
        for (int i = 0; i < 1000 && (st = task_state(child)) != 'D'; i++)
                usleep(10000);
        CHECK(st == 'D');
        struct seccomp_notif_resp resp = {.id = req.id, .val = 77};
        CHECK(ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp) == 0);
        long r = 0;
        CHECK(read(p[0], &r, sizeof r) == sizeof r && r == 77);
        close(p[0]);
        waitpid(child, NULL, 0);
        if (nfd >= 0)
                close(nfd);
        close(c);
        close(ls);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        unit_require_syscall(SYS_seccomp, "seccomp");
        test_operators();
        test_errno_and_default();
        test_execve_rule();
        test_flags();
        test_tsync();
        test_default_profile();
        test_notify();
        test_wait_killable_recv();
        return UNIT_END();
}
