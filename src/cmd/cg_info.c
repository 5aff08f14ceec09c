/* nook info [--format table|json]: the host as nook sees it. Each fact is
 * read from the kernel (mountinfo, /proc, a probing syscall), not assumed. */
#include "cmd/cg_cmds.h"
#include "runtime/cgroup/cgroup.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/syscalls.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
        return json_pack("{s:b, s:I}", "available", max && atoll(max) > 0, "max",
                         (json_int_t)(max ? atoll(max) : 0));
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

static json_t *gather(const struct nk_global *g, nk_error **err)
{
        json_t *cg = nk_cgroup_host_info(err);
        if (!cg)
                return NULL;
        struct utsname u;
        uname(&u);
        return json_pack("{s:s, s:o, s:o, s:b, s:b, s:o, s:o, s:o, s:s, s:s}", "kernel",
                         u.release, "cgroups", cg, "namespaces", namespaces(), "overlayfs",
                         has_filesystem("overlay"), "psi", access("/proc/pressure", F_OK) == 0,
                         "seccomp", seccomp(), "userNamespaces", userns(), "syscalls",
                         syscalls(), "root", g->root ? g->root : "/run/nook", "store",
                         g->store ? g->store : "/var/lib/nook");
}

static void print_table(json_t *o)
{
        json_t *cg = json_object_get(o, "cgroups");
        printf("kernel:          %s\n", json_string_value(json_object_get(o, "kernel")));
        printf("cgroup layout:   %s\n", json_string_value(json_object_get(cg, "layout")));
        size_t i, j;
        json_t *h, *c;
        json_array_foreach(json_object_get(cg, "hierarchies"), i, h) {
                printf("  v%lld %-28s", (long long)json_integer_value(json_object_get(h, "version")),
                       json_string_value(json_object_get(h, "mount")));
                json_array_foreach(json_object_get(h, "controllers"), j, c)
                        printf(" %s", json_string_value(c));
                printf("\n");
        }
        printf("not mounted:    ");
        json_array_foreach(json_object_get(cg, "unmounted"), i, c)
                printf(" %s", json_string_value(c));
        printf("\nnamespaces:     ");
        json_array_foreach(json_object_get(o, "namespaces"), i, c)
                printf(" %s", json_string_value(c));
        printf("\noverlayfs:       %s\n", json_is_true(json_object_get(o, "overlayfs")) ? "yes" : "no");
        printf("psi:             %s\n", json_is_true(json_object_get(o, "psi")) ? "yes" : "no");
        printf("seccomp actions:");
        json_array_foreach(json_object_get(json_object_get(o, "seccomp"), "actions"), i, c)
                printf(" %s", json_string_value(c));
        json_t *un = json_object_get(o, "userNamespaces"), *sc = json_object_get(o, "syscalls");
        printf("\nuser namespaces: %s (max %lld)\n",
               json_is_true(json_object_get(un, "available")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(un, "max")));
        const char *k;
        json_object_foreach(sc, k, c)
                printf("%-16s %s\n", k, json_is_true(c) ? "yes" : "no");
        printf("state root:      %s\n", json_string_value(json_object_get(o, "root")));
        printf("image store:     %s\n", json_string_value(json_object_get(o, "store")));
}

int nk_cmd_info(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
        const char *format = "table";
        int c;
        while ((c = getopt_long_only(argc, argv, "+f:", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                format = optarg;
        }
        if (!streq(format, "table") && !streq(format, "json"))
                return nk_cmd_usage_error("info", "--format: `%s` is not table or json", format);
        if (optind != argc)
                return nk_cmd_usage_error("info", "takes no arguments");
        nk_error *err = NULL;
        json_t *o = gather(g, &err);
        if (!o)
                return nk_cmd_fail(err);
        if (streq(format, "json"))
                return nk_cg_cmd_print_json(o, true);
        print_table(o);
        json_decref(o);
        return 0;
}
