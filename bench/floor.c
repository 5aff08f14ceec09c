/* The kernel's share of `run /bin/true`: the least work any OCI runtime
 * must ask of the kernel for the default spec, and nothing else. No config
 * parsing, no state files, no hooks, no masked paths, no error handling
 * beyond stopping: a yardstick for bench/start.sh, not a runtime.
 *
 *   floor ROOTFS NAME
 *
 * 1. a cgroup NAME in every mounted hierarchy (v1 and v2);
 * 2. clone with new mount, uts, ipc, pid and net namespaces;
 * 3. the child enters the cgroups the cheapest way the kernel has (clone3
 *    into the cgroup2 one, "0" into each v1 `tasks` file), makes /proc,
 *    /dev (tmpfs, devpts, shm, mqueue, six device nodes), /sys, pivots into
 *    ROOTFS and runs /bin/true;
 * 4. the parent waits and removes the cgroups. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
        perror(what);
        exit(125);
}

static char cg[16][512];
static int ncg, tasks[16], ntasks, cg2 = -1;

static void cgroups_make(const char *name)
{
        DIR *d = opendir("/sys/fs/cgroup");
        if (!d)
                die("/sys/fs/cgroup");
        struct dirent *e;
        char probe[600];
        while ((e = readdir(d)) && ncg < 16) {
                if (e->d_name[0] == '.' || e->d_type != DT_DIR)
                        continue;
                snprintf(probe, sizeof probe, "/sys/fs/cgroup/%s/cgroup.procs", e->d_name);
                if (access(probe, F_OK) < 0)
                        continue;
                snprintf(cg[ncg], sizeof cg[ncg], "/sys/fs/cgroup/%s/%s", e->d_name, name);
                if (mkdir(cg[ncg], 0755) < 0)
                        die(cg[ncg]);
                ncg++;
                if (strcmp(e->d_name, "cpuset") == 0) /* v1 cpusets start empty */
                        for (int i = 0; i < 2; i++) {
                                const char *f = i ? "cpuset.mems" : "cpuset.cpus";
                                char buf[256], path[700];
                                snprintf(path, sizeof path, "/sys/fs/cgroup/cpuset/%s", f);
                                int fd = open(path, O_RDONLY | O_CLOEXEC);
                                ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
                                if (fd >= 0)
                                        close(fd);
                                snprintf(path, sizeof path, "%s/%s", cg[ncg - 1], f);
                                fd = open(path, O_WRONLY | O_CLOEXEC);
                                if (n <= 0 || fd < 0 || write(fd, buf, (size_t)n) != n)
                                        die(path);
                                close(fd);
                        }
        }
        closedir(d);
        if (ncg == 0 && access("/sys/fs/cgroup/cgroup.procs", F_OK) == 0) {
                snprintf(cg[0], sizeof cg[0], "/sys/fs/cgroup/%s", name);
                if (mkdir(cg[0], 0755) < 0)
                        die(cg[0]);
                ncg = 1;
        }
}

/* v1: the `tasks` files the child writes "0" to; v2: the directory to
 * clone into. */
static void cgroups_open(void)
{
        char path[1024];
        for (int i = 0; i < ncg; i++) {
                snprintf(path, sizeof path, "%.511s/tasks", cg[i]);
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd >= 0)
                        tasks[ntasks++] = fd;
                else if ((cg2 = open(cg[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                        die(cg[i]);
        }
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long fl,
                const char *data)
{
        if (mount(src, dst, type, fl, data) < 0)
                die(dst);
}

static int child(const char *rootfs, int go)
{
        (void)go;
        for (int i = 0; i < ntasks; i++)
                if (write(tasks[i], "0", 1) != 1)
                        die("enter cgroup");
        mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        mnt(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL);
        if (chdir(rootfs) < 0)
                die(rootfs);
        mnt("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mnt("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
        mkdir("dev/pts", 0755);
        mkdir("dev/shm", 0755);
        mkdir("dev/mqueue", 0755);
        mnt("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620");
        mnt("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
        mnt("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mnt("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        static const struct {
                const char *p;
                unsigned maj, min;
        } devs[] = {{"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
                    {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
        for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
                if (mknod(devs[i].p, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0)
                        die(devs[i].p);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                die("pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                die("umount old root");
        if (chdir("/") < 0 || sethostname("floor", 5) < 0)
                die("hostname");
        char *argv[] = {"/bin/true", NULL}, *envp[] = {"PATH=/bin", NULL};
        execve(argv[0], argv, envp);
        die("execve");
        return 125;
}

int main(int argc, char **argv)
{
        if (argc != 3) {
                fprintf(stderr, "usage: floor ROOTFS NAME\n");
                return 2;
        }
        cgroups_make(argv[2]);
        cgroups_open();
        struct clone_args ca = {
                .flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET |
                         (cg2 >= 0 ? CLONE_INTO_CGROUP : 0),
                .exit_signal = SIGCHLD,
                .cgroup = (uint64_t)(cg2 >= 0 ? cg2 : 0),
        };
        pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
        if (pid < 0)
                die("clone3");
        if (pid == 0)
                _exit(child(argv[1], -1));
        int st;
        if (waitpid(pid, &st, 0) < 0)
                die("waitpid");
        for (int i = 0; i < ncg; i++)
                if (rmdir(cg[i]) < 0)
                        die(cg[i]);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
