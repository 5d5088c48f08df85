/* proc_mqueue.c -- POSIX message queue descriptors: what they are to fork,
 * execve and posix_spawn, and to the fd calls.
 *
 * Keys:
 *   open            0, or the errno of mq_open (O_RDWR|O_CREAT|O_EXCL, 1 message of 16 bytes)
 *   unlink          0, or the errno of mq_unlink right after: the queue lives on, nameless
 *   reopen          the errno of mq_open of the name again, without O_CREAT
 *   cloexec         1 if glibc's mq_open (the kernel's, glibc adds nothing) set FD_CLOEXEC
 *   fork            1 if a forked child has the fd and it is the same open file (kcmp-free:
 *                   the child sends a message the parent then receives)
 *   exec            1 if the fd is still open after execve (cleared cloexec: "exec.cleared")
 *   read            what read(2) of the fd returns: its first 6 bytes, or the errno
 *   write           write(2) of one byte: the count or the errno
 *   lseek           lseek(fd, 0, SEEK_CUR): the offset or the errno
 */
#include "proc_common.h"

#include <mqueue.h>
#include <spawn.h>
#include <sys/mman.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "has") == 0) {  /* after exec: is fd argv[2] open? */
        kv(argv[2][0] == 'c' ? "exec.cleared" : "exec", "%d",
           fcntl(atoi(argv[2] + 1), F_GETFD) >= 0);
        return 0;
    }
    char name[64];
    snprintf(name, sizeof name, "/forklab-fact-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 1, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    kv("open", "%s", q == (mqd_t)-1 ? ename(errno) : "0");
    if (q == (mqd_t)-1)
        return 0;
    kv("unlink", "%s", mq_unlink(name) == 0 ? "0" : ename(errno));
    mqd_t again = mq_open(name, O_RDWR);
    kv("reopen", "%s", again == (mqd_t)-1 ? ename(errno) : "0");
    kv("cloexec", "%d", (fcntl(q, F_GETFD) & FD_CLOEXEC) != 0);

    pid_t pid = fork();
    if (pid == 0) {
        _exit(mq_send(q, "x", 1, 0) == 0 ? 0 : 1);
    }
    int st = reap(pid, 2000);
    char buf[64];
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    kv("fork", "%d", WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 1 && buf[0] == 'x');

    char arg[16];
    snprintf(arg, sizeof arg, "o%d", (int)q);
    char *args[] = {argv[0], "has", arg, NULL};
    pid = fork();
    if (pid == 0) {
        execve(argv[0], args, environ);
        _exit(4);
    }
    reap(pid, 2000);
    posix_spawn(&pid, argv[0], NULL, NULL, args, environ);
    reap(pid, 2000);  /* (prints exec= again: the same answer for posix_spawn) */
    snprintf(arg, sizeof arg, "c%d", (int)q);
    pid = fork();
    if (pid == 0) {
        fcntl(q, F_SETFD, 0);
        execve(argv[0], args, environ);
        _exit(4);
    }
    reap(pid, 2000);

    memset(buf, 0, sizeof buf);
    n = read(q, buf, 6);
    kv("read", "%s", n < 0 ? ename(errno) : buf);
    n = write(q, "y", 1);
    kv("write", "%s", n < 0 ? ename(errno) : "1");
    off_t off = lseek(q, 0, SEEK_CUR);
    kv("lseek", "%s", off < 0 ? ename(errno) : "ok");
    if (off >= 0)
        kv("lseek.offset", "%ld", (long)off);
    off = lseek(q, 0, SEEK_END);
    kv("lseek.end", "%ld", (long)off);
    memset(buf, 0, sizeof buf);
    n = pread(q, buf, sizeof buf - 1, 0);
    kv("pread.length", "%ld", (long)n);
    kv("pread.text", "%s", buf);
    n = pread(q, buf, sizeof buf - 1, 100);
    kv("pread.past_end", "%ld", (long)n);
    n = pwrite(q, "y", 1, 0);
    kv("pwrite", "%s", n < 0 ? ename(errno) : "1");
    kv("ftruncate", "%s", ftruncate(q, 0) < 0 ? ename(errno) : "0");
    void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, q, 0);
    kv("mmap", "%s", m == MAP_FAILED ? ename(errno) : "0");
    return 0;
}
