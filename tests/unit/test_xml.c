/*  common/xml (bounded pull reader, entity decoding) and the S3 documents parsed on it
    (s3_list_page_parse, s3_error_parse): what is accepted, what each field becomes, and
    every kind of rejection.                                                               */

#include "common/rc.h"
#include "common/s3.h"
#include "common/xml.h"
#include "tests/testutil.h"

static xml_tok_t
s_walk (const char *doc, const char **error)
{
    xml_reader_t r;
    xml_reader_init (&r, doc, strlen (doc));
    xml_tok_t t;
    int guard = 0;
    while ((t = xml_reader_next (&r)) > XML_EOF)
        CHECK (++guard < 10000);
    *error = r.error;
    return t;
}

static void
s_test_reader (void)
{
    const char *doc = "<?xml version=\"1.0\"?>\n<!-- c --><a x=\"1>2\" y='<'><b>t&amp;</b><c/></a>\n";
    //  '<' inside an attribute is refused (it is not well-formed XML).
    const char *err;
    CHECK_EQ_INT (s_walk (doc, &err), XML_ERROR);
    CHECK_EQ_STR (err, "'<' in an attribute value");

    doc = "<?xml version=\"1.0\"?>\n<!-- c --><a x=\"1>2\"><b>t&amp;</b><c/></a>\n";
    xml_reader_t r;
    xml_reader_init (&r, doc, strlen (doc));
    CHECK_EQ_INT (xml_reader_next (&r), XML_START);
    CHECK (xml_reader_is (&r, "a"));
    CHECK_EQ_INT (xml_reader_next (&r), XML_START);
    CHECK (xml_reader_is (&r, "b"));
    CHECK_EQ_INT (xml_reader_next (&r), XML_TEXT);
    CHECK_EQ_INT (r.text_len, 6);
    CHECK_EQ_MEM (r.text, "t&amp;", 6);
    CHECK_EQ_INT (xml_reader_next (&r), XML_END);
    CHECK (xml_reader_is (&r, "b"));
    CHECK_EQ_INT (xml_reader_next (&r), XML_START);
    CHECK (xml_reader_is (&r, "c"));
    CHECK_EQ_INT (r.depth, 2);
    CHECK_EQ_INT (xml_reader_next (&r), XML_END);
    CHECK (xml_reader_is (&r, "c"));
    CHECK_EQ_INT (r.depth, 1);
    CHECK_EQ_INT (xml_reader_next (&r), XML_END);
    CHECK_EQ_INT (xml_reader_next (&r), XML_EOF);
    CHECK_EQ_INT (xml_reader_next (&r), XML_EOF);

    struct { const char *doc; const char *error; } bad [] = {
        { "", "no root element" },
        { "   ", "no root element" },
        { "<a>", "document ends inside an element" },
        { "<a></b>", "mismatched end tag" },
        { "</a>", "end tag without a start tag" },
        { "<a/><b/>", "second root element" },
        { "<a/>x", "text outside the root element" },
        { "x<a/>", "text outside the root element" },
        { "<!DOCTYPE a><a/>", "DOCTYPE and CDATA are not accepted" },
        { "<a><![CDATA[x]]></a>", "DOCTYPE and CDATA are not accepted" },
        { "<a><!-- x </a>", "unterminated comment" },
        { "<?xml", "unterminated declaration" },
        { "<a/><?pi?>", "processing instruction after the root element" },
        { "<a", "unterminated start tag" },
        { "<a x=\"1", "unterminated start tag" },
        { "<>", "bad start tag name" },
        { "<a></>", "bad end tag name" },
        { "<a></a", "unterminated end tag" },
        { "<a <b>", "'<' inside a start tag" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        CHECK_EQ_INT (s_walk (bad [i].doc, &err), XML_ERROR);
        CHECK_EQ_STR (err, bad [i].error);
    }
    //  Depth bound.
    char deep [4096] = "";
    for (int i = 0; i < XML_MAX_DEPTH + 1; i++)
        strcat (deep, "<d>");
    CHECK_EQ_INT (s_walk (deep, &err), XML_ERROR);
    CHECK_EQ_STR (err, "elements nested too deeply");
    //  Name bound.
    char longname [512] = "<";
    memset (longname + 1, 'n', XML_MAX_NAME + 1);
    strcat (longname, "/>");
    CHECK_EQ_INT (s_walk (longname, &err), XML_ERROR);
    //  Length is honoured: no reading past len even without a NUL.
    char nonul [4] = { '<', 'a', '/', '>' };
    xml_reader_init (&r, nonul, 3);
    CHECK_EQ_INT (xml_reader_next (&r), XML_ERROR);
}

static void
s_test_decode (void)
{
    char out [64];
    size_t len = 0;
    const char *t = "a&amp;b&lt;&gt;&quot;&apos;&#65;&#x263a;&#x1F600;&#xE9;";
    CHECK_EQ_INT (xml_decode (t, strlen (t), out, sizeof out, &len), 0);
    CHECK_EQ_STR (out, "a&b<>\"'A\xe2\x98\xba\xf0\x9f\x98\x80\xc3\xa9");
    CHECK_EQ_INT (len, strlen (out));
    //  Appends.
    CHECK_EQ_INT (xml_decode ("!", 1, out, sizeof out, &len), 0);
    CHECK (out [len - 1] == '!');

    const char *bad [] = {
        "&", "&amp", "&bogus;", "&#;", "&#x;", "&#0;", "&#xD800;", "&#x110000;",
        "&#99999999999;", "&#12a;", "&#xZZ;", "&verylongentityname;"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        len = 0;
        CHECK_EQ_INT (xml_decode (bad [i], strlen (bad [i]), out, sizeof out, &len), -1);
    }
    //  Raw NUL refused; output bound honoured.
    len = 0;
    CHECK_EQ_INT (xml_decode ("a\0b", 3, out, sizeof out, &len), -1);
    len = 0;
    CHECK_EQ_INT (xml_decode ("abcd", 4, out, 4, &len), -1);
    len = 0;
    CHECK_EQ_INT (xml_decode ("abc", 3, out, 4, &len), 0);
    CHECK_EQ_STR (out, "abc");
}

static void
s_test_list (void)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
        "<IsTruncated>true</IsTruncated>"
        "<Contents><Key>p/a&amp;b &lt;c&gt;</Key><LastModified>2026-11-25T14:00:00.000Z"
        "</LastModified><ETag>&quot;abc&quot;</ETag><Size>123456789012</Size>"
        "<StorageClass>STANDARD</StorageClass><Owner><ID>x</ID></Owner></Contents>"
        "<Contents><Key>p/<!-- split -->b</Key><Size>0</Size></Contents>"
        "<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>"
        "<NextContinuationToken>tok/+=</NextContinuationToken>"
        "</ListBucketResult>";
    s3_list_page_t page;
    const char *reason = NULL;
    CHECK_EQ_INT (s3_list_page_parse (doc, strlen (doc), &page, &reason), 0);
    CHECK_EQ_INT (page.nobjects, 2);
    CHECK_EQ_STR (page.objects [0].key, "p/a&b <c>");
    CHECK_EQ_STR (page.objects [0].last_modified, "2026-11-25T14:00:00.000Z");
    CHECK_EQ_STR (page.objects [0].etag, "\"abc\"");
    CHECK_EQ_INT (page.objects [0].size, 123456789012LL);
    CHECK_EQ_STR (page.objects [1].key, "p/b");
    CHECK_EQ_STR (page.objects [1].etag, "");
    CHECK_EQ_INT (page.nprefixes, 1);
    CHECK_EQ_STR (page.prefixes [0], "p/d/");
    CHECK (page.is_truncated);
    CHECK_EQ_STR (page.next_token, "tok/+=");
    s3_list_page_clear (&page);
    CHECK (page.objects == NULL && page.nobjects == 0);

    struct { const char *doc; const char *reason; } bad [] = {
        { "<Error><Code>x</Code></Error>", "root element is not ListBucketResult" },
        { "<ListBucketResult></ListBucketResult>", "IsTruncated missing" },
        { "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
          "IsTruncated is neither true nor false" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size>"
          "</Contents></ListBucketResult>", "Contents without Key or Size" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
          "</Contents></ListBucketResult>", "Contents without Key or Size" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
          "<Size>-1</Size></Contents></ListBucketResult>", "bad or repeated Size" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
          "<Size>1</Size><Size>1</Size></Contents></ListBucketResult>", "bad or repeated Size" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
          "<Size>9999999999999999999</Size></Contents></ListBucketResult>",
          "bad or repeated Size" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>"
          "<Key>j</Key><Size>1</Size></Contents></ListBucketResult>",
          "repeated field in Contents" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a<b/></Key>"
          "<Size>1</Size></Contents></ListBucketResult>", "unexpected element inside a value" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&#0;</Key>"
          "<Size>1</Size></Contents></ListBucketResult>", "bad entity, NUL or over-long value" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>k</Key>",
          "document ends inside an element" },
        { "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><x/>",
          "second root element" },
        { "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>a"
          "</NextContinuationToken><NextContinuationToken>b</NextContinuationToken>"
          "</ListBucketResult>", "repeated NextContinuationToken" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        reason = NULL;
        int rc = s3_list_page_parse (bad [i].doc, strlen (bad [i].doc), &page, &reason);
        if (rc != RC_MALFORMED || !reason || strcmp (reason, bad [i].reason) != 0)
            fprintf (stderr, "case %zu: rc %d reason %s\n", i, rc, reason ? reason : "-");
        CHECK_EQ_INT (rc, RC_MALFORMED);
        CHECK_EQ_STR (reason, bad [i].reason);
        CHECK (page.objects == NULL && page.nobjects == 0 && page.next_token == NULL);
    }

    //  Key length bound: 1024 bytes pass, 1025 do not.
    char *big = malloc (4096);
    CHECK (big);
    char key [S3_KEY_MAX + 2];
    memset (key, 'k', S3_KEY_MAX);
    key [S3_KEY_MAX] = 0;
    snprintf (big, 4096, "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>%s"
              "</Key><Size>1</Size></Contents></ListBucketResult>", key);
    CHECK_EQ_INT (s3_list_page_parse (big, strlen (big), &page, &reason), 0);
    CHECK_EQ_INT (strlen (page.objects [0].key), S3_KEY_MAX);
    s3_list_page_clear (&page);
    memset (key, 'k', S3_KEY_MAX + 1);
    key [S3_KEY_MAX + 1] = 0;
    snprintf (big, 4096, "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>%s"
              "</Key><Size>1</Size></Contents></ListBucketResult>", key);
    CHECK_EQ_INT (s3_list_page_parse (big, strlen (big), &page, &reason), RC_MALFORMED);
    free (big);

    //  Object-count bound.
    size_t cap = (S3_LIST_MAX_OBJECTS + 1) * 64 + 256;
    char *many = malloc (cap);
    CHECK (many);
    size_t n = (size_t) snprintf (many, cap, "<ListBucketResult><IsTruncated>false</IsTruncated>");
    for (int i = 0; i <= S3_LIST_MAX_OBJECTS; i++)
        n += (size_t) snprintf (many + n, cap - n, "<Contents><Key>k%d</Key><Size>1</Size></Contents>", i);
    n += (size_t) snprintf (many + n, cap - n, "</ListBucketResult>");
    CHECK_EQ_INT (s3_list_page_parse (many, n, &page, &reason), RC_MALFORMED);
    CHECK_EQ_STR (reason, "too many objects in one page");
    free (many);
}

static void
s_test_error (void)
{
    char code [32], msg [32];
    const char *doc = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key "
                      "&lt;k&gt; does not exist and this message is long</Message>"
                      "<Key>k</Key></Error>";
    CHECK_EQ_INT (s3_error_parse (doc, strlen (doc), code, sizeof code, msg, sizeof msg), 0);
    CHECK_EQ_STR (code, "NoSuchKey");
    CHECK_EQ_STR (msg, "The key <k> does not exist and ");   //  truncated to fit
    doc = "<Error><Code>Bad Code</Code><Message>a\nb</Message></Error>";
    CHECK_EQ_INT (s3_error_parse (doc, strlen (doc), code, sizeof code, msg, sizeof msg), -1);
    CHECK_EQ_STR (code, "");
    CHECK_EQ_STR (msg, "a?b");
    doc = "<html>502 Bad Gateway</html>";
    CHECK_EQ_INT (s3_error_parse (doc, strlen (doc), code, sizeof code, msg, sizeof msg), -1);
    CHECK_EQ_STR (code, "");
    doc = "<Error><Code>SlowDown";
    CHECK_EQ_INT (s3_error_parse (doc, strlen (doc), code, sizeof code, msg, sizeof msg), -1);
    CHECK_EQ_STR (code, "");
    CHECK_EQ_INT (s3_error_parse (NULL, 0, code, sizeof code, msg, sizeof msg), -1);
}

int
main (void)
{
    s_test_reader ();
    s_test_decode ();
    s_test_list ();
    s_test_error ();
    TEST_DONE ();
}
