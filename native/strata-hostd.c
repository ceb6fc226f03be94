/*
 * strata-hostd: the daemon's resident helper for the host changes of a start and a destroy.
 *
 * Every program the daemon starts costs it milliseconds before the program does anything (a
 * fork of a large process, then the program's own start), and a container's start used to run
 * five of them besides runc and the bridge plugin. This helper is started once, as the daemon's
 * child, and does that work itself: nftables scripts through libnftables, the bridge port's
 * rename, flags and forwarding entry through netlink, a container root's mounts (strata-idmount's
 * code, in a forked child) and unmounts. It holds no state: a daemon that loses it starts another.
 *
 * Protocol on stdin/stdout, requests handled one at a time, in order:
 *   request:  "<id> <VERB> <nargs>\n", then each argument as "<length>\n<bytes>"
 *   answer:   "<id> <status> <length>\n<bytes>"   (status 0: done, the bytes are its output;
 *                                                 otherwise the bytes say what failed)
 * Verbs:
 *   PING                          answers "strata-hostd <pid>"
 *   NFT SCRIPT                    runs an nft script as `nft -f` would (one transaction); answers its output
 *   PORT FROM PORT MAC ISOLATED   the bridge plugin's host veth FROM becomes the port PORT: renamed
 *                                 (when the names differ) and up, no learning and no unknown-unicast
 *                                 flooding, isolated when ISOLATED is 1, and a static forwarding
 *                                 entry for the container's MAC
 *   MOUNT ARG...                  strata-idmount ARG... (see strata-idmount.c)
 *   UMOUNT TARGET...              unmounts each (detached when busy); one not mounted is skipped
 *   MOUNTED PATH...               answers those of the paths that are mount points, one a line
 *                                 (statx: a few paths, not the whole mount table); status 2 when
 *                                 the kernel cannot tell (before 5.8)
 * It exits when stdin closes (its daemon is gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int idmount_main(int argc, char **argv);

#define MAX_ARGS 4096
#define MAX_ARG_BYTES (64L << 20)

/* The answer being built: its status and text. */
static int status;
static char *text;
static size_t text_len, text_cap;

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (text_len + (size_t)n + 1 > text_cap) {
        text_cap = (text_len + (size_t)n + 1) * 2;
        text = realloc(text, text_cap);
        if (!text) _exit(70);
    }
    memcpy(text + text_len, s, (size_t)n + 1);
    text_len += (size_t)n;
    free(s);
}

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    text_len = 0;
    say("%s", s ? s : "out of memory");
    free(s);
    status = 1;
    return -1;
}

static void write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(0); /* the daemon is gone */
        p += w;
        n -= (size_t)w;
    }
}

/* Netlink: one socket, one request at a time, each acknowledged. */

static int nl = -1;
static unsigned seq;

struct msg {
    union { struct nlmsghdr h; char buf[1024]; } u;
};

static void *msg_init(struct msg *m, int type, int flags, size_t body) {
    memset(m, 0, sizeof *m);
    m->u.h.nlmsg_type = (unsigned short)type;
    m->u.h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
    m->u.h.nlmsg_seq = ++seq;
    m->u.h.nlmsg_len = (unsigned)NLMSG_LENGTH(body);
    return NLMSG_DATA(&m->u.h);
}

static struct rtattr *msg_attr(struct msg *m, int type, const void *data, size_t len) {
    struct rtattr *a = (struct rtattr *)((char *)&m->u.h + NLMSG_ALIGN(m->u.h.nlmsg_len));
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    m->u.h.nlmsg_len = NLMSG_ALIGN(m->u.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static void msg_nest_end(struct msg *m, struct rtattr *nest) {
    nest->rta_len = (unsigned short)((char *)&m->u.h + m->u.h.nlmsg_len - (char *)nest);
}

/* Sends m and waits for its acknowledgement: 0, or the kernel's negative errno. */
static int nl_talk(struct msg *m) {
    if (nl < 0) {
        nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (nl < 0) return -errno;
    }
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(nl, &m->u.h, m->u.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    char buf[8192];
    for (;;) {
        ssize_t n = recv(nl, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != m->u.h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
            return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

static int set_link_with(int index, unsigned flags, const char *name, int no_inet6_addrs) {
    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    ifi->ifi_flags = flags;
    ifi->ifi_change = IFF_UP;
    /* The kernel renames before it changes flags: a rename and "up" go in one message. */
    if (name) msg_attr(&m, IFLA_IFNAME, name, strlen(name) + 1);
    if (no_inet6_addrs) {
        struct rtattr *spec = msg_attr(&m, IFLA_AF_SPEC | NLA_F_NESTED, NULL, 0);
        struct rtattr *inet6 = msg_attr(&m, AF_INET6 | NLA_F_NESTED, NULL, 0);
        unsigned char none = IN6_ADDR_GEN_MODE_NONE;
        msg_attr(&m, IFLA_INET6_ADDR_GEN_MODE, &none, 1);
        msg_nest_end(&m, inet6);
        msg_nest_end(&m, spec);
    }
    return nl_talk(&m);
}

/*
 * A bridge port is a layer-2 link: it gets no IPv6 address of its own. Without this, each port's
 * link-local address runs duplicate address detection, whose completion walks the host's whole
 * IPv6 routing table, which has an entry per port: a cost per start that grows with the
 * containers. Kernels without IPv6 refuse the attribute: the link is set without it there.
 */
static int set_link(int index, unsigned flags, const char *name) {
    int rc = set_link_with(index, flags, name, 1);
    if (rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP) rc = set_link_with(index, flags, name, 0);
    return rc;
}

static int port(const char *from, const char *name, const char *mac_text, int isolated) {
    unsigned char mac[6];
    if (sscanf(mac_text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
        return fail("strata-hostd: %s is not a MAC address", mac_text);
    }
    if (strlen(name) >= IFNAMSIZ) return fail("strata-hostd: the port name %s is longer than %d characters", name, IFNAMSIZ - 1);
    int index = (int)if_nametoindex(from);
    if (index == 0) return fail("strata-hostd: configuring bridge port %s: no link %s", name, from);
    int rc;
    if (strcmp(from, name) != 0) {
        if ((rc = set_link(index, 0, NULL)) < 0) return fail("strata-hostd: setting %s down: %s", from, strerror(-rc));
        if ((rc = set_link(index, IFF_UP, name)) < 0) return fail("strata-hostd: renaming %s to %s: %s", from, name, strerror(-rc));
    } else if ((rc = set_link(index, IFF_UP, NULL)) < 0) {
        return fail("strata-hostd: setting %s up: %s", name, strerror(-rc));
    }

    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_SETLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = index;
    struct rtattr *nest = msg_attr(&m, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
    unsigned char off = 0, iso = isolated ? 1 : 0;
    msg_attr(&m, IFLA_BRPORT_LEARNING, &off, 1);
    msg_attr(&m, IFLA_BRPORT_UNICAST_FLOOD, &off, 1);
    msg_attr(&m, IFLA_BRPORT_ISOLATED, &iso, 1);
    msg_nest_end(&m, nest);
    if ((rc = nl_talk(&m)) < 0) return fail("strata-hostd: setting the bridge port flags of %s: %s", name, strerror(-rc));

    struct ndmsg *nd = msg_init(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, sizeof *nd);
    nd->ndm_family = AF_BRIDGE;
    nd->ndm_ifindex = index;
    nd->ndm_state = NUD_NOARP; /* "static": never aged out, not a local address */
    nd->ndm_flags = NTF_MASTER;
    msg_attr(&m, NDA_LLADDR, mac, sizeof mac);
    if ((rc = nl_talk(&m)) < 0) return fail("strata-hostd: adding the forwarding entry of %s on %s: %s", mac_text, name, strerror(-rc));
    return 0;
}

/* nftables, one context for the helper's life (it re-reads the kernel's rules when they changed). */

static struct nft_ctx *nft;

static int run_nft(char *script) {
    if (!nft) {
        nft = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!nft) return fail("strata-hostd: libnftables could not start");
        nft_ctx_buffer_output(nft);
        nft_ctx_buffer_error(nft);
    }
    int rc = nft_run_cmd_from_buffer(nft, script);
    const char *out = nft_ctx_get_output_buffer(nft);
    const char *err = nft_ctx_get_error_buffer(nft);
    if (rc != 0) return fail("%s", err && *err ? err : "nft: the script failed");
    say("%s", out ? out : "");
    return 0;
}

/* strata-idmount's code in a child: it forks and changes namespaces of its own, and it exits. */
static int run_idmount(int argc, char **argv) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) return fail("strata-hostd: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) return fail("strata-hostd: fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        char *args[MAX_ARGS + 2];
        args[0] = "strata-idmount";
        for (int i = 0; i < argc; i++) args[i + 1] = argv[i];
        args[argc + 1] = NULL;
        int rc = idmount_main(argc + 1, args);
        fflush(NULL);
        _exit(rc);
    }
    close(pipefd[1]);
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof buf - 1)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        buf[n] = 0;
        say("%s", buf);
    }
    close(pipefd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (text_len == 0) say("strata-idmount failed with status %d", status);
    return -1;
}

static int run_umount(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (umount2(argv[i], UMOUNT_NOFOLLOW) == 0) continue;
        if (errno == EINVAL || errno == ENOENT) continue; /* not a mount point (any more) */
        /* Busy (a host admin's shell sits in it): detached now, freed by the kernel once released. */
        if (errno == EBUSY && umount2(argv[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
        return fail("strata-hostd: unmounting %s: %s", argv[i], strerror(errno));
    }
    return 0;
}

static int run_mounted(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        struct statx st;
        if (statx(AT_FDCWD, argv[i], AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC, 0, &st) < 0) {
            if (errno == ENOTCONN) say("%s\n", argv[i]); /* a FUSE mount whose daemon died */
            continue;
        }
        if (!(st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
            status = 2;
            text_len = 0;
            say("strata-hostd: this kernel does not tell mount points apart (statx)");
            return -1;
        }
        if (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) say("%s\n", argv[i]);
    }
    return 0;
}

static char *read_line(void) {
    static char *line;
    static size_t cap;
    ssize_t n = getline(&line, &cap, stdin);
    if (n <= 0) exit(0);
    if (line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

int main(void) {
    static char *args[MAX_ARGS + 1];
    for (;;) {
        char id[64], verb[32];
        int nargs;
        char *head = read_line();
        if (sscanf(head, "%63s %31s %d", id, verb, &nargs) != 3 || nargs < 0 || nargs > MAX_ARGS) {
            fprintf(stderr, "strata-hostd: bad request %s\n", head);
            return 2;
        }
        for (int i = 0; i < nargs; i++) {
            long len = strtol(read_line(), NULL, 10);
            if (len < 0 || len > MAX_ARG_BYTES) { fprintf(stderr, "strata-hostd: bad argument length\n"); return 2; }
            args[i] = malloc((size_t)len + 1);
            if (!args[i] || fread(args[i], 1, (size_t)len, stdin) != (size_t)len) return 0;
            args[i][len] = 0;
        }
        args[nargs] = NULL;
        status = 0;
        text_len = 0;
        say("%s", "");
        if (strcmp(verb, "PING") == 0) say("strata-hostd %d", (int)getpid());
        else if (strcmp(verb, "NFT") == 0 && nargs == 1) run_nft(args[0]);
        else if (strcmp(verb, "PORT") == 0 && nargs == 4) port(args[0], args[1], args[2], strcmp(args[3], "1") == 0);
        else if (strcmp(verb, "MOUNT") == 0) run_idmount(nargs, args);
        else if (strcmp(verb, "UMOUNT") == 0) run_umount(nargs, args);
        else if (strcmp(verb, "MOUNTED") == 0) run_mounted(nargs, args);
        else fail("strata-hostd: unknown request %s with %d arguments", verb, nargs);
        for (int i = 0; i < nargs; i++) free(args[i]);
        char answer[128];
        int n = snprintf(answer, sizeof answer, "%s %d %zu\n", id, status, text_len);
        write_all(answer, (size_t)n);
        write_all(text, text_len);
    }
}
