/*  strbuf: appends of every kind, growth past the first block, embedded NULs, take/reset.  */
#include "common/strbuf.h"
#include "tests/testutil.h"

int
main (void)
{
    strbuf_t b = STRBUF_INIT;
    char *empty = strbuf_take (&b);
    CHECK_EQ_STR (empty, "");
    free (empty);
    CHECK (b.data == NULL && b.len == 0);

    strbuf_add (&b, "GET ");
    strbuf_addc (&b, '/');
    strbuf_addf (&b, "%s?n=%d", "key", 42);
    strbuf_addn (&b, "x\0y", 3);
    CHECK_EQ_INT (b.len, 16);
    CHECK (memcmp (b.data, "GET /key?n=42x\0y", 16) == 0);
    CHECK (b.data [b.len] == 0);

    //  growth well past the first 256-byte block keeps every byte
    for (int i = 0; i < 10000; i++)
        strbuf_addc (&b, (char) ('a' + i % 26));
    CHECK_EQ_INT (b.len, 16 + 10000);
    CHECK (b.data [16] == 'a' && b.data [16 + 9999] == (char) ('a' + 9999 % 26));
    CHECK (b.data [b.len] == 0 && b.cap > b.len);
    char *big = malloc (5000);
    memset (big, 'z', 4999);
    big [4999] = 0;
    strbuf_addf (&b, "%s", big);
    CHECK_EQ_INT (b.len, 16 + 10000 + 4999);
    free (big);

    char *text = strbuf_take (&b);
    CHECK (text && strlen (text) == 14 && text [15] == 'y');
    free (text);
    CHECK (b.data == NULL && b.cap == 0);
    strbuf_add (&b, "again");
    strbuf_reset (&b);
    CHECK (b.data == NULL && b.len == 0);
    strbuf_reset (&b);
    TEST_DONE ();
}
