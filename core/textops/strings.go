package textops

import (
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// listWS are the characters trimmed around list items.
const listWS = " \t\r\n"

// inList reports whether subject is an item of list (items separated by
// the first character of sep, white space around them ignored); with
// prefix, whether an item is a prefix of subject.
func inList(subject, list, sep string, prefix bool) kemi.Value {
	if subject == "" || list == "" || sep == "" {
		return kemi.Fail
	}
	for _, item := range strings.Split(list, sep[:1]) {
		item = strings.Trim(item, listWS)
		if prefix {
			if item != "" && strings.HasPrefix(subject, item) {
				return kemi.OK
			}
			continue
		}
		if item == subject {
			return kemi.OK
		}
	}
	return kemi.Fail
}

// compare maps a three-way comparison to Kamailio's 1 (equal), -1 (first
// greater) and -2 (first smaller).
func compare(c int) kemi.Value {
	switch {
	case c == 0:
		return kemi.OK
	case c > 0:
		return kemi.Fail
	}
	return kemi.Int(-2)
}

// lowerASCII lowers ASCII letters only, as strncasecmp in the C locale.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func cmpStr(a, b string, fold bool) kemi.Value {
	if fold {
		a, b = lowerASCII(a), lowerASCII(b)
	}
	return compare(strings.Compare(a, b))
}

func startsWith(s, p string) kemi.Value {
	if len(s) < len(p) {
		return kemi.Fail
	}
	return compare(strings.Compare(s[:len(p)], p))
}

func endsWith(s, p string) kemi.Value {
	if len(s) < len(p) {
		return kemi.Fail
	}
	return compare(strings.Compare(s[len(s)-len(p):], p))
}

// strFind returns the 1-based position of needle in txt, or -1.
func strFind(txt, needle string, fold bool) kemi.Value {
	if len(needle) > len(txt) {
		return kemi.Fail
	}
	if needle == "" {
		// Kamailio: the case-insensitive search finds an empty needle at
		// the start, the case-sensitive one only in an empty text
		if fold || txt == "" {
			return kemi.OK
		}
		return kemi.Fail
	}
	if fold {
		txt, needle = lowerASCII(txt), lowerASCII(needle)
	}
	i := strings.Index(txt, needle)
	if i < 0 {
		return kemi.Fail
	}
	return kemi.Int(i + 1)
}

func strAnyIn(txt, clist string) kemi.Value {
	if txt == "" || clist == "" {
		return kemi.Fail
	}
	return kemi.IntBool(containsAnyByte(txt, clist))
}

// containsAnyByte reports whether txt holds one of the bytes of clist.
func containsAnyByte(txt, clist string) bool {
	for i := 0; i < len(clist); i++ {
		if strings.IndexByte(txt, clist[i]) >= 0 {
			return true
		}
	}
	return false
}

func strAllIn(txt, clist string) kemi.Value {
	if txt == "" || clist == "" {
		return kemi.Fail
	}
	for i := 0; i < len(clist); i++ {
		if strings.IndexByte(txt, clist[i]) < 0 {
			return kemi.Fail
		}
	}
	return kemi.OK
}
