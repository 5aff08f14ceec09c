/* -p parsing (net/ports.h) and run's networking flags (runopts). */
#include "engine/container/runopts.h"
#include "net/ports.h"
#include "unit.h"
#include <stdlib.h>
#include <sys/socket.h>

static size_t parse(const char *s, struct nk_port **v, const char *want_err)
{
        size_t n = 0;
        nk_error *err = NULL;
        int rc = nk_port_spec_parse(s, v, &n, &err);
        if (want_err) {
                CHECK(rc < 0);
                if (rc < 0) {
                        CHECK(strstr(err->msg, want_err) != NULL);
                        if (!strstr(err->msg, want_err))
                                fprintf(stderr, "  %s: %s\n", s, err->msg);
                }
                nk_error_free(err);
                return 0;
        }
        CHECK(rc == 0);
        if (rc < 0) {
                fprintf(stderr, "  %s: %s\n", s, err->msg);
                nk_error_free(err);
        }
        return n;
}

static void specs(void)
{
        struct nk_port *v = NULL;
        CHECK(parse("8080:80", &v, NULL) == 1);
        CHECK(v[0].host_port == 8080 && v[0].container_port == 80 && !v[0].host_ip.family);
        CHECK_STR(v[0].proto, "tcp");
        free(v);
        CHECK(parse("80", &v, NULL) == 1); /* a free host port, picked later */
        CHECK(v[0].host_port == 0 && v[0].container_port == 80);
        free(v);
        CHECK(parse("127.0.0.1::53/udp", &v, NULL) == 1);
        CHECK(v[0].host_ip.family == AF_INET && v[0].host_port == 0);
        CHECK_STR(v[0].proto, "udp");
        free(v);
        CHECK(parse("[::1]:8443:443/sctp", &v, NULL) == 1);
        CHECK(v[0].host_ip.family == AF_INET6 && v[0].host_port == 8443);
        free(v);
        CHECK(parse("9000-9002:90-92", &v, NULL) == 3);
        CHECK(v[2].host_port == 9002 && v[2].container_port == 92);
        free(v);
        CHECK(parse("90-91", &v, NULL) == 2);
        CHECK(v[1].host_port == 0 && v[1].container_port == 91);
        free(v);
        parse("1-3:1-2", &v, "differ in length");
        CHECK(parse("0:80", &v, NULL) == 1 && v[0].host_port == 0); /* 0: a free one */
        free(v);
        parse("8080:0", &v, "container port `0`");
        parse("70000:80", &v, "host port");
        parse("80/icmp", &v, "protocol `icmp`");
        parse("1.2.3:80:80", &v, "not an IPv4 address");
        parse("[1.2.3.4]:80:80", &v, "not an IPv6 address");
        parse("1-2000", &v, "more than");
        struct nk_port p;
        nk_error *err = NULL;
        CHECK(nk_port_exposed_parse("53/udp", &p, &err) == 0 && p.container_port == 53);
        CHECK(nk_port_exposed_parse("1:2", &p, &err) < 0);
        nk_error_free(err);
        char buf[16];
        nk_port_private_text(&p, buf, sizeof buf);
        CHECK_STR(buf, "53/udp");
}

static int run_opts(const char *const *args, struct nk_run_opts *o, const char *want_err)
{
        char *argv[32];
        int argc = 0;
        argv[argc++] = "run";
        for (; *args; args++)
                argv[argc++] = (char *)*args;
        argv[argc++] = "busybox";
        argv[argc] = NULL;
        nk_error *err = NULL;
        int rc = nk_run_opts_parse(argc, argv, o, &err);
        if (want_err) {
                CHECK(rc < 0 && strstr(err->msg, want_err));
                if (rc == 0 || !strstr(err->msg, want_err))
                        fprintf(stderr, "  want `%s`, got `%s`\n", want_err,
                                rc < 0 ? err->msg : "success");
                nk_error_free(err);
                if (rc == 0)
                        nk_run_opts_clear(o);
                return -1;
        }
        CHECK(rc == 0);
        if (rc < 0) {
                fprintf(stderr, "  %s\n", err->msg);
                nk_error_free(err);
        }
        return rc;
}

static void flags(void)
{
        struct nk_run_opts o;
        const char *ok[] = {"--network",
                            "app",
                            "--ip",
                            "10.0.0.5",
                            "--ip6",
                            "fd00::5",
                            "--network-alias",
                            "db",
                            "-p",
                            "80",
                            "-P",
                            "--mac-address",
                            "02:42:ac:11:00:02",
                            "--add-host",
                            "h:10.1.2.3",
                            "--dns",
                            "1.1.1.1",
                            "--dns-search",
                            "a.test",
                            "--dns-option",
                            "ndots:2",
                            NULL};
        if (run_opts(ok, &o, NULL) == 0) {
                CHECK_STR(o.network, "app");
                CHECK(o.ips && !strcmp(o.ips[0], "10.0.0.5") && !strcmp(o.ips[1], "fd00::5"));
                CHECK(o.publish_all && o.publish && !strcmp(o.publish[0], "80"));
                CHECK_STR(o.add_hosts[0], "10.1.2.3\th");
                CHECK_STR(o.mac, "02:42:ac:11:00:02");
                nk_run_opts_clear(&o);
        }
        const char *a[] = {"--network", "none", "--ip", "10.0.0.5", NULL};
        run_opts(a, &o, "conflicting options: --ip and --network none");
        const char *b[] = {"--network", "host", "-p", "80:80", NULL};
        run_opts(b, &o, "conflicting options: --publish and --network host");
        const char *c[] = {"--network-alias", "x", NULL};
        run_opts(c, &o, "only on user-defined networks");
        const char *d[] = {"--ip", "10.0.0.300", NULL};
        run_opts(d, &o, "not an IPv4 address");
        const char *e[] = {"--mac-address", "01:00:5e:00:00:01", NULL};
        run_opts(e, &o, "multicast");
        const char *f[] = {"--add-host", "nohost", NULL};
        run_opts(f, &o, "want HOST:IP");
        const char *g[] = {"--network", "container:", NULL};
        run_opts(g, &o, "container:ID");
        const char *h[] = {"--ip", "10.0.0.1", "--ip", "10.0.0.2", "--network", "n", NULL};
        run_opts(h, &o, "one address of each family");
}

int main(void)
{
        specs();
        flags();
        return UNIT_END();
}
