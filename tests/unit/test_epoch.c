/*  epoch: grid, ids, parsing of hostile ids.  */
#include "common/epoch.h"
#include "tests/testutil.h"

int
main (void)
{
    epoch_slot_t slot;
    //  2026-11-25T13:58:27Z with 4 h epochs → 12:00:00
    epoch_slot_at (1795615107, 14400, &slot);
    CHECK_EQ_STR (slot.id, "2026-11-25T12-00-00");
    CHECK_EQ_INT (slot.end - slot.start, 14400);
    CHECK (slot.start <= 1795615107 && 1795615107 < slot.end);
    //  20 s epochs roll over on the grid
    epoch_slot_at (1795615107, 20, &slot);
    CHECK_EQ_STR (slot.id, "2026-11-25T13-58-20");
    epoch_slot_at (slot.end, 20, &slot);
    CHECK_EQ_STR (slot.id, "2026-11-25T13-58-40");
    //  the boundary belongs to the new epoch
    epoch_slot_at (1795608000, 14400, &slot);
    CHECK_EQ_STR (slot.id, "2026-11-25T12-00-00");

    int64_t start;
    CHECK (epoch_id_parse ("2026-11-25T12-00-00", &start) == 0);
    CHECK_EQ_INT (start, 1795608000);
    CHECK (epoch_id_on_grid ("2026-11-25T12-00-00", 14400));
    CHECK (!epoch_id_on_grid ("2026-11-25T13-00-00", 14400));
    const char *bad [] = { "", "2026-11-25T12-00-0", "2026-11-25T12-00-000", "2026-02-30T00-00-00",
                           "2026-13-01T00-00-00", "2026-11-25 12-00-00", "2026-11-25T12:00:00",
                           "+026-11-25T12-00-00", "1969-12-31T23-59-59", "2026-11-25T24-00-00",
                           "../../etc/passwd", "2026-11-25T12-00-00\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        CHECK (epoch_id_parse (bad [i], &start) == -1);
    CHECK (epoch_id_parse (NULL, &start) == -1);

    char iso [21];
    epoch_iso8601 (1795608000, iso);
    CHECK_EQ_STR (iso, "2026-11-25T12:00:00Z");
    TEST_DONE ();
}
