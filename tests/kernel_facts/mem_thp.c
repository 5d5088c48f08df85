/* Transparent huge pages (MADV_HUGEPAGE) on a 4 MiB, 2 MiB-aligned private
 * anonymous mapping: first write, first read (huge zero page), and fork
 * followed by a 4 KiB write in the child.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define LEN (4 * MiB)
#define HP (2 * MiB)

static char *map_thp(void)
{
    return map_at(slot_addr(0), LEN, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, MADV_HUGEPAGE);
}

/* pages (4 KiB units) of [p, p+len) in pid whose frame is part of a THP */
static long thp_pages(pid_t pid, const char *p, size_t len)
{
    size_t n = len / PAGE; /* at most CHUNK */
    uint64_t *e = pm_a;
    long count = 0;
    read_pagemap(pid, p, n, e);
    for (size_t i = 0; i < n; i++)
        if ((e[i] & PM_PRESENT) && ((kpageflags(e[i] & PM_PFN_MASK) >> KPF_THP) & 1))
            count++;
    return count;
}

/* pages of [p, p+len) in pid whose own mapcount (/proc/kpagecount) is 1: the
 * per-page truth behind the pagemap "exclusive" bit, which for a PMD-mapped
 * THP repeats the head page's answer for all 512 entries */
static long mapcount1_pages(pid_t pid, const char *p, size_t len)
{
    size_t n = len / PAGE;
    uint64_t *e = pm_a, cnt;
    long count = 0;
    int fd = open("/proc/kpagecount", O_RDONLY);
    if (fd < 0)
        return -1; /* not root */
    read_pagemap(pid, p, n, e);
    for (size_t i = 0; i < n; i++) {
        if (!(e[i] & PM_PRESENT))
            continue;
        if (pread(fd, &cnt, sizeof cnt, (off_t)((e[i] & PM_PFN_MASK) * sizeof cnt)) != sizeof cnt)
            die("read kpagecount");
        count += cnt == 1;
    }
    close(fd);
    return count;
}

/* 1 if the 512 PFNs of the 2 MiB range at p are consecutive */
static int contiguous_2m(pid_t pid, const char *p)
{
    uint64_t e[512];
    read_pagemap(pid, p, 512, e);
    for (int i = 1; i < 512; i++)
        if ((e[i] & PM_PFN_MASK) != (e[0] & PM_PFN_MASK) + (uint64_t)i)
            return 0;
    return 1;
}

int main(void)
{
    long base, child_base = child_baseline_vmpte();
    char *p;

    /* write one byte */
    p = map_thp();
    base = vmpte_kb(0);
    put("write1_faults", write_pages(p, PAGE));
    put_stat("write1", pm_stat(0, p, LEN));
    put("write1_thp_pages", thp_pages(0, p, LEN));
    put("write1_contiguous", contiguous_2m(0, p));
    put("write1_vmpte_delta_kb", vmpte_kb(0) - base);
    put("write_rest_of_2m_faults", write_pages(p, HP));
    put("write_all_faults", write_pages(p, LEN));
    put("write_all_vmpte_delta_kb", vmpte_kb(0) - base);
    munmap(p, LEN);

    /* read one byte of a fresh mapping: the huge zero page? */
    p = map_thp();
    base = vmpte_kb(0);
    put("read1_faults", read_pages(p, PAGE));
    put_stat("read1", pm_stat(0, p, LEN));
    put("read1_vmpte_delta_kb", vmpte_kb(0) - base);
    put("read1_contiguous", contiguous_2m(0, p));
    put("read_all_faults", read_pages(p, LEN));
    put_stat("read_all", pm_stat(0, p, LEN));
    put("read_all_vmpte_delta_kb", vmpte_kb(0) - base);
    /* write one page where the huge zero page is mapped */
    put("read_then_write1_faults", write_pages(p, PAGE));
    put_stat("read_then_write1", pm_stat(0, p, HP));
    put("read_then_write1_thp_pages", thp_pages(0, p, HP));
    put("read_then_write1_vmpte_delta_kb", vmpte_kb(0) - base);
    munmap(p, LEN);

    /* fork with two written THPs, then the child writes one 4 KiB page */
    p = map_thp();
    base = vmpte_kb(0);
    put("fork_parent_write_faults", write_pages(p, LEN));
    put("fork_parent_thp_pages", thp_pages(0, p, LEN));
    struct agent a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("fork_child", pm_stat(a.pid, p, LEN));
    put("fork_child_thp_pages", thp_pages(a.pid, p, LEN));
    put("fork_shared_with", shared_with(0, a.pid, p, LEN));
    put("fork_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put_stat("fork_parent", pm_stat(0, p, LEN));

    uint64_t old0 = pfn_of(a.pid, p);
    put("child_write1_faults", agent_do(&a, OP_WRITE, p, PAGE));
    put_stat("child_write1_child", pm_stat(a.pid, p, LEN));
    put("child_write1_child_thp_pages", thp_pages(a.pid, p, LEN));
    put("child_write1_pfn_changed", pfn_of(a.pid, p) != old0);
    put("child_write1_shared_with", shared_with(0, a.pid, p, LEN));
    put("child_write1_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put_stat("child_write1_parent", pm_stat(0, p, LEN));
    put("child_write1_parent_mapcount1", mapcount1_pages(0, p, LEN));
    put("child_write1_child_mapcount1", mapcount1_pages(a.pid, p, LEN));
    put("child_write1_parent_vmpte_delta_kb", vmpte_kb(0) - base);
    put("child_write_rest_of_2m_faults", agent_do(&a, OP_WRITE, p, HP));
    put("child_write_rest_shared_with", shared_with(0, a.pid, p, LEN));
    put("child_write_rest_child_thp_pages", thp_pages(a.pid, p, LEN));

    /* the parent writes one page of the second 2 MiB, still PMD-mapped in both */
    put("parent_write_2nd_faults", write_pages(p + HP, PAGE));
    put_stat("parent_write_2nd_parent", pm_stat(0, p + HP, HP));
    put("parent_write_2nd_parent_thp_pages", thp_pages(0, p + HP, HP));
    put("parent_write_2nd_parent_vmpte_delta_kb", vmpte_kb(0) - base);
    put("parent_write_2nd_shared_with", shared_with(0, a.pid, p + HP, HP));
    put("parent_write_2nd_child_exclusive", pm_stat(a.pid, p + HP, HP).exclusive);
    put("parent_write_2nd_child_mapcount1", mapcount1_pages(a.pid, p + HP, HP));
    agent_exit(&a);
    munmap(p, LEN);
    return 0;
}
