/*
 * strata-hostd: the daemon's resident helper for the host changes of a start and a destroy.
 *
 * Every program the daemon starts costs it milliseconds before the program does anything (a
 * fork of a large process, then the program's own start), and a container's start used to run
 * five of them besides runc and the bridge plugin. This helper is started once, as the daemon's
 * child, and does that work itself: nftables scripts through libnftables; a container's veth and
 * its bridge port (flags, forwarding entry) through netlink, in place of the bridge plugin; a
 * container root's mounts (strata-idmount's code, in a forked child) and unmounts. It holds no
 * state: a daemon that loses it starts another.
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
 *   VETH NETNS IFNAME PORT BRIDGE MAC ADDRESS GATEWAY DEFAULT ISOLATED
 *                                 what the CNI bridge plugin's ADD does, without its programs: a
 *                                 veth whose end IFNAME (MAC, ADDRESS as a.b.c.d/len, arp_notify,
 *                                 no IPv6 address, the default route through GATEWAY when DEFAULT
 *                                 is 1) is made in the network namespace at path NETNS and whose
 *                                 host end PORT is a port of BRIDGE set up as PORT does; answers
 *                                 PORT's ifindex. Nothing is left when it fails.
 *   MOUNT ARG...                  strata-idmount ARG... (see strata-idmount.c)
 *   UMOUNT TARGET...              unmounts each (detached when busy); one not mounted is skipped
 *   MOUNTED PATH...               answers those of the paths that are mount points, one a line
 *                                 (statx: a few paths, not the whole mount table); status 2 when
 *                                 the kernel cannot tell (before 5.8)
 * It exits when stdin closes (its daemon is gone).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/veth.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
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

/*
 * Sends m on socket fd and waits for its answer: the acknowledgement (0, or the kernel's negative
 * errno), or for a link asked for, its index.
 */
static int nl_talk_on(int fd, struct msg *m) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, &m->u.h, m->u.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
    char buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != m->u.h.nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (h->nlmsg_type == RTM_NEWLINK) return ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
        }
    }
}

/* The helper's own socket, in its own network namespace. */
static int own(void) {
    if (nl < 0) nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    return nl;
}

static int nl_talk(struct msg *m) {
    return nl_talk_on(own(), m);
}

static int set_link_on(int fd, int index, unsigned flags, const char *name, int no_inet6_addrs) {
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
    return nl_talk_on(fd, &m);
}

/*
 * A bridge port is a layer-2 link: it gets no IPv6 address of its own. Without this, each port's
 * link-local address runs duplicate address detection, whose completion walks the host's whole
 * IPv6 routing table, which has an entry per port: a cost per start that grows with the
 * containers. Kernels without IPv6 refuse the attribute: the link is set without it there.
 */
static int set_link(int index, unsigned flags, const char *name) {
    int rc = set_link_on(own(), index, flags, name, 1);
    if (rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP) rc = set_link_on(own(), index, flags, name, 0);
    return rc;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
    return sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static int port(const char *from, const char *name, const char *mac_text, int isolated) {
    unsigned char mac[6];
    if (parse_mac(mac_text, mac) < 0) return fail("strata-hostd: %s is not a MAC address", mac_text);
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

/*
 * A container's adapter on a bridge, as the CNI bridge plugin makes it but in this process: the
 * plugin is two Go programs per start (bridge, then static), and it writes five /proc/sys files
 * (each a lookup among every network namespace's entries of that name, a cost that grows with
 * the containers). Here: one veth made with its end already in the container's namespace, that
 * end configured through a netlink socket opened there, and the host end made a port.
 */

static int host_ns = -1;

/* Returns a netlink socket in the network namespace at nsfd (and this thread back in its own). */
static int socket_in(int nsfd) {
    if (host_ns < 0 && (host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) return -errno;
    if (setns(nsfd, CLONE_NEWNET) < 0) return -errno;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    int err = fd < 0 ? -errno : 0;
    /* Left in the container's namespace, every later request would act there: not survivable. */
    if (setns(host_ns, CLONE_NEWNET) < 0) { perror("strata-hostd: setns back"); _exit(70); }
    return fd < 0 ? err : fd;
}

/* The index of the link named name in the namespace of socket fd, or the kernel's negative errno. */
static int index_on(int fd, const char *name) {
    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_GETLINK, 0, sizeof *ifi);
    m.u.h.nlmsg_flags = NLM_F_REQUEST;
    ifi->ifi_family = AF_UNSPEC;
    msg_attr(&m, IFLA_IFNAME, name, strlen(name) + 1);
    return nl_talk_on(fd, &m);
}

/*
 * The address families' settings of a link, before it is up: no IPv6 address generation (the
 * networks are IPv4; the plugin turns off duplicate detection instead, through /proc/sys), and
 * arp_notify when asked (a gratuitous ARP when the link comes up, as the plugin sets).
 */
static int link_settings(int fd, int index, int arp_notify, int inet6) {
    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    struct rtattr *spec = msg_attr(&m, IFLA_AF_SPEC | NLA_F_NESTED, NULL, 0);
    if (arp_notify) {
        struct rtattr *inet = msg_attr(&m, AF_INET | NLA_F_NESTED, NULL, 0);
        struct rtattr *conf = msg_attr(&m, IFLA_INET_CONF | NLA_F_NESTED, NULL, 0);
        unsigned one = 1;
        msg_attr(&m, IPV4_DEVCONF_ARP_NOTIFY, &one, sizeof one);
        msg_nest_end(&m, conf);
        msg_nest_end(&m, inet);
    }
    if (inet6) {
        struct rtattr *in6 = msg_attr(&m, AF_INET6 | NLA_F_NESTED, NULL, 0);
        unsigned char none = IN6_ADDR_GEN_MODE_NONE;
        msg_attr(&m, IFLA_INET6_ADDR_GEN_MODE, &none, 1);
        msg_nest_end(&m, in6);
    }
    msg_nest_end(&m, spec);
    int rc = nl_talk_on(fd, &m);
    /* A kernel without IPv6 refuses that family's part. */
    if (inet6 && (rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP)) return link_settings(fd, index, arp_notify, 0);
    return rc;
}

static int delete_link(int index) {
    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_DELLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    return nl_talk(&m);
}

/* The container's end: its settings, up, its address (with the broadcast), its default route. */
static int configure_inside(int fd, int index, struct in_addr addr, int prefix, struct in_addr gw, int default_route, const char **step) {
    int rc;
    *step = "setting arp_notify";
    if ((rc = link_settings(fd, index, 1, 1)) < 0) return rc;
    *step = "setting it up";
    if ((rc = set_link_on(fd, index, IFF_UP, NULL, 0)) < 0) return rc;

    struct msg m;
    struct ifaddrmsg *ifa = msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = (unsigned)index;
    msg_attr(&m, IFA_LOCAL, &addr, sizeof addr);
    msg_attr(&m, IFA_ADDRESS, &addr, sizeof addr);
    if (prefix < 31) {
        struct in_addr brd = { .s_addr = addr.s_addr | htonl(prefix ? 0xffffffffu >> prefix : 0xffffffffu) };
        msg_attr(&m, IFA_BROADCAST, &brd, sizeof brd);
    }
    *step = "adding its address";
    if ((rc = nl_talk_on(fd, &m)) < 0) return rc;
    if (!default_route) return 0;

    struct rtmsg *rt = msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    msg_attr(&m, RTA_GATEWAY, &gw, sizeof gw);
    msg_attr(&m, RTA_OIF, &index, sizeof index);
    *step = "adding the default route";
    return nl_talk_on(fd, &m);
}

static int veth(char **a) {
    const char *netns = a[0], *ifname = a[1], *name = a[2], *bridge = a[3], *mac_text = a[4], *cidr = a[5], *gw_text = a[6];
    int default_route = strcmp(a[7], "1") == 0, isolated = strcmp(a[8], "1") == 0;
    unsigned char mac[6];
    if (parse_mac(mac_text, mac) < 0) return fail("strata-hostd: %s is not a MAC address", mac_text);
    if (strlen(name) >= IFNAMSIZ || strlen(ifname) >= IFNAMSIZ) {
        return fail("strata-hostd: the link name %s is longer than %d characters", strlen(name) >= IFNAMSIZ ? name : ifname, IFNAMSIZ - 1);
    }
    char ip[32];
    int prefix = -1;
    struct in_addr addr, gw;
    if (sscanf(cidr, "%31[0-9.]/%d", ip, &prefix) != 2 || prefix < 0 || prefix > 32 || inet_pton(AF_INET, ip, &addr) != 1) {
        return fail("strata-hostd: %s is not an IPv4 address with its prefix length", cidr);
    }
    if (inet_pton(AF_INET, gw_text, &gw) != 1) return fail("strata-hostd: %s is not an IPv4 address", gw_text);
    int master = (int)if_nametoindex(bridge);
    if (master == 0) return fail("strata-hostd: attaching %s: no bridge %s", name, bridge);
    if (if_nametoindex(name) != 0) return fail("strata-hostd: a link named %s already exists", name);
    int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return fail("strata-hostd: opening the network namespace %s: %s", netns, strerror(errno));

    struct msg m;
    struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    msg_attr(&m, IFLA_IFNAME, name, strlen(name) + 1);
    struct rtattr *info = msg_attr(&m, IFLA_LINKINFO | NLA_F_NESTED, NULL, 0);
    msg_attr(&m, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = msg_attr(&m, IFLA_INFO_DATA | NLA_F_NESTED, NULL, 0);
    struct ifinfomsg peer_head = { .ifi_family = AF_UNSPEC };
    struct rtattr *peer = msg_attr(&m, VETH_INFO_PEER, &peer_head, sizeof peer_head);
    msg_attr(&m, IFLA_IFNAME, ifname, strlen(ifname) + 1);
    msg_attr(&m, IFLA_ADDRESS, mac, sizeof mac);
    unsigned target = (unsigned)nsfd;
    msg_attr(&m, IFLA_NET_NS_FD, &target, sizeof target);
    msg_nest_end(&m, peer);
    msg_nest_end(&m, data);
    msg_nest_end(&m, info);
    int rc = nl_talk(&m);
    if (rc < 0) {
        close(nsfd);
        if (rc == -EEXIST) return fail("strata-hostd: attaching %s: the namespace %s already has a link named %s", name, netns, ifname);
        return fail("strata-hostd: making the veth %s: %s", name, strerror(-rc));
    }
    int index = (int)if_nametoindex(name);
    const char *step = "opening a netlink socket there";
    int fd = socket_in(nsfd);
    close(nsfd);
    int inside = fd < 0 ? fd : index_on(fd, ifname);
    if (inside > 0) rc = configure_inside(fd, inside, addr, prefix, gw, default_route, &step);
    else rc = inside;
    if (fd >= 0) close(fd);
    if (rc < 0) {
        delete_link(index);
        return fail("strata-hostd: configuring %s in %s: %s: %s", ifname, netns, step, strerror(-rc));
    }

    /* The host end: a port of the bridge, with no IPv6 address, set up as PORT does. */
    ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    msg_attr(&m, IFLA_MASTER, &master, sizeof master);
    if ((rc = nl_talk(&m)) < 0 || (rc = link_settings(own(), index, 0, 1)) < 0) {
        delete_link(index);
        return fail("strata-hostd: making %s a port of %s: %s", name, bridge, strerror(-rc));
    }
    if (port(name, name, mac_text, isolated) < 0) {
        delete_link(index);
        return -1;
    }
    say("%d", index);
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
        else if (strcmp(verb, "VETH") == 0 && nargs == 9) veth(args);
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
