package permissions

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/kemisip/kemi/kemi"
)

// TrustedRow is one row of Kamailio's trusted table as read from the
// database; nil is NULL.
type TrustedRow struct {
	ID          int64
	SrcIP       string
	Proto       string
	FromPattern *string
	RURIPattern *string
	Tag         *string
	Priority    int64
}

// String names the row in errors.
func (r TrustedRow) String() string {
	s := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return fmt.Sprintf("%q", *p)
	}
	return fmt.Sprintf("id=%d src_ip=%q proto=%q from_pattern=%s ruri_pattern=%s tag=%s priority=%d",
		r.ID, r.SrcIP, r.Proto, s(r.FromPattern), s(r.RURIPattern), s(r.Tag), r.Priority)
}

// trustedEntry is a parsed trusted row.
type trustedEntry struct {
	src      string     // src_ip as written, compared as text when not an IP
	addr     netip.Addr // src_ip when it is an IP address
	proto    string     // "" = any
	from     *regexp.Regexp
	ruri     *regexp.Regexp
	tag      *string
	priority int64
}

// trustedProtos are the proto values Kamailio accepts ("none" rows are
// skipped, as Kamailio does).
var trustedProtos = map[string]bool{"any": true, "udp": true, "tcp": true, "tls": true, "sctp": true, "ws": true, "wss": true}

// trustedTable is the trusted table in memory: the entries of a source
// by decreasing priority (rows of equal priority in table order). Never
// changed once built.
type trustedTable struct {
	bySrc map[string][]trustedEntry
	rows  int
}

// srcKey is how a source is looked up: the canonical form of an IP
// address, else the text as written.
func srcKey(s string) string {
	if a, ok := parseIP(s); ok {
		return a.String()
	}
	return s
}

// newTrustedTable parses the rows. A row with an unknown proto or a
// pattern that does not compile is an error naming it: Kamailio fails
// the load on the first and skips the row at every match on the second.
func newTrustedTable(rows []TrustedRow) (*trustedTable, error) {
	t := &trustedTable{bySrc: map[string][]trustedEntry{}, rows: len(rows)}
	for _, r := range rows {
		proto := strings.ToLower(strings.TrimSpace(r.Proto))
		if proto == "none" {
			continue
		}
		if !trustedProtos[proto] {
			return nil, fmt.Errorf("trusted row %s: proto %q: want any, udp, tcp, tls, sctp, ws, wss or none", r, r.Proto)
		}
		if r.SrcIP == "" {
			return nil, fmt.Errorf("trusted row %s: src_ip is empty", r)
		}
		e := trustedEntry{src: r.SrcIP, tag: r.Tag, priority: r.Priority}
		if proto != "any" {
			e.proto = proto
		}
		for _, p := range []struct {
			pat *string
			re  **regexp.Regexp
			col string
		}{{r.FromPattern, &e.from, "from_pattern"}, {r.RURIPattern, &e.ruri, "ruri_pattern"}} {
			if p.pat == nil {
				continue
			}
			re, err := kemi.CompileRegex(*p.pat, 0)
			if err != nil {
				return nil, fmt.Errorf("trusted row %s: %s: %w", r, p.col, err)
			}
			*p.re = re
		}
		k := srcKey(r.SrcIP)
		t.bySrc[k] = append(t.bySrc[k], e)
	}
	for _, list := range t.bySrc {
		sort.SliceStable(list, func(i, j int) bool { return list[i].priority > list[j].priority })
	}
	return t, nil
}

// match returns the entries for a request from src over proto ("" = any)
// with the From URI and R-URI given (patterns are not checked when isReq
// is false, as Kamailio for replies); all of them when all is set, else
// the first.
func (t *trustedTable) match(src, proto string, isReq bool, from, ruri string, all bool) []trustedEntry {
	if t == nil {
		return nil
	}
	var out []trustedEntry
	for _, e := range t.bySrc[srcKey(src)] {
		if e.proto != "" && proto != "" && e.proto != proto {
			continue
		}
		if isReq {
			if e.from != nil && !e.from.MatchString(from) {
				continue
			}
			if e.ruri != nil && !e.ruri.MatchString(ruri) {
				continue
			}
		}
		out = append(out, e)
		if !all {
			break
		}
	}
	return out
}
