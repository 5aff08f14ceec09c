#include "terminal.h"
#include "util/cleanup.h"
#include "util/syscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int nk_unix_connect(const char *path, nk_error **err)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof sa.sun_path)
                return nk_error_set(err, ENAMETOOLONG, "socket path `%s` is too long", path);
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return nk_error_set(err, errno, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                int e = errno;
                close(fd);
                return nk_error_set(err, e, "connect to `%s`", path);
        }
        return fd;
}

int nk_send_fd(int sock, int fd, const char *name, nk_error **err)
{
        char cbuf[CMSG_SPACE(sizeof(int))] = {0};
        struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                return nk_error_set(err, errno, "send %s fd", name);
        return 0;
}

int nk_recv_fd(int sock, nk_error **err)
{
        char buf[256], cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) < 0)
                return nk_error_set(err, errno, "receive fd");
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (!c || c->cmsg_type != SCM_RIGHTS)
                return nk_error_set(err, EPROTO, "receive fd: no fd in message");
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return fd;
}

/* A pty of the container's devpts (its /dev/ptmx), at the process's size. */
static int open_pty(const struct nk_process *p, int *master_out, int *slave_out, nk_error **err)
{
        _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return nk_error_set(err, errno, "open /dev/ptmx in the container");
        if (unlockpt(master) < 0)
                return nk_error_set(err, errno, "unlockpt");
        /* TIOCGPTPEER opens the slave through the master: no path lookup
         * inside the container that could be swapped. */
        _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return nk_error_set(err, errno, "open pty slave");
        if (p->console_height || p->console_width) {
                struct winsize ws = {.ws_row = (unsigned short)p->console_height,
                                     .ws_col = (unsigned short)p->console_width};
                if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
                        return nk_error_set(err, errno, "set console size");
        }
        *master_out = TAKE_FD(master);
        *slave_out = TAKE_FD(slave);
        return 0;
}

static int pty_to_stdio_and_send(int master, int slave, int sock, nk_error **err)
{
        for (int i = 0; i < 3; i++)
                if (dup2(slave, i) < 0)
                        return nk_error_set(err, errno, "dup pty to fd %d", i);
        /* The message text is the master's name, "/dev/ptmx", as runc sends it. */
        if (nk_send_fd(sock, master, "/dev/ptmx", err) < 0)
                return nk_error_wrap(err, "console socket");
        return 0;
}

int nk_terminal_setup_child(const struct nk_process *p, int sock, nk_error **err)
{
        _cleanup_close_ int master = -1, slave = -1;
        if (open_pty(p, &master, &slave, err) < 0)
                return -1;
        if (setsid() < 0 && errno != EPERM)
                return nk_error_set(err, errno, "setsid");
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                return nk_error_set(err, errno, "make the pty the controlling terminal");
        return pty_to_stdio_and_send(master, slave, sock, err);
}

int nk_terminal_open_stdio(const struct nk_process *p, int sock, nk_error **err)
{
        _cleanup_close_ int master = -1, slave = -1;
        if (open_pty(p, &master, &slave, err) < 0)
                return -1;
        return pty_to_stdio_and_send(master, slave, sock, err);
}

int nk_terminal_take_stdin(nk_error **err)
{
        if (setsid() < 0 && errno != EPERM)
                return nk_error_set(err, errno, "setsid");
        if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
                return nk_error_set(err, errno, "make the pty the controlling terminal");
        return 0;
}

static int copy_some(int from, int to)
{
        char buf[16384];
        ssize_t n = read(from, buf, sizeof buf);
        if (n <= 0)
                return n == 0 || (errno != EINTR && errno != EAGAIN) ? -1 : 0;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t)(n - off));
                if (w < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -1;
                }
                off += w;
        }
        return 0;
}

void nk_terminal_sync_size(int master)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                (void)ioctl(master, TIOCSWINSZ, &ws);
}

/* The process is gone: copy what it left on the pty. Its last writes may
 * still sit in the slave's buffer (the kernel moves them to the master in
 * a worker), so a poll with no timeout can miss them; read until EIO,
 * which the master returns once every slave fd is closed and the data is
 * through. A slave kept open by a left-over process (no pid namespace, or
 * a background child of an exec) only costs a short wait. */
static void drain_pty(int master)
{
        for (;;) {
                struct pollfd d = {.fd = master, .events = POLLIN};
                int r = poll(&d, 1, 200);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0 || copy_some(master, STDOUT_FILENO) < 0)
                        return;
        }
}

int nk_foreground_loop(int master, int pidfd, int sigfd)
{
        bool tty = master >= 0 && isatty(STDIN_FILENO);
        struct termios saved, raw;
        if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
                raw = saved;
                cfmakeraw(&raw);
                tcsetattr(STDIN_FILENO, TCSANOW, &raw);
                nk_terminal_sync_size(master);
        } else {
                tty = false;
        }
        bool stdin_open = master >= 0, master_open = master >= 0;
        for (;;) {
                struct pollfd pf[4] = {
                        {.fd = master_open ? master : -1, .events = POLLIN},
                        {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
                        {.fd = sigfd, .events = POLLIN},
                        {.fd = pidfd, .events = POLLIN},
                };
                if (poll(pf, 4, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pf[0].revents & (POLLIN | POLLHUP | POLLERR))
                        if (copy_some(master, STDOUT_FILENO) < 0)
                                master_open = false;
                if (pf[1].revents & (POLLIN | POLLHUP))
                        if (copy_some(STDIN_FILENO, master) < 0)
                                stdin_open = false;
                if (pf[2].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sigfd, &si, sizeof si) == sizeof si) {
                                if (si.ssi_signo == SIGWINCH && master >= 0)
                                        nk_terminal_sync_size(master);
                                else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH)
                                        (void)nk_pidfd_send_signal(pidfd, (int)si.ssi_signo, NULL,
                                                                   0);
                        }
                }
                if (pf[3].revents & POLLIN) {
                        if (master_open)
                                drain_pty(master);
                        break;
                }
        }
        if (tty)
                tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        return 0;
}
