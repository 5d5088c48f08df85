/* proc_atexit_blocked.c -- exit() asleep inside an atexit handler (glibc's
 * __run_exit_handlers): which handlers are still on the list, and is the list
 * "done" (__exit_funcs_done: atexit() refused) while one waits on a full pipe?
 *
 * A child fills a pipe nobody reads, registers three handlers (the last one
 * prints 5,000 bytes, more than stdout's 4,096-byte buffer) and calls exit().
 * The handlers count themselves in shared memory.
 *
 * Keys:
 *   fork.blocked_in_write   1 if the child sleeps in write(2) during exit()
 *   fork.handlers_started   handlers that had begun by then (the big one: 1)
 *   fork.collected_bytes    all that reached the pipe once read: filler, the
 *                           big handler's 5,000 bytes, and the two others' 2
 *   fork.exit               the child's exit status
 *   vfork.child_blocked_in_write, vfork.handlers_started: the same in a vfork
 *                           child that runs its parent's handlers
 *   vfork.child_signal      the vfork child, killed there: 9
 *   vfork.atexit_after      atexit() in the parent after that: 0 or -1
 *   vfork.parent_ran        the handlers the parent's own exit() then runs: the
 *                           one it registered after, and the two the child had
 *                           not reached (not the big one again)
 */
#include "proc_common.h"

#include <sys/mman.h>

static volatile int *started;   /* shared: handlers begun */
static char big[5001];

static void small_a(void) { (*started)++; fputs("a", stdout); }
static void small_b(void) { (*started)++; fputs("b", stdout); }
static void big_one(void) { (*started)++; fputs(big, stdout); }
static void extra(void) { (*started)++; fputs("c", stdout); }

static void fill(int fd)
{
    char page[4096];
    memset(page, 'x', sizeof page);
    for (int i = 0; i < 16; i++)
        if (write(fd, page, sizeof page) != sizeof page)
            _exit(3);
}

static size_t drain(int fd)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return total;
}

static void forked_exit(void)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    *started = 0;
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        fill(1);
        atexit(small_a);
        atexit(small_b);
        atexit(big_one);
        exit(0);
    }
    close(p[1]);
    kv("fork.blocked_in_write", "%d", wait_blocked(pdir(pid), SYS_write, 5000));
    kv("fork.handlers_started", "%d", *started);
    kv("fork.collected_bytes", "%zu", drain(p[0]));
    int st = reap(pid, 5000);
    kv("fork.exit", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    close(p[0]);
}

/* In a child of our own, whose handlers a vfork child runs. */
static void vforked_exit(void)
{
    int p[2], report[2];
    if (pipe(p) < 0 || pipe(report) < 0)
        _exit(2);
    *started = 0;
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        close(report[0]);
        fill(1);
        atexit(small_a);
        atexit(small_b);
        atexit(big_one);
        pid_t v = vfork();
        if (v == 0) {
            pid_t me = getpid();
            (void)!write(report[1], &me, sizeof me);
            exit(0);  /* runs the parent's handlers, in the parent's memory */
        }
        int st;
        waitpid(v, &st, 0);
        int r = atexit(extra);
        char line[64];
        int n = snprintf(line, sizeof line, "%d %d\n", r, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        (void)!write(report[1], line, n);
        close(report[1]);
        *started = 0;
        exit(0);  /* runs what is left on the list */
    }
    close(p[1]);
    close(report[1]);
    pid_t vchild = -1;
    if (read(report[0], &vchild, sizeof vchild) != sizeof vchild)
        vchild = -1;
    int blocked = vchild > 0 && wait_blocked(pdir(vchild), SYS_write, 5000);
    kv("vfork.child_blocked_in_write", "%d", blocked);
    kv("vfork.handlers_started", "%d", *started);
    if (vchild > 0)
        kill(vchild, SIGKILL);
    char line[64] = {0};
    ssize_t n = read(report[0], line, sizeof line - 1);
    int r = -2, sig = 0;
    if (n > 0)
        sscanf(line, "%d %d", &r, &sig);
    kv("vfork.child_signal", "%d", sig);
    kv("vfork.atexit_after", "%d", r);
    drain(p[0]);
    reap(pid, 5000);
    kv("vfork.parent_ran", "%d", *started);
    close(p[0]);
    close(report[0]);
}

int main(void)
{
    started = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(big, 'y', sizeof big - 1);
    forked_exit();
    vforked_exit();
    return 0;
}
