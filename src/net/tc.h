/* Per-container bandwidth limits: traffic control over rtnetlink, on the
 * container's host-side veth, where the container (no CAP_NET_ADMIN in the
 * host's namespace) cannot undo them.
 *
 * What the container receives leaves the host through the veth: a tbf
 * qdisc at its root shapes it (ingress rate). What the container sends
 * arrives on the veth: a u32 filter that matches everything in the veth's
 * clsact ingress hook redirects it (mirred) to an ifb device of its own,
 * `nki<same 12 digits>`, whose root tbf shapes it before the ifb hands it
 * back to the veth's receive path (egress rate). Shaping, not policing:
 * a queue paces TCP to the rate where a policer's drops make it saw-tooth
 * (and this kernel has no act_police nor cls_matchall). docs/network.md,
 * "Rate limits", has the measurements.
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

/* The ifb that queues host_link's incoming traffic ("nkv..." -> "nki..."). */
void nk_tc_ifb_name(const char *host_link, char out[16]);
/* The limits now on host_link, read from the kernel (0: none). r: a handle
 * on the host's namespace with an empty batch. */
int nk_tc_get(struct nk_rtnl *r, const char *host_link, struct nk_tc_rates *out, nk_error **err);
/* Set, change (in place) or remove (0) the limits; a direction given as
 * NK_RATE_KEEP is left as it is. */
int nk_tc_set(struct nk_rtnl *r, const char *host_link, const struct nk_tc_rates *want,
              nk_error **err);
/* What outlives the veth: its ifb. Fine when there is none. For detach,
 * after the veth is gone (its qdiscs and filter went with it). */
int nk_tc_forget(struct nk_rtnl *r, const char *host_link, nk_error **err);
