/* nook — the sync record as it travels, shared with nook-init (which is
 * freestanding: nothing here but fixed-width types).
 *
 * A message is one header {magic, type, errno, len} followed by len bytes
 * of payload. On a SOCK_SEQPACKET socket the header and the first
 * NK_SYNC_CHUNK bytes of payload are one record; the rest follows in
 * records of at most NK_SYNC_CHUNK bytes, so a message of any size fits
 * through a socket buffer of any size. The same format carries every
 * failure: type NK_SYNC_ERROR_TYPE, the errno, and the message text. */
#pragma once
#include <stdint.h>

#define NK_SYNC_MAGIC      0x79736b6eu /* "nksy" little-endian */
#define NK_SYNC_CHUNK      32768u      /* payload bytes per record */
#define NK_SYNC_ERROR_TYPE 99
#define NK_SYNC_ERROR_MAX  8192u /* error text is cut here: one record */

struct nk_sync_hdr {
        uint32_t magic;
        uint32_t type;
        int32_t errno_;
        uint32_t len; /* payload bytes that follow */
};
