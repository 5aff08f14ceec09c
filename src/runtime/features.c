/* `nook features`: every list is generated from the table the code that
 * parses config.json uses (mount options from mountopts.c, capability
 * names through nk_cap_from_name, hooks and namespaces from spec.c, seccomp
 * from seccomp.c), so the document cannot promise what the parser refuses
 * or leave out what it takes. tests/unit/test_features.c checks both ways. */
#include "features.h"
#include "security.h"
#include "spec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, as runc and crun print them. */
static json_t *mount_options(void)
{
        const char *v[128];
        size_t n = 0;
        for (const char *o; (o = nk_mount_option_name(n)) && n < 128; n++)
                v[n] = o;
        qsort(v, n, sizeof(*v), cmp_str);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

/* Every capability whose name the spec parser takes ("CAP_CHOWN"). */
static json_t *caps_list(void)
{
        json_t *a = json_array();
        for (int c = 0; c < 64; c++) {
                char *name = cap_to_name(c); /* "cap_chown", or "63" when unknown */
                char up[64];
                int n = snprintf(up, sizeof up, "%s", name ? name : "");
                cap_free(name);
                for (int i = 0; i < n && i < (int)sizeof up; i++)
                        if (up[i] >= 'a' && up[i] <= 'z')
                                up[i] = (char)(up[i] - 'a' + 'A');
                if (nk_cap_from_name(up) == c)
                        json_array_append_new(a, json_string(up));
        }
        return a;
}

static json_t *hooks_list(void)
{
        json_t *a = json_array();
        for (int k = 0; k < NK_HOOK__COUNT; k++)
                json_array_append_new(a, json_string(nk_hook_kind_name(k)));
        return a;
}

static json_t *ns_list(void)
{
        json_t *a = json_array();
        for (int t = 0; t < NK_NS__COUNT; t++)
                json_array_append_new(a, json_string(nk_ns_oci_name(t)));
        return a;
}

json_t *nk_features(void)
{
        json_t *cg =
                json_pack("{s:b,s:b,s:b,s:b}", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0);
        json_t *lx =
                json_pack("{s:o,s:o,s:o,s:o,s:{s:b},s:{s:b},s:{s:b},s:{s:{s:b}}}", "namespaces",
                          ns_list(), "capabilities", caps_list(), "cgroup", cg, "seccomp",
                          nk_seccomp_features(), "apparmor", "enabled", 1, "selinux", "enabled", 1,
                          "intelRdt", "enabled", 0, "mountExtensions", "idmap", "enabled", 1);
        return json_pack("{s:s,s:s,s:o,s:o,s:o,s:{s:s,s:s}}", "ociVersionMin", "1.0.0",
                         "ociVersionMax", "1.2.0", "hooks", hooks_list(), "mountOptions",
                         mount_options(), "linux", lx, "annotations", "io.github.nook.version",
                         NOOK_VERSION, "org.opencontainers.runc.checkpoint.enabled", "false");
}
