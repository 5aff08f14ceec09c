/* Image references, tar entry paths, auth challenges. */
#include "engine/auth.h"
#include "engine/layer.h"
#include "engine/ref.h"
#include "unit.h"
#include <stdlib.h>

static char *key_of(const char *s)
{
        struct nk_ref r;
        if (nk_ref_parse(s, &r, NULL) < 0)
                return NULL;
        char *k = nk_ref_key(&r);
        nk_ref_clear(&r);
        return k;
}

static void check_key(const char *in, const char *want)
{
        char *k = key_of(in);
        CHECK_STR(k, want);
        free(k);
}

static void refs(void)
{
        check_key("busybox", "docker.io/library/busybox:latest");
        check_key("busybox:1.36", "docker.io/library/busybox:1.36");
        check_key("user/app", "docker.io/user/app:latest");
        check_key("index.docker.io/library/x", "docker.io/library/x:latest");
        check_key("localhost/app:v1", "localhost/app:v1");
        check_key("127.0.0.1:5000/a/b/c:tag_1.2-x", "127.0.0.1:5000/a/b/c:tag_1.2-x");
        check_key("quay.io/org/img@sha256:"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                  "quay.io/org/img@sha256:"
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        check_key("reg:5000/img", "reg:5000/img:latest");
        check_key("a__b/c.d-e", "docker.io/a__b/c.d-e:latest");
        const char *bad[] = {"",
                             "UPPER",
                             "a//b",
                             "a/:tag",
                             "img:",
                             "img@sha256:short",
                             "img:bad/tag",
                             "-lead",
                             "a/b_",
                             "img:"
                             "x$y",
                             "a___b",
                             NULL};
        for (const char **b = bad; *b; b++) {
                char *k = key_of(*b);
                if (k)
                        fprintf(stderr, "accepted bad ref `%s` as %s\n", *b, k);
                CHECK(k == NULL);
                free(k);
        }
        CHECK_STR(nk_ref_familiar("docker.io/library/busybox"), "busybox");
        CHECK_STR(nk_ref_familiar("docker.io/user/app"), "user/app");
        CHECK_STR(nk_ref_familiar("quay.io/a/b"), "quay.io/a/b");
        const char *suffix;
        char sep;
        char *repo = nk_ref_key_split("127.0.0.1:5000/a:v1", &suffix, &sep);
        CHECK_STR(repo, "127.0.0.1:5000/a");
        CHECK_STR(suffix, "v1");
        CHECK(sep == ':');
        free(repo);
        CHECK_STR(nk_ref_registry_host("docker.io"), "registry-1.docker.io");
}

static void check_clean(const char *in, const char *want)
{
        char *out = NULL;
        int r = nk_tar_clean_path(in, &out, NULL);
        if (want) {
                CHECK(r == 0);
                CHECK_STR(out, want);
        } else {
                CHECK(r < 0);
        }
        free(out);
}

static void tar_paths(void)
{
        check_clean("a/b/c", "a/b/c");
        check_clean("./a//b/./c/", "a/b/c");
        check_clean("/etc/passwd", "etc/passwd");
        check_clean("./", "");
        check_clean(".", "");
        check_clean("a..b/..c/d..", "a..b/..c/d..");
        check_clean("..", NULL);
        check_clean("../x", NULL);
        check_clean("a/../b", NULL);
        check_clean("a/b/..", NULL);
        check_clean("/../x", NULL);
}

static void challenges(void)
{
        struct nk_challenge c;
        CHECK(nk_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service="
                                 "\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
                                 &c, NULL) == 0);
        CHECK_STR(c.scheme, "bearer");
        CHECK_STR(c.realm, "https://auth.docker.io/token");
        CHECK_STR(c.service, "registry.docker.io");
        CHECK_STR(c.scope, "repository:library/busybox:pull");
        nk_challenge_clear(&c);
        CHECK(nk_challenge_parse("Basic realm=\"basic-realm\"", &c, NULL) == 0);
        CHECK_STR(c.scheme, "basic");
        CHECK_STR(c.realm, "basic-realm");
        CHECK(c.scope == NULL);
        nk_challenge_clear(&c);
        CHECK(nk_challenge_parse("bearer realm=http://x/t, scope=\"a:b:pull,push\"", &c, NULL) ==
              0);
        CHECK_STR(c.realm, "http://x/t");
        CHECK_STR(c.scope, "a:b:pull,push");
        nk_challenge_clear(&c);
        CHECK(nk_challenge_parse("Bearer service=\"x\"", &c, NULL) < 0);
        char *b = nk_base64("user:pass", 9);
        CHECK_STR(b, "dXNlcjpwYXNz");
        free(b);
}

int main(void)
{
        refs();
        tar_paths();
        challenges();
        return UNIT_END();
}
