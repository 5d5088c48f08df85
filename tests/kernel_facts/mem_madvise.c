/* madvise(): MADV_DONTNEED (and whether it frees page tables on a kernel
 * with CONFIG_PT_RECLAIM), MADV_DONTFORK/DOFORK, MADV_WIPEONFORK/KEEPONFORK.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define LEN (16 * MiB)

static int dontneed(char *p, size_t off, size_t len)
{
    if (madvise(p + off, len, MADV_DONTNEED) != 0)
        die("madvise(MADV_DONTNEED)");
    return 0;
}

/* 1 if /proc/PID/maps has a mapping starting at addr */
static int in_maps(pid_t pid, const void *addr)
{
    char path[64], buf[65536], want[32];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    snprintf(want, sizeof want, "\n%lx-", (unsigned long)(uintptr_t)addr);
    buf[0] = '\n'; /* so the first line also starts after a newline */
    read_small_file(path, buf + 1, sizeof buf - 1);
    return strstr(buf, want) != NULL;
}

static int madvise_errno(void *p, size_t len, int advice)
{
    return madvise(p, len, advice) == 0 ? 0 : errno;
}

int main(void)
{
    long base, child_base = child_baseline_vmpte();
    char *p;
    struct agent a;

    /* ---- DONTNEED of the whole (2 MiB aligned) 16 MiB --------------------- */
    p = map_anon(0, LEN);
    base = vmpte_kb(0);
    write_pages(p, LEN);
    put("written_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 0, LEN);
    put_stat("dontneed_all", pm_stat(0, p, LEN));
    put("dontneed_all_vmpte_delta_kb", vmpte_kb(0) - base);
    put("dontneed_all_read_faults", read_pages(p, LEN));
    put_stat("dontneed_all_read", pm_stat(0, p, LEN));
    put("dontneed_all_read_vmpte_delta_kb", vmpte_kb(0) - base);
    put("dontneed_all_write_faults", write_pages(p, LEN));
    p[1] = 5;
    dontneed(p, 0, PAGE);
    put("dontneed_all_data_zeroed", p[1] == 0);
    munmap(p, LEN);

    /* ---- partial DONTNEED ranges ----------------------------------------- */
    p = map_anon(0, LEN);
    base = vmpte_kb(0);
    write_pages(p, LEN);
    dontneed(p, 0, 1 * MiB); /* half of the first PTE table */
    put("partial_1m_present", pm_stat(0, p, LEN).present);
    put("partial_1m_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 1 * MiB, 1 * MiB); /* the other half: table now empty */
    put("partial_2nd_half_present", pm_stat(0, p, LEN).present);
    put("partial_2nd_half_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 0, 2 * MiB); /* the whole (already empty) first table */
    put("partial_whole_empty_table_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 2 * MiB, 2 * MiB); /* one whole aligned 2 MiB table */
    put("partial_aligned_2m_present", pm_stat(0, p, LEN).present);
    put("partial_aligned_2m_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 5 * MiB, 2 * MiB); /* 2 MiB, not aligned: halves of 2 tables */
    put("partial_unaligned_2m_present", pm_stat(0, p, LEN).present);
    put("partial_unaligned_2m_vmpte_delta_kb", vmpte_kb(0) - base);
    dontneed(p, 9 * MiB, 4 * MiB); /* covers table [10,12) fully, [12,14) not */
    put("partial_unaligned_4m_present", pm_stat(0, p, LEN).present);
    put("partial_unaligned_4m_vmpte_delta_kb", vmpte_kb(0) - base);
    munmap(p, LEN);
    put("partial_munmap_vmpte_delta_kb", vmpte_kb(0) - base);

    /* ---- DONTNEED on other kinds of memory ------------------------------- */
    /* shared anonymous: the data survives (it lives in shmem) */
    p = map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
    memset(p, 7, PAGE);
    dontneed(p, 0, LEN);
    put("dontneed_shared_present", pm_stat(0, p, LEN).present);
    put("dontneed_shared_data_kept", p[1] == 7);
    munmap(p, LEN);
    /* private file mapping: the private copy is dropped, file data is back */
    {
        int fd = open("mem_madvise.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
        char buf[PAGE];
        memset(buf, 'F', PAGE);
        if (fd < 0 || write(fd, buf, PAGE) != (ssize_t)PAGE)
            die("file");
        p = map_at(slot_addr(0), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
                   0, MADV_NOHUGEPAGE);
        p[1] = 'X';
        dontneed(p, 0, PAGE);
        put("dontneed_private_file_data_is_file", p[1] == 'F');
        munmap(p, PAGE);
        close(fd);
    }

    /* ---- MADV_DONTFORK / MADV_DOFORK ------------------------------------- */
    p = map_anon(0, LEN);
    write_pages(p, LEN);
    put("dontfork_errno", madvise_errno(p, LEN, MADV_DONTFORK));
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put("dontfork_child_in_maps", in_maps(a.pid, p));
    put("dontfork_child_present", pm_stat(a.pid, p, LEN).present);
    put("dontfork_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    agent_do(&a, OP_READ, p, PAGE); /* child dies here */
    agent_exit(&a);
    put("dontfork_child_read_signal", agent_signal(&a));
    a = agent_fork();
    agent_do(&a, OP_WRITE, p, PAGE);
    agent_exit(&a);
    put("dontfork_child_write_signal", agent_signal(&a));
    put_stat("dontfork_parent_after", pm_stat(0, p, LEN));
    put("dofork_errno", madvise_errno(p, LEN, MADV_DOFORK));
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put("dofork_child_in_maps", in_maps(a.pid, p));
    put("dofork_child_present", pm_stat(a.pid, p, LEN).present);
    put("dofork_shared_with", shared_with(0, a.pid, p, LEN));
    put("dofork_child_write_faults", agent_do(&a, OP_WRITE, p, PAGE));
    agent_exit(&a);
    put("dofork_child_signal", agent_signal(&a));
    munmap(p, LEN);

    /* ---- MADV_WIPEONFORK / MADV_KEEPONFORK ------------------------------- */
    p = map_anon(0, LEN);
    write_pages(p, LEN);
    memset(p, 9, PAGE);
    put("wipeonfork_errno", madvise_errno(p, LEN, MADV_WIPEONFORK));
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put("wipeonfork_child_in_maps", in_maps(a.pid, p));
    put_stat("wipeonfork_child", pm_stat(a.pid, p, LEN));
    put("wipeonfork_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put("wipeonfork_child_read_faults", agent_do(&a, OP_READ, p, LEN));
    put_stat("wipeonfork_child_read", pm_stat(a.pid, p, LEN));
    put("wipeonfork_child_write_faults", agent_do(&a, OP_WRITE, p, LEN));
    put_stat("wipeonfork_parent", pm_stat(0, p, LEN));
    agent_exit(&a);
    put("wipeonfork_child_signal", agent_signal(&a));
    put("wipeonfork_parent_data_kept", p[1] == 9);
    put("keeponfork_errno", madvise_errno(p, LEN, MADV_KEEPONFORK));
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put("keeponfork_child_present", pm_stat(a.pid, p, LEN).present);
    put("keeponfork_shared_with", shared_with(0, a.pid, p, LEN));
    agent_exit(&a);
    munmap(p, LEN);

    /* WIPEONFORK on mappings that are not private anonymous */
    p = map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
    put("wipeonfork_shared_anon_errno", madvise_errno(p, LEN, MADV_WIPEONFORK));
    put("keeponfork_shared_anon_errno", madvise_errno(p, LEN, MADV_KEEPONFORK));
    put("dontfork_shared_anon_errno", madvise_errno(p, LEN, MADV_DONTFORK));
    munmap(p, LEN);
    {
        int fd = open("mem_madvise.dat", O_RDONLY);
        if (fd < 0)
            die("open");
        p = map_at(slot_addr(0), PAGE, PROT_READ, MAP_PRIVATE, fd, 0, MADV_NOHUGEPAGE);
        put("wipeonfork_private_file_errno", madvise_errno(p, PAGE, MADV_WIPEONFORK));
        put("keeponfork_private_file_errno", madvise_errno(p, PAGE, MADV_KEEPONFORK));
        munmap(p, PAGE);
        p = map_at(slot_addr(0), PAGE, PROT_READ, MAP_SHARED, fd, 0, MADV_NOHUGEPAGE);
        put("wipeonfork_shared_file_errno", madvise_errno(p, PAGE, MADV_WIPEONFORK));
        put("keeponfork_shared_file_errno", madvise_errno(p, PAGE, MADV_KEEPONFORK));
        munmap(p, PAGE);
        close(fd);
    }
    put("einval", EINVAL);
    return 0;
}
