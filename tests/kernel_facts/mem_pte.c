/* Page-table accounting: which page-table pages show up in VmPTE, and when
 * are they freed?
 *
 * The 3 GiB scenario writes one page in every 2 MiB range by default (same
 * page tables, quick); run with the argument "full" to write every page.  Every scenario starts with no mapping in the 16 TiB
 * region (the previous one is unmapped), so the region's PUD table, PMD
 * tables and PTE tables are all allocated by the scenario itself.
 */
#define MEM_COMMON_NO_MAIN
#include "mem_common.c"

static long base;

static long delta(void)
{
    return vmpte_kb(0) - base;
}

int main(int argc, char **argv)
{
    char *p, *q;
    int full = argc > 1 && strcmp(argv[1], "full") == 0;

    /* Is 5-level paging active?  (a user address at 2^48 only exists then) */
    void *hi = mmap((void *)(1UL << 48), PAGE, PROT_READ,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    put("five_level_paging", hi != MAP_FAILED);
    if (hi != MAP_FAILED)
        munmap(hi, PAGE);

    base = vmpte_kb(0);

    /* one page written in a fresh 512 GiB region */
    p = map_anon(0, 16 * MiB);
    put("mapped_untouched_delta_kb", delta());
    write_pages(p, PAGE);
    put("one_page_delta_kb", delta());
    write_pages(p + PAGE, 511 * PAGE);
    put("one_full_pte_table_delta_kb", delta());
    write_pages(p + 2 * MiB, PAGE);
    put("second_2m_delta_kb", delta());
    munmap(p, 16 * MiB);
    put("one_page_munmap_delta_kb", delta());

    /* three pages in three different 2 MiB ranges of one 1 GiB slot */
    p = map_anon(0, 16 * MiB);
    write_pages(p, PAGE);
    write_pages(p + 4 * MiB + 5 * PAGE, PAGE);
    write_pages(p + 10 * MiB + 511 * PAGE, PAGE);
    put("three_2m_ranges_delta_kb", delta());
    munmap(p, 16 * MiB);
    put("three_2m_ranges_munmap_delta_kb", delta());

    /* two mappings in two 1 GiB slots, one page each */
    p = map_anon(0, 16 * MiB);
    q = map_anon(1, 16 * MiB);
    write_pages(p, PAGE);
    write_pages(q, PAGE);
    put("two_slots_delta_kb", delta());
    munmap(q, 16 * MiB);
    put("two_slots_munmap_second_delta_kb", delta());
    munmap(p, 16 * MiB);
    put("two_slots_munmap_both_delta_kb", delta());

    /* two mappings in two different 512 GiB regions, one page each */
    p = map_anon(0, 16 * MiB);
    q = map_at(REGION_BASE + 512 * GiB, 16 * MiB, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, MADV_NOHUGEPAGE);
    write_pages(p, PAGE);
    write_pages(q, PAGE);
    put("two_512g_regions_delta_kb", delta());
    munmap(q, 16 * MiB);
    munmap(p, 16 * MiB);
    put("two_512g_regions_munmap_delta_kb", delta());

    /* 3 GiB written (fully, or one page per 2 MiB): 1536 PTE tables,
     * 3 PMD tables, 1 PUD table */
    size_t big = 3 * GiB;
    p = map_anon(0, big);
    long faults = 0;
    if (full)
        faults = write_pages(p, big);
    else
        for (size_t off = 0; off < big; off += 2 * MiB)
            faults += write_pages(p + off, PAGE);
    put_str("three_gib_mode", full ? "full" : "one_page_per_2m");
    put("three_gib_faults", faults);
    put("three_gib_delta_kb", delta());
    put("three_gib_present", pm_stat(0, p, big).present);
    munmap(p, big);
    put("three_gib_munmap_delta_kb", delta());

    /* partial munmap inside a written 16 MiB mapping */
    p = map_anon(0, 16 * MiB);
    write_pages(p, 16 * MiB);
    put("partial_written_delta_kb", delta());
    munmap(p + 1 * MiB, 512 * KiB); /* inside one table: table stays */
    put("munmap_512k_inside_table_delta_kb", delta());
    munmap(p + 4 * MiB, 2 * MiB); /* exactly one aligned 2 MiB table */
    put("munmap_aligned_2m_delta_kb", delta());
    munmap(p + 7 * MiB, 2 * MiB); /* 2 MiB across two tables */
    put("munmap_unaligned_2m_delta_kb", delta());
    munmap(p + 9 * MiB, 7 * MiB); /* the tail: frees [10,16) + part of [8,10) */
    put("munmap_tail_delta_kb", delta());
    munmap(p, 16 * MiB);
    put("munmap_rest_delta_kb", delta());

    /* MADV_DONTNEED never frees PMD or PUD tables */
    p = map_anon(0, 16 * MiB);
    write_pages(p, 16 * MiB);
    madvise(p, 16 * MiB, MADV_DONTNEED);
    put("dontneed_all_delta_kb", delta());
    munmap(p, 16 * MiB);
    put("dontneed_munmap_delta_kb", delta());
    return 0;
}
