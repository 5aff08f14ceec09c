#include "engine/ref.h"
#include "engine/digest.h"
#include "util/cleanup.h"
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void nk_ref_clear(struct nk_ref *r)
{
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        memset(r, 0, sizeof(*r));
}

static bool is_alnum_lower(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+ separated by one of ".", "_", "__", or any number of "-". */
static bool valid_component(const char *s, size_t n)
{
        if (n == 0 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++) {
                if (is_alnum_lower(s[i]))
                        continue;
                if (s[i] == '.' || s[i] == '_') {
                        bool dunder = s[i] == '_' && s[i + 1] == '_';
                        size_t next = i + (dunder ? 2 : 1);
                        if (next >= n || !is_alnum_lower(s[next]))
                                return false;
                        i = next - 1;
                } else if (s[i] != '-') {
                        return false;
                }
        }
        return true;
}

static bool valid_path(const char *p)
{
        for (;;) {
                const char *slash = strchrnul(p, '/');
                if (!valid_component(p, (size_t)(slash - p)))
                        return false;
                if (!*slash)
                        return true;
                p = slash + 1;
        }
}

/* host[:port]: dot-separated alphanumeric labels (inner '-' allowed) or a
 * bracketed IPv6 address; the port is digits. */
static bool valid_domain(const char *d)
{
        const char *port = NULL;
        if (d[0] == '[') {
                const char *end = strchr(d, ']');
                if (!end || end == d + 1 ||
                    strspn(d + 1, "0123456789abcdefABCDEF:") != (size_t)(end - d - 1))
                        return false;
                port = end[1] == ':' ? end + 2 : end[1] ? "" : NULL;
        } else {
                size_t hl = strcspn(d, ":");
                if (hl == 0 || d[0] == '.' || d[0] == '-' || d[hl - 1] == '.' || d[hl - 1] == '-')
                        return false;
                for (size_t i = 0; i < hl; i++)
                        if (!isalnum((unsigned char)d[i]) && d[i] != '.' && d[i] != '-')
                                return false;
                if (strstr(d, ".."))
                        return false;
                port = d[hl] == ':' ? d + hl + 1 : NULL;
        }
        return !port || (*port && strspn(port, "0123456789") == strlen(port));
}

static bool valid_tag(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

/* Split "name[:tag]" (the digest is already cut off) into name and tag. */
static int split_tag(char *name, char **tag)
{
        char *slash = strrchr(name, '/');
        char *colon = strrchr(slash ? slash : name, ':');
        *tag = NULL;
        if (colon) {
                *colon = '\0';
                *tag = colon + 1;
        }
        return 0;
}

static int set_domain_path(struct nk_ref *r, const char *name)
{
        const char *slash = strchr(name, '/');
        bool has_domain = slash && (memchr(name, '.', (size_t)(slash - name)) ||
                                    memchr(name, ':', (size_t)(slash - name)) ||
                                    strncmp(name, "localhost/", 10) == 0);
        if (has_domain) {
                r->domain = strndup(name, (size_t)(slash - name));
                name = slash + 1;
        } else {
                r->domain = strdup("docker.io");
        }
        if (!r->domain)
                return -1;
        if (streq(r->domain, "index.docker.io")) {
                free(r->domain);
                r->domain = strdup("docker.io");
        }
        bool library = r->domain && streq(r->domain, "docker.io") && !strchr(name, '/');
        if (asprintf(&r->path, "%s%s", library ? "library/" : "", name) < 0) {
                r->path = NULL;
                return -1;
        }
        return r->domain ? 0 : -1;
}

static int parse_into(const char *s, char *copy, struct nk_ref *out, nk_error **err)
{
        char *at = strchr(copy, '@');
        if (at) {
                *at = '\0';
                if (!nk_digest_valid(at + 1))
                        return nk_error_set(err, 0,
                                            "reference `%s`: invalid digest `%s` "
                                            "(want sha256:<64 hex>)",
                                            s, at + 1);
                if (!(out->digest = strdup(at + 1)))
                        return nk_error_set(err, ENOMEM, "reference `%s`", s);
        }
        char *tag;
        split_tag(copy, &tag);
        if (tag && !valid_tag(tag))
                return nk_error_set(err, 0, "reference `%s`: invalid tag `%s`", s, tag);
        if (set_domain_path(out, copy) < 0)
                return nk_error_set(err, ENOMEM, "reference `%s`", s);
        if (!valid_domain(out->domain) || !valid_path(out->path))
                return nk_error_set(err, 0,
                                    "invalid reference `%s` (repository names are "
                                    "lowercase: [domain/]name[:tag][@digest])",
                                    s);
        out->tag = tag ? strdup(tag) : out->digest ? NULL : strdup("latest");
        if (!out->tag && !out->digest)
                return nk_error_set(err, ENOMEM, "reference `%s`", s);
        return 0;
}

int nk_ref_parse(const char *s, struct nk_ref *r, nk_error **err)
{
        struct nk_ref out = {0};
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return nk_error_set(err, ENOMEM, "reference `%s`", s);
        if (parse_into(s, copy, &out, err) < 0) {
                nk_ref_clear(&out);
                return -1;
        }
        *r = out;
        return 0;
}

char *nk_ref_repo(const struct nk_ref *r)
{
        char *s = NULL;
        if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
                return NULL;
        return s;
}

char *nk_ref_key(const struct nk_ref *r)
{
        char *s = NULL;
        int n = r->digest ? asprintf(&s, "%s/%s@%s", r->domain, r->path, r->digest)
                          : asprintf(&s, "%s/%s:%s", r->domain, r->path, r->tag);
        return n < 0 ? NULL : s;
}

const char *nk_ref_familiar(const char *repo)
{
        if (strncmp(repo, "docker.io/", 10) != 0)
                return repo;
        const char *rest = repo + 10;
        if (strncmp(rest, "library/", 8) != 0)
                return rest;
        /* A loop, not strchr: GCC 12 with -fsanitize misjudges the bound. */
        for (const char *p = rest + 8; *p; p++)
                if (*p == '/')
                        return rest;
        return rest + 8;
}

char *nk_ref_key_split(const char *key, const char **suffix, char *sep)
{
        const char *at = strchr(key, '@');
        const char *slash = strrchr(key, '/');
        const char *colon = strrchr(slash ? slash : key, ':');
        const char *cut = at ? at : colon;
        if (!cut) {
                *suffix = "";
                *sep = ':';
                return strdup(key);
        }
        *suffix = cut + 1;
        *sep = *cut;
        return strndup(key, (size_t)(cut - key));
}

const char *nk_ref_registry_host(const char *domain)
{
        return streq(domain, "docker.io") ? "registry-1.docker.io" : domain;
}
