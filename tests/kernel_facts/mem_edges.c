/* Memory edges: which split VMAs merge again, the fault-around window of a VMA
 * that a split left starting inside an aligned window, the overcommit heuristic,
 * and write permission of a shared mapping of a read-only fd.
 *
 * Keys:
 *   merge.<kind>.<case>   VMAs over the mapping after the calls of <case>, for
 *                         kind anon (MAP_SHARED|MAP_ANONYMOUS) and sysv (a System V
 *                         segment: its vm_ops has a close hook):
 *                         mlock_all: mlock of page 0, then of all 3 pages;
 *                         mlock_part: mlock of page 0, then of page 1 (of 3);
 *                         mprotect_back: mprotect of page 1 of 3 to read-only, back;
 *                         mprotect_shift: pages 2-3 of 4 read-only, then page 1:
 *                         mprotect_both: pages 0 and 2 of 3 read-only, then page 1
 *   around.<case>.present pages present after one read (each page of the 64-page file
 *                         is in the page cache); .first, .last: the present ones
 *                         split34_read43: pages 0-33 unmapped, page 43 read
 *                         split34_read34: the same, page 34 read
 *                         split500_read500: 520 pages, 0-499 unmapped, 500 read
 *   commit.mode           /proc/sys/vm/overcommit_memory
 *   commit.total_pages    MemTotal + SwapTotal in pages (what mode 0 compares with)
 *   commit.<case>         0 or the errno of the call (mode 0's answers are the facts)
 *   fdro.<case>           0 or the errno, for a file opened O_RDONLY
 *   sparse.write_minflt, sparse.write_majflt
 *                         the faults of a store into page 0 of a private mapping of a
 *                         4-page file made by ftruncate (none of its pages cached);
 *                         sparse.tmpfs 1 if the file is on tmpfs (shmem: no page is
 *                         ever read from a disk)
 *   shmexec.<who>.<flags> 0 or the errno of shmat of a new 0600 segment with <flags>
 *                         (rw, ro: SHM_RDONLY, rx: SHM_RDONLY|SHM_EXEC), in a child that
 *                         is root, made a user namespace (userns), a user and an IPC
 *                         namespace (userns_ipc), or is nobody (setuid 65534, as root)
 *   lockedro.<kind>.<key> 4 private read-only pages (kind anon, or file: of the 520-page
 *                         file), mlock-ed (read faults), then mprotect-ed read-write:
 *                         mprotect_faults (the faults the mprotect call took),
 *                         anon_after (pages pagemap then shows as anonymous, not file);
 *                         unlocked.<kind>.mprotect_faults: the same without mlock
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/vfs.h>

#define TMPFS_MAGIC 0x01021994

static int vmas(const char *p, size_t len)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        die("maps");
    int n = 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
            n++;
    }
    fclose(f);
    return n;
}

static int rc(int r)
{
    return r == 0 ? 0 : errno;
}

/* A shared mapping of npages at slot: shared anonymous or a System V segment. */
static char *map_shared(int slot, int sysv, long npages)
{
    size_t len = (size_t)npages * PAGE;
    if (!sysv)
        return map_at(slot_addr(slot), len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0, 0);
    int id = shmget(IPC_PRIVATE, len, 0600);
    if (id < 0)
        die("shmget");
    char *p = shmat(id, (void *)slot_addr(slot), 0);
    if (p == (void *)-1)
        die("shmat");
    shmctl(id, IPC_RMID, NULL);
    return p;
}

static void merges(const char *kind, int sysv)
{
    char key[128];
    char *p = map_shared(1, sysv, 3);
    mlock(p, PAGE);
    mlock(p, 3 * PAGE);
    snprintf(key, sizeof key, "merge.%s.mlock_all", kind);
    put(key, vmas(p, 3 * PAGE));
    munmap(p, 3 * PAGE);

    p = map_shared(1, sysv, 3);
    mlock(p, PAGE);
    mlock(p + PAGE, PAGE);
    snprintf(key, sizeof key, "merge.%s.mlock_part", kind);
    put(key, vmas(p, 3 * PAGE));
    munmap(p, 3 * PAGE);

    p = map_shared(1, sysv, 3);
    mprotect(p + PAGE, PAGE, PROT_READ);
    mprotect(p + PAGE, PAGE, PROT_READ | PROT_WRITE);
    snprintf(key, sizeof key, "merge.%s.mprotect_back", kind);
    put(key, vmas(p, 3 * PAGE));
    munmap(p, 3 * PAGE);

    p = map_shared(1, sysv, 4);
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ);
    mprotect(p + PAGE, PAGE, PROT_READ);
    snprintf(key, sizeof key, "merge.%s.mprotect_shift", kind);
    put(key, vmas(p, 4 * PAGE));
    munmap(p, 4 * PAGE);

    p = map_shared(1, sysv, 3);
    mprotect(p, PAGE, PROT_READ);
    mprotect(p + 2 * PAGE, PAGE, PROT_READ);
    mprotect(p + PAGE, PAGE, PROT_READ);
    snprintf(key, sizeof key, "merge.%s.mprotect_both", kind);
    put(key, vmas(p, 3 * PAGE));
    munmap(p, 3 * PAGE);
}

static void around(const char *name, int fd, long npages, long unmapped, long page)
{
    char key[128];
    char *p = map_at(slot_addr(2), (size_t)npages * PAGE, PROT_READ, MAP_PRIVATE, fd, 0,
                     MADV_NOHUGEPAGE);
    if (munmap(p, (size_t)unmapped * PAGE) != 0)
        die("munmap");
    (void)*(volatile char *)(p + page * PAGE);
    uint64_t e[520];
    read_pagemap(0, p, (size_t)npages, e);
    long present = 0, first = -1, last = -1;
    for (long i = 0; i < npages; i++)
        if (e[i] & PM_PRESENT) {
            present++;
            last = i;
            if (first < 0)
                first = i;
        }
    snprintf(key, sizeof key, "around.%s.present", name);
    put(key, present);
    snprintf(key, sizeof key, "around.%s.first", name);
    put(key, first);
    snprintf(key, sizeof key, "around.%s.last", name);
    put(key, last);
    munmap(p, (size_t)npages * PAGE);
}

static long meminfo_kb(const char *field)
{
    char buf[8192], *at;
    read_small_file("/proc/meminfo", buf, sizeof buf);
    at = strstr(buf, field);
    if (!at)
        die(field);
    return strtol(at + strlen(field), NULL, 10);
}

/* 0 or the errno of an mmap of npages at slot 3 (unmapped again at once). */
static int try_map(long npages, int prot, int flags)
{
    void *p = mmap((void *)slot_addr(3), (size_t)npages * PAGE, prot,
                   flags | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    munmap(p, (size_t)npages * PAGE);
    return 0;
}

static void commit(void)
{
    char buf[64];
    read_small_file("/proc/sys/vm/overcommit_memory", buf, sizeof buf);
    put("commit.mode", strtol(buf, NULL, 10));
    long total = (meminfo_kb("MemTotal:") + meminfo_kb("SwapTotal:")) / 4;
    put("commit.total_pages", total);
    int rw = PROT_READ | PROT_WRITE, priv = MAP_PRIVATE | MAP_ANONYMOUS;
    int shared = MAP_SHARED | MAP_ANONYMOUS;
    put("commit.private_rw_total", try_map(total, rw, priv));
    put("commit.private_rw_over", try_map(total + 1, rw, priv));
    put("commit.private_rw_over_noreserve", try_map(total + 1, rw, priv | MAP_NORESERVE));
    put("commit.private_ro_over", try_map(total + 1, PROT_READ, priv));
    put("commit.shared_over", try_map(total + 1, rw, shared));
    put("commit.shared_ro_over", try_map(total + 1, PROT_READ, shared));
    put("commit.shared_over_noreserve", try_map(total + 1, rw, shared | MAP_NORESERVE));
    size_t over = (size_t)(total + 1) * PAGE;
    int id = shmget(IPC_PRIVATE, over, 0600);
    put("commit.sysv_over", id < 0 ? errno : 0);
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
    id = shmget(IPC_PRIVATE, over, 0600 | SHM_NORESERVE);
    put("commit.sysv_over_noreserve", id < 0 ? errno : 0);
    if (id >= 0)
        shmctl(id, IPC_RMID, NULL);
    /* read-only, then made writable: mprotect charges it then, and asks then */
    char *p = map_at(slot_addr(3), over, PROT_READ, priv, -1, 0, 0);
    put("commit.mprotect_rw_over", rc(mprotect(p, over, rw)));
    put("commit.mprotect_rw_total", rc(mprotect(p, (size_t)total * PAGE, rw)));
    munmap(p, over);
    /* each call is judged alone: two mappings of all of it each */
    void *a = mmap((void *)slot_addr(100), (size_t)total * PAGE, rw,
                   priv | MAP_FIXED_NOREPLACE, -1, 0);
    put("commit.second_total", a == MAP_FAILED ? errno : try_map(total, rw, priv));
    if (a != MAP_FAILED)
        munmap(a, (size_t)total * PAGE);
    /* mremap in place: the new pages of a charged mapping ask; a fork asks again for
     * each charged VMA whole */
    p = map_at(slot_addr(3), PAGE, rw, priv, -1, 0, 0);
    void *q = mremap(p, PAGE, over + PAGE, 0);
    put("commit.mremap_grow_over", q == MAP_FAILED ? errno : 0);
    q = mremap(p, PAGE, (size_t)total * PAGE, 0);
    put("commit.mremap_grow_total_less_one", q == MAP_FAILED ? errno : 0);
    q = mremap(p, (size_t)total * PAGE, over, 0);
    put("commit.mremap_grow_to_over", q == MAP_FAILED ? errno : 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    put("commit.fork_over", pid < 0 ? errno : 0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    munmap(p, over);
}

static void fd_read_only(void)
{
    int w = open("mem_edges.ro", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (w < 0 || ftruncate(w, 4 * PAGE) != 0)
        die("ro file");
    int fd = open("mem_edges.ro", O_RDONLY);
    if (fd < 0)
        die("open ro");
    size_t len = 4 * PAGE;
    int rw = PROT_READ | PROT_WRITE;
    void *p = mmap((void *)slot_addr(5), len, rw, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    put("fdro.shared_rw", p == MAP_FAILED ? errno : 0);
    p = mmap((void *)slot_addr(5), len, rw, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, 0);
    put("fdro.private_rw", p == MAP_FAILED ? errno : 0);
    if (p != MAP_FAILED)
        munmap(p, len);
    p = map_at(slot_addr(5), len, PROT_READ, MAP_PRIVATE, fd, 0, 0);
    put("fdro.private_mprotect_rw", rc(mprotect(p, len, rw)));
    munmap(p, len);
    p = map_at(slot_addr(5), len, PROT_READ, MAP_SHARED, fd, 0, 0);
    put("fdro.shared_mprotect_rw", rc(mprotect(p, len, rw)));
    put("fdro.shared_mprotect_part_rw", rc(mprotect((char *)p + PAGE, PAGE, rw)));
    munmap(p, len);
    close(fd);
    close(w);
}

static void sparse(void)
{
    int fd = open("mem_edges.sparse", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4 * PAGE) != 0)
        die("sparse file");
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0)
        die("fstatfs");
    put("sparse.tmpfs", fs.f_type == TMPFS_MAGIC);
    char *p = map_at(slot_addr(6), 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0,
                     MADV_NOHUGEPAGE);
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    *(volatile char *)p = 1;
    getrusage(RUSAGE_SELF, &after);
    put("sparse.write_minflt", after.ru_minflt - before.ru_minflt);
    put("sparse.write_majflt", after.ru_majflt - before.ru_majflt);
    munmap(p, 4 * PAGE);
    close(fd);
}

static int attach(int flags)
{
    int id = shmget(IPC_PRIVATE, 4 * PAGE, 0600);
    if (id < 0)
        return errno;
    void *p = shmat(id, (void *)slot_addr(7), flags);
    int e = p == (void *)-1 ? errno : 0;
    shmctl(id, IPC_RMID, NULL);
    if (!e)
        shmdt(p);
    return e;
}

/* The three attaches in a child that first does what `who` says; -1: it could not. */
static void shm_exec(const char *who)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        int r[3] = {-1, -1, -1}, ok = 1;
        if (!strcmp(who, "userns"))
            ok = unshare(CLONE_NEWUSER) == 0;
        else if (!strcmp(who, "userns_ipc"))
            ok = unshare(CLONE_NEWUSER | CLONE_NEWIPC) == 0;
        else if (!strcmp(who, "nobody"))
            ok = geteuid() == 0 && setuid(65534) == 0;
        if (ok) {
            r[0] = attach(0);
            r[1] = attach(SHM_RDONLY);
            r[2] = attach(SHM_RDONLY | SHM_EXEC);
        }
        if (write(fds[1], r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    int r[3];
    if (pid < 0 || read(fds[0], r, sizeof r) != sizeof r)
        die("shm_exec child");
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    const char *names[3] = {"rw", "ro", "rx"};
    char key[128];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "shmexec.%s.%s", who, names[i]);
        put(key, r[i]);
    }
}

static void locked_read_only(const char *kind, int fd, int lock)
{
    char key[128];
    size_t len = 4 * PAGE;
    int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE;
    char *p = map_at(slot_addr(8), len, PROT_READ, flags, fd, 0, MADV_NOHUGEPAGE);
    if (lock && mlock(p, len) != 0)
        die("mlock");
    if (!lock)
        read_pages(p, len);
    long before = minflt();
    if (mprotect(p, len, PROT_READ | PROT_WRITE) != 0)
        die("mprotect");
    long faults = minflt() - before;
    uint64_t e[4];
    read_pagemap(0, p, 4, e);
    long anon = 0;
    for (int i = 0; i < 4; i++)
        anon += (e[i] & PM_PRESENT) && !(e[i] & PM_FILE);
    snprintf(key, sizeof key, "%s.%s.mprotect_faults", lock ? "lockedro" : "unlocked", kind);
    put(key, faults);
    snprintf(key, sizeof key, "%s.%s.anon_after", lock ? "lockedro" : "unlocked", kind);
    put(key, anon);
    munlock(p, len);
    munmap(p, len);
}

int main(void)
{
    merges("anon", 0);
    merges("sysv", 1);

    int fd = open("mem_edges.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open");
    char buf[PAGE];
    memset(buf, 'A', PAGE);
    for (int k = 0; k < 520; k++)
        if (write(fd, buf, PAGE) != (ssize_t)PAGE)
            die("write");
    around("split34_read43", fd, 64, 34, 43);
    around("split34_read34", fd, 64, 34, 34);
    around("split500_read500", fd, 520, 500, 500);
    locked_read_only("anon", -1, 1);
    locked_read_only("file", fd, 1);
    locked_read_only("anon", -1, 0);
    locked_read_only("file", fd, 0);
    close(fd);

    commit();
    fd_read_only();
    sparse();
    shm_exec("root");
    shm_exec("userns");
    shm_exec("userns_ipc");
    shm_exec("nobody");
    return 0;
}
