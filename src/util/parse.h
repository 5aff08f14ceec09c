/* nook — strict parsing of numbers and names given on the command line. */
#pragma once
#include "error.h"
#include <sched.h>
#include <stddef.h>
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

/* A decimal number in 0..max: digits only (no sign, space, suffix or
 * base prefix), overflow checked. 0, or -1 when s is not one (out
 * untouched). Every number from the command line goes through this or
 * nk_parse_id, never atoi/strtol without these checks. */
int nk_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/* The same for the first len bytes of s (a number inside kernel text:
 * the caller measures the token, e.g. strcspn(s, " \n")). */
int nk_parse_uint_n(const char *s, size_t len, unsigned long long max, unsigned long long *out);

/* A CPU list as in cpuset(7), "0-3,8,10-11", into *set (when set is not
 * NULL): each number checked, a < b in a range, every CPU below CPU_SETSIZE
 * (what sched_setaffinity(2) takes through a cpu_set_t). 0 or -1. The one
 * parser for validating execCPUAffinity and applying it. */
int nk_parse_cpu_list(const char *s, cpu_set_t *set);

/* --preserve-fds N: at most this many (fds 3..N+2). */
#define NK_PRESERVE_FDS_MAX 65536

/* The longest container id: it names a directory (state root, image
 * store), so one path component (NAME_MAX). */
#define NK_CONTAINER_ID_MAX 255

/* The one rule for container ids, runtime and engine alike: 1 to
 * NK_CONTAINER_ID_MAX of [A-Za-z0-9_.+-], not starting with '.' (no ".",
 * "..", or hidden entries in the state root). -1 with err naming the id. */
int nk_container_id_check(const char *id, nk_error **err);
