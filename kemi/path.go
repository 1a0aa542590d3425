package kemi

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// PathRoutes parses a Path set, the value of a Path header such as
// "<sip:edge1;lr>, <sip:edge2;lr>" (Msg.PathVec, Branch.Path), into the
// Route headers a request sent along it carries, first hop first (RFC
// 3327 §5). An empty set gives none.
func PathRoutes(path string) ([]*sip.RouteHeader, error) {
	if strings.TrimSpace(path) == "" {
		return nil, nil
	}
	hs, err := ParseHeaders("Route: " + path)
	if err != nil {
		return nil, fmt.Errorf("invalid path %q: %w", path, err)
	}
	out := make([]*sip.RouteHeader, 0, len(hs))
	for _, h := range hs {
		r, ok := h.(*sip.RouteHeader)
		if !ok {
			return nil, fmt.Errorf("invalid path %q", path)
		}
		out = append(out, r)
	}
	return out, nil
}

// PathFirstHop returns the URI of the first hop of a Path set, where a
// request sent along it goes when no $du says otherwise, or "" for an
// empty set.
func PathFirstHop(path string) (string, error) {
	rs, err := PathRoutes(path)
	if err != nil || len(rs) == 0 {
		return "", err
	}
	return rs[0].Address.String(), nil
}

// InsertPathRoutes puts the Route headers of a Path set into m's request
// where Kamailio writes its path vector: above the first Route header,
// or else right below our Via, which must be on top of the Vias already.
// It returns the headers it inserted, for taking them out again.
func (m *Msg) InsertPathRoutes(path string) ([]*sip.RouteHeader, error) {
	rs, err := PathRoutes(path)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	at := m.IndexOfHeader("Route")
	if at < 0 {
		at = m.IndexOfHeader("Via") + 1
	}
	hs := make([]sip.Header, len(rs))
	for i, r := range rs {
		hs[i] = r
	}
	m.InsertHeadersAt(at, hs...)
	return rs, nil
}
