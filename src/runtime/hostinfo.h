/* nook — the host as nook sees it, for `nook info`. No printing. */
#pragma once
#include "../util/error.h"
#include <jansson.h>

/* {kernel, cgroups: {layout, hierarchies, unmounted}, namespaces, overlayfs,
 * psi, seccomp: {enabled, actions}, userNamespaces: {available, max},
 * syscalls: {pidfd_open, clone3, openat2}, root, store}; NULL root/store
 * mean the defaults (/run/nook, /var/lib/nook). */
json_t *nk_host_info(const char *root, const char *store, nk_error **err);
