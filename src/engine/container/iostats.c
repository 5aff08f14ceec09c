/* nook engine — network and block I/O totals of a container (iostats.h). */
#include "engine/container/iostats.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/parse.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* One /proc/net/dev line: "  eth0: RXBYTES pkts errs ... TXBYTES ..."
 * (receive: 8 fields, then transmit: 8; bytes are the first of each). */
static int dev_line(const char *l, size_t len, char name[32], uint64_t *rx, uint64_t *tx)
{
        const char *colon = memchr(l, ':', len);
        if (!colon)
                return -1;
        const char *n = l + strspn(l, " ");
        size_t nl = (size_t)(colon - n);
        if (nl == 0 || nl >= 32)
                return -1;
        memcpy(name, n, nl);
        name[nl] = '\0';
        const char *p = colon + 1, *end = l + len;
        unsigned long long v[9];
        for (int i = 0; i < 9; i++) {
                while (p < end && *p == ' ')
                        p++;
                size_t t = strcspn(p, " \n");
                if (p + t > end || t == 0 || nk_parse_uint_n(p, t, UINT64_MAX, &v[i]) < 0)
                        return -1;
                p += t;
        }
        *rx = v[0];
        *tx = v[8];
        return 0;
}

int nk_net_dev_totals(const char *text, uint64_t *rx, uint64_t *tx)
{
        uint64_t r = 0, t = 0;
        bool any = false;
        for (const char *l = text; *l;) {
                size_t len = strcspn(l, "\n");
                char name[32];
                uint64_t a, b;
                if (dev_line(l, len, name, &a, &b) == 0) {
                        any = true;
                        if (strcmp(name, "lo") != 0) {
                                r += a;
                                t += b;
                        }
                }
                l += len + (l[len] == '\n');
        }
        if (!any)
                return -1;
        *rx = r;
        *tx = t;
        return 0;
}

int nk_ctr_net_io(pid_t pid, uint64_t *rx, uint64_t *tx, nk_error **err)
{
        char path[64];
        struct stat theirs, ours;
        snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
        if (stat(path, &theirs) < 0)
                return nk_error_set(err, errno, "%s", path);
        if (stat("/proc/self/ns/net", &ours) == 0 && ours.st_ino == theirs.st_ino &&
            ours.st_dev == theirs.st_dev) {
                *rx = *tx = 0;
                return 0;
        }
        snprintf(path, sizeof path, "/proc/%d/net/dev", (int)pid);
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (nk_read_file(path, &text, &len, err) < 0)
                return -1;
        if (nk_net_dev_totals(text, rx, tx) < 0)
                return nk_error_set(err, 0, "%s: no interface line", path);
        return 0;
}

void nk_blkio_totals(json_t *stats, uint64_t *read, uint64_t *write)
{
        json_t *list = json_object_get(json_object_get(stats, "blkio"), "ioServiceBytesRecursive");
        size_t i;
        json_t *e;
        *read = *write = 0;
        json_array_foreach (list, i, e) {
                const char *op = json_string_value(json_object_get(e, "op"));
                json_int_t v = json_integer_value(json_object_get(e, "value"));
                if (!op || v <= 0)
                        continue;
                if (strcasecmp(op, "read") == 0)
                        *read += (uint64_t)v;
                else if (strcasecmp(op, "write") == 0)
                        *write += (uint64_t)v;
        }
}
