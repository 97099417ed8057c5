package shmmetrics

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Label is one label of a metric name.
type Label struct{ Name, Value string }

// ParseName splits a zone metric name into its base name and its labels, in the order written,
// with their values unescaped (\\, \" and \n; other escapes are kept as written). Names may
// carry labels in Prometheus text syntax: `http_requests_total{method="GET",code="200"}`. A
// label part that does not parse leaves the whole name as the base, without labels. The rule
// and its cases are in tests/vectors/exposition.json ("parse"), shared with every exporter.
func ParseName(name string) (base string, labels []Label) {
	brace := strings.IndexByte(name, '{')
	if brace <= 0 || !strings.HasSuffix(name, "}") {
		return name, nil
	}
	labels, ok := parseLabels(strings.TrimRightFunc(name[brace+1:len(name)-1], unicode.IsSpace))
	if !ok {
		return name, nil
	}
	return name[:brace], labels
}

// parseLabels parses `name="value"` pairs separated by commas (a trailing comma is allowed),
// with optional whitespace around names, '=' and commas. Names are made of any characters but
// whitespace, '=', ',', '{', '}' and '"'; a name given twice fails.
func parseLabels(body string) ([]Label, bool) {
	labels := []Label{}
	for p := 0; p < len(body); {
		p = skipSpace(body, p)
		start := p
		for p < len(body) {
			r, size := utf8.DecodeRuneInString(body[p:])
			if unicode.IsSpace(r) || strings.ContainsRune(`=,{}"`, r) {
				break
			}
			p += size
		}
		key := body[start:p]
		p = skipSpace(body, p)
		if key == "" || p >= len(body) || body[p] != '=' {
			return nil, false
		}
		p = skipSpace(body, p+1)
		if p >= len(body) || body[p] != '"' {
			return nil, false
		}
		value, end, ok := quoted(body, p+1)
		if !ok {
			return nil, false
		}
		p = skipSpace(body, end)
		if p < len(body) {
			if body[p] != ',' {
				return nil, false
			}
			p++
		}
		for _, l := range labels {
			if l.Name == key {
				return nil, false
			}
		}
		labels = append(labels, Label{key, value})
	}
	return labels, true
}

// quoted reads a label value from body[p:] up to its closing quote: the value unescaped and
// the position after the quote.
func quoted(body string, p int) (string, int, bool) {
	var b strings.Builder
	for p < len(body) {
		c := body[p]
		switch {
		case c == '"':
			return b.String(), p + 1, true
		case c == '\\' && p+1 < len(body):
			r, size := utf8.DecodeRuneInString(body[p+1:])
			switch r {
			case 'n':
				b.WriteByte('\n')
			case '\\', '"':
				b.WriteRune(r)
			default:
				b.WriteString(body[p : p+1+size])
			}
			p += 1 + size
		case c == '\\':
			return "", 0, false
		default:
			b.WriteByte(c)
			p++
		}
	}
	return "", 0, false
}

func skipSpace(s string, p int) int {
	for p < len(s) {
		r, size := utf8.DecodeRuneInString(s[p:])
		if !unicode.IsSpace(r) {
			break
		}
		p += size
	}
	return p
}
