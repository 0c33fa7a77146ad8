/*  A small, bounded pull reader for the XML that S3 returns (ListBucketResult, Error...).

    Not a general XML parser: it walks start tags, end tags and text, checks that tags nest
    and match, skips the declaration, comments and attributes, and refuses what S3 never
    sends (DOCTYPE, so no entity expansion tricks; CDATA; processing instructions after the
    declaration). It never allocates and never reads outside [data, data+len). Nesting is
    bounded by XML_MAX_DEPTH and names by XML_MAX_NAME.

        xml_reader_t r;
        xml_reader_init (&r, body, len);
        xml_tok_t t;
        while ((t = xml_reader_next (&r)) > XML_EOF) { ... r.name / r.text ... }
        if (t == XML_ERROR) reject (r.error);                                                */
#ifndef ZM_XML_H
#define ZM_XML_H

#include <stdbool.h>
#include <stddef.h>

#define XML_MAX_DEPTH 32
#define XML_MAX_NAME  128

typedef enum {
    XML_ERROR = -1,     //  malformed; reason in reader.error; every later call returns it too
    XML_EOF   = 0,      //  the root element closed, and only whitespace/comments follow
    XML_START = 1,      //  <name ...> or <name/> (then an XML_END follows at once)
    XML_END   = 2,      //  </name>
    XML_TEXT  = 3       //  raw character data between tags (entities NOT decoded)
} xml_tok_t;

typedef struct {
    const char *data;
    size_t len;
    size_t pos;
    int depth;                              //  elements open after the current token
    const char *error;                      //  static reason once XML_ERROR was returned
    //  Current token
    const char *name;                       //  START/END: element name (not NUL-terminated)
    size_t name_len;
    const char *text;                       //  TEXT: raw text (not NUL-terminated)
    size_t text_len;
    //  Private
    bool pending_end;                       //  an <x/> is waiting for its XML_END
    bool seen_root;
    const char *stack [XML_MAX_DEPTH];      //  names of open elements
    size_t stack_len [XML_MAX_DEPTH];
} xml_reader_t;

void xml_reader_init (xml_reader_t *self, const char *data, size_t len);

//  Returns the next token.
xml_tok_t xml_reader_next (xml_reader_t *self);

//  True when the current START/END token's name is `name`.
bool xml_reader_is (const xml_reader_t *self, const char *name);

//  Decodes entities (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;) of len bytes of raw text into
//  out (NUL-terminated), appending at *out_len. Returns 0, or -1 if an entity is unknown or
//  invalid (code point 0, a surrogate, above U+10FFFF), or the result would not fit in
//  outsize bytes with its NUL. A raw NUL byte in text is refused too.
int xml_decode (const char *text, size_t len, char *out, size_t outsize, size_t *out_len);

#endif
