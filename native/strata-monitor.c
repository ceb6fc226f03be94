/*
 * strata-monitor: the parent of every container of one Strata data root.
 *
 * runc orphans a container's init when `runc run --detach` returns. On a host
 * whose pid 1 does not reap, every stopped container would then stay a zombie.
 * This small process is a child subreaper that outlives the daemon (a daemon
 * may be restarted or killed while containers run): the daemon asks it over a
 * unix socket to run `runc run --detach`, and it reaps whatever is orphaned
 * below it. It is not a supervisor: it never restarts anything.
 *
 * Protocol, one request per connection, text lines:
 *   OUT <path>     file that gets the child's stdout and stderr (appended), through a pipe the
 *                  monitor holds, so that everything the container's init and its children write
 *                  there lands in it, and it never grows past CAP, at any moment
 *   CAP <bytes>    the cap of OUT (default 1 MiB): past it, the oldest half is dropped
 *   TTY <path>     the child is `runc create --console-socket <path>`: the monitor listens there,
 *                  takes the container's console (the pty master runc sends), writes what comes
 *                  out of it to OUT as above, and holds it for the container's life
 *   ATTACH <out> <rows> <cols>
 *                  the connection becomes a viewer of the console that writes to <out>: it gets
 *                  what the console prints from now on, and what it sends is typed on the console;
 *                  "ATTACHED\n" first ("ERR …" when there is none); several viewers may attach
 *   CLOSE <out>    the container of the console that writes to <out> stopped: let it go
 *   ARG <word>     one argv word, repeated; the first is the program
 *   RUN            fork and exec; the reply "EXIT <status>\n" comes when it exits
 *   PING           reply "PONG <pid>\n"
 *   WATCH          the connection stays open and gets "DIED <pid> exit <status>\n" or
 *                  "DIED <pid> signal <number>\n" for every orphan reaped (a container's init)
 *   QUIT           exit once no process is left below the monitor (a later RUN, PING, WATCH or
 *                  ATTACH cancels it: a daemon came back to use it)
 *
 * One monitor per socket: it holds an exclusive lock on SOCKET_PATH.lock, and a second one started
 * on the same path exits with status 3 at once. A monitor whose socket was removed or taken over
 * (its run directory deleted) can never be reached again: it exits as soon as nothing is below it.
 *
 * Every such death is also appended to EXITS_FILE (same lines), so that a daemon that was not
 * watching (stopped, restarting) learns how its containers' inits ended.
 *
 *   strata-monitor SOCKET_PATH [EXITS_FILE]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
/* How often a monitor with nothing below it checks that its socket is still its own. */
#define ORPHAN_CHECK_MS 2000
#define MAX_ARGS 256
#define BUF 65536

struct client {
    int fd;
    pid_t child;      /* 0 until RUN */
    size_t len;
    char buf[BUF];
    char *out;
    long cap;
    char *tty;
    struct console *viewing;
    char *argv[MAX_ARGS + 1];
    int argc;
    int watching;
};

/* A container's output: the read end of its stdout/stderr pipe and the log it fills. */
struct log {
    int fd;
    char *path;
    long cap;
};

#define MAX_LOGS 4096
#define DEFAULT_CAP (1L << 20)
#define MAX_VIEWERS 16

/* A container's console: the pty master runc handed over, its log, and who watches it. */
struct console {
    int listen_fd;      /* the console socket until runc connects, else -1 */
    char *sock_path;
    int master;         /* -1 until received */
    int peer;           /* the pty's other end, held so the master never reads EIO between two opens of /dev/console */
    long long quiet_until; /* after an EIO (a hangup inside), not polled until then (ms) */
    int watched;        /* the descriptor in the consoles' epoll set, or -1 */
    char *path;         /* its log */
    long cap;
    int viewers[MAX_VIEWERS];
};

static struct console *consoles[MAX_LOGS];

/*
 * The consoles wait in an epoll set of their own, one descriptor in the main poll: a wake-up costs
 * the same with a thousand consoles as with one (poll(2) of every pty on each wake-up did not).
 */
static int consoles_ep = -1;
#define CONSOLES_POLLED (-3 - 2 * MAX_LOGS)

static void unwatch_console(struct console *k) {
    if (k->watched >= 0) epoll_ctl(consoles_ep, EPOLL_CTL_DEL, k->watched, NULL);
    k->watched = -1;
}

/* Puts in the set the descriptor console i waits on now: its socket until runc connects, then its master unless quiet. */
static void watch_console(int i, long long now) {
    struct console *k = consoles[i];
    int want = k->listen_fd >= 0 ? k->listen_fd : (k->master >= 0 && k->quiet_until <= now ? k->master : -1);
    if (want == k->watched) return;
    unwatch_console(k);
    if (want < 0) return;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (unsigned)i };
    if (epoll_ctl(consoles_ep, EPOLL_CTL_ADD, want, &ev) == 0) k->watched = want;
}

static struct client *clients[MAX_CLIENTS];
static struct log *logs[MAX_LOGS];
static int quitting;
static const char *exits_file;

static void drop(int i) {
    struct client *c = clients[i];
    close(c->fd);
    free(c->out);
    free(c->tty);
    if (c->viewing) for (int v = 0; v < MAX_VIEWERS; v++) if (c->viewing->viewers[v] == c->fd) c->viewing->viewers[v] = -1;
    for (int a = 0; a < c->argc; a++) free(c->argv[a]);
    free(c);
    clients[i] = NULL;
}

static void reply(struct client *c, const char *text) {
    (void)!write(c->fd, text, strlen(text));
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Appends to a log, keeping it at most `cap` bytes at every moment: past the cap, the newest half stays. */
static void append_capped(struct log *l, const char *data, size_t n) {
    int fd = open(l->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size + (off_t)n > l->cap) {
        size_t keep = (size_t)(l->cap / 2);
        if (n >= keep) {
            data += n - keep;
            n = keep;
            (void)!ftruncate(fd, 0);
        } else {
            size_t old = keep - n;
            if ((off_t)old > st.st_size) old = (size_t)st.st_size;
            char *tail = malloc(old ? old : 1);
            ssize_t got = tail ? pread(fd, tail, old, st.st_size - (off_t)old) : -1;
            (void)!ftruncate(fd, 0);
            if (got > 0) (void)!write(fd, tail, (size_t)got);
            free(tail);
        }
    }
    (void)!write(fd, data, n);
    close(fd);
}

static void close_log(int i) {
    close(logs[i]->fd);
    free(logs[i]->path);
    free(logs[i]);
    logs[i] = NULL;
}

static void close_console(int i) {
    struct console *k = consoles[i];
    unwatch_console(k);
    if (k->listen_fd >= 0) { close(k->listen_fd); unlink(k->sock_path); }
    if (k->master >= 0) close(k->master);
    if (k->peer >= 0) close(k->peer);
    for (int v = 0; v < MAX_VIEWERS; v++) {
        if (k->viewers[v] < 0) continue;
        for (int j = 0; j < MAX_CLIENTS; j++) {
            if (clients[j] && clients[j]->fd == k->viewers[v]) { clients[j]->viewing = NULL; drop(j); }
        }
    }
    free(k->sock_path);
    free(k->path);
    free(k);
    consoles[i] = NULL;
}

/* runc connected to the console socket: take the pty master it sends (SCM_RIGHTS). */
static void take_master(int i) {
    struct console *k = consoles[i];
    int conn = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) return;
    char byte[256];
    struct iovec iov = { .iov_base = byte, .iov_len = sizeof byte };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) > 0) {
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            memcpy(&k->master, CMSG_DATA(h), sizeof(int));
            fcntl(k->master, F_SETFL, O_NONBLOCK);
            k->peer = ioctl(k->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        }
    }
    close(conn);
    unwatch_console(k);
    close(k->listen_fd);
    unlink(k->sock_path);
    k->listen_fd = -1;
}

/* What the console printed: to its log, and to every viewer that keeps up. */
static void console_output(int i) {
    struct console *k = consoles[i];
    static char out[BUF];
    ssize_t got = read(k->master, out, sizeof out);
    if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        /* EIO: hung up inside (systemd does it); the console comes back when reopened. It goes on CLOSE. */
        k->quiet_until = now_ms() + 200;
        return;
    }
    struct log l = { .fd = -1, .path = k->path, .cap = k->cap };
    append_capped(&l, out, (size_t)got);
    for (int v = 0; v < MAX_VIEWERS; v++) if (k->viewers[v] >= 0) (void)!write(k->viewers[v], out, (size_t)got);
}

static int listen_at(const char *path) {
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof addr.sun_path) return -1;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    mode_t old = umask(0077);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(fd, 1) == 0;
    umask(old);
    if (!ok) { if (fd >= 0) close(fd); return -1; }
    return fd;
}

static void attach(struct client *c, const char *args) {
    char path[4096];
    int rows = 0, cols = 0;
    if (sscanf(args, "%4095s %d %d", path, &rows, &cols) < 1) { reply(c, "ERR usage: ATTACH <out> <rows> <cols>\n"); return; }
    for (int i = 0; i < MAX_LOGS; i++) {
        struct console *k = consoles[i];
        if (!k || k->master < 0 || strcmp(k->path, path) != 0) continue;
        for (int v = 0; v < MAX_VIEWERS; v++) {
            if (k->viewers[v] >= 0) continue;
            k->viewers[v] = c->fd;
            c->viewing = k;
            fcntl(c->fd, F_SETFL, O_NONBLOCK);
            if (rows > 0 && cols > 0) {
                struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
                ioctl(k->master, TIOCSWINSZ, &ws);
            }
            reply(c, "ATTACHED\n");
            return;
        }
        reply(c, "ERR too many viewers\n");
        return;
    }
    reply(c, "ERR no console\n");
}

static void run(struct client *c) {
    if (c->argc == 0) { reply(c, "ERR no ARG\n"); return; }
    c->argv[c->argc] = NULL;
    int slot = -1;
    int p[2] = { -1, -1 };
    if (c->out) {
        for (int i = 0; i < MAX_LOGS; i++) if (!logs[i]) { slot = i; break; }
        if (slot < 0 || pipe2(p, O_CLOEXEC) < 0) { reply(c, "ERR no room for another log\n"); return; }
    }
    if (c->tty) {
        int k = -1;
        for (int i = 0; i < MAX_LOGS; i++) if (!consoles[i]) { k = i; break; }
        int fd = k >= 0 && c->out ? listen_at(c->tty) : -1;
        if (fd < 0) { reply(c, "ERR cannot listen on the console socket\n"); if (p[0] >= 0) { close(p[0]); close(p[1]); } return; }
        consoles[k] = calloc(1, sizeof(struct console));
        consoles[k]->listen_fd = fd;
        consoles[k]->sock_path = strdup(c->tty);
        consoles[k]->master = -1;
        consoles[k]->peer = -1;
        consoles[k]->watched = -1;
        consoles[k]->path = strdup(c->out);
        consoles[k]->cap = c->cap > 0 ? c->cap : DEFAULT_CAP;
        for (int v = 0; v < MAX_VIEWERS; v++) consoles[k]->viewers[v] = -1;
    }
    pid_t pid = fork();
    if (pid < 0) { reply(c, "ERR fork failed\n"); if (p[0] >= 0) { close(p[0]); close(p[1]); } return; }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int in = open("/dev/null", O_RDONLY);
        int out = p[1] >= 0 ? p[1] : open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (in < 0 || out < 0) _exit(126);
        dup2(in, 0); dup2(out, 1); dup2(out, 2);
        execvp(c->argv[0], c->argv);
        _exit(127);
    }
    if (p[0] >= 0) {
        close(p[1]);
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        logs[slot] = calloc(1, sizeof(struct log));
        logs[slot]->fd = p[0];
        logs[slot]->path = strdup(c->out);
        logs[slot]->cap = c->cap > 0 ? c->cap : DEFAULT_CAP;
    }
    c->child = pid;
}

/* Handles complete lines; returns -1 when the connection should be dropped. */
static int feed(struct client *c) {
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
        *nl = 0;
        /* A daemon that uses the monitor again cancels a QUIT; CLOSE (a stopped container's
         * console let go) may come from a daemon on its way out, and does not. */
        if (strcmp(start, "RUN") == 0 || strcmp(start, "PING") == 0 || strcmp(start, "WATCH") == 0 || strncmp(start, "ATTACH ", 7) == 0) quitting = 0;
        if (strncmp(start, "ARG ", 4) == 0) {
            if (c->argc >= MAX_ARGS) { reply(c, "ERR too many args\n"); return -1; }
            c->argv[c->argc++] = strdup(start + 4);
        } else if (strncmp(start, "TTY ", 4) == 0) {
            free(c->tty);
            c->tty = strdup(start + 4);
        } else if (strncmp(start, "ATTACH ", 7) == 0) {
            attach(c, start + 7);
            if (!c->viewing) return -1;
            /* Anything after the request line is typed on the console. */
            start = nl + 1;
            size_t rest = c->len - (size_t)(start - c->buf);
            if (rest) (void)!write(c->viewing->master, start, rest);
            c->len = 0;
            return 0;
        } else if (strncmp(start, "CLOSE ", 6) == 0) {
            for (int i = 0; i < MAX_LOGS; i++) if (consoles[i] && strcmp(consoles[i]->path, start + 6) == 0) close_console(i);
            reply(c, "OK\n");
            return -1;
        } else if (strncmp(start, "CAP ", 4) == 0) {
            c->cap = atol(start + 4);
        } else if (strncmp(start, "OUT ", 4) == 0) {
            free(c->out);
            c->out = strdup(start + 4);
        } else if (strcmp(start, "RUN") == 0) {
            run(c);
            if (!c->child) return -1;
        } else if (strcmp(start, "WATCH") == 0) {
            c->watching = 1;
            reply(c, "WATCHING\n");
        } else if (strcmp(start, "PING") == 0) {
            char text[64];
            snprintf(text, sizeof text, "PONG %d\n", getpid());
            reply(c, text);
            return -1;
        } else if (strcmp(start, "QUIT") == 0) {
            quitting = 1;
            reply(c, "OK\n");
            return -1;
        } else {
            reply(c, "ERR unknown request\n");
            return -1;
        }
        start = nl + 1;
    }
    size_t rest = c->len - (size_t)(start - c->buf);
    memmove(c->buf, start, rest);
    c->len = rest;
    if (c->len == BUF) return -1;
    return 0;
}

/* An orphan (a container's init) died: tell the exits file and every watcher. */
static void died(pid_t pid, int status) {
    char text[96];
    if (WIFEXITED(status)) snprintf(text, sizeof text, "DIED %d exit %d\n", pid, WEXITSTATUS(status));
    else snprintf(text, sizeof text, "DIED %d signal %d\n", pid, WTERMSIG(status));
    if (exits_file) {
        int fd = open(exits_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) { (void)!write(fd, text, strlen(text)); close(fd); }
    }
    for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i] && clients[i]->watching) reply(clients[i], text);
}

static void reap(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int ours = 0;
        for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i] && clients[i]->child == pid) ours = 1;
        if (!ours) died(pid, status);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i] && clients[i]->child == pid) {
                char text[64];
                int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                snprintf(text, sizeof text, "EXIT %d\n", code);
                reply(clients[i], text);
                drop(i);
            }
        }
    }
}

/* Whether any process is left below the monitor (alive, or dead and not yet reaped). */
static int has_children(void) {
    siginfo_t info;
    return !(waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD);
}

/* Whether the socket path still names the socket this monitor bound. */
static int still_bound(const char *path, const struct stat *bound) {
    struct stat now;
    return stat(path, &now) == 0 && now.st_dev == bound->st_dev && now.st_ino == bound->st_ino;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) { fprintf(stderr, "usage: strata-monitor SOCKET_PATH [EXITS_FILE]\n"); return 2; }
    exits_file = argc == 3 ? argv[2] : NULL;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) { perror("strata-monitor: PR_SET_CHILD_SUBREAPER"); return 1; }
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    consoles_ep = epoll_create1(EPOLL_CLOEXEC);
    if (consoles_ep < 0) { perror("strata-monitor: epoll_create1"); return 1; }

    char lock_path[PATH_MAX];
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", argv[1]) >= (int)sizeof lock_path) { fprintf(stderr, "strata-monitor: socket path too long\n"); return 2; }
    int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0) { perror("strata-monitor: lock"); return 1; }
    if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK) { perror("strata-monitor: lock"); return 1; }
        fprintf(stderr, "strata-monitor: another monitor already serves %s\n", argv[1]);
        return 3;
    }

    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path) { fprintf(stderr, "strata-monitor: socket path too long\n"); return 2; }
    strcpy(addr.sun_path, argv[1]);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(argv[1]);
    mode_t old = umask(0077);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0) {
        perror("strata-monitor: bind");
        return 1;
    }
    umask(old);
    struct stat bound;
    if (stat(argv[1], &bound) < 0) { perror("strata-monitor: stat"); return 1; }
    long long next_check = now_ms() + ORPHAN_CHECK_MS;

    for (;;) {
        static struct pollfd fds[MAX_CLIENTS + MAX_LOGS + 3];
        static int map[MAX_CLIENTS + MAX_LOGS + 3];
        int n = 0;
        int timeout = -1;
        long long now = now_ms();
        fds[n].fd = sfd; fds[n].events = POLLIN; map[n++] = -1;
        fds[n].fd = lfd; fds[n].events = POLLIN; map[n++] = -2;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i] && !clients[i]->child) { fds[n].fd = clients[i]->fd; fds[n].events = POLLIN; map[n++] = i; }
        }
        for (int i = 0; i < MAX_LOGS; i++) {
            if (logs[i]) { fds[n].fd = logs[i]->fd; fds[n].events = POLLIN; map[n++] = -3 - i; }
            if (consoles[i]) {
                watch_console(i, now);
                if (consoles[i]->listen_fd < 0 && consoles[i]->master >= 0 && consoles[i]->quiet_until > now) {
                    long long left = consoles[i]->quiet_until - now;
                    if (timeout < 0 || left < timeout) timeout = (int)left;
                }
            }
        }
        fds[n].fd = consoles_ep; fds[n].events = POLLIN; map[n++] = CONSOLES_POLLED;
        if (quitting && !has_children()) break;
        if (now >= next_check) {
            next_check = now + ORPHAN_CHECK_MS;
            if (!has_children() && !still_bound(argv[1], &bound)) break;
        }
        if (quitting && (timeout < 0 || timeout > 1000)) timeout = 1000;
        if (timeout < 0 || timeout > ORPHAN_CHECK_MS) timeout = ORPHAN_CHECK_MS;
        if (poll(fds, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR) continue;
            perror("strata-monitor: poll");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents) continue;
            if (map[k] == -1) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) > 0) {}
                reap();
            } else if (map[k] == CONSOLES_POLLED) {
                struct epoll_event ready[64];
                int got = epoll_wait(consoles_ep, ready, 64, 0);
                for (int e = 0; e < got; e++) {
                    int i = (int)ready[e].data.u32;
                    if (!consoles[i]) continue;
                    if (consoles[i]->listen_fd >= 0) take_master(i);
                    else console_output(i);
                }
            } else if (map[k] <= -3) {
                struct log *l = logs[-3 - map[k]];
                static char out[BUF];
                ssize_t got = read(l->fd, out, sizeof out);
                if (got > 0) append_capped(l, out, (size_t)got);
                else if (got == 0 || (errno != EAGAIN && errno != EINTR)) close_log(-3 - map[k]);
            } else if (map[k] == -2) {
                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (cfd < 0) continue;
                int slot = -1;
                for (int i = 0; i < MAX_CLIENTS; i++) if (!clients[i]) { slot = i; break; }
                if (slot < 0) { close(cfd); continue; }
                clients[slot] = calloc(1, sizeof(struct client));
                clients[slot]->fd = cfd;
            } else {
                struct client *c = clients[map[k]];
                if (!c) continue;
                if (c->viewing) {
                    char in[4096];
                    ssize_t got = read(c->fd, in, sizeof in);
                    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) { drop(map[k]); continue; }
                    if (got > 0) (void)!write(c->viewing->master, in, (size_t)got);
                    continue;
                }
                ssize_t got = read(c->fd, c->buf + c->len, BUF - c->len);
                if (got <= 0) { drop(map[k]); continue; }
                c->len += (size_t)got;
                if (feed(c) < 0 && !c->child && !c->watching && !c->viewing) drop(map[k]);
            }
        }
    }
    /* An orphan's socket path may be another monitor's now. */
    if (still_bound(argv[1], &bound)) unlink(argv[1]);
    return 0;
}
