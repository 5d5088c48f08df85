/* proc_timers.c -- what fork, vfork, posix_spawn, pthread_create and execve do
 * with alarm(2), the interval timers (setitimer(2)), POSIX timers
 * (timer_create(2)) and the alternate signal stack (sigaltstack(2)).
 *
 * The parent sets alarm(100), ITIMER_VIRTUAL and ITIMER_PROF to 100 s, one
 * POSIX timer armed for 100 s (so nothing fires during the experiment) and a
 * 64 KiB alternate signal stack, then reports what each new process, thread
 * or image sees: "WHO.alarm" is what alarm(0) would return (whole seconds,
 * rounded as alarm(2) rounds them), "WHO.virtual" and "WHO.prof" the whole
 * seconds left, "WHO.timers" the entries of /proc/self/timers, "WHO.altstack"
 * the size of the alternate stack (0: none).  "alarm.rounds" is what alarm
 * returns for 99.6 s left; "thread_alarm_seen" what the main thread sees after
 * a thread called alarm(50).
 */
#include "proc_common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/time.h>

extern char **environ;

#define ALT_SIZE (64 * 1024)

static long left_seconds(int which)
{
    struct itimerval it;
    getitimer(which, &it);
    /* alarm(2)'s rounding (kernel/time/itimer.c alarm_setitimer) */
    long s = it.it_value.tv_sec;
    if ((!s && it.it_value.tv_usec) || it.it_value.tv_usec >= 500000)
        s++;
    return s;
}

static int posix_timers(void)
{
    char buf[4096];
    if (slurp("/proc/self/timers", buf, sizeof buf) < 0)
        return -1;
    int n = 0;
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, "ID:", 3) == 0;  /* not "ClockID:" */
    return n;
}

static long altstack(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) < 0)
        return -1;
    return (ss.ss_flags & SS_DISABLE) ? 0 : (long)ss.ss_size;
}

static void report(const char *who)
{
    char k[64];
    snprintf(k, sizeof k, "%s.alarm", who);
    kv(k, "%ld", left_seconds(ITIMER_REAL));
    snprintf(k, sizeof k, "%s.virtual", who);
    kv(k, "%ld", left_seconds(ITIMER_VIRTUAL));
    snprintf(k, sizeof k, "%s.prof", who);
    kv(k, "%ld", left_seconds(ITIMER_PROF));
    snprintf(k, sizeof k, "%s.timers", who);
    kv(k, "%d", posix_timers());
    snprintf(k, sizeof k, "%s.altstack", who);
    kv(k, "%ld", altstack());
}

static void *thread_main(void *arg)
{
    (void)arg;
    report("thread");
    alarm(50);
    return NULL;
}

static void arm(int which, long seconds)
{
    struct itimerval it = {{0, 0}, {seconds, 0}};
    setitimer(which, &it, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1) {  /* the new image of an exec or a spawn */
        report(argv[1]);
        return 0;
    }
    clean_signals();
    alarm(100);
    arm(ITIMER_VIRTUAL, 100);
    arm(ITIMER_PROF, 100);
    timer_t id;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    kv("timer_create", "%d", timer_create(CLOCK_MONOTONIC, &ev, &id));
    struct itimerspec spec = {{0, 0}, {100, 0}};
    kv("timer_settime", "%d", timer_settime(id, 0, &spec, NULL));
    static char alt[ALT_SIZE];
    stack_t ss = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0};
    kv("sigaltstack", "%d", sigaltstack(&ss, NULL));
    report("parent");

    struct itimerval rounding = {{0, 0}, {99, 600000}};
    setitimer(ITIMER_REAL, &rounding, NULL);
    kv("alarm.rounds", "%u", alarm(100));

    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        report("fork");
        _exit(0);
    }
    reap(pid, 5000);

    pid = vfork();
    if (pid == 0) {
        report("vfork");
        _exit(0);
    }
    reap(pid, 5000);

    char *args[] = {argv[0], "spawn", NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ) == 0)
        reap(pid, 5000);

    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    kv("thread_alarm_seen", "%ld", left_seconds(ITIMER_REAL));
    alarm(100);

    pid = fork();
    if (pid == 0) {
        child_guard();
        char *exec_args[] = {argv[0], "exec", NULL};
        execve("/proc/self/exe", exec_args, environ);
        _exit(99);
    }
    /* the forked child has no timers of its own to carry into its exec: arm
     * them there first */
    reap(pid, 5000);
    pid = fork();
    if (pid == 0) {
        child_guard();
        alarm(100);
        arm(ITIMER_VIRTUAL, 100);
        arm(ITIMER_PROF, 100);
        timer_t mine;
        timer_create(CLOCK_MONOTONIC, &ev, &mine);
        timer_settime(mine, 0, &spec, NULL);
        stack_t own = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0};
        sigaltstack(&own, NULL);
        report("before_exec");
        char *exec_args[] = {argv[0], "exec_armed", NULL};
        execve("/proc/self/exe", exec_args, environ);
        _exit(99);
    }
    reap(pid, 5000);
    alarm(0);
    return 0;
}
