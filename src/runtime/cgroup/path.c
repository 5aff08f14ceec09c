/* Container cgroup path rules (docs/cgroups.md):
 *   none given        -> /nook/<id>
 *   "/a/b"            -> /a/b (relative to every hierarchy's root)
 *   "a/b"             -> <nook's own cgroup>/a/b
 *   "slice:prefix:nm" -> runc's systemd form, mapped to the path systemd
 *                        would use: /x.slice/x-y.slice/prefix-nm.scope
 * "." and ".." components are refused so a path never leaves its root. */
#include "../../util/cleanup.h"
#include "../../util/fs.h"
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Join a and b with one '/', dropping empty components; refuse "." and "..". */
static int append_clean(char **acc, const char *p)
{
        _cleanup_free_ char *dup = strdup(p);
        char *save = NULL;
        if (!dup)
                return -1;
        for (char *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                if (streq(t, ".") || streq(t, "..")) {
                        errno = EINVAL;
                        return -1;
                }
                char *n = NULL;
                if (asprintf(&n, "%s/%s", *acc, t) < 0)
                        return -1;
                free(*acc);
                *acc = n;
        }
        return 0;
}

static char *clean_path(const char *a, const char *b)
{
        char *acc = strdup("");
        if (!acc)
                return NULL;
        if ((a && append_clean(&acc, a) < 0) || (b && append_clean(&acc, b) < 0)) {
                int e = errno;
                free(acc);
                errno = e;
                return NULL;
        }
        if (acc[0] == '\0') {
                free(acc);
                return strdup("/");
        }
        return acc;
}

bool nk_cg_is_systemd_form(const char *p)
{
        if (!p || p[0] == '/')
                return false;
        const char *c1 = strchr(p, ':');
        return c1 && strchr(c1 + 1, ':') && !strchr(strchr(c1 + 1, ':') + 1, ':');
}

/* "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "" and "-.slice" are the root. */
static char *expand_slice(const char *slice)
{
        if (slice[0] == '\0' || streq(slice, "-.slice"))
                return strdup("");
        size_t len = strlen(slice);
        if (len <= 6 || strcmp(slice + len - 6, ".slice") != 0 || slice[0] == '-' ||
            strchr(slice, '/') || strstr(slice, "--") || slice[len - 7] == '-') {
                errno = EINVAL;
                return NULL;
        }
        char *acc = strdup("");
        size_t stem = len - 6;
        for (size_t i = 0; acc && i <= stem; i++) {
                if (i < stem && slice[i] != '-')
                        continue;
                char *n = NULL;
                if (asprintf(&n, "%s/%.*s.slice", acc, (int)i, slice) < 0)
                        n = NULL;
                free(acc);
                acc = n;
        }
        return acc;
}

char *nk_cg_systemd_path(const char *spec)
{
        _cleanup_free_ char *dup = strdup(spec);
        if (!dup)
                return NULL;
        char *slice = dup, *prefix = strchr(dup, ':');
        *prefix++ = '\0';
        char *name = strchr(prefix, ':');
        *name++ = '\0';
        if (name[0] == '\0' || strchr(name, '/') || strchr(prefix, '/')) {
                errno = EINVAL;
                return NULL;
        }
        /* runc puts containers without a slice under system.slice. */
        _cleanup_free_ char *sl = expand_slice(slice[0] ? slice : "system.slice");
        if (!sl)
                return NULL;
        size_t nl = strlen(name);
        char *out = NULL;
        int r;
        if (nl > 6 && streq(name + nl - 6, ".slice"))
                r = asprintf(&out, "%s/%s", sl, name);
        else if (prefix[0])
                r = asprintf(&out, "%s/%s-%s.scope", sl, prefix, name);
        else
                r = asprintf(&out, "%s/%s.scope", sl, name);
        return r < 0 ? NULL : out;
}

char *nk_cg_path_join(const char *own, const char *cgroups_path, const char *id)
{
        if (!cgroups_path || cgroups_path[0] == '\0') {
                if (!id || !id[0] || strchr(id, '/')) {
                        errno = EINVAL;
                        return NULL;
                }
                return clean_path("/nook", id);
        }
        if (cgroups_path[0] == '/')
                return clean_path(cgroups_path, NULL);
        if (nk_cg_is_systemd_form(cgroups_path)) {
                _cleanup_free_ char *p = nk_cg_systemd_path(cgroups_path);
                return p ? clean_path(p, NULL) : NULL;
        }
        return clean_path(own ? own : "/", cgroups_path);
}

char *nk_cg_own_path_from(const char *text, bool v2_mounted)
{
        const char *best = NULL, *named = NULL, *first = NULL;
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *c1 = strchr(l, ':');
                const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                if (c1 - l == 1 && l[0] == '0' && c2 == c1 + 1) {
                        if (v2_mounted)
                                best = c2 + 1;
                        continue;
                }
                if (!first)
                        first = c2 + 1;
                if (strncmp(c1 + 1, "name=systemd:", 13) == 0)
                        named = c2 + 1;
        }
        const char *p = named ? named : best ? best : first;
        if (!p)
                return strdup("/");
        size_t len = strcspn(p, "\n");
        return strndup(p, len);
}

char *nk_cgroup_path_for(const char *cgroups_path, const char *id)
{
        _cleanup_free_ char *own = NULL;
        if (cgroups_path && cgroups_path[0] && cgroups_path[0] != '/' &&
            !nk_cg_is_systemd_form(cgroups_path)) {
                _cleanup_free_ char *text = NULL;
                if (nk_read_file("/proc/self/cgroup", &text, NULL, NULL) < 0)
                        return NULL;
                struct nk_cg_host h = {0};
                bool v2 = true;
                if (nk_cg_host_detect(&h, NULL) == 0)
                        v2 = nk_cg_host_v2(&h) != NULL;
                nk_cg_host_clear(&h);
                own = nk_cg_own_path_from(text, v2);
                if (!own)
                        return NULL;
        }
        return nk_cg_path_join(own, cgroups_path, id);
}
