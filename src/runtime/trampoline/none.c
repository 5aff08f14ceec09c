/* No nook-init for this architecture: the init always runs from a
 * protected copy of nook (see selfexe.c). */
#include <stddef.h>
extern const unsigned char nk_trampoline[];
extern const size_t nk_trampoline_len;
const unsigned char nk_trampoline[1];
const size_t nk_trampoline_len = 0;
