/* proc_cgroup.c -- which cgroup v2 group a new process is in, and what a move moves.
 *
 * Below this process's own group (the "0::" line of /proc/self/cgroup, on the
 * cgroup2 mount) it makes a group of its own with two groups a and b in it, and
 * reports each process's group by its last path element:
 *   fork_child, vfork_child, spawn_child, clone3_child  a new process's group
 *   parent_after_child_moved                            the parent, once its child moved
 *   thread_move, after_thread_moved                     a thread's write of "0" to
 *                                                       cgroup.procs, and its process after
 *   clone_into                                          clone3(CLONE_INTO_CGROUP, b)
 *   exec_kept                                           what a program exec'd reads
 *   rmdir_with_zombie                                   rmdir of a group whose only
 *                                                       process has exited, unreaped
 * or, where the group cannot be made, mkdir=-errno and nothing else.
 * Everything it made is removed before it exits.
 */
#include "proc_common.h"
#include <linux/sched.h>
#include <pthread.h>
#include <spawn.h>

extern char **environ;

static char mount_dir[256], own[512], top[1024], group_a[1100], group_b[1100];

static void group_of(pid_t pid, char *out, size_t n)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, n, "%s", line + 3);
        }
    if (f)
        fclose(f);
}

static const char *last(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : "top";
}

static void report_group(const char *key, pid_t pid)
{
    char g[1024];
    group_of(pid, g, sizeof g);
    kv(key, "%s", last(g));
}

static int move_self(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = write(fd, "0", 1) < 0 ? -errno : 0;
    close(fd);
    return r;
}

static void find_mount(void)
{
    char line[2048];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *sep = strstr(line, " - cgroup2 ");
        if (!sep)
            continue;
        char *field = line;
        for (int i = 0; i < 4 && field; i++)
            field = strchr(field, ' ') ? strchr(field, ' ') + 1 : NULL;
        if (field)
            snprintf(mount_dir, sizeof mount_dir, "%.*s", (int)strcspn(field, " "), field);
    }
    if (f)
        fclose(f);
}

static void *thread_moves(void *arg)
{
    kv("thread_move", "%d", move_self(arg));
    return NULL;
}

int main(void)
{
    clean_signals();
    find_mount();
    group_of(getpid(), own, sizeof own);
    if (!mount_dir[0]) {
        kv("mkdir", "%d", -ENOENT);
        return 0;
    }
    snprintf(top, sizeof top, "%s%s/forklab-fact-%d", mount_dir, strcmp(own, "/") ? own : "",
             (int)getpid());
    if (mkdir(top, 0755) < 0) {
        kv("mkdir", "%d", -errno);
        return 0;
    }
    kv("mkdir", "0");
    snprintf(group_a, sizeof group_a, "%s/a", top);
    snprintf(group_b, sizeof group_b, "%s/b", top);
    mkdir(group_a, 0755);
    mkdir(group_b, 0755);
    char own_dir[1024];
    snprintf(own_dir, sizeof own_dir, "%s%s", mount_dir, strcmp(own, "/") ? own : "");
    move_self(group_a);

    int ready[2];
    if (pipe(ready) < 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        child_guard();
        move_self(group_b);
        char c = 'x';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 1;
    report_group("fork_child", child);
    report_group("parent_after_child_moved", getpid());
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    child = vfork();
    if (child == 0) {
        char *argv[] = {"/bin/sleep", "10", NULL};
        execve(argv[0], argv, environ);
        _exit(127);
    }
    report_group("vfork_child", child);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    char *argv[] = {"/bin/sleep", "10", NULL};
    if (posix_spawn(&child, argv[0], NULL, NULL, argv, environ) == 0) {
        report_group("spawn_child", child);
        report_group("exec_kept", child);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    child = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (child == 0) {
        pause();
        _exit(0);
    }
    report_group("clone3_child", child);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    int b = open(group_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (unsigned long long)b;
    child = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (child == 0) {
        pause();
        _exit(0);
    }
    if (child > 0) {
        report_group("clone_into", child);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    } else {
        kv("clone_into", "-%d", errno);
    }
    close(b);

    pthread_t t;
    pthread_create(&t, NULL, thread_moves, group_b);
    pthread_join(t, NULL);
    report_group("after_thread_moved", getpid());

    move_self(own_dir);
    child = fork();
    if (child == 0) {
        move_self(group_a);
        _exit(0);
    }
    sleep_ms(100); /* it has exited and waits, a zombie, to be reaped */
    kv("rmdir_with_zombie", "%d", rmdir(group_a) < 0 ? -errno : 0);
    waitpid(child, NULL, 0);
    rmdir(group_a);
    rmdir(group_b);
    rmdir(top);
    return 0;
}
