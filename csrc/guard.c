/* forklab-guard: ends a run's processes and removes its directories when the
 * forklab process that owns them dies without doing it itself (SIGKILL, a
 * SIGTERM or SIGHUP it did not catch, a crash).
 *
 * forklab starts one guard per process, in a session of its own (closing the
 * terminal does not reach it), and talks to it over a SOCK_SEQPACKET socket
 * whose number is argv[1]:
 *   GUARD_HOLD_PROCESS key + a pidfd (SCM_RIGHTS)  hold this process for run `key`
 *   GUARD_HOLD_DIR     key + a path                remove this tree when `key` is lost
 *   GUARD_HOLD_SEM     key + a System V semaphore set's id (`number`) and its
 *                      sem_ctime (`path`, in decimal): remove it when `key` is lost
 *   GUARD_RELEASE      key                         the run ended cleanly: forget it
 * When the socket reaches end-of-file (every copy of forklab's end is closed:
 * forklab is gone), the guard SIGKILLs every process it holds through its
 * pidfd (never by a pid, which may have been reused), waits briefly for them to
 * die, removes the held directories and semaphore sets (a set only if its
 * sem_ctime is still the one it was made with: its id names no other set) and exits. Orphans are reaped by whoever
 * adopts them. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define GUARD_HOLD_PROCESS 1
#define GUARD_HOLD_DIR 2
#define GUARD_RELEASE 3
#define GUARD_HOLD_SEM 4
#define GUARD_PATH_MAX 4096
#define DEATH_WAIT_MS 2000

struct message {
    uint32_t kind;
    uint32_t number; /* GUARD_HOLD_SEM: the set's id */
    uint64_t key;
    char path[GUARD_PATH_MAX];
};

struct held {
    uint64_t key;
    int pidfd;  /* -1 for a directory */
    char *path; /* NULL for a process */
    int semid;  /* -1 but for a semaphore set */
    int64_t made; /* the set's sem_ctime */
};

static struct held *held;
static size_t nheld, capacity;

static void hold(uint64_t key, int pidfd, const char *path, int semid, int64_t made)
{
    if (nheld == capacity) {
        size_t more = capacity ? capacity * 2 : 64;
        struct held *grown = realloc(held, more * sizeof *held);
        if (!grown) { /* cannot hold it: end it now rather than lose it */
            if (pidfd >= 0) {
                syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                close(pidfd);
            }
            return;
        }
        held = grown;
        capacity = more;
    }
    held[nheld].key = key;
    held[nheld].pidfd = pidfd;
    held[nheld].path = path ? strdup(path) : NULL;
    held[nheld].semid = semid;
    held[nheld].made = made;
    nheld++;
}

static void release(uint64_t key)
{
    size_t kept = 0;
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].key == key) {
            if (held[i].pidfd >= 0)
                close(held[i].pidfd);
            free(held[i].path);
        } else {
            held[kept++] = held[i];
        }
    }
    nheld = kept;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* forklab is gone: end what it left. */
static void end_everything(void)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].pidfd >= 0)
            syscall(SYS_pidfd_send_signal, held[i].pidfd, SIGKILL, NULL, 0);
    int64_t deadline = now_ms() + DEATH_WAIT_MS;
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].pidfd < 0)
            continue;
        struct pollfd p = {held[i].pidfd, POLLIN, 0};
        int64_t left = deadline - now_ms();
        if (left > 0)
            poll(&p, 1, (int)left); /* a pidfd is readable once its process has exited */
    }
    for (size_t i = 0; i < nheld; i++) {
        struct semid_ds ds;
        if (held[i].semid >= 0 && semctl(held[i].semid, 0, IPC_STAT, &ds) == 0 &&
            (int64_t)ds.sem_ctime == held[i].made)
            semctl(held[i].semid, 0, IPC_RMID);
        else if (held[i].path)
            nftw(held[i].path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "forklab-guard: started by forklab only\n");
        return 2;
    }
    int sock = atoi(argv[1]);
    /* Only end-of-file on the socket ends the guard. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        struct message m;
        char control[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {&m, sizeof m};
        struct msghdr h = {0};
        h.msg_iov = &iov;
        h.msg_iovlen = 1;
        h.msg_control = control;
        h.msg_controllen = sizeof control;
        memset(&m, 0, sizeof m);
        ssize_t n = recvmsg(sock, &h, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        int fd = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&h);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
        m.path[GUARD_PATH_MAX - 1] = '\0';
        if (m.kind == GUARD_HOLD_PROCESS && fd >= 0)
            hold(m.key, fd, NULL, -1, 0);
        else if (m.kind == GUARD_HOLD_DIR && m.path[0] == '/')
            hold(m.key, -1, m.path, -1, 0);
        else if (m.kind == GUARD_HOLD_SEM && m.number <= INT32_MAX)
            hold(m.key, -1, NULL, (int)m.number, strtoll(m.path, NULL, 10));
        else if (m.kind == GUARD_RELEASE)
            release(m.key);
        if (fd >= 0 && m.kind != GUARD_HOLD_PROCESS)
            close(fd);
    }
    end_everything();
    return 0;
}
