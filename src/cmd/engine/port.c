/* `nook port CONTAINER [PRIVATE[/PROTO]]` (Docker's output, from the
 * record), and the live `nook port add|rm CONTAINER [IP:]HOST:PORT[/PROTO]`
 * (one nftables element each, through the networking module; an existing
 * mapping never drops). In the binary itself: no engine module. */
#include "cmd/engine/ctr_cmd.h"
#include "engine/jsonutil.h"
#include "net/ctrnet.h"
#include "util/cleanup.h"
#include "util/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "0.0.0.0:8080->80/tcp, [::]:..." (ps's PORTS), from NetworkSettings.Ports. */
char *nk_ctr_ports_text(json_t *rec)
{
        json_t *ports = json_object_get(json_object_get(rec, "NetworkSettings"), "Ports");
        char *out = strdup("");
        const char *key;
        json_t *a;
        json_object_foreach (ports, key, a) {
                size_t i;
                json_t *b;
                if (!json_is_array(a)) {
                        _cleanup_free_ char *prev = out;
                        if (!prev || asprintf(&out, "%s%s%s", prev, *prev ? ", " : "", key) < 0)
                                out = NULL;
                        continue;
                }
                json_array_foreach (a, i, b) {
                        const char *ip = json_string_value(json_object_get(b, "HostIp")) ?: "";
                        const char *hp = json_string_value(json_object_get(b, "HostPort")) ?: "";
                        bool six = strchr(ip, ':') != NULL;
                        _cleanup_free_ char *prev = out;
                        if (!prev || asprintf(&out, "%s%s%s%s%s:%s->%s", prev, *prev ? ", " : "",
                                              six ? "[" : "", ip, six ? "]" : "", hp, key) < 0)
                                out = NULL;
                }
        }
        return out;
}

static int port_list(const struct nk_global *g, const char *id, const char *want)
{
        nk_error *e = NULL;
        _cleanup_jansson_ json_t *rec = nk_ctr_record(g->store, id, &e);
        if (!rec)
                return nk_ctr_fail(e, 1);
        json_t *ports = json_object_get(json_object_get(rec, "NetworkSettings"), "Ports");
        char key[32] = "";
        if (want)
                snprintf(key, sizeof key, strchr(want, '/') ? "%s" : "%s/tcp", want);
        const char *k;
        json_t *a;
        bool found = false;
        json_object_foreach (ports, k, a) {
                size_t i;
                json_t *b;
                if (want && !streq(k, key))
                        continue;
                json_array_foreach (a, i, b) {
                        const char *ip = json_string_value(json_object_get(b, "HostIp")) ?: "";
                        const char *hp = json_string_value(json_object_get(b, "HostPort")) ?: "";
                        bool six = strchr(ip, ':') != NULL;
                        found = true;
                        if (want)
                                printf("%s%s%s:%s\n", six ? "[" : "", ip, six ? "]" : "", hp);
                        else
                                printf("%s -> %s%s%s:%s\n", k, six ? "[" : "", ip, six ? "]" : "",
                                       hp);
                }
        }
        if (want && !found) {
                nk_log(NK_LOG_ERROR, "no public port '%s' published for %.12s", key, id);
                return 1;
        }
        return 0;
}

static int port_change(const struct nk_global *g, const char *id, const char *spec, bool add)
{
        nk_error *e = NULL;
        const struct nk_net_ops *net = nk_cmd_net_ops();
        if (!net)
                return 1;
        _cleanup_close_ int lock = nk_ctr_names_lock(g->store, &e);
        _cleanup_jansson_ json_t *rec = lock < 0 ? NULL : nk_ctr_record(g->store, id, &e);
        if (!rec || net->port(g->store, id, rec, spec, add, &e) < 0 ||
            nk_ctr_record_save(g->store, id, rec, &e) < 0)
                return nk_ctr_fail(e, 1);
        return 0;
}

int nk_cmd_port(const struct nk_global *g, int argc, char **argv)
{
        char id[NK_CTR_ID_LEN + 1];
        nk_error *e = NULL;
        bool change = argc >= 2 && (streq(argv[1], "add") || streq(argv[1], "rm"));
        if (change && argc != 4)
                return nk_cmd_usage_error("port", "%s CONTAINER [IP:]HOST_PORT:PORT[/PROTO]",
                                          argv[1]);
        if (!change && (argc < 2 || argc > 3))
                return nk_cmd_usage_error("port", "CONTAINER [PRIVATE_PORT[/PROTO]]");
        const char *ref = change ? argv[2] : argv[1];
        if (nk_ctr_resolve(g->store, ref, id, &e) < 0)
                return nk_ctr_fail(e, 1);
        if (change)
                return port_change(g, id, argv[3], streq(argv[1], "add"));
        return port_list(g, id, argc == 3 ? argv[2] : NULL);
}
