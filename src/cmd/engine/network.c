/* nook network create|ls|inspect|rm|prune, and the calls the engine will
 * make for a container (hidden: _attach, _detach, _publish, _unpublish,
 * _reconcile, _rate; the networking tests drive the library through them until
 * `nook run --network/-p` does). */
#include "net/network.h"
#include "cmd/engine/ctr_cmd.h"
#include "cmd/engine/engine_cmd.h"
#include "engine/jsonutil.h"
#include "net/ctrnet.h"
#include "util/cleanup.h"
#include "util/parse.h"
#include "util/strv.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int add_label(json_t *labels, const char *kv)
{
        const char *eq = strchr(kv, '=');
        _cleanup_free_ char *key = strndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
        if (!key || !*key)
                return nk_cmd_usage_error("network create", "--label `%s`: KEY[=VALUE]", kv);
        json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
        return 0;
}

static int add_opt(struct nk_network_opts *o, const char *kv)
{
        const char *v = NULL;
        if (strncmp(kv, "mtu=", 4) == 0)
                v = kv + 4;
        else if (strncmp(kv, "com.docker.network.driver.mtu=", 30) == 0)
                v = kv + 30;
        if (!v)
                return nk_cmd_usage_error("network create", "--opt `%s`: only mtu=N is known", kv);
        unsigned long long m;
        if (nk_parse_uint(v, 65535, &m) < 0 || m < 68)
                return nk_cmd_usage_error("network create", "--opt `%s`: mtu is 68 to 65535", kv);
        o->mtu = (unsigned)m;
        return 0;
}

static int push(const char **v, size_t *n, const char *s, const char *flag)
{
        if (*n == NK_NETWORK_POOLS_MAX)
                return nk_cmd_usage_error("network create", "%s: at most %d (one per family)", flag,
                                          NK_NETWORK_POOLS_MAX);
        v[(*n)++] = s;
        return 0;
}

static int net_create(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"driver", required_argument, NULL, 'd'},
                {"subnet", required_argument, NULL, 's'},
                {"gateway", required_argument, NULL, 'g'},
                {"ip-range", required_argument, NULL, 'r'},
                {"internal", no_argument, NULL, 'i'},
                {"label", required_argument, NULL, 'l'},
                {"opt", required_argument, NULL, 'o'},
                {"ipv6", no_argument, NULL, '6'},
                {0},
        };
        _cleanup_jansson_ json_t *labels = json_object();
        struct nk_network_opts o = {.labels = labels};
        int c, rc = 0;
        while (rc == 0 && (c = getopt_long(argc, argv, "d:o:", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        o.driver = optarg;
                        break;
                case 's':
                        rc = push(o.subnets, &o.n_subnets, optarg, "--subnet");
                        break;
                case 'g':
                        rc = push(o.gateways, &o.n_gateways, optarg, "--gateway");
                        break;
                case 'r':
                        rc = push(o.ranges, &o.n_ranges, optarg, "--ip-range");
                        break;
                case 'i':
                        o.internal = true;
                        break;
                case 'l':
                        rc = add_label(labels, optarg);
                        break;
                case 'o':
                        rc = add_opt(&o, optarg);
                        break;
                case '6':
                        o.ipv6 = true;
                        break;
                default:
                        return 1;
                }
        }
        if (rc)
                return rc;
        if (argc - optind != 1)
                return nk_cmd_usage_error("network create", "exactly one NAME");
        o.name = argv[optind];
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        nk_error *err = NULL;
        if (nk_network_create(g->store, &o, &n, &err) < 0)
                return nk_cmd_fail(err);
        printf("%s\n", n->id);
        return 0;
}

static int net_ls(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"quiet", no_argument, NULL, 'q'},
                {"format", required_argument, NULL, 'F'},
                {"no-trunc", no_argument, NULL, 't'},
                {0},
        };
        bool quiet = false, json = false, no_trunc = false;
        const char *tmpl = NULL; /* --format TEMPLATE, `table TEMPLATE` */
        int c;
        while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
                if (c == 'q')
                        quiet = true;
                else if (c == 't')
                        no_trunc = true;
                else if (c == 'F') {
                        json = streq(optarg, "json");
                        tmpl = json || streq(optarg, "table") ? NULL : optarg;
                } else {
                        return 1;
                }
        }
        json = json || (tmpl && !quiet);
        if (optind != argc)
                return nk_cmd_usage_error("network ls", "no arguments");
        struct nk_network **v;
        size_t n;
        nk_error *err = NULL;
        if (nk_network_list(g->store, &v, &n, &err) < 0)
                return nk_cmd_fail(err);
        _cleanup_jansson_ json_t *arr = json_array();
        if (!quiet && !json)
                printf("%-*s %-20s %-8s %s\n", no_trunc ? 64 : 12, "NETWORK ID", "NAME", "DRIVER",
                       "SUBNET");
        for (size_t i = 0; i < n; i++) {
                char s[NK_CIDR_STR_MAX];
                nk_cidr_format(&v[i]->pools[0].subnet, s);
                if (json) {
                        json_t *o = nk_network_json(v[i]);
                        if (tmpl) /* Docker's ls fields beside inspect's */
                                json_object_set_new(o, "ID",
                                                    json_stringn(v[i]->id, no_trunc ? 64 : 12));
                        json_array_append_new(arr, o);
                } else if (quiet)
                        printf("%.*s\n", no_trunc ? 64 : 12, v[i]->id);
                else
                        printf("%-*.*s %-20s %-8s %s\n", no_trunc ? 64 : 12, no_trunc ? 64 : 12,
                               v[i]->id, v[i]->name, v[i]->driver, s);
        }
        nk_network_list_free(v, n);
        if (tmpl && !quiet) {
                _cleanup_jansson_ json_t *hdr = json_pack(
                        "{s:s,s:s,s:s,s:s,s:s,s:s}", "ID", "NETWORK ID", "Name", "NAME", "Driver",
                        "DRIVER", "Scope", "SCOPE", "Internal", "INTERNAL", "Labels", "LABELS");
                return nk_ctr_print_templated("network ls", tmpl, hdr, arr);
        }
        return json ? nk_cmd_print_json(arr) : 0;
}

static int net_inspect(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {0}};
        const char *tmpl = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
                if (c != 'f')
                        return 1;
                tmpl = streq(optarg, "json") ? NULL : optarg;
        }
        if (optind >= argc)
                return nk_cmd_usage_error("network inspect", "NETWORK required");
        _cleanup_jansson_ json_t *arr = json_array();
        int rc = 0;
        for (int i = optind; i < argc; i++) {
                _cleanup_(nk_network_freep) struct nk_network *n = NULL;
                nk_error *err = NULL;
                if (nk_network_get(g->store, argv[i], &n, &err) < 0)
                        rc = nk_cmd_fail(err);
                else
                        json_array_append_new(arr, nk_network_json(n));
        }
        if (tmpl) /* Docker's -f: a template over each network */
                return nk_ctr_print_templated("network inspect", tmpl, NULL, arr) ? 1 : rc;
        nk_cmd_print_json(arr);
        return rc;
}

/* Before rm and prune: what containers killed with their commands left
 * (addresses, veths, ports, netns files) is freed. */
static int reconcile(const struct nk_global *g)
{
        nk_error *err = NULL;
        if (nk_net_ops.reconcile_all(g->store, g->root, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

static int net_rm(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("network rm", "NETWORK required");
        int rc = reconcile(g);
        for (int i = 1; i < argc; i++) {
                nk_error *err = NULL;
                if (nk_network_remove(g->store, argv[i], &err) < 0)
                        rc = nk_cmd_fail(err);
                else
                        printf("%s\n", argv[i]);
        }
        return rc;
}

static int net_prune(const struct nk_global *g, int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (!streq(argv[i], "-f") && !streq(argv[i], "--force"))
                        return nk_cmd_usage_error("network prune", "unknown argument `%s`",
                                                  argv[i]);
        struct nk_network **v;
        size_t n;
        nk_error *err = NULL;
        int rc = reconcile(g);
        if (nk_network_list(g->store, &v, &n, &err) < 0)
                return nk_cmd_fail(err);
        bool header = false;
        for (size_t i = 0; i < n; i++) {
                if (streq(v[i]->name, NK_NETWORK_DEFAULT))
                        continue;
                err = NULL;
                if (nk_network_remove(g->store, v[i]->name, &err) < 0) {
                        if (err->errno_ != EBUSY) /* in use: not prunable */
                                rc = nk_cmd_fail(err);
                        else
                                nk_error_free(err);
                        continue;
                }
                if (!header)
                        printf("Deleted Networks:\n");
                header = true;
                printf("%s\n", v[i]->name);
        }
        nk_network_list_free(v, n);
        return rc;
}

/* ---- containers: connect, disconnect ---- */

static int net_connect(const struct nk_global *g, int argc, char **argv)
{
        static const struct option opts[] = {
                {"ip", required_argument, NULL, 'i'},
                {"ip6", required_argument, NULL, '6'},
                {"alias", required_argument, NULL, 'a'},
                {0},
        };
        _cleanup_strv_ char **ips = NULL, **aliases = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                if (c == 'i' || c == '6')
                        nk_strv_push(&ips, optarg);
                else if (c == 'a')
                        nk_strv_push(&aliases, optarg);
                else
                        return nk_cmd_usage_error("network connect", "unknown option");
        }
        if (argc - optind != 2)
                return nk_cmd_usage_error("network connect",
                                          "[--ip IP] [--alias NAME] NETWORK CONTAINER");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *err = NULL;
        _cleanup_close_ int lock = -1;
        _cleanup_jansson_ json_t *rec = NULL;
        if (nk_ctr_resolve(g->store, argv[optind + 1], id, &err) < 0 ||
            (lock = nk_ctr_names_lock(g->store, &err)) < 0 ||
            !(rec = nk_ctr_record(g->store, id, &err)) ||
            nk_net_ops.connect(g->store, g->root, id, rec, argv[optind], ips, aliases, &err) < 0 ||
            nk_ctr_record_save(g->store, id, rec, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

static int net_disconnect(const struct nk_global *g, int argc, char **argv)
{
        int first = 1;
        if (argc > 1 && (streq(argv[1], "-f") || streq(argv[1], "--force")))
                first = 2; /* detaching never waits on anything */
        if (argc - first != 2)
                return nk_cmd_usage_error("network disconnect", "[-f] NETWORK CONTAINER");
        char id[NK_CTR_ID_LEN + 1];
        nk_error *err = NULL;
        _cleanup_close_ int lock = -1;
        _cleanup_jansson_ json_t *rec = NULL;
        if (nk_ctr_resolve(g->store, argv[first + 1], id, &err) < 0 ||
            (lock = nk_ctr_names_lock(g->store, &err)) < 0 ||
            !(rec = nk_ctr_record(g->store, id, &err)) ||
            nk_net_ops.disconnect(g->store, g->root, id, rec, argv[first], &err) < 0 ||
            nk_ctr_record_save(g->store, id, rec, &err) < 0)
                return nk_cmd_fail(err);
        return 0;
}

/* ---- the engine's calls, for the tests ---- */

static int get_net(const struct nk_global *g, const char *name, bool make_default,
                   struct nk_network **out)
{
        nk_error *err = NULL;
        int rc = make_default && streq(name, NK_NETWORK_DEFAULT)
                         ? nk_network_default(g->store, out, &err)
                         : nk_network_get(g->store, name, out, &err);
        return rc < 0 ? nk_cmd_fail(err) : 0;
}

/* _attach NETWORK ID NETNS_PATH [IP...] [if=NAME]: prints the endpoint as
 * JSON. */
static int net_attach(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 4)
                return nk_cmd_usage_error("network _attach", "NETWORK ID NETNS [IP...] [if=NAME]");
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        if (get_net(g, argv[1], true, &n))
                return 1;
        _cleanup_close_ int ns = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (ns < 0) {
                fprintf(stderr, "nook: open network namespace `%s`: %s\n", argv[3],
                        strerror(errno));
                return 1;
        }
        const char *want[8] = {0}, *ifname = "eth0";
        size_t k = 0;
        for (int i = 4; i < argc; i++) {
                if (strncmp(argv[i], "if=", 3) == 0)
                        ifname = argv[i] + 3;
                else if (k < 7)
                        want[k++] = argv[i];
        }
        struct nk_endpoint ep;
        nk_error *err = NULL;
        if (nk_network_attach(g->store, n, argv[2], ns, ifname, want, &ep, &err) < 0)
                return nk_cmd_fail(err);
        _cleanup_jansson_ json_t *addrs = json_array();
        for (size_t i = 0; i < ep.n_addrs; i++) {
                char a[NK_IP_STR_MAX], gw[NK_IP_STR_MAX];
                nk_ip_format(&ep.addrs[i], a);
                nk_ip_format(&ep.gateways[i], gw);
                json_array_append_new(addrs, json_pack("{s:s,s:i,s:s}", "Address", a, "PrefixLen",
                                                       (int)ep.prefix[i], "Gateway", gw));
        }
        printf("{\"HostLink\":\"%s\",\"Ifname\":\"%s\",\"Addresses\":", ep.host_link, ep.ifname);
        _cleanup_free_ char *t = json_dumps(addrs, JSON_COMPACT);
        printf("%s}\n", t ? t : "[]");
        return 0;
}

static int net_detach(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 3)
                return nk_cmd_usage_error("network _detach", "NETWORK ID");
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        if (get_net(g, argv[1], false, &n))
                return 1;
        nk_error *err = NULL;
        return nk_network_detach(g->store, n, argv[2], &err) < 0 ? nk_cmd_fail(err) : 0;
}

static int net_publish_common(const struct nk_global *g, int argc, char **argv, bool add)
{
        if (argc != 4)
                return nk_cmd_usage_error(add ? "network _publish" : "network _unpublish",
                                          "NETWORK ID [IP:]HOST:CONTAINER[/PROTO]");
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        if (get_net(g, argv[1], false, &n))
                return 1;
        struct nk_port p;
        nk_error *err = NULL;
        if (nk_port_parse(argv[3], &p, &err) < 0)
                return nk_cmd_fail(err);
        int rc = add ? nk_network_publish(g->store, n, argv[2], &p, &err)
                     : nk_network_unpublish(g->store, n, argv[2], &p, &err);
        return rc < 0 ? nk_cmd_fail(err) : 0;
}

static int net_publish(const struct nk_global *g, int argc, char **argv)
{
        return net_publish_common(g, argc, argv, true);
}

static int net_unpublish(const struct nk_global *g, int argc, char **argv)
{
        return net_publish_common(g, argc, argv, false);
}

static int net_reconcile(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("network _reconcile", "NETWORK [LIVE_ID...]");
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        if (get_net(g, argv[1], false, &n))
                return 1;
        size_t freed = 0;
        nk_error *err = NULL;
        if (nk_network_reconcile(g->store, n, (const char *const *)argv + 2, (size_t)(argc - 2),
                                 &freed, &err) < 0)
                return nk_cmd_fail(err);
        printf("%zu\n", freed);
        return 0;
}

/* One direction of _rate: "-" leaves it, a rate sets it, 0 or none
 * removes it. */
static int rate_arg(const char *what, const char *text, uint64_t *out)
{
        nk_error *err = NULL;
        if (streq(text, "-")) {
                *out = NK_RATE_KEEP;
                return 0;
        }
        if (nk_rate_parse(text, out, &err) < 0) {
                nk_error_wrap(&err, "%s", what);
                return nk_cmd_fail(err);
        }
        return 0;
}

/* _rate NETWORK ID NETNS [EGRESS INGRESS]: set the container's limits,
 * then print what the kernel has, in bits per second (0: none). */
static int net_rate(const struct nk_global *g, int argc, char **argv)
{
        if (argc != 4 && argc != 6)
                return nk_cmd_usage_error("network _rate", "NETWORK ID NETNS [EGRESS INGRESS]");
        _cleanup_(nk_network_freep) struct nk_network *n = NULL;
        if (get_net(g, argv[1], false, &n))
                return 1;
        struct nk_tc_rates want, now;
        if (argc == 6 && (rate_arg("egress rate", argv[4], &want.egress) ||
                          rate_arg("ingress rate", argv[5], &want.ingress)))
                return 1;
        nk_error *err = NULL;
        if (nk_network_rate(n, argv[2], argv[3], argc == 6 ? &want : NULL, &now, &err) < 0)
                return nk_cmd_fail(err);
        printf("{\"EgressRate\":%llu,\"IngressRate\":%llu}\n", (unsigned long long)now.egress,
               (unsigned long long)now.ingress);
        return 0;
}

static const struct nk_command network_subcommands[] = {
        {"create", net_create,
         "network create [--driver bridge|routed] [--subnet CIDR] [--gateway IP] [--ip-range CIDR] "
         "[--internal] [--label K=V] [--opt mtu=N] [--ipv6] NAME",
         "create a network"},
        {"ls", net_ls, "network ls [-q] [--no-trunc] [--format json|table|TEMPLATE]",
         "list networks"},
        {"list", net_ls, "network list [-q] [--format json|table|TEMPLATE]", "list networks"},
        {"inspect", net_inspect, "network inspect [-f json|TEMPLATE] NETWORK...", "show networks"},
        {"rm", net_rm, "network rm NETWORK...", "remove networks"},
        {"remove", net_rm, "network remove NETWORK...", "remove networks"},
        {"prune", net_prune, "network prune [-f]", "remove networks no container uses"},
        {"connect", net_connect, "network connect [--ip IP] [--alias NAME] NETWORK CONTAINER",
         "connect a container to a network (live: eth1, ...)"},
        {"disconnect", net_disconnect, "network disconnect [-f] NETWORK CONTAINER",
         "disconnect a container from a network"},
        {"_attach", net_attach, "network _attach NETWORK ID NETNS [IP...] [if=NAME]", NULL},
        {"_detach", net_detach, "network _detach NETWORK ID", NULL},
        {"_publish", net_publish, "network _publish NETWORK ID MAPPING", NULL},
        {"_unpublish", net_unpublish, "network _unpublish NETWORK ID MAPPING", NULL},
        {"_reconcile", net_reconcile, "network _reconcile NETWORK [LIVE_ID...]", NULL},
        {"_rate", net_rate, "network _rate NETWORK ID NETNS [EGRESS INGRESS]", NULL},
        {0},
};

int nk_cmd_network(const struct nk_global *g, int argc, char **argv)
{
        if (argc < 2)
                return nk_cmd_usage_error("network", "subcommand required (create, ls, inspect, "
                                                     "rm, prune, connect, disconnect)");
        for (const struct nk_command *c = network_subcommands; c->name; c++) {
                if (!streq(c->name, argv[1]))
                        continue;
                if (nk_cmd_help(argc - 1, argv + 1, c->usage, NULL))
                        return 0;
                nk_cmd_getopt_reset();
                return c->run(g, argc - 1, argv + 1);
        }
        return nk_cmd_usage_error("network", "unknown subcommand `%s`", argv[1]);
}
