/*
 * strata-idmount: create idmapped bind mounts for Strata.
 *
 * Debian 12's mount(8) and runc 1.1 cannot create idmapped mounts, so Strata
 * ships this small helper for open_tree / mount_setattr(MOUNT_ATTR_IDMAP) /
 * move_mount. It is not a general mount tool: it does exactly one thing.
 *
 *   strata-idmount map HOSTBASE COUNT SRC DST [ro]
 *       bind SRC at DST so that on-disk id N appears as HOSTBASE+N (N < COUNT)
 *   strata-idmount mapx UIDMAP GIDMAP SRC DST [ro]
 *       the same with explicit maps, "DISK HOST COUNT[,DISK HOST COUNT...]" (at most 340
 *       ranges each): application layers whose users were given other ids in a container
 *   strata-idmount overlay LOWER[:LOWER...] UPPER WORK TARGET
 *       mount an overlay (mount(2) directly: one process for a container's whole root)
 *   strata-idmount drop TARGET
 *       detach the mount at TARGET (an idmapped layer, once the overlay above it holds its own
 *       private clone of it: the host's mount table then has one mount per container root)
 *   strata-idmount batch OP ARGS... [-- OP ARGS...]...
 *       several of the above in order, stopping at the first failure
 *   strata-idmount bind-into PID SRC DST...
 *       bind host path SRC/DST over DST inside the mount namespace of process PID
 *       (replacing what is there), for each DST: re-binds after lxcfs restarts
 *   strata-idmount check DIR
 *       exit 0 when the kernel can idmap a mount of DIR, 1 otherwise
 *
 * strata-hostd links this file (built with -DIDMOUNT_NO_MAIN) and runs idmount_main in a forked
 * child: a container's root is mounted without starting a program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

#define ST_OPEN_TREE_CLONE 1
#define ST_OPEN_TREE_CLOEXEC O_CLOEXEC
#define ST_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define ST_MOUNT_ATTR_RDONLY 0x00000001
#define ST_MOUNT_ATTR_IDMAP 0x00100000

struct st_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* "a b c,d e f" -> "a b c\nd e f\n" in a new buffer, or NULL when it holds anything else. */
static char *map_lines(const char *spec) {
    size_t len = strlen(spec);
    if (len == 0 || len > 16384) return NULL;
    char *out = malloc(len + 2);
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = spec[i];
        if (c == ',') out[i] = '\n';
        else if ((c >= '0' && c <= '9') || c == ' ') out[i] = c;
        else { free(out); return NULL; }
    }
    out[len] = '\n';
    out[len + 1] = 0;
    return out;
}

/* A user namespace with the given uid and gid maps (lines of "DISK HOST COUNT"); returned as an fd. */
static int userns_fd_for(const char *uidmap, const char *gidmap) {
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char c;
        close(sync[1]);
        if (unshare(CLONE_NEWUSER) < 0) _exit(1);
        /* Parked until the parent has taken a reference to our namespace. */
        (void)!read(sync[0], &c, 1);
        _exit(0);
    }
    close(sync[0]);
    int fd = -1;
    char path[64];
    /* Wait until the child really is in its new namespace. */
    for (int i = 0; i < 2000; i++) {
        char self[64], other[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
        ssize_t a = readlink("/proc/self/ns/user", self, sizeof self - 1);
        ssize_t b = readlink(path, other, sizeof other - 1);
        if (a > 0 && b > 0) {
            self[a] = 0; other[b] = 0;
            if (strcmp(self, other) != 0) break;
        }
        usleep(500);
    }
    snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
    if (write_file(path, uidmap) < 0) goto out;
    snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
    if (write_file(path, gidmap) < 0) goto out;
    snprintf(path, sizeof path, "/proc/%d/ns/user", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
out:;
    int saved = errno;
    close(sync[1]);
    waitpid(pid, NULL, 0);
    errno = saved;
    return fd;
}

static int idmap_with(const char *uidmap, const char *gidmap, const char *src, const char *dst, int readonly) {
    int userns = userns_fd_for(uidmap, gidmap);
    if (userns < 0) { perror("strata-idmount: user namespace"); return 2; }
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src, ST_OPEN_TREE_CLONE | ST_OPEN_TREE_CLOEXEC);
    if (tree < 0) { fprintf(stderr, "strata-idmount: open_tree %s: %s\n", src, strerror(errno)); return 2; }
    struct st_mount_attr attr = { .attr_set = ST_MOUNT_ATTR_IDMAP | (readonly ? ST_MOUNT_ATTR_RDONLY : 0), .userns_fd = (uint64_t)userns };
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
        fprintf(stderr, "strata-idmount: mount_setattr(MOUNT_ATTR_IDMAP) on %s: %s\n", src, strerror(errno));
        return 2;
    }
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dst, ST_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        fprintf(stderr, "strata-idmount: move_mount to %s: %s\n", dst, strerror(errno));
        return 2;
    }
    return 0;
}

static int idmap(unsigned long base, unsigned long count, const char *src, const char *dst, int readonly) {
    char map[96];
    snprintf(map, sizeof map, "0 %lu %lu\n", base, count);
    return idmap_with(map, map, src, dst, readonly);
}

/* `path` relative to `base` when below it, else as it is. */
static const char *below(const char *path, const char *base) {
    size_t n = strlen(base);
    return strncmp(path, base, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/*
 * The overlay is mounted from the target's parent directory, with its layers named relative to
 * it: the kernel shows the options as given in every read of a mount table, and every runc create
 * reads its copy of the host's (one overlay per running container) several times.
 */
static int overlay(const char *lower, const char *upper, const char *work, const char *target) {
    char base[4096];
    snprintf(base, sizeof base, "%s", target);
    char *slash = strrchr(base, '/');
    if (!slash || slash == base) base[0] = 0;
    else *slash = 0;
    size_t len = strlen(lower) + strlen(upper) + strlen(work) + 64;
    char *options = malloc(len), *lowers = strdup(lower);
    if (!options || !lowers) return 2;
    size_t at = (size_t)snprintf(options, len, "lowerdir=");
    char *save = NULL;
    for (char *l = strtok_r(lowers, ":", &save); l; l = strtok_r(NULL, ":", &save)) {
        at += (size_t)snprintf(options + at, len - at, "%s%s", at > 9 ? ":" : "", base[0] ? below(l, base) : l);
    }
    snprintf(options + at, len - at, ",upperdir=%s,workdir=%s", base[0] ? below(upper, base) : upper, base[0] ? below(work, base) : work);
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = base[0] && chdir(base) < 0 ? -1 : mount("overlay", target, "overlay", 0, options);
    if (rc < 0) fprintf(stderr, "strata-idmount: mount overlay at %s (%s): %s\n", target, options, strerror(errno));
    if (cwd >= 0) {
        if (fchdir(cwd) < 0) rc = -1;
        close(cwd);
    }
    free(options);
    free(lowers);
    return rc < 0 ? 2 : 0;
}

/* One operation at argv[0]; returns its status and sets *used to the words it took. */
static int op(int argc, char **argv, int *used) {
    if (argc >= 5 && strcmp(argv[0], "map") == 0) {
        char *end;
        int readonly = argc >= 6 && strcmp(argv[5], "ro") == 0;
        *used = readonly ? 6 : 5;
        unsigned long base = strtoul(argv[1], &end, 10);
        if (*end) { fprintf(stderr, "strata-idmount: bad HOSTBASE %s\n", argv[1]); return 2; }
        unsigned long count = strtoul(argv[2], &end, 10);
        if (*end || count == 0) { fprintf(stderr, "strata-idmount: bad COUNT %s\n", argv[2]); return 2; }
        return idmap(base, count, argv[3], argv[4], readonly);
    }
    if (argc >= 5 && strcmp(argv[0], "mapx") == 0) {
        int readonly = argc >= 6 && strcmp(argv[5], "ro") == 0;
        *used = readonly ? 6 : 5;
        char *uidmap = map_lines(argv[1]), *gidmap = map_lines(argv[2]);
        int rc = 2;
        if (!uidmap || !gidmap) fprintf(stderr, "strata-idmount: bad map %s / %s\n", argv[1], argv[2]);
        else rc = idmap_with(uidmap, gidmap, argv[3], argv[4], readonly);
        free(uidmap);
        free(gidmap);
        return rc;
    }
    if (argc >= 2 && strcmp(argv[0], "drop") == 0) {
        *used = 2;
        if (umount2(argv[1], MNT_DETACH) < 0) { fprintf(stderr, "strata-idmount: unmounting %s: %s\n", argv[1], strerror(errno)); return 2; }
        return 0;
    }
    if (argc >= 5 && strcmp(argv[0], "overlay") == 0) {
        *used = 5;
        return overlay(argv[1], argv[2], argv[3], argv[4]);
    }
    fprintf(stderr, "strata-idmount: bad operation %s\n", argc ? argv[0] : "(none)");
    return 2;
}

static int bind_into(const char *pid, const char *src, int count, char **dsts) {
    int trees[64];
    if (count > 64) { fprintf(stderr, "strata-idmount: too many paths\n"); return 2; }
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", src, dsts[i]);
        trees[i] = (int)syscall(SYS_open_tree, AT_FDCWD, path, ST_OPEN_TREE_CLONE | ST_OPEN_TREE_CLOEXEC);
        if (trees[i] < 0) { fprintf(stderr, "strata-idmount: open_tree %s: %s\n", path, strerror(errno)); return 2; }
    }
    char ns[64];
    snprintf(ns, sizeof ns, "/proc/%s/ns/mnt", pid);
    int fd = open(ns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNS) < 0) { fprintf(stderr, "strata-idmount: entering %s: %s\n", ns, strerror(errno)); return 2; }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        umount2(dsts[i], MNT_DETACH);
        if (syscall(SYS_move_mount, trees[i], "", AT_FDCWD, dsts[i], ST_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
            fprintf(stderr, "strata-idmount: binding %s: %s\n", dsts[i], strerror(errno));
            rc = 2;
        }
    }
    return rc;
}

/* The whole command line; strata-hostd calls it in a forked child for its MOUNT requests. */
int idmount_main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "bind-into") == 0) return bind_into(argv[2], argv[3], argc - 4, argv + 4);
    if (argc >= 2 && strcmp(argv[1], "batch") == 0) {
        int i = 2;
        while (i < argc) {
            int used = 0;
            int rc = op(argc - i, argv + i, &used);
            if (rc != 0) return rc;
            i += used;
            if (i < argc && strcmp(argv[i], "--") == 0) i++;
            else if (i < argc) { fprintf(stderr, "strata-idmount: expected -- before %s\n", argv[i]); return 2; }
        }
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "map") == 0 || strcmp(argv[1], "mapx") == 0 || strcmp(argv[1], "overlay") == 0)) {
        int used = 0;
        return op(argc - 1, argv + 1, &used);
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        char target[4096];
        snprintf(target, sizeof target, "%s/.idmap-check-%d", argv[2], getpid());
        if (mkdir(target, 0700) < 0) { perror("strata-idmount: mkdir"); return 2; }
        int rc = idmap(100000, 65536, argv[2], target, 1);
        if (rc == 0) umount2(target, MNT_DETACH);
        rmdir(target);
        return rc == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: strata-idmount map HOSTBASE COUNT SRC DST [ro] | check DIR\n");
    return 2;
}

#ifndef IDMOUNT_NO_MAIN
int main(int argc, char **argv) { return idmount_main(argc, argv); }
#endif
