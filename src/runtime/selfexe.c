/* nook — keep the runtime binary out of the container's reach.
 *
 * Until it calls execve, the container init (and every `nook exec` child)
 * is the nook binary running inside the container's namespaces. A script
 * starting with "#!/proc/self/exe" makes that execve run nook's own file
 * again, now as a container process; the container can then open it via
 * /proc/PID/exe and, once it exits, reopen it for writing and replace the
 * host's runtime (CVE-2019-5736). So commands that start container
 * processes first re-exec nook from a copy that cannot be written:
 *   1. a sealed memfd copy (F_SEAL_WRITE): writes fail with EPERM;
 *   2. else (no executable memfds) a detached, read-only bind mount of the
 *      binary (open_tree + mount_setattr): writes fail with EROFS. It is
 *      second because it shares the host file's inode: an open for writing
 *      takes the inode's write count before the mount refuses it, so a
 *      container hammering such opens on its handle makes the host's own
 *      execs of nook fail with ETXTBSY now and then.
 * A binary already on a read-only mount or in a sealed memfd is left as is,
 * which also ends the re-exec.
 *
 * create and run mostly skip that exec (the costliest step of a start):
 * their init hands over to nook-init, a tiny program run from a sealed
 * memfd, before anything of the container can reach it, and nook-init
 * waits for `start` and execs the container's program. See
 * trampoline/trampoline.c and nk_self_exe_guard(). Both re-execs are the
 * command layer's explicit step, with its argv: a library call never
 * replaces the process under its caller. */
#include "security.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;
extern const unsigned char nk_trampoline[];
extern const size_t nk_trampoline_len;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: ask for an executable memfd explicitly */
#endif

bool nk_self_exe_protected(void)
{
        struct statvfs sv;
        if (statvfs("/proc/self/exe", &sv) == 0 && (sv.f_flag & ST_RDONLY))
                return true;
        _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
        return seals >= 0 && (seals & F_SEAL_WRITE);
}

static int ro_mount_copy(void)
{
        _cleanup_close_ int fd =
                nk_open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fd < 0)
                return -1;
        struct mount_attr attr = {.attr_set =
                                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
        if (nk_mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
                return -1;
        return TAKE_FD(fd);
}

/* A memfd to exec from. Since 6.3 it must ask for exec explicitly, or
 * vm.memfd_noexec=1 makes it non-executable; older kernels reject the
 * flag and need none. */
static int exec_memfd(const char *name)
{
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL)
                fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        return fd;
}

/* Read-only and sealed against any write, growth or shrinking. */
static int seal_exec_memfd(int fd)
{
        if (fchmod(fd, 0555) < 0)
                return -1;
        return fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
}

static int sealed_memfd_copy(void)
{
        _cleanup_close_ int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int fd = exec_memfd("nook");
        struct stat st;
        if (in < 0 || fd < 0 || fstat(in, &st) < 0)
                return -1;
        for (off_t done = 0; done < st.st_size;) {
                ssize_t n = sendfile(fd, in, NULL, (size_t)(st.st_size - done));
                if (n <= 0)
                        return -1;
                done += n;
        }
        if (seal_exec_memfd(fd) < 0)
                return -1;
        return TAKE_FD(fd);
}

int nk_seal_self_exe(char **argv, nk_error **err)
{
        if (nk_self_exe_protected())
                return 0;
        int fd = sealed_memfd_copy();
        if (fd < 0)
                fd = ro_mount_copy();
        if (fd < 0)
                return nk_error_set(err, errno, "make a read-only copy of the nook binary");
        syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        int e = errno;
        close(fd);
        return nk_error_set(err, e, "re-exec nook from its read-only copy");
}

/* nook-init in a sealed memfd; -1 if this build has none or the kernel
 * refuses executable memfds (vm.memfd_noexec=2). */
static int trampoline_fd(void)
{
        if (nk_trampoline_len == 0)
                return -1;
        _cleanup_close_ int fd = exec_memfd("nook-init");
        if (fd < 0)
                return -1;
        for (size_t done = 0; done < nk_trampoline_len;) {
                ssize_t n = write(fd, nk_trampoline + done, nk_trampoline_len - done);
                if (n <= 0)
                        return -1;
                done += (size_t)n;
        }
        if (seal_exec_memfd(fd) < 0)
                return -1;
        return TAKE_FD(fd);
}

int nk_self_exe_guard(char **argv, bool may_hand_over, int *init_fd, nk_error **err)
{
        *init_fd = -1;
        if (nk_self_exe_protected())
                return 0;
        if (may_hand_over && (*init_fd = trampoline_fd()) >= 0)
                return 0;
        return nk_seal_self_exe(argv, err);
}
