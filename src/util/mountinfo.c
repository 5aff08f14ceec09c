#include "mountinfo.h"
#include "cleanup.h"
#include "parse.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel escapes space, tab, newline and backslash as \ooo (a byte:
 * first digit 0-3); anything else stays as it is. */
static void unescape(char *s)
{
        char *o = s;
        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else {
                        *o++ = *s;
                }
        }
        *o = '\0';
}

static int parse_uint(const char *s, unsigned *out)
{
        unsigned long long v;
        if (nk_parse_uint(s, 0xffffffffULL, &v) < 0)
                return -1;
        *out = (unsigned)v;
        return 0;
}

/* "major:minor" */
static int parse_dev(char *s, unsigned *major, unsigned *minor)
{
        char *colon = strchr(s, ':');
        if (!colon)
                return -1;
        *colon = '\0';
        int r = parse_uint(s, major) < 0 || parse_uint(colon + 1, minor) < 0 ? -1 : 0;
        *colon = ':';
        return r;
}

int nk_mountinfo_parse_line(char *line, struct nk_mountinfo_entry *e)
{
        char *f[6], *save = NULL;
        char *t = strtok_r(line, " ", &save);
        for (int i = 0; i < 6; i++, t = strtok_r(NULL, " ", &save)) {
                if (!t)
                        return -1;
                f[i] = t;
        }
        while (t && !streq(t, "-")) /* optional fields up to the separator */
                t = strtok_r(NULL, " ", &save);
        char *fstype = strtok_r(NULL, " ", &save);
        char *source = strtok_r(NULL, " ", &save);
        char *superopts = strtok_r(NULL, " ", &save);
        if (!t || !fstype || !source || !superopts)
                return -1;
        struct nk_mountinfo_entry r = {.root = f[3],
                                       .mountpoint = f[4],
                                       .opts = f[5],
                                       .fstype = fstype,
                                       .source = source,
                                       .superopts = superopts};
        if (parse_uint(f[0], &r.id) < 0 || parse_uint(f[1], &r.parent) < 0 ||
            parse_dev(f[2], &r.major, &r.minor) < 0)
                return -1;
        unescape(r.root);
        unescape(r.mountpoint);
        *e = r;
        return 0;
}

int nk_mountinfo_foreach(const char *text,
                         int (*fn)(const struct nk_mountinfo_entry *e, void *data), void *data)
{
        _cleanup_free_ char *copy = strdup(text ? text : "");
        char *save = NULL;
        if (!copy)
                return -1;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                struct nk_mountinfo_entry e;
                int r;
                if (nk_mountinfo_parse_line(l, &e) == 0 && (r = fn(&e, data)) != 0)
                        return r;
        }
        return 0;
}
