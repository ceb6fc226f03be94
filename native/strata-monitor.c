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
 *   ARG <word>     one argv word, repeated; the first is the program
 *   RUN            fork and exec; the reply "EXIT <status>\n" comes when it exits
 *   PING           reply "PONG <pid>\n"
 *   WATCH          the connection stays open and gets "DIED <pid> exit <status>\n" or
 *                  "DIED <pid> signal <number>\n" for every orphan reaped (a container's init)
 *   QUIT           exit once no process is left below the monitor
 *
 * Every such death is also appended to EXITS_FILE (same lines), so that a daemon that was not
 * watching (stopped, restarting) learns how its containers' inits ended.
 *
 *   strata-monitor SOCKET_PATH [EXITS_FILE]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define MAX_ARGS 256
#define BUF 65536

struct client {
    int fd;
    pid_t child;      /* 0 until RUN */
    size_t len;
    char buf[BUF];
    char *out;
    long cap;
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

static struct client *clients[MAX_CLIENTS];
static struct log *logs[MAX_LOGS];
static int quitting;
static const char *exits_file;

static void drop(int i) {
    struct client *c = clients[i];
    close(c->fd);
    free(c->out);
    for (int a = 0; a < c->argc; a++) free(c->argv[a]);
    free(c);
    clients[i] = NULL;
}

static void reply(struct client *c, const char *text) {
    (void)!write(c->fd, text, strlen(text));
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

static void run(struct client *c) {
    if (c->argc == 0) { reply(c, "ERR no ARG\n"); return; }
    c->argv[c->argc] = NULL;
    int slot = -1;
    int p[2] = { -1, -1 };
    if (c->out) {
        for (int i = 0; i < MAX_LOGS; i++) if (!logs[i]) { slot = i; break; }
        if (slot < 0 || pipe2(p, O_CLOEXEC) < 0) { reply(c, "ERR no room for another log\n"); return; }
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
        if (strncmp(start, "ARG ", 4) == 0) {
            if (c->argc >= MAX_ARGS) { reply(c, "ERR too many args\n"); return -1; }
            c->argv[c->argc++] = strdup(start + 4);
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

    for (;;) {
        static struct pollfd fds[MAX_CLIENTS + MAX_LOGS + 2];
        static int map[MAX_CLIENTS + MAX_LOGS + 2];
        int n = 0;
        fds[n].fd = sfd; fds[n].events = POLLIN; map[n++] = -1;
        if (!quitting) { fds[n].fd = lfd; fds[n].events = POLLIN; map[n++] = -2; }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i] && !clients[i]->child) { fds[n].fd = clients[i]->fd; fds[n].events = POLLIN; map[n++] = i; }
        }
        for (int i = 0; i < MAX_LOGS; i++) {
            if (logs[i]) { fds[n].fd = logs[i]->fd; fds[n].events = POLLIN; map[n++] = -3 - i; }
        }
        if (quitting) {
            /* Stay while anything is left to reap. */
            siginfo_t info;
            if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) break;
        }
        if (poll(fds, (nfds_t)n, quitting ? 1000 : -1) < 0) {
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
                ssize_t got = read(c->fd, c->buf + c->len, BUF - c->len);
                if (got <= 0) { drop(map[k]); continue; }
                c->len += (size_t)got;
                if (feed(c) < 0 && !c->child && !c->watching) drop(map[k]);
            }
        }
    }
    unlink(argv[1]);
    return 0;
}
