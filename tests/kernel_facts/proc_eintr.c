/* proc_eintr.c -- what a caught signal does to a call that is blocked in the
 * kernel: signal(7), "Interruption of system calls and library functions".
 *
 * Each case runs the call in a fresh child whose SIGUSR1 handler was
 * installed with the given sa_flags (SA_RESTART is what glibc's signal()
 * and forklab's `signal SIG catch` set). Once the child sleeps in the call's
 * system call, the parent sends SIGUSR1; the handler writes "h" to the
 * report pipe. Then either the child sleeps in the same system call again
 * (the call was restarted, or, for a mutex, never left) or the call returns
 * and the child reports what it returned. The parent then lets a restarted
 * call finish (writes to the pipe it reads, drains the pipe it writes,
 * releases the child it waits for or the lock it wants) and reads its result.
 *
 * Keys: CASE.blocked=1 (the child slept in the call), CASE.handler=1,
 * CASE.after=restarted|returned, CASE.result="RETURN ERRNO".
 */
#include "proc_common.h"

#include <pthread.h>

static int rep[2];          /* child -> parent: "h" from the handler, then the result */
static int to_child[2];     /* parent -> child: data for a read, or "go" for a helper */
static int from_child[2];   /* child -> parent: the pipe a write fills */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char big[65536];

static void on_usr1(int s)
{
    (void)s;
    if (write(rep[1], "h", 1) != 1)
        _exit(91);
}

/* The child's side of each case: the blocking call, and its result. */
static long call_sleep(void)
{
    struct timespec t = {5, 0};
    return nanosleep(&t, NULL);
}

static long call_read(void)
{
    char c;
    return read(to_child[0], &c, 1);
}

/* 40000 bytes are waiting: ten pages, the last holding 3136 bytes. A second
 * write of 40000 cannot merge its last 3136 bytes into that page (they do
 * not fit), fills the six free pages (24576 bytes) and sleeps with those
 * written. */
static long call_write_partial(void)
{
    if (write(from_child[1], big, 40000) != 40000)
        _exit(92);
    return write(from_child[1], big, 40000);
}

/* Sixteen writes of 4000 bytes take all sixteen pages: a write of 100 finds
 * no room at all and sleeps with nothing written. */
static long call_write_none(void)
{
    for (int i = 0; i < 16; i++)
        if (write(from_child[1], big, 4000) != 4000)
            _exit(92);
    return write(from_child[1], big, 100);
}

static long call_wait(void)
{
    pid_t parent = getpid();
    pid_t g = fork();
    if (g == 0) {
        char c;
        child_guard();
        /* A parent that ended before the guard was set (its wait interrupted at
         * once, on a busy machine) left this child to wait on a pipe whose write
         * end it held itself: it would outlive the fact, holding its stdout. */
        close(to_child[1]);
        if (getppid() != parent)
            _exit(93);
        if (read(to_child[0], &c, 1) != 1)
            _exit(93);
        _exit(7);
    }
    int st;
    pid_t r = waitpid(g, &st, 0);
    return r == g ? WEXITSTATUS(st) : r;
}

static void *holder(void *arg)
{
    char c;
    (void)arg;
    pthread_mutex_lock(&lock);
    if (write(rep[1], "l", 1) != 1) /* the lock is held */
        _exit(94);
    if (read(to_child[0], &c, 1) != 1)
        _exit(93);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static long call_lock(void)
{
    pthread_t t;
    char c;
    pthread_create(&t, NULL, holder, NULL);
    if (read(rep[0], &c, 1) != 1) /* the child reads its own "l" */
        _exit(94);
    return pthread_mutex_lock(&lock);
}

/* The parent's side: let a restarted call finish. */
static void release_drain(void)
{
    ssize_t n;
    int fl = fcntl(from_child[0], F_GETFL);
    fcntl(from_child[0], F_SETFL, fl | O_NONBLOCK);
    while ((n = read(from_child[0], big, sizeof big)) > 0)
        ;
    fcntl(from_child[0], F_SETFL, fl);
}

static void release_go(void)
{
    if (write(to_child[1], "g", 1) != 1)
        _exit(95);
}

static void release_nothing(void) {}

/* Read one result line "RETURN ERRNO" from rep, waiting at most ms. */
static int read_result(char *out, size_t sz, int ms)
{
    struct pollfd p = {rep[0], POLLIN, 0};
    if (poll(&p, 1, ms) != 1)
        return 0;
    ssize_t n = read(rep[0], out, sz - 1);
    if (n <= 0)
        return 0;
    out[n] = 0;
    return 1;
}

static void interrupt_case(const char *name, int flags, long nr, long (*call)(void),
                           void (*release)(void))
{
    char key[128], result[128];
    if (pipe(rep) < 0 || pipe(to_child) < 0 || pipe(from_child) < 0)
        _exit(96);
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sa.sa_flags = flags;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        errno = 0;
        long r = call();
        int e = errno;
        char out[64];
        int n = snprintf(out, sizeof out, "%ld %s", r, ename(e));
        if (write(rep[1], out, (size_t)n) != n)
            _exit(97);
        _exit(0);
    }
    const char *dir = pdir(pid);
    snprintf(key, sizeof key, "%s.blocked", name);
    kv(key, "%d", wait_blocked(dir, nr, 5000));
    kill(pid, SIGUSR1);
    char h = 0;
    struct pollfd p = {rep[0], POLLIN, 0};
    snprintf(key, sizeof key, "%s.handler", name);
    kv(key, "%d", poll(&p, 1, 5000) == 1 && read(rep[0], &h, 1) == 1 && h == 'h');
    /* Restarted: the child sleeps in the call again. Returned: it reports. */
    const char *after = "?";
    long end = now_ms() + 5000;
    result[0] = 0;
    while (now_ms() < end) {
        if (read_result(result, sizeof result, 0)) {
            after = "returned";
            break;
        }
        char s = proc_state(dir);
        if ((s == 'S' || s == 'D') && proc_syscall(dir) == nr) {
            after = "restarted";
            break;
        }
        sleep_ms(1);
    }
    snprintf(key, sizeof key, "%s.after", name);
    kv(key, "%s", after);
    if (!result[0]) {
        release();
        read_result(result, sizeof result, 5000);
    }
    snprintf(key, sizeof key, "%s.result", name);
    kv(key, "%s", result);
    reap(pid, 5000);
    close(rep[0]);
    close(rep[1]);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
}

/* SIGCHLD goes to the thread that made the child (complete_signal tries the
 * task a signal is sent to first; a child's is its creating thread), even
 * while the main thread could take it too: a thread forks and sleeps; once it
 * sleeps, the main thread lets the child exit and sleeps in read itself; the
 * forking thread's sleep fails with EINTR. */
static volatile pid_t handled_on, forker_tid;
static int child_go[2];

static void on_chld(int s)
{
    (void)s;
    handled_on = (pid_t)syscall(SYS_gettid);
}

static void *forker(void *arg)
{
    (void)arg;
    pid_t c = fork();
    if (c == 0) {
        char go;
        close(child_go[1]); /* the fact's end ends its wait, even if the fact fails */
        _exit(read(child_go[0], &go, 1) == 1 ? 0 : 93);
    }
    forker_tid = (pid_t)syscall(SYS_gettid);
    struct timespec t = {5, 0};
    long r = nanosleep(&t, NULL);
    kv("sigchld_thread.sleep", "%ld %s", r, ename(r < 0 ? errno : 0));
    kv("sigchld_thread.handler_on", "%s",
       handled_on == (pid_t)syscall(SYS_gettid) ? "creating thread"
       : handled_on == getpid() ? "main thread" : "?");
    waitpid(c, NULL, 0);
    if (write(to_child[1], "g", 1) != 1) /* lets the main thread go */
        _exit(95);
    return NULL;
}

static void sigchld_to_the_creating_thread(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    if (pipe(to_child) < 0 || pipe(child_go) < 0)
        _exit(96);
    pthread_t t;
    pthread_create(&t, NULL, forker, NULL);
    while (!forker_tid)
        sleep_ms(1);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)forker_tid);
    kv("sigchld_thread.forker_slept", "%d", wait_blocked(dir, SYS_clock_nanosleep, 5000));
    if (write(child_go[1], "g", 1) != 1)
        _exit(95);
    char c;
    if (read(to_child[0], &c, 1) != 1) /* the main thread sleeps in read meanwhile */
        _exit(93);
    pthread_join(t, NULL);
    close(to_child[0]);
    close(to_child[1]);
    close(child_go[0]);
    close(child_go[1]);
    signal(SIGCHLD, SIG_DFL);
}

int main(void)
{
    clean_signals();
    interrupt_case("sleep_restart", SA_RESTART, SYS_clock_nanosleep, call_sleep,
                   release_nothing);
    interrupt_case("sleep_norestart", 0, SYS_clock_nanosleep, call_sleep, release_nothing);
    interrupt_case("read_restart", SA_RESTART, SYS_read, call_read, release_go);
    interrupt_case("read_norestart", 0, SYS_read, call_read, release_go);
    interrupt_case("write_partial_restart", SA_RESTART, SYS_write, call_write_partial,
                   release_drain);
    interrupt_case("write_partial_norestart", 0, SYS_write, call_write_partial,
                   release_drain);
    interrupt_case("write_none_restart", SA_RESTART, SYS_write, call_write_none,
                   release_drain);
    interrupt_case("write_none_norestart", 0, SYS_write, call_write_none, release_drain);
    interrupt_case("wait_restart", SA_RESTART, SYS_wait4, call_wait, release_go);
    interrupt_case("wait_norestart", 0, SYS_wait4, call_wait, release_go);
    interrupt_case("lock_norestart", 0, SYS_futex, call_lock, release_go);
    sigchld_to_the_creating_thread();
    return 0;
}
