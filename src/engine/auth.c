#include "engine/auth.h"
#include "engine/engine.h"
#include "engine/jsonutil.h"
#include "engine/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

char *nk_base64(const void *data, size_t len)
{
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        if (out)
                EVP_EncodeBlock((unsigned char *)out, data, (int)len);
        return out;
}

/* base/rel, else $HOME/fallback_rel/rel (no fallback when NULL). */
static char *home_path(const char *base, const char *fallback_rel, const char *rel)
{
        char *p = NULL;
        if (base && *base) {
                if (asprintf(&p, "%s/%s", base, rel) < 0)
                        return NULL;
                return p;
        }
        const char *home = nk_engine_get_env()->home;
        if (!fallback_rel || !home || !*home ||
            asprintf(&p, "%s/%s/%s", home, fallback_rel, rel) < 0)
                return NULL;
        return p;
}

/* Where `nook login` writes. */
static char *write_path(const char *auth_file)
{
        if (auth_file)
                return strdup(auth_file);
        const struct nk_engine_env *env = nk_engine_get_env();
        if (env->auth_file && *env->auth_file)
                return strdup(env->auth_file);
        return home_path(env->xdg_config_home, ".config", "nook/auth.json");
}

/* "https://index.docker.io/v1/" and "host/path" forms name the host. */
static bool key_matches(const char *key, const char *registry)
{
        if (strncmp(key, "https://", 8) == 0)
                key += 8;
        else if (strncmp(key, "http://", 7) == 0)
                key += 7;
        size_t n = strcspn(key, "/");
        if (streq(registry, "docker.io"))
                return (n == 9 && strncmp(key, "docker.io", 9) == 0) ||
                       (n == 15 && strncmp(key, "index.docker.io", 15) == 0) ||
                       (n == 20 && strncmp(key, "registry-1.docker.io", 20) == 0);
        return strlen(registry) == n && strncmp(key, registry, n) == 0;
}

static int lookup_in(const char *path, const char *registry, char **out, nk_error **err)
{
        _cleanup_jansson_ json_t *doc = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(AT_FDCWD, path, &doc, &e) < 0) {
                bool absent = e->errno_ == ENOENT;
                if (absent) {
                        nk_error_free(e);
                        return 0;
                }
                nk_error_pass(err, e);
                return nk_error_wrap(err, "auth file");
        }
        const char *key;
        json_t *ent;
        json_object_foreach (json_object_get(doc, "auths"), key, ent) {
                const char *auth = json_string_value(json_object_get(ent, "auth"));
                if (auth && *auth && key_matches(key, registry)) {
                        *out = strdup(auth);
                        return *out ? 1 : nk_error_set(err, ENOMEM, "auth");
                }
        }
        return 0;
}

int nk_auth_lookup(const char *auth_file, const char *registry, char **out, nk_error **err)
{
        *out = NULL;
        if (auth_file)
                return lookup_in(auth_file, registry, out, err) < 0 ? -1 : 0;
        const struct nk_engine_env *env = nk_engine_get_env();
        char *paths[] = {
                env->auth_file && *env->auth_file ? strdup(env->auth_file) : NULL,
                home_path(env->xdg_config_home, ".config", "nook/auth.json"),
                home_path(env->xdg_runtime_dir, NULL, "containers/auth.json"),
                home_path(env->docker_config, ".docker", "config.json"),
        };
        int r = 0;
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                if (r == 0 && paths[i])
                        r = lookup_in(paths[i], registry, out, err);
                free(paths[i]);
        }
        return r < 0 ? -1 : 0;
}

static int edit_auth_file(const char *path, const char *registry, const char *auth, nk_error **err)
{
        _cleanup_jansson_ json_t *doc = NULL;
        nk_error *e = NULL;
        if (nk_store_read_json(AT_FDCWD, path, &doc, &e) < 0) {
                if (e->errno_ != ENOENT) {
                        return nk_error_pass(err, e);
                }
                nk_error_free(e);
                doc = json_object();
        }
        json_t *auths = json_object_get(doc, "auths");
        if (!json_is_object(auths)) {
                auths = json_object();
                json_object_set_new(doc, "auths", auths);
        }
        if (auth)
                json_object_set_new(auths, registry, json_pack("{s:s}", "auth", auth));
        else if (json_object_del(auths, registry) < 0)
                return nk_error_set(err, 0, "not logged in to %s (in `%s`)", registry, path);
        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return nk_error_set(err, ENOMEM, "save `%s`", path);
        if (nk_mkdir_p(dirname(dir), 0700, err) < 0)
                return -1;
        _cleanup_free_ char *text = json_dumps(doc, JSON_INDENT(2));
        /* 0600: the file holds passwords. */
        return text ? nk_write_file_atomic(path, text, strlen(text), 0600, err)
                    : nk_error_set(err, ENOMEM, "auth");
}

int nk_auth_store(const char *auth_file, const char *registry, const char *user, const char *pass,
                  nk_error **err)
{
        _cleanup_free_ char *path = write_path(auth_file), *up = NULL, *b64 = NULL;
        if (!path)
                return nk_error_set(err, 0, "no auth file: set HOME or REGISTRY_AUTH_FILE");
        if (asprintf(&up, "%s:%s", user, pass) < 0 || !(b64 = nk_base64(up, strlen(up))))
                return nk_error_set(err, ENOMEM, "auth");
        return edit_auth_file(path, registry, b64, err);
}

int nk_auth_remove(const char *auth_file, const char *registry, nk_error **err)
{
        _cleanup_free_ char *path = write_path(auth_file);
        if (!path)
                return nk_error_set(err, 0, "no auth file: set HOME or REGISTRY_AUTH_FILE");
        return edit_auth_file(path, registry, NULL, err);
}

void nk_challenge_clear(struct nk_challenge *c)
{
        free(c->realm);
        free(c->service);
        free(c->scope);
        memset(c, 0, sizeof(*c));
}

/* One key="value" (or key=token) pair; returns the position after it. */
static const char *parse_param(const char *p, char **key, char **val)
{
        while (*p == ' ' || *p == ',')
                p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ' && *p != ',')
                p++;
        if (*p != '=' || p == k)
                return NULL;
        *key = strndup(k, (size_t)(p - k));
        p++;
        const char *v = p;
        if (*p == '"') {
                v = ++p;
                while (*p && *p != '"')
                        p += (*p == '\\' && p[1]) ? 2 : 1;
                *val = strndup(v, (size_t)(p - v));
                return *p ? p + 1 : p;
        }
        while (*p && *p != ',')
                p++;
        *val = strndup(v, (size_t)(p - v));
        return p;
}

int nk_challenge_parse(const char *header, struct nk_challenge *c, nk_error **err)
{
        memset(c, 0, sizeof(*c));
        const char *p = header;
        while (*p == ' ')
                p++;
        size_t n = strcspn(p, " ");
        if (n == 0 || n >= sizeof(c->scheme))
                return nk_error_set(err, 0, "WWW-Authenticate `%s`: no scheme", header);
        for (size_t i = 0; i < n; i++)
                c->scheme[i] = (char)tolower((unsigned char)p[i]);
        p += n;
        while (p && *p) {
                char *key = NULL, *val = NULL;
                p = parse_param(p, &key, &val);
                if (!p || !key || !val) {
                        free(key);
                        free(val);
                        break;
                }
                char **slot = !strcasecmp(key, "realm")     ? &c->realm
                              : !strcasecmp(key, "service") ? &c->service
                              : !strcasecmp(key, "scope")   ? &c->scope
                                                            : NULL;
                if (slot && !*slot)
                        *slot = TAKE_PTR(val);
                free(key);
                free(val);
        }
        if (streq(c->scheme, "bearer") && !c->realm) {
                nk_challenge_clear(c);
                return nk_error_set(err, 0, "WWW-Authenticate `%s`: bearer without realm", header);
        }
        return 0;
}
