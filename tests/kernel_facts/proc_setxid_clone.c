/* proc_setxid_clone.c -- glibc's setresuid broadcast in a process made by a raw
 * clone (no CLONE_VM), called from a thread of that process.
 *
 * glibc makes every thread take the new ids by sending SIGSETXID with tgkill to
 * the thread ids its thread descriptors hold.  A raw clone child runs its main
 * thread on a copy of its creator's descriptor, whose thread id is its creator's:
 * no thread of the child.  Run as root (the ids change only for root).
 *
 * Keys (the saved uid of the main thread and of the calling thread afterwards,
 * from /proc/self/task/TID/status):
 *   clone.main_saved_uid, clone.thread_saved_uid
 *   fork.main_saved_uid,  fork.thread_saved_uid   the same in a fork child
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>

static pid_t main_tid;
static const char *prefix;

static int saved_uid(pid_t tid)
{
    char dir[64], text[128] = "";
    snprintf(dir, sizeof dir, "/proc/self/task/%d", (int)tid);
    proc_status(dir, "Uid", text, sizeof text);
    int real = -1, eff = -1, saved = -1;
    sscanf(text, "%d %d %d", &real, &eff, &saved);
    return saved;
}

static void *caller(void *arg)
{
    (void)arg;
    char key[64];
    setresuid(0, 0, 65534);
    snprintf(key, sizeof key, "%s.thread_saved_uid", prefix);
    kv(key, "%d", saved_uid((pid_t)syscall(SYS_gettid)));
    snprintf(key, sizeof key, "%s.main_saved_uid", prefix);
    kv(key, "%d", saved_uid(main_tid));
    return NULL;
}

static void in_child(void)
{
    main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t t;
    if (pthread_create(&t, NULL, caller, NULL) != 0)
        _exit(2);
    pthread_join(t, NULL);
    _exit(0);
}

int main(void)
{
    prefix = "clone";
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        in_child();
    reap(pid, 5000);
    prefix = "fork";
    pid = fork();
    if (pid == 0)
        in_child();
    reap(pid, 5000);
    return 0;
}
