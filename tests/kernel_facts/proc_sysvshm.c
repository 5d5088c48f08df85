/* proc_sysvshm.c -- an attached System V shared memory segment (shmget(IPC_PRIVATE) +
 * shmat at a fixed address + shmctl(IPC_RMID) at once): what fork, vfork, execve,
 * posix_spawn and pthread_create do with it, and what munmap, madvise and mprotect do.
 *
 * Keys:
 *   get, at, rmid     0 or the errno of shmget / shmat / shmctl(IPC_RMID)
 *   at.address        1 if shmat put it at the address asked for
 *   nattch            shm_nattch after the attach; rmid.private 1 if its key is
 *                     IPC_PRIVATE (no other process can find it by key)
 *   maps.name         the path /proc/self/maps shows for it; maps.inode 1 if its inode is
 *                     the segment id
 *   smaps.ac          1 if smaps VmFlags has "ac" (VM_ACCOUNT: charged per mapping);
 *                     smaps.sh 1 if it has "sh" (VM_SHARED)
 *   fork.shared       1 if a forked child sees the parent's byte and the parent the child's
 *   fork.nattch       shm_nattch while the child lives; fork.after_exit.nattch after
 *   vfork.shared      1 if the vfork child's store is the parent's
 *   thread.shared     1 if a thread's store is the process's
 *   exec.attached     1 if the image execve starts still has it (in /proc/self/maps)
 *   spawn.attached    the same for a posix_spawn child
 *   dontfork.child    1 if a fork child after MADV_DONTFORK still has it
 *   mremap.past       the signal a store past the segment gets once mremap grew the
 *                     attach in place (mremap.anon_shared.past: the same for
 *                     MAP_SHARED|MAP_ANONYMOUS), or "none"
 *   munmap.part       0 or errno of munmap of its first page; part.nattch after it
 *   munmap.all.gone   1 if, the rest unmapped too, the segment is gone (shmctl: EINVAL)
 *   mprotect.*        0 or errno of mprotect on a read-write (rw.*) or SHM_RDONLY (ro.*)
 *                     attach: to PROT_READ, back to read-write, to read+exec
 *   user.get          (as a user other than root) 0 or errno of shmget of 4 pages
 *   toobig            errno of shmget past kernel.shmmax
 */
#include "proc_common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define PAGE 4096
#define LEN (4 * PAGE)
#define ADDR ((void *)(16UL << 40))

extern char **environ;

static int attached_here(void)
{
    char buf[1 << 16];
    slurp("/proc/self/maps", buf, sizeof buf);
    return strstr(buf, "/SYSV") != NULL;
}

static long nattch(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -errno;
}

static void *store(void *p)
{
    ((volatile char *)p)[0] = 5;
    return NULL;
}

static char *attach(int shmflg, int *id_out)
{
    int id = shmget(IPC_PRIVATE, LEN, 0600);
    if (id < 0)
        return NULL;
    char *p = shmat(id, ADDR, shmflg);
    shmctl(id, IPC_RMID, NULL);
    *id_out = id;
    return p == (void *)-1 ? NULL : p;
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "exec") == 0 || strcmp(argv[1], "spawn") == 0)) {
        kv(argv[1][0] == 'e' ? "exec.attached" : "spawn.attached", "%d", attached_here());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "user") == 0) {
        int id = shmget(IPC_PRIVATE, LEN, 0600);
        kv("user.get", "%s", id < 0 ? ename(errno) : "0");
        if (id >= 0)
            shmctl(id, IPC_RMID, NULL);
        return 0;
    }
    int id = shmget(IPC_PRIVATE, LEN, 0600);
    kv("get", "%s", id < 0 ? ename(errno) : "0");
    if (id < 0)
        return 0;
    char *p = shmat(id, ADDR, 0);
    kv("at", "%s", p == (void *)-1 ? ename(errno) : "0");
    kv("rmid", "%s", shmctl(id, IPC_RMID, NULL) == 0 ? "0" : ename(errno));
    if (p == (void *)-1)
        return 0;
    kv("at.address", "%d", p == ADDR);
    kv("nattch", "%ld", nattch(id));
    {
        struct shmid_ds ds;
        shmctl(id, IPC_STAT, &ds);
        kv("rmid.private", "%d", ds.shm_perm.__key == IPC_PRIVATE);
    }
    {
        char buf[1 << 16], want[64];
        slurp("/proc/self/maps", buf, sizeof buf);
        char *line = strstr(buf, "/SYSV");
        char name[64] = "";
        if (line)
            sscanf(line, "%63[^\n]", name);
        kv("maps.name", "%s", name);
        snprintf(want, sizeof want, " %d ", id);
        char *start = line;
        while (start && start > buf && start[-1] != '\n')
            start--;
        kv("maps.inode", "%d", start != NULL && strstr(start, want) != NULL
                               && strstr(start, want) < line);
        slurp("/proc/self/smaps", buf, sizeof buf);
        char *at = strstr(buf, "100000000000-");
        char *flags = at ? strstr(at, "VmFlags:") : NULL;
        char fl[128] = "";
        if (flags)
            sscanf(flags, "VmFlags:%127[^\n]", fl);
        kv("smaps.ac", "%d", strstr(fl, " ac") != NULL);
        kv("smaps.sh", "%d", strstr(fl, " sh") != NULL);
    }

    p[0] = 7;
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        int ok = p[0] == 7;
        p[0] = 9;
        if (read(pipefd[0], &c, 1) != 1)
            _exit(2);
        _exit(ok ? 0 : 1);
    }
    sleep_ms(50);
    kv("fork.nattch", "%ld", nattch(id));
    if (write(pipefd[1], "x", 1) != 1)
        return 1;
    int st = reap(pid, 2000);
    kv("fork.shared", "%d", WIFEXITED(st) && WEXITSTATUS(st) == 0 && p[0] == 9);
    kv("fork.after_exit.nattch", "%ld", nattch(id));

    p[0] = 7;
    pid = vfork();
    if (pid == 0) {
        p[0] = 3;
        _exit(0);
    }
    reap(pid, 2000);
    kv("vfork.shared", "%d", p[0] == 3);

    pthread_t t;
    p[0] = 7;
    pthread_create(&t, NULL, store, p);
    pthread_join(t, NULL);
    kv("thread.shared", "%d", p[0] == 5);

    char *args[] = {argv[0], "exec", NULL};
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        execve(argv[0], args, environ);
        _exit(4);
    }
    reap(pid, 2000);
    fflush(stdout);
    pid_t spawned;
    char *sargs[] = {argv[0], "spawn", NULL};
    if (posix_spawn(&spawned, argv[0], NULL, NULL, sargs, environ) == 0)
        reap(spawned, 2000);

    madvise(p, LEN, MADV_DONTFORK);
    pid = fork();
    if (pid == 0)
        _exit(attached_here());
    st = reap(pid, 2000);
    kv("dontfork.child", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    madvise(p, LEN, MADV_DOFORK);

    kv("mprotect.rw.ro", "%s", mprotect(p, LEN, PROT_READ) == 0 ? "0" : ename(errno));
    kv("mprotect.rw.rw", "%s", mprotect(p, LEN, PROT_READ | PROT_WRITE) == 0 ? "0" : ename(errno));
    kv("mprotect.rw.rx", "%s", mprotect(p, LEN, PROT_READ | PROT_EXEC) == 0 ? "0" : ename(errno));
    mprotect(p, LEN, PROT_READ | PROT_WRITE);

    /* grown in place with mremap: what a touch past the segment's end gets */
    pid = fork();
    if (pid == 0) {
        if (mremap(p, LEN, 2 * LEN, 0) != p)
            _exit(3);
        ((volatile char *)p)[LEN] = 1;
        _exit(0);
    }
    st = reap(pid, 2000);
    kv("mremap.past", "%s", WIFSIGNALED(st) ? strsignal(WTERMSIG(st))
                            : WEXITSTATUS(st) ? "failed" : "none");
    pid = fork();
    if (pid == 0) {  /* the same for shared anonymous memory */
        char *a = mmap((char *)ADDR + (1UL << 30), LEN, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (a == MAP_FAILED || mremap(a, LEN, 2 * LEN, 0) != a)
            _exit(3);
        ((volatile char *)a)[LEN] = 1;
        _exit(0);
    }
    st = reap(pid, 2000);
    kv("mremap.anon_shared.past", "%s", WIFSIGNALED(st) ? strsignal(WTERMSIG(st))
                                        : WEXITSTATUS(st) ? "failed" : "none");

    kv("munmap.part", "%s", munmap(p, PAGE) == 0 ? "0" : ename(errno));
    kv("munmap.part.nattch", "%ld", nattch(id));
    munmap(p + PAGE, LEN - PAGE);
    kv("munmap.all.gone", "%d", nattch(id) == -EINVAL || nattch(id) == -EIDRM);

    int ro_id;
    char *r = attach(SHM_RDONLY, &ro_id);
    kv("ro.at", "%d", r != NULL);
    if (r) {
        kv("mprotect.ro.rw", "%s", mprotect(r, LEN, PROT_READ | PROT_WRITE) == 0 ? "0" : ename(errno));
        kv("mprotect.ro.rx", "%s", mprotect(r, LEN, PROT_READ | PROT_EXEC) == 0 ? "0" : ename(errno));
        shmdt(r);
    }
    int toobig = shmget(IPC_PRIVATE, (size_t)-1, 0600);
    kv("toobig", "%s", toobig < 0 ? ename(errno) : "0");
    return 0;
}
