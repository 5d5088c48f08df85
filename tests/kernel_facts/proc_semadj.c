/* proc_semadj.c -- System V semaphore adjustments (semop with SEM_UNDO) under fork,
 * vfork, clone, pthread_create, posix_spawn, execve and unshare(CLONE_NEWIPC).
 *
 * One set of one semaphore (semget(IPC_PRIVATE)); every semop is IPC_NOWAIT. Each
 * case: the origin adds 1 with SEM_UNDO first where it says so, a new task adds 1
 * with SEM_UNDO and ends, and "CASE.value" is the value after it ended, which
 * tells what the task's adjustments were and when they were applied. The undo
 * list is a task's: CLONE_SYSVSEM (which pthread_create passes) shares it, and the
 * kernel applies it when its last task ends.
 */
#include "proc_common.h"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/sem.h>

extern char **environ;
static int id;
static char stack[256 * 1024];
static char exe[4096];

static int value(void)
{
    return semctl(id, 0, GETVAL);
}

static const char *add(int delta, int undo)
{
    struct sembuf b = {0, (short)delta, (short)((undo ? SEM_UNDO : 0) | IPC_NOWAIT)};
    return semop(id, &b, 1) == 0 ? "0" : ename(errno);
}

static void set(int v)
{
    semctl(id, 0, SETVAL, v);
}

static int add_one(void *arg)
{
    (void)arg;
    add(1, 1);
    return 0;
}

static void *thread_add(void *arg)
{
    (void)arg;
    add(1, 1);
    return NULL;
}

static void *thread_unshare(void *arg)
{
    (void)arg;
    add(1, 1);
    kv("thread_unshare.rc", "%d", unshare(CLONE_NEWIPC));
    kv("thread_unshare.op_after", "%s", add(1, 1));
    return NULL;
}

/* a process whose own +1 (and nothing else) is undone when it ends */
static void in_child(const char *c, void (*body)(void))
{
    char key[96];
    set(0);
    pid_t pid = fork();
    if (pid == 0) {
        add(1, 1); /* this process's adjustment: -1 */
        body();
        _exit(0);
    }
    reap(pid, 5000);
    snprintf(key, sizeof key, "%s.value", c);
    kv(key, "%d", value());
}

static void fork_case(void)
{
    pid_t k = fork();
    if (k == 0) {
        add(1, 1);
        _exit(0);
    }
    reap(k, 5000);
    kv("fork.child_ended", "%d", value()); /* 2 - child's own 1: a list of its own */
}

static void vfork_case(void)
{
    static const char *rc;
    pid_t k = vfork();
    if (k == 0) {
        rc = add(1, 1);
        _exit(0);
    }
    reap(k, 5000);
    kv("vfork.rc", "%s", rc);
    kv("vfork.child_ended", "%d", value());
}

static void clone_case(void)
{
    pid_t k = clone(add_one, stack + sizeof stack, SIGCHLD, NULL);
    reap(k, 5000);
    kv("clone.child_ended", "%d", value());
}

static void clone_sysvsem_case(void)
{
    pid_t k = clone(add_one, stack + sizeof stack, CLONE_SYSVSEM | SIGCHLD, NULL);
    reap(k, 5000);
    kv("clone_sysvsem.child_ended", "%d", value()); /* shared: nothing applied yet */
}

static void thread_case(void)
{
    pthread_t th;
    pthread_create(&th, NULL, thread_add, NULL);
    pthread_join(th, NULL);
    kv("thread.ended", "%d", value());
}

static void exec_case(void)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%d", id);
    char *argv[] = {exe, "exit", idtext, NULL};
    execve(exe, argv, environ);
}

static void spawn_case(void)
{
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%d", id);
    char *argv[] = {exe, "add", idtext, NULL};
    pid_t k;
    posix_spawn(&k, exe, NULL, NULL, argv, environ);
    reap(k, 5000);
    kv("spawn.child_ended", "%d", value());
}

static void unshare_case(void)
{
    kv("unshare.rc", "%d", unshare(CLONE_NEWIPC));
    kv("unshare.op_after", "%s", add(1, 1));
    /* the origin reads the value while this process lives on */
}

static void thread_unshare_case(void)
{
    pthread_t th;
    pthread_create(&th, NULL, thread_unshare, NULL);
    pthread_join(th, NULL);
    kv("thread_unshare.after_join", "%d", value());
}

static void nothing(void)
{
}

int main(int argc, char **argv)
{
    if (argc == 3) { /* the program exec'd or spawned */
        id = atoi(argv[2]);
        if (strcmp(argv[1], "add") == 0)
            add(1, 1);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return 1;
    exe[n] = 0;
    id = semget(IPC_PRIVATE, 1, 0600);
    if (id < 0) {
        kv("semget", "%s", ename(errno));
        return 0;
    }
    kv("start.value", "%d", value());
    in_child("own", nothing);               /* 1 - 1 */
    in_child("fork", fork_case);            /* the child's +1 undone at its end */
    in_child("vfork", vfork_case);
    in_child("clone", clone_case);
    in_child("clone_sysvsem", clone_sysvsem_case); /* both +1 undone with the last */
    in_child("thread", thread_case);
    in_child("exec", exec_case);            /* undone when the new image ends */
    in_child("spawn", spawn_case);
    in_child("thread_unshare", thread_unshare_case);
    /* unshare(CLONE_NEWIPC) applies the caller's list at once (exit_sem) */
    set(0);
    int sync[2];
    if (pipe(sync) != 0)
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        close(sync[0]);
        add(1, 1);
        unshare_case();
        if (write(sync[1], "u", 1) != 1)
            _exit(91);
        sleep_ms(200);
        _exit(0);
    }
    close(sync[1]);
    char b;
    if (read(sync[0], &b, 1) == 1)
        kv("unshare.value_while_alive", "%d", value());
    reap(pid, 5000);
    kv("unshare.value", "%d", value());
    /* CLONE_SYSVSEM with CLONE_NEWIPC: an undo list cannot span two namespaces */
    pid = clone(add_one, stack + sizeof stack, CLONE_SYSVSEM | CLONE_NEWIPC | SIGCHLD, NULL);
    kv("clone_sysvsem_newipc", "%s", pid < 0 ? ename(errno) : "0");
    if (pid > 0)
        reap(pid, 5000);
    /* the capability to make the IPC namespace is checked first (EPERM but for root);
     * with a new user namespace, anyone has it */
    pid = clone(add_one, stack + sizeof stack,
                CLONE_SYSVSEM | CLONE_NEWIPC | CLONE_NEWUSER | SIGCHLD, NULL);
    kv("clone_sysvsem_newipc_userns", "%s", pid < 0 ? ename(errno) : "0");
    if (pid > 0)
        reap(pid, 5000);
    /* the bounds: a value of at most 32767 (SEMVMX), an adjustment within -32768..32767;
     * an adjustment that would take the value below 0 at the end leaves it at 0 */
    set(0);
    pid = fork();
    if (pid == 0) {
        add(5, 1);
        add(-5, 0);
        _exit(0);
    }
    reap(pid, 5000);
    kv("clamp.value", "%d", value());
    set(32767);
    kv("range.past_max", "%s", add(1, 0));
    set(0);
    pid = fork();
    if (pid == 0) {
        kv("range.undo_max", "%s", add(32767, 1)); /* adjustment -32767 */
        add(-32767, 0);
        kv("range.undo_min", "%s", add(1, 1));      /* -32768 */
        kv("range.undo_past", "%s", add(1, 1));     /* -32769 */
        kv("range.would_block", "%s", add(-3, 0));  /* the value is 1 */
        kv("range.zero_nonzero", "%s", add(0, 0));
        _exit(0);
    }
    reap(pid, 5000);
    kv("range.end_value", "%d", value()); /* 1 - 32768: no less than 0 */
    semctl(id, 0, IPC_RMID);
    return 0;
}
