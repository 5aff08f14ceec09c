/* HOME from /etc/passwd (runc's rule): the parser the init uses. */
#include "runtime/process.h"
#include "unit.h"
#include "util/cleanup.h"
#include <stdlib.h>

static char *home(const char *text, uid_t uid)
{
        _cleanup_free_ char *copy = strdup(text);
        return nk_passwd_home(copy, uid);
}

int main(void)
{
        const char *pw = "root:x:0:0:root:/root:/bin/sh\n"
                         "# comment line\n"
                         "broken\n"
                         "plus:x:+7:7::/plus:/bin/sh\n"
                         "space:x: 8:8::/space:/bin/sh\n"
                         "neg:x:-1:0::/neg:/bin/sh\n"
                         "nohome:x:9:9:::/bin/sh\n"
                         "short:x:10:10:gecos:/short\n"
                         "big:x:4294967295:0::/big:/bin/sh\n"
                         "huge:x:99999999999999999999:0::/huge:/bin/sh\n"
                         "user:x:1000:1000:a user:/home/user:/bin/sh\n"
                         "dup:x:1000:1000::/second:/bin/sh";
        char *h;
        CHECK_STR(h = home(pw, 0), "/root");
        free(h);
        CHECK_STR(h = home(pw, 1000), "/home/user");
        free(h); /* first entry wins */
        CHECK_STR(h = home(pw, 9), "/");
        free(h); /* empty home field */
        CHECK_STR(h = home(pw, 10), "/short");
        free(h); /* no shell field */
        CHECK_STR(h = home(pw, 4294967295u), "/big");
        free(h);
        CHECK(home(pw, 7) == NULL); /* "+7" is not a uid */
        CHECK(home(pw, 8) == NULL); /* " 8" neither */
        CHECK(home(pw, 4242) == NULL);
        CHECK(home("", 0) == NULL);
        CHECK(home("root:x:0", 0) == NULL); /* truncated line */
        return UNIT_END();
}
