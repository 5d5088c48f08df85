/* proc_mutex_kinds.c -- pthread_mutex_trylock, and error-checking mutexes
 * (glibc): what each call returns, from the owner, another thread, a fork child
 * and a vfork child.
 *
 * pthread functions return the error number (errno is left alone).  An
 * error-checking mutex records its owner's kernel thread id; fork copies the
 * mutex as it is, so in the child it is held by the parent's thread id, which
 * no thread of the child has.  Keys (each value the call's return, by name):
 *   trylock.free, trylock.other, trylock.self     normal mutex: free, held by
 *                                                 another thread, held by the caller
 *   normal.unlock_other                           a normal mutex unlocked by a
 *                                                 thread that does not hold it
 *   normal.errno                                  errno after those calls (0)
 *   check.relock            errorcheck: the owner locks again (EDEADLK)
 *   check.trylock_self      errorcheck: the owner's trylock (EBUSY)
 *   check.unlock_other      errorcheck: another thread unlocks it (EPERM)
 *   check.unlock_free       errorcheck: unlock of a free mutex (EPERM)
 *   check.unlock            errorcheck: the owner unlocks (0)
 *   fork.unlock             errorcheck held by the parent: the fork child's unlock
 *   fork.trylock            the child's trylock of it (EBUSY)
 *   fork.lock_blocks        1 if the child's lock sleeps (in futex) for good
 *   fork.normal_unlock      a normal mutex held by the parent: the child's unlock (0)
 *   vfork.unlock            errorcheck held by the parent: a vfork child's unlock
 *                           (EPERM: the memory is shared, the thread id is not)
 */
#include "proc_common.h"

#include <pthread.h>

static pthread_mutex_t normal = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t check;
static pthread_mutex_t check_fork;
static pthread_mutex_t normal_fork = PTHREAD_MUTEX_INITIALIZER;

static const char *rname(int r) { return ename(r); }

static void *other_thread(void *arg)
{
    (void)arg;
    kv("trylock.other", "%s", rname(pthread_mutex_trylock(&normal)));
    kv("check.unlock_other", "%s", rname(pthread_mutex_unlock(&check)));
    return NULL;
}

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&normal);
    return NULL;
}

static void *unlocker(void *arg)
{
    (void)arg;
    kv("normal.unlock_other", "%s", rname(pthread_mutex_unlock(&normal)));
    return NULL;
}

int main(void)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&check, &attr);
    pthread_mutex_init(&check_fork, &attr);
    pthread_t t;

    errno = 0;
    kv("trylock.free", "%s", rname(pthread_mutex_trylock(&normal)));
    pthread_mutex_lock(&check);
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    kv("trylock.self", "%s", rname(pthread_mutex_trylock(&normal)));
    pthread_mutex_unlock(&normal);
    pthread_create(&t, NULL, holder, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, unlocker, NULL);
    pthread_join(t, NULL);
    kv("normal.errno", "%s", ename(errno));

    kv("check.relock", "%s", rname(pthread_mutex_lock(&check)));
    kv("check.trylock_self", "%s", rname(pthread_mutex_trylock(&check)));
    kv("check.unlock", "%s", rname(pthread_mutex_unlock(&check)));
    kv("check.unlock_free", "%s", rname(pthread_mutex_unlock(&check)));

    pthread_mutex_lock(&check_fork);
    pthread_mutex_lock(&normal_fork);
    pid_t pid = fork();
    if (pid == 0) {
        child_guard();
        kv("fork.unlock", "%s", rname(pthread_mutex_unlock(&check_fork)));
        kv("fork.trylock", "%s", rname(pthread_mutex_trylock(&check_fork)));
        kv("fork.normal_unlock", "%s", rname(pthread_mutex_unlock(&normal_fork)));
        pthread_mutex_lock(&check_fork);  /* sleeps for good */
        _exit(0);
    }
    int blocked = wait_blocked(pdir(pid), SYS_futex, 2000);
    sleep_ms(50);
    kv("fork.lock_blocks", "%d", blocked && proc_state(pdir(pid)) == 'S');
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    static volatile int vfork_result;
    pid = vfork();
    if (pid == 0) {
        vfork_result = pthread_mutex_unlock(&check_fork);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    kv("vfork.unlock", "%s", rname(vfork_result));
    return 0;
}
