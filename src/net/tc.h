/* Per-container bandwidth limits: a tbf qdisc at the root of each side
 * of the container's veth pair, over rtnetlink.
 *
 * What the container receives leaves the host through the host-side veth:
 * the tbf at its root shapes it (ingress rate). What the container sends
 * leaves through its own side (eth0): the tbf at that one's root, set from
 * the engine through a netlink socket opened in the container's namespace,
 * shapes it (egress rate). Shaping, not policing: a queue paces TCP to the
 * rate where a policer's drops make it saw-tooth.
 *
 * No ifb: the first ifb made on a host loads the ifb module, whose
 * numifbs=2 default makes ifb0 and ifb1 in the initial namespace, on the
 * real host, whatever namespace asked. A container without CAP_NET_ADMIN
 * (the default) cannot touch the qdisc on its eth0; one given NET_ADMIN
 * can remove or change its own egress limit (never the ingress one, which
 * is on the host's side). docs/network.md, "Rate limits".
 *
 * A change of rate is one RTM_NEWQDISC with NLM_F_REPLACE on the tbf in
 * place: the kernel swaps its parameters under the qdisc's lock, so there
 * is no moment without a limit. */
#pragma once
#include "net/rtnl.h"
#include "util/error.h"
#include "util/rate.h"
#include <stdint.h>

/* The tbf for a rate on a link of this MTU: bytes per second, the bucket
 * (10 ms of the rate, at least two frames and 8 KiB) and the queue (the
 * bucket plus 100 ms of the rate, at least 32 KiB: a TSO segment of
 * 64 KiB split in tbf must mostly fit). */
struct nk_tbf {
        uint64_t bytes_per_sec;
        uint32_t burst, limit;
};
void nk_tbf_for(uint64_t bits, unsigned mtu, struct nk_tbf *out);

struct nk_tc_rates {
        uint64_t egress;  /* what the container sends */
        uint64_t ingress; /* what it receives */
};

/* The limits now on host_link (ingress) and its peer (egress), read from
 * the kernel (0: none). host: a handle on the host's namespace, ctr: on
 * the container's (NULL: its egress reads 0), both with empty batches. */
int nk_tc_get(struct nk_rtnl *host, struct nk_rtnl *ctr, const char *host_link,
              struct nk_tc_rates *out, nk_error **err);
/* Set, change (in place) or remove (0) the limits; a direction given as
 * NK_RATE_KEEP is left as it is. An egress rate needs ctr. */
int nk_tc_set(struct nk_rtnl *host, struct nk_rtnl *ctr, const char *host_link,
              const struct nk_tc_rates *want, nk_error **err);
