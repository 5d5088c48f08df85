/* proc_shm.c -- memfd_create and shm_open: what their fds are, and what an
 * mmap of an open fd may map (the errors come before anything is mapped).
 *
 * The shm object's name carries this program's pid, and is unlinked before
 * it ends: nothing is left in /dev/shm.
 */
#include "proc_common.h"

#include <sys/mman.h>
#include <sys/syscall.h>

static void map_kv(const char *key, int fd, int prot, int flags)
{
    void *p = mmap(NULL, 4096, prot, flags, fd, 0);
    if (p == MAP_FAILED) {
        kv(key, "-1:%s", ename(errno));
        return;
    }
    kv(key, "ok");
    munmap(p, 4096);
}

static void result_kv(const char *key, long r)
{
    if (r < 0)
        kv(key, "-1:%s", ename(errno));
    else
        kv(key, "%ld", r);
}

int main(void)
{
    int m = memfd_create("buf", 0);
    kv("memfd.cloexec", "%d", (fcntl(m, F_GETFD) & FD_CLOEXEC) != 0);
    kv("memfd.accmode_rdwr", "%d", (fcntl(m, F_GETFL) & O_ACCMODE) == O_RDWR);
    char link[256] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    if (readlink(path, link, sizeof link - 1) < 0)
        _exit(2);
    kv("memfd.link", "%s", link);
    struct stat st;
    fstat(m, &st);
    kv("memfd.regular", "%d", S_ISREG(st.st_mode));
    kv("memfd.size", "%ld", (long)st.st_size);
    int mc = memfd_create("buf", MFD_CLOEXEC);
    kv("memfd_cloexec.cloexec", "%d", (fcntl(mc, F_GETFD) & FD_CLOEXEC) != 0);
    close(mc);

    /* a mapping past the end of the object faults with SIGBUS; ftruncate makes room */
    result_kv("memfd.ftruncate", ftruncate(m, 8192));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    p[4096] = 'Q';
    char c = 0;
    result_kv("memfd.pread_sees_store", pread(m, &c, 1, 4096));
    kv("memfd.byte", "%c", c);
    pid_t child = fork();
    if (child == 0) {
        p[0] = 'C';
        _exit(0);
    }
    reap(child, 2000);
    kv("memfd.child_store_seen", "%c", p[0]);
    munmap(p, 8192);

    char name[64];
    snprintf(name, sizeof name, "/forklab-fact-%d", (int)getpid());
    int s = shm_open(name, O_RDWR, 0600);
    kv("shm.missing", "%s", s < 0 ? ename(errno) : "opened");
    s = shm_open(name, O_RDWR | O_CREAT, 0600);
    kv("shm.cloexec", "%d", (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
    result_kv("shm.ftruncate", ftruncate(s, 4096));
    char *q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
    child = fork();
    if (child == 0) { /* another open of the name: a description of its own, same object */
        int again = shm_open(name, O_RDWR, 0600);
        char *r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, again, 0);
        r[7] = 'U';
        _exit(0);
    }
    reap(child, 2000);
    kv("shm.second_open_store_seen", "%c", q[7]);
    munmap(q, 4096);
    int ro = shm_open(name, O_RDONLY, 0600);
    map_kv("mmap.ro_fd_shared_rw", ro, PROT_READ | PROT_WRITE, MAP_SHARED);
    map_kv("mmap.ro_fd_private_rw", ro, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    map_kv("mmap.ro_fd_shared_ro", ro, PROT_READ, MAP_SHARED);
    map_kv("mmap.shm_rx_private", ro, PROT_READ | PROT_EXEC, MAP_PRIVATE);
    close(ro);
    shm_unlink(name);
    char under[96];
    snprintf(under, sizeof under, "/dev/shm%s", name);
    kv("shm.left_behind", "%d", access(under, F_OK) == 0);

    map_kv("mmap.memfd_rx_private", m, PROT_READ | PROT_EXEC, MAP_PRIVATE);
    int wo = open("wo.txt", O_WRONLY | O_CREAT, 0644);
    map_kv("mmap.wo_fd_private", wo, PROT_READ, MAP_PRIVATE);
    close(wo);
    int ap = open("ap.txt", O_RDWR | O_CREAT | O_APPEND, 0644);
    map_kv("mmap.append_fd_shared_rw", ap, PROT_READ | PROT_WRITE, MAP_SHARED);
    close(ap);
    int pp[2];
    if (pipe(pp) < 0)
        _exit(2);
    map_kv("mmap.pipe", pp[0], PROT_READ, MAP_PRIVATE);
    int null = open("/dev/null", O_RDWR);
    map_kv("mmap.dev_null_private", null, PROT_READ, MAP_PRIVATE);
    map_kv("mmap.dev_null_shared", null, PROT_READ | PROT_WRITE, MAP_SHARED);
    if (mkdir("d", 0755) < 0)
        _exit(2);
    int dir = open("d", O_RDONLY);
    map_kv("mmap.directory", dir, PROT_READ, MAP_PRIVATE);
    int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    map_kv("mmap.pidfd", pidfd, PROT_READ, MAP_PRIVATE);
    map_kv("mmap.closed_fd", 250, PROT_READ, MAP_PRIVATE);
    return 0;
}
