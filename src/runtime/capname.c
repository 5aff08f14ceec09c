/* nook — capability names as runc spells them ("CAP_CHOWN"), the one
 * reading that the spec, the seccomp profile (its includes.caps), the
 * features list and the engine all use. Below spec.c, seccomp.c and
 * caps.c, which each need it. */
#include "spec.h"
#include <ctype.h>
#include <string.h>
#include <sys/capability.h>

int nk_cap_from_name(const char *name)
{
        cap_value_t v;
        /* runc's spelling only: "CAP_" and upper case. libcap alone would
         * also take "chown" in any case and bare numbers. */
        if (strncmp(name, "CAP_", 4) != 0 || !name[4])
                return -1;
        for (const char *c = name + 4; *c; c++)
                if (!isupper((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
                        return -1;
        if (cap_from_name(name, &v) < 0 || v < 0 || v > 63)
                return -1;
        return v;
}
