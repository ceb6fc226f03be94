/*
 * kernel-floor: what the kernel itself charges for the parts of a container, timed in one process
 * with no program started per step (bench/floor.ts builds and runs it).
 *
 *   kernel-floor N   prints "netns <µs> fork <µs>" per operation, averaged over N:
 *     netns  unshare(CLONE_NEWNET) and setns() back: a new network namespace (with its loopback)
 *            made and left; its teardown runs later in the kernel's own worker, not counted
 *     fork   fork(), _exit(0) in the child, waitpid(): the cost under every program a daemon runs
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (n < 1) n = 1;
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) { perror("open /proc/self/ns/net"); return 1; }
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        if (unshare(CLONE_NEWNET) != 0) { perror("unshare"); return 1; }
        if (setns(self, CLONE_NEWNET) != 0) { perror("setns"); return 1; }
    }
    double netns = (now_us() - t0) / n;
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) _exit(0);
        waitpid(pid, NULL, 0);
    }
    double fork_us = (now_us() - t0) / n;
    printf("netns %.1f fork %.1f\n", netns, fork_us);
    return 0;
}
