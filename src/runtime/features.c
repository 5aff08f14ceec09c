#include "features.h"
#include "spec.h"
#include <linux/capability.h>
#include <seccomp.h>
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

static json_t *seccomp_features(void)
{
        static const char *const actions[] = {
                "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                "SCMP_ACT_TRAP", NULL};
        static const char *const ops[] = {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                          "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
                                          "SCMP_CMP_NE", NULL};
        static const char *const archs[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                                            NULL};
        static const char *const flags[] = {"SECCOMP_FILTER_FLAG_TSYNC",
                                            "SECCOMP_FILTER_FLAG_LOG",
                                            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", NULL};
        json_t *o = json_object();
        json_object_set_new(o, "enabled", json_true());
        json_object_set_new(o, "actions", strings(actions));
        json_object_set_new(o, "operators", strings(ops));
        json_object_set_new(o, "archs", strings(archs));
        json_object_set_new(o, "knownFlags", strings(flags));
        json_object_set_new(o, "supportedFlags", strings(flags));
        return o;
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
                                  "seccomp", seccomp_features(), "apparmor", "enabled", 1,
                                  "selinux", "enabled", 1, "intelRdt", "enabled", 0,
                                  "mountExtensions", "idmap", "enabled", 1);
        return json_pack("{s:s,s:s,s:o,s:o,s:o,s:{s:s,s:s}}", "ociVersionMin", "1.0.0",
                         "ociVersionMax", "1.2.0", "hooks", strings(hooks), "mountOptions",
                         strings(mount_opts), "linux", lx, "annotations",
                         "io.github.nook.version", NOOK_VERSION, "org.opencontainers.runc.checkpoint.enabled", "false");
}
