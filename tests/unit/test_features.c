/* `nook features` against the parsers: every name the document lists must be
 * taken by the code that reads config.json (as that kind of thing: a mount
 * option as an option, not as filesystem data), and names the parser does
 * not know must not be listed. Fails when a list is written by hand again
 * and drifts from the tables. */
#include "runtime/features.h"
#include "runtime/security.h"
#include "runtime/spec.h"
#include "unit.h"
#include <stdlib.h>

static bool listed(json_t *a, const char *name)
{
        size_t i;
        json_t *v;
        json_array_foreach (a, i, v)
                if (strcmp(json_string_value(v), name) == 0)
                        return true;
        return false;
}

/* A known option leaves no filesystem data behind. */
static bool is_mount_option(const char *name)
{
        char *opts[] = {(char *)name, NULL};
        struct nk_mount m = {.destination = "/x", .type = "tmpfs", .options = opts};
        nk_error *e = NULL;
        bool ok = nk_mount_parse_options(&m, "mounts[0]", &e) == 0 && !m.data;
        free(m.data);
        nk_error_free(e);
        return ok;
}

static void test_mount_options(json_t *f)
{
        json_t *a = json_object_get(f, "mountOptions");
        size_t i, n = 0;
        json_t *v;
        CHECK(json_array_size(a) > 50);
        json_array_foreach (a, i, v) {
                if (!is_mount_option(json_string_value(v)))
                        fprintf(stderr, "listed but parsed as fs data: %s\n", json_string_value(v));
                CHECK(is_mount_option(json_string_value(v)));
        }
        for (const char *o; (o = nk_mount_option_name(n)); n++)
                CHECK(listed(a, o));
        CHECK(n == json_array_size(a));
        /* Filesystem data, passed through to the filesystem, not options. */
        CHECK(!listed(a, "acl") && !listed(a, "noacl") && !listed(a, "mode=755"));
        CHECK(listed(a, "iversion") && listed(a, "copy-symlink") && listed(a, "rro"));
}

static void test_capabilities(json_t *f)
{
        json_t *a = json_object_get(json_object_get(f, "linux"), "capabilities");
        size_t i;
        json_t *v;
        CHECK(json_array_size(a) >= 41);
        json_array_foreach (a, i, v)
                CHECK(nk_cap_from_name(json_string_value(v)) >= 0);
        CHECK(listed(a, "CAP_CHECKPOINT_RESTORE") && !listed(a, "CAP_NOPE"));
}

static void test_namespaces_hooks(json_t *f)
{
        json_t *a = json_object_get(json_object_get(f, "linux"), "namespaces");
        size_t i;
        json_t *v;
        CHECK(json_array_size(a) == NK_NS__COUNT);
        json_array_foreach (a, i, v)
                CHECK(nk_ns_from_oci_name(json_string_value(v)) >= 0);
        a = json_object_get(f, "hooks");
        CHECK(json_array_size(a) == NK_HOOK__COUNT);
        json_array_foreach (a, i, v) {
                char *cfg = NULL;
                CHECK(asprintf(&cfg,
                               "{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"},"
                               " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\","
                               " \"user\": {\"uid\": 0, \"gid\": 0}},"
                               " \"hooks\": {\"%s\": [{\"path\": \"/bin/true\"}]}}",
                               json_string_value(v)) > 0);
                struct nk_spec *s = NULL;
                nk_error *e = NULL;
                size_t hooks = 0;
                CHECK(nk_spec_parse(cfg, strlen(cfg), "config.json", &s, &e) == 0);
                for (int k = 0; s && k < NK_HOOK__COUNT; k++)
                        hooks += s->n_hooks[k];
                CHECK(hooks == 1);
                nk_spec_free(s);
                nk_error_free(e);
                free(cfg);
        }
}

/* `pre` NAME `post` as a profile, validated. */
static bool seccomp_ok(const char *pre, const char *name, const char *post)
{
        char *text = NULL;
        if (asprintf(&text, "%s%s%s", pre, name, post) < 0)
                return false;
        json_t *j = json_loads(text, 0, NULL);
        nk_error *e = NULL;
        bool ok = j && nk_seccomp_validate(j, "linux.seccomp", &e) == 0;
        if (!ok)
                fprintf(stderr, "seccomp refused %s: %s\n", name, e ? e->msg : "bad JSON");
        json_decref(j);
        nk_error_free(e);
        free(text);
        return ok;
}

static void test_seccomp(json_t *f)
{
        json_t *sc = json_object_get(json_object_get(f, "linux"), "seccomp");
        size_t i;
        json_t *v;
        CHECK(json_array_size(json_object_get(sc, "actions")) >= 8);
        json_array_foreach (json_object_get(sc, "actions"), i, v)
                CHECK(seccomp_ok("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\":"
                                 " \"/run/l.sock\", \"syscalls\": [{\"names\":"
                                 " [\"getcwd\"], \"action\": \"",
                                 json_string_value(v), "\"}]}"));
        json_array_foreach (json_object_get(sc, "operators"), i, v)
                CHECK(seccomp_ok(
                        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\":"
                        " [\"getcwd\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\":"
                        " 0, \"value\": 1, \"valueTwo\": 1, \"op\": \"",
                        json_string_value(v), "\"}]}]}"));
        json_array_foreach (json_object_get(sc, "archs"), i, v)
                CHECK(seccomp_ok("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"",
                                 json_string_value(v), "\"]}"));
        json_array_foreach (json_object_get(sc, "knownFlags"), i, v)
                CHECK(seccomp_ok("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": [\"",
                                 json_string_value(v), "\"]}"));
}

int main(void)
{
        json_t *f = nk_features();
        CHECK(f != NULL);
        test_mount_options(f);
        test_capabilities(f);
        test_namespaces_hooks(f);
        test_seccomp(f);
        json_decref(f);
        return UNIT_END();
}
