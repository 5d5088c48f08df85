/* proc_single_thread_unlock.c -- glibc's unlock before and after pthread_create.
 *
 * A process locks a normal mutex, makes a CLONE_VM sibling, and locks the mutex
 * again: it sleeps in futex_wait.  The sibling unlocks it.  Until the process has
 * ever called pthread_create, glibc (2.36) unlocks with a plain store and no
 * FUTEX_WAKE: the sleeper sleeps on although the mutex is free, until a caught
 * signal takes it out of futex_wait and glibc, looking again, takes the mutex.
 * Once a thread was made (even one that has ended), unlock wakes the sleeper.
 *
 * Each case runs in a fork child of its own.  Keys, per case (single,
 * threaded): woke (1 if the second lock returned within 300 ms of the unlock),
 * asleep_in (the sleeper's /proc state and syscall then: "S futex" while it
 * sleeps), after_signal (1 if the lock returned once SIGUSR1 was caught).
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static volatile int took;  /* the memory is shared with the sibling: CLONE_VM */
static volatile pid_t sleeper;

static void on_usr1(int sig) { (void)sig; }

static void *nothing(void *arg) { return arg; }

static int sibling(void *arg)
{
    const char *name = arg;
    char key[64], syscall_name[16];
    sleep_ms(100);  /* the process is in its second lock by now */
    pthread_mutex_unlock(&mutex);
    sleep_ms(300);
    snprintf(key, sizeof key, "%s.woke", name);
    kv(key, "%d", took);
    long nr = proc_syscall(pdir(sleeper));
    snprintf(syscall_name, sizeof syscall_name, "%s", nr == SYS_futex ? "futex" : "other");
    snprintf(key, sizeof key, "%s.asleep_in", name);
    kv(key, "%c %s", took ? '-' : proc_state(pdir(sleeper)), took ? "-" : syscall_name);
    kill(sleeper, SIGUSR1);
    sleep_ms(300);
    snprintf(key, sizeof key, "%s.after_signal", name);
    kv(key, "%d", took);
    return 0;
}

static void run(const char *name, int make_a_thread)
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        if (make_a_thread) {
            pthread_t t;
            pthread_create(&t, NULL, nothing, NULL);
            pthread_join(t, NULL);
        }
        sleeper = getpid();
        pthread_mutex_lock(&mutex);
        char *stack = malloc(1 << 20);
        pid_t sib = clone(sibling, stack + (1 << 20), CLONE_VM | CLONE_FILES | SIGCHLD,
                          (void *)name);
        pthread_mutex_lock(&mutex);  /* sleeps until woken */
        took = 1;
        reap(sib, 5000);
        _exit(0);
    }
    reap(pid, 5000);
}

int main(void)
{
    run("single", 0);
    run("threaded", 1);
    return 0;
}
