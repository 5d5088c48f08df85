/* The plainest fork timing: map SIZE bytes, write every page, then time REPS
 * fork() calls in the parent (the child _exits; it is reaped outside the timed
 * part) and print the median in microseconds. forklab bench's fork must agree
 * with it: the harness adds nothing.
 *
 *   cc -O2 -o fork_loop fork_loop.c && ./fork_loop SIZE_BYTES REPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    size_t size = strtoull(argv[1], NULL, 10);
    int reps = atoi(argv[2]);
    double *t = calloc((size_t)reps, sizeof *t);
    if (size) {
        char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || madvise(p, size, MADV_NOHUGEPAGE) != 0)
            return 2;
        for (size_t off = 0; off < size; off += 4096)
            p[off] = 1;
    }
    for (int i = -2; i < reps; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t pid = fork();
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (pid == 0)
            _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
            return 2;
        if (i >= 0)
            t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%.1f\n", t[reps / 2]);
    return 0;
}
