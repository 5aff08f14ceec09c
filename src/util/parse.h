/* nook — strict parsing of numbers given on the command line. */
#pragma once
#include <stdint.h>

/* The largest uid or gid nook accepts. (uid_t)-1 means "leave unchanged"
 * to setresuid(2), setresgid(2) and chown(2), and ids with the top bit set
 * are read as negative by much of userspace (and the kernel refuses -1 in
 * id maps): refusing everything above 2^31-1, like runc and shadow's
 * useradd, keeps an id from silently meaning "stay root". */
#define NK_ID_MAX INT32_MAX

/* A decimal uid/gid in 0..NK_ID_MAX: digits only (no sign, space or
 * suffix). 0, or -1 when s is not one. */
int nk_parse_id(const char *s, uint32_t *out);
