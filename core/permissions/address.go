package permissions

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddressRow is one row of Kamailio's address table as read from the
// database; Tag is nil for a NULL tag.
type AddressRow struct {
	ID   int64
	Grp  int64
	IP   string
	Mask int64
	Port int64
	Tag  *string
}

// String names the row in errors and listings.
func (r AddressRow) String() string {
	tag := "NULL"
	if r.Tag != nil {
		tag = fmt.Sprintf("%q", *r.Tag)
	}
	return fmt.Sprintf("id=%d grp=%d ip_addr=%q mask=%d port=%d tag=%s", r.ID, r.Grp, r.IP, r.Mask, r.Port, tag)
}

// addrEntry is a parsed address row: an IP subnet (a host is a subnet with
// a full mask) or a domain name.
type addrEntry struct {
	grp    int
	prefix netip.Prefix // valid for an IP row
	domain string       // for a domain name row
	port   int          // 0 = any port
	tag    *string
}

// parseIP reads an address as Kamailio's permissions does: IPv6 may be in
// brackets; a zone or an IPv4-mapped form is compared as the plain address.
func parseIP(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ParseAddressRow checks a row as Kamailio loads it: a group above 0, an
// address, a mask within the address family (a name that is not an IP
// address is a domain name, its mask unused), a port 0..65535.
func ParseAddressRow(r AddressRow) (addrEntry, error) {
	e := addrEntry{tag: r.Tag}
	if r.Grp <= 0 || r.Grp > 1<<31-1 {
		return e, fmt.Errorf("grp %d: want a group above 0", r.Grp)
	}
	if r.Port < 0 || r.Port > 65535 {
		return e, fmt.Errorf("port %d: want 0 (any) to 65535", r.Port)
	}
	e.grp, e.port = int(r.Grp), int(r.Port)
	ip := strings.TrimSpace(r.IP)
	if ip == "" {
		return e, fmt.Errorf("ip_addr is empty")
	}
	a, ok := parseIP(ip)
	if !ok {
		if strings.ContainsAny(ip, " \t/[]") || strings.Count(ip, ":") > 0 {
			return e, fmt.Errorf("ip_addr %q is neither an IP address nor a domain name", r.IP)
		}
		e.domain = ip
		return e, nil
	}
	if r.Mask < 0 || int(r.Mask) > a.BitLen() {
		return e, fmt.Errorf("mask %d: want 0 to %d for %s", r.Mask, a.BitLen(), ip)
	}
	e.prefix = netip.PrefixFrom(a, int(r.Mask)).Masked()
	return e, nil
}

// addrTable is the address table in memory, as Kamailio keeps it: hosts
// (full masks) newest row first, subnets by increasing group (rows of one
// group in table order), domain names newest row first. It is never
// changed once built: a reload builds a new one.
type addrTable struct {
	hosts   map[netip.Addr][]addrEntry
	subnets []addrEntry
	domains map[string][]addrEntry
	rows    int
}

// newAddrTable parses the rows; the first that does not parse is an error
// naming it.
func newAddrTable(rows []AddressRow) (*addrTable, error) {
	t := &addrTable{hosts: map[netip.Addr][]addrEntry{}, domains: map[string][]addrEntry{}, rows: len(rows)}
	for _, r := range rows {
		e, err := ParseAddressRow(r)
		if err != nil {
			return nil, fmt.Errorf("address row %s: %w", r, err)
		}
		switch {
		case e.domain != "":
			t.domains[e.domain] = append([]addrEntry{e}, t.domains[e.domain]...)
		case e.prefix.IsSingleIP():
			a := e.prefix.Addr()
			t.hosts[a] = append([]addrEntry{e}, t.hosts[a]...)
		default:
			// after the rows of the same group: Kamailio's ordered insert
			i := len(t.subnets)
			for i > 0 && t.subnets[i-1].grp > e.grp {
				i--
			}
			t.subnets = append(t.subnets[:i], append([]addrEntry{e}, t.subnets[i:]...)...)
		}
	}
	return t, nil
}

func portMatches(e addrEntry, port int) bool { return e.port == 0 || e.port == port }

// match finds the entry of group grp (grp < 0: any group) that a, port
// fall in: a host entry first, then the first subnet, as Kamailio.
func (t *addrTable) match(grp int, a netip.Addr, port int) (addrEntry, bool) {
	if t == nil {
		return addrEntry{}, false
	}
	a = a.Unmap()
	for _, e := range t.hosts[a] {
		if (grp < 0 || e.grp == grp) && portMatches(e, port) {
			return e, true
		}
	}
	for _, e := range t.subnets {
		if (grp < 0 || e.grp == grp) && portMatches(e, port) && e.prefix.Contains(a) {
			return e, true
		}
	}
	return addrEntry{}, false
}

// matchDomain finds the domain name entry of group grp (grp < 0: any).
func (t *addrTable) matchDomain(grp int, name string, port int) (addrEntry, bool) {
	if t == nil {
		return addrEntry{}, false
	}
	for _, e := range t.domains[name] {
		if (grp < 0 || e.grp == grp) && portMatches(e, port) {
			return e, true
		}
	}
	return addrEntry{}, false
}
