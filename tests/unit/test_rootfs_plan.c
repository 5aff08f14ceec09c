/* The rootfs plan: what nk_rplan_build makes of a spec and a host (mount
 * table, cgroup layout), checked through its printed form (--debug). */
#include "runtime/rootfs_internal.h"
#include "unit.h"
#include "util/cleanup.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

static const char hybrid_mountinfo[] =
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup "
        "rw,xattr,release_agent=/x,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
        "42 27 0:39 / /mnt/with\\040space rw - tmpfs tmpfs rw\n";

static const char v2_mountinfo[] =
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        "31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
        "rw,nsdelegate\n";

static struct nk_mount M(const char *dest, const char *type, const char *src, unsigned long flags,
                         const char *data) {
        return (struct nk_mount){.destination = (char *)dest,
                                 .type = (char *)type,
                                 .source = (char *)src,
                                 .flags = flags,
                                 .data = (char *)data};
}

/* The plan, one op per line; NULL (and *errtext set) when building failed. */
static char *
plan_text(const struct nk_spec *spec, const struct nk_rootfs_opts *opts, const char *mountinfo,
          const char *self_cgroup, char **errtext)
{
        struct nk_rootfs_env env = {.mountinfo = mountinfo, .self_cgroup = self_cgroup};
        struct nk_rplan plan = {0};
        nk_error *err = NULL;
        if (nk_rplan_build(spec, "/b/rootfs", opts, &env, &plan, &err) < 0) {
                if (errtext)
                        *errtext = nk_error_text(err);
                nk_error_free(err);
                return NULL;
        }
        size_t len = 0;
        char *out = NULL;
        FILE *f = open_memstream(&out, &len);
        for (size_t i = 0; i < plan.n; i++) {
                _cleanup_free_ char *line = nk_rop_format(&plan.ops[i]);
                fprintf(f, "%s\n", line);
        }
        fclose(f);
        nk_rplan_clear(&plan);
        return out;
}

/* The lines of `text` starting with `prefix`, joined by '\n'. */
static char *grep(const char *text, const char *prefix)
{
        size_t len = 0;
        char *out = NULL;
        FILE *f = open_memstream(&out, &len);
        for (const char *l = text; l && *l;) {
                const char *eol = strchr(l, '\n');
                size_t n = eol ? (size_t)(eol - l) : strlen(l);
                if (strncmp(l, prefix, strlen(prefix)) == 0)
                        fprintf(f, "%.*s\n", (int)n, l);
                l = eol ? eol + 1 : NULL;
        }
        fclose(f);
        return out;
}

static void test_default_spec_hybrid(void)
{
        struct nk_mount mounts[] = {
                M("/proc", "proc", "proc", 0, NULL),
                M("/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
                M("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620,gid=5"),
                M("/sys", "sysfs", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL),
                M("/sys/fs/cgroup", "cgroup", "cgroup",
                  MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY, NULL),
        };
        char *masked[] = {"/proc/kcore", "/sys/firmware", NULL};
        char *ro[] = {"/proc/sys", NULL};
        struct nk_spec spec = {.mounts = mounts,
                               .n_mounts = ARRAY_SIZE(mounts),
                               .masked_paths = masked,
                               .readonly_paths = ro};
        struct nk_rootfs_opts opts = {.new_cgroupns = true, .cgroup_path = "/nook/c1"};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK_STR(t,
                  "propagation / propagation=rprivate\n"
                  "bind-rootfs /b/rootfs\n"
                  "mount proc proc on /proc\n"
                  "mount tmpfs tmpfs on /dev flags=nosuid,strictatime data=mode=755,size=65536k\n"
                  "mount devpts devpts on /dev/pts flags=nosuid,noexec "
                  "data=newinstance,ptmxmode=0666,mode=0620,gid=5\n"
                  "mount sysfs sysfs on /sys flags=ro,nosuid,nodev,noexec\n"
                  "mount tmpfs tmpfs on /sys/fs/cgroup flags=nosuid,nodev,noexec data=mode=755\n"
                  "mount cgroup cgroup on /sys/fs/cgroup/cpu,cpuacct "
                  "flags=ro,nosuid,nodev,noexec,relatime data=cpu,cpuacct "
                  "fallback=/sys/fs/cgroup/cpu,cpuacct/nook/c1\n"
                  "symlink /sys/fs/cgroup/cpu -> cpu,cpuacct\n"
                  "symlink /sys/fs/cgroup/cpuacct -> cpu,cpuacct\n"
                  "mount cgroup cgroup on /sys/fs/cgroup/memory "
                  "flags=ro,nosuid,nodev,noexec,relatime data=memory "
                  "fallback=/sys/fs/cgroup/memory/nook/c1\n"
                  "mount cgroup cgroup on /sys/fs/cgroup/systemd "
                  "flags=ro,nosuid,nodev,noexec,relatime data=name=systemd "
                  "fallback=/sys/fs/cgroup/systemd/nook/c1\n"
                  "mount cgroup2 cgroup on /sys/fs/cgroup/unified "
                  "flags=ro,nosuid,nodev,noexec,relatime fallback=/sys/fs/cgroup/unified/nook/c1\n"
                  "setattr /sys/fs/cgroup set=ro\n"
                  "mknod /dev/null c 1:3 0666 0:0\n"
                  "mknod /dev/zero c 1:5 0666 0:0\n"
                  "mknod /dev/full c 1:7 0666 0:0\n"
                  "mknod /dev/random c 1:8 0666 0:0\n"
                  "mknod /dev/urandom c 1:9 0666 0:0\n"
                  "mknod /dev/tty c 5:0 0666 0:0\n"
                  "symlink /dev/fd -> /proc/self/fd\n"
                  "symlink /dev/stdin -> /proc/self/fd/0\n"
                  "symlink /dev/stdout -> /proc/self/fd/1\n"
                  "symlink /dev/stderr -> /proc/self/fd/2\n"
                  "symlink /dev/core -> /proc/kcore if-kcore\n"
                  "symlink /dev/ptmx -> pts/ptmx replace\n"
                  "pivot_root /b/rootfs\n"
                  "readonly /proc/sys\n"
                  "mask /proc/kcore\n"
                  "mask /sys/firmware\n");
}

/* Without a cgroup namespace the container's own cgroup directories are
 * bound, never a whole hierarchy. */
static void test_cgroup_bind(void)
{
        struct nk_mount mounts[] = {
                M("/sys/fs/cgroup", "cgroup", "cgroup", MS_NOSUID | MS_RELATIME | MS_RDONLY, NULL)};
        struct nk_spec spec = {.mounts = mounts, .n_mounts = 1};
        struct nk_rootfs_opts opts = {.cgroup_path = "/nook/c1"};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        _cleanup_free_ char *binds = grep(t, "bind ");
        CHECK_STR(binds, "bind /sys/fs/cgroup/cpu,cpuacct/nook/c1 on /sys/fs/cgroup/cpu,cpuacct "
                         "set=ro,nosuid,relatime\n"
                         "bind /sys/fs/cgroup/memory/nook/c1 on /sys/fs/cgroup/memory "
                         "set=ro,nosuid,relatime\n"
                         "bind /sys/fs/cgroup/systemd/nook/c1 on /sys/fs/cgroup/systemd "
                         "set=ro,nosuid,relatime\n"
                         "bind /sys/fs/cgroup/unified/nook/c1 on /sys/fs/cgroup/unified "
                         "set=ro,nosuid,relatime\n");

        /* Pure v2: one bind straight on the destination. */
        free(t);
        t = plan_text(&spec, &opts, v2_mountinfo, NULL, NULL);
        _cleanup_free_ char *v2 = grep(t, "bind /sys");
        CHECK_STR(v2, "bind /sys/fs/cgroup/nook/c1 on /sys/fs/cgroup set=ro,nosuid,relatime\n");
        _cleanup_free_ char *tmpfs = grep(t, "mount tmpfs");
        CHECK_STR(tmpfs, "");

        /* No cgroup path given: our own, per hierarchy, from /proc/self/cgroup. */
        opts.cgroup_path = NULL;
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo,
                      "3:name=systemd:/s\n2:memory:/m/x\n1:cpuacct,cpu:/c\n0::/u\n", NULL);
        free(binds);
        binds = grep(t, "bind ");
        CHECK(strstr(binds, "bind /sys/fs/cgroup/cpu,cpuacct/c on ") != NULL);
        CHECK(strstr(binds, "bind /sys/fs/cgroup/memory/m/x on ") != NULL);
        CHECK(strstr(binds, "bind /sys/fs/cgroup/systemd/s on ") != NULL);
        CHECK(strstr(binds, "bind /sys/fs/cgroup/unified/u on ") != NULL);

        /* Neither a path nor a line of /proc/self/cgroup: no guessing. */
        char *e = NULL;
        CHECK(plan_text(&spec, &opts, v2_mountinfo, "1:cpu:/x\n", &e) == NULL);
        CHECK_STR(e, "mount cgroup on /sys/fs/cgroup: no cgroup of ours in the unified "
                     "hierarchy: No such file or directory");
        free(e);

        /* A new cgroup namespace on pure v2: a fresh cgroup2. */
        opts.new_cgroupns = true;
        opts.cgroup_path = "/nook/c1";
        free(t);
        t = plan_text(&spec, &opts, v2_mountinfo, NULL, NULL);
        _cleanup_free_ char *fresh = grep(t, "mount cgroup");
        CHECK_STR(fresh, "mount cgroup2 cgroup on /sys/fs/cgroup flags=ro,nosuid,relatime "
                         "fallback=/sys/fs/cgroup/nook/c1\n");

        e = NULL;
        CHECK(plan_text(&spec, &opts, "27 1 254:0 / / rw - ext4 /dev/vda rw\n", NULL, &e) == NULL);
        CHECK_STR(e, "mount cgroup on /sys/fs/cgroup: no cgroup hierarchy under /sys/fs/cgroup "
                     "on the host: No such file or directory");
        free(e);
}

static void test_binds(void)
{
        struct nk_mount mounts[] = {
                M("data//x/./", "bind", "vol", MS_RDONLY | MS_NOSUID, NULL),
                M("/abs", NULL, "/srv/abs", MS_NOATIME, NULL),
                M("/r", "none", "/srv/r", 0, NULL),
        };
        mounts[0].bind = true;
        mounts[1].bind = true;
        mounts[1].clear = MS_NODEV;
        mounts[1].propagation = MS_SLAVE | MS_REC;
        mounts[2].bind = mounts[2].rbind = true;
        mounts[2].attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC;
        mounts[2].recursive_attrs = true;
        mounts[2].copy_symlink = true;
        struct nk_spec spec = {.mounts = mounts, .n_mounts = 3, .bundle = "/b"};
        struct nk_rootfs_opts opts = {0};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        _cleanup_free_ char *binds = grep(t, "bind ");
        CHECK_STR(binds, "bind /b/vol on /data/x set=ro,nosuid\n"
                         "bind /srv/abs on /abs set=noatime clear=nodev propagation=rslave\n"
                         "bind /srv/r on /r rbind copy-symlink rset=ro,noexec\n");
}

static void test_bad_mounts(void)
{
        struct nk_mount mounts[] = {M("//", "tmpfs", "tmpfs", 0, NULL)};
        struct nk_spec spec = {.mounts = mounts, .n_mounts = 1};
        struct nk_rootfs_opts opts = {0};
        char *e = NULL;
        CHECK(plan_text(&spec, &opts, hybrid_mountinfo, NULL, &e) == NULL);
        CHECK_STR(e, "mounts[0]: destination `//` would hide the rootfs");
        free(e);

        mounts[0] = M("/x", NULL, "/src", 0, NULL);
        e = NULL;
        CHECK(plan_text(&spec, &opts, hybrid_mountinfo, NULL, &e) == NULL);
        CHECK_STR(e, "mount on /x: no type and not a bind mount");
        free(e);

        mounts[0] = M("/x", "bind", NULL, 0, NULL);
        e = NULL;
        CHECK(plan_text(&spec, &opts, hybrid_mountinfo, NULL, &e) == NULL);
        CHECK_STR(e, "bind mount on /x: no source");
        free(e);
}

/* In a user namespace: device nodes come from the host, sysfs and mqueue
 * may fall back to the host's. */
static void test_userns(void)
{
        struct nk_mount mounts[] = {
                M("/sys", "sysfs", "sysfs", MS_RDONLY, NULL),
                M("/dev/mqueue", "mqueue", "mqueue", 0, NULL),
                M("/tmp", "tmpfs", "tmpfs", 0, NULL),
        };
        struct nk_device devs[] = {
                {.type = 'c', .path = "/dev/fuse", .major = 10, .minor = 229},
                {.type = 'p', .path = "/dev/fifo", .has_mode = true, .file_mode = 0600},
        };
        struct nk_spec spec = {.mounts = mounts, .n_mounts = 3, .devices = devs, .n_devices = 2};
        struct nk_rootfs_opts opts = {.in_userns = true};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        _cleanup_free_ char *m = grep(t, "mount ");
        CHECK_STR(m, "mount sysfs sysfs on /sys flags=ro fallback=/sys\n"
                     "mount mqueue mqueue on /dev/mqueue fallback=/dev/mqueue\n"
                     "mount tmpfs tmpfs on /tmp\n");
        _cleanup_free_ char *d = grep(t, "bind-device ");
        CHECK_STR(d, "bind-device /dev/null on /dev/null\n"
                     "bind-device /dev/zero on /dev/zero\n"
                     "bind-device /dev/full on /dev/full\n"
                     "bind-device /dev/random on /dev/random\n"
                     "bind-device /dev/urandom on /dev/urandom\n"
                     "bind-device /dev/tty on /dev/tty\n"
                     "bind-device /dev/fuse on /dev/fuse\n");
        _cleanup_free_ char *n = grep(t, "mknod ");
        CHECK_STR(n, "mknod /dev/fifo p 0:0 0600 0:0\n");
}

static void test_devices(void)
{
        struct nk_device devs[] = {
                {.type = 'c',
                 .path = "/dev/null",
                 .major = 1,
                 .minor = 3,
                 .has_mode = true,
                 .file_mode = 0600,
                 .has_uid = true,
                 .uid = 5,
                 .has_gid = true,
                 .gid = 6},
                {.type = 'b', .path = "/dev/sda", .major = 8, .minor = 0},
                {.type = 'u', .path = "/dev/x/y", .major = 4, .minor = 1},
        };
        struct nk_spec spec = {.devices = devs, .n_devices = 3};
        struct nk_rootfs_opts opts = {0};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        _cleanup_free_ char *n = grep(t, "mknod ");
        CHECK_STR(n, "mknod /dev/zero c 1:5 0666 0:0\n"
                     "mknod /dev/full c 1:7 0666 0:0\n"
                     "mknod /dev/random c 1:8 0666 0:0\n"
                     "mknod /dev/urandom c 1:9 0666 0:0\n"
                     "mknod /dev/tty c 5:0 0666 0:0\n"
                     "mknod /dev/null c 1:3 0600 5:6\n"
                     "mknod /dev/sda b 8:0 0666 0:0\n"
                     "mknod /dev/x/y c 4:1 0666 0:0\n");

        /* The host's /dev bound in: nothing of ours goes in it. */
        struct nk_mount mounts[] = {M("/dev/", "bind", "/dev", 0, NULL)};
        mounts[0].rbind = mounts[0].bind = true;
        spec.mounts = mounts;
        spec.n_mounts = 1;
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK(strstr(t, "mknod") == NULL && strstr(t, "symlink") == NULL);

        struct nk_device rel = {.type = 'c', .path = "dev/x"};
        struct nk_spec s2 = {.devices = &rel, .n_devices = 1};
        char *e = NULL;
        CHECK(plan_text(&s2, &opts, hybrid_mountinfo, NULL, &e) == NULL);
        CHECK_STR(e, "linux.devices[0]: path `dev/x` is not absolute");
        free(e);
}

static void test_root_options(void)
{
        struct nk_spec spec = {.root_readonly = true, .rootfs_propagation = MS_SHARED | MS_REC};
        struct nk_rootfs_opts opts = {.no_pivot = true};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        _cleanup_free_ char *head = grep(t, "p");
        CHECK_STR(head, "propagation / propagation=rshared\n"
                        "parent-private /b/rootfs\n");
        CHECK(strstr(t, "\nchroot /b/rootfs\n") != NULL && strstr(t, "pivot_root") == NULL);
        _cleanup_free_ char *tail = grep(t, "setattr ");
        CHECK_STR(tail, "setattr / set=ro\n"
                        "setattr / propagation=rshared\n");

        /* unbindable: the rootfs could not be bound on itself, so only at the end. */
        spec = (struct nk_spec){.rootfs_propagation = MS_UNBINDABLE};
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        static const char head_private[] = "propagation / propagation=rprivate\nbind-rootfs";
        CHECK(strncmp(t, head_private, strlen(head_private)) == 0);
        free(tail);
        tail = grep(t, "setattr ");
        CHECK_STR(tail, "setattr / propagation=unbindable\n");

        /* private: already done up front. */
        spec.rootfs_propagation = MS_PRIVATE;
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK(strstr(t, "setattr") == NULL);
}

/* A root filesystem given as a detached mount is attached on the rootfs
 * directory where the bind of it on itself would be, after its parent
 * went private (a shared parent would propagate it to the host). */
static void test_rootfs_mount(void)
{
        struct nk_spec spec = {.rootfs_propagation = MS_SHARED | MS_REC};
        struct nk_rootfs_opts opts = {.rootfs_mount_fd = 9};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        static const char head[] = "propagation / propagation=rshared\n"
                                   "parent-private /b/rootfs\n"
                                   "attach-rootfs /b/rootfs\n";
        CHECK(t && strncmp(t, head, strlen(head)) == 0);
        CHECK(t && strstr(t, "bind-rootfs") == NULL && strstr(t, "\npivot_root /b/rootfs\n"));

        struct nk_rootfs_env env = {.mountinfo = hybrid_mountinfo};
        struct nk_rplan plan = {0};
        nk_error *err = NULL;
        spec.rootfs_propagation = 0;
        CHECK(nk_rplan_build(&spec, "/b/rootfs", &opts, &env, &plan, &err) == 0);
        CHECK(plan.n > 1 && plan.ops[1].kind == NK_ROP_ATTACH_ROOTFS && plan.ops[1].tree == 9);
        nk_rplan_clear(&plan);

        opts.rootfs_mount_fd = 0; /* none: bound on itself as before */
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK(t && strstr(t, "\nbind-rootfs /b/rootfs\n") && !strstr(t, "attach-rootfs"));
}

/* Inside /proc only runc's list may be a destination; /proc itself and
 * look-alikes outside it are not this check's business. */
static void test_proc_destinations(void)
{
        CHECK(nk_proc_mount_allowed("/proc"));
        CHECK(nk_proc_mount_allowed("/procx/1"));
        CHECK(nk_proc_mount_allowed("/proc/meminfo"));
        CHECK(nk_proc_mount_allowed("/proc/sys/kernel/ns_last_pid"));
        CHECK(!nk_proc_mount_allowed("/proc/1"));
        CHECK(!nk_proc_mount_allowed("/proc/meminfo/x"));
        CHECK(!nk_proc_mount_allowed("/proc/sys/kernel"));
        CHECK(nk_proc_mount_allowed("/proc/.."));
        CHECK(nk_proc_mount_allowed("/proc/../x"));
        CHECK(!nk_proc_mount_allowed("/x/../proc/1"));
        CHECK(!nk_proc_mount_allowed("/../../proc//./self"));
        CHECK(!nk_proc_mount_allowed("proc/1"));
        CHECK(nk_proc_mount_allowed("/x/../proc/uptime"));

        struct nk_mount mounts[] = {M("/proc//self/", "bind", "/src", 0, NULL)};
        mounts[0].bind = true;
        struct nk_spec spec = {.mounts = mounts, .n_mounts = 1};
        struct nk_rootfs_opts opts = {0};
        char *e = NULL;
        CHECK(plan_text(&spec, &opts, hybrid_mountinfo, NULL, &e) == NULL);
        CHECK(e && strncmp(e,
                           "mounts[0]: destination /proc/self is inside /proc, where only "
                           "/proc/cpuinfo, ",
                           72) == 0);
        free(e);
}

/* process.cwd is made last before pivot_root (after the mounts, before the
 * read-only root); "/" needs nothing. */
static void test_cwd(void)
{
        struct nk_spec spec = {
                .root_readonly = true, .has_process = true, .process = {.cwd = "/work/dir"}};
        struct nk_rootfs_opts opts = {0};
        _cleanup_free_ char *t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK(t && strstr(t, "\ncwd /work/dir\npivot_root /b/rootfs\nsetattr / set=ro\n"));
        spec.process.cwd = "/";
        free(t);
        t = plan_text(&spec, &opts, hybrid_mountinfo, NULL, NULL);
        CHECK(t && !strstr(t, "cwd"));
}

static void test_mountinfo_has_below(void)
{
        CHECK(nk_mountinfo_has_below(hybrid_mountinfo, "/sys/fs"));
        CHECK(nk_mountinfo_has_below(hybrid_mountinfo, "/mnt"));
        CHECK(!nk_mountinfo_has_below(hybrid_mountinfo, "/mnt/with space"));
        CHECK(!nk_mountinfo_has_below(hybrid_mountinfo, "/sys/fs/cgroup/memory"));
        CHECK(!nk_mountinfo_has_below(hybrid_mountinfo, "/sy"));
        CHECK(nk_mountinfo_has_below(hybrid_mountinfo, "/"));
}

static void test_ms_to_attr(void)
{
        uint64_t s, c;
        nk_ms_to_attr(MS_RDONLY | MS_NOEXEC | MS_BIND | MS_REC, MS_NOSUID, &s, &c);
        CHECK(s == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOEXEC));
        CHECK(c == MOUNT_ATTR_NOSUID);
        nk_ms_to_attr(MS_STRICTATIME, 0, &s, &c);
        CHECK(s == MOUNT_ATTR_STRICTATIME && c == MOUNT_ATTR__ATIME);
        /* "atime" (clear noatime) means the kernel default, relatime. */
        nk_ms_to_attr(0, MS_NOATIME | MS_RDONLY, &s, &c);
        CHECK(s == MOUNT_ATTR_RELATIME && c == (MOUNT_ATTR__ATIME | MOUNT_ATTR_RDONLY));
        /* set wins over clear for the same flag */
        nk_ms_to_attr(MS_NODEV, MS_NODEV, &s, &c);
        CHECK(s == MOUNT_ATTR_NODEV && c == 0);
}

int main(void)
{
        test_default_spec_hybrid();
        test_cgroup_bind();
        test_binds();
        test_bad_mounts();
        test_userns();
        test_devices();
        test_root_options();
        test_rootfs_mount();
        test_ms_to_attr();
        test_proc_destinations();
        test_cwd();
        test_mountinfo_has_below();
        return UNIT_END();
}
