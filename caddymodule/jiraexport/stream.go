package jiraexport

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Streaming: a page is encoded row by row into a small buffer that is handed
// to the ResponseWriter whenever it passes chunkSize, and the response is
// flushed after the first chunk and then every flushEvery bytes, so memory per
// request stays flat however large the page is.
const (
	chunkSize  = 32 << 10
	flushEvery = 256 << 10
)

type jsonStream struct {
	w          io.Writer
	rc         *http.ResponseController
	buf        []byte
	written    int64
	sinceFlush int
	err        error
}

func newJSONStream(w http.ResponseWriter) *jsonStream {
	return &jsonStream{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, chunkSize+4096)}
}

// spill writes the buffer out once it is full.
func (s *jsonStream) spill() {
	if len(s.buf) >= chunkSize {
		s.writeOut()
	}
}

func (s *jsonStream) writeOut() {
	if s.err != nil || len(s.buf) == 0 {
		s.buf = s.buf[:0]
		return
	}
	n, err := s.w.Write(s.buf)
	s.buf = s.buf[:0]
	if err != nil {
		s.err = err
		return
	}
	first := s.written == 0
	s.written += int64(n)
	s.sinceFlush += n
	if first || s.sinceFlush >= flushEvery {
		s.flush()
	}
}

func (s *jsonStream) flush() {
	s.sinceFlush = 0
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
	}
}

// finish writes what is left; the error is the first write error, if any.
func (s *jsonStream) finish() error {
	s.writeOut()
	return s.err
}

// appendValue appends v as the JSON encoding of an OData value of type t.
func appendValue(b []byte, t edmType, v value) []byte {
	if v.null {
		return append(b, "null"...)
	}
	switch t {
	case edmString:
		return appendJSONString(b, v.s)
	case edmInt32, edmInt64:
		return strconv.AppendInt(b, int64(v.n), 10)
	case edmDouble:
		if math.IsNaN(v.n) || math.IsInf(v.n, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v.n, 'g', -1, 64)
	case edmDateTimeOffset:
		b = append(b, '"')
		b = time.Unix(v.sec, int64(v.nsec)).UTC().AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case edmBoolean:
		return strconv.AppendBool(b, v.b)
	default: // collection of strings
		b = append(b, '[')
		for i, s := range v.list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendEntity appends the selected properties of row r as a JSON object,
// then its expanded navigation properties as v may see them; prefix, if not
// empty, is written first inside the braces (the "@odata.context" of a
// single entity).
func (p *plan[R]) appendEntity(b []byte, r *R, prefix string, v *viewer) []byte {
	b = append(b, '{')
	b = append(b, prefix...)
	first := prefix == ""
	for _, ci := range p.cols {
		if !first {
			b = append(b, ',')
		}
		first = false
		c := &p.t.cols[ci]
		b = append(b, '"')
		b = append(b, c.name...)
		b = append(b, '"', ':')
		b = appendValue(b, c.typ, c.get(r))
	}
	for k := range p.expands {
		e := &p.expands[k]
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, e.nav.name...)
		b = append(b, '"', ':')
		e.idx = e.nav.link(r, e.idx[:0])
		b = e.w.appendExpanded(b, v, e.idx, e.nav.many)
	}
	return append(b, '}')
}
