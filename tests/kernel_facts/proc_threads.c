/* proc_threads.c -- fork from a multithreaded process: locks held by other
 * threads, pthread_atfork, and which ways of creating a process run the
 * atfork handlers at all.
 */
#include "proc_common.h"

#include <pthread.h>
#include <spawn.h>

extern char **environ;

static pthread_mutex_t M = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t E;                      /* error-checking mutex */

/* A helper thread: lock M (and E), say so on 'ready', hold them until
 * 'release' reaches EOF, then unlock. */
struct holder {
    int ready_w;
    int release_r;
    int use_e;
};

static void *hold(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&M);
    if (h->use_e)
        pthread_mutex_lock(&E);
    char c = 'x';
    if (write(h->ready_w, &c, 1) != 1)
        _exit(3);
    while (read(h->release_r, &c, 1) < 0 && errno == EINTR)
        ;
    if (h->use_e)
        pthread_mutex_unlock(&E);
    pthread_mutex_unlock(&M);
    return NULL;
}

/* Start a holder thread in this process; returns the write end that
 * releases it (close it to release). */
static int start_holder(pthread_t *t, int use_e)
{
    static struct holder h;
    int ready[2], rel[2];
    if (pipe(ready) < 0 || pipe(rel) < 0)
        _exit(2);
    h.ready_w = ready[1];
    h.release_r = rel[0];
    h.use_e = use_e;
    pthread_create(t, NULL, hold, &h);
    char c;
    if (read(ready[0], &c, 1) != 1)
        _exit(2);
    close(ready[0]);
    close(ready[1]);
    return rel[1];
}

/* ---- Q8: fork while another thread holds M ---- */
static void q8_mutex_held(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&E, &a);

    pthread_t t;
    int rel = start_holder(&t, 1);
    char v[128];
    proc_status("/proc/self", "Threads", v, sizeof v);
    kv("held.parent_threads", "%s", v);

    /* Child 1: lock the held mutex. */
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        pthread_mutex_lock(&M);
        _exit(0);
    }
    kv("held.child_lock_blocked", "%d", wait_blocked(pdir(c), 202, 2000));
    sleep_ms(200);   /* still there a little later? */
    kv("held.child_stat_state", "%c", proc_state(pdir(c)));
    kv("held.child_syscall_nr", "%ld", proc_syscall(pdir(c)));
    proc_wchan(pdir(c), v, sizeof v);
    kv("held.child_wchan", "%s", v);
    proc_status(pdir(c), "Threads", v, sizeof v);
    kv("held.child_threads", "%s", v);
    int st = reap(c, 300);
    kv("held.child_lock_hung", "%d", st == -1);

    /* Child 2: trylock, then unlock the mutex it does not own, then lock. */
    c = fork();
    if (c == 0) {
        child_guard();
        alarm(5);
        kv("held.child_trylock", "%s", ename(pthread_mutex_trylock(&M)));
        kv("held.child_unlock", "%s", ename(pthread_mutex_unlock(&M)));
        kv("held.child_lock_after_unlock", "%s", ename(pthread_mutex_lock(&M)));
        kv("held.errorcheck_child_trylock", "%s", ename(pthread_mutex_trylock(&E)));
        kv("held.errorcheck_child_unlock", "%s", ename(pthread_mutex_unlock(&E)));
        _exit(0);
    }
    st = reap(c, 3000);
    kv("held.child2_ok", "%d", st == 0);

    close(rel);
    pthread_join(t, NULL);
}

/* ---- Q9: atfork ---- */
static volatile int n_prep, n_parent, n_child;
static void prep_lock(void) { n_prep++; pthread_mutex_lock(&M); }
static void parent_unlock(void) { n_parent++; pthread_mutex_unlock(&M); }
static void child_unlock(void) { n_child++; pthread_mutex_unlock(&M); }

/* Subject: handlers registered, nobody holds M: child's lock works. */
static void q9_no_holder(void)
{
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        pthread_atfork(prep_lock, parent_unlock, child_unlock);
        pid_t c = fork();
        if (c == 0) {
            alarm(5);
            _exit(pthread_mutex_lock(&M) == 0 ? 0 : 1);
        }
        int st = reap(c, 3000);
        kv("atfork_free.child_lock_ok", "%d", st == 0);
        kv("atfork_free.parent_trylock_after", "%s", ename(pthread_mutex_trylock(&M)));
        _exit(0);
    }
    reap(s, 5000);
}

/* Subject: a second thread holds M when fork is called: fork blocks in
 * the prepare handler until the holder lets go. */
static void q9_holder(void)
{
    int rel[2], ready[2], go[2];
    if (pipe(rel) < 0 || pipe(ready) < 0 || pipe(go) < 0)
        _exit(2);
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        close(rel[1]);
        static struct holder h;
        h.ready_w = ready[1];
        h.release_r = rel[0];
        pthread_t t;
        pthread_create(&t, NULL, hold, &h);
        char ch;
        if (read(ready[0], &ch, 1) != 1)
            _exit(2);
        pthread_atfork(prep_lock, parent_unlock, child_unlock);
        if (write(go[1], &ch, 1) != 1)   /* tell the top process: forking now */
            _exit(2);
        pid_t c = fork();   /* blocks in prep_lock while t holds M */
        if (c == 0) {
            alarm(5);
            _exit(pthread_mutex_lock(&M) == 0 ? 0 : 1);
        }
        int st = reap(c, 3000);
        pthread_join(t, NULL);
        _exit(st == 0 ? 0 : 1);
    }
    close(rel[0]);
    close(go[1]);
    char ch;
    if (read(go[0], &ch, 1) != 1)
        _exit(2);
    char task[64], v[128];
    snprintf(task, sizeof task, "/proc/%d/task/%d", (int)s, (int)s);
    kv("atfork_held.fork_blocked", "%d", wait_blocked(task, 202, 2000));
    sleep_ms(100);
    kv("atfork_held.parent_main_state", "%c", proc_state(task));
    kv("atfork_held.parent_main_syscall_nr", "%ld", proc_syscall(task));
    proc_wchan(task, v, sizeof v);
    kv("atfork_held.parent_main_wchan", "%s", v);
    char kids[64], path[96];
    snprintf(path, sizeof path, "%s/children", task);
    kv("atfork_held.no_child_yet", "%d", slurp(path, kids, sizeof kids) == 0);
    close(rel[1]);  /* holder unlocks: fork proceeds */
    int st = reap(s, 5000);
    kv("atfork_held.fork_completed_after_release", "%d", st == 0);
}

/* Which process-creation calls run the atfork handlers? */
static void q9_who_runs_handlers(void)
{
    pid_t s = fork();
    if (s == 0) {
        child_guard();
        pthread_atfork(prep_lock, parent_unlock, child_unlock);
        int st;
#define REPORT(name, pid)                                                     \
    do {                                                                      \
        st = reap(pid, 3000);                                                 \
        kv(name ".parent_prepare_parent", "%d,%d", n_prep, n_parent);         \
        kv(name ".child_prepare_parent_child", "%d",                          \
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);                             \
        n_prep = n_parent = n_child = 0;                                      \
    } while (0)
#define CHILD_CODE (n_prep * 100 + n_parent * 10 + n_child)
        pid_t c = fork();
        if (c == 0)
            _exit(CHILD_CODE);
        REPORT("handlers_fork", c);

        c = _Fork();
        if (c == 0)
            _exit(CHILD_CODE);
        REPORT("handlers__Fork", c);

        c = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
        if (c == 0)
            _exit(CHILD_CODE);
        REPORT("handlers_raw_clone", c);

        c = vfork();
        if (c == 0)
            _exit(CHILD_CODE);
        REPORT("handlers_vfork", c);

        char *argv[] = {"true", NULL};
        posix_spawn(&c, "/bin/true", NULL, NULL, argv, environ);
        st = reap(c, 3000);
        kv("handlers_posix_spawn.parent_prepare_parent", "%d,%d", n_prep, n_parent);
        _exit(0);
    }
    reap(s, 5000);
}

int main(void)
{
    alarm(30);
    clean_signals();
    q8_mutex_held();
    q9_no_holder();
    q9_holder();
    q9_who_runs_handlers();
    return 0;
}
