/* IPAM: prefixes, pools, picking, and the allocation file. */
#include "net/ipam.h"
#include "net/nft.h"
#include "unit.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct nk_cidr cidr(const char *s)
{
        struct nk_cidr c = {0};
        nk_error *err = NULL;
        if (nk_cidr_parse(s, &c, &err) < 0) {
                fprintf(stderr, "cidr %s: %s\n", s, err->msg);
                nk_error_free(err);
                unit_failures++;
        }
        return c;
}

static struct nk_ip ip(const char *s)
{
        struct nk_ip a = {0};
        if (nk_ip_parse(s, &a, NULL) < 0) {
                fprintf(stderr, "ip %s: bad\n", s);
                unit_failures++;
        }
        return a;
}

static char *fmt(const struct nk_ip *a)
{
        static char buf[4][NK_IP_STR_MAX];
        static int k;
        char *b = buf[k++ % 4];
        nk_ip_format(a, b);
        return b;
}

/* The error text of a failed call, for CHECK_STR on messages. */
static char msgbuf[512];
static const char *msg_of(nk_error *e)
{
        snprintf(msgbuf, sizeof(msgbuf), "%s", e ? e->msg : "(no error)");
        nk_error_free(e);
        return msgbuf;
}

static void parsing(void)
{
        struct nk_cidr c;
        char out[NK_CIDR_STR_MAX];
        nk_error *e = NULL;
        CHECK(nk_cidr_parse("10.1.0.0/16", &c, NULL) == 0 && c.len == 16 && c.ip.family == AF_INET);
        nk_cidr_format(&c, out);
        CHECK_STR(out, "10.1.0.0/16");
        CHECK(nk_cidr_parse("fd00:1:2::/48", &c, NULL) == 0 && c.ip.family == AF_INET6);
        nk_cidr_format(&c, out);
        CHECK_STR(out, "fd00:1:2::/48");
        CHECK(nk_cidr_parse("10.1.0.1/16", &c, &e) < 0);
        CHECK_STR(msg_of(e), "`10.1.0.1/16` has host bits set (the subnet would be 10.1.0.0/16)");
        e = NULL;
        CHECK(nk_cidr_parse("10.1.0.0/33", &c, &e) < 0);
        CHECK_STR(msg_of(e), "`10.1.0.0/33`: prefix length 33 is over 32");
        const char *bad[] = {"10.1.0.0",  "10.1.0.0/",   "10.1.0.0/-1", "10.1.0.0/1x",
                             "10.1.0/24", "/24",         "fd00::/129",  "10.1.0.0/0024",
                             "x/8",       "10.1.0.0/ 8", NULL};
        for (const char **b = bad; *b; b++) {
                int rc = nk_cidr_parse(*b, &c, NULL);
                if (rc == 0)
                        fprintf(stderr, "accepted bad prefix `%s`\n", *b);
                CHECK(rc < 0);
        }
        CHECK(nk_cidr_parse("0.0.0.0/0", &c, NULL) == 0 && c.len == 0);
        struct nk_ip a;
        CHECK(nk_ip_parse("300.1.1.1", &a, NULL) < 0);
        CHECK(nk_ip_parse("::ffff:1.2.3.4", &a, NULL) == 0 && a.family == AF_INET6);
}

static void overlap(void)
{
        struct nk_cidr a = cidr("10.0.0.0/8"), b = cidr("10.20.0.0/16"), c = cidr("10.20.1.0/24");
        struct nk_cidr d = cidr("11.0.0.0/8"), all = cidr("0.0.0.0/0"), v6 = cidr("::/0");
        CHECK(nk_cidr_overlap(&a, &b) && nk_cidr_overlap(&b, &a));
        CHECK(nk_cidr_overlap(&b, &c) && nk_cidr_overlap(&a, &c));
        CHECK(!nk_cidr_overlap(&a, &d) && !nk_cidr_overlap(&d, &c));
        CHECK(nk_cidr_overlap(&all, &d));
        CHECK(!nk_cidr_overlap(&v6, &a)); /* families never overlap */
        struct nk_cidr x = cidr("192.168.0.0/24"), y = cidr("192.168.1.0/24");
        CHECK(!nk_cidr_overlap(&x, &y));
        struct nk_cidr s1 = cidr("fd00:aa::/64"), s2 = cidr("fd00:aa::8000:0:0:0/65");
        CHECK(nk_cidr_overlap(&s1, &s2));
        struct nk_ip in = ip("10.20.1.255"), out = ip("10.21.0.0");
        CHECK(nk_cidr_contains(&b, &in) && !nk_cidr_contains(&b, &out));
        CHECK(nk_cidr_within(&c, &a) && !nk_cidr_within(&a, &c));
}

static void pool_edges(void)
{
        struct nk_ipam_pool p;
        struct nk_ip got;
        nk_error *e = NULL;
        struct nk_cidr s30 = cidr("10.0.0.0/30"), s31 = cidr("10.0.0.0/31"),
                       s32 = cidr("10.0.0.7/32");
        /* /30: .0 network, .1 gateway, .2 the only container, .3 broadcast */
        CHECK(nk_ipam_pool_init(&p, &s30, NULL, NULL, NULL) == 0);
        CHECK_STR(fmt(&p.gateway), "10.0.0.1");
        CHECK(nk_ipam_pick(&p, NULL, 0, NULL, &got, NULL) == 0);
        CHECK_STR(fmt(&got), "10.0.0.2");
        CHECK(nk_ipam_pick(&p, &got, 1, NULL, &got, &e) < 0);
        CHECK_STR(msg_of(e), "no free address in 10.0.0.0/30");
        struct nk_ip bcast = ip("10.0.0.3"), net = ip("10.0.0.0");
        e = NULL;
        CHECK(nk_ipam_pool_init(&p, &s30, NULL, &bcast, &e) < 0);
        CHECK_STR(msg_of(e), "gateway 10.0.0.3 is the network or broadcast address of 10.0.0.0/30");
        CHECK(nk_ipam_pool_init(&p, &s30, NULL, NULL, NULL) == 0);
        e = NULL;
        CHECK(nk_ipam_check(&p, &net, NULL, 0, &e) < 0);
        CHECK_STR(msg_of(e), "address 10.0.0.0 is the network or broadcast address of 10.0.0.0/30");
        /* /31 (RFC 3021): both addresses usable, gateway .0, container .1 */
        CHECK(nk_ipam_pool_init(&p, &s31, NULL, NULL, NULL) == 0);
        CHECK_STR(fmt(&p.gateway), "10.0.0.0");
        CHECK(nk_ipam_pick(&p, NULL, 0, NULL, &got, NULL) == 0);
        CHECK_STR(fmt(&got), "10.0.0.1");
        /* /32: one address, the gateway's: nothing to hand out */
        CHECK(nk_ipam_pool_init(&p, &s32, NULL, NULL, NULL) == 0);
        CHECK_STR(fmt(&p.gateway), "10.0.0.7");
        e = NULL;
        CHECK(nk_ipam_pick(&p, NULL, 0, NULL, &got, &e) < 0);
        CHECK_STR(msg_of(e), "no free address in 10.0.0.7/32");
        /* gateway outside, range outside */
        struct nk_cidr s24 = cidr("10.9.0.0/24"), r = cidr("10.9.1.0/28");
        struct nk_ip gout = ip("10.9.1.1");
        e = NULL;
        CHECK(nk_ipam_pool_init(&p, &s24, NULL, &gout, &e) < 0);
        CHECK_STR(msg_of(e), "gateway 10.9.1.1 is not inside subnet 10.9.0.0/24");
        e = NULL;
        CHECK(nk_ipam_pool_init(&p, &s24, &r, NULL, &e) < 0);
        CHECK_STR(msg_of(e), "ip range 10.9.1.0/28 is not inside subnet 10.9.0.0/24");
        struct nk_ip g6 = ip("fd00::1");
        e = NULL;
        CHECK(nk_ipam_pool_init(&p, &s24, NULL, &g6, &e) < 0);
        CHECK_STR(msg_of(e), "gateway fd00::1 is not inside subnet 10.9.0.0/24");
}

static void picking(void)
{
        struct nk_ipam_pool p;
        struct nk_cidr s = cidr("172.20.0.0/24"), r = cidr("172.20.0.128/30");
        struct nk_ip gw = ip("172.20.0.129"), got;
        /* range .128-.131 holding the gateway .129: .128, .130, .131 */
        CHECK(nk_ipam_pool_init(&p, &s, &r, &gw, NULL) == 0);
        struct nk_ip taken[4];
        size_t n = 0;
        const char *want[] = {"172.20.0.128", "172.20.0.130", "172.20.0.131"};
        for (size_t i = 0; i < 3; i++) {
                CHECK(nk_ipam_pick(&p, taken, n, n ? &taken[n - 1] : NULL, &got, NULL) == 0);
                CHECK_STR(fmt(&got), want[i]);
                taken[n++] = got;
        }
        nk_error *e = NULL;
        CHECK(nk_ipam_pick(&p, taken, n, &taken[n - 1], &got, &e) < 0); /* exhausted */
        CHECK_STR(msg_of(e), "no free address in 172.20.0.128/30");
        /* free .128; the cursor past .131 wraps to it */
        taken[0] = taken[2];
        n = 2;
        CHECK(nk_ipam_pick(&p, taken, n, &taken[0], &got, NULL) == 0);
        CHECK_STR(fmt(&got), "172.20.0.128");
        /* --ip checks */
        struct nk_ip outside = ip("172.21.0.5"), inside = ip("172.20.0.77"),
                     bc = ip("172.20.0.255");
        e = NULL;
        CHECK(nk_ipam_check(&p, &outside, taken, n, &e) < 0);
        CHECK_STR(msg_of(e), "address 172.21.0.5 is not inside subnet 172.20.0.0/24");
        e = NULL;
        CHECK(nk_ipam_check(&p, &taken[1], taken, n, &e) < 0);
        CHECK_STR(msg_of(e), "address 172.20.0.130 is already in use on 172.20.0.0/24");
        e = NULL;
        CHECK(nk_ipam_check(&p, &gw, taken, n, &e) < 0);
        CHECK_STR(msg_of(e), "address 172.20.0.129 is the gateway of 172.20.0.0/24");
        CHECK(nk_ipam_check(&p, &bc, taken, n, NULL) < 0);
        /* outside the range but inside the subnet: allowed, as Docker does */
        CHECK(nk_ipam_check(&p, &inside, taken, n, NULL) == 0);
}

static void ula(void)
{
        struct nk_ipam_pool p;
        struct nk_cidr s = cidr("fd12:3456:789a:1::/64");
        struct nk_ip got;
        CHECK(nk_ipam_pool_init(&p, &s, NULL, NULL, NULL) == 0);
        CHECK_STR(fmt(&p.gateway), "fd12:3456:789a:1::1");
        CHECK(nk_ipam_pick(&p, NULL, 0, NULL, &got, NULL) == 0);
        CHECK_STR(fmt(&got), "fd12:3456:789a:1::2");
        /* the last address of a /64 is usable (no broadcast in IPv6) */
        struct nk_ip first, last;
        nk_ipam_usable(&s, &first, &last);
        CHECK_STR(fmt(&first), "fd12:3456:789a:1::1");
        CHECK_STR(fmt(&last), "fd12:3456:789a:1:ffff:ffff:ffff:ffff");
        CHECK(nk_ipam_pick(&p, NULL, 0, &last, &got, NULL) == 0); /* wraps */
        CHECK_STR(fmt(&got), "fd12:3456:789a:1::2");
        struct nk_cidr s127 = cidr("fd00::/127");
        CHECK(nk_ipam_pool_init(&p, &s127, NULL, NULL, NULL) == 0);
        CHECK(nk_ipam_pick(&p, NULL, 0, NULL, &got, NULL) == 0);
        CHECK_STR(fmt(&got), "fd00::1");
        /* a wide range with a few thousand taken: the walk stays short */
        struct nk_ip many[3000];
        CHECK(nk_ipam_pool_init(&p, &s, NULL, NULL, NULL) == 0);
        struct nk_ip cur = p.gateway;
        for (size_t i = 0; i < 3000; i++) {
                CHECK(nk_ipam_pick(&p, many, i, &cur, &many[i], NULL) == 0);
                cur = many[i];
        }
        CHECK_STR(fmt(&many[2999]), "fd12:3456:789a:1::bb9");
}

static void state_file(void)
{
        char dir[] = "/tmp/nook-ipam-XXXXXX";
        if (!mkdtemp(dir)) {
                CHECK(!"mkdtemp");
                return;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct nk_ipam_pool p;
        struct nk_cidr s = cidr("10.7.0.0/29"); /* .1 gateway, .2-.6 for containers */
        CHECK(nk_ipam_pool_init(&p, &s, NULL, NULL, NULL) == 0);
        struct nk_ip a[6];
        char id[16];
        for (int i = 0; i < 5; i++) {
                snprintf(id, sizeof(id), "c%d", i);
                CHECK(nk_ipam_allocate(dfd, "n", &p, id, NULL, &a[i], NULL) == 0);
        }
        for (int i = 0; i < 5; i++)
                for (int j = i + 1; j < 5; j++)
                        CHECK(!nk_ip_equal(&a[i], &a[j]));
        nk_error *e = NULL;
        CHECK(nk_ipam_allocate(dfd, "n", &p, "c5", NULL, &a[5], &e) < 0);
        CHECK_STR(msg_of(e), "allocate an address on network n: no free address in 10.7.0.0/29");
        /* the same id again: its address */
        struct nk_ip again;
        CHECK(nk_ipam_allocate(dfd, "n", &p, "c3", NULL, &again, NULL) == 0);
        CHECK(nk_ip_equal(&again, &a[3]));
        size_t count = 0;
        CHECK(nk_ipam_count(dfd, "n", &count, NULL) == 0 && count == 5);
        /* release c1; --ip of c2's address for another id is refused */
        CHECK(nk_ipam_release(dfd, "n", "c1", NULL) == 0);
        e = NULL;
        CHECK(nk_ipam_allocate(dfd, "n", &p, "x", &a[2], &again, &e) < 0);
        CHECK_STR(msg_of(e), "allocate an address on network n: address 10.7.0.4 is already in use "
                             "on 10.7.0.0/29");
        CHECK(nk_ipam_allocate(dfd, "n", &p, "x", &a[1], &again, NULL) == 0);
        CHECK(nk_ip_equal(&again, &a[1]));
        /* reconcile: only c0 and x live */
        const char *live[] = {"c0", "x"};
        size_t freed = 0;
        CHECK(nk_ipam_reconcile(dfd, "n", live, 2, &freed, NULL) == 0 && freed == 3);
        CHECK(nk_ipam_count(dfd, "n", &count, NULL) == 0 && count == 2);
        struct nk_ip look;
        CHECK(nk_ipam_lookup(dfd, "n", &p, "c0", &look, NULL) == 0 && nk_ip_equal(&look, &a[0]));
        e = NULL;
        CHECK(nk_ipam_lookup(dfd, "n", &p, "c2", &look, &e) < 0 && e && e->errno_ == ENOENT);
        nk_error_free(e);
        /* the file is swapped in whole: a reader holding the old one keeps
         * reading it, and no temp file is left beside it */
        int old = openat(dfd, "n.json", O_RDONLY | O_CLOEXEC);
        char before[512] = "", after[512] = "";
        CHECK(old >= 0 && pread(old, before, sizeof before - 1, 0) > 0);
        CHECK(nk_ipam_allocate(dfd, "n", &p, "z", NULL, &look, NULL) == 0);
        CHECK(pread(old, after, sizeof after - 1, 0) > 0);
        CHECK_STR(after, before);
        close(old);
        DIR *d = fdopendir(dup(dfd));
        struct dirent *de;
        size_t files = 0;
        while (d && (de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        files++;
                        CHECK(!strcmp(de->d_name, "n.json") || !strcmp(de->d_name, "n.lock"));
                }
        if (d)
                closedir(d);
        CHECK(files == 2);
        CHECK(nk_ipam_release(dfd, "n", "z", NULL) == 0);
        /* an empty file (what a power loss can leave: the file is not
         * synced, its addresses died with the machine) reads as none */
        int fd = openat(dfd, "n.json", O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0);
        close(fd);
        CHECK(nk_ipam_count(dfd, "n", &count, NULL) == 0 && count == 0);
        CHECK(nk_ipam_allocate(dfd, "n", &p, "c0", NULL, &look, NULL) == 0);
        CHECK_STR(fmt(&look), "10.7.0.2");
        CHECK(nk_ipam_count(dfd, "n", &count, NULL) == 0 && count == 1);
        /* a truncated file is an error naming it, not an empty network */
        fd = openat(dfd, "n.json", O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "{\"pools\": {\"10.7", 16) == 16);
        close(fd);
        e = NULL;
        CHECK(nk_ipam_allocate(dfd, "n", &p, "y", NULL, &look, &e) < 0);
        CHECK(e && strstr(e->msg, "n.json") != NULL);
        nk_error_free(e);
        CHECK(nk_ipam_destroy(dfd, "n", NULL) == 0);
        CHECK(nk_ipam_count(dfd, "n", &count, NULL) == 0 && count == 0);
        CHECK(nk_ipam_destroy(dfd, "n", NULL) == 0);
        close(dfd);
        rmdir(dir);
}

static void ports(void)
{
        struct nk_port p;
        nk_error *e = NULL;
        CHECK(nk_port_parse("8080:80", &p, NULL) == 0 && p.host_port == 8080 &&
              p.container_port == 80 && p.host_ip.family == 0);
        CHECK_STR(p.proto, "tcp");
        CHECK(nk_port_parse("127.0.0.1:53:5353/udp", &p, NULL) == 0 && p.host_ip.family == AF_INET);
        CHECK_STR(p.proto, "udp");
        CHECK(nk_port_parse("[::1]:443:8443/sctp", &p, NULL) == 0 && p.host_ip.family == AF_INET6);
        const char *bad[] = {"80",         "0:80",      "65536:80", "8080:80/icmp", "1.2.3:80:80",
                             "[::1:80:80", "::1:80:80", "a:b",      "8080:",        NULL};
        for (const char **b = bad; *b; b++) {
                int rc = nk_port_parse(*b, &p, NULL);
                if (rc == 0)
                        fprintf(stderr, "accepted bad port mapping `%s`\n", *b);
                CHECK(rc < 0);
        }
        CHECK(nk_port_parse("8080:80/icmp", &p, &e) < 0);
        CHECK_STR(msg_of(e),
                  "port mapping `8080:80/icmp`: protocol `icmp` is not tcp, udp or sctp");
}

int main(void)
{
        parsing();
        overlap();
        pool_edges();
        picking();
        ula();
        state_file();
        ports();
        return UNIT_END();
}
