/* `-p` as Docker takes it, before any port is published: pure parsing,
 * unit tested (tests/unit/test_ports.c).
 *
 *   [IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp|sctp]
 *
 * IPv6 host addresses in brackets. A range maps port by port (both sides
 * the same length); no host port (or 0) means "a free one", picked when
 * the port is published. */
#pragma once
#include "net/nft.h"
#include "util/error.h"
#include <stddef.h>

/* One -p into *n mappings (a new array; host_port 0: to be picked). */
int nk_port_spec_parse(const char *s, struct nk_port **out, size_t *n, nk_error **err);
/* "80/tcp" (an image's ExposedPorts key, for -P): container_port and
 * proto, host_port 0. */
int nk_port_exposed_parse(const char *s, struct nk_port *out, nk_error **err);
/* Docker's text of a mapping's container side: "80/tcp". */
void nk_port_private_text(const struct nk_port *p, char *buf, size_t len);
