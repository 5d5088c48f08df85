/* proc_wait_any.c -- which child waitpid(-1) reaps, WNOHANG, and waitid's WNOWAIT.
 *
 * do_wait walks the calling thread's children list, then each other thread's
 * (the thread list in order, from the caller on); a new child goes at the tail
 * of its creator's list, and a thread that ends hands its children to the first
 * live thread of the group, at the tail of its list.  So with several zombies,
 * waitpid(-1) reaps the oldest child of the calling thread first, whatever order
 * they ended in.
 *
 * Each case runs in a fork child of its own (so its children are only the
 * case's).  Keys:
 *   order.reaped         the children (named by creation order a, b, c) in the
 *                        order waitpid(-1) returned them; they ended c, a, b
 *   thread.reaped        main forks a, thread t forks b, main forks c; all end;
 *                        main's waitpid(-1) order
 *   thread_wait.reaped   the same three, reaped by t's waitpid(-1)
 *   thread_ended.reaped  main forks a, t forks b, main forks c, t ends; main's
 *                        order (b moved to the tail of main's list)
 *   handed.reaped        t forks b and ends, then main forks a; main's order
 *   nohang.running       waitpid(-1, WNOHANG) with a running child: return value
 *   nohang.zombie        the same once it has ended: 1 if it returned its pid
 *   echild.any, echild.nohang  with no child: errno of waitpid(-1, 0 / WNOHANG)
 *   nowait.state         a child's /proc state after waitid(WEXITED|WNOWAIT)
 *   nowait.again         1 if a second waitid(WNOWAIT) reports the same child
 *   nowait.reaped        1 if waitpid then reaps it, with its status (exit 7)
 */
#include "proc_common.h"

#include <pthread.h>

/* A child that runs until it is killed. */
static pid_t child_until_killed(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        for (;;)
            pause();
    }
    return pid;
}

static void end(pid_t pid)
{
    kill(pid, SIGKILL);
}

static void wait_zombie(pid_t pid)
{
    for (int i = 0; i < 2000 && proc_state(pdir(pid)) != 'Z'; i++)
        sleep_ms(1);
}

/* The letter of the child (a, b, c) whose pid is got. */
static char letter(pid_t got, const pid_t *kids)
{
    for (int i = 0; i < 3; i++)
        if (kids[i] == got)
            return (char)('a' + i);
    return '?';
}

static void reap_all(const char *key, const pid_t *kids)
{
    char order[4] = "???";
    for (int i = 0; i < 3; i++)
        order[i] = letter(waitpid(-1, NULL, 0), kids);
    kv(key, "%s", order);
}

static void order_case(void)
{
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = child_until_killed();
    int ends[3] = {2, 0, 1};  /* c, then a, then b */
    for (int i = 0; i < 3; i++) {
        end(kids[ends[i]]);
        wait_zombie(kids[ends[i]]);
    }
    reap_all("order.reaped", kids);
}

static pid_t thread_kid;
static int thread_reaps;
static pid_t *thread_kids;

static void *thread_forks(void *arg)
{
    (void)arg;
    thread_kid = fork();
    if (thread_kid == 0) {
        child_guard();
        _exit(0);
    }
    wait_zombie(thread_kid);
    return NULL;
}

static void *thread_waits(void *arg)
{
    (void)arg;
    if (thread_reaps)
        reap_all("thread_wait.reaped", thread_kids);
    return NULL;
}

/* Main forks a, a live thread forks b, main forks c; the reaper is main or t. */
static pthread_mutex_t step = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moved = PTHREAD_COND_INITIALIZER;
static int stage;

static void advance(int to)
{
    pthread_mutex_lock(&step);
    stage = to;
    pthread_cond_broadcast(&moved);
    pthread_mutex_unlock(&step);
}

static void await(int at)
{
    pthread_mutex_lock(&step);
    while (stage < at)
        pthread_cond_wait(&moved, &step);
    pthread_mutex_unlock(&step);
}

static void *live_thread(void *arg)
{
    (void)arg;
    await(1);
    thread_forks(NULL);
    advance(2);
    await(3);
    thread_waits(NULL);
    advance(4);
    return NULL;
}

/* Main forks a, t forks b, main forks c, then t ends: b goes to the tail of
 * main's list. */
static void thread_ended(void)
{
    pid_t kids[3];
    stage = 0;
    thread_reaps = 0;
    pthread_t t;
    pthread_create(&t, NULL, live_thread, NULL);
    kids[0] = fork();
    if (kids[0] == 0) {
        child_guard();
        _exit(0);
    }
    advance(1);
    await(2);
    kids[1] = thread_kid;
    kids[2] = fork();
    if (kids[2] == 0) {
        child_guard();
        _exit(0);
    }
    advance(3);
    pthread_join(t, NULL);
    for (int i = 0; i < 3; i++)
        wait_zombie(kids[i]);
    reap_all("thread_ended.reaped", kids);
}

static void live_case(int thread_reaps_them)
{
    pid_t kids[3];
    stage = 0;
    thread_reaps = thread_reaps_them;
    thread_kids = kids;
    pthread_t t;
    pthread_create(&t, NULL, live_thread, NULL);
    kids[0] = fork();
    if (kids[0] == 0) {
        child_guard();
        _exit(0);
    }
    advance(1);
    await(2);
    kids[1] = thread_kid;
    kids[2] = fork();
    if (kids[2] == 0) {
        child_guard();
        _exit(0);
    }
    for (int i = 0; i < 3; i++)
        wait_zombie(kids[i]);
    if (!thread_reaps_them)
        reap_all("thread.reaped", kids);
    advance(3);
    await(4);
    pthread_join(t, NULL);
}

/* t forks b, then main forks a, then t ends: b moves to the tail of main's list. */
static void handed_case(void)
{
    pid_t kids[3];
    pthread_t t;
    pthread_create(&t, NULL, thread_forks, NULL);
    pthread_join(t, NULL);
    kids[1] = thread_kid;
    kids[0] = fork();
    if (kids[0] == 0) {
        child_guard();
        _exit(0);
    }
    kids[2] = -1;
    wait_zombie(kids[0]);
    char order[3] = "??";
    for (int i = 0; i < 2; i++)
        order[i] = letter(waitpid(-1, NULL, 0), kids);
    kv("handed.reaped", "%s", order);
}

static void nohang_case(void)
{
    pid_t kid = child_until_killed();
    kv("nohang.running", "%d", (int)waitpid(-1, NULL, WNOHANG));
    end(kid);
    wait_zombie(kid);
    kv("nohang.zombie", "%d", waitpid(-1, NULL, WNOHANG) == kid);
    errno = 0;
    waitpid(-1, NULL, 0);
    kv("echild.any", "%s", ename(errno));
    errno = 0;
    kv("echild.nohang_returns", "%d", (int)waitpid(-1, NULL, WNOHANG));
    kv("echild.nohang", "%s", ename(errno));
}

static void nowait_case(void)
{
    pid_t kid = fork();
    if (kid == 0) {
        child_guard();
        _exit(7);
    }
    siginfo_t info = {0};
    waitid(P_PID, kid, &info, WEXITED | WNOWAIT);
    kv("nowait.code", "%d", info.si_status);
    kv("nowait.state", "%c", proc_state(pdir(kid)));
    siginfo_t again = {0};
    waitid(P_ALL, 0, &again, WEXITED | WNOWAIT);
    kv("nowait.again", "%d", again.si_pid == kid);
    int status = 0;
    kv("nowait.reaped", "%d", waitpid(kid, &status, 0) == kid && WIFEXITED(status)
                               && WEXITSTATUS(status) == 7);
}

static void in_child(void (*body)(void))
{
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        body();
        _exit(0);
    }
    reap(pid, 10000);
}

static void live_main(void) { live_case(0); }
static void live_thread_reaps(void) { live_case(1); }

int main(void)
{
    in_child(order_case);
    in_child(live_main);
    in_child(live_thread_reaps);
    in_child(thread_ended);
    in_child(handed_case);
    in_child(nohang_case);
    in_child(nowait_case);
    return 0;
}
