/* /init of the arm64 unit-test guest (tests/vm/arm64/unit.sh): a real
 * aarch64 kernel under qemu-system-aarch64, where qemu-user lacks what
 * some unit tests need (openat2, clone3, seccomp, a forked child's exit).
 * Mounts what the tests use, runs each /t/<name> in turn with its own
 * time limit, prints one "UNIT <name> <status>" line each (status as
 * meson reads it: 0 ok, 77 skipped, anything else failed; 124 timed out)
 * and powers off. No shell, no busybox: the image is the tests and this. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_SECONDS 120

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The test's exit status, 128+N for a signal, 124 past the time limit. */
static int run(const char *name)
{
        char path[256];
        snprintf(path, sizeof path, "/t/%s", name);
        pid_t pid = fork();
        if (pid < 0)
                return 125;
        if (pid == 0) {
                setpgid(0, 0);
                if (chdir("/tmp") < 0)
                        _exit(125);
                execl(path, name, (char *)NULL);
                _exit(126);
        }
        time_t end = time(NULL) + TEST_SECONDS;
        for (;;) {
                int st;
                pid_t r = waitpid(pid, &st, WNOHANG);
                if (r == pid)
                        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                if (r < 0 && errno != EINTR)
                        return 125;
                if (time(NULL) > end) {
                        kill(-pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 124;
                }
                usleep(20000);
        }
}

int main(void)
{
        mount("proc", "/proc", "proc", 0, NULL);
        mount("sysfs", "/sys", "sysfs", 0, NULL);
        mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
        mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777");
        mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
        setenv("PATH", "/bin", 1);
        setenv("TMPDIR", "/tmp", 1);
        char *names[64];
        size_t n = 0;
        DIR *d = opendir("/t");
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 64)
                if (e->d_name[0] != '.')
                        names[n++] = strdup(e->d_name);
        qsort(names, n, sizeof *names, cmp);
        printf("UNIT-START %zu\n", n);
        fflush(stdout);
        for (size_t i = 0; i < n; i++) {
                int st = run(names[i]);
                printf("UNIT %s %d\n", names[i], st);
                fflush(stdout);
        }
        printf("UNIT-END\n");
        fflush(stdout);
        sync();
        reboot(RB_POWER_OFF);
        return 0;
}
