/* Cost of process creation versus memory, for a cost model (numbers only;
 * they vary from machine to machine and run to run, so no test asserts them).
 *
 * For each case: the median over REPS runs of the wall time in the parent
 * from just before fork()/vfork()/posix_spawn() until it returns in the
 * parent, in microseconds.  The child calls _exit(0) at once (or execs
 * /bin/true for posix_spawn) and is reaped outside the timed part.
 *
 * The process is not pinned to a CPU here (unlike the other mem_ programs);
 * each timing function is warmed up once before measuring.
 *
 * Argument "quick": only a few small cases with 3 repetitions (used by the
 * test suite to check that the program works).
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"
#include <spawn.h>

extern char **environ;

static int REPS = 21;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
}

static double time_fork(void)
{
    double t[64];
    fflush(stdout);
    for (int i = 0; i < REPS; i++) {
        double t0 = now_us();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        t[i] = now_us() - t0;
        if (pid < 0)
            die("fork");
        reap(pid);
    }
    return median(t, REPS);
}

static double time_vfork(void)
{
    double t[64];
    fflush(stdout);
    for (int i = 0; i < REPS; i++) {
        double t0 = now_us();
        pid_t pid = vfork();
        if (pid == 0)
            _exit(0);
        t[i] = now_us() - t0;
        if (pid < 0)
            die("vfork");
        reap(pid);
    }
    return median(t, REPS);
}

static double time_spawn(void)
{
    double t[64];
    char *argv[] = {"true", NULL};
    fflush(stdout);
    for (int i = 0; i < REPS; i++) {
        pid_t pid;
        double t0 = now_us();
        int err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
        t[i] = now_us() - t0;
        if (err) {
            errno = err;
            die("posix_spawn");
        }
        reap(pid);
    }
    return median(t, REPS);
}

static void put_us(const char *key, double us)
{
    printf("%s=%.1f\n", key, us);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    if (quick)
        REPS = 3;
    unpin_cpu();
    /* warm-up: page in fork/vfork/posix_spawn paths and /bin/true */
    int saved = REPS;
    REPS = 1;
    time_fork();
    time_vfork();
    time_spawn();
    REPS = saved;
    put("reps", REPS);

    put_us("fork_0mib_us", time_fork());
    put_us("vfork_0mib_us", time_vfork());
    put_us("posix_spawn_0mib_us", time_spawn());

    size_t sizes_mib[] = {64, 256, 1024};
    for (int i = 0; i < 3 && !quick; i++) {
        size_t len = sizes_mib[i] * MiB;
        char key[64];
        char *p = map_anon(0, len);
        write_pages(p, len);
        snprintf(key, sizeof key, "fork_%zumib_us", sizes_mib[i]);
        put_us(key, time_fork());
        if (sizes_mib[i] == 1024) {
            put_us("vfork_1024mib_us", time_vfork());
            put_us("posix_spawn_1024mib_us", time_spawn());
        }
        munmap(p, len);
    }
    if (!quick) {
        /* 1 GiB only read: zero pages, no anon_vma, so fork copies no PTEs */
        char *p = map_anon(0, GiB);
        read_pages(p, GiB);
        put_us("fork_1024mib_read_only_us", time_fork());
        munmap(p, GiB);
    }

    /* many small mappings: 1 page each, a 1-page hole between them so they
     * cannot merge into one VMA; written (copied by fork) or untouched */
    int counts[] = {1, 100, 1000};
    for (int i = 0; i < 3; i++) {
        int n = counts[i];
        char key[64];
        if (quick && n > 100)
            break;
        for (int touched = 1; touched >= 0; touched--) {
            for (int k = 0; k < n; k++) {
                char *m = map_at(slot_addr(0) + 2 * PAGE * (uintptr_t)k, PAGE,
                                 PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
                if (touched)
                    write_pages(m, PAGE);
            }
            snprintf(key, sizeof key, "fork_%d_maps_%s_us", n,
                     touched ? "written" : "untouched");
            put_us(key, time_fork());
            if (munmap((void *)slot_addr(0), 2 * PAGE * (size_t)n) != 0)
                die("munmap");
        }
    }
    return 0;
}
