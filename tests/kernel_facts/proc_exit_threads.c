/* proc_exit_threads.c -- the minor faults a process with threads takes while
 * it ends, after a fork.
 *
 * glibc creates every thread with CLONE_CHILD_CLEARTID on the thread-id word
 * of its descriptor (pthread_join waits on it); the kernel writes 0 there as
 * the thread leaves its address space, but only while another thread still
 * uses that address space (mm_release). A fork write-protects the parent's
 * written private pages, thread descriptors included, so that write may be a
 * copy-on-write fault, counted in the dying process's minflt.
 *
 * Each case: a process P starts K threads that wait in read(2), perhaps
 * forks (the child exits at once), notes its minflt (getrusage), and writes
 * to address 8: SIGSEGV. Its parent reads the zombie's /proc/PID/stat before
 * reaping it; the difference is the faults P took while it ended. Everything
 * runs on one CPU (as forklab's probe does), so the faulting thread leaves
 * first and the last of the waiting threads leaves last.
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>

static int wait_r[8], wake_w[8], woke_r, woke_w;
static int clear_tid_word;
static pid_t waiter_tids[8];
static int waiters_started;

/* Wait in read(2) on a pipe of its own (so that waking each thread once wakes
 * every one); each byte read is answered on woke_w. With clear_tid_word, first
 * tell the kernel to write no thread-id word. */
static void *waiter(void *arg)
{
    int mine = (int)(intptr_t)arg;
    if (clear_tid_word)
        syscall(SYS_set_tid_address, NULL);
    int me = __atomic_fetch_add(&waiters_started, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&waiter_tids[me], (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
    char c;
    for (;;) {
        if (read(wait_r[mine], &c, 1) != 1)
            pause();
        if (write(woke_w, &c, 1) != 1)
            _exit(5);
    }
    return NULL;
}

static long stat_minflt(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (slurp(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && *p; p++)
        if (*p == ' ' && ++field == 10)
            return atol(p + 1);
    return -1;
}

/* Wait until each of the n threads started sleeps in read(2) (a loaded machine
 * may run them late): the order they leave in depends on it. */
static void all_waiting_in_read(int n)
{
    long end = now_ms() + 5000;
    while (__atomic_load_n(&waiters_started, __ATOMIC_SEQ_CST) < n && now_ms() < end)
        sleep_ms(1);
    for (int i = 0; i < n; i++) {
        pid_t tid = 0;
        while ((tid = __atomic_load_n(&waiter_tids[i], __ATOMIC_SEQ_CST)) == 0 && now_ms() < end)
            sleep_ms(1);
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)tid);
        if (!tid || !wait_blocked(dir, SYS_read, 5000))
            _exit(6);
    }
}

/* The faults P took while it ended (see top). wake: after the fork, each
 * thread runs once (it reads a byte, answers, waits again). */
static long case_run(int threads, int do_fork, int wake, int no_tid_word)
{
    long *noted = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (noted == MAP_FAILED)
        _exit(2);
    noted[0] = -1;
    pid_t p = fork();
    if (p == 0) {
        int a[2], b[2];
        noted[0] = -1; /* a shared page fork did not map here: its fault now */
        if (pipe(b))
            _exit(2);
        woke_r = b[0], woke_w = b[1];
        clear_tid_word = no_tid_word;
        for (int i = 0; i < threads; i++) {
            pthread_t t;
            if (pipe(a))
                _exit(2);
            wait_r[i] = a[0], wake_w[i] = a[1];
            if (pthread_create(&t, NULL, waiter, (void *)(intptr_t)i) != 0)
                _exit(2);
        }
        all_waiting_in_read(threads);
        if (do_fork) {
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            waitpid(c, NULL, 0);
        }
        char c = 'x';
        for (int i = 0; wake && i < threads; i++)
            if (write(wake_w[i], &c, 1) != 1 || read(woke_r, &c, 1) != 1)
                _exit(3);
        all_waiting_in_read(threads);
        /* The first getrusage only makes ru's page writable: after a fork, the
         * stack page it lies on may still be copy-on-write (whether P wrote to
         * it since depends on where ASLR put the stack), and the kernel copies
         * ru out after it counted: that fault would be counted as one of P's
         * death. */
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        getrusage(RUSAGE_SELF, &ru);
        noted[0] = ru.ru_minflt;
        *(volatile char *)8 = 1;
        _exit(4);
    }
    siginfo_t si;
    waitid(P_PID, p, &si, WEXITED | WNOWAIT);
    long at_death = stat_minflt(p);
    int killed = si.si_code == CLD_KILLED && si.si_status == SIGSEGV;
    waitpid(p, NULL, 0);
    long before = noted[0];
    munmap(noted, 4096);
    return killed && before >= 0 && at_death >= 0 ? at_death - before : -1;
}

/* Run a case 7 times: the fewest faults seen (-1 if a run failed). The kernel
 * writes the thread-id word of a leaving thread also when anyone else holds its
 * address space at that moment: a process reading /proc/PID/stat of P (ps, top,
 * a monitor) does, and then P takes one fault more. Another process can only add
 * faults, so the fewest is what P itself does. */
static void report(const char *key, int threads, int do_fork, int wake, int no_tid_word)
{
    long fewest = -1;
    for (int i = 0; i < 7; i++) {
        long got = case_run(threads, do_fork, wake, no_tid_word);
        if (got < 0) {
            fewest = -1;
            break;
        }
        if (fewest < 0 || got < fewest)
            fewest = got;
    }
    kv(key, "%ld", fewest);
}

int main(void)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);

    report("no_fork.threads_2", 2, 0, 0, 0);
    report("fork.threads_0", 0, 1, 0, 0);
    report("fork.threads_1", 1, 1, 0, 0);
    report("fork.threads_2", 2, 1, 0, 0);
    report("fork.threads_3", 3, 1, 0, 0);
    report("fork_then_threads_ran.threads_3", 3, 1, 1, 0);
    report("fork_no_tid_word.threads_3", 3, 1, 0, 1);
    return 0;
}
