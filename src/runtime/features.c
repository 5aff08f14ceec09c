#include "features.h"
#include "security.h"
#include "spec.h"
#include <linux/capability.h>
#include <stdio.h>
#include <sys/capability.h>
#include <unistd.h>

static json_t *strings(const char *const *v)
{
        json_t *a = json_array();
        for (; *v; v++)
                json_array_append_new(a, json_string(*v));
        return a;
}

static json_t *caps_list(void)
{
        json_t *a = json_array();
        for (int c = 0; c <= CAP_LAST_CAP; c++) {
                char *name = cap_to_name(c);
                if (!name)
                        continue;
                char up[64];
                int n = snprintf(up, sizeof up, "%s", name); /* "cap_chown" */
                for (int i = 0; i < n; i++)
                        if (up[i] >= 'a' && up[i] <= 'z')
                                up[i] = (char)(up[i] - 'a' + 'A');
                cap_free(name);
                json_array_append_new(a, json_string(up));
        }
        return a;
}

json_t *nk_features(void)
{
        static const char *const hooks[] = {"prestart", "createRuntime", "createContainer",
                                            "startContainer", "poststart", "poststop", NULL};
        static const char *const mount_opts[] = {
                "acl", "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync",
                "exec", "idmap", "lazytime", "loud", "mand", "noacl", "noatime", "nodev",
                "nodiratime", "noexec", "nolazytime", "nomand", "norelatime", "nostrictatime",
                "nosuid", "nosymfollow", "private", "ratime", "rbind", "rdev", "rdiratime",
                "relatime", "remount", "rexec", "ridmap", "rnoatime", "rnodev", "rnodiratime",
                "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "rnosymfollow", "ro",
                "rprivate", "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime",
                "rsuid", "rsymfollow", "runbindable", "rw", "shared", "silent", "slave",
                "strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable", NULL};
        json_t *ns = json_array();
        for (int t = 0; t < NK_NS__COUNT; t++)
                json_array_append_new(ns, json_string(nk_ns_oci_name(t)));
        json_t *cg = json_pack("{s:b,s:b,s:b,s:b}", "v1", 1, "v2", 1, "systemd", 0,
                               "systemdUser", 0);
        json_t *lx = json_pack("{s:o,s:o,s:o,s:o,s:{s:b},s:{s:b},s:{s:b},s:{s:{s:b}}}",
                                  "namespaces", ns, "capabilities", caps_list(), "cgroup", cg,
                                  "seccomp", nk_seccomp_features(), "apparmor", "enabled", 1,
                                  "selinux", "enabled", 1, "intelRdt", "enabled", 0,
                                  "mountExtensions", "idmap", "enabled", 1);
        return json_pack("{s:s,s:s,s:o,s:o,s:o,s:{s:s,s:s}}", "ociVersionMin", "1.0.0",
                         "ociVersionMax", "1.2.0", "hooks", strings(hooks), "mountOptions",
                         strings(mount_opts), "linux", lx, "annotations",
                         "io.github.nook.version", NOOK_VERSION, "org.opencontainers.runc.checkpoint.enabled", "false");
}
