/* The architecture nook was built for, known at compile time: what the
 * seccomp default profile is resolved for and what `nook version` and
 * `nook info` report beside the machine uname describes (an x86_64 build
 * under `setarch i686`, or a 32-bit build on a 64-bit kernel, differ). */
#pragma once

/* In `uname -m` spelling. */
#if defined(__x86_64__)
#define NK_BUILD_MACHINE "x86_64"
#define NK_BUILD_ARCH    "amd64"
#elif defined(__i386__)
#define NK_BUILD_MACHINE "i686"
#define NK_BUILD_ARCH    "386"
#elif defined(__aarch64__)
#define NK_BUILD_MACHINE "aarch64"
#define NK_BUILD_ARCH    "arm64"
#elif defined(__arm__)
#define NK_BUILD_MACHINE "armv7l"
#define NK_BUILD_ARCH    "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NK_BUILD_MACHINE "ppc64le"
#define NK_BUILD_ARCH    "ppc64le"
#elif defined(__s390x__)
#define NK_BUILD_MACHINE "s390x"
#define NK_BUILD_ARCH    "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define NK_BUILD_MACHINE "riscv64"
#define NK_BUILD_ARCH    "riscv64"
#else
#define NK_BUILD_MACHINE "unknown"
#define NK_BUILD_ARCH    "unknown"
#endif
