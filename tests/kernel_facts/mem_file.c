/* File mappings: read fault-around, private copy-on-write, shared writes,
 * and what fork() copies.
 *
 * A 1 MiB file (256 pages) is written with write(2) in 4 KiB pieces in the
 * current directory, so every page is in the page cache before any mapping.
 * Page k of the file holds the byte 'A' + k % 26 everywhere.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

#define FLEN (1 * MiB)
#define FPAGES (FLEN / PAGE)
#define KPF_COMPOUND_TAIL 16

/* First and last present page index (counted from p) among npages pages
 * starting at page index `from`. */
static void put_window(const char *prefix, pid_t pid, const char *p, long from,
                       long npages)
{
    uint64_t e[FPAGES];
    long first = -1, last = -1;
    char key[128];
    read_pagemap(pid, p + from * PAGE, (size_t)npages, e);
    for (long i = 0; i < npages; i++)
        if (e[i] & PM_PRESENT) {
            if (first < 0)
                first = from + i;
            last = from + i;
        }
    snprintf(key, sizeof key, "%s_first_page", prefix);
    put(key, first);
    snprintf(key, sizeof key, "%s_last_page", prefix);
    put(key, last);
}

static int file_byte(int fd, long page)
{
    unsigned char c;
    if (pread(fd, &c, 1, page * (off_t)PAGE) != 1)
        die("pread");
    return c;
}

int main(void)
{
    int fd = open("mem_file.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open");
    char buf[PAGE];
    for (long k = 0; k < (long)FPAGES; k++) {
        memset(buf, 'A' + k % 26, PAGE);
        if (write(fd, buf, PAGE) != (ssize_t)PAGE)
            die("write");
    }
    long child_base = child_baseline_vmpte();
    struct agent a;

    /* ---- MAP_PRIVATE ---------------------------------------------------- */
    char *p = map_at(slot_addr(0), FLEN, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                     fd, 0, MADV_NOHUGEPAGE);
    long base = vmpte_kb(0);
    put("priv_read21_faults", read_pages(p + 21 * PAGE, PAGE));
    put_stat("priv_read21", pm_stat(0, p, FLEN));
    put_window("priv_read21", 0, p, 0, FPAGES);
    {
        uint64_t fl = kpageflags(pfn_of(0, p + 21 * PAGE));
        put("file_page_is_large_folio",
            ((fl >> KPF_COMPOUND_HEAD) & 1) || ((fl >> KPF_COMPOUND_TAIL) & 1));
    }
    put("priv_read_window_again_faults", read_pages(p + 16 * PAGE, 16 * PAGE));
    put("priv_read255_faults", read_pages(p + 255 * PAGE, PAGE));
    put_window("priv_read255", 0, p, 128, 128);
    put("priv_vmpte_delta_kb", vmpte_kb(0) - base);

    /* fork after only reading */
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("priv_fork_after_read_child", pm_stat(a.pid, p, FLEN));
    put("priv_fork_after_read_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    agent_exit(&a);

    /* write page 21 (mapped read-only by the earlier read) */
    uint64_t cache21 = pfn_of(0, p + 21 * PAGE);
    put("priv_write21_faults", write_pages(p + 21 * PAGE, PAGE));
    put("priv_write21_pfn_changed", pfn_of(0, p + 21 * PAGE) != cache21);
    put("priv_write21_keeps_file_data", p[21 * PAGE + 1] == 'A' + 21 % 26);
    put("priv_write21_file_unchanged", file_byte(fd, 21) == 'A' + 21 % 26);
    put_stat("priv_write21_page", pm_stat(0, p + 21 * PAGE, PAGE));
    /* write page 100 (not present) */
    put("priv_write100_faults", write_pages(p + 100 * PAGE, PAGE));
    put_stat("priv_after_writes", pm_stat(0, p, FLEN));

    /* fork after writing: the VMA has an anon_vma now */
    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("priv_fork_after_write_child", pm_stat(a.pid, p, FLEN));
    put("priv_fork_after_write_shared_with", shared_with(0, a.pid, p, FLEN));
    put("priv_fork_after_write_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put_stat("priv_fork_after_write_parent", pm_stat(0, p, FLEN));
    /* child writes a file page that both map (page 22) and an anon page (21) */
    uint64_t c22 = pfn_of(a.pid, p + 22 * PAGE), c21 = pfn_of(a.pid, p + 21 * PAGE);
    put("priv_child_write22_faults", agent_do(&a, OP_WRITE, p + 22 * PAGE, PAGE));
    put("priv_child_write22_pfn_changed", pfn_of(a.pid, p + 22 * PAGE) != c22);
    put("priv_child_write21_faults", agent_do(&a, OP_WRITE, p + 21 * PAGE, PAGE));
    put("priv_child_write21_pfn_changed", pfn_of(a.pid, p + 21 * PAGE) != c21);
    agent_exit(&a);
    munmap(p, FLEN);

    /* MAP_PRIVATE at file offset 4 KiB: is the fault-around window aligned
     * on virtual addresses or on file offsets? */
    p = map_at(slot_addr(0), FLEN - PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE,
               MADV_NOHUGEPAGE);
    put("off1_read21_faults", read_pages(p + 21 * PAGE, PAGE));
    put_window("off1_read21", 0, p, 0, FPAGES - 1);
    munmap(p, FLEN - PAGE);

    /* MAP_PRIVATE starting 3 pages into the slot: is the window clipped at
     * the start of the VMA?  (page indexes below count from the mapping) */
    p = map_at(slot_addr(0) + 3 * PAGE, 64 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0,
               MADV_NOHUGEPAGE);
    put("vma3_read0_faults", read_pages(p, PAGE));
    put_window("vma3_read0", 0, p, 0, 64);
    put("vma3_read60_faults", read_pages(p + 60 * PAGE, PAGE));
    put_window("vma3_read60", 0, p, 32, 32);
    munmap(p, 64 * PAGE);

    /* MAP_PRIVATE crossing a 2 MiB boundary (8 pages before it): does the
     * window stop at the end of the PTE table? */
    p = map_at(slot_addr(0) + 2 * MiB - 8 * PAGE, 64 * PAGE, PROT_READ,
               MAP_PRIVATE, fd, 0, MADV_NOHUGEPAGE);
    put("pmd_cross_read7_faults", read_pages(p + 7 * PAGE, PAGE));
    put_window("pmd_cross_read7", 0, p, 0, 64);
    put("pmd_cross_read8_faults", read_pages(p + 8 * PAGE, PAGE));
    put_window("pmd_cross_read8", 0, p, 8, 56);
    munmap(p, 64 * PAGE);

    /* a 5-page file mapped with 16 pages: does the window stop at EOF? */
    {
        int fd5 = open("mem_file5.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd5 < 0)
            die("open");
        memset(buf, 'E', PAGE);
        for (int k = 0; k < 5; k++)
            if (write(fd5, buf, PAGE) != (ssize_t)PAGE)
                die("write");
        p = map_at(slot_addr(0), 16 * PAGE, PROT_READ, MAP_PRIVATE, fd5, 0,
                   MADV_NOHUGEPAGE);
        put("eof_read0_faults", read_pages(p, PAGE));
        put("eof_read0_present", pm_stat(0, p, 16 * PAGE).present);
        put_window("eof_read0", 0, p, 0, 16);
        long f;
        put("eof_read5_signal", probe_access(p + 5 * PAGE, 0, &f));
        munmap(p, 16 * PAGE);
        close(fd5);
    }

    /* ---- MAP_SHARED ----------------------------------------------------- */
    p = map_at(slot_addr(0), FLEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0,
               MADV_NOHUGEPAGE);
    put("shared_read21_faults", read_pages(p + 21 * PAGE, PAGE));
    put_stat("shared_read21", pm_stat(0, p, FLEN));
    put_window("shared_read21", 0, p, 0, FPAGES);
    uint64_t s21 = pfn_of(0, p + 21 * PAGE);
    put("shared_write21_faults", write_pages(p + 21 * PAGE, PAGE));
    put("shared_write21_pfn_changed", pfn_of(0, p + 21 * PAGE) != s21);
    put("shared_write21_rewrite_faults", write_pages(p + 21 * PAGE, PAGE));
    put("shared_write22_faults", write_pages(p + 22 * PAGE, PAGE));
    put("shared_write100_faults", write_pages(p + 100 * PAGE, PAGE));
    put_stat("shared_after_writes", pm_stat(0, p, FLEN));
    put("shared_write_reaches_file", file_byte(fd, 100) == 1);

    a = agent_fork();
    agent_do(&a, OP_VMPTE, 0, 0);
    put_stat("shared_fork_child", pm_stat(a.pid, p, FLEN));
    put("shared_fork_child_vmpte_delta_kb", vmpte_kb(a.pid) - child_base);
    put("shared_child_read21_faults", agent_do(&a, OP_READ, p + 21 * PAGE, PAGE));
    put_stat("shared_child_after_read21", pm_stat(a.pid, p, FLEN));
    put("shared_child_after_read21_shared_with", shared_with(0, a.pid, p, FLEN));
    put("shared_child_write21_faults", agent_do(&a, OP_WRITE, p + 21 * PAGE, PAGE));
    put("shared_child_write23_faults", agent_do(&a, OP_WRITE, p + 23 * PAGE, PAGE));
    put("shared_child_write200_faults", agent_do(&a, OP_WRITE, p + 200 * PAGE, PAGE));
    put_stat("shared_child_after_writes", pm_stat(a.pid, p, FLEN));
    agent_exit(&a);
    munmap(p, FLEN);
    close(fd);
    return 0;
}
