/* proc_exit.c -- exit statuses as waitpid reports them, death by signal,
 * and who becomes the parent of an orphan.
 */
#include "proc_common.h"

#include <sys/resource.h>

static void status_case(const char *prefix, int how)
{
    pid_t c = fork();
    if (c == 0) {
        child_guard();
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);   /* no core file: WCOREDUMP 0 */
        switch (how) {
        case 0: exit(3);
        case 1: exit(256 + 3);
        case 2: exit(-1);
        case 3: { volatile int *p = NULL; *p = 1; break; }
        case 4: abort();
        case 5: pause(); break;
        }
        _exit(99);
    }
    if (how == 5) {
        wait_blocked(pdir(c), -1, 2000);
        kill(c, SIGKILL);
    }
    int st = reap(c, 3000);
    char k[128];
    snprintf(k, sizeof k, "%s.raw_status", prefix);
    kv(k, "%d", st);
    snprintf(k, sizeof k, "%s.WIFEXITED", prefix);
    kv(k, "%d", WIFEXITED(st) ? 1 : 0);
    if (WIFEXITED(st)) {
        snprintf(k, sizeof k, "%s.WEXITSTATUS", prefix);
        kv(k, "%d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        snprintf(k, sizeof k, "%s.WTERMSIG", prefix);
        kv(k, "%d", WTERMSIG(st));
        snprintf(k, sizeof k, "%s.WCOREDUMP", prefix);
        kv(k, "%d", WCOREDUMP(st) ? 1 : 0);
    }
}

/* Is pid an ancestor of ours (or init)? */
static int is_ancestor_or_init(pid_t pid)
{
    if (pid == 1)
        return 1;
    pid_t p = getppid();
    for (int i = 0; i < 64 && p > 1; i++) {
        if (p == pid)
            return 1;
        char v[32];
        proc_status(pdir(p), "PPid", v, sizeof v);
        p = atoi(v);
    }
    return 0;
}

/* A forks B and exits; B reports its new parent on the result pipe. */
static void orphan_case(const char *prefix)
{
    int res[2], sync[2];
    if (pipe(res) < 0 || pipe(sync) < 0)
        _exit(2);
    pid_t a = fork();
    if (a == 0) {
        pid_t b = fork();
        if (b == 0) {
            close(res[0]);
            close(sync[0]);
            pid_t old = getppid();
            close(sync[1]);   /* A may exit now */
            long end = now_ms() + 3000;
            while (getppid() == old && now_ms() < end)
                sleep_ms(1);
            pid_t now = getppid();
            int info[3] = {old, now, getpid()};
            if (write(res[1], info, sizeof info) != sizeof info)
                _exit(3);
            _exit(0);
        }
        /* A waits until B has noted its first parent: B holds the only
         * other write end of sync and closes it then. */
        close(res[1]);
        close(sync[1]);
        char ch;
        while (read(sync[0], &ch, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(sync[0]);
    close(sync[1]);
    close(res[1]);
    int st = reap(a, 2000);
    (void)st;
    int info[3] = {-1, -1, -1};
    if (read(res[0], info, sizeof info) != sizeof info)
        info[0] = info[1] = info[2] = -1;
    close(res[0]);
    char k[128], v[64];
    snprintf(k, sizeof k, "%s.old_parent_was_A", prefix);
    kv(k, "%d", info[0] == a);
    snprintf(k, sizeof k, "%s.new_ppid_is_1", prefix);
    kv(k, "%d", info[1] == 1);
    snprintf(k, sizeof k, "%s.new_ppid_is_us", prefix);
    kv(k, "%d", info[1] == getpid());
    snprintf(k, sizeof k, "%s.new_parent_is_ancestor_or_init", prefix);
    kv(k, "%d", is_ancestor_or_init(info[1]));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", info[1]);
    if (slurp(path, v, sizeof v) < 0)
        snprintf(v, sizeof v, "?");
    v[strcspn(v, "\n")] = 0;
    snprintf(k, sizeof k, "%s.new_parent_comm", prefix);
    kv(k, "%s", v);
    /* B exits right after reporting: reap it if it became our child,
     * otherwise wait until it has exited (reaping is then its new
     * parent's job; this environment's init reaps lazily). */
    if (info[2] > 0) {
        if (info[1] == getpid())
            reap(info[2], 2000);
        long end = now_ms() + 1000;
        char st;
        while ((st = proc_state(pdir(info[2]))) != '?' && st != 'Z' && now_ms() < end)
            sleep_ms(2);
    }
}

int main(void)
{
    alarm(30);
    clean_signals();
    status_case("exit3", 0);
    status_case("exit259", 1);
    status_case("exit_minus1", 2);
    status_case("segv", 3);
    status_case("abort", 4);
    status_case("sigkill", 5);

    int sub = -1;
    prctl(PR_GET_CHILD_SUBREAPER, &sub);
    kv("self.is_subreaper", "%d", sub);
    orphan_case("orphan_plain");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    orphan_case("orphan_subreaper");
    return 0;
}
