/* proc_dirstream.c -- directory streams (opendir, readdir) across fork and exec.
 *
 * Runs in a directory of its own holding one file, "f": the stream gives ".",
 * ".." and "f". glibc's stream is an fd and a buffer in the process's memory:
 * the first readdir fills the buffer (getdents64 of up to 32 KiB: the whole of a
 * small directory) and moves the fd's offset, which fork shares, to the end.
 *
 * Keys:
 *   cloexec             1 if opendir's fd is close-on-exec
 *   entries             how many entries a whole read gives
 *   offset_after_first  lseek(fd, 0, SEEK_CUR) after the first readdir (ext4: its end)
 *   after.child_reads   entries a child forked after the parent's first readdir reads
 *                       to the end (its copy of the buffer)
 *   before.child_reads  entries a child forked before any readdir reads, once the
 *                       parent has read them all (the shared offset is at the end)
 *   rewind.child_reads  the same after the child's lseek(fd, 0, SEEK_SET) (rewinddir
 *                       would also empty its buffer; lseek alone moves the fd only)
 *   exec                1 if the fd is open after execve
 *   closed              readdir after close(dirfd) with an empty buffer: "end" or errno
 */
#include "proc_common.h"

#include <dirent.h>

extern char **environ;

static int drain(DIR *d)
{
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    return n;
}

static int child_count(DIR *d, int rewind)
{
    int p[2];
    if (pipe(p) < 0)
        _exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        if (rewind)
            lseek(dirfd(d), 0, SEEK_SET);
        int n = drain(d);
        _exit(write(p[1], &n, sizeof n) == sizeof n ? 0 : 3);
    }
    int n = -1;
    if (read(p[0], &n, sizeof n) != sizeof n)
        n = -1;
    reap(pid, 2000);
    close(p[0]);
    close(p[1]);
    return n;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "has") == 0) {
        kv("exec", "%d", fcntl(atoi(argv[2]), F_GETFD) >= 0);
        return 0;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    self[len > 0 ? len : 0] = 0;
    char dir[] = "/tmp/forklab-fact-dirXXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0)
        return 1;
    close(open("f", O_WRONLY | O_CREAT, 0600));

    DIR *d = opendir(".");
    kv("cloexec", "%d", (fcntl(dirfd(d), F_GETFD) & FD_CLOEXEC) != 0);
    kv("entries", "%d", drain(d));
    closedir(d);

    d = opendir(".");
    readdir(d);
    kv("offset_after_first", "%lld", (long long)lseek(dirfd(d), 0, SEEK_CUR));
    kv("after.child_reads", "%d", child_count(d, 0));
    closedir(d);

    d = opendir(".");
    int p[2];
    if (pipe(p) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(p[0], &c, 1) != 1)  /* until the parent has read it all */
            _exit(3);
        kv("before.child_reads", "%d", drain(d));
        _exit(0);
    }
    drain(d);
    if (write(p[1], "x", 1) != 1)
        return 1;
    reap(pid, 2000);
    kv("rewind.child_reads", "%d", child_count(d, 1));

    char arg[16];
    snprintf(arg, sizeof arg, "%d", dirfd(d));
    char *args[] = {self, "has", arg, NULL};
    pid = fork();
    if (pid == 0) {
        execve(self, args, environ);
        _exit(4);
    }
    reap(pid, 2000);

    DIR *e = opendir(".");
    close(dirfd(e));
    errno = 0;
    struct dirent *got = readdir(e);
    kv("closed", "%s", got ? "entry" : errno ? ename(errno) : "end");

    unlink("f");
    if (chdir("/") == 0)
        rmdir(dir);
    return 0;
}
