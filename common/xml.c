/*  Bounded pull reader for S3's XML responses. See xml.h.

    Every index is checked against len before it is read; the reader keeps pointers into the
    caller's buffer and never allocates. Once it has returned XML_ERROR it stays there, so a
    caller that ignores one error cannot walk on into garbage.                               */

#include "common/xml.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

void
xml_reader_init (xml_reader_t *self, const char *data, size_t len)
{
    assert (self);
    memset (self, 0, sizeof *self);
    self->data = data ? data : "";
    self->len = data ? len : 0;
}

static xml_tok_t
s_fail (xml_reader_t *self, const char *reason)
{
    self->error = reason;
    return XML_ERROR;
}

static bool
s_space (char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
s_name_char (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '_' || c == ':' || c == '.' || c == '-' || c >= 0x80;
}

//  True when data [pos..] starts with s.
static bool
s_at (const xml_reader_t *self, const char *s)
{
    size_t n = strlen (s);
    return self->len - self->pos >= n && memcmp (self->data + self->pos, s, n) == 0;
}

//  Moves pos past the next occurrence of s; false if there is none.
static bool
s_skip_past (xml_reader_t *self, const char *s)
{
    size_t n = strlen (s);
    while (self->len - self->pos >= n) {
        if (memcmp (self->data + self->pos, s, n) == 0) {
            self->pos += n;
            return true;
        }
        self->pos++;
    }
    return false;
}

//  Parses a name at pos into name/name_len.
static bool
s_name (xml_reader_t *self)
{
    size_t start = self->pos;
    while (self->pos < self->len && s_name_char ((unsigned char) self->data [self->pos]))
        self->pos++;
    size_t n = self->pos - start;
    if (n == 0 || n > XML_MAX_NAME)
        return false;
    self->name = self->data + start;
    self->name_len = n;
    return true;
}

xml_tok_t
xml_reader_next (xml_reader_t *self)
{
    assert (self);
    if (self->error)
        return XML_ERROR;
    if (self->pending_end) {
        self->pending_end = false;
        self->depth--;
        self->name = self->stack [self->depth];
        self->name_len = self->stack_len [self->depth];
        return XML_END;
    }
    while (true) {
        if (self->pos >= self->len) {
            if (self->depth > 0)
                return s_fail (self, "document ends inside an element");
            if (!self->seen_root)
                return s_fail (self, "no root element");
            return XML_EOF;
        }
        if (self->data [self->pos] != '<') {
            size_t start = self->pos;
            while (self->pos < self->len && self->data [self->pos] != '<')
                self->pos++;
            if (self->depth == 0) {
                for (size_t i = start; i < self->pos; i++)
                    if (!s_space (self->data [i]))
                        return s_fail (self, "text outside the root element");
                continue;
            }
            self->text = self->data + start;
            self->text_len = self->pos - start;
            return XML_TEXT;
        }
        if (s_at (self, "<?")) {
            if (self->seen_root)
                return s_fail (self, "processing instruction after the root element");
            if (!s_skip_past (self, "?>"))
                return s_fail (self, "unterminated declaration");
            continue;
        }
        if (s_at (self, "<!--")) {
            self->pos += 4;
            if (!s_skip_past (self, "-->"))
                return s_fail (self, "unterminated comment");
            continue;
        }
        if (s_at (self, "<!"))
            return s_fail (self, "DOCTYPE and CDATA are not accepted");
        if (s_at (self, "</")) {
            self->pos += 2;
            if (!s_name (self))
                return s_fail (self, "bad end tag name");
            while (self->pos < self->len && s_space (self->data [self->pos]))
                self->pos++;
            if (self->pos >= self->len || self->data [self->pos] != '>')
                return s_fail (self, "unterminated end tag");
            self->pos++;
            if (self->depth == 0)
                return s_fail (self, "end tag without a start tag");
            int top = self->depth - 1;
            if (self->stack_len [top] != self->name_len
                || memcmp (self->stack [top], self->name, self->name_len) != 0)
                return s_fail (self, "mismatched end tag");
            self->depth--;
            return XML_END;
        }
        //  Start tag
        self->pos++;
        if (self->depth == 0 && self->seen_root)
            return s_fail (self, "second root element");
        if (!s_name (self))
            return s_fail (self, "bad start tag name");
        char quote = 0;
        bool self_closing = false;
        while (true) {
            if (self->pos >= self->len)
                return s_fail (self, "unterminated start tag");
            char c = self->data [self->pos++];
            if (quote) {
                if (c == quote)
                    quote = 0;
                else if (c == '<')
                    return s_fail (self, "'<' in an attribute value");
            }
            else if (c == '"' || c == '\'')
                quote = c;
            else if (c == '<')
                return s_fail (self, "'<' inside a start tag");
            else if (c == '>')
                break;
            else if (c == '/' && self->pos < self->len && self->data [self->pos] == '>') {
                self->pos++;
                self_closing = true;
                break;
            }
        }
        if (self->depth >= XML_MAX_DEPTH)
            return s_fail (self, "elements nested too deeply");
        self->stack [self->depth] = self->name;
        self->stack_len [self->depth] = self->name_len;
        self->depth++;
        self->seen_root = true;
        self->pending_end = self_closing;
        return XML_START;
    }
}

bool
xml_reader_is (const xml_reader_t *self, const char *name)
{
    size_t n = strlen (name);
    return self->name && self->name_len == n && memcmp (self->name, name, n) == 0;
}

static int
s_put (char *out, size_t outsize, size_t *o, const char *s, size_t n)
{
    if (*o + n + 1 > outsize)
        return -1;
    memcpy (out + *o, s, n);
    *o += n;
    return 0;
}

int
xml_decode (const char *text, size_t len, char *out, size_t outsize, size_t *out_len)
{
    assert (out && out_len && outsize > 0);
    size_t o = *out_len;
    if (o >= outsize)
        return -1;
    for (size_t i = 0; i < len; ) {
        if (text [i] == 0)
            return -1;
        if (text [i] != '&') {
            size_t j = i;
            while (j < len && text [j] != '&' && text [j] != 0)
                j++;
            if (s_put (out, outsize, &o, text + i, j - i) != 0)
                return -1;
            i = j;
            continue;
        }
        size_t semi = i + 1;
        while (semi < len && semi - i <= 12 && text [semi] != ';')
            semi++;
        if (semi >= len || text [semi] != ';')
            return -1;
        const char *ent = text + i + 1;
        size_t elen = semi - i - 1;
        const char *rep = NULL;
        if (elen == 3 && memcmp (ent, "amp", 3) == 0) rep = "&";
        else if (elen == 2 && memcmp (ent, "lt", 2) == 0) rep = "<";
        else if (elen == 2 && memcmp (ent, "gt", 2) == 0) rep = ">";
        else if (elen == 4 && memcmp (ent, "quot", 4) == 0) rep = "\"";
        else if (elen == 4 && memcmp (ent, "apos", 4) == 0) rep = "'";
        if (rep) {
            if (s_put (out, outsize, &o, rep, 1) != 0)
                return -1;
        }
        else if (elen >= 2 && ent [0] == '#') {
            bool hex = ent [1] == 'x';
            size_t k = hex ? 2 : 1;
            if (k >= elen)
                return -1;
            uint32_t cp = 0;
            for (; k < elen; k++) {
                unsigned char c = (unsigned char) ent [k];
                uint32_t d;
                if (c >= '0' && c <= '9') d = c - '0';
                else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
                else return -1;
                cp = cp * (hex ? 16 : 10) + d;
                if (cp > 0x10FFFF)
                    return -1;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                return -1;
            char u [4];
            size_t n;
            if (cp < 0x80) { u [0] = (char) cp; n = 1; }
            else if (cp < 0x800) {
                u [0] = (char) (0xC0 | (cp >> 6));
                u [1] = (char) (0x80 | (cp & 0x3F));
                n = 2;
            }
            else if (cp < 0x10000) {
                u [0] = (char) (0xE0 | (cp >> 12));
                u [1] = (char) (0x80 | ((cp >> 6) & 0x3F));
                u [2] = (char) (0x80 | (cp & 0x3F));
                n = 3;
            }
            else {
                u [0] = (char) (0xF0 | (cp >> 18));
                u [1] = (char) (0x80 | ((cp >> 12) & 0x3F));
                u [2] = (char) (0x80 | ((cp >> 6) & 0x3F));
                u [3] = (char) (0x80 | (cp & 0x3F));
                n = 4;
            }
            if (s_put (out, outsize, &o, u, n) != 0)
                return -1;
        }
        else
            return -1;
        i = semi + 1;
    }
    out [o] = 0;
    *out_len = o;
    return 0;
}
