/* Memory calls on part of a mapping: how the kernel splits and merges VMAs
 * (mprotect, madvise, munmap of a range), what mlock faults in and locks,
 * what fork does with locked pages, RLIMIT_MEMLOCK for an unprivileged user
 * (root only: it drops to nobody), mremap in place, and MADV_FREE without
 * memory pressure.
 *
 * vmas = how many lines of /proc/self/maps overlap [addr, addr + len).
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#include <sys/prctl.h>

#define NP 16
#define LEN (NP * PAGE)

static int vmas(pid_t pid, const char *p, size_t len)
{
    char path[64], line[512];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/maps");
    FILE *f = fopen(path, "r");
    if (!f)
        die("maps");
    int n = 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
            n++;
    }
    fclose(f);
    return n;
}

/* kB of smaps `Locked:` over the VMAs inside [p, p + len). */
static long locked_kb(pid_t pid, const char *p, size_t len)
{
    char path[64], line[512];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps");
    FILE *f = fopen(path, "r");
    if (!f)
        die("smaps");
    long total = 0;
    int inside = 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        long kb;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = a < hi && b > lo;
        else if (inside && sscanf(line, "Locked: %ld kB", &kb) == 1)
            total += kb;
    }
    fclose(f);
    return total;
}

/* Pages of [p, p + len) in VMAs whose VmFlags have `lo` (VM_LOCKED), and the
 * protection of the VMA holding p ("rw-p" -> 'w' or 'r'); -1 if unmapped. */
static long locked_pages(pid_t pid, const char *p, size_t len)
{
    char path[64], line[512];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps");
    FILE *f = fopen(path, "r");
    if (!f)
        die("smaps");
    long total = 0;
    unsigned long a = 0, b = 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    while (fgets(line, sizeof line, f)) {
        unsigned long x, y;
        if (sscanf(line, "%lx-%lx ", &x, &y) == 2 && strchr(line, '-') < strchr(line, ' '))
            a = x, b = y;
        else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " lo") && a < hi && b > lo)
            total += ((b < hi ? b : hi) - (a > lo ? a : lo)) / PAGE;
    }
    fclose(f);
    return total;
}

static int writable_at(const char *p)
{
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        die("maps");
    int w = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) == 3 && a <= (uintptr_t)p
            && (uintptr_t)p < b)
            w = perms[1] == 'w';
    }
    fclose(f);
    return w;
}

static long faults_of(int (*call)(const void *, size_t), char *p, size_t len, int *rc)
{
    long before = minflt();
    *rc = call(p, len) == 0 ? 0 : errno;
    return minflt() - before;
}

static int present(char *p, size_t len)
{
    return (int)pm_stat(0, p, len).present;
}

int main(void)
{
    char *p = map_anon(0, LEN);
    put("fresh_vmas", vmas(0, p, LEN));
    /* a range of a mapping never written */
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ);
    put("mprotect_range_vmas", vmas(0, p, LEN));
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
    put("mprotect_back_vmas", vmas(0, p, LEN));
    mprotect(p, 2 * PAGE, PROT_READ);
    put("mprotect_head_vmas", vmas(0, p, LEN));
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ);
    put("mprotect_adjacent_same_vmas", vmas(0, p, LEN));
    mprotect(p, LEN, PROT_READ | PROT_WRITE);
    /* written first: an anon_vma */
    write_pages(p, LEN);
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ);
    put("written_mprotect_range_vmas", vmas(0, p, LEN));
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
    put("written_mprotect_back_vmas", vmas(0, p, LEN));
    /* fork with the mapping split: do the child's pieces merge back? */
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
        printf("child_written_mprotect_back_vmas=%d\n", vmas(0, p, LEN));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    mprotect(p + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
    put("parent_after_fork_back_vmas", vmas(0, p, LEN));
    /* madvise on a range */
    madvise(p + 2 * PAGE, 2 * PAGE, MADV_DONTFORK);
    put("dontfork_range_vmas", vmas(0, p, LEN));
    madvise(p + 2 * PAGE, 2 * PAGE, MADV_DOFORK);
    put("dofork_back_vmas", vmas(0, p, LEN));
    madvise(p + 2 * PAGE, 2 * PAGE, MADV_DONTNEED);
    put("dontneed_range_vmas", vmas(0, p, LEN));
    put("dontneed_range_present", present(p, LEN));
    madvise(p + 2 * PAGE, 2 * PAGE, MADV_HUGEPAGE);
    put("hugepage_range_vmas", vmas(0, p, LEN));
    /* munmap of a range */
    munmap(p + 2 * PAGE, 2 * PAGE);
    put("munmap_range_vmas", vmas(0, p, LEN));
    put("munmap_range_present", present(p, 2 * PAGE) + present(p + 4 * PAGE, LEN - 4 * PAGE));
    /* calls over a hole */
    errno = 0;
    put("mprotect_over_hole_rc", mprotect(p, 6 * PAGE, PROT_READ) == 0 ? 0 : errno);
    put("mprotect_over_hole_vmas", vmas(0, p, LEN));
    put("mprotect_over_hole_head_writable", writable_at(p));
    put("mprotect_over_hole_tail_writable", writable_at(p + 4 * PAGE));
    mprotect(p, 2 * PAGE, PROT_READ | PROT_WRITE);
    errno = 0;
    put("madvise_over_hole_rc", madvise(p, 6 * PAGE, MADV_DONTFORK) == 0 ? 0 : errno);
    put("madvise_over_hole_vmas", vmas(0, p, LEN));
    madvise(p, LEN, MADV_DOFORK);
    put("munmap_hole_again_rc", munmap(p, 6 * PAGE) == 0 ? 0 : errno);
    put("munmap_all_vmas", vmas(0, p, LEN));
    munmap(p, LEN);
    put("unmapped_vmas", vmas(0, p, LEN));

    /* mlock */
    int rc;
    p = map_anon(1, LEN);
    long f = faults_of(mlock, p + 4 * PAGE, 4 * PAGE, &rc);
    put("mlock_fresh_rc", rc);
    put("mlock_fresh_faults", f);
    put("mlock_fresh_present", present(p, LEN));
    put("mlock_fresh_zero", pm_stat(0, p, LEN).zero);
    put("mlock_fresh_locked_kb", locked_kb(0, p, LEN));
    put("mlock_fresh_vmas", vmas(0, p, LEN));
    put("mlock_fresh_locked_pages", locked_pages(0, p, LEN));
    put("mlock_again_faults", faults_of(mlock, p + 4 * PAGE, 4 * PAGE, &rc));
    put("write_locked_faults", write_pages(p + 4 * PAGE, 4 * PAGE));
    fflush(stdout);
    c = fork();
    if (c == 0) {
        printf("child_locked_kb=%ld\n", locked_kb(0, p, LEN));
        printf("child_vmas=%d\n", vmas(0, p, LEN));
        printf("child_locked_pages=%ld\n", locked_pages(0, p, LEN));
        printf("child_present=%d\n", present(p, LEN));
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    put("dontneed_locked_rc", madvise(p + 4 * PAGE, PAGE, MADV_DONTNEED) == 0 ? 0 : errno);
    put("free_locked_rc", madvise(p + 4 * PAGE, PAGE, MADV_FREE) == 0 ? 0 : errno);
    put("dontneed_across_locked_rc", madvise(p, LEN, MADV_DONTNEED) == 0 ? 0 : errno);
    put("dontneed_across_locked_present", present(p, LEN));
    f = faults_of(munlock, p + 4 * PAGE, 2 * PAGE, &rc);
    put("munlock_faults", f);
    put("munlock_part_locked_kb", locked_kb(0, p, LEN));
    put("munlock_part_vmas", vmas(0, p, LEN));
    put("munlock_part_locked_pages", locked_pages(0, p, LEN));
    munlock(p, LEN);
    put("munlock_all_vmas", vmas(0, p, LEN));
    put("munlock_all_present", present(p, LEN));
    /* read-only private and shared mappings */
    char *ro = map_at(slot_addr(2), LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
                      MADV_NOHUGEPAGE);
    put("mlock_ro_faults", faults_of(mlock, ro, LEN, &rc));
    put("mlock_ro_zero", pm_stat(0, ro, LEN).zero);
    char *sh = map_at(slot_addr(3), LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                      -1, 0, MADV_NOHUGEPAGE);
    put("mlock_shared_faults", faults_of(mlock, sh, LEN, &rc));
    put("mlock_shared_present", present(sh, LEN));
    char *none = map_at(slot_addr(4), LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
                        MADV_NOHUGEPAGE);
    put("mlock_none_faults", faults_of(mlock, none, LEN, &rc));
    put("mlock_none_rc", rc);
    put("mlock_none_present", present(none, LEN));
    put("mlock_none_locked_kb", locked_kb(0, none, LEN));
    put("mlock_none_locked_pages", locked_pages(0, none, LEN));
    /* over a hole */
    char *h = map_anon(5, LEN);
    munmap(h + 4 * PAGE, 2 * PAGE);
    f = faults_of(mlock, h, 8 * PAGE, &rc);
    put("mlock_hole_rc", rc);
    put("mlock_hole_faults", f);
    put("mlock_hole_locked_kb", locked_kb(0, h, LEN));
    put("mlock_hole_vmas", vmas(0, h, LEN));
    put("mlock_hole_locked_pages", locked_pages(0, h, LEN));

    /* RLIMIT_MEMLOCK as nobody, and as root (CAP_IPC_LOCK): only root can try both */
    if (geteuid() != 0)
        goto lazy_free;
    fflush(stdout);
    c = fork();
    if (c == 0) {
        struct rlimit rl = {4 * PAGE, 4 * PAGE};
        setrlimit(RLIMIT_MEMLOCK, &rl);
        if (setgid(65534) || setuid(65534))
            die("setuid");
        prctl(PR_SET_DUMPABLE, 1);
        char *q = map_anon(6, LEN);
        printf("nobody_mlock_over_rc=%d\n", mlock(q, 8 * PAGE) == 0 ? 0 : errno);
        printf("nobody_mlock_over_present=%d\n", present(q, LEN));
        printf("nobody_mlock_over_locked_pages=%ld\n", locked_pages(0, q, LEN));
        printf("nobody_mlock_under_rc=%d\n", mlock(q, 4 * PAGE) == 0 ? 0 : errno);
        printf("nobody_mlock_more_rc=%d\n", mlock(q + 4 * PAGE, PAGE) == 0 ? 0 : errno);
        printf("nobody_mlock_again_rc=%d\n", mlock(q, 4 * PAGE) == 0 ? 0 : errno);
        rl.rlim_cur = rl.rlim_max = 0;
        setrlimit(RLIMIT_MEMLOCK, &rl);
        munlock(q, LEN);
        printf("nobody_zero_limit_rc=%d\n", mlock(q, PAGE) == 0 ? 0 : errno);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_MEMLOCK, &rl);
        char *q = map_anon(7, LEN);
        printf("root_zero_limit_rc=%d\n", mlock(q, LEN) == 0 ? 0 : errno);
        fflush(stdout);
        _exit(0);
    }
    waitpid(c, NULL, 0);

lazy_free:
    /* mremap: in place into free room, shrink, over split VMAs, a locked one */
    char *g = map_anon(10, LEN);
    map_anon(11, LEN); /* the next slot taken: growing into it cannot stay in place */
    write_pages(g, LEN);
    put("mremap_grow_in_place", mremap(g, LEN, 2 * LEN, 0) == g);
    put("mremap_grow_vmas", vmas(0, g, 2 * LEN));
    put("mremap_grow_present", present(g, 2 * LEN));
    put("mremap_shrink", mremap(g, 2 * LEN, LEN / 2, 0) == g);
    put("mremap_shrink_present", present(g, 2 * LEN));
    errno = 0;
    put("mremap_into_next_rc", mremap(g, LEN / 2, 2 * GiB + PAGE, 0) == MAP_FAILED ? errno : 0);
    put("mremap_to_next_start", mremap(g, LEN / 2, 2 * GiB, 0) == g);
    char *sp = map_anon(12, LEN);
    mprotect(sp + 4 * PAGE, 4 * PAGE, PROT_READ);
    errno = 0;
    put("mremap_split_grow_rc", mremap(sp, LEN, 2 * LEN, 0) == MAP_FAILED ? errno : 0);
    put("mremap_split_shrink", mremap(sp, LEN, LEN / 2, 0) == sp);
    put("mremap_split_shrink_vmas", vmas(0, sp, LEN));
    munmap(sp, PAGE);
    errno = 0;
    put("mremap_first_unmapped_rc", mremap(sp, LEN / 2, PAGE * 2, 0) == MAP_FAILED ? errno : 0);
    char *lk = map_anon(13, LEN);
    mlock(lk, LEN);
    long before = minflt();
    put("mremap_locked_grow", mremap(lk, LEN, 2 * LEN, 0) == lk);
    put("mremap_locked_grow_faults", minflt() - before);
    put("mremap_locked_grow_present", present(lk, 2 * LEN));

    /* MADV_FREE */
    char *fr = map_anon(8, LEN);
    write_pages(fr, LEN);
    fr[0] = 7;
    put("free_rc", madvise(fr, 8 * PAGE, MADV_FREE) == 0 ? 0 : errno);
    put("free_present", present(fr, LEN));
    put("free_vmas", vmas(0, fr, LEN));
    put("free_byte0", fr[0]);
    put("free_write_faults", write_pages(fr, 8 * PAGE));
    put("free_shared_rc", madvise(sh, LEN, MADV_FREE) == 0 ? 0 : errno);
    char *fresh = map_anon(9, LEN);
    put("free_fresh_rc", madvise(fresh, LEN, MADV_FREE) == 0 ? 0 : errno);
    put("free_fresh_present", present(fresh, LEN));
    return 0;
}
