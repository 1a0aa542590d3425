package dispatcher

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
	"github.com/kemisip/kemi/kemi"
)

// Destination flags of dispatcher.list, as in Kamailio.
const (
	flagInactive = 1 // the destination starts inactive
	flagTrying   = 2 // the destination is being tried
	flagDisabled = 4 // administratively down
	flagProbing  = 8 // the destination is pinged
)

// dest is one destination of a set.
type dest struct {
	uri      string
	setID    int
	flags    int // the flags as written in the list
	priority int
	attrs    string
	weight   int
	rweight  int
	duid     string
	// maxload is the maxload attribute: the calls algorithm 10 puts on
	// the destination at most; 0 is no limit.
	maxload int
	// host is the host of the URI, as dispatcher.list full shows it.
	host string
	// addr is the destination's address when its host is an IP literal
	// (invalid for host names: ds_is_from_list does not match them).
	addr  netip.Addr
	port  int // 0 when the URI gives none
	proto string
	// rt is the runtime state; a reload hands it on to the same
	// destination in the new list (see carryState).
	rt *runtime
}

// set is one destination set: its destinations in priority order
// (highest first, as Kamailio sorts them at load).
type set struct {
	id    int
	dests []*dest
	// wslots is the 100-slot distribution of algorithm 9: each
	// destination fills weight% of the slots, shuffled.
	wslots []int
	// rr and wrr are the rotation counters of algorithms 4 and 9, shared
	// by all workers and handed on by a reload.
	rr, wrr *atomic.Uint64
}

// list is the parsed dispatcher.list: sets by id, ids in file order.
type list struct {
	sets map[int]*set
	ids  []int
	// tree is the order Kamailio walks its sets in (dispatcher.list RPC,
	// probing): the post-order of the AVL tree it builds from the ids in
	// file order.
	tree []int
}

// newList returns an empty list.
func newList() *list { return &list{sets: map[int]*set{}} }

// find returns the destination uri of set id, or nil.
func (l *list) find(id int, uri string) *dest {
	s := l.sets[id]
	if s == nil {
		return nil
	}
	for _, d := range s.dests {
		if d.uri == uri {
			return d
		}
	}
	return nil
}

// each calls f for every destination, sets in tree order.
func (l *list) each(f func(d *dest)) {
	for _, id := range l.tree {
		for _, d := range l.sets[id].dests {
			f(d)
		}
	}
}

// loadListFile reads a dispatcher.list file.
func loadListFile(path string) (*list, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("core/dispatcher: %w", err)
	}
	defer f.Close()
	l := newList()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		d, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("core/dispatcher: %s:%d: %w", path, n, err)
		}
		l.add(d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("core/dispatcher: %s: %w", path, err)
	}
	l.finish()
	return l, nil
}

// parseLine parses "setid destination [flags [priority [attrs]]]".
func parseLine(line string) (*dest, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return nil, fmt.Errorf("want \"setid destination [flags [priority [attrs]]]\", got %q", line)
	}
	if len(fields) > 5 {
		return nil, fmt.Errorf("too many fields in %q (attrs may not contain spaces)", line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil || id < 0 {
		return nil, fmt.Errorf("set id %q: want a number, 0 or more", fields[0])
	}
	d, err := newDest(id, fields[1])
	if err != nil {
		return nil, err
	}
	if len(fields) > 2 {
		if d.flags, err = strconv.Atoi(fields[2]); err != nil || d.flags < 0 {
			return nil, fmt.Errorf("flags %q: want a number, 0 or more", fields[2])
		}
	}
	if len(fields) > 3 {
		if d.priority, err = strconv.Atoi(fields[3]); err != nil {
			return nil, fmt.Errorf("priority %q: want a number", fields[3])
		}
	}
	if len(fields) > 4 {
		d.attrs = fields[4]
		if err := d.parseAttrs(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// newDest returns the destination uri of set id, its address parsed.
func newDest(id int, uri string) (*dest, error) {
	d := &dest{setID: id, uri: uri}
	u, err := kemi.ParseURI(d.uri)
	if err != nil {
		return nil, fmt.Errorf("destination %q: %w", d.uri, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("destination %q: no host", d.uri)
	}
	d.setAddr(u)
	return d, nil
}

// parseAttrs reads the attributes dispatcher uses ("weight=50;duid=x;
// rweight=20"); others are kept in attrs for the script.
func (d *dest) parseAttrs() error {
	for _, kv := range strings.Split(d.attrs, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		// names are matched without case, as Kamailio's ds_set_attrs does
		k = strings.ToLower(strings.TrimSpace(k))
		switch k {
		case "maxload":
			d.maxload = leadingInt(v)
		case "weight", "rweight":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > 100 {
				return fmt.Errorf("attribute %q: want a number 0..100", kv)
			}
			if k == "weight" {
				d.weight = n
			} else {
				d.rweight = n
			}
		case "duid":
			d.duid = v
		}
	}
	return nil
}

// leadingInt reads the digits v starts with (after blanks), as
// Kamailio's str2sint leaves its result at the first other character.
func leadingInt(v string) int {
	n := 0
	for _, c := range strings.TrimSpace(v) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// setAddr keeps the address, port and transport of the destination.
func (d *dest) setAddr(u sip.Uri) {
	d.host = u.Host
	d.addr, _ = netip.ParseAddr(strings.Trim(u.Host, "[]"))
	d.port = u.Port
	// No transport is no protocol: with ds_is_from_list_mode 0 such a
	// destination matches only a URI without transport, as in Kamailio.
	d.proto = ""
	if t, ok := u.UriParams.Get("transport"); ok {
		d.proto = strings.ToLower(t)
	}
	if u.Scheme == "sips" {
		d.proto = "tls"
	}
}

func (l *list) add(d *dest) {
	s := l.sets[d.setID]
	if s == nil {
		s = &set{id: d.setID, rr: new(atomic.Uint64), wrr: new(atomic.Uint64)}
		l.sets[d.setID] = s
		l.ids = append(l.ids, d.setID)
	}
	s.dests = append(s.dests, d)
}

// finish sorts each set by priority, highest first, and builds the weight
// slots and the runtime state of each destination (its flags from the
// list). Destinations of equal priority are in reverse file order, as
// Kamailio has them (it pushes each line at the head of the set): the
// failover order and the round robin sequence follow Kamailio's.
func (l *list) finish() {
	for _, s := range l.sets {
		slices.Reverse(s.dests)
		sort.SliceStable(s.dests, func(i, j int) bool { return s.dests[i].priority > s.dests[j].priority })
		s.wslots = weightSlots(s.dests)
		for _, d := range s.dests {
			d.rt = newRuntime(int32(d.flags & stAll))
		}
	}
	l.tree = avlPostOrder(l.ids)
}

// weightSlots spreads 100 slots over the destinations by weight, as
// Kamailio does: when the weights sum to less than 100 the last
// destination fills the rest; the slots are then interleaved so that
// consecutive picks spread (a fixed shuffle, the same for every run).
func weightSlots(ds []*dest) []int {
	slots := make([]int, 0, 100)
	for i, d := range ds {
		// A destination whose weight takes the sum over 100 is left out,
		// as in Kamailio.
		if len(slots)+d.weight > 100 {
			continue
		}
		for w := 0; w < d.weight; w++ {
			slots = append(slots, i)
		}
	}
	if len(slots) == 0 {
		return nil
	}
	for len(slots) < 100 {
		slots = append(slots, len(ds)-1)
	}
	// A fixed permutation (multiplication by a unit mod 100) spreads the
	// slots without a random source.
	out := make([]int, 100)
	for i := range slots {
		out[(i*37)%100] = slots[i]
	}
	return out
}
