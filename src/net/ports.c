#include "net/ports.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RANGE_MAX 1024 /* mappings one -p may make */

/* "N" or "N-M" (1..65535, N <= M); "" is 0-0 when empty_ok. */
static int parse_range(const char *s, bool empty_ok, unsigned *lo, unsigned *hi)
{
        unsigned long long a, b;
        if (!*s && empty_ok) {
                *lo = *hi = 0;
                return 0;
        }
        char buf[16];
        if (strlen(s) >= sizeof buf)
                return -1;
        snprintf(buf, sizeof buf, "%s", s);
        char *dash = strchr(buf, '-');
        if (dash)
                *dash = '\0';
        if (nk_parse_uint(buf, 65535, &a) < 0 || (dash && nk_parse_uint(dash + 1, 65535, &b) < 0))
                return -1;
        if (!dash)
                b = a;
        if (b < a || (a == 0 && !(empty_ok && b == 0)))
                return -1;
        *lo = (unsigned)a;
        *hi = (unsigned)b;
        return 0;
}

static int proto_of(const char *s, const char *spec, char out[5], nk_error **err)
{
        if (!streq(s, "tcp") && !streq(s, "udp") && !streq(s, "sctp"))
                return nk_error_set(err, 0, "-p %s: protocol `%s` is not tcp, udp or sctp", spec,
                                    s);
        snprintf(out, 5, "%s", s);
        return 0;
}

/* Split "[IP:][HOST:]CTR" into its parts (buf is cut up). */
static int split_spec(char *buf, const char *spec, struct nk_ip *ip, char **host, char **ctr,
                      nk_error **err)
{
        char *rest = buf;
        ip->family = 0;
        if (buf[0] == '[') {
                char *end = strchr(buf, ']');
                if (!end || end[1] != ':')
                        return nk_error_set(err, 0, "-p %s: bad [address]", spec);
                *end = '\0';
                if (nk_ip_parse(buf + 1, ip, NULL) < 0 || ip->family != AF_INET6)
                        return nk_error_set(err, 0, "-p %s: `%s` is not an IPv6 address", spec,
                                            buf + 1);
                rest = end + 2;
                char *c = strchr(rest, ':');
                if (!c)
                        return nk_error_set(err, 0, "-p %s: want [IP]:HOST_PORT:CONTAINER_PORT",
                                            spec);
                *c = '\0';
                *host = rest;
                *ctr = c + 1;
                return 0;
        }
        char *first = strchr(rest, ':'), *last = strrchr(rest, ':');
        if (first && first != last) {
                *first = '\0';
                if (nk_ip_parse(rest, ip, NULL) < 0 || ip->family != AF_INET)
                        return nk_error_set(err, 0, "-p %s: `%s` is not an IPv4 address", spec,
                                            rest);
                rest = first + 1;
        }
        char *c = strchr(rest, ':');
        if (c) {
                *c = '\0';
                *host = rest;
                *ctr = c + 1;
        } else {
                *host = "";
                *ctr = rest;
        }
        return 0;
}

int nk_port_spec_parse(const char *s, struct nk_port **out, size_t *n, nk_error **err)
{
        char buf[128];
        if (strlen(s) >= sizeof buf)
                return nk_error_set(err, 0, "-p %.40s...: too long", s);
        snprintf(buf, sizeof buf, "%s", s);
        char proto[5] = "tcp";
        char *slash = strrchr(buf, '/');
        if (slash) {
                *slash = '\0';
                if (proto_of(slash + 1, s, proto, err) < 0)
                        return -1;
        }
        struct nk_ip ip;
        char *host = NULL, *ctr = NULL;
        unsigned hlo, hhi, clo, chi;
        if (split_spec(buf, s, &ip, &host, &ctr, err) < 0)
                return -1;
        if (parse_range(ctr, false, &clo, &chi) < 0)
                return nk_error_set(err, 0,
                                    "-p %s: container port `%s` is not a port or range (1-65535)",
                                    s, ctr);
        if (parse_range(host, true, &hlo, &hhi) < 0)
                return nk_error_set(
                        err, 0, "-p %s: host port `%s` is not a port or range (1-65535)", s, host);
        size_t k = chi - clo + 1;
        if (hlo && hhi - hlo + 1 != k)
                return nk_error_set(err, 0, "-p %s: host and container ranges differ in length", s);
        if (k > RANGE_MAX)
                return nk_error_set(err, 0, "-p %s: more than %d ports", s, RANGE_MAX);
        struct nk_port *v = calloc(k, sizeof(*v));
        if (!v)
                return nk_error_set(err, ENOMEM, "-p %s", s);
        for (size_t i = 0; i < k; i++) {
                v[i].host_ip = ip;
                v[i].host_port = (uint16_t)(hlo ? hlo + i : 0);
                v[i].container_port = (uint16_t)(clo + i);
                snprintf(v[i].proto, sizeof v[i].proto, "%s", proto);
        }
        *out = v;
        *n = k;
        return 0;
}

int nk_port_exposed_parse(const char *s, struct nk_port *out, nk_error **err)
{
        struct nk_port *v;
        size_t n;
        char buf[64];
        /* "80/tcp", "80": a plain container port */
        if (strchr(s, ':') || strlen(s) >= sizeof buf)
                return nk_error_set(err, 0, "exposed port `%s`: want PORT[/PROTO]", s);
        snprintf(buf, sizeof buf, "%s", s);
        if (nk_port_spec_parse(buf, &v, &n, err) < 0)
                return nk_error_wrap(err, "the image's exposed ports");
        if (n != 1) {
                free(v);
                return nk_error_set(err, 0, "exposed port `%s`: a range", s);
        }
        *out = v[0];
        free(v);
        return 0;
}

void nk_port_private_text(const struct nk_port *p, char *buf, size_t len)
{
        snprintf(buf, len, "%u/%s", p->container_port, p->proto);
}
