/* proc_mlockall.c -- mlockall(2) and munlockall(2) under fork, vfork, threads and
 * execve: which mappings are locked (VmFlags "lo" in /proc/PID/smaps) and
 * populated (Rss), now (MCL_CURRENT) and later (MCL_FUTURE).
 *
 * Each case maps 2 pages before and 2 pages after the call it studies (each between
 * PROT_NONE pages, which keep the kernel from merging it with another) and prints
 * "CASE.before_locked", "CASE.before_rss_kb", "CASE.after_locked"... "unpriv.*":
 * a user other than root under RLIMIT_MEMLOCK.
 */
#include "proc_common.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <grp.h>

extern char **environ;
static char exe[4096];
#define PG 4096

/* The VMA at addr in /proc/self/smaps: its Rss (kB) and whether VmFlags has "lo". */
static void vma_of(void *addr, int *locked, long *rss_kb)
{
    *locked = -1;
    *rss_kb = -1;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    char line[512];
    int in = 0;
    unsigned long want = (unsigned long)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = lo <= want && want < hi;
            continue;
        }
        if (!in)
            continue;
        if (strncmp(line, "Rss:", 4) == 0)
            *rss_kb = atol(line + 4);
        if (strncmp(line, "VmFlags:", 8) == 0) {
            *locked = strstr(line, " lo") != NULL;
            break;
        }
    }
    fclose(f);
}

/* Two pages between PROT_NONE pages of their own, so that the kernel merges them
 * with no neighbour's VMA. */
static void *map2(void)
{
    char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mprotect(p, PG, PROT_NONE);
    mprotect(p + 3 * PG, PG, PROT_NONE);
    return p + PG;
}

static void say(const char *c, const char *k, void *addr)
{
    int locked;
    long rss;
    vma_of(addr, &locked, &rss);
    char key[96];
    snprintf(key, sizeof key, "%s.%s_locked", c, k);
    kv(key, "%d", locked);
    snprintf(key, sizeof key, "%s.%s_rss_kb", c, k);
    kv(key, "%ld", rss);
}

static void *thread_maps(void *arg)
{
    *(void **)arg = map2();
    return NULL;
}

/* The one case, in a child of its own, so that nothing stays locked. */
static void run(const char *c, int flags, int then_unlock)
{
    pid_t pid = fork();
    if (pid != 0) {
        reap(pid, 10000);
        return;
    }
    void *before = map2();
    errno = 0;
    char key[96];
    snprintf(key, sizeof key, "%s.rc", c);
    kv(key, "%s", mlockall(flags) == 0 ? "0" : ename(errno));
    if (then_unlock)
        munlockall();
    say(c, "before", before);
    say(c, "after", map2());
    if (strcmp(c, "both") == 0) {
        pid_t k = fork();
        if (k == 0) {
            say("fork", "inherited", before);
            say("fork", "after", map2());
            _exit(0);
        }
        reap(k, 5000);
        static void *vfork_map;
        k = vfork();
        if (k == 0) {
            vfork_map = map2();
            _exit(0);
        }
        say("vfork", "after", vfork_map);
        void *tmap = NULL;
        /* a small stack: a default one (8 MiB, locked at once) would pass the
         * RLIMIT_MEMLOCK of a user other than root */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_t th;
        pthread_create(&th, &attr, thread_maps, &tmap);
        pthread_join(th, NULL);
        say("thread", "after", tmap);
        char *argv[] = {exe, "after_exec", NULL};
        execve(exe, argv, environ);
    }
    _exit(0);
}

static void unprivileged(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(93);
        struct rlimit l = {0, 0};
        getrlimit(RLIMIT_MEMLOCK, &l);
        struct rlimit zero = {0, l.rlim_max};
        setrlimit(RLIMIT_MEMLOCK, &zero);
        errno = 0;
        kv("unpriv.zero_limit", "%s", mlockall(MCL_FUTURE) == 0 ? "0" : ename(errno));
        struct rlimit small = {16 * PG, l.rlim_max};
        setrlimit(RLIMIT_MEMLOCK, &small);
        errno = 0;
        kv("unpriv.current", "%s", mlockall(MCL_CURRENT) == 0 ? "0" : ename(errno));
        errno = 0;
        kv("unpriv.future", "%s", mlockall(MCL_FUTURE) == 0 ? "0" : ename(errno));
        void *a = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        kv("unpriv.map_to_limit", "%s", a != MAP_FAILED ? "0" : ename(errno));
        errno = 0;
        void *b = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        kv("unpriv.map_past_limit", "%s", b != MAP_FAILED ? "0" : ename(errno));
        _exit(0);
    }
    reap(pid, 5000);
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    if (argc > 1 && strcmp(argv[1], "after_exec") == 0) {
        say("exec", "after", map2());
        return 0;
    }
    run("current", MCL_CURRENT, 0);
    run("future", MCL_FUTURE, 0);
    run("both", MCL_CURRENT | MCL_FUTURE, 0);
    run("unlocked", MCL_CURRENT | MCL_FUTURE, 1);
    run("none", 0, 0);
    if (getuid() == 0)
        unprivileged();
    return 0;
}
