/* The host as nook sees it (`nook info`). Each fact is read from the
 * kernel (mountinfo, /proc, a probing syscall), not assumed. */
#include "hostinfo.h"
#include "../util/cleanup.h"
#include "../util/fs.h"
#include "../util/syscalls.h"
#include "cgroup/cgroup.h"
#include "util/arch.h"
#include "util/parse.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static json_t *namespaces(void)
{
        json_t *a = json_array();
        _cleanup_closedir_ DIR *d = opendir("/proc/self/ns");
        struct dirent *e;
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.' && !strstr(e->d_name, "_for_children"))
                        json_array_append_new(a, json_string(e->d_name));
        return a;
}

static char *first_line(const char *path)
{
        char *s = NULL;
        if (nk_read_file(path, &s, NULL, NULL) < 0)
                return NULL;
        s[strcspn(s, "\n")] = '\0';
        return s;
}

static bool has_filesystem(const char *fs)
{
        _cleanup_free_ char *s = NULL;
        if (nk_read_file("/proc/filesystems", &s, NULL, NULL) < 0)
                return false;
        for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n")) {
                char *t = strrchr(l, '\t');
                if (streq(t ? t + 1 : l, fs))
                        return true;
        }
        return false;
}

static json_t *seccomp(void)
{
        _cleanup_free_ char *acts = first_line("/proc/sys/kernel/seccomp/actions_avail");
        json_t *a = json_array();
        for (char *t = acts ? strtok(acts, " ") : NULL; t; t = strtok(NULL, " "))
                json_array_append_new(a, json_string(t));
        return json_pack("{s:b, s:o}", "enabled", acts != NULL, "actions", a);
}

static json_t *userns(void)
{
        _cleanup_free_ char *max = first_line("/proc/sys/user/max_user_namespaces");
        unsigned long long n = 0;
        if (max && nk_parse_uint_n(max, strcspn(max, " \n"), INT64_MAX, &n) < 0)
                n = 0;
        return json_pack("{s:b, s:I}", "available", n > 0, "max", (json_int_t)n);
}

/* A syscall exists when it fails with anything but ENOSYS. */
static json_t *syscalls(void)
{
        int fd = nk_pidfd_open(getpid(), 0);
        bool pidfd = fd >= 0;
        if (fd >= 0)
                close(fd);
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_DIRECTORY};
        fd = nk_openat2(AT_FDCWD, "/", &how, sizeof(how));
        bool openat2 = fd >= 0;
        if (fd >= 0)
                close(fd);
        /* clone3 with a NULL args pointer: EFAULT or EINVAL when present. */
        bool clone3 = nk_clone3(NULL, 0) < 0 && errno != ENOSYS;
        return json_pack("{s:b, s:b, s:b}", "pidfd_open", pidfd, "clone3", clone3, "openat2",
                         openat2);
}

json_t *nk_host_info(const char *root, const char *store, nk_error **err)
{
        json_t *cg = nk_cgroup_host_info(err);
        if (!cg)
                return NULL;
        struct utsname u;
        uname(&u);
        /* The machine the kernel reports, and the one nook was built for
         * (what its seccomp profile and image choice follow). */
        return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:s, s:s}",
                         "kernel", u.release, "architecture", "machine", u.machine, "build",
                         NK_BUILD_MACHINE, "oci", NK_BUILD_ARCH, "cgroups", cg, "namespaces",
                         namespaces(), "overlayfs", has_filesystem("overlay"), "psi",
                         access("/proc/pressure", F_OK) == 0, "seccomp", seccomp(),
                         "userNamespaces", userns(), "syscalls", syscalls(), "root",
                         root ? root : "/run/nook", "store", store ? store : "/var/lib/nook");
}
