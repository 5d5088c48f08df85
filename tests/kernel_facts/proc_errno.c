/* proc_errno.c -- whose errno is it?  vfork children share the parent's
 * memory (errno included); fork children have their own copy; posix_spawn
 * returns the error number instead of setting errno, and reaps the failed
 * child itself.
 */
#include "proc_common.h"

#include <spawn.h>

extern char **environ;

static void report_children_left(const char *key)
{
    errno = 0;
    int st;
    pid_t r = waitpid(-1, &st, WNOHANG);
    int e = errno;
    char k[128];
    snprintf(k, sizeof k, "%s.waitpid_any", key);
    kv(k, "%d", (int)r);
    snprintf(k, sizeof k, "%s.waitpid_any_errno", key);
    kv(k, "%s", e == ECHILD ? "ECHILD" : e ? strerrorname_np(e) : "0");
}

static void spawn_case(const char *key, const char *path, int use_p,
                       posix_spawn_file_actions_t *fa)
{
    char *argv[] = {(char *)path, NULL};
    pid_t pid = -12345;
    errno = 0;
    int r = use_p ? posix_spawnp(&pid, path, fa, NULL, argv, environ)
                  : posix_spawn(&pid, path, fa, NULL, argv, environ);
    int e = errno;
    char k[128];
    snprintf(k, sizeof k, "%s.return", key);
    kv(k, "%s", ename(r));
    snprintf(k, sizeof k, "%s.errno_after", key);
    kv(k, "%s", ename(e));
    snprintf(k, sizeof k, "%s.pid_written", key);
    kv(k, "%d", pid != -12345);
    if (r == 0) {
        int st = reap(pid, 3000);
        snprintf(k, sizeof k, "%s.child_status", key);
        kv(k, "%s%d", st >= 0 && WIFEXITED(st) ? "exit" : "raw", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
    }
    report_children_left(key);
}

int main(void)
{
    alarm(30);
    clean_signals();
    char *argv_bad[] = {"nonexistent", NULL};
    char *argv_true[] = {"true", NULL};

    /* 1. vfork child: failed execve writes ENOENT into the shared errno. */
    errno = 0;
    pid_t p = vfork();
    if (p == 0) {
        execve("/nonexistent", argv_bad, environ);
        _exit(127);
    }
    int e = errno;
    int st = reap(p, 3000);
    kv("vfork_failed_exec.parent_errno", "%s", ename(e));
    kv("vfork_failed_exec.child_exit", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* Contrast: vfork child whose exec succeeds leaves errno alone. */
    errno = 0;
    p = vfork();
    if (p == 0) {
        execve("/bin/true", argv_true, environ);
        _exit(127);
    }
    e = errno;
    reap(p, 3000);
    kv("vfork_ok_exec.parent_errno", "%s", ename(e));

    /* 2. fork child: errno after its failed exec is its own copy. */
    int fds[2];
    if (pipe(fds) < 0)
        return 2;
    errno = 0;
    p = fork();
    if (p == 0) {
        child_guard();
        close(fds[0]);
        execve("/nonexistent", argv_bad, environ);
        int ce = errno;
        if (write(fds[1], &ce, sizeof ce) < 0)
            _exit(3);
        _exit(127);
    }
    close(fds[1]);
    int child_errno = -1;
    if (read(fds[0], &child_errno, sizeof child_errno) != sizeof child_errno)
        child_errno = -1;
    close(fds[0]);
    e = errno;
    st = reap(p, 3000);
    kv("fork_failed_exec.child_errno", "%s", ename(child_errno));
    kv("fork_failed_exec.parent_errno", "%s", ename(e));
    kv("fork_failed_exec.child_exit", "%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* 3. posix_spawn failures come back as the return value. */
    spawn_case("spawn_ok", "/bin/true", 0, NULL);
    spawn_case("spawn_nonexistent", "/nonexistent", 0, NULL);
    spawn_case("spawnp_nonexistent", "no-such-program-forklab", 1, NULL);

    int fd = open("not_executable", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "hello\n", 6) != 6)
        return 2;
    close(fd);
    spawn_case("spawn_not_executable", "./not_executable", 0, NULL);

    fd = open("no_magic", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0 || write(fd, "exit 0\n", 7) != 7)
        return 2;
    close(fd);
    spawn_case("spawn_no_magic", "./no_magic", 0, NULL);

    /* 4. a failing file action: open of a missing file without O_CREAT. */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 5, "missing_file", O_RDONLY, 0);
    spawn_case("spawn_bad_addopen", "/bin/true", 0, &fa);
    posix_spawn_file_actions_destroy(&fa);
    return 0;
}
