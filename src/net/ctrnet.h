/* A container's networks, as `nook run/create/start/rm` and the monitor's
 * --rm need them: the part of src/net the engine's core calls, through the
 * small nook-net module (src/cmd/module.c looks up `nk_net_ops`), so a run
 * loads libmnl but never the engine module's libcurl/OpenSSL.
 *
 * The model (podman's): the engine makes the container's network
 * namespace itself, before the runtime creates the container, as a file
 * ROOT/netns/<id> (an nsfs bind mount) that the spec's network namespace
 * `path` names. Networks are attached to it (veth, address, routes),
 * ports published; all of it outlives the container's process, so stop,
 * start and the restart policy keep address and ports. rm (and the
 * monitor of a --rm container) detach and remove the file; a kill -9 in
 * between is reconciled by rm -f, `network rm` and `network prune`.
 *
 * In the container's directory: `networks`, the names of the networks it
 * is on, one a line, written before each attach (what teardown and the
 * monitor read: no JSON). */
#pragma once
#include "util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#define NK_NET_OPS_SYMBOL "nk_net_ops"

/* What run/create asked for (the strings are the caller's). */
struct nk_ctrnet_req {
        const char *network; /* a network's name or id; NULL: the default */
        char *const *ips;    /* --ip/--ip6, NULL-terminated or NULL */
        char *const *aliases;
        char *const *publish; /* -p as given */
        bool publish_all;     /* -P: the image's ExposedPorts */
        const json_t *exposed;
        const char *mac;
        const char *hostname;
        uint64_t egress_rate, ingress_rate; /* bit/s, 0: none (util/rate.h) */
};

struct nk_net_ops {
        /* Before anything is made: the network exists (the default one is
         * made on first use), -p parses, --ip fits the network. */
        int (*check)(const char *store, const struct nk_ctrnet_req *q, nk_error **err);
        /* The netns file, attach, publish, /etc/hosts (the container's
         * `hosts`, rewritten in place: it is bind-mounted). Fills rec's
         * NetworkSettings (Networks, Ports, SandboxKey) and HostConfig.
         * PortBindings (Docker's shapes). On failure the caller removes
         * the container (teardown with it). */
        int (*setup)(const char *store, const char *root, const char *id, const char *name,
                     const struct nk_ctrnet_req *q, json_t *rec, nk_error **err);
        /* Undo everything of id's (absent parts are fine); flags:
         * NK_CTRNET_RECONCILE (rm -f) also frees what containers without a
         * directory left on the same networks, and netns files without a
         * container; NK_CTRNET_KEEP_NETNS leaves the netns file to the
         * caller's nk_ctrnet_netns_drop (its unmount waits for an RCU grace
         * period: the monitor of a --rm container does it once `nook run`
         * has its exit code). */
        int (*teardown)(const char *store, const char *root, const char *id, unsigned flags,
                        nk_error **err);
        /* start: the netns file gone (a reboot)? Made again and the
         * networks of rec's NetworkSettings attached again with the same
         * addresses and ports. 0 when nothing was needed. */
        int (*restore)(const char *store, const char *root, const char *id, json_t *rec,
                       nk_error **err);
        /* Every network: reconcile against the containers that exist, and
         * netns files without a container (network prune / rm). */
        int (*reconcile_all)(const char *store, const char *root, nk_error **err);
        /* `nook port add|rm` on a container: one mapping (text as -p, one
         * port), recorded in rec's NetworkSettings.Ports and
         * HostConfig.PortBindings. */
        int (*port)(const char *store, const char *id, json_t *rec, const char *spec, bool add,
                    nk_error **err);
        /* `network connect|disconnect`: ifname eth1, ... on a running or
         * stopped container with a netns of nook's; rec updated. */
        int (*connect)(const char *store, const char *root, const char *id, json_t *rec,
                       const char *network, char *const *ips, char *const *aliases, nk_error **err);
        int (*disconnect)(const char *store, const char *root, const char *id, json_t *rec,
                          const char *network, nk_error **err);
        /* `nook update --egress-rate/--ingress-rate`: the limits on every
         * interface of the container's (NK_RATE_KEEP leaves a direction,
         * 0 removes its limit), changed in place; rec's HostConfig
         * EgressRate/IngressRate updated. */
        int (*rate)(const char *store, const char *id, json_t *rec, uint64_t egress,
                    uint64_t ingress, nk_error **err);
};

/* The table itself (what the modules export; nook looks it up by name). */
extern const struct nk_net_ops nk_net_ops;

#define NK_CTRNET_RECONCILE  1u
#define NK_CTRNET_KEEP_NETNS 2u

/* ROOT/netns/<id>. */
static inline void nk_ctrnet_netns_path(const char *root, const char *id, char *buf, size_t len)
{
        snprintf(buf, len, "%s/netns/%s", root, id);
}

/* Whether path is a bound namespace (nsfs). */
bool nk_ctrnet_is_netns(const char *path);
/* A new network namespace bound at ROOT/netns/<id> (path: that name);
 * an existing one is kept. src/net/netns.c, in nook itself. */
int nk_ctrnet_netns_make(const char *root, const char *id, char *path, size_t len, nk_error **err);

/* Unmount (detached: a process still in it keeps it) and remove id's netns
 * file; absent is fine. The kernel takes the namespace, and the veths in
 * it, once nothing holds it. */
static inline void nk_ctrnet_netns_drop(const char *root, const char *id)
{
        char path[4096];
        nk_ctrnet_netns_path(root, id, path, sizeof path);
        while (umount2(path, MNT_DETACH) == 0)
                ;
        (void)unlink(path);
}
