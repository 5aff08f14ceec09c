/* The nook-net module: libnet (src/net, with libmnl) linked whole; what
 * nook itself looks up in it is `nk_net_ops` (net/ctrnet.h). */
#include "net/ctrnet.h"

const char nk_net_module_version[] = NOOK_VERSION;
