#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static bool log_json, log_debug;

int nk_log_init(const char *path, bool json, bool debug)
{
        log_json = json;
        log_debug = debug;
        if (!path || !*path)
                return 0;
        /* O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of hanging. */
        int fd =
                open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
        if (fd < 0)
                return -1;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        log_fd = fd;
        return 0;
}

bool nk_log_debug_enabled(void)
{
        return log_debug;
}

static bool log_errors_only;
void nk_log_errors_only(void)
{
        log_errors_only = true;
}

static const char *level_name(enum nk_log_level l)
{
        static const char *names[] = {"debug", "info", "warning", "error"};
        return names[l];
}

/* Bytes of a character that breaks or controls a line at s, or 0: the C0
 * controls and DEL, the C1 controls (U+0080..U+009F) and U+2028/U+2029,
 * which some terminals and log readers also take as line ends. */
static size_t control_len(const unsigned char *s)
{
        if (*s < 0x20 || *s == 0x7f)
                return 1;
        if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
                return 2;
        if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
                return 3;
        return 0;
}

/* Bytes of the well-formed UTF-8 character at s (not ASCII), or 0: the
 * shortest form, no surrogate, nothing above U+10FFFF (what jansson and
 * the JSON readers of a log or a state accept). */
static size_t utf8_len(const unsigned char *s)
{
        size_t n = *s >= 0xf0 && *s <= 0xf4 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc2 && *s < 0xe0 ? 2 : 0;
        if (n == 0 || (n == 3 && *s >= 0xf0))
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        if ((n == 3 && *s == 0xe0 && s[1] < 0xa0) || (n == 3 && *s == 0xed && s[1] >= 0xa0) ||
            (n == 4 && *s == 0xf0 && s[1] < 0x90) || (n == 4 && *s == 0xf4 && s[1] >= 0x90))
                return 0;
        return n;
}

bool nk_utf8_valid(const char *s)
{
        for (const unsigned char *c = (const unsigned char *)s; *c;) {
                size_t n = *c < 0x80 ? 1 : utf8_len(c);
                if (n == 0)
                        return false;
                c += n;
        }
        return true;
}

char *nk_log_escape(const char *s)
{
        /* worst case: every byte becomes \xNN */
        char *o = malloc(strlen(s) * 4 + 1), *p = o;
        if (!o)
                return NULL;
        for (const unsigned char *c = (const unsigned char *)s; *c;) {
                size_t n = control_len(c), u;
                if (n == 0 && *c < 0x80) {
                        *p++ = (char)*c++;
                } else if (n == 0 && (u = utf8_len(c)) > 0) {
                        memcpy(p, c, u);
                        p += u;
                        c += u;
                } else if (n == 1 && (*c == '\n' || *c == '\r' || *c == '\t')) {
                        *p++ = '\\';
                        *p++ = *c == '\n' ? 'n' : *c == '\r' ? 'r' : 't';
                        c++;
                } else if (n <= 1) { /* a C0 control, DEL, or a byte not in UTF-8 */
                        p += sprintf(p, "\\x%02x", *c++);
                } else {
                        unsigned cp = n == 2 ? c[1] : 0x2000u | (c[2] & 0x3fu);
                        p += sprintf(p, "\\u%04x", cp);
                        c += n;
                }
        }
        *p = '\0';
        return o;
}

void nk_log(enum nk_log_level lvl, const char *fmt, ...)
{
        if (log_errors_only && lvl == NK_LOG_WARN)
                return;
        int saved = errno;
        char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return;
        /* One line, whatever a user string in the message held: done here,
         * where every error and warning is printed, not at each call site. */
        char *raw = msg;
        msg = nk_log_escape(raw);
        if (!msg) {
                free(raw);
                return;
        }
        /* Errors and warnings always reach the user; the log file gets everything. */
        if (lvl >= NK_LOG_WARN && (log_fd < 0 || isatty(STDERR_FILENO)))
                fprintf(stderr, "nook: %s%s\n", lvl == NK_LOG_WARN ? "warning: " : "", msg);
        else if (lvl == NK_LOG_ERROR)
                fprintf(stderr, "nook: %s\n", msg);
        else if (lvl == NK_LOG_DEBUG && log_fd < 0)
                fprintf(stderr, "nook: debug: %s\n", msg);
        if (log_fd >= 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                struct tm tm;
                gmtime_r(&ts.tv_sec, &tm);
                char tbuf[64];
                snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec);
                char *line = NULL;
                if (log_json) {
                        /* the message as it was, or escaped when it is not UTF-8 */
                        json_t *o = json_pack("{s:s,s:s,s:s}", "level", level_name(lvl), "msg", raw,
                                              "time", tbuf);
                        if (!o)
                                o = json_pack("{s:s,s:s,s:s}", "level", level_name(lvl), "msg", msg,
                                              "time", tbuf);
                        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
                        if (s && asprintf(&line, "%s\n", s) < 0)
                                line = NULL;
                        free(s);
                        json_decref(o);
                } else if (asprintf(&line, "%s %s: %s\n", tbuf, level_name(lvl), msg) < 0) {
                        line = NULL;
                }
                if (line)
                        (void)!write(log_fd, line, strlen(line));
                free(line);
        }
        free(raw);
        free(msg);
        errno = saved;
}

void nk_log_detach(void)
{
        log_fd = -1;
        log_debug = false;
}
