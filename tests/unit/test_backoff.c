/*  backoff: doubling, cap, jitter bounds, reset.  */
#include "common/backoff.h"
#include "tests/testutil.h"

int
main (void)
{
    backoff_t b;
    backoff_init (&b, 1000, 30000, 42);
    int64_t expect [] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000 };
    for (int i = 0; i < 8; i++) {
        CHECK_EQ_INT (backoff_peek_ms (&b), expect [i]);
        int64_t d = backoff_next (&b);
        CHECK (d >= expect [i] / 2 && d <= expect [i]);
    }
    //  jitter really varies
    backoff_reset (&b);
    int64_t first = backoff_next (&b);
    bool varied = false;
    for (int i = 0; i < 50 && !varied; i++) {
        backoff_reset (&b);
        varied = backoff_next (&b) != first;
    }
    CHECK (varied);
    backoff_reset (&b);
    CHECK_EQ_INT (backoff_peek_ms (&b), 1000);
    //  many failures never overflow
    for (int i = 0; i < 1000; i++)
        CHECK (backoff_next (&b) <= 30000);
    TEST_DONE ();
}
