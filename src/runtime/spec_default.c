/* The config.json `nook spec` writes: the same container runc's `spec`
 * describes (busybox-style shell, three capabilities, the usual /proc, /dev
 * and /sys mounts, masked and read-only /proc paths), so bundles made by
 * either runtime behave alike. --rootless adapts it for an unprivileged
 * user: a user namespace mapping that user to root, no network namespace,
 * /sys bound from the host (sysfs cannot be mounted without owning the
 * network namespace), no uid=/gid= mount options, no cgroup resources. */
#include "spec.h"
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

static json_t *default_caps(void)
{
        json_t *caps = json_object();
        static const char *const sets[] = {"bounding", "effective", "permitted", "ambient"};
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
                json_object_set_new(
                        caps, sets[i],
                        json_pack("[sss]", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"));
        return caps;
}

static json_t *default_process(void)
{
        return json_pack("{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s, s:o, s:[{s:s, s:i, s:i}], s:b}",
                         "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env",
                         "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "TERM=xterm", "cwd", "/", "capabilities", default_caps(), "rlimits",
                         "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024, "noNewPrivileges", 1);
}

static json_t *mount(const char *dest, const char *type, const char *src, json_t *options)
{
        json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type, "source", src);
        if (options)
                json_object_set_new(m, "options", options);
        return m;
}

static json_t *default_mounts(bool rootless)
{
        json_t *sys =
                rootless ? mount("/sys", "none", "/sys",
                                 json_pack("[sssss]", "rbind", "nosuid", "noexec", "nodev", "ro"))
                         : mount("/sys", "sysfs", "sysfs",
                                 json_pack("[ssss]", "nosuid", "noexec", "nodev", "ro"));
        json_t *devpts = json_pack("[ssssss]", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                   "mode=0620", "gid=5");
        /* a rootless user has no group 5 to hand out */
        if (rootless)
                json_array_remove(devpts, 5);
        return json_pack(
                "[o, o, o, o, o, o, o]", mount("/proc", "proc", "proc", NULL),
                mount("/dev", "tmpfs", "tmpfs",
                      json_pack("[ssss]", "nosuid", "strictatime", "mode=755", "size=65536k")),
                mount("/dev/pts", "devpts", "devpts", devpts),
                mount("/dev/shm", "tmpfs", "shm",
                      json_pack("[sssss]", "nosuid", "noexec", "nodev", "mode=1777",
                                "size=65536k")),
                mount("/dev/mqueue", "mqueue", "mqueue",
                      json_pack("[sss]", "nosuid", "noexec", "nodev")),
                sys,
                mount("/sys/fs/cgroup", "cgroup", "cgroup",
                      json_pack("[sssss]", "nosuid", "noexec", "nodev", "relatime", "ro")));
}

/* runc adds a cgroup namespace only when the host is pure cgroup v2. */
static bool cgroup2_unified(void)
{
        struct statfs st;
        return statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

static json_t *default_namespaces(bool rootless)
{
        json_t *ns = json_array();
        static const char *const types[] = {"pid", "network", "ipc", "uts", "mount"};
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (!rootless || strcmp(types[i], "network") != 0)
                        json_array_append_new(ns, json_pack("{s:s}", "type", types[i]));
        if (cgroup2_unified())
                json_array_append_new(ns, json_pack("{s:s}", "type", "cgroup"));
        if (rootless)
                json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
        return ns;
}

static json_t *default_linux(bool rootless)
{
        json_t *l = json_object();
        if (!rootless)
                json_object_set_new(
                        l, "resources",
                        json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
        if (rootless) {
                json_object_set_new(l, "uidMappings",
                                    json_pack("[{s:I, s:I, s:i}]", "containerID", (json_int_t)0,
                                              "hostID", (json_int_t)geteuid(), "size", 1));
                json_object_set_new(l, "gidMappings",
                                    json_pack("[{s:I, s:I, s:i}]", "containerID", (json_int_t)0,
                                              "hostID", (json_int_t)getegid(), "size", 1));
        }
        json_object_set_new(l, "namespaces", default_namespaces(rootless));
        json_object_set_new(l, "maskedPaths",
                            json_pack("[ssssssssss]", "/proc/acpi", "/proc/asound", "/proc/kcore",
                                      "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                                      "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                                      "/proc/scsi"));
        json_object_set_new(l, "readonlyPaths",
                            json_pack("[sssss]", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"));
        return l;
}

json_t *nk_spec_default(bool rootless)
{
        return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0",
                         "process", default_process(), "root", "path", "rootfs", "readonly", 1,
                         "hostname", "nook", "mounts", default_mounts(rootless), "linux",
                         default_linux(rootless));
}
