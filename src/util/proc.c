#include "proc.h"
#include "cleanup.h"
#include "fs.h"
#include "syscalls.h"
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* The signals not at their default: ignored or caught, as /proc/self/status
 * lists them (one read instead of a sigaction per signal). All of them if
 * the file can't be read. */
static uint64_t non_default_signals(void)
{
        _cleanup_free_ char *buf = NULL;
        if (nk_read_file("/proc/self/status", &buf, NULL, NULL) < 0)
                return UINT64_MAX;
        const char *ign = strstr(buf, "\nSigIgn:\t"), *cgt = strstr(buf, "\nSigCgt:\t");
        if (!ign || !cgt)
                return UINT64_MAX;
        char *e1, *e2;
        errno = 0;
        uint64_t v = strtoull(ign + 9, &e1, 16) | strtoull(cgt + 9, &e2, 16);
        if (errno || *e1 != '\n' || *e2 != '\n') /* not the kernel's 16 hex digits */
                return UINT64_MAX;
        return v;
}

void nk_reset_signals(void)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        uint64_t set = non_default_signals();
        for (int s = 1; s < NSIG && s <= 64; s++)
                if (set & (1ULL << (s - 1)))
                        (void)sigaction(s, &sa, NULL);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
}

/* clone3's arguments for o; the pidfd, if asked for, lands in *pidfd. */
static struct clone_args clone_args_for(const struct nk_clone_opts *o, int *pidfd)
{
        struct clone_args ca = {
                .flags = o->flags,
                /* A CLONE_PARENT child signals our parent as we do; clone3
                 * wants 0 here then. */
                .exit_signal = (o->flags & CLONE_PARENT) ? 0 : SIGCHLD,
        };
        if (o->pidfd_out) {
                ca.flags |= CLONE_PIDFD;
                ca.pidfd = (uint64_t)(uintptr_t)pidfd;
        }
        if (o->cgroup_fd >= 0) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t)o->cgroup_fd;
        }
        return ca;
}

/* The child's first steps, whichever clone made it. */
static void child_start(const struct nk_clone_opts *o)
{
        nk_reset_signals();
        if (o->death_signal)
                (void)prctl(PR_SET_PDEATHSIG, o->death_signal);
}

pid_t nk_clone(const struct nk_clone_opts *o, nk_error **err)
{
        int pidfd = -1;
        struct clone_args ca = clone_args_for(o, &pidfd);
        long pid = nk_clone3(&ca, sizeof(ca));
        /* A seccomp filter (a container's, loaded by exec's joiner) may
         * answer clone3 with ENOSYS or, in older profiles, EPERM; with
         * nothing only clone3 can do, clone(2) is tried then too. */
        if (pid < 0 && (errno == ENOSYS || (errno == EPERM && o->cgroup_fd < 0 && !o->pidfd_out))) {
                /* Old kernel: plain clone with fork semantics (no stack). */
                pid = syscall(SYS_clone, (unsigned long)(o->flags | SIGCHLD), NULL, NULL, NULL, 0);
                if (o->pidfd_out)
                        *o->pidfd_out = -1;
        } else if (pid > 0 && o->pidfd_out) {
                *o->pidfd_out = pidfd;
        }
        if (pid < 0)
                return nk_error_set(err, errno, "clone");
        if (pid == 0)
                child_start(o);
        return (pid_t)pid;
}

#if NK_HAVE_CLONE_VM
struct vm_start {
        const struct nk_clone_opts *o;
        void (*fn)(void *);
        void *arg;
};

__attribute__((noreturn)) static void vm_child(void *p)
{
        struct vm_start *s = p;
        child_start(s->o);
        s->fn(s->arg);
        _exit(127);
}

/* clone3 whose child calls entry(arg) on the stack clone_args names: the
 * child can't return through C frames that are ours. The kernel starts it
 * with sp at stack + stack_size, which we keep 16-byte aligned for the
 * call. entry and arg travel in callee-saved registers, which the child
 * starts with as we had them; the frame chain ends at the child's first
 * frame, and a return from entry traps. */
#if defined(__x86_64__)
static long clone3_call(struct clone_args *ca, void (*entry)(void *), void *arg)
{
        register long rax __asm__("rax") = SYS_clone3;
        register struct clone_args *rdi __asm__("rdi") = ca;
        register long rsi __asm__("rsi") = sizeof *ca;
        register void (*r12)(void *) __asm__("r12") = entry;
        register void *r13 __asm__("r13") = arg;
        __asm__ volatile("syscall\n\t"
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "xor %%ebp, %%ebp\n\t"
                         "mov %%r13, %%rdi\n\t"
                         "call *%%r12\n\t"
                         "ud2\n"
                         "1:"
                         : "+r"(rax)
                         : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
                         : "rcx", "r11", "memory", "cc");
        return rax;
}
#elif defined(__aarch64__)
/* svc preserves every register but x0 (the result); the child's lr and
 * frame pointer are zeroed so nothing unwinds into our frames. */
static long clone3_call(struct clone_args *ca, void (*entry)(void *), void *arg)
{
        register long x8 __asm__("x8") = SYS_clone3;
        register long x0 __asm__("x0") = (long)(uintptr_t)ca;
        register long x1 __asm__("x1") = sizeof *ca;
        register void (*x19)(void *) __asm__("x19") = entry;
        register void *x20 __asm__("x20") = arg;
        __asm__ volatile("svc #0\n\t"
                         "cbnz x0, 1f\n\t"
                         "mov x29, xzr\n\t"
                         "mov x30, xzr\n\t"
                         "mov x0, x20\n\t"
                         "blr x19\n\t"
                         "brk #0x3e8\n"
                         "1:"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x19), "r"(x20)
                         : "memory", "cc");
        return x0;
}
#endif

/* The child's stack: the container init's path to nook-init used 5 kB of
 * it when measured. Its top is filled in at once: one madvise instead of a
 * page fault for each page the child reaches. */
#define VM_STACK     (256 * 1024)
#define VM_STACK_HOT (16 * 1024)

pid_t nk_clone_vm(const struct nk_clone_opts *o, void (*fn)(void *), void *arg, nk_error **err)
{
        char *stack = mmap(NULL, VM_STACK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
        if (stack == MAP_FAILED)
                return nk_error_set(err, errno, "clone: stack");
        (void)mprotect(stack, 4096, PROT_NONE); /* guard page */
        (void)madvise(stack + VM_STACK - VM_STACK_HOT, VM_STACK_HOT, MADV_POPULATE_WRITE);
        int pidfd = -1;
        struct clone_args ca = clone_args_for(o, &pidfd);
        ca.flags |= CLONE_VM | CLONE_VFORK;
        ca.stack = (uint64_t)(uintptr_t)stack;
        ca.stack_size = VM_STACK;
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        struct vm_start s = {.o = o, .fn = fn, .arg = arg};
        long pid = clone3_call(&ca, vm_child, &s);
        /* Here the child has exec'd or exited: its stack is free again. */
        int e = pid < 0 ? (int)-pid : 0;
        if (dumpable > 0)
                (void)prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
        munmap(stack, VM_STACK);
        if (e) {
                errno = e;
                return nk_error_set(err, e, "clone");
        }
        if (o->pidfd_out)
                *o->pidfd_out = pidfd;
        return (pid_t)pid;
}
#else
pid_t nk_clone_vm(const struct nk_clone_opts *o, void (*fn)(void *), void *arg, nk_error **err)
{
        errno = ENOSYS;
        return nk_error_set(err, ENOSYS, "clone: no shared-memory clone here");
}
#endif

extern char **environ;

void nk_environ_scrub(void)
{
        /* nook never calls setenv: these are the strings execve put on our
         * stack, the range /proc/PID/environ shows. */
        for (char **e = environ; e && *e; e++)
                explicit_bzero(*e, strlen(*e));
        static char *none[] = {NULL};
        environ = none;
}

int nk_exit_code_of(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

int nk_wait_exit_code(pid_t pid)
{
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return 255;
        return nk_exit_code_of(status);
}
