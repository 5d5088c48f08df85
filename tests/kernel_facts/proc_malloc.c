/* proc_malloc.c -- can a child's malloc hang after fork from a process in
 * which other threads are busy in malloc/free?
 *
 * Part 1 (deterministic): a thread is parked *inside* malloc's main-arena
 * lock (malloc_stats() prints to stderr while holding it; stderr is a full
 * pipe, so it blocks in write).  Then: a raw clone child and a glibc _Fork
 * child call malloc; and another thread calls glibc's fork().
 *
 * Part 2 (statistical):
 * A subject process starts two "churn" threads that malloc/free blocks of
 * 2-60 KB (too big for the per-thread tcache, small enough for the heap, so
 * each call takes an arena lock).  Its main thread then creates 200 children,
 * either with glibc's fork() or with a raw clone system call that bypasses
 * glibc.  Each child mallocs and frees a few blocks and _exits.  A child that
 * has not finished after a generous bound is counted as hung, its blocking
 * syscall is read from /proc (202 = futex), and it is killed.
 *
 * Two arena set-ups: glibc's default (each thread soon gets its own arena,
 * so the churn threads mostly do not touch main_arena, the one the children
 * use) and M_ARENA_MAX=1 (everyone shares main_arena).
 */
#include "proc_common.h"

#include <malloc.h>
#include <pthread.h>

#define CHILDREN 200

static volatile int stop;

/* Called through volatile pointers: otherwise gcc -O1 deletes a malloc/free
 * pair whose memory is never read, and the experiment would test nothing. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static void *churn(void *arg)
{
    unsigned x = (unsigned)(unsigned long)arg * 2654435761u + 1;
    while (!stop) {
        x = x * 1103515245u + 12345u;
        size_t n = 2048 + (x >> 8) % 60000;
        char *p = do_malloc(n);
        if (p)
            p[0] = p[n - 1] = 1;
        do_free(p);
    }
    return NULL;
}

static void child_body(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int j = 0; j < 20; j++) {
        char *p = do_malloc(3000 + j * 500);
        if (p)
            p[0] = 1;
        do_free(p);
    }
    _exit(0);
}

/* Returns via kv: <prefix>.children, .hung, .hung_in_futex */
static void run(const char *prefix, int raw_clone)
{
    pid_t kids[CHILDREN];
    int done[CHILDREN];
    int made = 0;
    for (int i = 0; i < CHILDREN; i++) {
        pid_t c = raw_clone ? syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0) : fork();
        if (c == 0)
            child_body();
        if (c < 0)
            break;
        kids[made] = c;
        done[made++] = 0;
        /* reap whoever already finished, to keep the process count low */
        for (int k = 0; k < made; k++)
            if (!done[k] && waitpid(kids[k], NULL, WNOHANG) == kids[k])
                done[k] = 1;
        sleep_ms(1);
    }
    long end = now_ms() + 1000;
    int left;
    do {
        left = 0;
        for (int k = 0; k < made; k++)
            if (!done[k]) {
                if (waitpid(kids[k], NULL, WNOHANG) == kids[k])
                    done[k] = 1;
                else
                    left++;
            }
        if (left)
            sleep_ms(5);
    } while (left && now_ms() < end);
    int hung = 0, in_futex = 0;
    for (int k = 0; k < made; k++)
        if (!done[k]) {
            hung++;
            if (proc_syscall(pdir(kids[k])) == 202)
                in_futex++;
            kill(kids[k], SIGKILL);
            waitpid(kids[k], NULL, 0);
        }
    char k[128];
    snprintf(k, sizeof k, "%s.children", prefix);
    kv(k, "%d", made);
    snprintf(k, sizeof k, "%s.hung", prefix);
    kv(k, "%d", hung);
    snprintf(k, sizeof k, "%s.hung_in_futex", prefix);
    kv(k, "%d", in_futex);
}

static void subject(const char *arena, int raw_clone)
{
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        if (strcmp(arena, "arena1") == 0)
            mallopt(M_ARENA_MAX, 1);
        pthread_t t[2];
        for (long i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, churn, (void *)i);
        sleep_ms(20);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s.%s", raw_clone ? "clone" : "fork", arena);
        run(prefix, raw_clone);
        stop = 1;
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        _exit(0);
    }
    reap(s, 20000);
}

/* ---- Part 1: a thread parked inside the main-arena lock ---- */
static int go_pipe[2];
static volatile pid_t forker_tid;
static volatile int forker_child_status = -99;

static void *forker(void *arg)
{
    (void)arg;
    forker_tid = gettid();
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        return NULL;
    pid_t c2 = fork();      /* glibc fork: takes every arena lock first */
    if (c2 == 0) {
        char *p = do_malloc(5000);
        do_free(p);
        _exit(p ? 0 : 1);
    }
    forker_child_status = reap(c2, 3000);
    return NULL;
}

static volatile pid_t stats_tid;
static volatile int stats_done;
static void *stats(void *arg)
{
    (void)arg;
    stats_tid = gettid();
    malloc_stats();         /* holds main_arena's lock while writing */
    stats_done = 1;
    return NULL;
}

static pid_t malloc_child(int use_Fork)
{
    pid_t c = use_Fork ? _Fork() : syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char *p = do_malloc(5000);
        do_free(p);
        _exit(p ? 0 : 1);
    }
    return c;
}

static void held_lock(void)
{
    pid_t s = fork();
    if (s != 0) {
        reap(s, 10000);
        return;
    }
    child_guard();
    signal(SIGPIPE, SIG_IGN);
    /* A full pipe as stderr. */
    int errp[2];
    if (pipe(errp) < 0 || pipe(go_pipe) < 0)
        _exit(2);
    fcntl(errp[1], F_SETFL, O_NONBLOCK);
    static char junk[4096];
    while (write(errp[1], junk, sizeof junk) > 0)
        ;
    fcntl(errp[1], F_SETFL, 0);
    dup2(errp[1], 2);
    /* Warm up malloc; create both threads before anyone holds the lock
     * (pthread_create itself allocates). */
    do_free(do_malloc(5000));
    pthread_t f, h;
    pthread_create(&f, NULL, forker, NULL);
    while (!forker_tid)
        sleep_ms(1);
    pthread_create(&h, NULL, stats, NULL);
    while (!stats_tid)
        sleep_ms(1);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)stats_tid);
    kv("held.stats_thread_blocked_in_write", "%d", wait_blocked(dir, SYS_write, 2000));

    pid_t rc = malloc_child(0);
    pid_t fc = malloc_child(1);
    kv("held.raw_clone_child_malloc_blocked", "%d", wait_blocked(pdir(rc), 202, 1000));
    kv("held._Fork_child_malloc_blocked", "%d", wait_blocked(pdir(fc), 202, 1000));

    char c = 'g';
    if (write(go_pipe[1], &c, 1) != 1)
        _exit(2);
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)forker_tid);
    kv("held.fork_blocked_in_parent", "%d", wait_blocked(dir, 202, 1000));
    sleep_ms(100);
    kv("held.fork_thread_state", "%c", proc_state(dir));
    kv("held.fork_thread_syscall_nr", "%ld", proc_syscall(dir));

    /* Drain the pipe until malloc_stats has finished.  (Closing our read
     * end would not do: the clone children hold copies of it.) */
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    long end = now_ms() + 3000;
    while (!stats_done && now_ms() < end) {
        while (read(errp[0], junk, sizeof junk) > 0)
            ;
        sleep_ms(1);
    }
    kv("held.stats_finished_after_drain", "%d", (int)stats_done);
    pthread_join(h, NULL);
    pthread_join(f, NULL);
    kv("held.fork_child_after_release", "%s", forker_child_status == 0 ? "exit0" : "bad");
    sleep_ms(100);
    kv("held.raw_clone_child_still_blocked", "%d", proc_syscall(pdir(rc)) == 202);
    kv("held._Fork_child_still_blocked", "%d", proc_syscall(pdir(fc)) == 202);
    kv("held.raw_clone_child_hung", "%d", reap(rc, 200) == -1);
    kv("held._Fork_child_hung", "%d", reap(fc, 200) == -1);
    _exit(0);
}

int main(void)
{
    alarm(60);
    clean_signals();
    held_lock();
    subject("default", 0);
    subject("arena1", 0);
    subject("default", 1);
    subject("arena1", 1);
    return 0;
}
