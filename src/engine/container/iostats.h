/* nook engine — `nook stats`' NET I/O and BLOCK I/O columns: a
 * container's network bytes from its network namespace (/proc/PID/net/dev,
 * every interface but lo, as Docker counts its sandbox's interfaces) and
 * its block I/O bytes from the cgroup stats (v1 blkio or v2 io.stat, read
 * by the runtime library). Library code: no printing. */
#pragma once
#include "util/error.h"
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

struct nk_io_totals {
        uint64_t rx, tx;      /* network bytes received, sent */
        uint64_t read, write; /* block device bytes */
};

/* Sum rx and tx bytes over /proc/net/dev's interfaces except lo. Lines
 * that are not an interface's (the two headers, a malformed one) are
 * skipped; -1 only when no interface line was read at all. */
int nk_net_dev_totals(const char *text, uint64_t *rx, uint64_t *tx);
/* The network bytes of process pid's network namespace, 0 and 0 when it
 * is this process's own (--network host: no namespace of the
 * container's, Docker shows 0B too). */
int nk_ctr_net_io(pid_t pid, uint64_t *rx, uint64_t *tx, nk_error **err);
/* Read and Write bytes summed over the devices of a runc-style stats
 * object's blkio.ioServiceBytesRecursive (nk_container_stats). */
void nk_blkio_totals(json_t *stats, uint64_t *read, uint64_t *write);
