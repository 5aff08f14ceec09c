/* nktest: a static multi-call helper placed at /bin/nktest in test rootfs
 * images, so integration tests can ask the container what it really sees.
 *   nktest exit N            exit with status N
 *   nktest sigself SIG       kill itself with signal SIG
 *   nktest ignore-term       ignore SIGTERM, print "ready", sleep forever
 *   nktest open PATH r|w     print "ok" or the errno name of open(2)
 *   nktest fds               print every open fd and its target
 *   nktest rlimits           print "NAME soft hard" for every rlimit
 *   nktest ids               print uid/gid/groups/umask
 *   nktest tty               print the controlling tty name and window size
 *   nktest proc              print personality, I/O priority, scheduler policy
 *                            and priority, nice, and the session keyring
 *   nktest keyring           print the session keyring's id and description
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errname(int e)
{
        switch (e) {
        case EPERM:
                return "EPERM";
        case ENOENT:
                return "ENOENT";
        case EACCES:
                return "EACCES";
        case EROFS:
                return "EROFS";
        case EBUSY:
                return "EBUSY";
        case EINVAL:
                return "EINVAL";
        case ENXIO:
                return "ENXIO";
        case ENOTDIR:
                return "ENOTDIR";
        case EISDIR:
                return "EISDIR";
        case ENOSYS:
                return "ENOSYS";
        case ENODEV:
                return "ENODEV";
        case ETXTBSY:
                return "ETXTBSY";
        case ENETUNREACH:
                return "ENETUNREACH";
        case EADDRNOTAVAIL:
                return "EADDRNOTAVAIL";
        case ECONNREFUSED:
                return "ECONNREFUSED";
        default:
                return "EOTHER";
        }
}

static int do_open(const char *path, const char *mode)
{
        int fd = open(path, mode[0] == 'w' ? O_WRONLY : O_RDONLY);
        if (fd < 0) {
                printf("%s\n", errname(errno));
                return 1;
        }
        printf("ok\n");
        close(fd);
        return 0;
}

static int do_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return 1;
        int self = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || atoi(de->d_name) == self)
                        continue;
                char path[300], target[4096];
                snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
                ssize_t n = readlink(path, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                printf("%s %s\n", de->d_name, target);
        }
        closedir(d);
        return 0;
}

static int do_rlimits(void)
{
        static const struct {
                const char *name;
                int r;
        } lim[] = {
                {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
                {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
                {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
                {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
                {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
                {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
                {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
                {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        };
        for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
                struct rlimit rl;
                getrlimit(lim[i].r, &rl);
                printf("%s %llu %llu\n", lim[i].name, (unsigned long long)rl.rlim_cur,
                       (unsigned long long)rl.rlim_max);
        }
        return 0;
}

static int do_ids(void)
{
        gid_t groups[256];
        int n = getgroups(256, groups);
        mode_t m = umask(0);
        printf("uid=%u gid=%u euid=%u egid=%u umask=%04o groups=", getuid(), getgid(), geteuid(),
               getegid(), (unsigned)m);
        for (int i = 0; i < n; i++)
                printf("%s%u", i ? "," : "", groups[i]);
        printf("\n");
        return 0;
}

static int do_tty(void)
{
        char *name = ttyname(0);
        struct winsize ws = {0};
        ioctl(0, TIOCGWINSZ, &ws);
        printf("tty=%s rows=%u cols=%u pgrp=%d sid=%d ctty=%s\n", name ? name : "none", ws.ws_row,
               ws.ws_col, (int)tcgetpgrp(0), (int)getsid(0),
               open("/dev/tty", O_RDONLY) >= 0 ? "yes" : "no");
        return 0;
}

/* keyctl(2) numbers, to need no libkeyutils in a static helper. */
#define NK_KEYCTL_GET_KEYRING_ID    0
#define NK_KEYCTL_DESCRIBE          6
#define NK_KEY_SPEC_SESSION_KEYRING -3

static int do_proc(void)
{
        struct sched_param sp = {0};
        int policy = sched_getscheduler(0);
        sched_getparam(0, &sp);
        errno = 0;
        int nice = getpriority(PRIO_PROCESS, 0);
        long ioprio = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
        printf("personality=0x%x ioprio_class=%ld ioprio_level=%ld policy=%d priority=%d "
               "nice=%d\n",
               (unsigned)personality(0xffffffff), ioprio >> 13, ioprio & 0x1fff,
               policy & ~SCHED_RESET_ON_FORK, sp.sched_priority, nice);
        long key = syscall(SYS_keyctl, NK_KEYCTL_GET_KEYRING_ID, NK_KEY_SPEC_SESSION_KEYRING, 0);
        char desc[256] = "";
        if (key < 0 || syscall(SYS_keyctl, NK_KEYCTL_DESCRIBE, key, desc, sizeof(desc) - 1) < 0)
                snprintf(desc, sizeof(desc), "none:%s", errname(errno));
        /* "type;uid;gid;perm;description" */
        const char *name = strrchr(desc, ';');
        printf("keyring=%ld keyring_name=%s\n", key, name ? name + 1 : desc);
        return 0;
}

/* KEYCTL_GET_KEYRING_ID (0) and KEYCTL_DESCRIBE (6) on the session
 * keyring (-3), without creating one. */
static int do_keyring(void)
{
        char desc[512] = "";
        long id = syscall(SYS_keyctl, 0, -3, 0);
        if (id < 0 || syscall(SYS_keyctl, 6, id, desc, sizeof desc - 1) < 0) {
                printf("keyring error=%d\n", errno);
                return 1;
        }
        printf("keyring id=%ld desc=%s\n", id, desc);
        return 0;
}

/* TCP over 127.0.0.1 inside the container: listen, connect, accept. */
static int do_loopback(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
        if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &len) < 0 ||
            connect(c, (struct sockaddr *)&a, sizeof a) < 0 || accept(l, NULL, NULL) < 0) {
                printf("loopback %s\n", errname(errno));
                return 1;
        }
        printf("loopback ok\n");
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: nktest CMD [ARGS]\n");
                return 2;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "exit") && argc > 2)
                return atoi(argv[2]);
        if (!strcmp(cmd, "sigself") && argc > 2) {
                signal(atoi(argv[2]), SIG_DFL);
                kill(getpid(), atoi(argv[2]));
                pause();
                return 3;
        }
        if (!strcmp(cmd, "ignore-term")) {
                signal(SIGTERM, SIG_IGN);
                printf("ready\n");
                fflush(stdout);
                for (;;)
                        pause();
        }
        if (!strcmp(cmd, "open") && argc > 3)
                return do_open(argv[2], argv[3]);
        if (!strcmp(cmd, "fds"))
                return do_fds();
        if (!strcmp(cmd, "rlimits"))
                return do_rlimits();
        if (!strcmp(cmd, "ids"))
                return do_ids();
        if (!strcmp(cmd, "tty"))
                return do_tty();
        if (!strcmp(cmd, "proc"))
                return do_proc();
        if (!strcmp(cmd, "keyring"))
                return do_keyring();
        if (!strcmp(cmd, "loopback"))
                return do_loopback();
        fprintf(stderr, "nktest: unknown command %s\n", cmd);
        return 2;
}
