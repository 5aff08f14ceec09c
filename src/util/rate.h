/* Bandwidth rates (nook run --egress-rate/--ingress-rate, net/tc.h), in
 * bits per second; 0 is no limit. Pure code: the command line's parser
 * (runopts) and the networking module share it. */
#pragma once
#include "util/error.h"
#include <stdint.h>

#define NK_RATE_KEEP    UINT64_MAX       /* a change that leaves this direction alone */
#define NK_RATE_MIN     8ULL             /* one byte per second */
#define NK_RATE_MAX     1000000000000ULL /* 1tbit */
#define NK_RATE_STR_MAX 32

/* A rate as tc and Docker write it: a decimal number ("10", "1.5") and a
 * unit, case-insensitive: bit (the default), kbit, mbit, gbit, tbit
 * (powers of 1000), kibit, mibit, gibit, tibit (powers of 1024), and the
 * same with bps for bytes per second (kbps = 8000 bit/s). "0" and "none"
 * are 0. A refusal names the text and why. */
int nk_rate_parse(const char *text, uint64_t *bits, nk_error **err);
/* The shortest exact spelling: "10mbit", "1500kbit", "12345bit", "none". */
void nk_rate_format(uint64_t bits, char out[NK_RATE_STR_MAX]);
