/* The attach protocol's frames and sockets (see attach.h). */
#include "engine/monitor/attach.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
        const char *c = p;
        while (n > 0) {
                ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                c += w;
                n -= (size_t)w;
        }
        return 0;
}

static int read_all(int fd, void *p, size_t n)
{
        char *c = p;
        size_t got = 0;
        while (got < n) {
                ssize_t r = read(fd, c + got, n - got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -1;
                if (r == 0)
                        return got == 0 ? 0 : -1;
                got += (size_t)r;
        }
        return 1;
}

int nk_attach_send(int fd, int type, const void *data, size_t len)
{
        if (len > NK_ATTACH_MAX) {
                errno = EMSGSIZE;
                return -1;
        }
        unsigned char h[4] = {(unsigned char)type, 0, (unsigned char)(len & 0xff),
                              (unsigned char)(len >> 8)};
        /* Header and data in one sendmsg: no 64 KiB copy on the stack of
         * the monitor, which must stay small. */
        struct iovec iov[2] = {{h, 4}, {(void *)data, len}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
        ssize_t w;
        do
                w = sendmsg(fd, &m, MSG_NOSIGNAL);
        while (w < 0 && errno == EINTR);
        if (w < 0)
                return -1;
        if ((size_t)w == 4 + len)
                return 0;
        if ((size_t)w < 4 && write_all(fd, h + w, 4 - (size_t)w) < 0)
                return -1;
        size_t done = (size_t)w < 4 ? 0 : (size_t)w - 4;
        return write_all(fd, (const char *)data + done, len - done);
}

int nk_attach_recv(int fd, void *buf, size_t *len)
{
        unsigned char h[4];
        int r = read_all(fd, h, 4);
        if (r <= 0)
                return r;
        size_t n = (size_t)h[2] | ((size_t)h[3] << 8);
        if (n > 0 && read_all(fd, buf, n) != 1)
                return -1;
        *len = n;
        return h[0] ? h[0] : -1;
}

static int unix_addr(int dfd, const char *name, struct sockaddr_un *sa, nk_error **err)
{
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        if ((size_t)snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", dfd, name) >=
            sizeof sa->sun_path)
                return nk_error_set(err, ENAMETOOLONG, "socket name `%s`", name);
        return 0;
}

int nk_attach_connect(int dfd, const char *name, nk_error **err)
{
        struct sockaddr_un sa;
        if (unix_addr(dfd, name, &sa, err) < 0)
                return -1;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return nk_error_set(err, errno, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "connect to the container's %s socket", name);
        }
        return fd;
}

int nk_attach_listen(int dfd, const char *name, nk_error **err)
{
        struct sockaddr_un sa;
        if (unix_addr(dfd, name, &sa, err) < 0)
                return -1;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return nk_error_set(err, errno, "socket");
        (void)unlinkat(dfd, name, 0);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "listen on the container's %s socket", name);
        }
        return fd;
}
