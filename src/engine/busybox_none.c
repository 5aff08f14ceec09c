/* Built without busybox-static: no embedded default image. */
#include <stdbool.h>
#include <stddef.h>
const bool nk_busybox_embedded = false;
const char *const nk_busybox_applets[] = {NULL};
const char nk_busybox_start[1], nk_busybox_end[1];
