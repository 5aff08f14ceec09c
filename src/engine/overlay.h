/* overlayfs mounts with the new mount API. Each lower layer is passed as its
 * own `lowerdir+` parameter (Linux 6.8+), so the page-size limit of the old
 * option string does not cap the number of layers; older kernels get the
 * classic string, which holds as many layers as fit. */
#pragma once
#include "util/error.h"
#include <stddef.h>

/* lowers: top-most first. upper and work may be NULL (read-only overlay,
 * which needs at least two lowers). userns >= 0: the lowers idmapped by
 * that user namespace's maps (else -1). Returns a detached mount fd
 * (fsmount), attach it with nk_overlay_attach or read it through openat. */
int nk_overlay_create(char *const *lowers, size_t n, const char *upper, const char *work,
                      int userns, nk_error **err);
/* move_mount the detached mount onto target. */
int nk_overlay_attach(int mnt_fd, const char *target, nk_error **err);
